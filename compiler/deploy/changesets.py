"""archc plan: one change set per stack in dependency order across regions, waited for, described and reviewed; plan.json + plan.md."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from .. import __version__
from ..diagnostics import ArchcError
from ..emit import dumps
from ..diff import write_baseline
from ..manifest import PLAN_JSON, PLAN_MD, EdgeEntry, Manifest, TemplateEntry
from ..manifest import read as read_manifest
from ..diff import stateful_types
from .apply import CREATE_AFTER, UPDATE_AFTER, stack_policy
from .aws import Aws, AwsError
from ..refs import names
from .review import Risk, export_locks, output_may_change, readers_of, review_stack, unused_allowances, value_locks

PLAN_VERSION = 4  # 2: per stack `stack_id` and `settings`; 3: stacks created after their inputs (`create_after`, `transform`);
# 4: values read from producers that change in the same plan (`reads`, status "update after", rows with a `condition`)
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
MISSING_EXPORT = ("No export named",)
ARTIFACT_PARAMETER = "ArtifactBucket"
INLINE_LIMIT = 51_200  # bytes of TemplateBody CloudFormation takes; a bigger template goes through S3 (TemplateURL)
# What deploy reads from plan.json: a plan without one of these was not written by this archc (or was edited).
PLAN_KEYS = ("environment", "app", "account", "blocked", "risks", "allow_replace", "stacks")
STACK_KEYS = ("id", "stack", "region", "status", "path", "sha256", "dependencies", "stateful", "changes", "change_set", "stack_id",
              "settings")
CHANGE_SET_KEYS = ("name", "arn", "type")
# Protection settings deploy applies to an existing stack (archc only ever tightens them: protection is never turned off).
SETTINGS = ("stack_policy", "termination_protection")
SETTING_KEYS = ("setting", "current", "wanted")
RISK_KEYS = ("stack", "logical_id", "code", "blocking")
# Stack states a change set cannot start from, and what to do about each.
REFUSED = {
    "ROLLBACK_COMPLETE": "its first create failed and was rolled back, so CloudFormation only allows deleting it: read why in its events, "
                         "then `aws cloudformation delete-stack --stack-name {name} --region {region}` and plan again",
    "ROLLBACK_FAILED": "its first create failed and the rollback failed too: delete it (`aws cloudformation delete-stack --stack-name {name} "
                       "--region {region}`, retaining what cannot be deleted) and plan again",
    "CREATE_FAILED": "its first create failed with rollback disabled: delete it and plan again",
    "DELETE_FAILED": "a delete of it failed: finish or undo that delete, then plan again",
    "UPDATE_ROLLBACK_FAILED": "an update could not roll back: `aws cloudformation continue-update-rollback --stack-name {name} "
                              "--region {region}`, then plan again",
    "IMPORT_ROLLBACK_FAILED": "an import could not roll back: fix it in the console, then plan again",
}
CHANGE_SET_WAIT_S = 15 * 60


def template_changes(template: dict) -> list[dict]:
    """The change set a CREATE of this template makes, in AWS's shape: every resource added (what a new stack's change set
    holds, a transform's expansion aside)."""
    return [{"Type": "Resource", "ResourceChange": {"Action": "Add", "LogicalResourceId": lid, "ResourceType": res.get("Type", "?"),
                                                    "Scope": [], "Details": []}}
            for lid, res in sorted((template.get("Resources") or {}).items())]


@dataclass
class Options:
    stacks: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    allow_replace: tuple[str, ...] = ()
    poll_s: float = 5.0
    echo: Callable[[str], None] = lambda _msg: None


