"""The edge stack in us-east-1: certificate, WAF, Lambda@Edge functions and versions, the distribution with
origin failover, DNS records and CloudFront alarms."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from awacs import kms as akms
from awacs import logs as alogs
from awacs import s3 as as3
from awacs import ssm as assm
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import GetAtt, Ref, Sub, awslambda, certificatemanager, cloudfront as cf, iam, route53, wafv2

from compiler.app import Context
from compiler.spec import Spec
from compiler.spec.cdn import Cdn, EdgeFunction
from compiler.spec.regions import EDGE_REGION

from . import web
from .alarms import alarm
from .functions import ARTIFACT_BUCKET, artifact_bucket
from .secure import retain

CONCERN = "edge"
EDGE_ASSET = "@edge"  # the key of the edge code package among the assets
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"  # every CloudFront alias target (aws-facts.md section 1)
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # managed SecurityHeadersPolicy: HSTS, nosniff, frame and referrer policy
SAFE = ["GET", "HEAD", "OPTIONS"]
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
EVENTS = (("viewer_request", "viewer-request"), ("origin_request", "origin-request"), ("origin_response", "origin-response"))
MANAGED_RULES = {"core": "AWSManagedRulesCommonRuleSet", "known_bad_inputs": "AWSManagedRulesKnownBadInputsRuleSet",
                 "ip_reputation": "AWSManagedRulesAmazonIpReputationList", "sqli": "AWSManagedRulesSQLiRuleSet"}


def signing_parameter(spec: Spec, env: str) -> str:
    return spec.cdn.images.signing_parameter or f"/{spec.app}/{env}/edge/url-signing-key"


def used_events(cdn: Cdn) -> list[str]:
    """Which edge functions the distribution uses (all on the images behavior). The origin-request router is
    not attached: the cache behavior and its origin group already pick the origin, and a router that
    re-targets the S3 cache would undo the group's failover to the API (it runs for the secondary too)."""
    images = cdn.images
    if images is None:
        return []
    events = ["viewer_request"] if images.signed_urls else []
    if images.mode == "s3_first":
        events.append("origin_response")
    return events


