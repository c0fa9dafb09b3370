"""The functions stack: each Lambda function with its log group, dead-letter queue, least-privilege role (its
connections and raw statements), optional Function URL and alarms."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import ec2 as aec2
from awacs import logs as alogs
from awacs import sqs as asqs
from awacs import xray as axray
from awacs.aws import Action, Allow, Condition, PolicyDocument, Statement, StringEquals
from troposphere import AccountId, GetAtt, Ref, Select, Split, Sub, awslambda, cloudwatch, iam, sqs

from compiler.access import DATABASE_HOST_ENV, DATABASE_NAME_ENV, DATABASE_PORT_ENV, DATABASE_USER_ENV, ENV_SUFFIX, KEY_ACTIONS, database_user
from compiler.access import scopes as access_scopes
from compiler.context import Context
from compiler.naming import (DATA, IMAGES, NETWORK, QUEUES, STANDBY, STORAGE, camel, env_var, function_dlq_name,
                             function_log_group, function_name, logical_id, table_name)
from compiler.spec import Function, Spec
from compiler.spec.functions import ImageRef

from .exceptions import newest_runtime, record_wildcards
from .parts import ARTIFACT_BUCKET, alarm, alarms_on, artifact_bucket, bucket_arn
from .secure import kms_key, log_group, queue, service_role, tls_only

BOOTSTRAP = {
    "python": "def handler(event, context):\n    return {'statusCode': 200, 'body': 'bootstrap: deploy the application code'}\n",
    "nodejs": "exports.handler = async () => ({statusCode: 200, body: 'bootstrap: deploy the application code'});\n",
}
DAY = 86400


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    key = kms_key("FunctionsLogsKey", f"{ctx.prefix} function logs", log_groups=(function_log_group(ctx.prefix, "*"),))
    yield key
    if any(fn.code is not None for fn in spec.functions.values()):
        yield artifact_bucket()
    for name, fn in spec.functions.items():
        yield from function(name, fn, ctx, key)


def function(name: str, fn: Function, ctx: Context, logs_key: Any) -> Iterable[Any]:
    """The function and everything it owns; yields resources, then its alarms and outputs."""
    base = logical_id("Fn", name)
    fname = function_name(ctx.prefix, name)
    group = log_group(f"{base}LogGroup", function_log_group(ctx.prefix, name), fn.log_retention_days, logs_key)
    statements = [
        Statement(Sid="OwnLogGroup", Effect=Allow, Action=[alogs.CreateLogStream, alogs.PutLogEvents], Resource=[GetAtt(group, "Arn")]),
        # X-Ray's PutTraceSegments and PutTelemetryRecords take no resource narrower than "*".
        Statement(Sid="Tracing", Effect=Allow, Action=[axray.PutTraceSegments, axray.PutTelemetryRecords], Resource=["*"]),
    ]
    dlq = None
    if ctx.spec.invoked_asynchronously(name):
        # Only an asynchronous invocation ends in a dead-letter queue; a synchronous caller gets the error itself.
        dlq = queue(f"{base}DeadLetterQueue", function_dlq_name(ctx.prefix, name), retention_s=fn.dlq_retention_days * DAY)
        statements.append(Statement(Sid="DeadLetterQueue", Effect=Allow, Action=[asqs.SendMessage], Resource=[GetAtt(dlq, "Arn")]))
    if fn.in_vpc:
        statements += vpc_access()
    env: dict[str, Any] = {"ENVIRONMENT": ctx.env, **_api_environment(name, ctx.spec), **fn.environment}
    for target, level in connections(fn).items():
        granted, variables = connection(ctx, name, target, level)
        statements += granted
        env.update(variables)
    role = service_role(f"{base}Role", "lambda.amazonaws.com", statements)
    extra = _permissions(name, fn, ctx, role) if fn.permissions else None

    props: dict[str, Any] = dict(
        FunctionName=fname, Role=GetAtt(role, "Arn"), Architectures=[fn.architecture], MemorySize=fn.memory_mb,
        Timeout=fn.timeout_s, TracingConfig=awslambda.TracingConfig(Mode="Active"),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(group)),
        Environment=awslambda.Environment(Variables=dict(sorted(env.items()))),
        Description=f"{ctx.prefix} {name}")
    if dlq is not None:
        props["DeadLetterConfig"] = awslambda.DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn"))
    if fn.reserved_concurrency is not None:
        props["ReservedConcurrentExecutions"] = fn.reserved_concurrency
    if fn.in_vpc:
        props["VpcConfig"] = awslambda.VPCConfig(SubnetIds=ctx.value(NETWORK, "AppSubnetIds", as_list=True),
                                                 SecurityGroupIds=[ctx.ref(NETWORK, "AppSecurityGroupId")])
    if isinstance(fn.image, ImageRef):
        uri = ctx.ref(IMAGES, logical_id(fn.image.repository, "RepositoryUri"))
        ref = f":{fn.image.tag}" if fn.image.tag else f"@{fn.image.digest}"
        props.update(PackageType="Image", Code=awslambda.Code(ImageUri=Sub(f"${{Uri}}{ref}", Uri=uri)))
    elif fn.image:
        props.update(PackageType="Image", Code=awslambda.Code(ImageUri=fn.image))
    else:
        props.update(Runtime=fn.runtime, Handler=fn.entry)
        if fn.bootstrap:
            props["Code"] = awslambda.Code(ZipFile=BOOTSTRAP["python" if fn.runtime.startswith("python") else "nodejs"])
        else:
            props["Code"] = awslambda.Code(S3Bucket=Ref(ARTIFACT_BUCKET), S3Key=ctx.assets[name].key)
    lam = awslambda.Function(f"{base}Function", **props)
    if "Runtime" in props:
        newest_runtime(lam, fn.runtime)
    yield group
    if dlq is not None:
        yield dlq
        yield sqs.QueuePolicy(f"{base}DeadLetterQueuePolicy", Queues=[Ref(dlq)], PolicyDocument=tls_only(GetAtt(dlq, "Arn"), asqs.Action("*")))
    yield role
    if extra is not None:
        lam.DependsOn = [extra.title]
        yield extra
    yield lam
    yield from _event_sources(name, fn, lam, ctx)
    if fn.url is not None:
        yield from _url(base, fn, lam, ctx)
    if alarms_on(ctx):
        yield from function_alarms(ctx, name, fn, lam, dlq)
    yield ctx.output(f"{base}Arn", GetAtt(lam, "Arn"), f"function {name}")
    api = ctx.spec.api
    if api is not None and api.websocket is not None and api.websocket.function == name:
        yield ctx.output(f"{base}RoleName", Ref(role), f"role of function {name} (the WebSocket API grants it its connections)")


def _permissions(name: str, fn: Function, ctx: Context, role: Any) -> iam.PolicyType:
    """The spec's raw statements, in a policy of their own: scanners judge them apart from archc's, so that a recorded
    exception for archc's statements never hides a wildcard of the user's; a waived wildcard carries the waiver's reason."""
    statements = [Statement(Sid=sid, Effect=Allow, Action=[Action(*a.split(":", 1)) for a in p.actions], Resource=p.resources)
                  for sid, p in fn.permissions.items()]
    waived = {sid: ctx.spec.waivers[path] for sid in fn.permissions if (path := f"functions.{name}.permissions.{sid}") in ctx.spec.waivers}
    policy = iam.PolicyType(logical_id("Fn", name, "Permissions"), PolicyName="spec-permissions", Roles=[Ref(role)],
                            PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))
    return record_wildcards(policy, statements, waived, frozenset(fn.permissions))


