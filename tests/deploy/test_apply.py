"""Executing one stack against CloudFormation responses in AWS's shape (Stubber): the first failed resource and its reason,
the stale end state right after ExecuteChangeSet, termination protection, timeouts; the artifact bucket's settings."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

from compiler.deploy.apply import Options, StackRun, first_failure, stack_policy

from .conftest import stub_aws

REGION = "eu-west-1"
NAME = "fillup-prod-data"
STACK_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{NAME}/0b1c2d3e-0000-4000-8000-000000000001"
CS_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/archc-prod-20250101000000-abcdef12/0b1c2d3e-0000-4000-8000-000000000002"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def event(n: int, lid: str, rtype: str, status: str, reason: str | None = None) -> dict:
    ev = {"StackId": STACK_ARN, "EventId": f"event-{n}", "StackName": NAME, "LogicalResourceId": lid,
          "ResourceType": rtype, "Timestamp": T0 + timedelta(seconds=n), "ResourceStatus": status}
    if reason:
        ev["ResourceStatusReason"] = reason
    return ev


def stack(status: str, protection: bool = False) -> dict:
    return {"Stacks": [{"StackId": STACK_ARN, "StackName": NAME, "StackStatus": status, "CreationTime": T0,
                        "EnableTerminationProtection": protection}]}


def change_set(execution: str) -> dict:
    return {"ChangeSetId": CS_ARN, "ChangeSetName": "archc-prod-20250101000000-abcdef12", "StackId": STACK_ARN, "StackName": NAME,
            "Status": "CREATE_COMPLETE", "ExecutionStatus": execution, "Changes": []}


def setup(tmp_path, *, cs_type="UPDATE", protection=True, allow=()):
    env_dir = tmp_path / "out" / "prod" / REGION
    env_dir.mkdir(parents=True)
    template = {"Resources": {"DataDatabase": {"Type": "AWS::RDS::DBInstance"}, "DataKey": {"Type": "AWS::KMS::Key"}}}
    (env_dir / f"{NAME}.json").write_text(json.dumps(template))
    s = {"id": f"{REGION}/{NAME}", "stack": NAME, "region": REGION, "path": f"{REGION}/{NAME}.json", "dependencies": [],
         "stateful": ["DataDatabase", "DataKey"],
         "change_set": {"name": "archc-prod-20250101000000-abcdef12", "arn": CS_ARN, "type": cs_type, "stack_id": STACK_ARN}}
    plan = {"environment": "prod", "allow_replace": list(allow),
            "deploy": {"termination_protection": protection, "timeout_minutes": 120}}
    aws, stubs = stub_aws(("cloudformation", REGION))
    return s, plan, aws, stubs[("cloudformation", REGION)], tmp_path / "out"


def run(s, plan, aws, out, **opts) -> tuple:
    lines = []
    options = Options(poll_s=0, echo=lambda msg, style="": lines.append(msg), **opts)
    return StackRun(s, plan, aws, options, out, threading.Event()).run(), lines


def test_failed_update_reports_the_first_failed_resource_not_the_cancellations(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, allow=["DataDatabase"])
    old = event(1, NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE")
    stub.add_response("describe_stack_events", {"StackEvents": [old]}, {"StackName": STACK_ARN})
    # During the update only the database may be replaced (allowed by name); the key stays protected.
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"], {"DataDatabase"}), sort_keys=True)})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})
    running = [event(5, "DataKey", "AWS::KMS::Key", "UPDATE_FAILED", "Resource update cancelled"),
               event(4, "DataDatabase", "AWS::RDS::DBInstance", "UPDATE_FAILED",
                     "Cannot upgrade postgres from 15.13 to 14.18 (Service: Rds, Status Code: 400)"),
               event(3, "DataDatabase", "AWS::RDS::DBInstance", "UPDATE_IN_PROGRESS"),
               event(2, NAME, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated"), old]
    stub.add_response("describe_stack_events", {"StackEvents": running}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_IN_PROGRESS"), {"StackName": STACK_ARN})
    done = [event(6, NAME, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE")] + running
    stub.add_response("describe_stack_events", {"StackEvents": done}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ARN})
    stub.add_response("describe_change_set", change_set("EXECUTE_FAILED"), {"ChangeSetName": CS_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": done}, {"StackName": STACK_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": done}, {"StackName": STACK_ARN})
    # The update rolled back: the database is protected again.
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    outcome, lines = run(s, plan, aws, out)
    stub.assert_no_pending_responses()
    assert (outcome.state, outcome.stack_status) == ("failed", "UPDATE_ROLLBACK_COMPLETE")
    assert outcome.failure.startswith("DataDatabase (AWS::RDS::DBInstance) UPDATE_FAILED: Cannot upgrade postgres")
    assert sum("UPDATE_FAILED" in line for line in lines) == 2 and not any("event-1" in line for line in lines)
    assert not (out / ".archc").exists()  # a failed stack does not become the diff baseline


def test_stale_end_state_is_not_mistaken_for_the_new_one_and_protection_is_applied(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, protection=True)
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})
    # Right after ExecuteChangeSet the stack still shows its previous UPDATE_COMPLETE and the change set is not done.
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK_ARN})
    stub.add_response("describe_change_set", change_set("EXECUTE_IN_PROGRESS"), {"ChangeSetName": CS_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": [event(2, NAME, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS")]},
                      {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": STACK_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": [event(3, NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE")]},
                      {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK_ARN})
    stub.add_response("describe_change_set", change_set("EXECUTE_COMPLETE"), {"ChangeSetName": CS_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    # Deployed: the full stack policy, then termination protection (prod) because it is off.
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", protection=False), {"StackName": STACK_ARN})
    stub.add_response("update_termination_protection", {"StackId": STACK_ARN},
                      {"StackName": STACK_ARN, "EnableTerminationProtection": True})
    outcome, _ = run(s, plan, aws, out)
    stub.assert_no_pending_responses()
    assert (outcome.state, outcome.stack_status, outcome.failure) == ("deployed", "UPDATE_COMPLETE", None)
    baseline = out / ".archc" / "prod" / "baseline" / REGION / f"{NAME}.json"
    assert json.loads(baseline.read_text()) == json.loads((out / "prod" / s["path"]).read_text())


def test_timeout_says_cloudformation_carries_on(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, cs_type="CREATE")
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("CREATE_IN_PROGRESS"), {"StackName": STACK_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    outcome, _ = run(s, plan, aws, out, timeout_s=0)
    stub.assert_no_pending_responses()
    assert outcome.state == "timeout" and outcome.stack_status == "CREATE_IN_PROGRESS"
    assert "CloudFormation carries on" in outcome.failure and f"--stack-name {NAME} --region {REGION}" in outcome.failure


def test_first_failure_falls_back_to_the_stack_reason():
    events = [event(1, NAME, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
              event(2, NAME, "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS",
                    "The following resource(s) failed to create: [DataDatabase]. Rollback requested by user.")]
    assert "failed to create: [DataDatabase]" in first_failure(events)
    assert first_failure([event(1, NAME, "AWS::CloudFormation::Stack", "CREATE_COMPLETE")]) is None


def test_artifact_bucket_is_private_encrypted_versioned_and_tls_only():
    aws, stubs = stub_aws(("sts", REGION), ("s3", REGION))
    stubs[("sts", REGION)].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                "UserId": "AIDAEXAMPLE"})
    s3 = stubs[("s3", REGION)]
    name = f"archc-artifacts-123456789012-{REGION}"
    s3.add_client_error("head_bucket", service_error_code="404", http_status_code=404, expected_params={"Bucket": name})
    s3.add_response("create_bucket", {"Location": f"http://{name}.s3.amazonaws.com/"},
                    {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": REGION}})
    s3.add_response("put_public_access_block", {}, {"Bucket": name, "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
    s3.add_response("put_bucket_encryption", {}, {"Bucket": name, "ServerSideEncryptionConfiguration": {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})
    s3.add_response("put_bucket_versioning", {}, {"Bucket": name, "VersioningConfiguration": {"Status": "Enabled"}})
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    s3.add_response("put_bucket_policy", {}, {"Bucket": name, "Policy": json.dumps(policy)})
    assert aws.ensure_artifact_bucket(REGION) == (name, True)
    s3.assert_no_pending_responses()
    s3.add_response("head_bucket", {}, {"Bucket": name})
    assert aws.ensure_artifact_bucket(REGION) == (name, False)  # there already: left as it is
