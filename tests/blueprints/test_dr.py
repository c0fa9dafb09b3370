"""Disaster recovery that recovers (seeds/001 and 002): every data store copied to the DR region, DR compute reading
only the DR copies, failover routes that cover what they claim, DR off, failover itself, and the runbook."""

from __future__ import annotations

import json
import re

import pytest

from compiler.build import compile_spec
from compiler.runbook import copies, render

from ..conftest import ROOT, build_app, make_spec


def _apps(path):
    c = compile_spec(path, None)
    return c.apps, c.specs


@pytest.fixture(scope="module")
def reference():
    return _apps(ROOT / "arch.yaml")


@pytest.fixture(scope="module")
def fillup():
    return _apps(ROOT / "examples/fillup/arch.yaml")


def _dr_templates(app, spec) -> dict[str, dict]:
    return {s.name: s.template.to_dict() for s in app.stacks.values() if s.region == spec.regions.dr}


@pytest.mark.parametrize("which", ["reference", "fillup"])
def test_every_data_store_has_a_copy_in_the_dr_region(which, request):
    apps, specs = request.getfixturevalue(which)
    found = copies(apps["prod"], specs["prod"])
    stores = [c for c in found if c.kind in ("bucket", "table", "database", "secret") and not c.how.startswith("access logs")]
    assert {c.kind for c in stores} >= {"bucket", "table", "database", "secret"}
    assert [c for c in stores if c.copy.startswith("none")] == []
    assert all(specs["prod"].regions.dr in c.copy for c in stores)


