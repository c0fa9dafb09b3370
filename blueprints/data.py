"""The data stack: RDS PostgreSQL with rotated credentials and the DynamoDB tables; encrypted, retained, alarmed."""

from __future__ import annotations

import json
from typing import Any, Iterable

from troposphere import GetAtt, Join, Ref, Sub, Tags, dynamodb, rds, secretsmanager

from compiler.context import Context, Transform
from compiler.naming import (DATA, NETWORK, db_identifier, db_secret_name, logical_id, rotation_function_name, rotation_log_group,
                             table_name)
from compiler.spec import Postgres, Spec, Table

from .exceptions import database_port
from .parts import alarms_on, database_alarms, monitoring, placement
from .secure import kms_key, log_group, retain

# The 2024 transform upgrades the rotation function's runtime and its bundled driver on each stack update (the 2020 one
# pins Python 3.10, and a PostgreSQL rotation on a newer runtime without matching binaries fails: aws-cdk #23331).
ROTATION_TRANSFORM = "AWS::SecretsManager-2024-09-16"


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    if not ctx.primary:
        yield from _dr_keys(spec, ctx)
        return
    if spec.database is not None:
        yield Transform(ROTATION_TRANSFORM)  # the hosted rotation of the secret: a SAM-style transform on the stack
        yield from _postgres(spec.database, ctx)
    if spec.tables:
        yield from _tables(spec.tables, ctx)


def _dr_keys(spec: Spec, ctx: Context) -> Iterable[Any]:
    """The DR region's keys, deployed before the primary's data stack, whose copies they encrypt: the replica of the
    database secret, the replicated backups or the read replica, and the tables' replicas."""
    if spec.database_copy is not None:
        key = _database_key(ctx, f"{ctx.prefix} database copies in the DR region: secret replica, backups, standby instance")
        yield key
        yield ctx.output("DatabaseKeyArn", GetAtt(key, "Arn"), "KMS key of the database's copies in this region")
    if spec.replicated("tables"):
        key = kms_key("DataTablesKey", f"{ctx.prefix} DynamoDB table replicas")
        yield key
        yield ctx.output("TablesKeyArn", GetAtt(key, "Arn"), "KMS key of the table replicas in this region")


def _database_key(ctx: Context, description: str) -> Any:
    """The database's key in its region; CloudWatch Logs may use it for the instance's log groups."""
    return kms_key("DataDatabaseKey", description, log_groups=(f"/aws/rds/instance/{db_identifier(ctx.prefix)}/*",
                                                                rotation_log_group(ctx.prefix)))