@dataclass
class Entry:
    """One stack as the plan sees it."""

    t: TemplateEntry
    body: bytes
    template: dict
    status: str = "pending"  # changes | no changes | create after | deferred
    waiting: list[str] = field(default_factory=list)  # create after: the producers not deployed yet
    reason: str | None = None
    change_set_type: str | None = None
    change_set: dict | None = None  # {name, arn, stack_id, type}
    stack_id: str | None = None
    template_url: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    rollback_triggers: list[str] = field(default_factory=list)
    deployed_template: dict | None = None
    rows: list[dict] = field(default_factory=list)
    reads: list[dict] = field(default_factory=list)  # values read from producers that change in this plan: {producer, output, kind, value}
    risks: list[Risk] = field(default_factory=list)
    existing_id: str | None = None  # the deployed stack's StackId (None: not deployed yet)
    settings: list[dict] = field(default_factory=list)  # protection settings to apply: {setting, current, wanted}

    @property
    def id(self) -> str:
        return self.t.id

    @property
    def region(self) -> str:
        return self.t.region

    @property
    def name(self) -> str:
        return self.t.stack

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def via_s3(self) -> bool:
        """Decided by the file as it is now (the manifest's `inline` flag describes the file compile wrote)."""
        return len(self.body) > INLINE_LIMIT


