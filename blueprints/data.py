"""The data stack: RDS PostgreSQL with rotated credentials and the DynamoDB tables; encrypted, retained, alarmed."""

from __future__ import annotations

import json
from typing import Any, Iterable

from troposphere import GetAtt, Ref, Split, Sub, Tags, dynamodb, ec2, rds, secretsmanager

from compiler.context import Context, Transform
from compiler.naming import NETWORK, db_identifier, logical_id, table_name
from compiler.spec import Postgres, Spec, Table

from .parts import alarm, alarms_on
from .secure import kms_key, log_group, retain

ROTATION_TRANSFORM = "AWS::SecretsManager-2020-07-23"
GIB = 1024 ** 3


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    if spec.database is not None:
        yield Transform(ROTATION_TRANSFORM)  # the hosted rotation of the secret: a SAM-style transform on the stack
        yield from _postgres(spec.database, ctx)
    if spec.tables:
        yield from _tables(spec.tables, ctx)


def _postgres(db: Postgres, ctx: Context) -> Iterable[Any]:
    identifier = db_identifier(ctx.prefix)
    key = kms_key("DataDatabaseKey", f"{ctx.prefix} database, its secret, snapshots and logs",
                  log_groups=(f"/aws/rds/instance/{identifier}/*",))
    # RDS would create its export log groups itself, unencrypted and kept forever: create them first.
    exports = {kind: log_group(f"DataDatabase{kind.capitalize()}LogGroup", f"/aws/rds/instance/{identifier}/{kind}",
                               db.log_retention_days, key) for kind in ("postgresql", "upgrade")}
    app_sg = ctx.ref(NETWORK, "AppSecurityGroupId")
    data_sg = ctx.ref(NETWORK, "DataSecurityGroupId")
    # Only the application tier reaches the database, and only on its port (rules live here, beside the port).
    ingress = ec2.SecurityGroupIngress("DataDatabaseIngressFromApp", GroupId=data_sg, SourceSecurityGroupId=app_sg,
                                       IpProtocol="tcp", FromPort=db.port, ToPort=db.port,
                                       Description="PostgreSQL from the application tier")
    egress = ec2.SecurityGroupEgress("DataDatabaseEgressFromApp", GroupId=app_sg, DestinationSecurityGroupId=data_sg,
                                     IpProtocol="tcp", FromPort=db.port, ToPort=db.port,
                                     Description="PostgreSQL to the data tier")
    subnets = rds.DBSubnetGroup("DataDatabaseSubnetGroup", DBSubnetGroupDescription=f"{ctx.prefix} private data subnets",
                                SubnetIds=Split(",", ctx.ref(NETWORK, "DataSubnetIds")))
    major = db.version.split(".")[0]
    params = rds.DBParameterGroup("DataDatabaseParameterGroup", Family=f"postgres{major}",
                                  Description=f"{ctx.prefix} PostgreSQL {major}: TLS required, slow statements logged",
                                  Parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"})
    secret = retain(secretsmanager.Secret(
        "DataDatabaseSecret", Description=f"{ctx.prefix} database master credentials (rotated every {db.rotation_days} days)",
        KmsKeyId=Ref(key),
        GenerateSecretString=secretsmanager.GenerateSecretString(
            SecretStringTemplate=json.dumps({"username": db.master_username}), GenerateStringKey="password",
            PasswordLength=32, ExcludeCharacters="\"@/\\'`")))
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
        EnableCloudwatchLogsExports=sorted(exports), DependsOn=[g.title for g in exports.values()]), "Snapshot")
    attachment = secretsmanager.SecretTargetAttachment("DataDatabaseSecretAttachment", SecretId=Ref(secret),
                                                       TargetId=Ref(instance), TargetType="AWS::RDS::DBInstance")
    rotation = secretsmanager.RotationSchedule(
        "DataDatabaseSecretRotation", SecretId=Ref(attachment),
        RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=db.rotation_days),
        HostedRotationLambda=secretsmanager.HostedRotationLambda(
            RotationType="PostgreSQLSingleUser", RotationLambdaName=f"{ctx.prefix}-db-rotation",
            KmsKeyArn=GetAtt(key, "Arn"),
            # The rotation function runs in the app subnets with the app security group: it reaches the
            # database on its port and Secrets Manager through the endpoint or NAT.
            VpcSubnetIds=ctx.ref(NETWORK, "AppSubnetIds"), VpcSecurityGroupIds=app_sg),
        DependsOn=[ingress.title, egress.title])
    yield from (key, *exports.values(), ingress, egress, subnets, params, secret, instance, attachment, rotation)

    if alarms_on(ctx):
        yield from _database_alarms(ctx, Ref(instance))

    yield ctx.output("DatabaseEndpoint", GetAtt(instance, "Endpoint.Address"), "PostgreSQL endpoint address")
    yield ctx.output("DatabasePort", GetAtt(instance, "Endpoint.Port"), "PostgreSQL port")
    yield ctx.output("DatabaseSecretArn", Ref(secret), "Secrets Manager secret with the rotated credentials")
    yield ctx.output("DatabaseKeyArn", GetAtt(key, "Arn"), "KMS key of the database and its secret")
    yield ctx.output("DatabaseResourceId", GetAtt(instance, "DbiResourceId"), "resource id for IAM database authentication")