def _postgres(db: Postgres, ctx: Context) -> Iterable[Any]:
    identifier = db_identifier(ctx.prefix)
    key = _database_key(ctx, f"{ctx.prefix} database, its secret, snapshots and logs")
    place = placement(db, ctx, "DataDatabase", key)
    exports, ingress, egress, subnets, params = place.log_groups, place.ingress, place.egress, place.subnets, place.params
    app_sg, data_sg = place.app_sg, place.data_sg
    watch, watched = monitoring(db, ctx, "DataDatabase", key)
    dr = ctx.spec.regions.dr if ctx.spec.database_copy else None
    dr_key = ctx.ref(DATA, "DatabaseKeyArn", dr) if dr else None
    secret = retain(secretsmanager.Secret(
        "DataDatabaseSecret", Name=db_secret_name(ctx.prefix),
        Description=f"{ctx.prefix} database master credentials (rotated every {db.rotation_days} days)",
        KmsKeyId=Ref(key),
        GenerateSecretString=secretsmanager.GenerateSecretString(
            SecretStringTemplate=json.dumps({"username": db.master_username}), GenerateStringKey="password",
            PasswordLength=32, ExcludeCharacters="\"@/\\'`")))
    if dr:
        # The DR region's compute reads the replica by the same name, decrypted with the DR region's key.
        secret.ReplicaRegions = [secretsmanager.ReplicaRegion(Region=dr, KmsKeyId=dr_key)]
    instance = retain(rds.DBInstance(
        "DataDatabaseInstance",
        # A fixed identifier names the log groups; it also means CloudFormation refuses (rather than performs)
        # any update that would replace the database.
        DBInstanceIdentifier=identifier, Engine="postgres", EngineVersion=db.version, DBInstanceClass=db.instance_class,
        AllocatedStorage=str(db.storage_gb), MaxAllocatedStorage=db.max_storage_gb, StorageType="gp3",
        StorageEncrypted=True, KmsKeyId=Ref(key), MultiAZ=db.multi_az, PubliclyAccessible=False,
        EnableIAMDatabaseAuthentication=True, DeletionProtection=db.deletion_protection,
        DBSubnetGroupName=Ref(subnets), VPCSecurityGroups=[data_sg], DBParameterGroupName=Ref(params),
        DBName=db.database_name, Port=str(db.port), MasterUsername=db.master_username,
        MasterUserPassword=Sub("{{resolve:secretsmanager:${DataDatabaseSecret}:SecretString:password}}"),
        BackupRetentionPeriod=db.backup_retention_days, PreferredBackupWindow=db.backup_window,
        PreferredMaintenanceWindow=db.maintenance_window, CopyTagsToSnapshot=True, AutoMinorVersionUpgrade=True,
        EnableCloudwatchLogsExports=sorted(exports), DependsOn=[g.title for g in exports.values()], **watched), "Snapshot")
    database_port(instance, db.port)
    if ctx.spec.database_copy == "backups":
        # Snapshots and transaction logs copied to the DR region: restorable there to a point in time.
        instance.AutomaticBackupReplicationRegion = dr
        instance.AutomaticBackupReplicationKmsKeyId = dr_key
        instance.AutomaticBackupReplicationRetentionPeriod = ctx.spec.dr.backup_retention_days
    attachment = secretsmanager.SecretTargetAttachment("DataDatabaseSecretAttachment", SecretId=Ref(secret),
                                                       TargetId=Ref(instance), TargetType="AWS::RDS::DBInstance")
    # Created here, encrypted and kept for the database's log retention, before Lambda would create it unencrypted and forever.
    rotation_logs = log_group("DataDatabaseRotationLogGroup", rotation_log_group(ctx.prefix), db.log_retention_days, key)
    rotation = secretsmanager.RotationSchedule(
        "DataDatabaseSecretRotation", SecretId=Ref(attachment),
        RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=db.rotation_days),
        HostedRotationLambda=secretsmanager.HostedRotationLambda(
            RotationType="PostgreSQLSingleUser", RotationLambdaName=rotation_function_name(ctx.prefix),
            KmsKeyArn=GetAtt(key, "Arn"),
            # The rotation function runs in the app subnets with the app security group: it reaches the
            # database on its port and Secrets Manager through the endpoint or NAT.
            VpcSubnetIds=Join(",", ctx.value(NETWORK, "AppSubnetIds", as_list=True)), VpcSecurityGroupIds=app_sg),
        DependsOn=[ingress.title, egress.title, rotation_logs.title])
    yield from (key, *exports.values(), ingress, egress, subnets, params, *watch, secret, instance, attachment, rotation_logs, rotation)

    if alarms_on(ctx):
        yield from database_alarms(ctx, "DataDatabase", Ref(instance))

    yield ctx.output("DatabaseEndpoint", GetAtt(instance, "Endpoint.Address"), "PostgreSQL endpoint address")
    yield ctx.output("DatabasePort", GetAtt(instance, "Endpoint.Port"), "PostgreSQL port")
    yield ctx.output("DatabaseSecretArn", Ref(secret), "Secrets Manager secret with the rotated credentials")
    yield ctx.output("DatabaseKeyArn", GetAtt(key, "Arn"), "KMS key of the database and its secret")
    yield ctx.output("DatabaseResourceId", GetAtt(instance, "DbiResourceId"), "resource id for IAM database authentication")
    if ctx.spec.database_copy == "replica":
        yield ctx.output("DatabaseArn", GetAtt(instance, "DBInstanceArn"), "the instance the DR region's read replica follows")


def _tables(tables: dict[str, Table], ctx: Context) -> Iterable[Any]:
    key = kms_key("DataTablesKey", f"{ctx.prefix} DynamoDB tables")
    yield key
    for name, spec in tables.items():
        yield from _table(name, spec, ctx, key)
    yield ctx.output("TablesKeyArn", GetAtt(key, "Arn"), "KMS key of the tables")


