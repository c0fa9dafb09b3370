"""archc diff on cfn-lint's bundled provider schemas: create-only replaces, conditional may replace, the rest is in place."""

from __future__ import annotations

import json
import subprocess


from compiler.diff import diff_template, predict, stateful_types

from .conftest import run_cli

REGION = "ap-northeast-1"
DB = {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot", "Properties": {
    "Engine": "postgres", "EngineVersion": "15.13", "DBInstanceClass": "db.t4g.small", "DBName": "app", "AllocatedStorage": "20",
    "StorageEncrypted": True, "Tags": [{"Key": "Environment", "Value": "dev"}]}}
TABLE = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
    "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}


def changed(resource: dict, **props) -> dict:
    return resource | {"Properties": resource["Properties"] | props}


def test_rds_dbname_replaces():
    replacement, paths = predict(REGION, DB, changed(DB, DBName="orders"))
    assert replacement == "True"
    assert [(p.path, p.effect) for p in paths] == [("Properties.DBName", "True")]


def test_rds_engine_may_replace():
    replacement, paths = predict(REGION, DB, changed(DB, Engine="aurora-postgresql"))
    assert replacement == "Conditional" and paths[0].path == "Properties.Engine"


def test_rds_tags_and_class_change_in_place():
    new = changed(DB, Tags=[{"Key": "Environment", "Value": "dev"}, {"Key": "Owner", "Value": "data"}], DBInstanceClass="db.t4g.medium")
    replacement, paths = predict(REGION, DB, new)
    assert replacement == "False"
    assert {p.path: p.effect for p in paths} == {"Properties.DBInstanceClass": "False", "Properties.Tags[1]": "False"}


def test_the_worst_path_decides():
    replacement, paths = predict(REGION, DB, changed(DB, DBName="orders", Engine="aurora-postgresql", DBInstanceClass="db.t4g.large"))
    assert replacement == "True" and {p.effect for p in paths} == {"True", "Conditional", "False"}


