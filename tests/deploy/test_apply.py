"""Executing one stack against CloudFormation responses in AWS's shape (Stubber): the first failed resource and its reason,
the stale end state right after ExecuteChangeSet, termination protection, timeouts; the artifact bucket's settings."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from compiler.deploy.apply import Options, StackRun, execute, first_failure, stack_policy, verify
from compiler.diagnostics import ArchcError

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
    owner = {"ExpectedBucketOwner": "123456789012"}  # bucket names are global: every call names the owner it expects
    s3.add_client_error("head_bucket", service_error_code="404", http_status_code=404, expected_params={"Bucket": name} | owner)
    s3.add_response("create_bucket", {"Location": f"http://{name}.s3.amazonaws.com/"},
                    {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": REGION}})
    s3.add_response("put_public_access_block", {}, {"Bucket": name, "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}} | owner)
    s3.add_response("put_bucket_encryption", {}, {"Bucket": name, "ServerSideEncryptionConfiguration": {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}} | owner)
    s3.add_response("put_bucket_versioning", {}, {"Bucket": name, "VersioningConfiguration": {"Status": "Enabled"}} | owner)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    s3.add_response("put_bucket_policy", {}, {"Bucket": name, "Policy": json.dumps(policy)} | owner)
    assert aws.ensure_artifact_bucket(REGION) == (name, True)
    s3.assert_no_pending_responses()
    s3.add_response("head_bucket", {}, {"Bucket": name} | owner)
    assert aws.ensure_artifact_bucket(REGION) == (name, False)  # there already: left as it is
    key = "templates/" + "a" * 64 + ".json"
    s3.add_client_error("head_object", service_error_code="404", http_status_code=404, expected_params={"Bucket": name, "Key": key} | owner)
    s3.add_response("put_object", {"ETag": '"0"'}, {"Bucket": name, "Key": key, "Body": b"{}"} | owner)
    assert aws.put_artifact(REGION, name, key, b"{}") is True
    s3.add_response("head_object", {"ContentLength": 2}, {"Bucket": name, "Key": key} | owner)
    assert aws.put_artifact(REGION, name, key, b"{}") is False  # keys are content hashes: not uploaded twice
    s3.assert_no_pending_responses()


def test_artifact_bucket_owned_by_another_account_is_refused():
    """S3 answers 403 when ExpectedBucketOwner is not the bucket's owner: archc creates nothing and uploads nothing."""
    aws, stubs = stub_aws(("sts", REGION), ("s3", REGION))
    stubs[("sts", REGION)].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                "UserId": "AIDAEXAMPLE"})
    s3 = stubs[("s3", REGION)]
    name = f"archc-artifacts-123456789012-{REGION}"
    owner = {"ExpectedBucketOwner": "123456789012"}
    s3.add_client_error("head_bucket", service_error_code="403", http_status_code=403, expected_params={"Bucket": name} | owner)
    with pytest.raises(ArchcError) as caught:
        aws.ensure_artifact_bucket(REGION)
    s3.assert_no_pending_responses()  # and no create_bucket: an unexpected call would have failed the stub
    assert caught.value.exit_code == 2
    assert f"{name} is not owned by account 123456789012" in str(caught.value)
    s3.add_client_error("head_object", service_error_code="404", http_status_code=404, expected_params={"Bucket": name, "Key": "k"} | owner)
    s3.add_client_error("put_object", service_error_code="AccessDenied", service_message="Access Denied", http_status_code=403,
                        expected_params={"Bucket": name, "Key": "k", "Body": b"x"} | owner)
    with pytest.raises(ArchcError, match="is not owned by account 123456789012"):
        aws.put_artifact(REGION, name, "k", b"x")
    s3.assert_no_pending_responses()


def _deployed_tail(stub, *, protection: bool) -> None:
    """What a deployed UPDATE reads and sets after its change set completed: the full policy, then the stack's protection."""
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", protection=protection), {"StackName": STACK_ARN})