def code_config(spec: Spec, env: str) -> dict | None:
    """config.json baked into the edge package (Lambda@Edge has no environment variables). No secrets: the
    signing key stays in SSM; the API is reached through the distribution, whose domain each event carries."""
    cdn = spec.cdn
    if not used_events(cdn):
        return None
    images = cdn.images
    prefix = images.path.rstrip("/") + "/"
    config: dict[str, Any] = {"origins": {}, "routes": [], "api_timeout_seconds": 10}
    if images.signed_urls:
        config["signing"] = {"parameter": signing_parameter(spec, env), "region": EDGE_REGION, "cache_seconds": 300,
                             "protected_prefixes": [prefix]}
    if images.mode == "s3_first":
        bucket = web.names(spec, env)["images"]
        region = spec.regions.primary
        config["origins"]["s3"] = {"type": "s3", "domain": web.regional_domain(bucket, region), "region": region,
                                   "path": "/" + images.cache_prefix.rstrip("/"), "auth_method": "none"}
        config["origins"]["api"] = {"type": "custom", "domain": "$distribution", "path": cdn.api_path}
        config["failover_origin"] = "api"
        config["write_back"] = {"enabled": images.write_back, "bucket": bucket, "region": region,
                                "prefix": images.cache_prefix, "cache_control": "max-age=31536000"}
    return config


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    cdn = spec.cdn
    yield from ([artifact_bucket()] if used_events(cdn) else [])
    versions = {}
    for event in used_events(cdn):
        objs = list(_edge_function(spec, ctx, event, getattr(cdn.edge, event)))
        versions[event] = objs[-1]
        yield from objs
    cert = None
    if cdn.domain and not cdn.certificate_arn:
        cert = certificatemanager.Certificate(
            "EdgeCertificate", DomainName=cdn.domain, ValidationMethod="DNS",
            DomainValidationOptions=[certificatemanager.DomainValidationOption(DomainName=cdn.domain, HostedZoneId=cdn.hosted_zone_id)])
        yield cert
    acl = _web_acl(cdn, ctx) if cdn.waf.enabled else None
    if acl is not None:
        yield acl
    oac = cf.OriginAccessControl("EdgeS3AccessControl", OriginAccessControlConfig=cf.OriginAccessControlConfig(
        Name=f"{ctx.prefix}-s3", OriginAccessControlOriginType="s3", SigningBehavior="always", SigningProtocol="sigv4",
        Description=f"{ctx.prefix}: CloudFront signs every request to the buckets"))
    assets_policy = cf.CachePolicy("EdgeAssetsCachePolicy", CachePolicyConfig=cf.CachePolicyConfig(
        Name=f"{ctx.prefix}-assets-1y", Comment="hashed assets: one year", MinTTL=31536000, DefaultTTL=31536000, MaxTTL=31536000,
        ParametersInCacheKeyAndForwardedToOrigin=cf.ParametersInCacheKeyAndForwardedToOrigin(
            EnableAcceptEncodingGzip=True, EnableAcceptEncodingBrotli=True,
            CookiesConfig=cf.CacheCookiesConfig(CookieBehavior="none"), HeadersConfig=cf.CacheHeadersConfig(HeaderBehavior="none"),
            QueryStringsConfig=cf.CacheQueryStringsConfig(QueryStringBehavior="none"))))
    yield from (oac, assets_policy)
    spa_function = None
    if cdn.site is not None and cdn.site.spa and cdn.site.spa_routing == "function":
        spa_function = cf.Function("EdgeSpaRoutingFunction", Name=f"{ctx.prefix}-spa-routing", AutoPublish=True,
                                   FunctionConfig=cf.FunctionConfig(Comment="site paths without a file extension -> index", Runtime="cloudfront-js-2.0"),
                                   FunctionCode=SPA_ROUTING_JS.replace("INDEX", cdn.site.index))
        yield spa_function
    dist = _distribution(spec, ctx, oac, assets_policy, cert, acl, versions, spa_function)
    yield dist
    if cdn.domain and cdn.hosted_zone_id:
        for kind in ("A", "AAAA"):
            yield route53.RecordSetType(f"Edge{kind}Record", HostedZoneId=cdn.hosted_zone_id, Name=cdn.domain, Type=kind,
                                        AliasTarget=route53.AliasTarget(DNSName=GetAtt(dist, "DomainName"), HostedZoneId=CLOUDFRONT_ZONE,
                                                                        EvaluateTargetHealth=False))
    yield alarm(ctx, "Edge5xxAlarm", "cdn-5xx", "CloudFront: more than 5% of requests answered 5xx in 2 of 3 five-minute periods",
                namespace="AWS/CloudFront", metric="5xxErrorRate", dimensions={"DistributionId": Ref(dist), "Region": "Global"},
                statistic="Average", period=300, threshold=5, comparison="GreaterThanThreshold", evaluation_periods=3, datapoints=2)
    yield ctx.output("DistributionId", Ref(dist), "CloudFront distribution id")
    yield ctx.output("DistributionArn", Sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${EdgeDistribution}"),
                     "CloudFront distribution ARN (the buckets trust only it)")
    yield ctx.output("DistributionDomain", GetAtt(dist, "DomainName"), "CloudFront domain name")


