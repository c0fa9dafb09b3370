"""Data stack: encrypted private PostgreSQL with rotated credentials and alarms; DynamoDB retained and recoverable."""

import json

import pytest

from ..conftest import build_app, make_spec, props, resources


def data(templates, env):
    return templates[(env, "ap-northeast-1", f"fillup-{env}-data")]


def db(templates, env):
    return data(templates, env)["Resources"]["DataDatabaseInstance"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_database_is_encrypted_private_and_snapshotted(templates, env):
    r = db(templates, env)
    p = r["Properties"]
    assert p["StorageEncrypted"] is True and p["KmsKeyId"] == {"Ref": "DataDatabaseKey"}
    assert p["PubliclyAccessible"] is False
    assert p["EnableIAMDatabaseAuthentication"] is True
    assert p["StorageType"] == "gp3" and p["AllocatedStorage"] == "20" and p["MaxAllocatedStorage"] == 100
    assert r["DeletionPolicy"] == r["UpdateReplacePolicy"] == "Snapshot"
    assert "MasterUserPassword" in p and "{{resolve:secretsmanager:" in p["MasterUserPassword"]["Fn::Sub"]


def test_prod_is_multi_az_with_deletion_protection(templates):
    p = db(templates, "prod")["Properties"]
    assert p["MultiAZ"] is True and p["DeletionProtection"] is True
    assert p["DBInstanceClass"] == "db.t4g.medium" and p["BackupRetentionPeriod"] == 7


def test_dev_is_single_az_small_and_unprotected(templates):
    p = db(templates, "dev")["Properties"]
    assert p["MultiAZ"] is False and p["DeletionProtection"] is False
    assert p["DBInstanceClass"] == "db.t4g.micro" and p["BackupRetentionPeriod"] == 3


def test_windows_and_tls(templates):
    t = data(templates, "prod")
    p = db(templates, "prod")["Properties"]
    assert p["PreferredBackupWindow"] == "03:00-04:00" and p["PreferredMaintenanceWindow"] == "sun:04:00-sun:05:00"
    assert props(t, "DataDatabaseParameterGroup")["Parameters"]["rds.force_ssl"] == "1"


def test_database_lives_on_the_data_subnets(templates):
    t = data(templates, "prod")
    # A parameter archc fills from the network stack's output: an import would lock the list (it grows with the AZs).
    assert props(t, "DataDatabaseSubnetGroup")["SubnetIds"] == {"Ref": "DataSubnetIds"}
    assert t["Parameters"]["DataSubnetIds"]["Type"] == "CommaDelimitedList"


def test_credentials_rotate_every_30_days_with_the_hosted_rotation(templates):
    t = data(templates, "prod")
    assert t["Transform"] == "AWS::SecretsManager-2024-09-16"  # the rotation function's runtime follows AWS's upgrades
    rotation = props(t, "DataDatabaseSecretRotation")
    assert rotation["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert rotation["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"
    secret = t["Resources"]["DataDatabaseSecret"]
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataDatabaseKey"}
    assert secret["DeletionPolicy"] == "Retain"
    assert json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"]) == {"username": "app_admin"}


def test_database_alarms_notify_the_region_topic(templates):
    t = data(templates, "prod")
    alarms = {r["Properties"]["MetricName"]: r["Properties"] for r in resources(t, "AWS::CloudWatch::Alarm").values()}
    assert alarms["CPUUtilization"]["Threshold"] == 80 and alarms["CPUUtilization"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms["FreeStorageSpace"]["Threshold"] == 2 * 1024 ** 3 and alarms["FreeStorageSpace"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms["DatabaseConnections"]["Threshold"] == 80
    for a in alarms.values():
        assert a["AlarmActions"] == [{"Fn::ImportValue": "fillup-prod-alarms-TopicArn"}]
        assert a["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": {"Ref": "DataDatabaseInstance"}}]


def test_keys_rotate_and_are_retained(templates):
    for (env, region, stack), t in templates.items():
        for lid, key in resources(t, "AWS::KMS::Key").items():
            assert key["Properties"]["EnableKeyRotation"] is True, (stack, lid)
            assert key["DeletionPolicy"] == "Retain", (stack, lid)


DYNAMO = """\
app: shop
regions: {primary: eu-west-1}
environments: {dev: {}}
tables:
  orders: {partition_key: {name: customer}, sort_key: {name: created, type: N}, ttl_attribute: expires,
           indexes: {by-status: {partition_key: {name: status}, projection: [total]}}}
"""


def test_dynamodb_tables_are_on_demand_recoverable_encrypted_and_retained():
    app, _ = build_app(make_spec(DYNAMO), "dev")
    t = app.stacks["eu-west-1/shop-dev-data"].template.to_dict()
    table = t["Resources"]["DataOrdersTable"]
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["DeletionProtectionEnabled"] is True
    assert p["SSESpecification"]["SSEType"] == "KMS"
    assert p["KeySchema"] == [{"AttributeName": "customer", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert p["TableName"] == "shop-dev-orders" and p["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": ["DataTablesKey", "Arn"]}
    [index] = p["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-status" and index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
    assert {a["AttributeName"] for a in p["AttributeDefinitions"]} == {"customer", "created", "status"}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert "Transform" not in t


def test_database_log_exports_go_to_encrypted_groups_with_retention(templates):
    t = data(templates, "prod")
    p = db(templates, "prod")["Properties"]
    assert p["DBInstanceIdentifier"] == "fillup-prod-db"
    assert p["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    for kind in ("Postgresql", "Upgrade"):
        group = t["Resources"][f"DataDatabase{kind}LogGroup"]
        assert group["Properties"]["LogGroupName"] == f"/aws/rds/instance/fillup-prod-db/{kind.lower()}"
        assert group["Properties"]["RetentionInDays"] == 30 and "KmsKeyId" in group["Properties"]
        assert f"DataDatabase{kind}LogGroup" in db(templates, "prod")["DependsOn"]
