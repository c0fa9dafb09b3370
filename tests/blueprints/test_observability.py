"""The rest of FillUp (seeds/001): enhanced monitoring and Performance Insights in prod, X-Ray sampling of the REST API,
a monthly budget with 80/90/100 % alerts, a 5xx error page on CloudFront, and log-bucket lifecycle transitions."""

from __future__ import annotations

import json

import pytest

from ..conftest import props, resources

PRIMARY, DR = "ap-northeast-1", "us-west-2"


def _t(templates, env, stack, region=PRIMARY):
    return templates[(env, region, f"fillup-{env}-{stack}")]


def test_prod_database_has_enhanced_monitoring_and_insights_under_its_own_key(templates):
    data = _t(templates, "prod", "data")
    p = props(data, "DataDatabaseInstance")
    assert p["MonitoringInterval"] == 60
    assert p["MonitoringRoleArn"] == {"Fn::GetAtt": ["DataDatabaseMonitoringRole", "Arn"]}
    assert p["EnablePerformanceInsights"] is True and p["PerformanceInsightsRetentionPeriod"] == 7
    assert p["PerformanceInsightsKMSKeyId"] == {"Fn::GetAtt": ["DataDatabaseKey", "Arn"]}
    role = props(data, "DataDatabaseMonitoringRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert "ManagedPolicyArns" not in role  # AWS's managed policy, narrowed to the one log group RDS writes
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    arns = [r["Fn::Sub"] for s in statements for r in s["Resource"]]
    assert arns and all(":log-group:RDSOSMetrics" in a and "${AWS::AccountId}" in a for a in arns)


def test_the_standby_is_watched_like_the_primary(templates):
    p = props(_t(templates, "prod", "standby", DR), "StandbyDatabaseInstance")
    assert p["MonitoringInterval"] == 60 and p["EnablePerformanceInsights"] is True
    assert p["PerformanceInsightsKMSKeyId"] == {"Fn::ImportValue": "fillup-prod-data-DatabaseKeyArn"}


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_no_enhanced_monitoring_outside_prod(templates, env):
    data = _t(templates, env, "data")
    p = props(data, "DataDatabaseInstance")
    assert not {"MonitoringInterval", "MonitoringRoleArn", "EnablePerformanceInsights"} & set(p)
    assert not resources(data, "AWS::IAM::Role")


@pytest.mark.parametrize("env, region, rate", [("prod", PRIMARY, 0.1), ("prod", DR, 0.1), ("dev", PRIMARY, 1.0)])
def test_the_rest_api_is_sampled_at_the_specs_rate(templates, env, region, rate):
    [rule] = resources(_t(templates, env, "api", region), "AWS::XRay::SamplingRule").values()
    r = rule["Properties"]["SamplingRule"]
    assert r["FixedRate"] == rate and r["ReservoirSize"] == 1 and r["Version"] == 1
    assert r["ServiceName"] == f"fillup-{env}-rest/{env}" and r["ServiceType"] == "AWS::ApiGateway::Stage"
    assert len(r["RuleName"]) <= 32


@pytest.mark.parametrize("env, amount", [("prod", 500), ("dev", 100)])
def test_one_monthly_budget_alerts_the_alarm_topic_at_80_90_100(templates, env, amount):
    alarms = _t(templates, env, "alarms")
    [budget] = resources(alarms, "AWS::Budgets::Budget").values()
    b = budget["Properties"]
    assert b["Budget"]["BudgetLimit"] == {"Amount": amount, "Unit": "USD"} and b["Budget"]["TimeUnit"] == "MONTHLY"
    assert [n["Notification"]["Threshold"] for n in b["NotificationsWithSubscribers"]] == [80, 90, 100]
    assert all(n["Subscribers"] == [{"Address": {"Ref": "AlarmsTopic"}, "SubscriptionType": "SNS"}]
               for n in b["NotificationsWithSubscribers"])
    # Budgets publishes to the encrypted topic only when both the topic policy and the key let it.
    assert budget["DependsOn"] == ["AlarmsTopicPolicy"]
    text = json.dumps(props(alarms, "AlarmsTopicPolicy")) + json.dumps(props(alarms, "AlarmsTopicKey"))
    assert text.count("budgets.amazonaws.com") == 2


def test_the_budget_is_kept_once_per_account_in_the_primary_region(templates):
    assert not resources(_t(templates, "prod", "alarms", DR), "AWS::Budgets::Budget")
    assert "budgets.amazonaws.com" not in json.dumps(_t(templates, "prod", "alarms", DR))


def test_server_errors_get_the_error_page_with_their_own_status(templates):
    [dist] = resources(templates[("prod", "us-east-1", "fillup-prod-edge")], "AWS::CloudFront::Distribution").values()
    errors = {e["ErrorCode"]: e for e in dist["Properties"]["DistributionConfig"]["CustomErrorResponses"]}
    assert sorted(errors) == [500, 502, 503, 504]  # the single-page app routes by function: 403/404 stay themselves
    for code in (500, 502, 503, 504):
        assert errors[code] == {"ErrorCode": code, "ResponseCode": code, "ResponsePagePath": "/errors/5xx.html", "ErrorCachingMinTTL": 10}


@pytest.mark.parametrize("region", [PRIMARY, DR])
def test_access_logs_move_to_cheaper_storage_before_they_expire(templates, region):
    [rule] = [r for r in props(_t(templates, "prod", "storage", region), "StorageLogsBucket")["LifecycleConfiguration"]["Rules"]
              if r["Id"] == "expire-logs"]
    assert rule["ExpirationInDays"] == 365
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
                                   {"StorageClass": "GLACIER", "TransitionInDays": 90}]