@pytest.mark.parametrize("which", ["reference", "fillup"])
def test_dr_compute_reads_only_the_dr_region(which, request):
    """Walk every DR-region template: no value names the primary region, no output is read from it, except the read
    replica's source (which is what a replica is)."""
    apps, specs = request.getfixturevalue(which)
    spec = specs["prod"]
    primary, dr = spec.regions.primary, spec.regions.dr
    templates = _dr_templates(apps["prod"], spec)
    assert templates
    for name, t in templates.items():
        if name.endswith("-standby"):
            instance = t["Resources"]["StandbyDatabaseInstance"]["Properties"]
            assert instance["SourceRegion"] == primary
            source = instance["SourceDBInstanceIdentifier"]  # the primary's ARN, as a parameter archc fills
            del t["Parameters"][source["Ref"]], instance["SourceRegion"], instance["SourceDBInstanceIdentifier"]
        text = json.dumps(t)
        rest = spec.api.rest if spec.api else None
        if rest is not None and rest.auth.user_pool_arn:  # the user's own pool, given by ARN (README: Cognito in DR)
            text = text.replace(rest.auth.user_pool_arn, "")
        assert primary not in text, name
    from_primary = "".join(part.capitalize() for part in primary.split("-"))  # a parameter filled from the primary's outputs
    functions = templates.get(f"{spec.app}-prod-functions")
    if functions is None:  # backup_restore: no compute before failover
        assert spec.dr.strategy == "backup_restore"
        return
    for lid, res in functions["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            for value in res["Properties"]["Environment"]["Variables"].values():
                text = json.dumps(value)
                assert from_primary not in text and primary not in text, (lid, value)
        if res["Type"] == "AWS::IAM::Role":
            for st in res["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                assert primary not in json.dumps(st) and from_primary not in json.dumps(st["Resource"]), (lid, st["Sid"])
                if "kms:ViaService" in json.dumps(st):
                    assert st["Condition"]["StringEquals"]["kms:ViaService"].endswith(f".{dr}.amazonaws.com")


def test_reference_dr_functions_use_the_replicas_and_the_standby(reference):
    apps, specs = reference
    fns = _dr_templates(apps["prod"], specs["prod"])["fillup-prod-functions"]["Resources"]
    env = fns["FnProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DOCUMENTS_BUCKET"] == "fillup-prod-documents-us-west-2"
    assert env["DB_USER"] == "fn_processor" and env["DB_NAME"] == "app"
    assert env["DB_HOST"] == {"Fn::ImportValue": "fillup-prod-standby-DatabaseEndpoint"}
    # IAM authentication on the standby: its own resource id, in this region.
    statements = fns["FnProcessorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [connect] = [st for st in statements if st["Action"] == ["rds-db:connect"]]
    assert connect["Resource"] == [{"Fn::Sub": ["arn:${AWS::Partition}:rds-db:us-west-2:${AWS::AccountId}:dbuser:${Id}/fn_processor",
                                                {"Id": {"Fn::ImportValue": "fillup-prod-standby-DatabaseResourceId"}}]}]
    assert env["UPLOADS_QUEUE_URL"] == {"Fn::ImportValue": "fillup-prod-queues-UploadsQueueUrl"}
    # Disabled until failover: the primary processes each upload; the DR queue keeps the copies' events.
    assert fns["FnProcessorUploadsEventSource"]["Properties"]["Enabled"] is False


def _behavior(config: dict, path: str) -> dict:
    for b in config.get("CacheBehaviors", []):
        if re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in b["PathPattern"]), path):
            return b
    return config["DefaultCacheBehavior"]


def test_every_rest_route_goes_where_the_spec_claims(reference):
    """GETs fail over to the DR twin of the API, the health route reports the primary, writes go to the primary."""
    apps, specs = reference
    spec = specs["prod"]
    edge = apps["prod"].stacks["us-east-1/fillup-prod-edge"].template.to_dict()["Resources"]
    config = edge["EdgeAppDistribution"]["Properties"]["DistributionConfig"]
    groups = {g["Id"]: [m["OriginId"] for m in g["Members"]["Items"]] for g in config["OriginGroups"]["Items"]}
    assert groups["api-group"] == ["api", "api-dr"]
    rest = spec.api.rest
    for method, path in rest.methods:
        sample = path.replace("{proxy+}", "a/b.png")
        b = _behavior(config, sample)
        if method == "GET" and path == rest.health:
            assert b["TargetOriginId"] == "api", path
        elif method in ("GET", "HEAD"):
            assert groups.get(b["TargetOriginId"]) == ["api", "api-dr"], path
        else:
            assert b["TargetOriginId"] == "api" and method in b["AllowedMethods"], (method, path)
    site = _behavior(config, "/assets/app.js")
    assert groups[site["TargetOriginId"]] == ["site", "site-dr"]


def test_a_health_route_that_fails_over_is_refused():
    text = (ROOT / "arch.yaml").read_text().replace("/api/health: {origin: api, methods: read-options, failover: false}",
                                                    "/api/health: {origin: api, methods: read-options}")
    from compiler.diagnostics import SpecError
    from compiler.loader import load_text
    from compiler.validate import validate

    with pytest.raises(SpecError) as e:
        validate(load_text(text))
    assert [d.code for d in e.value.diagnostics] == ["S256"]


def test_dr_off_collapses_to_one_region(reference):
    apps, specs = reference
    dev = apps["dev"]
    assert {s.region for s in dev.stacks.values()} == {"ap-northeast-1", "us-east-1"}
    dumped = json.dumps({sid: s.template.to_dict() for sid, s in dev.stacks.items()})
    for marker in ("ReplicationConfiguration", "AWS::DynamoDB::GlobalTable", "AutomaticBackupReplication", "-dr\""):
        assert marker not in dumped
    # The one secret replica: the REST API's origin-verify value, to us-east-1 where the distribution reads it.
    replicas = [(lid, r) for s in dev.stacks.values() for lid, r in s.template.to_dict()["Resources"].items()
                if "ReplicaRegions" in r.get("Properties", {})]
    assert [(lid, r["Properties"]["ReplicaRegions"]) for lid, r in replicas] == [("ApiOriginVerifySecret", [{"Region": "us-east-1"}])]
    assert render(dev, specs["dev"]) is None


def test_warm_standby_replica_and_its_lag_alarm(reference):
    apps, specs = reference
    standby = apps["prod"].stacks["us-west-2/fillup-prod-standby"].template.to_dict()["Resources"]
    p = standby["StandbyDatabaseInstance"]["Properties"]
    assert p["SourceDBInstanceIdentifier"] == {"Ref": "DatabaseArnApNortheast1"}  # the primary's output, filled by archc
    assert p["KmsKeyId"] == {"Fn::ImportValue": "fillup-prod-data-DatabaseKeyArn"}
    assert p["VPCSecurityGroups"] and p["DBSubnetGroupName"] == {"Ref": "StandbyDatabaseSubnetGroup"}
    assert not {"BackupRetentionPeriod", "DBName", "MasterUsername", "MasterUserPassword", "StorageEncrypted"} & set(p)
    lag = standby["StandbyDatabaseReplicaLagAlarm"]["Properties"]
    assert lag["MetricName"] == "ReplicaLag" and lag["Threshold"] == 450  # half the 15 min RPO, in seconds
    data = apps["prod"].stacks["ap-northeast-1/fillup-prod-data"].template.to_dict()["Resources"]
    [replica] = data["DataDatabaseSecret"]["Properties"]["ReplicaRegions"]
    assert replica["Region"] == "us-west-2" and replica["KmsKeyId"] == {"Ref": "DatabaseKeyArnUsWest2"}
    table = data["DataConnectionsTable"]
    assert table["Type"] == "AWS::DynamoDB::GlobalTable"
    assert [r["Region"] for r in table["Properties"]["Replicas"]] == ["ap-northeast-1", "us-west-2"]
    assert all(r["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] and r["DeletionProtectionEnabled"]
               for r in table["Properties"]["Replicas"])


def test_bucket_replication_to_the_dr_copy(reference):
    apps, _ = reference
    storage = apps["prod"].stacks["ap-northeast-1/fillup-prod-storage"].template.to_dict()["Resources"]
    [rule] = storage["StorageDocumentsBucket"]["Properties"]["ReplicationConfiguration"]["Rules"]
    dest = rule["Destination"]
    assert dest["StorageClass"] == "STANDARD_IA" and dest["ReplicationTime"]["Status"] == "Enabled"
    assert dest["Metrics"] == {"EventThreshold": {"Minutes": 15}, "Status": "Enabled"}
    assert dest["Bucket"] == {"Ref": "DocumentsBucketArnUsWest2"}
    parameters = {e.parameter: (e.producer, e.output) for e in apps["prod"].edges if e.consumer == "ap-northeast-1/fillup-prod-storage"}
    assert parameters["DocumentsBucketArnUsWest2"] == ("us-west-2/fillup-prod-storage", "DocumentsBucketArn")
    assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    failed = storage["StorageDocumentsReplicationFailedAlarm"]["Properties"]
    assert failed["MetricName"] == "OperationsFailedReplication"
    assert {d["Name"]: d["Value"] for d in failed["Dimensions"]}["DestinationBucket"] == "fillup-prod-documents-us-west-2"
    dr_access = apps["prod"].stacks["us-west-2/fillup-prod-cdn-access"].template.to_dict()["Resources"]
    assert dr_access["CdnAccessSiteBucketPolicy"]["Properties"]["Bucket"] == "fillup-prod-site-us-west-2"


def test_backup_restore_copies_backups_and_keeps_no_compute_in_the_dr_region(fillup):
    apps, specs = fillup
    prod = apps["prod"]
    assert {s.concern for s in prod.stacks.values() if s.region == "ap-northeast-3"} == {"alarms", "data", "storage", "cdn-access"}
    db = prod.stacks["ap-northeast-1/fillup-prod-data"].template.to_dict()["Resources"]["DataDatabaseInstance"]["Properties"]
    assert db["AutomaticBackupReplicationRegion"] == "ap-northeast-3"
    assert db["AutomaticBackupReplicationRetentionPeriod"] == 7
    assert set(apps) == {"dev", "staging", "prod"} and all(len({s.region for s in apps[e].stacks.values()}) == 2 for e in ("dev", "staging"))


FAILOVER = """
app: shop
regions: {primary: eu-west-1, dr: eu-central-1}
network: {azs: 2, nat_gateways: 1}
database: {}
buckets: {files: {events: {landed: {to: queues.jobs}}}}
queues: {jobs: {}}
functions:
  api: {code: handlers/processor, handler: app.handler, runtime: python3.13, in_vpc: true,
        uses: {database: connect, buckets.files: read}, events: {jobs: {queue: jobs}}}
dr: {strategy: STRATEGY, rto: 4h, rpo: 1h, failover: FAILOVER}
"""


def test_failover_restores_or_promotes_and_enables_the_dr_consumers():
    arn = "arn:aws:rds:eu-central-1:123456789012:auto-backup:ab-abcdefghijklmnopqrstuvwxyz1"
    spec = make_spec(FAILOVER.replace("STRATEGY", "pilot_light").replace("FAILOVER", f"{{restore_from: '{arn}'}}"))
    app, _ = build_app(spec)
    standby = app.stacks["eu-central-1/shop-prod-standby"].template.to_dict()["Resources"]["StandbyDatabaseInstance"]["Properties"]
    assert standby["SourceDBInstanceAutomatedBackupsArn"] == arn and standby["UseLatestRestorableTime"] is True
    assert standby["BackupRetentionPeriod"] == 7
    fns = app.stacks["eu-central-1/shop-prod-functions"].template.to_dict()["Resources"]
    assert fns["FnApiJobsEventSource"]["Properties"]["Enabled"] is True
    promoted, _ = build_app(make_spec(FAILOVER.replace("STRATEGY", "warm_standby").replace("FAILOVER", "{}")))
    p = promoted.stacks["eu-central-1/shop-prod-standby"].template.to_dict()["Resources"]["StandbyDatabaseInstance"]["Properties"]
    assert "SourceDBInstanceIdentifier" not in p and p["BackupRetentionPeriod"] == 7
    not_yet, _ = build_app(make_spec(FAILOVER.replace("STRATEGY", "warm_standby").replace(", failover: FAILOVER", "")))
    p = not_yet.stacks["eu-central-1/shop-prod-standby"].template.to_dict()["Resources"]["StandbyDatabaseInstance"]["Properties"]
    assert "SourceDBInstanceIdentifier" in p


def test_the_runbook_names_every_replicated_store_and_the_failover_change(reference, fillup):
    for apps, specs in (reference, fillup):
        book = render(apps["prod"], specs["prod"])
        for c in copies(apps["prod"], specs["prod"]):
            assert f"`{c.name}`" in book
        assert "dr: {failover:" in book and specs["prod"].dr.rpo in book and specs["prod"].dr.rto in book
    fillup_book = render(fillup[0]["prod"], fillup[1]["prod"])
    assert "describe-db-instance-automated-backups --region ap-northeast-3" in fillup_book and "restore_from" in fillup_book


def test_the_dr_vpc_gets_its_own_cidr(reference):
    apps, _ = reference
    cidrs = {region: apps["prod"].stacks[f"{region}/fillup-prod-network"].template.to_dict()["Resources"]["NetworkVpc"]["Properties"]["CidrBlock"]
             for region in ("ap-northeast-1", "us-west-2")}
    assert cidrs == {"ap-northeast-1": "10.0.0.0/16", "us-west-2": "10.1.0.0/16"}


def test_turning_a_table_into_a_global_table_is_blocked_as_data_loss(reference):
    """aws-facts.md section 6: the change of type can delete the table. Whether AWS reports a replacement or leaves it
    out (local emulators), plan blocks it until allowed by name; the README gives the safe path (retain, import)."""
    from compiler.deploy.review import review_stack

    apps, _ = reference
    new = apps["prod"].stacks["ap-northeast-1/fillup-prod-data"].template.to_dict()
    old = json.loads(json.dumps(new))
    table = old["Resources"]["DataConnectionsTable"]
    table["Type"] = "AWS::DynamoDB::Table"
    for aws_says in ({}, {"Replacement": "True"}):
        change = {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": "DataConnectionsTable",
                                                         "ResourceType": "AWS::DynamoDB::GlobalTable", **aws_says}}
        _, risks = review_stack("ap-northeast-1/fillup-prod-data", [change], old, new)
        assert ("DataConnectionsTable", "D501") in [(r.logical_id, r.code) for r in risks]  # blocked (and D504: the old one stays)


def test_failover_templates_lint_clean(tmp_path):
    """The templates a failover deploys (a restore from the replicated backups, a promoted replica) pass cfn-lint."""
    from compiler.build import build_all
    from compiler.lint import lint_envs

    promoted = tmp_path / "promoted.yaml"
    promoted.write_text(FAILOVER.replace("STRATEGY", "warm_standby").replace("FAILOVER", "{}")
                        .replace("code: handlers/processor", f"code: {ROOT / 'handlers/processor'}"))
    for spec in (ROOT / "tests/specs/leaves/failover.yaml", promoted):
        out = tmp_path / spec.stem
        build_all(spec, None, out)
        report = lint_envs(out, None, workers=1)
        assert [f for f in report.findings if f.level in ("error", "warning")] == [], spec.name
