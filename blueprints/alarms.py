"""The alarms stack (an encrypted SNS topic per region with its email subscribers) and the alarm helper every tier uses."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

from troposphere import GetAtt, Ref, cloudwatch, sns

from compiler.app import Context
from compiler.spec import Alarms

from .secure import kms_key, topic, topic_policy

CONCERN = "alarms"
TOPIC_OUTPUT = "TopicArn"


def build(section: Alarms, ctx: Context) -> Iterable[Any]:
    key = kms_key("AlarmsTopicKey", f"{ctx.prefix} alarm topic encryption", services=("cloudwatch.amazonaws.com",))
    t = topic("AlarmsTopic", f"{ctx.prefix}-alarms", key)
    yield key
    yield t
    yield topic_policy("AlarmsTopicPolicy", Ref(t), publishers=("cloudwatch.amazonaws.com",))
    for address in section.email:
        # Keyed by the address, never by list position: reordering the list must not replace subscriptions.
        digest = hashlib.sha256(address.lower().encode()).hexdigest()[:10]
        yield sns.SubscriptionResource(f"AlarmsEmail{digest}Subscription", TopicArn=Ref(t), Protocol="email", Endpoint=address)
    yield ctx.output(TOPIC_OUTPUT, Ref(t), "SNS topic every alarm of this environment and region notifies")
    yield ctx.output("TopicKeyArn", GetAtt(key, "Arn"), "KMS key of the alarm topic")


def alarm(ctx: Context, logical_id: str, name: str, description: str, *, threshold: float, comparison: str,
          evaluation_periods: int, datapoints: int | None = None, period: int = 60, missing: str = "notBreaching",
          namespace: str | None = None, metric: str | None = None, dimensions: dict[str, Any] | None = None,
          statistic: str | None = None, unit: str | None = None,
          metrics: list[cloudwatch.MetricDataQuery] | None = None) -> cloudwatch.Alarm:
    """One alarm notifying this region's alarm topic on ALARM and OK; a metric or a metric-math expression."""
    topic_arn = ctx.ref(CONCERN, TOPIC_OUTPUT)
    props: dict[str, Any] = dict(
        AlarmName=f"{ctx.prefix}-{name}", AlarmDescription=description, Threshold=threshold,
        ComparisonOperator=comparison, EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=datapoints or evaluation_periods, TreatMissingData=missing,
        AlarmActions=[topic_arn], OKActions=[topic_arn])
    if metrics is not None:
        props["Metrics"] = metrics
    else:
        props.update(Namespace=namespace, MetricName=metric, Statistic=statistic, Period=period,
                     Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in sorted((dimensions or {}).items())])
        if unit:
            props["Unit"] = unit
    return cloudwatch.Alarm(logical_id, **props)
