"""Lambda functions with their own log group, dead-letter queue, least-privilege role and alarms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from awacs import ec2 as aec2
from awacs import kms as akms
from awacs import secretsmanager as asm
from awacs import logs as alogs
from awacs import sqs as asqs
from awacs import xray as axray
from awacs.aws import Allow, Bool, Condition, Deny, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import GetAtt, Parameter, Ref, Split, Sub, awslambda, cloudwatch, iam, sqs

from compiler.app import Context
from compiler.naming import logical_id
from compiler.spec import Function

from .alarms import alarm
from .secure import log_group, retain

ARTIFACT_BUCKET = "ArtifactBucket"
BOOTSTRAP = {
    "python": "def handler(event, context):\n    return {'statusCode': 200, 'body': 'bootstrap: deploy the application code'}\n",
    "nodejs": "exports.handler = async () => ({statusCode: 200, body: 'bootstrap: deploy the application code'});\n",
}


@dataclass
class Grants:
    """What a function's triggers and users add to it: IAM statements and environment variables."""

    statements: list[Statement] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)


def artifact_bucket() -> Parameter:
    return Parameter(ARTIFACT_BUCKET, Type="String", AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                     Description="S3 bucket holding the Lambda code assets (filled in by archc plan)")


def function(name: str, fn: Function, ctx: Context, logs_key: Any, grants: Grants | None = None) -> Iterable[Any]:
    """The function and everything it owns; yields resources, then its alarms."""
    grants = grants or Grants()
    base = logical_id("Fn", name)
    fname = f"{ctx.prefix}-{name}"
    group = log_group(f"{base}LogGroup", f"/aws/lambda/{fname}", fn.log_retention_days, logs_key)
    dlq = retain(sqs.Queue(f"{base}DeadLetterQueue", QueueName=f"{fname}-dlq", SqsManagedSseEnabled=True,
                           MessageRetentionPeriod=fn.dlq_retention_days * 86400))
    dlq_policy = sqs.QueuePolicy(f"{base}DeadLetterQueuePolicy", Queues=[Ref(dlq)], PolicyDocument=tls_only(GetAtt(dlq, "Arn"), asqs.Action("*")))
    statements = [
        Statement(Sid="OwnLogGroup", Effect=Allow, Action=[alogs.CreateLogStream, alogs.PutLogEvents], Resource=[GetAtt(group, "Arn")]),
        # X-Ray's PutTraceSegments and PutTelemetryRecords take no resource narrower than "*".
        Statement(Sid="Tracing", Effect=Allow, Action=[axray.PutTraceSegments, axray.PutTelemetryRecords], Resource=["*"]),
        Statement(Sid="DeadLetterQueue", Effect=Allow, Action=[asqs.SendMessage], Resource=[GetAtt(dlq, "Arn")]),
    ]
    if fn.in_vpc:
        statements += vpc_access()
    env: dict[str, Any] = {"ENVIRONMENT": ctx.env, **fn.environment}
    if fn.uses_database:
        secret, key = ctx.ref("data", "DatabaseSecretArn", ctx.spec.regions.primary), ctx.ref("data", "DatabaseKeyArn", ctx.spec.regions.primary)
        statements += [
            Statement(Sid="DatabaseSecret", Effect=Allow, Action=[asm.GetSecretValue, asm.DescribeSecret], Resource=[secret]),
            Statement(Sid="DatabaseSecretKey", Effect=Allow, Action=[akms.Decrypt], Resource=[key]),
        ]
        env["DB_SECRET_ARN"] = secret
    statements += grants.statements
    env.update(grants.environment)
    role = iam.Role(f"{base}Role", AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"), Action=[AssumeRole])]),
        Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))])

    props: dict[str, Any] = dict(
        FunctionName=fname, Role=GetAtt(role, "Arn"), Architectures=[fn.architecture], MemorySize=fn.memory_mb,
        Timeout=fn.timeout_s, TracingConfig=awslambda.TracingConfig(Mode="Active"),
        DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(group)),
        Environment=awslambda.Environment(Variables=dict(sorted(env.items()))),
        Description=f"{ctx.prefix} {name}")
    if fn.reserved_concurrency is not None:
        props["ReservedConcurrentExecutions"] = fn.reserved_concurrency
    if fn.in_vpc:
        props["VpcConfig"] = awslambda.VPCConfig(SubnetIds=Split(",", ctx.ref("network", "AppSubnetIds")),
                                                 SecurityGroupIds=[ctx.ref("network", "AppSecurityGroupId")])
    if fn.image:
        props.update(PackageType="Image", Code=awslambda.Code(ImageUri=regional_image(fn.image, ctx.region)))
    else:
        props.update(Runtime=fn.runtime, Handler=fn.entry)
        if fn.bootstrap:
            props["Code"] = awslambda.Code(ZipFile=BOOTSTRAP["python" if fn.runtime.startswith("python") else "nodejs"])
        else:
            asset = ctx.assets[name]
            props["Code"] = awslambda.Code(S3Bucket=Ref(ARTIFACT_BUCKET), S3Key=asset.key)
    lam = awslambda.Function(f"{base}Function", **props)
    yield from (group, dlq, dlq_policy, role, lam)
    if fn.url is not None:
        yield from _url(base, fn, lam)
    yield from function_alarms(ctx, name, fn, lam, dlq)
    yield ctx.output(f"{base}Arn", GetAtt(lam, "Arn"), f"function {name}")


