"""The standby stack in the DR region: the database there. Before failover, a cross-Region read replica of the primary
(warm_standby); at failover the same instance promoted (the replica's source removed), or, for the strategies that copy
backups, an instance restored from the replicated automated backups to their latest restorable time."""

from __future__ import annotations

from typing import Any, Iterable

from troposphere import GetAtt, Ref, rds

from compiler.context import Context
from compiler.naming import DATA, db_identifier
from compiler.spec import Spec
from compiler.spec.dr import minutes

from .exceptions import REPLICA_ENCRYPTION, database_port, record
from .parts import alarm, alarms_on, database_alarms, monitoring, placement
from .secure import retain


class StandbyInstance(rds.DBInstance):
    """AWS::RDS::DBInstance without troposphere 4.11's own checks, which predate Multi-AZ read replicas and restores from
    replicated backups (they demand Engine, MasterUsername and no MultiAZ). cfn-lint checks the template against AWS's schema."""

    def validate(self) -> None:
        pass


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    db, dr = spec.database, spec.dr
    key = ctx.ref(DATA, "DatabaseKeyArn")
    place = placement(db, ctx, "StandbyDatabase", key)
    watch, watched = monitoring(db, ctx, "StandbyDatabase", key)
    yield from (*place.log_groups.values(), place.ingress, place.egress, place.subnets, place.params, *watch)
    props: dict[str, Any] = dict(
        DBInstanceIdentifier=db_identifier(ctx.prefix), DBInstanceClass=db.instance_class, KmsKeyId=key,
        MaxAllocatedStorage=db.max_storage_gb, StorageType="gp3", MultiAZ=db.multi_az, PubliclyAccessible=False,
        EnableIAMDatabaseAuthentication=True, DeletionProtection=db.deletion_protection,
        # Always set: a replica inherits the source's groups at creation and falls back to the default group on the next update.
        DBSubnetGroupName=Ref(place.subnets), VPCSecurityGroups=[place.data_sg], DBParameterGroupName=Ref(place.params),
        PreferredMaintenanceWindow=db.maintenance_window, CopyTagsToSnapshot=True, AutoMinorVersionUpgrade=True,
        EnableCloudwatchLogsExports=sorted(place.log_groups), DependsOn=[g.title for g in place.log_groups.values()], **watched)
    on_own = dict(BackupRetentionPeriod=db.backup_retention_days, PreferredBackupWindow=db.backup_window)
    replica = spec.database_copy == "replica" and not spec.failed_over
    if replica:
        # The source by ARN, from the primary's data stack (a replica of an encrypted source needs a key in this region).
        props.update(SourceDBInstanceIdentifier=ctx.ref(DATA, "DatabaseArn", spec.regions.primary), SourceRegion=spec.regions.primary)
    elif spec.database_copy == "replica":
        props.update(on_own)  # promoted: the source is gone from the template, so CloudFormation promotes the replica
    else:
        props.update(on_own, SourceDBInstanceAutomatedBackupsArn=dr.failover.restore_from, UseLatestRestorableTime=True)
    instance = retain(StandbyInstance("StandbyDatabaseInstance", **props), "Snapshot")
    database_port(instance, db.port)
    record(instance, REPLICA_ENCRYPTION, "encrypted with KmsKeyId, this region's database key: a replica, and an instance "
                                         "restored from encrypted backups, take their encryption from the source and may not set "
                                         "StorageEncrypted")
    yield instance
    if alarms_on(ctx):
        if replica:
            # Half the RPO: time to act before the copy falls behind what may be lost.
            limit = minutes(dr.rpo) * 30
            yield alarm(ctx, "StandbyDatabaseReplicaLagAlarm", "db-replica-lag",
                        f"The DR read replica is over {limit} s behind the primary (half the {dr.rpo} RPO) for 10 minutes",
                        namespace="AWS/RDS", metric="ReplicaLag", dimensions={"DBInstanceIdentifier": Ref(instance)},
                        statistic="Maximum", period=60, threshold=limit, comparison="GreaterThanThreshold",
                        evaluation_periods=10, datapoints=10, missing="breaching")
        yield from database_alarms(ctx, "StandbyDatabase", Ref(instance))
    yield ctx.output("DatabaseEndpoint", GetAtt(instance, "Endpoint.Address"), "PostgreSQL endpoint address in this region")
    yield ctx.output("DatabasePort", GetAtt(instance, "Endpoint.Port"), "PostgreSQL port")
    yield ctx.output("DatabaseResourceId", GetAtt(instance, "DbiResourceId"), "resource id for IAM database authentication (its own)")
