"""The review and the data-loss gate on describe_change_set payloads in AWS's shape (botocore's Stubber checks every
request and response against the CloudFormation service model), and plan's handling of stack and change-set states."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from compiler.manifest import DeploySettings, Manifest, TemplateEntry
from compiler.deploy.changesets import Entry, Options, _artifacts, submit, settle, make_plan
from compiler.deploy.review import review_stack
from compiler.diagnostics import ArchcError

from .conftest import stub_aws

REGION = "ap-northeast-1"
STACK = "fillup-dev-data"
SID = f"{REGION}/{STACK}"
STACK_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/8f1c0b40-8a7e-11ef-9a51-0e3c1c1b1f11"
CS_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/archc-dev-20250101000000-abcdef12/3c2b7f9e-1d2a-4b8e-9f00-5a6b7c8d9e0f"
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


def described(changes: list[dict], **extra) -> dict:
    """A DescribeChangeSet response as CloudFormation returns it."""
    return {
        "ChangeSetName": "archc-dev-20250101000000-abcdef12", "ChangeSetId": CS_ARN, "StackId": STACK_ARN, "StackName": STACK,
        "CreationTime": NOW, "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE", "NotificationARNs": [],
        "Parameters": [], "Capabilities": ["CAPABILITY_AUTO_EXPAND", "CAPABILITY_IAM"], "IncludeNestedStacks": False,
        "RollbackConfiguration": {"RollbackTriggers": [], "MonitoringTimeInMinutes": 0},
        "Tags": [{"Key": "Environment", "Value": "dev"}], "Changes": changes, **extra,
    }


def change(action: str, lid: str, rtype: str, *, replacement: str | None = None, policy: str | None = None, details=(),
           scope=(), physical: str | None = None, before: dict | None = None, after: dict | None = None) -> dict:
    rc = {"Action": action, "LogicalResourceId": lid, "ResourceType": rtype, "Scope": list(scope), "Details": list(details)}
    if physical:
        rc["PhysicalResourceId"] = physical
    if replacement:
        rc["Replacement"] = replacement
    if policy:
        rc["PolicyAction"] = policy
    if before is not None:
        rc["BeforeContext"] = json.dumps({"Properties": before})
    if after is not None:
        rc["AfterContext"] = json.dumps({"Properties": after})
    return {"Type": "Resource", "ResourceChange": rc}


def detail(name: str, recreation: str, evaluation: str = "Static", source: str = "DirectModification", **target) -> dict:
    d = {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation, "Path": f"/Properties/{name}",
                    "AttributeChangeType": "Modify", **target}, "Evaluation": evaluation, "ChangeSource": source}
    if source == "ParameterReference":
        d["CausingEntity"] = "KeyAttribute"
    return d


def review(changes: list[dict], allow=(), pages: list[list[dict]] | None = None):
    """Serve the payload through a stubbed client, read every page as plan does, and review it."""
    aws, stubs = stub_aws(("cloudformation", REGION))
    stub = stubs[("cloudformation", REGION)]
    pages = pages or [changes]
    for i, page in enumerate(pages):
        params = {"ChangeSetName": CS_ARN, "IncludePropertyValues": True} | ({"NextToken": f"page{i}"} if i else {})
        extra = {"NextToken": f"page{i + 1}"} if i + 1 < len(pages) else {}
        stub.add_response("describe_change_set", described(page, **extra), params)
    cs = aws.change_set(REGION, CS_ARN, all_pages=True)
    stub.assert_no_pending_responses()
    rows, risks = review_stack(SID, cs["Changes"], None, None, allow)
    return rows, risks


def codes(risks) -> set[tuple[str, str]]:
    return {(r.logical_id, r.code) for r in risks}


RDS_DBNAME = change("Modify", "DataDatabase", "AWS::RDS::DBInstance", replacement="True", policy="ReplaceAndSnapshot",
                    scope=["Properties"], physical="fillup-dev-db",
                    details=[detail("DBName", "Always", BeforeValue="app", AfterValue="orders")])


def test_rds_replacement_true_is_blocked_with_its_details():
    rows, risks = review([RDS_DBNAME])
    assert codes(risks) == {("DataDatabase", "D501")}
    assert risks[0].blocking and "replaced" in risks[0].message and "snapshot" in risks[0].message
    row = rows[0]
    assert (row["action"], row["replacement"], row["replacement_source"], row["policy_action"], row["scope"]) == (
        "Modify", "True", "aws", "ReplaceAndSnapshot", ["Properties"])
    assert row["details"][0] | {} == {"attribute": "Properties", "name": "DBName", "path": "/Properties/DBName",
                                       "requires_recreation": "Always", "evaluation": "Static",
                                       "change_source": "DirectModification", "causing_entity": None}
    assert row["stateful"] is True and row["physical_id"] == "fillup-dev-db"


def test_dynamodb_conditional_replacement_is_blocked():
    table = change("Modify", "DataOrdersTable", "AWS::DynamoDB::Table", replacement="Conditional", policy="ReplaceAndRetain",
                   scope=["Properties"], details=[detail("KeySchema", "Always", "Dynamic", "ParameterReference")])
    _, risks = review([table])
    assert codes(risks) == {("DataOrdersTable", "D501"), ("DataOrdersTable", "D504")}
    assert "possibly replaced" in next(r.message for r in risks if r.code == "D501")


def test_removed_bucket_is_blocked_and_left_behind_noted():
    bucket = change("Remove", "CdnSiteBucket", "AWS::S3::Bucket", policy="Retain", physical="fillup-dev-site")
    rows, risks = review([bucket])
    assert codes(risks) == {("CdnSiteBucket", "D501"), ("CdnSiteBucket", "D504")}
    assert rows[0]["replacement"] is None and rows[0]["action"] == "Remove"


def test_allow_replace_by_name_unblocks_only_that_resource():
    _, risks = review([RDS_DBNAME], allow=[f"{STACK}/DataDatabase"])
    assert codes(risks) == {("DataDatabase", "D505")} and not any(r.blocking for r in risks)
    _, risks = review([RDS_DBNAME], allow=[f"{REGION}/{STACK}/DataDatabase"])
    assert codes(risks) == {("DataDatabase", "D505")}
    _, risks = review([RDS_DBNAME], allow=["fillup-dev-other/DataDatabase", "DataOtherTable"])
    assert codes(risks) == {("DataDatabase", "D501")}


def test_in_place_changes_and_stateless_replacements_pass_the_gate():
    alarm = change("Modify", "DataCpuAlarm", "AWS::CloudWatch::Alarm", replacement="True", scope=["Properties"],
                   details=[detail("AlarmName", "Always")])
    tags = change("Modify", "DataDatabase", "AWS::RDS::DBInstance", replacement="False", scope=["Tags"],
                  details=[{"Target": {"Attribute": "Tags", "RequiresRecreation": "Never"}, "Evaluation": "Static",
                            "ChangeSource": "DirectModification"}])
    rows, risks = review([alarm, tags])
    assert risks == []
    assert {r["logical_id"]: r["replacement"] for r in rows} == {"DataCpuAlarm": "True", "DataDatabase": "False"}


def test_widened_iam_policy_is_flagged_and_a_narrowed_one_is_not():
    read = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::fillup-dev-site/*"]}
    wide = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    widened = change("Modify", "ApiFunctionPolicy", "AWS::IAM::ManagedPolicy", replacement="False", scope=["Properties"],
                     details=[detail("PolicyDocument", "Never")],
                     before={"PolicyDocument": {"Version": "2012-10-17", "Statement": [read]}},
                     after={"PolicyDocument": {"Version": "2012-10-17", "Statement": [read, wide]}})
    _, risks = review([widened])
    assert codes(risks) == {("ApiFunctionPolicy", "D502")}
    assert "s3:* on * (wildcard)" in risks[0].message
    narrowed = change("Modify", "ApiFunctionPolicy", "AWS::IAM::ManagedPolicy", replacement="False", scope=["Properties"],
                      details=[detail("PolicyDocument", "Never")],
                      before={"PolicyDocument": {"Statement": [read, wide]}}, after={"PolicyDocument": {"Statement": [read]}})
    assert review([narrowed])[1] == []
    admin = change("Modify", "ApiRole", "AWS::IAM::Role", replacement="False", scope=["Properties"],
                   details=[detail("ManagedPolicyArns", "Never")], before={"ManagedPolicyArns": []},
                   after={"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]})
    assert "AdministratorAccess" in review([admin])[1][0].message


def test_security_group_opened_to_the_internet_is_flagged():
    https_inside = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/16", "Description": "inside"}
    ssh_world = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}
    sg = change("Modify", "NetworkAppSecurityGroup", "AWS::EC2::SecurityGroup", replacement="False", scope=["Properties"],
                details=[detail("SecurityGroupIngress", "Never")],
                before={"SecurityGroupIngress": [https_inside]}, after={"SecurityGroupIngress": [https_inside, ssh_world]})
    _, risks = review([sg])
    assert codes(risks) == {("NetworkAppSecurityGroup", "D503")}
    assert "ingress tcp 22 from 0.0.0.0/0 (the whole internet)" in risks[0].message
    reworded = change("Modify", "NetworkAppSecurityGroup", "AWS::EC2::SecurityGroup", replacement="False", scope=["Properties"],
                      before={"SecurityGroupIngress": [https_inside]},
                      after={"SecurityGroupIngress": [https_inside | {"Description": "from the VPC"}]})
    assert review([reworded])[1] == []


def test_a_removed_policy_with_deny_statements_is_broadening():
    tls_only = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::fillup-dev-site", "arn:aws:s3:::fillup-dev-site/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    removed = change("Remove", "CdnSiteBucketPolicy", "AWS::S3::BucketPolicy", policy="Delete", physical="fillup-dev-site",
                     before={"Bucket": "fillup-dev-site", "PolicyDocument": tls_only})
    _, risks = review([removed])
    assert codes(risks) == {("CdnSiteBucketPolicy", "D502")} and len(risks) == 2  # one per denied resource
    assert all("deny removed with the resource" in r.message and "aws:SecureTransport" in r.message for r in risks)
    # From the deployed template when AWS gives no BeforeContext (local emulators).
    old = {"Resources": {"CdnSiteBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": "fillup-dev-site", "PolicyDocument": tls_only}}}}
    bare = change("Remove", "CdnSiteBucketPolicy", "AWS::S3::BucketPolicy")
    assert codes(review_stack(SID, [bare], old, {"Resources": {}})[1]) == {("CdnSiteBucketPolicy", "D502")}
    # A removed policy that only allowed, and a removed role (its Denies go with everything it was allowed): nothing broadens.
    allow_only = change("Remove", "ApiPolicy", "AWS::IAM::ManagedPolicy", policy="Delete",
                        before={"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}})
    role = change("Remove", "ApiRole", "AWS::IAM::Role", policy="Delete", before={"Policies": [{"PolicyName": "p", "PolicyDocument": {
        "Statement": [{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]}}]})
    assert review([allow_only, role])[1] == []


def test_every_page_of_a_change_set_is_read():
    first = [change("Add", f"NetworkSubnet{i}", "AWS::EC2::Subnet") for i in range(3)]
    second = [RDS_DBNAME]
    rows, risks = review([], pages=[first, second])
    assert [r["logical_id"] for r in rows] == ["DataDatabase", "NetworkSubnet0", "NetworkSubnet1", "NetworkSubnet2"]
    assert codes(risks) == {("DataDatabase", "D501")}  # the risk sits on the second page


# --- plan's handling of change-set and stack states --------------------------------------------------------------

def _manifest(deploy: DeploySettings = DeploySettings(False, True, 10, 120)) -> Manifest:
    return Manifest("0.1.0", "fillup", "dev", "", deploy, (), (), (), (), ())


def _entry(template: dict | None = None, **t) -> Entry:
    template = template or {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    body = json.dumps(template).encode()
    fields = {"stack": STACK, "region": REGION, "concern": "app", "path": f"{REGION}/{STACK}.json", "sha256": "", "bytes": len(body),
              "resources": len(template["Resources"]), "inline": True, "dependencies": (), "capabilities": ("CAPABILITY_IAM",),
              "tags": {"Environment": "dev", "Application": "fillup"}, "alarms": (), "stateful": (), "parameters": ()} | t
    return Entry(TemplateEntry(**fields), body, template)


EXISTING = {"StackId": STACK_ARN, "StackName": STACK, "StackStatus": "UPDATE_COMPLETE", "CreationTime": NOW}


def test_no_change_failed_status_is_a_no_op_and_the_change_set_is_deleted():
    aws, stubs = stub_aws(("cloudformation", REGION))
    stub = stubs[("cloudformation", REGION)]
    reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    stub.add_response("describe_change_set", described([], Status="FAILED", ExecutionStatus="UNAVAILABLE", StatusReason=reason),
                      {"ChangeSetName": CS_ARN})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    e = _entry()
    e.change_set = {"name": "archc-dev-20250101000000-abcdef12", "arn": CS_ARN, "type": "UPDATE", "stack_id": STACK_ARN}
    settle(e, aws, Options(poll_s=0), [e])
    stub.assert_no_pending_responses()
    assert e.status == "no changes" and e.reason == reason


def test_no_updates_validation_error_is_a_no_op():
    aws, stubs = stub_aws(("cloudformation", REGION))
    stub = stubs[("cloudformation", REGION)]
    stub.add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK_ARN})
    stub.add_client_error("create_change_set", service_error_code="ValidationError", service_message="No updates are to be performed.",
                          http_status_code=400)
    e = _entry()
    submit(e, EXISTING, "dev", _manifest(), aws, Options(poll_s=0))
    stub.assert_no_pending_responses()
    assert (e.status, e.change_set) == ("no changes", None)


def test_update_request_carries_capabilities_tags_and_only_existing_alarms_as_triggers():
    aws, stubs = stub_aws(("cloudformation", REGION), ("cloudwatch", REGION))
    cf, cw = stubs[("cloudformation", REGION)], stubs[("cloudwatch", REGION)]
    names = [f"fillup-dev-alarm-{i}" for i in range(7)]
    existing = names[:6]  # the seventh is new in this template: it cannot be a trigger yet
    arn = f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:"
    cw.add_response("describe_alarms", {"MetricAlarms": [{"AlarmName": n, "AlarmArn": arn + n} for n in existing]},
                    {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    cf.add_response("list_change_sets", {"Summaries": [
        {"StackId": STACK_ARN, "StackName": STACK, "ChangeSetId": CS_ARN, "ChangeSetName": "archc-dev-20240101000000-00000000",
         "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE"}]}, {"StackName": STACK_ARN})
    cf.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})  # the newest plan wins
    e = _entry(alarms=names)
    from botocore.stub import ANY

    cf.add_response("create_change_set", {"Id": CS_ARN, "StackId": STACK_ARN}, {
        "StackName": STACK, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "Capabilities": ["CAPABILITY_IAM"], "Parameters": [],
        "Tags": [{"Key": "Application", "Value": "fillup"}, {"Key": "Environment", "Value": "dev"}],
        "RollbackConfiguration": {"RollbackTriggers": [{"Arn": arn + n, "Type": "AWS::CloudWatch::Alarm"} for n in existing[:5]],
                                  "MonitoringTimeInMinutes": 15},
        "Description": ANY, "TemplateBody": e.body.decode()})
    submit(e, EXISTING, "dev", _manifest(DeploySettings(False, True, 15, 120)), aws, Options(poll_s=0))
    cf.assert_no_pending_responses()
    cw.assert_no_pending_responses()
    assert e.change_set["arn"] == CS_ARN and e.change_set_type == "UPDATE"


def test_inline_or_s3_follows_the_template_file_size_not_the_manifest_flag():
    """Templates over 51,200 bytes go through the artifact bucket even when the manifest says inline, and the reverse."""
    aws, stubs = stub_aws(("sts", REGION), ("s3", REGION))
    stubs[("sts", REGION)].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                "UserId": "AIDAEXAMPLE"})
    s3 = stubs[("s3", REGION)]
    bucket, owner = f"archc-artifacts-123456789012-{REGION}", {"ExpectedBucketOwner": "123456789012"}
    big = _entry({"Metadata": {"Padding": "x" * 51_200}, "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}, inline=True)
    small = _entry(inline=False)
    assert len(big.body) > 51_200
    key = f"templates/{big.sha256}.json"
    s3.add_response("head_bucket", {}, {"Bucket": bucket} | owner)
    s3.add_client_error("head_object", service_error_code="404", http_status_code=404, expected_params={"Bucket": bucket, "Key": key} | owner)
    s3.add_response("put_object", {"ETag": '"0"'}, {"Bucket": bucket, "Key": key, "Body": big.body} | owner)
    _artifacts(Path("unused"), "dev", _manifest(), [big, small], aws, Options(poll_s=0))
    s3.assert_no_pending_responses()  # and nothing for the small one: an unexpected call fails the stub
    assert big.template_url == f"https://{bucket}.s3.{REGION}.amazonaws.com/{key}" and small.template_url is None


def test_stacks_in_rollback_complete_or_in_progress_are_refused_before_anything_is_created(moto_stacks, tmp_path):
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)
    aws, stubs = stub_aws(("sts", "us-east-1"), ("cloudformation", "us-east-1"), ("cloudformation", "us-west-2"))
    stubs[("sts", "us-east-1")].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                     "UserId": "AIDAEXAMPLE"})
    east, west = stubs[("cloudformation", "us-east-1")], stubs[("cloudformation", "us-west-2")]
    stack = lambda status: {"Stacks": [{"StackName": "demo-dev-base", "StackStatus": status, "CreationTime": NOW,
                                        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/demo-dev-base/1"}]}
    east.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"), {"StackName": "demo-dev-base"})
    west.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": "demo-dev-base"})
    east.add_client_error("describe_stacks", service_error_code="ValidationError", http_status_code=400,
                          service_message="Stack with id demo-dev-app does not exist", expected_params={"StackName": "demo-dev-app"})
    with pytest.raises(ArchcError) as caught:
        make_plan(out, "dev", aws, Options(poll_s=0))
    for s in stubs.values():
        s.assert_no_pending_responses()  # and nothing else was called: no change set, no bucket
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "us-east-1/demo-dev-base is ROLLBACK_COMPLETE" in message
    assert "aws cloudformation delete-stack --stack-name demo-dev-base --region us-east-1" in message
    assert "us-west-2/demo-dev-base is busy (UPDATE_IN_PROGRESS)" in message
    assert not (out / "dev" / "plan.json").exists()


# --- protection settings of stacks with no template changes ------------------------------------------------------

BASE_ARN = "arn:aws:cloudformation:us-east-1:123456789012:stack/demo-dev-base/5d0e2f10-0000-4000-8000-00000000000a"
NO_UPDATES = "No updates are to be performed."


def _plan_unchanged_base(tmp_path, moto_stacks, *, want: bool, on: bool, policy: str | None) -> dict:
    """make_plan on one deployed stack whose template has no changes: CloudFormation answers as it does (describe_stacks with
    EnableTerminationProtection, no-op change set, get_stack_policy), checked by the Stubber against the service model."""
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1, deploy={"termination_protection": want})
    aws, stubs = stub_aws(("sts", "us-east-1"), ("cloudformation", "us-east-1"))
    stubs[("sts", "us-east-1")].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                     "UserId": "AIDAEXAMPLE"})
    cf = stubs[("cloudformation", "us-east-1")]
    cf.add_response("describe_stacks", {"Stacks": [{"StackId": BASE_ARN, "StackName": "demo-dev-base", "StackStatus": "UPDATE_COMPLETE",
                                                    "CreationTime": NOW, "EnableTerminationProtection": on}]},
                    {"StackName": "demo-dev-base"})
    cf.add_response("list_change_sets", {"Summaries": []}, {"StackName": BASE_ARN})
    cf.add_client_error("create_change_set", service_error_code="ValidationError", service_message=NO_UPDATES, http_status_code=400)
    cf.add_response("get_stack_policy", {"StackPolicyBody": policy} if policy is not None else {}, {"StackName": BASE_ARN})
    plan = make_plan(out, "dev", aws, Options(stacks=("us-east-1/demo-dev-base",), poll_s=0))
    for s in stubs.values():
        s.assert_no_pending_responses()
    assert plan == json.loads((out / "dev" / "plan.json").read_text())
    return plan


STRICT = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"},
                        {"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
                         "Resource": ["LogicalResourceId/BaseQueue"]}]}


def test_termination_protection_the_spec_asks_for_is_a_settings_change_without_template_changes(moto_stacks, tmp_path):
    from compiler.deploy.changesets import plan_outcome
    from compiler.deploy.report import verdict

    # The stack policy is the strict one, written differently (key order, spacing): equal as JSON, so not a change.
    written = json.dumps({"Statement": [{"Resource": "*", "Action": "Update:*", "Principal": "*", "Effect": "Allow"},
                                        STRICT["Statement"][1]]}, indent=4)
    plan = _plan_unchanged_base(tmp_path, moto_stacks, want=True, on=False, policy=written)
    (stack,) = plan["stacks"]
    assert (stack["status"], stack["change_set"], stack["stack_id"]) == ("no changes", None, BASE_ARN)
    assert stack["settings"] == [{"setting": "termination_protection", "current": False, "wanted": True}]
    assert plan_outcome(plan) == "changes"  # plan exits 1: something to review and deploy
    assert plan["summary"]["settings"] == plan["summary"]["settings_only"] == 1
    assert verdict(plan) == "no template changes in 1 stack; protection settings to apply on 1 stack"
    assert "- setting: termination protection: off -> on (the spec asks for it)" in (tmp_path / "out" / "dev" / "plan.md").read_text()


def test_protection_on_but_not_asked_for_is_never_planned_off(moto_stacks, tmp_path):
    from compiler.deploy.changesets import plan_outcome

    plan = _plan_unchanged_base(tmp_path, moto_stacks, want=False, on=True, policy=json.dumps(STRICT))
    assert plan["stacks"][0]["settings"] == []
    assert plan_outcome(plan) == "no changes" and plan["summary"]["settings"] == 0


def test_a_missing_stack_policy_is_a_settings_change(moto_stacks, tmp_path):
    plan = _plan_unchanged_base(tmp_path, moto_stacks, want=True, on=True, policy=None)
    assert plan["stacks"][0]["settings"] == [{"setting": "stack_policy", "current": None, "wanted": STRICT}]
    assert "- setting: stack policy: none set -> set it: updates may not replace or delete BaseQueue" in (
        tmp_path / "out" / "dev" / "plan.md").read_text()


def test_the_plan_review_fits_100_columns():
    """The review as a pipe gets it (rich at archc's 100 columns): tables, status lines, settings, risks, the verdict."""
    import io

    from rich.console import Console

    from compiler.deploy.report import print_plan

    rows = [{"action": a, "logical_id": f"StorageDocumentsReplicationLatencyAlarm{i}", "type": "AWS::CloudWatch::CompositeAlarm",
             "replacement": r, "replacement_source": "predicted", "scope": ["Properties", "Tags"],
             "details": [{"attribute": "Properties", "name": "AlarmDescription", "requires_recreation": "Never",
                          "evaluation": "Static", "change_source": "DirectModification", "causing_entity": None, "path": None}],
             "policy_action": "ReplaceAndRetain", "stateful": False, "before": None, "after": None}
            for i, (a, r) in enumerate((("Modify", "True"), ("Add", None), ("Modify", "Conditional")))]
    risk = {"code": "D502", "severity": "warning", "blocking": False, "stack": "ap-northeast-1/fillup-prod-functions",
            "logical_id": "FnProcessorRole", "message": "new resource granting 36 permissions, 5 with wildcards: "
            "ec2:describenetworkinterfaces on * (wildcard); ec2:describesecuritygroups on * (wildcard); " * 3}
    stack = {"id": "ap-northeast-1/fillup-prod-storage", "status": "changes", "changes": rows, "risks": [risk], "reason": None,
             "change_set": {"type": "UPDATE", "name": "archc-prod-20261124000000-12345678"}, "create_after": [],
             "settings": [{"setting": "stack_policy", "current": None, "wanted": {"Statement": [
                 {"Effect": "Deny", "Resource": [f"LogicalResourceId/StorageBucket{i}" for i in range(12)]}]}}]}
    plan = {"app": "fillup", "environment": "prod", "account": "123456789012", "blocked": False, "risks": [risk] * 2,
            "stacks": [stack, {**stack, "id": "us-west-2/fillup-prod-storage"}], "unused_allowances": ["SomethingElse"],
            "summary": {"stacks": 2, "with_changes": 2, "no_changes": 0, "deferred": 0, "create_after": 0, "update_after": 0,
                        "settings": 2, "resources": {"Add": 2, "Modify": 4, "Remove": 0, "Replace": 4}}}
    out = io.StringIO()
    print_plan(Console(file=out, width=100, force_terminal=False, soft_wrap=True, highlight=False), plan)
    lines = out.getvalue().splitlines()
    assert len(lines) > 30 and max(len(line) for line in lines) <= 100, max(lines, key=len)
    text = out.getvalue()
    assert "StorageDocumentsRepl" in text and "ReplaceAndRetain" in text and "REPLACE" in text and "D502 warning" in text