def _edge_function(spec: Spec, ctx: Context, event: str, fn: EdgeFunction) -> Iterable[Any]:
    """Role (trusting lambda and edgelambda), function and a version named by the code hash; all retained,
    since CloudFront's replicas only let go hours after the last association is removed."""
    base = "Edge" + "".join(p.capitalize() for p in event.split("_"))
    fname = f"{ctx.prefix}-edge-{event.replace('_', '-')}"
    asset = ctx.assets[EDGE_ASSET]
    statements = [Statement(Sid="OwnLogsEverywhere", Effect=Allow, Action=[alogs.CreateLogGroup, alogs.CreateLogStream, alogs.PutLogEvents],
                            Resource=[Sub(f"arn:${{AWS::Partition}}:logs:*:${{AWS::AccountId}}:log-group:/aws/lambda/us-east-1.{fname}:*")])]
    images = spec.cdn.images
    if event == "viewer_request":
        param = signing_parameter(spec, ctx.env)
        statements += [
            Statement(Sid="SigningKey", Effect=Allow, Action=[assm.GetParameter],
                      Resource=[Sub(f"arn:${{AWS::Partition}}:ssm:{EDGE_REGION}:${{AWS::AccountId}}:parameter{param}")]),
            # The SecureString's key is chosen when the parameter is created, so the key is "*"; but only through
            # SSM in us-east-1 and only for this one parameter (SSM puts its ARN in the encryption context).
            Statement(Sid="SigningKeyDecrypt", Effect=Allow, Action=[akms.Decrypt], Resource=["*"],
                      Condition=Condition(StringEquals({
                          "kms:ViaService": f"ssm.{EDGE_REGION}.amazonaws.com",
                          "kms:EncryptionContext:PARAMETER_ARN": Sub(f"arn:${{AWS::Partition}}:ssm:{EDGE_REGION}:${{AWS::AccountId}}:parameter{param}")}))),
        ]
    if event == "origin_response" and images.write_back:
        bucket = web.names(spec, ctx.env)["images"]
        statements.append(Statement(Sid="WriteBack", Effect=Allow, Action=[as3.PutObject],
                                    Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/{images.cache_prefix}*")]))
    role = iam.Role(f"{base}Role", AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]), Action=[AssumeRole])]),
        Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))])
    function = retain(awslambda.Function(
        f"{base}Function", FunctionName=fname, Role=GetAtt(role, "Arn"), Runtime=spec.cdn.edge.runtime,
        Handler=f"{event}.handler", Architectures=["x86_64"], MemorySize=fn.memory_mb, Timeout=fn.timeout_s,
        Code=awslambda.Code(S3Bucket=Ref(ARTIFACT_BUCKET), S3Key=asset.key),
        Description=f"{ctx.prefix} Lambda@Edge {event.replace('_', '-')}"))
    # A version is immutable: a new logical ID whenever the code or the function's settings change is what
    # brings them to CloudFront (the version snapshots both).
    digest = hashlib.sha256(json.dumps([asset.sha256, function.to_dict(), role.to_dict()], sort_keys=True, default=str).encode()).hexdigest()[:12]
    version = retain(awslambda.Version(f"{base}Version{digest}", FunctionName=Ref(function),
                                       Description=f"code {asset.sha256[:12]}, settings {digest}"))
    yield from (role, function, version)


def _web_acl(cdn: Cdn, ctx: Context) -> wafv2.WebACL:
    def visibility(name: str) -> wafv2.VisibilityConfig:
        return wafv2.VisibilityConfig(CloudWatchMetricsEnabled=True, MetricName=name, SampledRequestsEnabled=True)

    rules = [wafv2.WebACLRule(Name=MANAGED_RULES[r], Priority=i, OverrideAction=wafv2.OverrideAction(**{"None": {}}),
                              Statement=wafv2.Statement(ManagedRuleGroupStatement=wafv2.ManagedRuleGroupStatement(
                                  VendorName="AWS", Name=MANAGED_RULES[r])),
                              VisibilityConfig=visibility(MANAGED_RULES[r]))
             for i, r in enumerate(cdn.waf.managed_rules)]
    rules.append(wafv2.WebACLRule(Name="rate-limit-per-ip", Priority=len(rules), Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
                                  Statement=wafv2.Statement(RateBasedStatement=wafv2.RateBasedStatement(
                                      Limit=cdn.waf.rate_limit_per_5min, AggregateKeyType="IP", EvaluationWindowSec=300)),
                                  VisibilityConfig=visibility("rate-limit-per-ip")))
    return wafv2.WebACL("EdgeWebAcl", Name=f"{ctx.prefix}-edge", Scope="CLOUDFRONT", DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
                        Rules=rules, VisibilityConfig=visibility(f"{ctx.prefix}-edge"))


