"""out/<env>/dr-runbook.md: how each data store of one environment reaches the DR region, what it may lose, and the
steps of a failover and a failback. Read from the compiled templates (what will be deployed), not from the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import App
from .manifest import RUNBOOK
from .naming import DATA, IMAGES, LOGS_BUCKET, QUEUES, STANDBY, STORAGE
from .spec import Spec
from .spec.dr import MECHANISMS, minutes




@dataclass(frozen=True)
class Copy:
    kind: str  # bucket, table, database, secret, repository, queue
    name: str  # the physical name in the primary region
    copy: str  # where the copy lives, and what it is
    how: str
    rpo: str


def _resources(app: App, region: str, concern: str) -> dict[str, Any]:
    stack = app.stacks.get(f"{region}/{app.app}-{app.env}-{concern}")
    return {} if stack is None else stack.template.to_dict().get("Resources", {})


def copies(app: App, spec: Spec) -> list[Copy]:
    """Every data store of the environment and its copy in the DR region, found in the compiled templates."""
    primary, dr = spec.regions.primary, spec.regions.dr
    found: list[Copy] = []
    dr_storage = _resources(app, dr, STORAGE)
    for lid, res in _resources(app, primary, STORAGE).items():
        props = res.get("Properties", {})
        if res["Type"] != "AWS::S3::Bucket":
            continue
        rules = props.get("ReplicationConfiguration", {}).get("Rules", [])
        if rules:
            dest = rules[0]["Destination"]
            copy = dr_storage.get(lid, {}).get("Properties", {}).get("BucketName", "?")
            rtc = "with Replication Time Control" if "ReplicationTime" in dest else "without Replication Time Control"
            found.append(Copy("bucket", props["BucketName"], f"{copy} ({dr}, {dest.get('StorageClass', 'STANDARD')})",
                              f"S3 cross-Region replication of every object version and delete marker, {rtc}",
                              f"{MECHANISMS['crr'].rpo_minutes} min"))
        elif props["BucketName"].startswith(f"{app.app}-{app.env}-{LOGS_BUCKET}-"):
            found.append(Copy("bucket", props["BucketName"], "none (the DR region keeps its own logs)", "access logs: not copied",
                              "the primary region's logs"))
        else:
            found.append(Copy("bucket", props["BucketName"], "none", "not replicated (replicate: false)", "every object"))
    data = _resources(app, primary, DATA)
    for lid, res in data.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::DynamoDB::GlobalTable":
            regions = [r["Region"] for r in props["Replicas"]]
            found.append(Copy("table", props["TableName"], f"replica in {', '.join(r for r in regions if r != primary)}",
                              "DynamoDB global table (each replica with its own key, point-in-time recovery)",
                              "about a second"))
        elif res["Type"] == "AWS::DynamoDB::Table":
            found.append(Copy("table", props["TableName"], "none", "not replicated", "the table, if the region is lost"))
        elif res["Type"] == "AWS::RDS::DBInstance":
            standby = _resources(app, dr, STANDBY).get("StandbyDatabaseInstance", {}).get("Properties", {})
            if "AutomaticBackupReplicationRegion" in props:
                found.append(Copy("database", props["DBInstanceIdentifier"],
                                  f"automated backups in {props['AutomaticBackupReplicationRegion']}, kept "
                                  f"{props['AutomaticBackupReplicationRetentionPeriod']} days",
                                  MECHANISMS["backups"].what, f"{MECHANISMS['backups'].rpo_minutes} min"))
            elif "SourceDBInstanceIdentifier" in standby:
                found.append(Copy("database", props["DBInstanceIdentifier"], f"read replica {standby['DBInstanceIdentifier']} in {dr}",
                                  MECHANISMS["replica"].what, "seconds (the replica lag)"))
            else:
                found.append(Copy("database", props["DBInstanceIdentifier"], "none", "not replicated", "the database"))
        elif res["Type"] == "AWS::SecretsManager::Secret":
            replicas = [r["Region"] for r in props.get("ReplicaRegions", [])]
            found.append(Copy("secret", props.get("Name", lid), f"replica in {', '.join(replicas)}" if replicas else "none",
                              "Secrets Manager replication (each rotation reaches the replica)" if replicas else "not replicated",
                              "none" if replicas else "the credentials"))
    for lid, res in _resources(app, primary, IMAGES).items():
        if res["Type"] == "AWS::ECR::Repository":
            name = res["Properties"]["RepositoryName"]
            found.append(Copy("repository", name, f"{name} in {dr}" if f"{dr}/{app.app}-{app.env}-{IMAGES}" in app.stacks else "none",
                              "ECR registry replication of every pushed image", "an image pushed moments before the outage"))
    for lid, res in _resources(app, primary, QUEUES).items():
        if res["Type"] == "AWS::SQS::Queue":
            name = res["Properties"]["QueueName"]
            found.append(Copy("queue", name, f"{name} in {dr} (its own messages)" if f"{dr}/{app.app}-{app.env}-{QUEUES}" in app.stacks else "none",
                              "not copied: messages waiting in the primary are lost with it", "its waiting messages"))
    return found


def summary(app: App, spec: Spec) -> str | None:
    """out/<env>/dr.json: the runbook's objectives and copies as data (the audit report reads it), or None without DR."""
    if spec.regions.dr is None:
        return None
    import json
    from dataclasses import asdict

    d = spec.dr
    data = {"primary": spec.regions.primary, "dr": spec.regions.dr, "runbook": RUNBOOK,
            "strategy": d.strategy if d else None, "rto": d.rto if d else None, "rpo": d.rpo if d else None,
            "rto_minutes": minutes(d.rto) if d else None, "rpo_minutes": minutes(d.rpo) if d else None,
            "recovery_steps": [{"step": what, "minutes": m} for _, m, what in d.rto_floor(spec.database is not None)] if d else [],
            "copies": [asdict(c) for c in copies(app, spec)]}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def render(app: App, spec: Spec) -> str | None:
    """The runbook's Markdown, or None for an environment without a DR region."""
    if spec.regions.dr is None:
        return None
    primary, dr, env = spec.regions.primary, spec.regions.dr, app.env
    lines = [f"# {app.app} {env}: disaster recovery runbook", "",
             f"Primary region {primary}, DR region {dr}. Generated by archc from the compiled templates of `{env}`; "
             "regenerated by every `archc compile`.", ""]
    d = spec.dr
    if d is not None:
        steps = d.rto_floor(spec.database is not None)
        lines += ["## Objectives", "",
                  f"- Strategy: **{d.strategy}**. RTO **{d.rto}** ({minutes(d.rto)} min), RPO **{d.rpo}** ({minutes(d.rpo)} min).",
                  f"- Recovery steps archc counts against the RTO: {' + '.join(f'{what} ({m} min)' for _, m, what in steps)} "
                  f"= {sum(m for _, m, _ in steps)} min.", ""]
    found = copies(app, spec)
    lines += ["## Data stores and their copies", "", "| kind | primary | copy in the DR region | how | may lose |", "|---|---|---|---|---|"]
    lines += [f"| {c.kind} | `{c.name}` | {c.copy} | {c.how} | {c.rpo} |" for c in found]
    lines += ["", "## Watch", "",
              "The alarms that say a copy is falling behind (each notifies the region's alarm topic):", ""]
    alarms = sorted(str(r.properties["AlarmName"]) for s in app.stacks.values() for r in s.template.resources.values()
                    if r.resource_type == "AWS::CloudWatch::Alarm" and any(k in str(r.properties.get("AlarmName")) for k in
                                                                           ("replication", "replica-lag")))
    lines += [f"- `{a}`" for a in alarms] or ["- (none: nothing is replicated continuously)"]
    rest = spec.api.rest if spec.api else None
    health = rest.health if rest is not None else None
    lines += ["", "## Failover (the primary region is lost)", ""]
    n = 1
    if health:
        lines.append(f"{n}. Confirm: `GET {health}` through the CDN reports the primary and fails; CloudFront already sends reads "
                     "to the DR region where an origin fails over.")
        n += 1
    restore = ""
    if spec.database_copy == "backups":
        lines.append(f"{n}. Find the replicated backups: `aws rds describe-db-instance-automated-backups --region {dr} "
                     f"--db-instance-identifier {app.app}-{env}-db --query 'DBInstanceAutomatedBackups[0].DBInstanceAutomatedBackupsArn'`.")
        n += 1
        restore = ", restore_from: <that ARN>"
    if spec.database is not None:
        lines.append(f"{n}. Make the secret's replica writable (rotation runs in the primary): `aws secretsmanager "
                     f"stop-replication-to-replica --secret-id {app.app}-{env}/database --region {dr}`.")
        n += 1
    lines.append(f"{n}. In `arch.yaml`, under `environments: {{{env}: ...}}`, set `dr: {{failover: {{{restore.lstrip(', ')}}}}}`. "
                 "What changes:")
    effects = []
    if spec.database_copy == "replica":
        effects.append("the standby stack promotes the read replica (its source is removed from the template: plan shows a Modify "
                       "of `StandbyDatabaseInstance`, replacement Conditional, allow it by name if the gate asks)")
    elif spec.database_copy == "backups":
        effects.append("the standby stack creates the database from the replicated backups at their latest restorable time")
    if spec.dr is not None and spec.dr.strategy == "backup_restore":
        effects.append("the DR region's network, queues, functions and APIs are created")
    if any(True for f in spec.functions.values() if f.events):
        effects.append("the DR functions' queue mappings are enabled: they work through the events the replicated objects sent")
    if spec.cdn:
        effects.append("every origin with a DR copy points at the DR region for all methods (writes included)")
    lines += [f"   - {e}" for e in effects]
    n += 1
    lines.append(f"{n}. `archc compile --env {env}`, then `archc plan --env {env} --region {dr} --region us-east-1` (the primary "
                 f"region is unreachable: leave it out), review, `archc deploy --env {env}`.")
    n += 1
    lines.append(f"{n}. Point clients and monitors at the DR region; check the alarms above and the DR functions' error alarms.")
    lines += ["", "## Failback (the primary region is back)", "",
              "1. Keep `dr.failover` until the primary holds current data again: nothing replicates from the DR region back.",
              "2. Copy what was written during the outage back to the primary: buckets with S3 Batch Replication or "
              f"`aws s3 sync s3://<DR copy> s3://<primary>`; tables need nothing (global tables replicate both ways once the "
              "primary replica is healthy); the database with a dump and restore into the primary, or a cross-Region replica "
              f"of the DR instance promoted in {primary}.",
              "3. Remove `dr.failover`, compile, plan every region and review: the standby returns to its pre-outage form "
              "(a new read replica replaces the promoted instance, which the data-loss gate blocks until allowed by name "
              "once its data is safely in the primary).",
              "4. Deploy; confirm the health route reports the primary again.", ""]
    return "\n".join(lines)
