"""The api stack: the REST API (v1) and the WebSocket API (v2) in front of their functions, with their alarms."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from awacs import execute_api
from awacs import logs as alogs
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import GetAtt, Join, Ref, Sub, apigateway, apigatewayv2, awslambda, iam, secretsmanager, wafv2, xray

from compiler.context import Context
from compiler.naming import (FUNCTIONS, ORIGIN_VERIFY_HEADER, api_log_group, execution_log_group, logical_id,
                             origin_verify_secret_name, rest_api_name, sampling_rule_name, websocket_api_name)
from compiler.spec.api import Api, Rest, WebSocket
from compiler.spec.regions import EDGE_REGION

from .parts import alarm, alarms_on, waf_visibility
from .exceptions import (NO_AUTHORIZATION, NO_COGNITO, PUBLIC_ENDPOINT, REQUEST_VALIDATION, SECRET_KEY, SECRET_ROTATION, open_method, record,
                         record_wildcards, settings)
from .secure import kms_key, log_group, retain, service_role

ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod", "routeKey": "$context.routeKey", "resourcePath": "$context.resourcePath",
    "status": "$context.status", "protocol": "$context.protocol", "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency", "errorMessage": "$context.error.message",
}, sort_keys=True)
WS_ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
    "eventType": "$context.eventType", "routeKey": "$context.routeKey", "connectionId": "$context.connectionId",
    "status": "$context.status", "integrationError": "$context.integrationErrorMessage", "errorMessage": "$context.error.message",
}, sort_keys=True)
LAMBDA_URI = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Arn}/invocations"


def build(api: Api, ctx: Context) -> Iterable[Any]:
    groups = (api_log_group(ctx.prefix, "*"),) + ((execution_log_group(ctx.env),) if api.rest else ())
    key = kms_key("ApiLogsKey", f"{ctx.prefix} API logs", log_groups=groups)
    yield key
    yield from _account()
    if api.rest:
        yield from _rest(api.rest, ctx, ctx.ref(FUNCTIONS, f"{logical_id('Fn', api.rest.function)}Arn"), key)
    if api.websocket:
        yield from _websocket(api.websocket, ctx, ctx.ref(FUNCTIONS, f"{logical_id('Fn', api.websocket.function)}Arn"), key)


def _account() -> Iterable[Any]:
    """API Gateway writes execution logs with one role per account and region (the last stack to set it wins)."""
    # AWS's AmazonAPIGatewayPushToCloudWatchLogs, narrowed from every account and region to this one: the role serves every
    # API of the account in this region, so it cannot name their groups.
    groups = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
    role = service_role("ApiCloudWatchRole", "apigateway.amazonaws.com", [Statement(
        Sid="AccountLogs", Effect=Allow, Resource=[Sub(groups), Sub(f"{groups}:log-stream:*")],
        Action=[alogs.CreateLogGroup, alogs.CreateLogStream, alogs.DescribeLogGroups, alogs.DescribeLogStreams, alogs.PutLogEvents,
                alogs.GetLogEvents, alogs.FilterLogEvents])])
    # Retained: another environment's stages in this account and region may be logging through this setting.
    yield retain(role)
    yield retain(apigateway.Account("ApiAccount", CloudWatchRoleArn=GetAtt(role, "Arn")))


def _path_id(path: str) -> str:
    if path == "/":
        return "Root"
    parts = []
    for seg in path.strip("/").split("/"):
        if seg == "{proxy+}":
            parts.append("Proxy")
        elif seg.startswith("{"):
            parts.append(logical_id(seg.strip("{}"), "Param"))
        else:
            parts.append(logical_id("".join(ch if ch.isalnum() else "_" for ch in seg)))
    return "".join(parts)


def _rest(rest: Rest, ctx: Context, function_arn: Any, logs_key: Any) -> Iterable[Any]:
    api = apigateway.RestApi("ApiRestApi", Name=rest_api_name(ctx.prefix), Description=f"{ctx.prefix} REST API",
                             EndpointConfiguration=apigateway.EndpointConfiguration(Types=["REGIONAL"]))
    record(api, REQUEST_VALIDATION, "every route is a Lambda proxy without a model or required parameter: a request validator "
                                    "would check nothing; the function validates what it receives")
    yield api
    resources: dict[str, Any] = {"/": GetAtt(api, "RootResourceId")}
    for path in sorted({p for _, p in rest.methods} | _prefixes(rest)):
        if path == "/":
            continue
        parent = path.rsplit("/", 1)[0] or "/"
        res = apigateway.Resource(f"ApiRest{_path_id(path)}Resource", RestApiId=Ref(api), ParentId=_ref(resources[parent]),
                                  PathPart=path.rsplit("/", 1)[1])
        resources[path] = res
        yield res
    uri = Sub(LAMBDA_URI, Arn=function_arn)
    auth = rest.auth
    authorizer = None
    if auth.type == "cognito":
        authorizer = apigateway.Authorizer("ApiRestAuthorizer", RestApiId=Ref(api), Name=f"{ctx.prefix}-cognito", Type="COGNITO_USER_POOLS",
                                           ProviderARNs=[auth.user_pool_arn], IdentitySource="method.request.header.Authorization")
        yield authorizer
    waivers = ctx.spec.waivers
    methods = []
    for method, path in rest.methods:
        m = apigateway.Method(
            f"ApiRest{_path_id(path)}{method.capitalize()}Method", RestApiId=Ref(api), ResourceId=_ref(resources[path]),
            HttpMethod=method, AuthorizationType="NONE",
            Integration=apigateway.Integration(Type="AWS_PROXY", IntegrationHttpMethod="POST", Uri=uri, TimeoutInMillis=29000))
        open_route = auth.type == "none" or f"{method} {path}" in auth.public
        if not open_route and auth.type == "iam":
            m.AuthorizationType = "AWS_IAM"
            record(m, NO_COGNITO, "authorized with IAM (SigV4-signed calls whose principal may execute-api:Invoke), the spec's choice")
        elif not open_route:
            m.AuthorizationType, m.AuthorizerId = "COGNITO_USER_POOLS", Ref(authorizer)
        else:
            reason = waivers.get("api.rest.auth.type" if auth.type == "none" else "api.rest.auth.public")
            if reason:  # waived: the user's reason; unwaived, every scanner reports it
                open_method(m, reason)
        methods.append(m)
    if rest.cors:
        # Preflight goes to the function too (it answers with the listed origins), wherever ANY does not already.
        covered = {p for m, p in rest.methods if m in ("ANY", "OPTIONS")}
        for path in sorted({p for _, p in rest.methods} - covered):
            preflight = apigateway.Method(
                f"ApiRest{_path_id(path)}OptionsMethod", RestApiId=Ref(api), ResourceId=_ref(resources[path]),
                HttpMethod="OPTIONS", AuthorizationType="NONE",
                Integration=apigateway.Integration(Type="AWS_PROXY", IntegrationHttpMethod="POST", Uri=uri))
            reason = "a CORS preflight carries no credentials (the browser's rule): it must be answered without authorization"
            methods.append(open_method(preflight, reason))
    yield from methods
    # A deployment is a snapshot: a new one (a new logical ID) exactly when the methods change.
    digest = hashlib.sha256(json.dumps([settings(m) for m in methods], sort_keys=True, default=str).encode()).hexdigest()[:10]
    deployment = apigateway.Deployment(f"ApiRestDeployment{digest}", RestApiId=Ref(api), Description=f"methods {digest}",
                                       DependsOn=[m.title for m in methods])
    logs = log_group("ApiRestAccessLogGroup", api_log_group(ctx.prefix, "rest"), rest.access_log_retention_days, logs_key)
    # API Gateway writes the stage's execution logs (ERROR level) to a group it names after the API; created here first,
    # encrypted and kept like the access logs, instead of by API Gateway, unencrypted and forever.
    execution = log_group("ApiRestExecutionLogGroup", Sub(execution_log_group(ctx.env)), rest.access_log_retention_days, logs_key)
    stage = apigateway.Stage(
        "ApiRestStage", RestApiId=Ref(api), StageName=ctx.env, DeploymentId=Ref(deployment), TracingEnabled=True,
        AccessLogSetting=apigateway.AccessLogSetting(DestinationArn=GetAtt(logs, "Arn"), Format=ACCESS_LOG_FORMAT),
        MethodSettings=[apigateway.MethodSetting(HttpMethod="*", ResourcePath="/*", LoggingLevel="ERROR", DataTraceEnabled=False,
                                                 MetricsEnabled=True, ThrottlingRateLimit=rest.throttle.rate,
                                                 ThrottlingBurstLimit=rest.throttle.burst)],
        DependsOn=["ApiAccount", execution.title])
    permission = awslambda.Permission("ApiRestInvokePermission", FunctionName=function_arn, Action="lambda:InvokeFunction",
                                      Principal="apigateway.amazonaws.com",
                                      SourceArn=Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{ApiRestApi}}/{ctx.env}/*"))
    yield from (deployment, logs, execution, stage, permission)
    if rest.origin_verify:
        yield from _origin_verify(ctx, stage)
    elif ctx.spec.waivers.get("api.rest.origin_verify"):
        record(stage, PUBLIC_ENDPOINT, ctx.spec.waivers["api.rest.origin_verify"])
    if rest.sampling is not None:
        # The stage's X-Ray service name ({api}/{stage}) scopes the rule; it is unique in the account and region.
        yield xray.SamplingRule("ApiRestSamplingRule", SamplingRule=xray.SamplingRuleProperty(
            RuleName=sampling_rule_name(ctx.prefix), Version=1, Priority=1000, FixedRate=rest.sampling.rate,
            ReservoirSize=rest.sampling.reservoir_per_s, ServiceName=f"{rest_api_name(ctx.prefix)}/{ctx.env}",
            ServiceType="AWS::ApiGateway::Stage", Host="*", HTTPMethod="*", URLPath="*", ResourceARN="*"))
    if alarms_on(ctx):
        yield alarm(ctx, "ApiRest5xxAlarm", "rest-5xx", "REST API: more than 10 server errors in 5 minutes",
                    namespace="AWS/ApiGateway", metric="5XXError", dimensions={"ApiName": rest_api_name(ctx.prefix)}, statistic="Sum",
                    period=300, threshold=10, comparison="GreaterThanThreshold", evaluation_periods=1)
    yield ctx.output("RestApiId", Ref(api), "REST API id")
    yield ctx.output("RestApiDomain", Sub("${ApiRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"), "REST API regional domain")
    yield ctx.output("RestApiUrl", Sub(f"https://${{ApiRestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{ctx.env}"), "REST API stage URL")


def origin_verify_value(source: Any) -> Join:
    """The origin-verify secret's value (`source`: its ARN or name) as a dynamic reference CloudFormation resolves at deploy."""
    return Join("", ["{{resolve:secretsmanager:", source, ":SecretString}}"])