def _database_alarms(ctx: Context, instance: Any) -> Iterable[Any]:
    dim = {"DBInstanceIdentifier": instance}
    yield alarm(ctx, "DataDatabaseCpuAlarm", "db-cpu", "Database CPU above 80% for 15 minutes",
                namespace="AWS/RDS", metric="CPUUtilization", dimensions=dim, statistic="Average", period=300,
                threshold=80, comparison="GreaterThanThreshold", evaluation_periods=3, missing="missing")
    yield alarm(ctx, "DataDatabaseStorageAlarm", "db-free-storage", "Database free storage below 2 GiB",
                namespace="AWS/RDS", metric="FreeStorageSpace", dimensions=dim, statistic="Minimum", period=300,
                threshold=2 * GIB, comparison="LessThanThreshold", evaluation_periods=1, missing="missing")
    yield alarm(ctx, "DataDatabaseConnectionsAlarm", "db-connections", "More than 80 database connections for 10 minutes",
                namespace="AWS/RDS", metric="DatabaseConnections", dimensions=dim, statistic="Maximum", period=300,
                threshold=80, comparison="GreaterThanThreshold", evaluation_periods=2, missing="missing")


def _tables(tables: dict[str, Table], ctx: Context) -> Iterable[Any]:
    key = kms_key("DataTablesKey", f"{ctx.prefix} DynamoDB tables")
    yield key
    for name, spec in tables.items():
        yield from _table(name, spec, ctx, key)
    yield ctx.output("TablesKeyArn", GetAtt(key, "Arn"), "KMS key of the tables")


def _table(name: str, spec: Table, ctx: Context, key: Any) -> Iterable[Any]:
    """On demand, named (CloudFormation refuses to replace it, rather than replacing it), encrypted, recoverable."""
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
        indexes.append(dynamodb.GlobalSecondaryIndex(
            IndexName=iname, Projection=projection,
            KeySchema=[dynamodb.KeySchema(AttributeName=k.name, KeyType=t) for k, t in zip(ikeys, ("HASH", "RANGE"))]))
    table = retain(dynamodb.Table(
        logical_id("Data", name, "Table"), TableName=table_name(ctx.prefix, name), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[dynamodb.AttributeDefinition(AttributeName=n, AttributeType=t) for n, t in sorted(attributes.items())],
        KeySchema=[dynamodb.KeySchema(AttributeName=k.name, KeyType=t) for k, t in zip(keys, ("HASH", "RANGE"))],
        PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=spec.point_in_time_recovery),
        DeletionProtectionEnabled=spec.deletion_protection,
        SSESpecification=dynamodb.SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=GetAtt(key, "Arn")),
        Tags=Tags(Table=name)))
    if indexes:
        table.GlobalSecondaryIndexes = indexes
    if spec.ttl_attribute:
        table.TimeToLiveSpecification = dynamodb.TimeToLiveSpecification(AttributeName=spec.ttl_attribute, Enabled=True)
    if spec.stream:
        table.StreamSpecification = dynamodb.StreamSpecification(StreamViewType=spec.stream)
    yield table
    yield ctx.output(logical_id(name, "TableArn"), GetAtt(table, "Arn"), f"DynamoDB table {name} ARN")
    if spec.stream:
        yield ctx.output(logical_id(name, "TableStreamArn"), GetAtt(table, "StreamArn"), f"DynamoDB table {name} stream ARN")