def connections(fn: Function) -> dict[str, str]:
    """`uses:` plus what the function's event sources need: consuming a queue is the `consume` level on it."""
    merged = dict(fn.uses)
    for ev in fn.events.values():
        target = f"queues.{ev.queue}"
        merged[target] = "send-consume" if merged.get(target, "consume") != "consume" else "consume"
    return merged


def _event_sources(name: str, fn: Function, lam: Any, ctx: Context) -> Iterable[Any]:
    """Queues the function consumes (in its own region) and buckets that invoke it directly. In the DR region the mappings
    stay disabled until failover: the copies of the buckets send their events there too, and two regions processing the
    same upload would race; the queue keeps the events (its retention) for the DR function to catch up on."""
    base = logical_id("Fn", name)
    for ename, ev in fn.events.items():
        props: dict[str, Any] = dict(
            EventSourceArn=ctx.ref(QUEUES, logical_id(ev.queue, "QueueArn")), FunctionName=Ref(lam),
            Enabled=ctx.primary or ctx.spec.failed_over,
            BatchSize=ev.batch_size, MaximumBatchingWindowInSeconds=ev.window_s,
            # The handler names the messages it could not process; the rest of the batch is deleted, not retried.
            FunctionResponseTypes=["ReportBatchItemFailures"])
        if ev.max_concurrency is not None:
            props["ScalingConfig"] = EsmScaling(MaximumConcurrency=ev.max_concurrency)
        yield awslambda.EventSourceMapping(logical_id(base, ename, "EventSource"), **props)
    for bname, b in ctx.spec.buckets.items():
        s3_name = ctx.facts.bucket_in(bname, ctx.region)
        for ename, ev in b.events.items():
            if ev.target == ("functions", name) and s3_name is not None:
                # By the bucket's name, so that this stack need not wait for the storage stack (which waits for this one).
                yield awslambda.Permission(logical_id(base, bname, ename, "S3Permission"), FunctionName=GetAtt(lam, "Arn"),
                                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                                           SourceArn=bucket_arn(s3_name), SourceAccount=AccountId)