def _route_pattern(path: str) -> str:
    parts = ["*" if seg.startswith("{") else seg for seg in path.strip("/").split("/")]
    pattern = "/" + "/".join(parts)
    return pattern


SPA_ROUTING_JS = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) { request.uri = '/INDEX'; }
  return request;
}
"""


def _distribution(spec: Spec, ctx: Context, oac, assets_policy, cert, acl, versions, spa_function=None) -> cf.Distribution:
    cdn = spec.cdn
    primary, dr = spec.regions.primary, spec.regions.dr
    names = web.names(spec, ctx.env)
    origins = []

    def s3_origin(oid: str, output: str, path: str = "") -> cf.Origin:
        return cf.Origin(Id=oid, DomainName=ctx.ref(web.CONCERN, output, primary), OriginPath=path,
                         S3OriginConfig=cf.S3OriginConfig(OriginAccessIdentity=""), OriginAccessControlId=GetAtt(oac, "Id"))

    def api_origin(oid: str, region: str, path: str) -> cf.Origin:
        return cf.Origin(Id=oid, DomainName=ctx.ref("api", "RestApiDomain", region), OriginPath=path,
                         ConnectionAttempts=2, ConnectionTimeout=5,
                         CustomOriginConfig=cf.CustomOriginConfig(OriginProtocolPolicy="https-only", HTTPSPort=443,
                                                                  OriginSSLProtocols=["TLSv1.2"], OriginReadTimeout=30))

    if "site" in names:
        origins.append(s3_origin("site", "SiteBucketDomain"))
    origins.append(api_origin("api", primary, f"/{ctx.env}"))
    if dr:
        origins.append(api_origin("api-dr", dr, f"/{ctx.env}"))
    groups = []
    if dr:
        groups.append(_group("api-group", "api", "api-dr", [500, 502, 503, 504]))
    images = cdn.images
    if images is not None:
        # The image service answers under the API prefix; CloudFront adds the prefix as the origin path.
        origins.append(api_origin("images-api", primary, f"/{ctx.env}{cdn.api_path}"))
        if images.mode == "s3_first":
            origins.append(s3_origin("images-cache", "ImagesBucketDomain", "/" + images.cache_prefix.rstrip("/")))
            # S3 behind OAC answers 403 for a missing object; 404 and 5xx fail over too.
            groups.append(_group("images-group", "images-cache", "images-api", [403, 404, 500, 502, 503, 504]))

    api_target = "api-group" if dr else "api"
    behaviors = []
    rest = spec.api.rest
    by_pattern: dict[str, set[str]] = {}
    for method, path in rest.methods:
        by_pattern.setdefault(_route_pattern(path), set()).add(method)
    for pattern in sorted(by_pattern, key=lambda p: (p.count("*"), -len(p), p)):
        methods = by_pattern[pattern]
        reads_only = methods <= set(SAFE)
        # Origin groups take only GET/HEAD/OPTIONS: routes that write go straight to the primary API.
        behaviors.append(cf.CacheBehavior(
            PathPattern=pattern, TargetOriginId=api_target if reads_only else "api", ViewerProtocolPolicy="https-only",
            AllowedMethods=SAFE if reads_only else ALL_METHODS, CachedMethods=SAFE if reads_only else ["GET", "HEAD"], Compress=True,
            CachePolicyId=CACHING_DISABLED, OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST, ResponseHeadersPolicyId=SECURITY_HEADERS))
    if images is not None:
        assoc = [cf.LambdaFunctionAssociation(EventType=event_type, LambdaFunctionARN=Ref(versions[event]))
                 for event, event_type in EVENTS if event in versions]
        target = "images-group" if images.mode == "s3_first" else "images-api"
        behaviors.insert(0, cf.CacheBehavior(
            PathPattern=images.path.rstrip("/") + "/*", TargetOriginId=target, ViewerProtocolPolicy="redirect-to-https",
            AllowedMethods=SAFE if "OPTIONS" in images.methods else ["GET", "HEAD"],
            CachedMethods=SAFE if "OPTIONS" in images.methods else ["GET", "HEAD"],  # an uncached OPTIONS never fails over
            Compress=True, CachePolicyId=Ref(assets_policy), LambdaFunctionAssociations=assoc, ResponseHeadersPolicyId=SECURITY_HEADERS))
    if "site" in names:
        behaviors.append(cf.CacheBehavior(
            PathPattern=cdn.site.assets_path, TargetOriginId="site", ViewerProtocolPolicy="redirect-to-https",
            AllowedMethods=["GET", "HEAD"], CachedMethods=["GET", "HEAD"], Compress=True, CachePolicyId=Ref(assets_policy),
            ResponseHeadersPolicyId=SECURITY_HEADERS))
    default = cf.DefaultCacheBehavior(
        TargetOriginId="site" if "site" in names else api_target, ViewerProtocolPolicy="redirect-to-https",
        AllowedMethods=["GET", "HEAD"], CachedMethods=["GET", "HEAD"], Compress=True, CachePolicyId=CACHING_DISABLED,
        ResponseHeadersPolicyId=SECURITY_HEADERS)
    if spa_function is not None:
        default.FunctionAssociations = [cf.FunctionAssociation(EventType="viewer-request", FunctionARN=GetAtt(spa_function, "FunctionARN"))]
    config: dict[str, Any] = dict(
        Enabled=True, Comment=f"{ctx.prefix}", HttpVersion="http2and3", IPV6Enabled=True, PriceClass=cdn.price_class,
        Origins=origins, DefaultCacheBehavior=default, CacheBehaviors=behaviors,
        Logging=cf.Logging(Bucket=ctx.ref(web.CONCERN, "LogsBucketDomain", primary), Prefix="cloudfront/", IncludeCookies=False))
    if groups:
        config["OriginGroups"] = cf.OriginGroups(Quantity=len(groups), Items=groups)
    if "site" in names:
        config["DefaultRootObject"] = cdn.site.index
        if cdn.site.spa and cdn.site.spa_routing == "error_responses":
            config["CustomErrorResponses"] = [cf.CustomErrorResponse(ErrorCode=code, ResponseCode=200, ResponsePagePath=f"/{cdn.site.index}",
                                                                     ErrorCachingMinTTL=cdn.site.error_ttl_s) for code in (403, 404)]
    if cdn.domain:
        config["Aliases"] = [cdn.domain]
        config["ViewerCertificate"] = cf.ViewerCertificate(
            AcmCertificateArn=Ref(cert) if cert is not None else cdn.certificate_arn, SslSupportMethod="sni-only",
            MinimumProtocolVersion="TLSv1.2_2021")
    else:
        config["ViewerCertificate"] = cf.ViewerCertificate(CloudFrontDefaultCertificate=True)
    if acl is not None:
        config["WebACLId"] = GetAtt(acl, "Arn")
    return cf.Distribution("EdgeDistribution", DistributionConfig=cf.DistributionConfig(**config))


def _group(gid: str, primary: str, secondary: str, codes: list[int]) -> cf.OriginGroup:
    return cf.OriginGroup(Id=gid, FailoverCriteria=cf.OriginGroupFailoverCriteria(StatusCodes=cf.StatusCodes(Quantity=len(codes), Items=codes)),
                          Members=cf.OriginGroupMembers(Quantity=2, Items=[cf.OriginGroupMember(OriginId=primary),
                                                                           cf.OriginGroupMember(OriginId=secondary)]))