def _update_start(stub, *, exempt=frozenset()) -> None:
    stub.add_response("describe_stack_events", {"StackEvents": [event(1, NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE")]},
                      {"StackName": STACK_ARN})
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"], set(exempt)), sort_keys=True)})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})


def test_termination_protection_is_never_switched_off(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, protection=False)
    _update_start(stub)
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK_ARN})
    stub.add_response("describe_change_set", change_set("EXECUTE_COMPLETE"), {"ChangeSetName": CS_ARN})
    _deployed_tail(stub, protection=True)  # on, though this plan does not ask for it: no update_termination_protection call
    outcome, _ = run(s, plan, aws, out)
    stub.assert_no_pending_responses()
    assert (outcome.state, outcome.failure) == ("deployed", None)
    assert len(outcome.warnings) == 1 and "archc leaves it on" in outcome.warnings[0]


def test_loosened_policy_is_restored_when_watching_the_stack_raises(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, allow=["DataDatabase"])
    _update_start(stub, exempt={"DataDatabase"})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_client_error("describe_stacks", service_error_code="InternalFailure", service_message="We encountered an internal error",
                          http_status_code=500, expected_params={"StackName": STACK_ARN})
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})  # the full policy again, whatever happened
    outcome, _ = run(s, plan, aws, out)
    stub.assert_no_pending_responses()
    assert outcome.state == "failed" and outcome.failure.startswith("lost track of it: AWS describe_stacks")
    assert not (out / ".archc").exists()


def test_loosened_policy_is_restored_after_a_timeout(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, allow=["DataDatabase"])
    _update_start(stub, exempt={"DataDatabase"})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": STACK_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    outcome, _ = run(s, plan, aws, out, timeout_s=0)
    stub.assert_no_pending_responses()
    assert outcome.state == "timeout" and any("stack policy" in w for w in outcome.warnings)


@pytest.mark.parametrize("change_set_state", ["gone", "OBSOLETE"])
def test_an_old_complete_status_beside_a_gone_or_obsolete_change_set_is_unknown(tmp_path, change_set_state):
    s, plan, aws, stub, out = setup(tmp_path, protection=False)
    _update_start(stub)
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK_ARN})  # the previous update's end state
    if change_set_state == "gone":
        stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound", http_status_code=404,
                              service_message=f"ChangeSet [{CS_ARN}] does not exist", expected_params={"ChangeSetName": CS_ARN})
    else:
        stub.add_response("describe_change_set", change_set("OBSOLETE"), {"ChangeSetName": CS_ARN})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    outcome, _ = run(s, plan, aws, out)
    stub.assert_no_pending_responses()  # no policy, protection or baseline for a stack archc cannot vouch for
    assert (outcome.state, outcome.stack_status) == ("unknown", "UPDATE_COMPLETE")
    assert f"is {change_set_state}" in outcome.failure and "cannot tell" in outcome.failure
    assert not (out / ".archc").exists()


