"""A local moto server that can run what `archc compile` writes, for the deploy walkthrough and the deploy tests.

moto 5.2.5 lacks a few things AWS's CloudFormation does; each patch below names the gap it fills. None of them changes
what archc emits or sends: they make moto answer the way AWS does. Gaps left open (so tests here do not show them):
moto never refuses to change, remove or delete an export another stack imports (AWS does: "Cannot update export ... as it
is in use"), so only archc's own D506 check stands between a plan and that failure; it accepts CloudWatch alarms, SNS
subscriptions and topic policies, SQS queue policies and S3 bucket policies in a template but makes nothing for them;
it reports only the stack's own events, not each resource's.

    python examples/moto/server.py --port 5000 [--existing-network arch.yaml]   # then archc plan/deploy/destroy --endpoint-url http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import json
from typing import Any

MOTO_VERSION = "5.2.5"  # the version these gaps were measured on


def _termination_protection() -> None:
    """UpdateTerminationProtection is not implemented (a 500): set moto's own flag, which DescribeStacks already reports."""
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if hasattr(CloudFormationResponse, "update_termination_protection"):
        return

    def update_termination_protection(self):
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (True, "true")
        return ActionResult({"StackId": stack.stack_id})

    CloudFormationResponse.update_termination_protection = update_termination_protection


def _outputs_after_change_sets() -> None:
    """Executing a change set updates the resources but not the stack's template, parameters, outputs or exports, and resolves
    Fn::ImportValue against no exports at all (a stack created through a change set sees none): resolve imports against the
    region's exports and read the template, outputs and exports again after applying, as AWS does."""
    from moto.cloudformation import models

    if getattr(models.ChangeSet.apply, "archc", False):
        return
    apply = models.ChangeSet.apply

    def apply_with_exports(self):
        stack = self.stack
        exports = models.cloudformation_backends[stack.account_id][stack.region_name].exports
        stack.cross_stack_resources = stack.resource_map.cross_stack_resources = exports
        before = [x.name for x in stack.exports]
        apply(self)
        stack.template, stack.parameters = self.template, self.parameters
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for name in before:
            exports.pop(name, None)
        for export in stack.exports:
            exports[export.name] = export

    apply_with_exports.archc = True
    models.ChangeSet.apply = apply_with_exports


def _parameter_changes_in_change_sets() -> None:
    """A change set whose template is the same but whose parameters differ lists no changes, though executing it updates
    the resources reading those parameters: list them as Modify, as AWS does (ChangeSource ParameterReference)."""
    from moto.cloudformation import models

    if getattr(models.ChangeSet.diff, "archc", False):
        return
    diff = models.ChangeSet.diff

    def diff_with_parameters(self):
        changes = diff(self)
        if self.change_set_type == "UPDATE" and self.parameters:
            listed = {c.logical_resource_id for c in changes}
            modified = self.stack.resource_map.build_resource_diff(self.template_dict, self.parameters)["Modify"]
            for name in modified:
                if name not in listed:
                    changes.append(models.Change("Modify", name, self.template_dict["Resources"][name]["Type"]))
        return changes

    diff_with_parameters.archc = True
    models.ChangeSet.diff = diff_with_parameters


def _kms_key_tags() -> None:
    """AWS::KMS::Key with Tags fails (KeyError 'TagKey'): CloudFormation's Key/Value tags go to KMS's tagger, which reads
    TagKey/TagValue."""
    from moto.kms.models import Key

    if getattr(Key.create_from_cloudformation_json, "archc", False):
        return
    create = Key.create_from_cloudformation_json.__func__

    def create_with_tags(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        fixed = {**cloudformation_json, "Properties": {**props, "Tags": tags}}
        return create(cls, resource_name, fixed, account_id, region_name, **kwargs)

    create_with_tags.archc = True
    Key.create_from_cloudformation_json = classmethod(create_with_tags)


def _list_imports() -> None:
    """ListImports is not implemented (an error page): the stacks whose template imports the export by name."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if hasattr(CloudFormationResponse, "list_imports"):
        return

    def imports(value: Any, name: str) -> bool:
        if isinstance(value, dict):
            if value.get("Fn::ImportValue") == name:
                return True
            return any(imports(v, name) for v in value.values())
        return isinstance(value, list) and any(imports(v, name) for v in value)

    def list_imports(self):
        name = self._get_param("ExportName")
        found = sorted(s.name for s in self.cloudformation_backend.stacks.values()
                       if s.status not in ("DELETE_COMPLETE", "REVIEW_IN_PROGRESS") and imports(json.loads(json.dumps(s.template_dict, default=str)), name))
        if not found:
            raise ValidationError(message=f"Export '{name}' is not imported by any stack.")
        return ActionResult({"Imports": found})

    CloudFormationResponse.list_imports = list_imports


def patch() -> None:
    """Fill the gaps (idempotent); call before the server handles a request."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        import warnings

        warnings.warn(f"examples/moto/server.py was measured on moto {MOTO_VERSION}, this is {moto.__version__}: "
                      "check each patch is still needed", stacklevel=2)
    _termination_protection()
    _outputs_after_change_sets()
    _parameter_changes_in_change_sets()
    _kms_key_tags()
    _list_imports()


def seed_network(spec_path: str, account: str = "123456789012") -> list[str]:
    """The VPCs an arch.yaml's `network.existing` names, created in moto with exactly those ids (a spec that uses an existing
    network expects it in the account). Returns what was made, one line each."""
    from unittest import mock

    import yaml
    from moto.ec2.models import ec2_backends, route_tables, security_groups, subnets, vpcs

    existing = ((yaml.safe_load(open(spec_path)) or {}).get("network") or {}).get("existing") or {}
    made = []
    for region, net in sorted(existing.items()):
        ec2 = ec2_backends[account][region]
        if net["vpc_id"] in ec2.vpcs:
            continue
        with mock.patch.object(vpcs, "random_vpc_id", lambda: net["vpc_id"]):
            vpc = ec2.create_vpc("10.0.0.0/16")
        for i, sid in enumerate(net.get("subnet_ids", [])):
            with mock.patch.object(subnets, "random_subnet_id", lambda sid=sid: sid):
                ec2.create_subnet(vpc.id, f"10.0.{i}.0/24")
        if sg := net.get("security_group_id"):
            with mock.patch.object(security_groups, "random_security_group_id", lambda: sg):
                ec2.create_security_group("existing-backend", "the backend's security group", vpc_id=vpc.id)
        for rtb in net.get("route_table_ids", []):
            with mock.patch.object(route_tables, "random_route_table_id", lambda rtb=rtb: rtb):
                ec2.create_route_table(vpc.id)
        made.append(f"{region}: {vpc.id}, subnets {', '.join(net.get('subnet_ids', []))}, security group {sg}, "
                    f"route tables {', '.join(net.get('route_table_ids', []))}")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--existing-network", metavar="ARCH_YAML",
                        help="create the VPC, subnets, security group and route tables this spec's network.existing names")
    args = parser.parse_args()
    patch()
    for line in seed_network(args.existing_network) if args.existing_network else ():
        print(f"existing network: {line}", flush=True)
    from moto.server import ThreadedMotoServer

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    print(f"moto {MOTO_VERSION} with archc's patches on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