def _origin_verify(ctx: Context, stage: apigateway.Stage) -> Iterable[Any]:
    """The stage answers only requests that carry CloudFront's origin header: a regional web ACL blocks the rest. Each
    region's API has its own value (so no region reads another's), replicated to us-east-1 for the distribution."""
    name = origin_verify_secret_name(ctx.prefix, ctx.region)
    # Retained like every secret (the data-loss gate treats them alike); named, so the replica is found by name.
    secret = retain(secretsmanager.Secret(
        "ApiOriginVerifySecret", Name=name, Description=f"{ctx.prefix}: the {ORIGIN_VERIFY_HEADER} header CloudFront sends to "
                                                        f"the REST API in {ctx.region}",
        GenerateSecretString=secretsmanager.GenerateSecretString(PasswordLength=48, ExcludePunctuation=True)))
    if ctx.region != EDGE_REGION:
        secret.ReplicaRegions = [secretsmanager.ReplicaRegion(Region=EDGE_REGION)]
    record(secret, SECRET_ROTATION, "a shared value between CloudFront and this stage's web ACL, not a user's credential: "
                                    "CloudFormation re-reads a dynamic reference only when the resource holding it changes, so a "
                                    "rotated value would reach neither; a new secret (a new name) changes both templates together")
    record(secret, SECRET_KEY, "the replica in us-east-1 would need a key there before this stack exists; the value also sits "
                               "in the distribution's and the web ACL's configuration, which a key would not cover")
    yield secret
    yield ctx.output("OriginVerifySecretName", name, "the origin-verify secret (its replica in us-east-1 has this name)")
    header = wafv2.FieldToMatch(SingleHeader=wafv2.SingleHeader(Name=ORIGIN_VERIFY_HEADER))
    acl = wafv2.WebACL(
        "ApiRestWebAcl", Name=f"{ctx.prefix}-rest-origin", Scope="REGIONAL", VisibilityConfig=waf_visibility(f"{ctx.prefix}-rest-origin"),
        Description="only CloudFront: requests without its origin header are blocked",
        DefaultAction=wafv2.DefaultAction(Block=wafv2.BlockAction()),
        Rules=[wafv2.WebACLRule(
            Name="from-cloudfront", Priority=0, Action=wafv2.RuleAction(Allow=wafv2.AllowAction()), VisibilityConfig=waf_visibility("from-cloudfront"),
            Statement=wafv2.Statement(ByteMatchStatement=wafv2.ByteMatchStatement(
                FieldToMatch=header, PositionalConstraint="EXACTLY", SearchString=origin_verify_value(Ref(secret)),
                TextTransformations=[wafv2.TextTransformation(Priority=0, Type="NONE")])))])
    yield acl
    yield wafv2.WebACLAssociation("ApiRestWebAclAssociation", WebACLArn=GetAtt(acl, "Arn"), DependsOn=[stage.title],
                                  ResourceArn=Sub(f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{ApiRestApi}}/stages/{ctx.env}"))


def _prefixes(rest: Rest) -> set[str]:
    out = set()
    for _, path in rest.methods:
        parts = path.strip("/").split("/")
        out.update("/" + "/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def _ref(target: Any) -> Any:
    return target if not hasattr(target, "title") else Ref(target)


def _route_id(route: str) -> str:
    return logical_id(route.lstrip("$").replace("-", "_"))


def _websocket(ws: WebSocket, ctx: Context, function_arn: Any, logs_key: Any) -> Iterable[Any]:
    api = apigatewayv2.Api("ApiWsApi", Name=websocket_api_name(ctx.prefix), ProtocolType="WEBSOCKET", RouteSelectionExpression=ws.route_selection,
                           Description=f"{ctx.prefix} WebSocket API")
    integration = apigatewayv2.Integration("ApiWsIntegration", ApiId=Ref(api), IntegrationType="AWS_PROXY",
                                           IntegrationUri=Sub(LAMBDA_URI, Arn=function_arn))
    routes = [apigatewayv2.Route(f"ApiWs{_route_id(r)}Route", ApiId=Ref(api), RouteKey=r, AuthorizationType="NONE",
                                 Target=Join("/", ["integrations", Ref(integration)])) for r in ws.routes]
    waived = ctx.spec.waivers.get("api.websocket.auth")
    for route in routes:
        if route.RouteKey != "$connect":
            record(route, NO_AUTHORIZATION, "API Gateway authorizes a WebSocket connection once, at $connect; no other route may "
                                            "carry an authorizer, and each message arrives on an authorized connection")
        elif ws.auth == "iam":
            route.AuthorizationType = "AWS_IAM"
        elif waived:
            record(route, NO_AUTHORIZATION, waived)
    digest = hashlib.sha256(json.dumps([settings(r) for r in routes] + [integration.to_dict()], sort_keys=True, default=str).encode()).hexdigest()[:10]
    deployment = apigatewayv2.Deployment(f"ApiWsDeployment{digest}", ApiId=Ref(api), Description=f"routes {digest}",
                                         DependsOn=[r.title for r in routes])
    logs = log_group("ApiWsAccessLogGroup", api_log_group(ctx.prefix, "ws"), ws.access_log_retention_days, logs_key)
    stage = apigatewayv2.Stage(
        "ApiWsStage", ApiId=Ref(api), StageName=ctx.env, DeploymentId=Ref(deployment),
        AccessLogSettings=apigatewayv2.AccessLogSettings(DestinationArn=GetAtt(logs, "Arn"), Format=WS_ACCESS_LOG_FORMAT),
        DefaultRouteSettings=apigatewayv2.RouteSettings(ThrottlingRateLimit=ws.throttle.rate, ThrottlingBurstLimit=ws.throttle.burst,
                                                        # Off: WebSocket execution logs go to a group AWS does not document (so
                                                        # archc cannot create it encrypted); the access log records each
                                                        # message's status, integration error and error message.
                                                        LoggingLevel="OFF", DataTraceEnabled=False, DetailedMetricsEnabled=False),
        DependsOn=["ApiAccount"])
    permission = awslambda.Permission("ApiWsInvokePermission", FunctionName=function_arn, Action="lambda:InvokeFunction",
                                      Principal="apigateway.amazonaws.com",
                                      SourceArn=Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{ApiWsApi}}/{ctx.env}/*"))
    # The function answers on the connections it was called for (its role lives in the functions stack).
    manage = iam.PolicyType("ApiWsManageConnectionsPolicy", PolicyName="manage-connections",
                            Roles=[ctx.ref(FUNCTIONS, f"{logical_id('Fn', ws.function)}RoleName")],
                        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
                            Sid="PostToConnections", Effect=Allow, Action=[execute_api.ManageConnections],
                            Resource=[Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{ApiWsApi}}/{ctx.env}/POST/@connections/*")])]))
    record_wildcards(manage, manage.PolicyDocument.Statement)
    yield from (api, integration, *routes, deployment, logs, stage, permission, manage)
    for metric in ("IntegrationError", "ExecutionError") if alarms_on(ctx) else ():
        yield alarm(ctx, f"ApiWs{metric}Alarm", f"ws-{metric.lower()}", f"WebSocket API: more than 5 {metric} in 5 minutes",
                    namespace="AWS/ApiGateway", metric=metric, dimensions={"ApiId": Ref(api)}, statistic="Sum",
                    period=300, threshold=5, comparison="GreaterThanThreshold", evaluation_periods=1)
    yield ctx.output("WebSocketApiId", Ref(api), "WebSocket API id")
    yield ctx.output("WebSocketUrl", Sub(f"wss://${{ApiWsApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{ctx.env}"), "WebSocket URL")