def test_dynamodb_key_schema_always_replaces_though_the_schema_says_conditional():
    new = changed(TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    assert predict(REGION, TABLE, new)[0] == "True"
    assert predict(REGION, TABLE, changed(TABLE, BillingMode="PROVISIONED"))[0] == "False"
    assert predict(REGION, TABLE, changed(TABLE, TableName="orders"))[0] == "True"


def test_dynamodb_local_secondary_indexes_always_replace():
    lsi = [{"IndexName": "by-date", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "d", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}]
    with_lsi = changed(TABLE, LocalSecondaryIndexes=lsi)
    assert predict(REGION, TABLE, with_lsi)[0] == "True"  # added to an existing table: a new table
    renamed = changed(TABLE, LocalSecondaryIndexes=[lsi[0] | {"IndexName": "by-day"}])
    replacement, paths = predict(REGION, with_lsi, renamed)
    assert replacement == "True" and [(p.path, p.effect) for p in paths] == [("Properties.LocalSecondaryIndexes[0].IndexName", "True")]
    table = with_lsi | {"Type": "AWS::DynamoDB::GlobalTable"}
    assert predict(REGION, table, renamed | {"Type": "AWS::DynamoDB::GlobalTable"})[0] == "True"


def test_policy_and_metadata_changes_never_replace_and_a_type_change_always_does():
    assert predict(REGION, DB, DB | {"DeletionPolicy": "Delete"})[0] == "False"
    assert predict(REGION, DB, DB | {"Metadata": {"note": "x"}})[0] == "False"
    assert predict(REGION, DB, DB | {"Type": "AWS::RDS::DBCluster"})[0] == "True"
    unknown = {"Type": "AWS::Nothing::Here", "Properties": {"A": 1}}
    assert predict(REGION, unknown, unknown | {"Properties": {"A": 2}})[0] == "Unknown"  # no schema: archc does not guess


def test_template_diff_marks_stateful_resources_and_their_policies():
    old = {"Resources": {"DataDatabase": DB, "DataOrders": TABLE, "Gone": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}},
           "Outputs": {"A": {"Value": "1"}}}
    new = {"Resources": {"DataDatabase": changed(DB, DBName="orders"), "DataOrders": TABLE, "New": {"Type": "AWS::SNS::Topic"}},
           "Outputs": {"A": {"Value": "2"}}}
    resources, sections = diff_template(REGION, old, new)
    by_id = {r.logical_id: r for r in resources}
    assert {lid: r.action for lid, r in by_id.items()} == {"DataDatabase": "Modify", "Gone": "Remove", "New": "Add"}
    assert by_id["DataDatabase"].data_loss and by_id["DataDatabase"].policies == {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}
    assert by_id["Gone"].data_loss and by_id["Gone"].policies == {"DeletionPolicy": "Retain"}
    assert not by_id["New"].stateful and not by_id["New"].data_loss
    assert sections == ["Outputs.A"]
    assert {"AWS::RDS::DBInstance", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue"} <= stateful_types()


def _compiled(tmp_path, spec_text: str):
    spec = tmp_path / "arch.yaml"
    spec.write_text(spec_text)
    assert run_cli("compile", "--spec", spec, "--env", "dev", "--out", tmp_path / "out").code == 0
    return spec, tmp_path / "out"


SPEC = """app: demo
regions: {primary: eu-west-1}
environments: {dev: {}}
network: {flow_logs: {retention_days: 90}}
alarms: {email: [ops@example.com]}
"""


def test_diff_against_a_directory_and_exit_codes(tmp_path):
    _, out = _compiled(tmp_path, SPEC)
    r = run_cli("diff", "--env", "dev", "--out", out, "--baseline", out / "dev")
    assert r.code == 0 and "no differences" in r.stdout
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    subprocess.run(["cp", "-r", str(out / "dev" / "eu-west-1"), str(baseline)], check=True)
    _compiled(tmp_path, SPEC.replace("90", "30"))
    r = run_cli("diff", "--env", "dev", "--out", out, "--baseline", baseline, "--json")
    assert r.code == 1
    d = json.loads(r.stdout)
    network = next(s for s in d["stacks"] if s["stack"] == "demo-dev-network")
    group = next(x for x in network["resources"] if x["type"] == "AWS::Logs::LogGroup")
    assert (group["action"], group["replacement"], group["stateful"], group["data_loss"]) == ("Modify", "False", True, False)
    assert group["paths"] == [{"path": "Properties.RetentionInDays", "effect": "False"}]
    assert next(s for s in d["stacks"] if s["stack"] == "demo-dev-alarms")["status"] == "unchanged"


def test_diff_against_a_git_ref_compiles_the_spec_at_that_commit(tmp_path):
    spec, out = _compiled(tmp_path, SPEC)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=archc", "-c", "user.email=archc@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "arch.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "spec"], check=True)
    _compiled(tmp_path, SPEC.replace("90", "30"))
    r = run_cli("diff", "--env", "dev", "--out", out, "--spec", spec, "--ref", "HEAD")
    assert r.code == 1, r.stderr
    assert "against arch.yaml at HEAD" in r.stdout and "Properties.RetentionInDays: in place" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".arch")) == []  # the temporary spec is gone
    r = run_cli("diff", "--env", "dev", "--out", out, "--spec", spec, "--ref", "no-such-ref")
    assert r.code == 2 and '"no-such-ref" is not a commit' in r.stderr


def test_diff_errors(tmp_path):
    _, out = _compiled(tmp_path, SPEC)
    from compiler.diff import diff_env

    first = diff_env(out, "dev")  # nothing planned or deployed yet: every stack is new, not an error
    assert first.stacks and all(s.status == "added" for s in first.stacks)
    r = run_cli("diff", "--env", "dev", "--out", out, "--baseline", out / "dev", "--region", "us-east-1")
    assert r.code == 2 and 'no stacks in region "us-east-1"' in r.stderr