def regional_image(uri: str, region: str) -> str:
    """Lambda pulls images only from ECR in its own region: in the DR region the same repository is expected
    there too (ECR cross-region replication), so the registry's region follows the stack's."""
    return re.sub(r"\.dkr\.ecr\.[a-z0-9-]+\.", f".dkr.ecr.{region}.", uri, count=1)


def vpc_access() -> list[Statement]:
    """Network interfaces in the VPC, scoped to this account and region where EC2 allows it."""
    scoped = Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*")
    return [
        Statement(Sid="VpcInterfaces", Effect=Allow, Resource=[scoped],
                  Action=[aec2.CreateNetworkInterface, aec2.DeleteNetworkInterface, aec2.AssignPrivateIpAddresses, aec2.UnassignPrivateIpAddresses]),
        # Describe calls take no resource narrower than "*".
        Statement(Sid="VpcDescribe", Effect=Allow, Resource=["*"],
                  Action=[aec2.DescribeNetworkInterfaces, aec2.DescribeSubnets, aec2.DescribeSecurityGroups]),
    ]


def tls_only(resource: Any, action: Any) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[action], Resource=[resource],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})))])


def _url(base: str, fn: Function, lam: awslambda.Function) -> Iterable[Any]:
    props: dict[str, Any] = dict(TargetFunctionArn=GetAtt(lam, "Arn"), AuthType=fn.url.auth, InvokeMode=fn.url.invoke_mode)
    if fn.url.cors:
        c = fn.url.cors
        props["Cors"] = awslambda.Cors(AllowOrigins=c.origins, AllowMethods=c.methods, AllowHeaders=c.headers,
                                       AllowCredentials=c.credentials, MaxAge=c.max_age_s)
    yield awslambda.Url(f"{base}Url", **props)
    if fn.url.auth == "NONE":
        # A public URL needs both permissions; the second only through the URL (a waived, warned-about setting).
        yield awslambda.Permission(f"{base}UrlPublicPermission", FunctionName=Ref(lam), Action="lambda:InvokeFunctionUrl",
                                   Principal="*", FunctionUrlAuthType="NONE")
        yield awslambda.Permission(f"{base}UrlInvokePermission", FunctionName=Ref(lam), Action="lambda:InvokeFunction",
                                   Principal="*", InvokedViaFunctionUrl=True)


def function_alarms(ctx: Context, name: str, fn: Function, lam: Any, dlq: Any) -> Iterable[cloudwatch.Alarm]:
    base = logical_id("Fn", name)
    dims = [cloudwatch.MetricDimension(Name="FunctionName", Value=Ref(lam))]

    def stat(mid: str, metric: str) -> cloudwatch.MetricDataQuery:
        return cloudwatch.MetricDataQuery(Id=mid, ReturnData=False, MetricStat=cloudwatch.MetricStat(
            Metric=cloudwatch.Metric(Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims), Period=60, Stat="Sum"))

    yield alarm(ctx, f"{base}ErrorRateAlarm", f"{name}-error-rate", f"{name}: more than 5% of invocations failed in 2 of 5 minutes",
                threshold=5, comparison="GreaterThanThreshold", evaluation_periods=5, datapoints=2,
                metrics=[stat("inv", "Invocations"), stat("err", "Errors"),
                         cloudwatch.MetricDataQuery(Id="rate", Expression="IF(inv > 0, 100 * err / inv, 0)", Label="error rate %", ReturnData=True)])
    limit_ms = round(fn.timeout_s * 1000 * 0.83)
    yield alarm(ctx, f"{base}DurationAlarm", f"{name}-duration", f"{name}: an invocation took over 83% of its {fn.timeout_s} s timeout",
                namespace="AWS/Lambda", metric="Duration", dimensions={"FunctionName": Ref(lam)}, statistic="Maximum",
                threshold=limit_ms, comparison="GreaterThanThreshold", evaluation_periods=3, datapoints=2)
    yield alarm(ctx, f"{base}ThrottlesAlarm", f"{name}-throttles", f"{name}: invocations were throttled",
                namespace="AWS/Lambda", metric="Throttles", dimensions={"FunctionName": Ref(lam)}, statistic="Sum",
                threshold=0, comparison="GreaterThanThreshold", evaluation_periods=1)
    yield alarm(ctx, f"{base}DeadLetterAlarm", f"{name}-dlq", f"{name}: failed asynchronous events are waiting in the dead-letter queue",
                namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": GetAtt(dlq, "QueueName")},
                statistic="Maximum", period=300, threshold=0, comparison="GreaterThanThreshold", evaluation_periods=1)
