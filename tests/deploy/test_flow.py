"""plan -> deploy -> plan (no changes) -> change -> plan -> deploy, over HTTP against a moto server in two regions."""

from __future__ import annotations

import json
import subprocess
import sys

from compiler.deploy.changesets import PLAN_VERSION

from .conftest import ACCOUNT, FAKE_ENV, ROOT, SECRET, flat, read_plan, run_cli

E1, W2 = "us-east-1", "us-west-2"
BASE_E, BASE_W, APP = f"{E1}/demo-dev-base", f"{W2}/demo-dev-base", f"{E1}/demo-dev-app"
BUCKET = f"archc-artifacts-{ACCOUNT}-{E1}"


def _plan(out, moto, *extra):
    return run_cli("plan", "--env", "dev", "--out", out, "--endpoint-url", moto, "--poll", "0.05", *extra)


def _deploy(out, moto, *extra):
    return run_cli("deploy", "--plan", out / "dev" / "plan.json", "--yes", "--endpoint-url", moto, "--poll", "0.05", *extra)


def _stack(boto, region, name):
    return boto("cloudformation", region).describe_stacks(StackName=name)["Stacks"][0]


def _param(boto, region, name):
    return boto("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]


def _available_change_sets(boto, *stacks):
    """AVAILABLE change sets on these stacks (moto lists a region's change sets whatever StackName says: filter here)."""
    stacks = stacks or ("demo-dev-base", "demo-dev-app")
    return [cs["ChangeSetName"] for region in (E1, W2) for name in stacks
            for cs in boto("cloudformation", region).list_change_sets(StackName=name)["Summaries"]
            if cs["ExecutionStatus"] == "AVAILABLE" and cs["StackName"] == name]


def _change_sets(boto, region, name):
    """Every change set of one stack, whatever its state (moto lists a region's change sets whatever StackName says)."""
    return [cs["ChangeSetName"] for cs in boto("cloudformation", region).list_change_sets(StackName=name)["Summaries"]
            if cs["StackName"] == name]


def _edit_plan(out, change):
    """plan.json edited by hand (the reviewed plan is read fresh each time)."""
    path = out / "dev" / "plan.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def deploy_v1(out, moto, moto_stacks):
    """Version 1 up, from nothing, in one plan and one deploy (the app stack is created once the base stacks exist)."""
    moto_stacks.write(out, "dev", 1)
    assert _plan(out, moto).code == 1
    assert _deploy(out, moto).code == 0


def test_plan_deploy_no_changes_change_deploy(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)

    # First plan: CREATE change sets for both base stacks; the app stack reads them, so it is reviewed from its template
    # (a new stack's change set adds exactly what the template declares) and created after them in the same deploy.
    r = _plan(out, moto)
    assert r.code == 1, r.stderr
    plan = read_plan(out)
    status = {s["id"]: s["status"] for s in plan["stacks"]}
    assert status == {BASE_E: "changes", BASE_W: "changes", APP: "create after"}
    base = next(s for s in plan["stacks"] if s["id"] == BASE_W)
    assert base["change_set"]["type"] == "CREATE" and base["capabilities"] == ["CAPABILITY_IAM"]
    assert {c["logical_id"]: c["action"] for c in base["changes"]} == {
        "BaseQueue": "Add", "BaseRole": "Add", "BaseTopic": "Add", "BaseVersion": "Add"}
    assert [r["code"] for r in base["risks"]] == ["D502"]  # a new role grants permissions: flagged, not blocked
    assert _stack(boto, W2, "demo-dev-base")["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert "BaseQueue" in (out / "dev" / "plan.md").read_text()
    assert plan == json.loads(json.dumps(plan, sort_keys=True))  # plan.json is written with sorted keys
    assert list(json.loads((out / "dev" / "plan.json").read_text())) == sorted(plan)
    app = next(s for s in plan["stacks"] if s["id"] == APP)
    template = json.loads((out / "dev" / app["path"]).read_text())
    assert app["change_set"] is None and app["create_after"] == [BASE_E, BASE_W]
    assert {c["logical_id"] for c in app["changes"]} == set(template["Resources"]) and {c["action"] for c in app["changes"]} == {"Add"}
    assert f"CREATE after {BASE_E}" in r.stdout
    # Its template goes through S3 (over 51,200 bytes) with ArtifactBucket filled, already at plan time.
    assert app["parameters"] == {"ArtifactBucket": BUCKET}
    assert app["template_url"] == f"https://{BUCKET}.s3.{E1}.amazonaws.com/templates/{app['sha256']}.json"
    assert app["bytes"] > 51_200
    s3 = boto("s3", E1)
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    assert s3.head_object(Bucket=BUCKET, Key=f"templates/{app['sha256']}.json")["ContentLength"] == app["bytes"]
    asset = json.loads((out / "dev" / "manifest.json").read_text())["assets"][0]
    assert s3.head_object(Bucket=BUCKET, Key=asset["key"])["ContentLength"] == asset["bytes"]  # the Lambda code, by hash
    assert "uploaded code of worker" in r.stderr

    # One deploy: the base stacks, then the app stack's change set, made now, checked against the review, executed.
    r = _deploy(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    for region in (E1, W2):
        st = _stack(boto, region, "demo-dev-base")
        assert st["StackStatus"] == "CREATE_COMPLETE"
        assert {t["Key"]: t["Value"] for t in st["Tags"]} == {"Application": "demo", "Component": "base", "Environment": "dev"}
        policy = json.loads(boto("cloudformation", region).get_stack_policy(StackName="demo-dev-base")["StackPolicyBody"])
        deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert deny == [{"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
                         "Resource": ["LogicalResourceId/BaseQueue"]}]
        assert _param(boto, region, f"/demo/dev/{region}/version") == "v1"
    assert (out / ".archc" / "dev" / "baseline" / W2 / "demo-dev-base.json").is_file()
    assert "plan --env dev` again" not in r.stdout
    assert _stack(boto, E1, "demo-dev-app")["StackStatus"] == "CREATE_COMPLETE"
    assert _param(boto, E1, "/demo/dev/artifacts") == f"s3://{BUCKET}/code"
    assert boto("lambda", E1).get_function(FunctionName="demo-dev-worker")["Configuration"]["Handler"] == "app.handler"
    lines = r.stdout.splitlines()
    assert max(next(i for i, x in enumerate(lines) if x.startswith(f"{sid}: deployed")) for sid in (BASE_E, BASE_W)) < \
        next(i for i, x in enumerate(lines) if x.endswith(f"{APP}: starting"))

    # Third plan: nothing to do, exit 0, nothing left behind, nothing uploaded again.
    r = _plan(out, moto)
    assert r.code == 0, r.stderr
    assert "uploaded" not in r.stderr
    assert "no changes in 3 stacks" in r.stdout
    assert all(s["status"] == "no changes" and s["change_set"] is None for s in read_plan(out)["stacks"])
    assert _available_change_sets(boto) == []
    r = _deploy(out, moto)
    assert r.code == 0 and "nothing to deploy" in r.stdout

    # Change the stacks: values in both regions, a widened role, the app's parameter.
    moto_stacks.write(out, "dev", 2)
    r = run_cli("diff", "--env", "dev", "--out", out, "--json")
    assert r.code == 1
    d = json.loads(r.stdout)
    west = next(s for s in d["stacks"] if s["id"] == BASE_W)
    version = next(x for x in west["resources"] if x["logical_id"] == "BaseVersion")
    assert (version["action"], version["replacement"], version["paths"]) == ("Modify", "False", [{"path": "Properties.Value", "effect": "False"}])

    r = _plan(out, moto)
    assert r.code == 1, r.stderr
    plan = read_plan(out)
    assert all(s["status"] == "changes" for s in plan["stacks"])
    assert {(r["stack"], r["code"]) for r in plan["risks"]} == {(BASE_E, "D502"), (BASE_W, "D502")}
    assert all("s3:* on * (wildcard)" in r["message"] for r in plan["risks"])

    # A template edited after the plan: deploy refuses before running anything.
    path = out / "dev" / W2 / "demo-dev-base.json"
    reviewed = path.read_bytes()
    path.write_bytes(reviewed.replace(b'"v2"', b'"v9"'))
    r = _deploy(out, moto)
    assert r.code == 2
    assert "changed since the plan" in r.stderr and BASE_W in r.stderr and "Traceback" not in r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v1"]

    # Put the reviewed bytes back: it runs, the app stack after both base stacks.
    path.write_bytes(reviewed)
    r = _deploy(out, moto, "--parallel", "2")
    assert r.code == 0, r.stdout + r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v2", "v2"]
    assert _param(boto, E1, "/demo/dev/artifacts") == f"s3://{BUCKET}/code-v2"
    lines = r.stdout.splitlines()
    started = [next(i for i, line in enumerate(lines) if line.endswith(f"{sid}: starting")) for sid in (BASE_E, BASE_W, APP)]
    finished = [next(i for i, line in enumerate(lines) if line.startswith(f"{sid}: deployed")) for sid in (BASE_E, BASE_W)]
    assert started[2] > max(finished)

    assert _plan(out, moto).code == 0


def test_data_loss_gate_blocks_until_allowed_by_name(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    moto_stacks.write(out, "dev", 3)  # renames the queue: QueueName is create-only, so the queue would be replaced

    r = run_cli("diff", "--env", "dev", "--out", out)
    assert r.code == 1 and "BaseQueue (AWS::SQS::Queue) replaces" in r.stdout and "DATA LOSS" in r.stdout

    r = _plan(out, moto)
    assert r.code == 3
    assert "archc: plan blocked" in r.stderr
    plan = read_plan(out)
    assert plan["blocked"] is True
    assert {(x["stack"], x["logical_id"], x["code"]) for x in plan["risks"] if x["blocking"]} == {
        (BASE_E, "BaseQueue", "D501"), (BASE_W, "BaseQueue", "D501")}
    assert {x["code"] for x in plan["risks"] if x["logical_id"] == "BaseQueue"} == {"D501", "D504"}  # Retain leaves the old one

    # The blocked stacks' change sets are deleted (nobody can execute them from the console); the app stack's stays.
    assert _change_sets(boto, E1, "demo-dev-base") == [] and _change_sets(boto, W2, "demo-dev-base") == []
    assert len(_change_sets(boto, E1, "demo-dev-app")) == 1
    assert {s["id"] for s in plan["stacks"] if s["change_set"] and s["change_set"]["deleted"]} == {BASE_E, BASE_W}
    assert flat(r.stdout).count("change set deleted: it would lose data (D501)") == 2
    assert (out / "dev" / "plan.md").read_text().count("(deleted: blocked by D501") == 2

    r = _deploy(out, moto)
    assert r.code == 3 and "D501" in r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v1"]  # nothing ran

    # plan.json edited to say it is not blocked: the blocked change sets are gone, so nothing runs.
    _edit_plan(out, lambda p: p | {"blocked": False, "risks": [x for x in p["risks"] if not x["blocking"]]})
    r = _deploy(out, moto)
    assert r.code == 2 and "no longer exists" in r.stderr and "Traceback" not in r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v1"]

    # Allowing it in one region only still blocks the other.
    r = _plan(out, moto, "--allow-replace", f"{E1}/demo-dev-base/BaseQueue")
    assert r.code == 3
    assert {x["stack"] for x in read_plan(out)["risks"] if x["code"] == "D501"} == {BASE_W}

    r = _plan(out, moto, "--allow-replace", "BaseQueue")
    assert r.code == 1, r.stderr
    plan = read_plan(out)
    assert plan["blocked"] is False and plan["allow_replace"] == ["BaseQueue"]
    assert {(x["stack"], x["code"]) for x in plan["risks"] if x["logical_id"] == "BaseQueue"} == {
        (BASE_E, "D504"), (BASE_E, "D505"), (BASE_W, "D504"), (BASE_W, "D505")}

    # Deploy reviews the change sets again with the plan's allow-list: with the allowance edited out, it refuses (exit 3).
    reviewed = (out / "dev" / "plan.json").read_text()
    _edit_plan(out, lambda p: p | {"allow_replace": []})
    r = _deploy(out, moto)
    assert r.code == 3 and "would lose data though the plan says they do not" in r.stderr and f"{BASE_W} BaseQueue" in r.stderr
    # A change set archc did not make, named in plan.json: refused before anything runs.
    _edit_plan(out, lambda p: p | {"stacks": [s | {"change_set": s["change_set"] | {"name": "console-made"}} if s["id"] == BASE_W else s
                                               for s in p["stacks"]]})
    r = _deploy(out, moto)
    assert r.code == 2 and "did not make" in r.stderr and "console-made" in r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v1"]
    (out / "dev" / "plan.json").write_text(reviewed)
    r = _deploy(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v2", "v2"]
    policy = json.loads(boto("cloudformation", W2).get_stack_policy(StackName="demo-dev-base")["StackPolicyBody"])
    assert policy["Statement"][-1]["Resource"] == ["LogicalResourceId/BaseQueue"]  # protected again after the allowed replacement


def test_failure_stops_dependent_stacks_and_says_why(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    moto_stacks.write(out, "dev", 3)  # the queue replaced (allowed by name below): the stack policy is loosened for the update
    # The us-east-1 base stack now reads an attribute of a resource moto does not model: its execution fails.
    path = out / "dev" / E1 / "demo-dev-base.json"
    t = json.loads(path.read_text())
    t["Resources"]["BaseAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors"}}
    t["Resources"]["BaseAlarmArn"] = {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": "/demo/dev/alarm", "Type": "String", "Value": {"Fn::GetAtt": ["BaseAlarm", "Arn"]}}}
    path.write_text(json.dumps(t, indent=2, sort_keys=True))

    assert _plan(out, moto, "--allow-replace", "BaseQueue").code == 1
    r = _deploy(out, moto, "--parallel", "2")
    assert r.code == 2
    assert f"deploy stopped: {BASE_E} failed" in r.stderr and "BaseAlarm" in r.stderr
    # The failed update ends with the full stack policy: the queue is protected again.
    policy = json.loads(boto("cloudformation", E1).get_stack_policy(StackName="demo-dev-base")["StackPolicyBody"])
    assert policy["Statement"][-1] == {"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
                                       "Resource": ["LogicalResourceId/BaseQueue"]}
    assert f"  {APP}: skipped" in r.stdout and f"{BASE_E} did not deploy" in r.stdout
    assert f"  {BASE_W}: deployed" in r.stdout  # independent of the failed stack, it ran
    assert _param(boto, W2, f"/demo/dev/{W2}/version") == "v2"
    assert _param(boto, E1, "/demo/dev/artifacts") == f"s3://{BUCKET}/code"  # the app stack was not touched
    app_cs = read_plan(out)["stacks"][-1]["change_set"]
    assert boto("cloudformation", E1).describe_change_set(ChangeSetName=app_cs["arn"])["ExecutionStatus"] == "AVAILABLE"


def test_an_unexpected_error_in_one_stack_is_its_outcome_and_the_others_finish(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    moto_stacks.write(out, "dev", 2)
    assert _plan(out, moto).code == 1
    # Recording us-west-2's diff baseline will fail with an OSError (a file where its directory goes).
    west = out / ".archc" / "dev" / "baseline" / W2
    for f in west.iterdir():
        f.unlink()
    west.rmdir()
    west.write_text("in the way")
    r = _deploy(out, moto, "--parallel", "2")
    assert r.code == 2
    assert "Traceback" not in r.stdout + r.stderr
    assert f"  {BASE_W}: failed (UPDATE_COMPLETE): lost track of it: FileExistsError" in r.stdout
    assert f"  {BASE_E}: deployed" in r.stdout and f"  {APP}: skipped" in r.stdout
    assert _param(boto, E1, f"/demo/dev/{E1}/version") == "v2"


def test_user_mistakes_are_clean_errors(moto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)
    cases = [
        (("deploy", "--plan", tmp_path / "none" / "plan.json"), "no plan at"),
        (("deploy",), "which plan?"),
        (("plan", "--env", "prod", "--out", out, "--endpoint-url", moto), "archc compile --env prod"),
        (("plan", "--env", "dev", "--out", out, "--endpoint-url", moto, "--stack", "demo-dev-bse"), 'did you mean "demo-dev-base"'),
        (("plan", "--env", "dev", "--out", out, "--profile", "nobody"), 'AWS profile "nobody"'),
        (("plan", "--env", "dev", "--out", out, "--endpoint-url", moto, "--region", "us-west-1"), 'did you mean "us-west-2"'),
    ]
    for args, message in cases:
        r = run_cli(*args)
        assert r.code == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and r.stderr.startswith("archc: ") and "Traceback" not in r.stderr, (args, r.stderr)
    (out / "dev" / "plan.json").write_text("{not json")
    r = run_cli("deploy", "--plan", out / "dev" / "plan.json", "--yes")
    assert r.code == 2 and "is not a plan archc wrote" in r.stderr
    stack = {"id": "us-east-1/demo-dev-base", "stack": "demo-dev-base", "region": E1, "status": "changes", "path": "x.json",
             "sha256": "0" * 64, "dependencies": [], "stateful": [], "changes": [], "change_set": {"name": "archc-dev-1", "type": "CREATE"},
             "stack_id": None, "settings": []}
    whole = {"version": PLAN_VERSION, "environment": "dev", "app": "demo", "account": ACCOUNT, "blocked": False, "risks": [],
             "allow_replace": [], "stacks": [stack]}
    unchanged = stack | {"status": "no changes", "change_set": None}
    protection = {"setting": "termination_protection", "current": False, "wanted": True}
    (out / "dev" / "plan.json").write_text(json.dumps(whole | {"version": 1}))  # a plan from before protection settings
    r = run_cli("deploy", "--plan", out / "dev" / "plan.json", "--yes")
    assert r.code == 2 and f"is not a version {PLAN_VERSION} archc plan: run `archc plan` again" in r.stderr, r.stderr
    for plan, missing in (({"version": PLAN_VERSION, "stacks": []}, "environment"), (whole, "stacks[0].change_set.arn"),
                          (whole | {"risks": [{"stack": "x", "code": "D501", "blocking": True}]}, "risks[0].logical_id"),
                          (whole | {"stacks": [{k: v for k, v in unchanged.items() if k != "settings"}]}, "stacks[0].settings"),
                          (whole | {"stacks": [unchanged | {"settings": [{"setting": "stack_policy", "current": None}]}]},
                           "stacks[0].settings[0].wanted"),
                          (whole | {"stacks": [unchanged | {"settings": [protection | {"wanted": False}]}]},
                           "stacks[0].settings[0].wanted (true: archc only turns termination protection on)"),
                          (whole | {"stacks": [unchanged | {"settings": [protection | {"setting": "drift_detection"}]}]},
                           "stacks[0].settings[0].setting (one of stack_policy, termination_protection)"),
                          (whole | {"stacks": [unchanged | {"settings": [protection]}]},
                           "stacks[0].stack_id (settings apply to a deployed stack)")):
        (out / "dev" / "plan.json").write_text(json.dumps(plan))
        r = run_cli("deploy", "--plan", out / "dev" / "plan.json", "--yes")
        assert r.code == 2 and f"is not an archc plan (missing {missing}); run `archc plan` again" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_deploy_asks_before_running(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)
    assert _plan(out, moto).code == 1
    r = run_cli("deploy", "--plan", out / "dev" / "plan.json", "--endpoint-url", moto, input="n\n")
    assert r.code == 2 and "aborted" in r.stderr
    assert _stack(boto, E1, "demo-dev-base")["StackStatus"] == "REVIEW_IN_PROGRESS"


def test_console_script_prints_no_credentials(moto, moto_stacks, tmp_path):
    """The real `archc` process, over HTTP: the secret key appears nowhere in its output or files."""
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)
    env = {"PATH": "/usr/bin:/bin", **FAKE_ENV}
    archc = [sys.executable, "-c", "from compiler.cli import main; main()"]
    for args in (["plan", "--env", "dev"], ["deploy", "--plan", str(out / "dev" / "plan.json"), "--yes"]):
        r = subprocess.run([*archc, *args, "--out", str(out), "--endpoint-url", moto, "--poll", "0.05"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 1), r.stderr
        assert SECRET not in r.stdout + r.stderr and FAKE_ENV["AWS_ACCESS_KEY_ID"] not in r.stdout + r.stderr
    for f in [*out.rglob("*.json"), *out.rglob("*.md")]:
        assert SECRET not in f.read_text(), f


def test_stack_and_region_selections_leave_the_rest_alone(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    moto_stacks.write(out, "dev", 2)

    r = _plan(out, moto, "--stack", f"{W2}/demo-dev-base")
    assert r.code == 1, r.stderr
    plan = read_plan(out)
    assert [s["id"] for s in plan["stacks"]] == [BASE_W] and plan["selection"]["stacks"] == [BASE_W]
    assert _available_change_sets(boto) == [plan["stacks"][0]["change_set"]["name"]]  # no change set on the other stacks
    assert _deploy(out, moto).code == 0
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v2"]

    # The whole plan, deployed one region at a time: the app stack (us-east-1) needs the us-west-2 stack first.
    moto_stacks.write(out, "dev", 3)
    assert _plan(out, moto, "--allow-replace", "BaseQueue").code == 1
    r = _deploy(out, moto, "--region", "us-west-1")  # a typo: an error, not "nothing to deploy"
    assert r.code == 2 and 'no stacks in region "us-west-1" (did you mean "us-west-2"?)' in r.stderr
    r = _deploy(out, moto, "--region", E1)
    assert r.code == 2 and f"depends on {BASE_W}" in r.stderr
    assert _deploy(out, moto, "--region", W2).code == 0
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v2"]
    r = _deploy(out, moto, "--region", E1)
    assert r.code == 0, r.stdout + r.stderr
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v2", "v2"]
    assert _plan(out, moto).code == 0


ALLOW_ALL = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}]}
STRICT_DENY = {"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"], "Resource": ["LogicalResourceId/BaseQueue"]}


def _policy(boto, region, name="demo-dev-base"):
    body = boto("cloudformation", region).get_stack_policy(StackName=name).get("StackPolicyBody")
    return json.loads(body) if body else None


def test_a_stack_policy_removed_outside_archc_is_put_back_without_a_change_set(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    assert _plan(out, moto).code == 0
    # Someone replaces the stack policies with allow-all ones (a stack policy cannot be deleted, only replaced).
    for region in (E1, W2):
        boto("cloudformation", region).set_stack_policy(StackName="demo-dev-base", StackPolicyBody=json.dumps(ALLOW_ALL))
    assert _policy(boto, W2) == ALLOW_ALL

    r = _plan(out, moto)
    assert r.code == 1, r.stderr  # settings to review, though no template changed
    plan = read_plan(out)
    assert {s["id"]: s["status"] for s in plan["stacks"]} == {BASE_E: "no changes", BASE_W: "no changes", APP: "no changes"}
    settings = {s["id"]: s["settings"] for s in plan["stacks"]}
    assert settings[APP] == []
    for sid in (BASE_E, BASE_W):
        assert [x["setting"] for x in settings[sid]] == ["stack_policy"]
        assert settings[sid][0]["current"] == ALLOW_ALL
        assert settings[sid][0]["wanted"]["Statement"][-1] == STRICT_DENY
    assert next(s for s in plan["stacks"] if s["id"] == BASE_W)["stack_id"] == _stack(boto, W2, "demo-dev-base")["StackId"]
    assert (plan["summary"]["settings"], plan["summary"]["settings_only"], plan["summary"]["with_changes"]) == (2, 2, 0)
    assert f"{BASE_W}: no changes; protection settings to apply (no change set needed)" in r.stdout
    assert flat(r.stdout).count("setting: stack policy: differs from the one archc sets -> set it: updates may not replace or delete BaseQueue") == 2
    assert "no template changes in 3 stacks; protection settings to apply on 2 stacks" in r.stdout
    assert (out / "dev" / "plan.md").read_text().count("- setting: stack policy: differs from the one archc sets") == 2
    assert _available_change_sets(boto) == []  # nothing to execute: no change set was kept

    # Deploy one region: only that stack's policy is put back, and nothing else runs.
    r = _deploy(out, moto, "--region", W2)
    assert r.code == 0, r.stdout + r.stderr
    assert f"  {BASE_W}: protection settings only" in r.stdout
    assert f"  {BASE_W}: protected (CREATE_COMPLETE): stack policy set" in r.stdout
    assert "applied protection settings to 1 stack(s)" in r.stdout and "deployed" not in r.stdout.split("result:")[1]
    assert _policy(boto, W2)["Statement"][-1] == STRICT_DENY and _policy(boto, E1) == ALLOW_ALL
    assert _stack(boto, W2, "demo-dev-base")["StackStatus"] == "CREATE_COMPLETE"  # no update ran

    r = _deploy(out, moto, "--json")
    assert r.code == 0, r.stdout + r.stderr
    outcomes = {o["id"]: o for o in json.loads(r.stdout)}
    assert set(outcomes) == {BASE_E, BASE_W}  # the app stack has nothing to do
    assert all(o["state"] == "protected" and o["applied"] == ["stack_policy"] for o in outcomes.values())
    assert _policy(boto, E1)["Statement"][-1] == STRICT_DENY
    assert [_param(boto, region, f"/demo/dev/{region}/version") for region in (E1, W2)] == ["v1", "v1"]

    r = _plan(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    assert "no changes in 3 stacks" in r.stdout
    assert all(s["settings"] == [] for s in read_plan(out)["stacks"])


def test_a_stack_with_changes_and_stale_settings_gets_them_after_its_change_set(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    boto("cloudformation", E1).set_stack_policy(StackName="demo-dev-base", StackPolicyBody=json.dumps(ALLOW_ALL))
    moto_stacks.write(out, "dev", 2)
    r = _plan(out, moto)
    assert r.code == 1, r.stderr
    plan = read_plan(out)
    east = next(s for s in plan["stacks"] if s["id"] == BASE_E)
    assert east["status"] == "changes" and [x["setting"] for x in east["settings"]] == ["stack_policy"]
    assert (plan["summary"]["settings"], plan["summary"]["settings_only"]) == (1, 0)
    assert f"{BASE_E}: UPDATE change set, 2 changes; protection settings to apply after the change set" in flat(r.stdout)
    r = _deploy(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    assert f"  {BASE_E}: deployed (UPDATE_COMPLETE)" in r.stdout and "protected" not in r.stdout
    assert _policy(boto, E1)["Statement"][-1] == STRICT_DENY
    assert _plan(out, moto).code == 0


def test_a_stack_created_after_its_inputs_runs_only_if_its_change_set_is_what_was_reviewed(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    moto_stacks.write(out, "dev", 1)
    assert _plan(out, moto).code == 1

    def drop_a_reviewed_resource(plan):  # what AWS makes no longer matches the review (here: the review edited)
        app = next(s for s in plan["stacks"] if s["id"] == APP)
        app["changes"] = [c for c in app["changes"] if c["logical_id"] != "AppWorkerFunction"]
        return plan

    _edit_plan(out, drop_a_reviewed_resource)
    r = _deploy(out, moto)
    assert r.code == 2, r.stdout + r.stderr
    assert f"{APP}: failed" in r.stdout and "not what plan reviewed from the template (in it but not reviewed: AppWorkerFunction)" in r.stdout
    assert _stack(boto, W2, "demo-dev-base")["StackStatus"] == "CREATE_COMPLETE"  # its inputs were deployed
    assert _change_sets(boto, E1, "demo-dev-app") == []  # the unreviewed change set is gone, and its empty stack
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0  # plan again: the review is the real one
    assert _stack(boto, E1, "demo-dev-app")["StackStatus"] == "CREATE_COMPLETE"


def test_a_create_after_review_never_touches_a_stack_that_exists_by_then(moto, boto, moto_stacks, tmp_path):
    from compiler.deploy.aws import Aws
    from compiler.deploy.deferred import create_reviewed

    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)  # the plan's app stack was "create after"; it exists now
    plan = read_plan(out)
    app = next(s for s in plan["stacks"] if s["id"] == APP)
    made, problem = create_reviewed(app, plan, Aws(None, None, moto), out, 0.05, lambda msg, style="": None)
    assert made is None and "exists already (CREATE_COMPLETE)" in problem
    assert _stack(boto, E1, "demo-dev-app")["StackStatus"] == "CREATE_COMPLETE"  # untouched
