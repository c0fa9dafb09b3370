"""Alarm stack: an encrypted topic per region, email subscriptions keyed by address, publish over TLS only."""

import pytest

from ..conftest import props, resources


def test_topic_is_encrypted_and_subscribed(templates):
    for region in ("ap-northeast-1", "us-west-2"):
        t = templates[("prod", region, "fillup-prod-alarms")]
        assert props(t, "AlarmsTopic")["KmsMasterKeyId"] == {"Ref": "AlarmsTopicKey"}
        [sub] = resources(t, "AWS::SNS::Subscription").values()
        assert sub["Properties"]["Protocol"] == "email" and sub["Properties"]["Endpoint"] == "devops@example.com"
        assert t["Outputs"]["TopicArn"]["Export"] == {"Name": "fillup-prod-alarms-TopicArn"}


@pytest.mark.parametrize("region, publishers", [("ap-northeast-1", ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]),
                                                ("us-west-2", ["cloudwatch.amazonaws.com"])])
def test_topic_policy_lets_cloudwatch_publish_and_denies_plain_http(templates, region, publishers):
    t = templates[("prod", region, "fillup-prod-alarms")]
    statements = props(t, "AlarmsTopicPolicy")["PolicyDocument"]["Statement"]
    allow = next(s for s in statements if s["Effect"] == "Allow")
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert allow["Principal"] == {"Service": publishers}  # the budget's alerts too, in the primary region
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key_policy = props(t, "AlarmsTopicKey")["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": publishers} for s in key_policy)


def test_every_taggable_resource_and_stack_carries_the_tags(templates, compiled):
    for (env, region, stack), t in templates.items():
        for lid, r in t["Resources"].items():
            tags = r.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            as_dict = tags if isinstance(tags, dict) else {x["Key"]: x["Value"] for x in tags}
            assert as_dict["Environment"] == env and as_dict["Application"] == "fillup", (stack, lid)
            assert as_dict["CostCenter"] == "engineering" and as_dict["Owner"] == "devops-team", (stack, lid)
            assert as_dict["Component"] == stack.rsplit("-", 1)[1], (stack, lid)
    for env, man in compiled["manifests"].items():
        for tpl in man["templates"]:
            assert tpl["tags"]["Environment"] == env and tpl["tags"]["Component"] == tpl["concern"]


def test_dashboard_in_the_primary_region_shows_what_archc_named(templates):
    import json

    t = templates[("prod", "ap-northeast-1", "fillup-prod-alarms")]
    body = json.loads(props(t, "AlarmsDashboard")["DashboardBody"])
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    assert ["AWS/Lambda", "Errors", "FunctionName", "fillup-prod-api"] in metrics
    assert ["AWS/ApiGateway", "5XXError", "ApiName", "fillup-prod-rest"] in metrics
    assert ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "fillup-prod-db"] in metrics
    assert "AlarmsDashboard" not in templates[("prod", "us-west-2", "fillup-prod-alarms")]["Resources"]