def test_a_gone_change_set_counts_as_deployed_when_this_run_saw_the_stack_complete(tmp_path):
    s, plan, aws, stub, out = setup(tmp_path, protection=False)
    _update_start(stub)
    stub.add_response("describe_stack_events", {"StackEvents": [
        event(3, NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE"), event(2, NAME, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS"),
        event(1, NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE")]}, {"StackName": STACK_ARN})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK_ARN})
    stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound", http_status_code=404,
                          service_message=f"ChangeSet [{CS_ARN}] does not exist", expected_params={"ChangeSetName": CS_ARN})
    _deployed_tail(stub, protection=False)
    outcome, _ = run(s, plan, aws, out)
    stub.assert_no_pending_responses()
    assert outcome.state == "deployed"
    assert (out / ".archc" / "prod" / "baseline" / REGION / f"{NAME}.json").is_file()


# --- verify: plan.json is not trusted ----------------------------------------------------------------------------

SHA = "5" * 64


def _verify_setup(tmp_path, described: dict):
    out = tmp_path / "out"
    (out / "prod" / REGION).mkdir(parents=True)
    template = {"Resources": {"DataBucket": {"Type": "AWS::S3::Bucket"}}}
    body = json.dumps(template).encode()
    (out / "prod" / REGION / f"{NAME}.json").write_bytes(body)
    sha = hashlib.sha256(body).hexdigest()
    s = {"id": f"{REGION}/{NAME}", "stack": NAME, "region": REGION, "path": f"{REGION}/{NAME}.json", "sha256": sha,
         "dependencies": [], "stateful": ["DataBucket"], "status": "changes", "changes": [],
         "change_set": {"name": "archc-prod-20250101000000-abcdef12", "arn": CS_ARN, "type": "UPDATE", "stack_id": STACK_ARN}}
    plan = {"environment": "prod", "account": "123456789012", "allow_replace": [], "blocked": False, "risks": [], "stacks": [s]}
    aws, stubs = stub_aws(("sts", REGION), ("cloudformation", REGION))
    stubs[("sts", REGION)].add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci",
                                                                "UserId": "AIDAEXAMPLE"})
    cf = stubs[("cloudformation", REGION)]
    described = change_set("AVAILABLE") | {"Description": f"archc 1 plan of prod: template sha256 {sha}"} | described
    cf.add_response("describe_change_set", described, {"ChangeSetName": CS_ARN, "IncludePropertyValues": True})
    return plan, s, out, aws, cf, template


def test_verify_reviews_the_change_set_again_and_refuses_data_loss_the_plan_hides(tmp_path):
    removal = {"Type": "Resource", "ResourceChange": {"Action": "Remove", "LogicalResourceId": "OldTable", "ResourceType":
                                                      "AWS::DynamoDB::Table", "PhysicalResourceId": "orders", "PolicyAction": "Delete",
                                                      "Scope": [], "Details": []}}
    plan, s, out, aws, cf, template = _verify_setup(tmp_path, {"Changes": [removal]})
    cf.add_response("get_template", {"TemplateBody": json.dumps(template)}, {"StackName": NAME, "TemplateStage": "Original"})
    with pytest.raises(ArchcError) as caught:
        verify(plan, [s], out, aws)  # plan.json says not blocked, no risks
    cf.assert_no_pending_responses()
    assert caught.value.exit_code == 3 and f"{REGION}/{NAME} OldTable" in str(caught.value)
    plan, s, out2, aws, cf, template = _verify_setup(tmp_path / "again", {"Changes": [removal]})
    plan["allow_replace"] = ["OldTable"]
    cf.add_response("get_template", {"TemplateBody": json.dumps(template)}, {"StackName": NAME, "TemplateStage": "Original"})
    verify(plan, [s], out2, aws)  # allowed by name in the plan: it runs
    cf.assert_no_pending_responses()


@pytest.mark.parametrize("described, why", [
    ({"Description": "made in the console"}, "not made from the planned template"),
    ({"StackId": STACK_ARN.replace(NAME, "fillup-prod-other"), "StackName": "fillup-prod-other"}, "belongs to stack"),
    ({"ChangeSetName": "console-change"}, "is change set console-change"),
])
def test_verify_refuses_a_change_set_that_is_not_the_planned_one(tmp_path, described, why):
    plan, s, out, aws, cf, _ = _verify_setup(tmp_path, described)
    with pytest.raises(ArchcError) as caught:
        verify(plan, [s], out, aws)
    cf.assert_no_pending_responses()
    assert caught.value.exit_code == 2 and why in str(caught.value)


# --- protection settings on stacks with no change set ------------------------------------------------------------

API = "fillup-prod-api"
API_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{API}/0b1c2d3e-0000-4000-8000-000000000003"
PROTECT = {"setting": "termination_protection", "current": False, "wanted": True}


def _settings_plan(tmp_path, *, protection: bool, data_settings: list[dict], api_settings: list[dict]):
    """A prod plan with no change sets: the data stack and the api stack (which depends on it) only have settings to apply."""
    def entry(name, arn, deps, stateful, settings):
        return {"id": f"{REGION}/{name}", "stack": name, "region": REGION, "path": f"{REGION}/{name}.json", "sha256": "0" * 64,
                "dependencies": deps, "stateful": stateful, "status": "no changes", "changes": [], "change_set": None,
                "stack_id": arn, "settings": settings}
    stacks = [entry(NAME, STACK_ARN, [], ["DataDatabase", "DataKey"], data_settings),
              entry(API, API_ARN, [f"{REGION}/{NAME}"], [], api_settings)]
    plan = {"environment": "prod", "app": "fillup", "account": "123456789012", "allow_replace": [], "blocked": False, "risks": [],
            "deploy": {"termination_protection": protection, "timeout_minutes": 120}, "stacks": stacks}
    aws, stubs = stub_aws(("sts", REGION), ("cloudformation", REGION))
    return plan, aws, stubs[("sts", REGION)], stubs[("cloudformation", REGION)], tmp_path / "out"


def _api_stack(protection: bool) -> dict:
    return {"Stacks": [{"StackId": API_ARN, "StackName": API, "StackStatus": "UPDATE_COMPLETE", "CreationTime": T0,
                        "EnableTerminationProtection": protection}]}


def test_settings_only_stacks_are_protected_in_dependency_order_without_a_change_set(tmp_path):
    from compiler.deploy.apply import runnable

    policy = {"setting": "stack_policy", "current": None, "wanted": stack_policy(["DataDatabase", "DataKey"])}
    plan, aws, sts, cf, out = _settings_plan(tmp_path, protection=True, data_settings=[policy, PROTECT], api_settings=[PROTECT])
    stacks = runnable(plan, (), aws)
    assert [s["id"] for s in stacks] == [f"{REGION}/{NAME}", f"{REGION}/{API}"]
    sts.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci", "UserId": "AIDAEXAMPLE"})
    verify(plan, stacks, out, aws)  # the account only: no template file, no change set to look at
    sts.assert_no_pending_responses()
    # The data stack first: the policy deploy sets, then protection (off, and prod asks for it); then the stack that depends on it.
    cf.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    cf.add_response("describe_stacks", stack("UPDATE_COMPLETE", protection=False), {"StackName": STACK_ARN})
    cf.add_response("update_termination_protection", {"StackId": STACK_ARN}, {"StackName": STACK_ARN, "EnableTerminationProtection": True})
    cf.add_response("describe_stacks", _api_stack(False), {"StackName": API_ARN})
    cf.add_response("update_termination_protection", {"StackId": API_ARN}, {"StackName": API_ARN, "EnableTerminationProtection": True})
    lines = []
    outcomes = execute(plan, stacks, out, aws, Options(poll_s=0, echo=lambda msg, style="": lines.append(msg)))
    cf.assert_no_pending_responses()
    assert [(o.id, o.state, o.stack_status, o.failure, o.applied) for o in outcomes] == [
        (f"{REGION}/{NAME}", "protected", "UPDATE_COMPLETE", None, ["stack_policy", "termination_protection"]),
        (f"{REGION}/{API}", "protected", "UPDATE_COMPLETE", None, ["termination_protection"])]
    assert lines.index(f"{REGION}/{NAME}: termination protection turned on") < lines.index(f"[2/2] {REGION}/{API}: starting (protection settings)")
    assert not (out / ".archc").exists()  # settings only: no diff baseline written


def test_a_failed_setting_stops_the_stacks_that_depend_on_it(tmp_path):
    policy = {"setting": "stack_policy", "current": None, "wanted": stack_policy(["DataDatabase", "DataKey"])}
    plan, aws, _, cf, out = _settings_plan(tmp_path, protection=True, data_settings=[policy], api_settings=[PROTECT])
    cf.add_client_error("set_stack_policy", service_error_code="AccessDenied", http_status_code=403,
                        service_message="User is not authorized to perform: cloudformation:SetStackPolicy",
                        expected_params={"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
                            stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    outcomes = execute(plan, plan["stacks"], out, aws, Options(poll_s=0))
    cf.assert_no_pending_responses()  # and nothing for the api stack: an unexpected call would have failed the stub
    assert [o.state for o in outcomes] == ["failed", "skipped"]
    assert outcomes[0].failure == ("setting its protection failed: set_stack_policy: AccessDenied: "
                                   "User is not authorized to perform: cloudformation:SetStackPolicy")
    assert f"{REGION}/{NAME} did not deploy" in outcomes[1].failure


def test_settings_only_never_turn_termination_protection_off(tmp_path):
    policy = {"setting": "stack_policy", "current": {"Statement": []}, "wanted": stack_policy(["DataDatabase", "DataKey"])}
    plan, aws, _, cf, out = _settings_plan(tmp_path, protection=False, data_settings=[policy], api_settings=[])
    cf.add_response("set_stack_policy", {}, {"StackName": STACK_ARN, "StackPolicyBody": json.dumps(
        stack_policy(["DataDatabase", "DataKey"]), sort_keys=True)})
    cf.add_response("describe_stacks", stack("UPDATE_COMPLETE", protection=True), {"StackName": STACK_ARN})
    (outcome,) = execute(plan, plan["stacks"][:1], out, aws, Options(poll_s=0))
    cf.assert_no_pending_responses()  # no update_termination_protection call
    assert (outcome.state, outcome.applied) == ("protected", ["stack_policy"])
    assert len(outcome.warnings) == 1 and "archc leaves it on" in outcome.warnings[0]