def _change_set_name(env: str, sha: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"archc-{re.sub(r'[^A-Za-z0-9-]', '-', env)}-{stamp}-{sha[:8]}"[:128]


def _refusal(entry: Entry, stack: dict | None) -> str | None:
    if stack is None:
        return None
    status = stack["StackStatus"]
    if status in REFUSED:
        return f"{entry.id} is {status}: " + REFUSED[status].format(name=entry.name, region=entry.region)
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        return f"{entry.id} is busy ({status}): wait until CloudFormation finishes it, then plan again"
    return None


def _exists(stack: dict | None) -> bool:
    """Deployed at least once (a REVIEW_IN_PROGRESS stack is only a holder for a CREATE change set)."""
    return stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS"


def make_plan(out_dir: Path, env: str, aws: Aws, opts: Options) -> dict:
    """Create, wait for and review a change set per selected stack; write plan.json, plan.md and the diff baseline."""
    manifest = read_manifest(out_dir, env)
    chosen = manifest.select(opts.stacks, opts.regions)
    entries = []
    for t in chosen:
        path = out_dir / env / t.path
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise ArchcError(f"{path} is missing: run `archc compile --env {env}` again") from None
        try:
            template = json.loads(body)
        except json.JSONDecodeError as err:
            raise ArchcError(f"{path} is not valid JSON ({err}): run `archc compile --env {env}` again") from None
        entries.append(Entry(t, body, template))
        if entries[-1].sha256 != t.sha256:
            opts.echo(f"note: {path} differs from what compile wrote (manifest sha256 {t.sha256[:12]}); the plan uses the file as it is now")

    first_region = entries[0].region
    account = aws.account_id(first_region)
    stacks = {e.id: aws.stack(e.region, e.name) for e in entries}
    refusals = [r for e in entries if (r := _refusal(e, stacks[e.id]))]
    if refusals:
        raise ArchcError("cannot plan:\n  " + "\n  ".join(refusals))

    # A stack whose producers were never deployed cannot get a change set yet: its inputs do not exist. A new one is
    # reviewed from its template (all a CREATE can do is add what the template declares): deploy creates its change set
    # once its inputs exist and runs it only if it is exactly that. An existing one waits for the next plan.
    for e in entries:
        waiting = [d for d in e.t.dependencies
                   if not _exists(stacks[d] if d in stacks else aws.stack(d.split("/", 1)[0], d.split("/", 1)[1]))]
        if waiting and not _exists(stacks[e.id]):
            e.status, e.waiting = CREATE_AFTER, waiting
            e.reason = f"created after {', '.join(waiting)}: reviewed from its template"
        elif waiting:
            e.status = "deferred"
            e.reason = f"waits for {', '.join(waiting)} to be deployed: deploy this plan, then plan again"

    created: list[Entry] = []
    try:
        _artifacts(out_dir, env, manifest, [e for e in entries if e.status in ("pending", CREATE_AFTER)], aws, opts)
        for e in entries:
            if e.status == "pending":
                try:
                    submit(e, stacks[e.id], env, manifest, aws, opts)
                except MissingValue as err:  # an output a producer adds in this plan: the next plan reads it
                    changing = [x.id for x in entries if x.id in e.t.dependencies and x.status in ("pending", "changes", CREATE_AFTER)]
                    if not changing:
                        raise
                    e.status, e.reason = "deferred", f"reads an output that {', '.join(changing)} adds: deploy this plan, then plan again ({err})"
                if e.change_set:
                    created.append(e)
        for e in created:
            settle(e, aws, opts, entries)
        for e in entries:
            if e.status == "changes":
                e.rows, e.risks = review_stack(e.id, e.change_set.pop("changes"), e.deployed_template, e.template, opts.allow_replace)
            elif e.status == CREATE_AFTER:
                e.rows, e.risks = review_stack(e.id, template_changes(e.template), None, e.template, opts.allow_replace)
        _stale_reads(entries, manifest, aws)
        for e in entries:  # a value other stacks get as a parameter, read from a resource this change removes or replaces
            readers: dict[str, list[str]] = {}
            for edge in manifest.edges:
                if edge.kind == "Parameter" and edge.producer == e.id:
                    readers.setdefault(edge.output, []).append(edge.consumer)
            if e.status == "changes" and readers and e.deployed_template is not None:
                e.risks += value_locks(e.id, str(out_dir / env / e.t.path), readers, e.deployed_template, e.template, e.rows)
        for e in entries:  # an export in use that the change would alter: CloudFormation would refuse it mid-deploy
            exported = {o["OutputKey"]: o["ExportName"] for o in (stacks[e.id] or {}).get("Outputs", []) if o.get("ExportName")}
            if e.status == "changes" and exported and e.deployed_template is not None:
                e.risks += export_locks(e.id, str(out_dir / env / e.t.path), exported, e.deployed_template, e.template, e.rows,
                                        lambda name, region=e.region: aws.importers(region, name))
        _drop_blocked(entries, aws, opts)
        _read_settings(entries, stacks, manifest, aws)
        # The diff baseline is what is deployed now: the planned template when nothing changes, AWS's copy otherwise.
        for e in entries:
            if e.status == "no changes":
                write_baseline(out_dir, env, e.region, e.name, e.template)
            elif _exists(stacks[e.id]):
                write_baseline(out_dir, env, e.region, e.name, e.deployed_template or aws.template(e.region, e.name))
            else:
                write_baseline(out_dir, env, e.region, e.name, None)
        plan = _plan_dict(manifest, env, account, entries, opts)
        write_plan(out_dir / env, plan)
    except BaseException:
        for e in created:  # a failed plan leaves no change sets behind
            if e.change_set and e.status != "no changes":
                try:
                    aws.delete_change_set(e.region, e.change_set["arn"])
                except ArchcError:
                    pass
        raise
    return plan


def _may_change(p: Entry, output: str) -> bool:
    """Whether a stack of this plan may give `output` a new value: its own change may (a new definition, or a resource it reads
    touched), or the output reads a value the stack itself reads again at deploy (a chain of readers)."""
    if p.status == "changes" and output_may_change(p.deployed_template, p.template, output, p.rows):
        return True
    value = ((p.template.get("Outputs") or {}).get(output) or {}).get("Value")
    return bool(p.reads) and bool(names(value) & {r["parameter"] for r in p.reads})


def _stale_reads(entries: list[Entry], manifest: Manifest, aws: Aws) -> None:
    """A stack reading a value (a template parameter archc fills from another stack's output) that a stack changing in this plan
    may change: its change set holds the value as it is now. Deploy reads it again once the producer is deployed and, if it
    changed, makes the change set again and runs it only if it holds the reviewed changes plus in-place updates of the
    resources that read the value, listed here as such. A stack with no changes of its own is updated after its producers
    (status "update after") only if a value changed; a new one is created after them (reviewed from its template). Entries
    come in deploy order, so a producer is settled before its readers (readers of readers follow)."""
    by_id = {x.id: x for x in entries}
    for e in entries:
        if e.status not in ("changes", "no changes"):
            continue
        reads, seen = [], set()
        for edge in manifest.edges:
            p = by_id.get(edge.producer)
            if (edge.consumer != e.id or edge.kind != "Parameter" or p is None
                    or (edge.producer, edge.output) in seen or not _may_change(p, edge.output)):
                continue
            seen.add((edge.producer, edge.output))
            reads.append({"producer": edge.producer, "output": edge.output, "kind": edge.kind, "parameter": edge.fills,
                          "value": e.parameters.get(edge.fills)})
        if not reads:
            continue
        outputs = ", ".join(f"{r['output']} of {r['producer']}" for r in reads)
        if e.change_set_type == "CREATE":  # a new stack: made once its producers are deployed, from its reviewed template
            aws.delete_change_set(e.region, e.change_set["arn"])
            e.change_set, e.status = None, CREATE_AFTER
            e.parameters = artifacts_only(e.parameters)  # the others are read again at deploy
            e.waiting = sorted({r["producer"] for r in reads})
            e.reason = f"created after {', '.join(e.waiting)}, which may change {outputs}: reviewed from its template"
            continue
        e.reads = reads
        reviewed = {r["logical_id"] for r in e.rows}
        resources = e.template.get("Resources") or {}
        predicted: dict[str, list[str]] = {}
        for r in reads:
            for lid in readers_of(e.template, r["parameter"]):
                predicted.setdefault(lid, []).append(f"{r['output']} of {r['producer']}")
        for lid, why in sorted(predicted.items()):
            if lid not in reviewed:
                rtype = resources[lid].get("Type", "?")
                e.rows.append({"action": "Modify", "logical_id": lid, "physical_id": None, "type": rtype, "replacement": "False",
                               "replacement_source": "expected", "scope": ["Properties"], "details": [], "policy_action": None,
                               "stateful": rtype in stateful_types(), "before": None, "after": None,
                               "condition": f"only if {' or '.join(why)} changes"})
        if e.status == "no changes":
            e.status = UPDATE_AFTER
            e.reason = f"updated after its producers only if {outputs} changes"
        lids = ", ".join(sorted(predicted)) or "none of its resources"
        e.risks.append(Risk(e.id, ", ".join(sorted({r["output"] for r in reads})), "D507",
                            f"reads {outputs}, which this plan may change: deploy reads the value again once its producer is "
                            f"deployed and, if it changed, makes this stack's change set again with the new value and runs it only "
                            f"if it holds the reviewed changes plus in-place updates of {lids}; otherwise it stops"))
    for p in entries:  # readers this plan leaves out (--stack, --region) keep the old value: say so on the producer
        left_out = sorted({(edge.output, edge.consumer) for edge in manifest.edges
                           if edge.producer == p.id and edge.consumer not in by_id and edge.kind == "Parameter"
                           and _may_change(p, edge.output)})
        for output in sorted({o for o, _ in left_out}):
            readers = [c for o, c in left_out if o == output]
            p.risks.append(Risk(p.id, output, "D507", f"{output} may change, and {', '.join(readers)} read{'s' if len(readers) == 1 else ''} "
                                                      "it but this plan leaves them out: plan them too, or they keep the old value"))


def _read_settings(entries: list[Entry], stacks: dict[str, dict | None], manifest: Manifest, aws: Aws) -> None:
    """For every deployed stack, template changes or not: the protection deploy would leave it with, compared with what it
    has. A stack policy that is missing or not (as parsed JSON) the one deploy sets is to be set; termination protection the
    spec asks for and the stack lacks is to be turned on. Protection that is on though not asked for is left alone."""
    want_protection = manifest.deploy.termination_protection
    for e in entries:
        stack = stacks[e.id]
        if not _exists(stack):
            continue
        e.existing_id = stack["StackId"]
        try:
            current = aws.stack_policy(e.region, e.existing_id)
        except AwsError as err:
            raise ArchcError(f"{e.id}: could not read its stack policy: {err.code}: {err.aws_message}") from None
        wanted = stack_policy(list(e.t.stateful))
        if current != wanted:
            e.settings.append({"setting": "stack_policy", "current": current, "wanted": wanted})
        if want_protection and not stack.get("EnableTerminationProtection", False):
            e.settings.append({"setting": "termination_protection", "current": False, "wanted": True})


def _drop_blocked(entries: list[Entry], aws: Aws, opts: Options) -> None:
    """A change set that would lose data (D501) or change an export in use (D506) is deleted: archc refuses the plan, and nobody
    can execute it from the console either. Allowing the resource by name (D501) and planning again makes a new one."""
    for e in entries:
        if e.change_set and any(r.blocking for r in e.risks):
            aws.delete_change_set(e.region, e.change_set["arn"])
            e.change_set["deleted"] = True
            codes = "/".join(sorted({r.code for r in e.risks if r.blocking}))
            opts.echo(f"{e.id}: change set {e.change_set['name']} deleted: it is blocked ({codes}), so it cannot be executed, "
                      "from archc or the console")


def _artifacts(out_dir: Path, env: str, manifest: Manifest, entries: list[Entry], aws: Aws, opts: Options) -> None:
    """Per region that needs it: the artifact bucket, templates over the inline limit, and Lambda code assets."""
    needs: dict[str, list[Entry]] = {}
    for e in entries:
        if e.via_s3 or ARTIFACT_PARAMETER in (e.template.get("Parameters") or {}):
            needs.setdefault(e.region, []).append(e)
    for region, group in needs.items():
        bucket, created = aws.ensure_artifact_bucket(region)
        if created:
            opts.echo(f"created artifact bucket {bucket} ({region}): versioned, encrypted, public access blocked, "
                      + ("TLS only" if aws.tls else "no TLS-only policy (the endpoint is plain http)"))
        for e in group:
            if ARTIFACT_PARAMETER in (e.template.get("Parameters") or {}):
                e.parameters[ARTIFACT_PARAMETER] = bucket
            if e.via_s3:
                key = f"templates/{e.sha256}.json"
                if aws.put_artifact(region, bucket, key, e.body):
                    opts.echo(f"uploaded {e.id} template ({len(e.body):,} bytes) to s3://{bucket}/{key}")
                e.template_url = aws.object_url(bucket, region, key)
        if any(ARTIFACT_PARAMETER in (e.template.get("Parameters") or {}) for e in group):
            for asset in manifest.assets:
                path = out_dir / env / asset.path
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    raise ArchcError(f"{path} is missing: run `archc compile --env {env}` again") from None
                if hashlib.sha256(data).hexdigest() != asset.sha256:
                    raise ArchcError(f"{path} changed since compile (sha256 differs from the manifest): run `archc compile --env {env}` again")
                if aws.put_artifact(region, bucket, asset.key, data):
                    opts.echo(f"uploaded code of {asset.function} ({len(data):,} bytes) to s3://{bucket}/{asset.key}")


def artifacts_only(parameters: dict[str, str]) -> dict[str, str]:
    """The parameters plan filled that stay for deploy (the artifact bucket); the others are read again from the
    producers' outputs when deploy makes a change set itself."""
    return {k: v for k, v in parameters.items() if k == ARTIFACT_PARAMETER}


class MissingValue(ArchcError):
    """A template parameter no producer outputs (yet)."""


def _parameters(e: Entry, edges: Iterable[EdgeEntry], aws: Aws) -> None:
    """ArtifactBucket is filled by _artifacts; a parameter with a Default keeps it; any other is read from the output the
    manifest's edge names for it (a stack of this environment, in any region); a parameter no edge names, from the outputs
    of the stacks this one depends on (an output with the parameter's name)."""
    for name, decl in sorted((e.template.get("Parameters") or {}).items()):
        if name in e.parameters or "Default" in decl:
            continue
        sources = sorted({(x.producer, x.output) for x in edges if x.consumer == e.id and x.kind == "Parameter" and x.fills == name})
        sources = sources or [(dep, name) for dep in e.t.dependencies]
        found = {}
        for dep, output in sources:
            outputs = aws.outputs(*dep.split("/", 1))
            if output in outputs:
                found[dep] = outputs[output]
        if len(found) != 1:
            why = "none of them outputs it" if not found else f"several output it ({', '.join(sorted(found))})"
            raise (MissingValue if not found else ArchcError)(
                f"{e.id}: template parameter {name} has no value: archc fills {ARTIFACT_PARAMETER} and outputs of the stacks "
                f"it reads ({', '.join(sorted({d for d, _ in sources})) or 'none'}), and {why}")
        e.parameters[name] = next(iter(found.values()))


def submit(e: Entry, stack: dict | None, env: str, manifest: Manifest, aws: Aws, opts: Options) -> None:
    _parameters(e, manifest.edges, aws)
    deploy = manifest.deploy
    if deploy.rollback_alarms and e.t.alarms:
        arns = aws.alarm_arns(e.region, list(e.t.alarms))
        e.rollback_triggers = [arns[n] for n in sorted(arns)][:5]  # CloudFormation takes 5; alarms made by this change come next time
    e.change_set_type = "UPDATE" if _exists(stack) else "CREATE"
    if stack is not None:  # the newest plan wins: earlier archc change sets on this stack are deleted
        others = 0
        for cs in aws.change_sets(e.region, stack["StackId"]):
            if cs.get("StackId", stack["StackId"]) != stack["StackId"]:
                continue
            if cs["ChangeSetName"].startswith("archc-") and cs.get("ExecutionStatus") != "EXECUTE_IN_PROGRESS":
                aws.delete_change_set(e.region, cs["ChangeSetId"])
            else:
                others += 1
        if stack["StackStatus"] == "REVIEW_IN_PROGRESS" and not others:
            _forget_empty_stack(e, stack, aws, opts)
    name = _change_set_name(env, e.sha256)
    params = {
        "StackName": e.name, "ChangeSetName": name, "ChangeSetType": e.change_set_type,
        "Capabilities": list(e.t.capabilities),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(e.parameters.items())],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(e.t.tags.items())],
        "RollbackConfiguration": {"RollbackTriggers": [{"Arn": a, "Type": "AWS::CloudWatch::Alarm"} for a in e.rollback_triggers],
                                  "MonitoringTimeInMinutes": deploy.monitoring_minutes if e.rollback_triggers else 0},
        "Description": f"archc {__version__} plan of {env}: template sha256 {e.sha256}",
    }
    params |= {"TemplateURL": e.template_url} if e.template_url else {"TemplateBody": e.body.decode()}
    try:
        made = aws.create_change_set(e.region, **params)
    except AwsError as err:
        if err.code == "ValidationError" and err.matches(*NO_CHANGES):
            e.status, e.reason = "no changes", err.aws_message
            opts.echo(f"{e.id}: no changes")
            return
        if err.code == "InsufficientCapabilitiesException":
            raise ArchcError(f"{e.id}: {err.aws_message} (the manifest lists {', '.join(e.t.capabilities) or 'none'}: "
                             "compile again with a newer archc)") from None
        raise ArchcError(f"{e.id}: could not create a change set: {err.code}: {err.aws_message}") from None
    e.change_set = {"name": name, "arn": made["Id"], "type": e.change_set_type, "stack_id": made.get("StackId")}
    e.stack_id = made.get("StackId")
    opts.echo(f"{e.id}: change set {name} ({e.change_set_type}) submitted")


