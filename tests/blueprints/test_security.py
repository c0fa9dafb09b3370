"""Secure by default, proven (issue 11): every log group archc causes to exist is created by archc with a key and a
retention, and the rotation function follows AWS's runtime upgrades."""

from __future__ import annotations

import pytest

from ..conftest import props, resources

PRIMARY = "ap-northeast-1"


def _t(templates, stack, env="prod", region=PRIMARY):
    return templates[(env, region, f"fillup-{env}-{stack}")]


def test_rest_execution_logs_go_to_a_group_archc_created_first(templates):
    t = _t(templates, "api")
    group = props(t, "ApiRestExecutionLogGroup")
    assert group["LogGroupName"] == {"Fn::Sub": "API-Gateway-Execution-Logs_${ApiRestApi}/prod"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["ApiLogsKey", "Arn"]} and group["RetentionInDays"] == 14
    assert "ApiRestExecutionLogGroup" in t["Resources"]["ApiRestStage"]["DependsOn"]  # before API Gateway would create it
    [logs] = [s for s in props(t, "ApiLogsKey")["KeyPolicy"]["Statement"] if s["Sid"] == "CloudWatchLogsEncrypt"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:API-Gateway-Execution-Logs_${ApiRestApi}/prod"} \
        in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]


def test_websocket_execution_logging_is_off_and_the_access_log_is_archcs(templates):
    t = _t(templates, "api")
    settings = props(t, "ApiWsStage")["DefaultRouteSettings"]
    assert settings["LoggingLevel"] == "OFF"  # AWS names no group archc could create for it
    assert props(t, "ApiWsStage")["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiWsAccessLogGroup", "Arn"]}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_rotation_function_logs_to_an_encrypted_group_and_follows_aws_runtime_upgrades(templates, env):
    t = _t(templates, "data", env)
    assert t["Transform"] == "AWS::SecretsManager-2024-09-16"
    rotation = t["Resources"]["DataDatabaseSecretRotation"]
    hosted = rotation["Properties"]["HostedRotationLambda"]
    assert "Runtime" not in hosted  # the 2024 transform upgrades the runtime with its bundled driver
    group = props(t, "DataDatabaseRotationLogGroup")
    assert group["LogGroupName"] == f"/aws/lambda/{hosted['RotationLambdaName']}"
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataDatabaseKey", "Arn"]} and group["RetentionInDays"] == 30
    assert "DataDatabaseRotationLogGroup" in rotation["DependsOn"]


def test_every_log_group_in_every_template_has_a_key_and_a_retention(templates):
    for key, t in templates.items():
        for lid, group in resources(t, "AWS::Logs::LogGroup").items():
            p = group["Properties"]
            assert "KmsKeyId" in p and "RetentionInDays" in p, (key, lid)
