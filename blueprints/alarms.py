"""The alarms stack (an encrypted SNS topic per region with its email subscribers) and the alarm helper every tier uses."""

from __future__ import annotations

import hashlib
import json
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
    if section.dashboard and ctx.primary:
        yield cloudwatch.Dashboard("AlarmsDashboard", DashboardName=ctx.prefix, DashboardBody=dashboard_body(ctx))
    yield ctx.output(TOPIC_OUTPUT, Ref(t), "SNS topic every alarm of this environment and region notifies")
    yield ctx.output("TopicKeyArn", GetAtt(key, "Arn"), "KMS key of the alarm topic")


def dashboard_body(ctx: Context) -> str:
    """Widgets for what archc named itself (functions, the REST API, the database), so no other stack is read."""
    spec, region = ctx.spec, ctx.region
    widgets = []

    def widget(title: str, metrics: list, stat: str = "Sum") -> None:
        n = len(widgets)
        widgets.append({"type": "metric", "x": (n % 2) * 12, "y": (n // 2) * 6, "width": 12, "height": 6,
                        "properties": {"title": title, "region": region, "stat": stat, "period": 300, "view": "timeSeries",
                                       "metrics": metrics}})

    names = [f"{ctx.prefix}-{name}" for name in sorted(spec.functions)]
    if names:
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", n] for n in names])
        widget("Lambda invocations", [["AWS/Lambda", "Invocations", "FunctionName", n] for n in names])
        widget("Lambda throttles", [["AWS/Lambda", "Throttles", "FunctionName", n] for n in names])
        widget("Lambda duration p99 (ms)", [["AWS/Lambda", "Duration", "FunctionName", n] for n in names], stat="p99")
    if spec.api and spec.api.rest:
        api = f"{ctx.prefix}-rest"
        widget("REST API requests and errors", [["AWS/ApiGateway", m, "ApiName", api] for m in ("Count", "4XXError", "5XXError")])
        widget("REST API latency p99 (ms)", [["AWS/ApiGateway", "Latency", "ApiName", api]], stat="p99")
    if spec.database is not None and spec.database.engine == "postgres":
        db = f"{ctx.prefix}-db"
        widget("Database CPU %", [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", db]], stat="Average")
        widget("Database connections", [["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", db]], stat="Maximum")
        widget("Database free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", db]], stat="Minimum")
    return json.dumps({"widgets": widgets}, sort_keys=True, separators=(",", ":"))


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