class EsmScaling(awslambda.ScalingConfig):
    """AWS::Lambda::EventSourceMapping ScalingConfig. troposphere 4.11 gives its class name to another type's property
    (MaxEnvironments) and so cannot write MaximumConcurrency."""

    props = {"MaximumConcurrency": (int, True)}


def connection(ctx: Context, function: str, target: str, level: str) -> tuple[list[Statement], dict[str, Any]]:
    """The statements and environment variables one `uses:` entry gives (compiler/access.py has the actions). In the DR
    region a function uses the DR copy of each resource that has one: the replica bucket, the table's replica, the
    region's own queue, the replica of the database secret and the standby database."""
    kind, _, name = target.partition(".")
    spec, primary = ctx.spec, ctx.spec.regions.primary
    # Where the resource this function uses lives: here, when this region has it (or a copy of it), else the primary.
    local = ctx.primary or {"buckets": name in spec.replicated("buckets"), "tables": name in spec.replicated("tables"),
                            "queues": True, "database": spec.database_copy is not None, "functions": True}[kind]
    region = ctx.region if local else primary
    sid = camel(kind[:-1] if kind != "database" else kind) + (camel(name) if name else "") + camel(level)
    scopes: dict[str, Any]
    key, service, env = None, None, {}
    if kind == "buckets":
        s3_name = ctx.facts.bucket_in(name, region)  # by name: this stack need not wait for the storage stack
        scopes = {"bucket": bucket_arn(s3_name), "objects": bucket_arn(s3_name, "*")}
        if spec.buckets[name].encryption == "kms":
            key, service = ctx.ref(STORAGE, "BucketsKeyArn", region), "s3"
        env[env_var(name, ENV_SUFFIX[kind])] = s3_name
    elif kind == "tables":
        if region == primary:
            arn = ctx.ref(DATA, logical_id(name, "TableArn"), primary)
        else:  # the replica: the global table lives in the primary's stack, its replica by the same name here
            arn = Sub(f"arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{table_name(ctx.prefix, name)}")
        # Each index by name (a table without indexes gets no index grant): nothing wider than the spec declares.
        scopes = {"table": arn, "indexes": [Sub(f"${{Arn}}/index/{ix}", Arn=arn) for ix in sorted(spec.tables[name].indexes)]}
        key, service = ctx.ref(DATA, "TablesKeyArn", region), "dynamodb"
        env[env_var(name, ENV_SUFFIX[kind])] = table_name(ctx.prefix, name)
    elif kind == "queues":
        scopes = {"queue": ctx.ref(QUEUES, logical_id(name, "QueueArn"), region)}
        if spec.queues[name].encryption == "kms":
            key, service = ctx.ref(QUEUES, "QueuesKeyArn", region), "sqs"
        env[env_var(name, ENV_SUFFIX[kind])] = ctx.ref(QUEUES, logical_id(name, "QueueUrl"), region)
    elif kind == "database":
        # IAM authentication as the function's own user, on the instance of this region (a replica has its own resource
        # id): no password, and no read of the master secret. The users exist once database-users.sql has run.
        endpoint = DATA if region == primary else (STANDBY if spec.standby else None)
        user = database_user(function)
        scopes = {"user": []}
        if endpoint is not None:
            scopes["user"] = [Sub(f"arn:${{AWS::Partition}}:rds-db:{region}:${{AWS::AccountId}}:dbuser:${{Id}}/{user}",
                                  Id=ctx.ref(endpoint, "DatabaseResourceId", region))]
            env[DATABASE_HOST_ENV] = ctx.ref(endpoint, "DatabaseEndpoint", region)
            env[DATABASE_PORT_ENV] = ctx.ref(endpoint, "DatabasePort", region)
            env[DATABASE_NAME_ENV] = spec.database.database_name
            env[DATABASE_USER_ENV] = user
    else:  # functions: by name, so that two functions may use each other
        scopes = {"function": Sub(f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{function_name(ctx.prefix, name)}")}
        env[env_var(name, ENV_SUFFIX[kind])] = function_name(ctx.prefix, name)
    by_scope = access_scopes(kind, level)
    resources = {scope: arns if isinstance(arns, list) else [arns] for scope, arns in scopes.items()}
    statements = [Statement(Sid=sid + (camel(scope) if len(by_scope) > 1 else ""), Effect=Allow,
                            Action=[Action(*a.split(":", 1)) for a in actions], Resource=resources[scope])
                  for scope, actions in by_scope.items() if resources[scope]]
    if key is not None:
        # The key is used only through the resource's own service, in its region.
        statements.append(Statement(Sid=sid + "Key", Effect=Allow, Action=[Action(*a.split(":", 1)) for a in KEY_ACTIONS[(kind, level)]],
                                    Resource=[key], Condition=Condition(StringEquals({"kms:ViaService": f"{service}.{region}.amazonaws.com"}))))
    return statements, env


def _api_environment(name: str, spec: Spec) -> dict[str, str]:
    """What the REST API's function is told of the API's CORS rules (it answers preflights itself)."""
    rest = spec.api.rest if spec.api else None
    if rest is None or rest.function != name or rest.cors is None:
        return {}
    c = rest.cors
    return dict(CORS_ORIGINS=",".join(c.origins), CORS_METHODS=",".join(c.methods), CORS_HEADERS=",".join(c.headers),
                CORS_ALLOW_CREDENTIALS=str(c.credentials).lower(), CORS_MAX_AGE=str(c.max_age_s))


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


def _url(base: str, fn: Function, lam: awslambda.Function, ctx: Context) -> Iterable[Any]:
    props: dict[str, Any] = dict(TargetFunctionArn=GetAtt(lam, "Arn"), AuthType=fn.url.auth, InvokeMode=fn.url.invoke_mode)
    if fn.url.cors:
        c = fn.url.cors
        props["Cors"] = awslambda.Cors(AllowOrigins=c.origins, AllowMethods=c.methods, AllowHeaders=c.headers,
                                       AllowCredentials=c.credentials, MaxAge=c.max_age_s)
    url = awslambda.Url(f"{base}Url", **props)
    yield url
    if fn.url.auth == "NONE":
        # A public URL needs both permissions; the second only through the URL (a waived, warned-about setting).
        yield awslambda.Permission(f"{base}UrlPublicPermission", FunctionName=Ref(lam), Action="lambda:InvokeFunctionUrl",
                                   Principal="*", FunctionUrlAuthType="NONE")
        yield awslambda.Permission(f"{base}UrlInvokePermission", FunctionName=Ref(lam), Action="lambda:InvokeFunction",
                                   Principal="*", InvokedViaFunctionUrl=True)
    # https://<id>.lambda-url.<region>.on.aws/ -> the domain CloudFront uses as an origin
    yield ctx.output(f"{base}UrlDomain", Select(2, Split("/", GetAtt(url, "FunctionUrl"))), "Function URL domain")


def function_alarms(ctx: Context, name: str, fn: Function, lam: Any, dlq: Any | None) -> Iterable[cloudwatch.Alarm]:
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
    if dlq is None:
        return
    yield alarm(ctx, f"{base}DeadLetterAlarm", f"{name}-dlq", f"{name}: failed asynchronous events are waiting in the dead-letter queue",
                namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": GetAtt(dlq, "QueueName")},
                statistic="Maximum", period=300, threshold=0, comparison="GreaterThanThreshold", evaluation_periods=1)