def _forget_empty_stack(e: Entry, stack: dict, aws: Aws, opts: Options) -> None:
    """A REVIEW_IN_PROGRESS stack left by an earlier plan holds no resources: delete it so the new CREATE starts clean."""
    aws.delete_stack(e.region, stack["StackId"])
    deadline = time.monotonic() + CHANGE_SET_WAIT_S
    while (st := aws.stack(e.region, stack["StackId"])) is not None and st["StackStatus"] != "DELETE_COMPLETE":
        if st["StackStatus"] == "DELETE_FAILED" or time.monotonic() > deadline:
            raise ArchcError(f"{e.id}: could not delete the empty stack an earlier plan left ({st['StackStatus']})")
        time.sleep(opts.poll_s)
    opts.echo(f"{e.id}: removed the empty stack an earlier plan left in REVIEW_IN_PROGRESS")


def settle(e: Entry, aws: Aws, opts: Options, entries: list[Entry]) -> None:
    """Wait for the change set; no changes -> delete it; otherwise read every page of it."""
    arn = e.change_set["arn"]
    deadline = time.monotonic() + CHANGE_SET_WAIT_S
    while True:
        cs = aws.change_set(e.region, arn)
        if cs is None:
            raise ArchcError(f"{e.id}: change set {e.change_set['name']} disappeared while archc waited for it")
        if cs["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise ArchcError(f"{e.id}: change set {e.change_set['name']} still {cs['Status']} after {CHANGE_SET_WAIT_S // 60} minutes")
        time.sleep(opts.poll_s)
    reason = cs.get("StatusReason") or ""
    if cs["Status"] == "FAILED":
        if any(s.lower() in reason.lower() for s in NO_CHANGES):
            aws.delete_change_set(e.region, arn)
            e.status, e.reason = "no changes", reason
            opts.echo(f"{e.id}: no changes (change set deleted)")
            return
        producers_changing = [x.id for x in entries if x.id in e.t.dependencies and x.status in ("pending", "changes")]
        if any(s in reason for s in MISSING_EXPORT) and producers_changing:
            aws.delete_change_set(e.region, arn)
            e.change_set, e.status = None, "deferred"
            e.reason = f"imports an output that {', '.join(producers_changing)} adds: deploy this plan, then plan again ({reason})"
            return
        raise ArchcError(f"{e.id}: change set {e.change_set['name']} FAILED: {reason or 'no reason given'}")
    if cs["Status"] != "CREATE_COMPLETE":
        raise ArchcError(f"{e.id}: change set {e.change_set['name']} is {cs['Status']}")
    full = aws.change_set(e.region, arn, all_pages=True)
    e.change_set["changes"] = full.get("Changes", [])
    e.change_set["execution_status"] = full.get("ExecutionStatus")
    if e.change_set_type == "UPDATE":
        e.deployed_template = aws.template(e.region, e.name)
    e.status = "changes"


def _plan_dict(manifest: Manifest, env: str, account: str, entries: list[Entry], opts: Options) -> dict:
    risks = sorted(r for e in entries for r in e.risks)
    stacks = []
    for e in entries:
        cs = None
        if e.change_set and e.status == "changes":
            cs = {k: e.change_set[k] for k in ("name", "arn", "type", "stack_id")} | {"deleted": bool(e.change_set.get("deleted"))}
        stacks.append({
            "id": e.id, "stack": e.name, "region": e.region, "concern": e.t.concern, "path": e.t.path,
            "sha256": e.sha256, "bytes": len(e.body), "template_url": e.template_url,
            "dependencies": list(e.t.dependencies), "status": e.status, "reason": e.reason, "change_set": cs,
            "parameters": dict(sorted(e.parameters.items())), "capabilities": list(e.t.capabilities), "tags": e.t.tags,
            "rollback_triggers": e.rollback_triggers, "stateful": list(e.t.stateful),
            "changes": e.rows, "risks": [r.as_dict() for r in e.risks], "stack_id": e.existing_id, "settings": e.settings,
            "create_after": e.waiting, "transform": bool(e.template.get("Transform")), "reads": e.reads,
        })
    rows = [r for e in entries for r in e.rows if not r.get("condition")]  # create after too; not the updates that may follow a value
    counts = {a: sum(1 for r in rows if r["action"] == a) for a in ("Add", "Modify", "Remove")}
    counts["Replace"] = sum(1 for r in rows if r["action"] == "Modify" and r["replacement"] in ("True", "Conditional"))
    blocked = any(r.blocking for r in risks)
    return {
        "version": PLAN_VERSION, "archc_version": __version__, "app": manifest.app, "environment": env,
        "account": account, "spec_sha256": manifest.spec_sha256, "deploy": manifest.to_json()["deploy"],
        "selection": {"stacks": sorted(opts.stacks), "regions": sorted(opts.regions)},
        "allow_replace": sorted(opts.allow_replace), "unused_allowances": unused_allowances(opts.allow_replace, risks),
        "stacks": stacks, "risks": [r.as_dict() for r in risks], "blocked": blocked,
        "summary": {"stacks": len(entries), "with_changes": sum(e.status == "changes" for e in entries),
                    "no_changes": sum(e.status == "no changes" for e in entries),
                    "deferred": sum(e.status == "deferred" for e in entries),
                    "create_after": sum(e.status == CREATE_AFTER for e in entries),
                    "update_after": sum(e.status == UPDATE_AFTER for e in entries), "resources": counts,
                    "settings": sum(bool(e.settings) for e in entries),
                    "settings_only": sum(bool(e.settings) and e.status != "changes" for e in entries)},
    }


def plan_outcome(plan: dict) -> str:
    """blocked | changes | no changes (what the exit code says): protection settings to apply are changes to review too."""
    if plan["blocked"]:
        return "blocked"
    return "changes" if any(s["status"] in ("changes", "deferred", CREATE_AFTER, UPDATE_AFTER) or s["settings"] for s in plan["stacks"]) else "no changes"


def write_plan(env_dir: Path, plan: dict) -> None:
    from .report import plan_markdown

    env_dir.mkdir(parents=True, exist_ok=True)
    for name, text in ((PLAN_JSON, dumps(plan).decode()),
                       (PLAN_MD, plan_markdown(plan))):
        tmp = env_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(env_dir / name)


def load_plan(path: Path) -> dict:
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        env = path.parent.name
        raise ArchcError(f"no plan at {path}: run `archc plan --env {env}` first (a compile removes the previous plan)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArchcError(f"{path} is not a plan archc wrote ({e})") from None
    if not isinstance(plan, dict) or plan.get("version") != PLAN_VERSION:
        raise ArchcError(f"{path} is not a version {PLAN_VERSION} archc plan: run `archc plan` again")
    missing = _missing_key(plan)
    if missing:
        raise ArchcError(f"{path} is not an archc plan (missing {missing}); run `archc plan` again")
    return plan


def _missing_key(plan: dict) -> str | None:
    """The first thing deploy needs that the plan lacks (as `stacks[1].change_set.arn`), or None."""
    for k in PLAN_KEYS:
        if k not in plan:
            return k
    if not isinstance(plan["stacks"], list):
        return "stacks (a list)"
    if not isinstance(plan["risks"], list):
        return "risks (a list)"
    for i, r in enumerate(plan["risks"]):
        for k in RISK_KEYS:
            if not isinstance(r, dict) or k not in r:
                return f"risks[{i}].{k}"
    for i, st in enumerate(plan["stacks"]):
        if not isinstance(st, dict):
            return f"stacks[{i}]"
        for k in STACK_KEYS:
            if k not in st:
                return f"stacks[{i}].{k}"
        if st["status"] == "changes":
            cs = st["change_set"]
            for k in CHANGE_SET_KEYS:
                if not isinstance(cs, dict) or k not in cs:
                    return f"stacks[{i}].change_set.{k}"
        if not isinstance(st["settings"], list):
            return f"stacks[{i}].settings (a list)"
        for j, item in enumerate(st["settings"]):
            for k in SETTING_KEYS:
                if not isinstance(item, dict) or k not in item:
                    return f"stacks[{i}].settings[{j}].{k}"
            if item["setting"] not in SETTINGS:
                return f"stacks[{i}].settings[{j}].setting (one of {', '.join(SETTINGS)})"
            if item["setting"] == "termination_protection" and item["wanted"] is not True:
                return f"stacks[{i}].settings[{j}].wanted (true: archc only turns termination protection on)"
        if st["settings"] and not st["stack_id"]:
            return f"stacks[{i}].stack_id (settings apply to a deployed stack)"
    return None