def _table(name: str, spec: Table, ctx: Context, key: Any) -> Iterable[Any]:
    """On demand, named (CloudFormation refuses to replace it, rather than replacing it), encrypted, recoverable. A
    replicated table is a global table with a replica in the DR region, under the same logical ID: turning an existing
    table into one is a replacement that `archc plan` blocks (README: the safe path)."""
    keys = [spec.partition_key] + ([spec.sort_key] if spec.sort_key else [])
    attributes = {k.name: k.type for k in keys}
    indexes = []
    for iname, ix in spec.indexes.items():
        ikeys = [ix.partition_key] + ([ix.sort_key] if ix.sort_key else [])
        attributes.update({k.name: k.type for k in ikeys})
        if isinstance(ix.projection, list):
            projection = dynamodb.Projection(ProjectionType="INCLUDE", NonKeyAttributes=ix.projection)
        else:
            projection = dynamodb.Projection(ProjectionType=ix.projection.upper())
        indexes.append(dict(IndexName=iname, Projection=projection,
                            KeySchema=[dynamodb.KeySchema(AttributeName=k.name, KeyType=t) for k, t in zip(ikeys, ("HASH", "RANGE"))]))
    common: dict[str, Any] = dict(
        TableName=table_name(ctx.prefix, name), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[dynamodb.AttributeDefinition(AttributeName=n, AttributeType=t) for n, t in sorted(attributes.items())],
        KeySchema=[dynamodb.KeySchema(AttributeName=k.name, KeyType=t) for k, t in zip(keys, ("HASH", "RANGE"))])
    if spec.ttl_attribute:
        common["TimeToLiveSpecification"] = dynamodb.TimeToLiveSpecification(AttributeName=spec.ttl_attribute, Enabled=True)
    lid = logical_id("Data", name, "Table")
    pitr = dynamodb.PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=spec.point_in_time_recovery)
    if name in ctx.spec.replicated("tables"):
        dr = ctx.spec.regions.dr

        def replica(region: str, key_arn: Any) -> dynamodb.ReplicaSpecification:
            return dynamodb.ReplicaSpecification(Region=region, PointInTimeRecoverySpecification=pitr,
                                                 DeletionProtectionEnabled=spec.deletion_protection,
                                                 SSESpecification=dynamodb.ReplicaSSESpecification(KMSMasterKeyId=key_arn),
                                                 Tags=Tags(Table=name))

        # Each replica is encrypted with its own region's key; a global table streams new and old images to replicate.
        table = retain(dynamodb.GlobalTable(
            lid, **common, SSESpecification=dynamodb.GlobalTableSSESpecification(SSEEnabled=True, SSEType="KMS"),
            StreamSpecification=dynamodb.StreamSpecification(StreamViewType="NEW_AND_OLD_IMAGES"),
            Replicas=[replica(ctx.region, GetAtt(key, "Arn")), replica(dr, ctx.ref(DATA, "TablesKeyArn", dr))]))
        if indexes:
            table.GlobalSecondaryIndexes = [dynamodb.GlobalTableGlobalSecondaryIndex(**ix) for ix in indexes]
    else:
        table = retain(dynamodb.Table(
            lid, **common, PointInTimeRecoverySpecification=pitr, DeletionProtectionEnabled=spec.deletion_protection,
            SSESpecification=dynamodb.SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=GetAtt(key, "Arn")),
            Tags=Tags(Table=name)))
        if indexes:
            table.GlobalSecondaryIndexes = [dynamodb.GlobalSecondaryIndex(**ix) for ix in indexes]
        if spec.stream:
            table.StreamSpecification = dynamodb.StreamSpecification(StreamViewType=spec.stream)
    yield table
    yield ctx.output(logical_id(name, "TableArn"), GetAtt(table, "Arn"), f"DynamoDB table {name} ARN")
    if spec.stream:
        yield ctx.output(logical_id(name, "TableStreamArn"), GetAtt(table, "StreamArn"), f"DynamoDB table {name} stream ARN")
