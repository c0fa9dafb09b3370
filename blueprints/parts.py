"""Helpers every blueprint may use (blueprints never import each other): alarms, the code-asset parameter."""

from __future__ import annotations

from typing import Any

from troposphere import Parameter, Sub, cloudwatch

from compiler.context import Context
from compiler.naming import ALARMS, alarm_name

ARTIFACT_BUCKET = "ArtifactBucket"
TOPIC_OUTPUT = "TopicArn"


def bucket_arn(name: str, keys: str | None = None) -> Sub:
    """A bucket's ARN from its name (S3 ARNs hold no region or account), or of its `keys` (e.g. `*`, `processed/*`)."""
    return Sub(f"arn:${{AWS::Partition}}:s3:::{name}" + ("" if keys is None else f"/{keys}"))


def artifact_bucket() -> Parameter:
    return Parameter(ARTIFACT_BUCKET, Type="String", AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                     Description="S3 bucket holding the Lambda code assets (filled in by archc plan)")


def alarms_on(ctx: Context) -> bool:
    """Alarms are built only when the spec declares `alarms:` (they notify its topic)."""
    return ctx.spec.alarms is not None


def alarm(ctx: Context, logical_id: str, name: str, description: str, *, threshold: float, comparison: str,
          evaluation_periods: int, datapoints: int | None = None, period: int = 60, missing: str = "notBreaching",
          namespace: str | None = None, metric: str | None = None, dimensions: dict[str, Any] | None = None,
          statistic: str | None = None, metrics: list[cloudwatch.MetricDataQuery] | None = None) -> cloudwatch.Alarm:
    """One alarm notifying this region's alarm topic on ALARM and OK; a metric or a metric-math expression."""
    topic_arn = ctx.ref(ALARMS, TOPIC_OUTPUT)
    props: dict[str, Any] = dict(
        AlarmName=alarm_name(ctx.prefix, name), AlarmDescription=description, Threshold=threshold,
        ComparisonOperator=comparison, EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=datapoints or evaluation_periods, TreatMissingData=missing,
        AlarmActions=[topic_arn], OKActions=[topic_arn])
    if metrics is not None:
        props["Metrics"] = metrics
    else:
        props.update(Namespace=namespace, MetricName=metric, Statistic=statistic, Period=period,
                     Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in sorted((dimensions or {}).items())])
    return cloudwatch.Alarm(logical_id, **props)
