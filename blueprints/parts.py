"""Helpers every blueprint may use (blueprints never import each other): alarms, the code-asset parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs import logs as alogs
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Parameter, Sub, cloudwatch, ec2, rds, wafv2

from compiler.context import Context
from compiler.naming import ALARMS, NETWORK, alarm_name, db_identifier

from .secure import key_arn, log_group, service_role

ARTIFACT_BUCKET = "ArtifactBucket"
TOPIC_OUTPUT = "TopicArn"


def bucket_arn(name: str, keys: str | None = None) -> Sub:
    """A bucket's ARN from its name (S3 ARNs hold no region or account), or of its `keys` (e.g. `*`, `processed/*`)."""
    return Sub(f"arn:${{AWS::Partition}}:s3:::{name}" + ("" if keys is None else f"/{keys}"))


def artifact_bucket() -> Parameter:
    return Parameter(ARTIFACT_BUCKET, Type="String", AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                     Description="S3 bucket holding the Lambda code assets (filled in by archc plan)")


def waf_visibility(metric: str) -> wafv2.VisibilityConfig:
    return wafv2.VisibilityConfig(CloudWatchMetricsEnabled=True, MetricName=metric, SampledRequestsEnabled=True)


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


GIB = 1024 ** 3


@dataclass(frozen=True)
class Placement:
    """Where a PostgreSQL instance lives in its region's VPC, and its log groups."""

    log_groups: dict[str, Any]
    ingress: ec2.SecurityGroupIngress
    egress: ec2.SecurityGroupEgress
    subnets: rds.DBSubnetGroup
    params: rds.DBParameterGroup
    app_sg: Any
    data_sg: Any


def placement(db: Any, ctx: Context, base: str, key: Any) -> Placement:
    """The primary's database and the DR region's standby alike: data subnets, a parameter group requiring TLS, the
    application tier alone let in on the port, and log groups archc creates (RDS would create them unencrypted, kept forever)."""
    identifier = db_identifier(ctx.prefix)
    exports = {kind: log_group(f"{base}{kind.capitalize()}LogGroup", f"/aws/rds/instance/{identifier}/{kind}", db.log_retention_days, key)
               for kind in ("postgresql", "upgrade")}
    app_sg = ctx.ref(NETWORK, "AppSecurityGroupId")
    data_sg = ctx.ref(NETWORK, "DataSecurityGroupId")
    ingress = ec2.SecurityGroupIngress(f"{base}IngressFromApp", GroupId=data_sg, SourceSecurityGroupId=app_sg,
                                       IpProtocol="tcp", FromPort=db.port, ToPort=db.port, Description="PostgreSQL from the application tier")
    egress = ec2.SecurityGroupEgress(f"{base}EgressFromApp", GroupId=app_sg, DestinationSecurityGroupId=data_sg,
                                     IpProtocol="tcp", FromPort=db.port, ToPort=db.port, Description="PostgreSQL to the data tier")
    subnets = rds.DBSubnetGroup(f"{base}SubnetGroup", DBSubnetGroupDescription=f"{ctx.prefix} private data subnets",
                                SubnetIds=ctx.value(NETWORK, "DataSubnetIds", as_list=True))
    major = db.version.split(".")[0]
    params = rds.DBParameterGroup(f"{base}ParameterGroup", Family=f"postgres{major}",
                                  Description=f"{ctx.prefix} PostgreSQL {major}: TLS required, slow statements logged",
                                  Parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"})
    return Placement(exports, ingress, egress, subnets, params, app_sg, data_sg)


def monitoring(db: Any, ctx: Context, base: str, key: Any) -> tuple[list[Any], dict[str, Any]]:
    """Enhanced monitoring (a role RDS assumes to write RDSOSMetrics, narrowed from AWS's managed policy to that log group in
    this region) and Performance Insights under the database key: the resources and the instance's properties."""
    resources: list[Any] = []
    props: dict[str, Any] = {}
    if db.monitoring_interval_s:
        group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:RDSOSMetrics"
        role = service_role(f"{base}MonitoringRole", "monitoring.rds.amazonaws.com", [
            Statement(Sid="MetricsLogGroup", Effect=Allow, Action=[alogs.CreateLogGroup, alogs.PutRetentionPolicy], Resource=[Sub(group)]),
            Statement(Sid="MetricsLogStreams", Effect=Allow,
                      Action=[alogs.CreateLogStream, alogs.PutLogEvents, alogs.DescribeLogStreams, alogs.GetLogEvents],
                      Resource=[Sub(f"{group}:log-stream:*")])])
        resources.append(role)
        props.update(MonitoringInterval=db.monitoring_interval_s, MonitoringRoleArn=GetAtt(role, "Arn"))
    if db.performance_insights_days is not None:
        props.update(EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=db.performance_insights_days,
                     PerformanceInsightsKMSKeyId=key_arn(key))
    return resources, props


def database_alarms(ctx: Context, base: str, instance: Any) -> list[cloudwatch.Alarm]:
    dim = {"DBInstanceIdentifier": instance}
    return [
        alarm(ctx, f"{base}CpuAlarm", "db-cpu", "Database CPU above 80% for 15 minutes",
              namespace="AWS/RDS", metric="CPUUtilization", dimensions=dim, statistic="Average", period=300,
              threshold=80, comparison="GreaterThanThreshold", evaluation_periods=3, missing="missing"),
        alarm(ctx, f"{base}StorageAlarm", "db-free-storage", "Database free storage below 2 GiB",
              namespace="AWS/RDS", metric="FreeStorageSpace", dimensions=dim, statistic="Minimum", period=300,
              threshold=2 * GIB, comparison="LessThanThreshold", evaluation_periods=1, missing="missing"),
        alarm(ctx, f"{base}ConnectionsAlarm", "db-connections", "More than 80 database connections for 10 minutes",
              namespace="AWS/RDS", metric="DatabaseConnections", dimensions=dim, statistic="Maximum", period=300,
              threshold=80, comparison="GreaterThanThreshold", evaluation_periods=2, missing="missing"),
    ]
