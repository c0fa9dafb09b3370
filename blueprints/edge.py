"""The edge stack in us-east-1: per distribution its certificate, WAF, edge functions (Lambda@Edge versions and
CloudFront Functions), origin access controls, the distribution with its origins, groups and behaviors, DNS and alarm."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterable

from awacs import kms as akms
from awacs import logs as alogs
from awacs import s3 as as3
from awacs import ssm as assm
from awacs.aws import Allow, Condition, Statement, StringEquals
from troposphere import GetAtt, Ref, Sub, awslambda, certificatemanager, cloudfront as cf, route53, wafv2

from compiler.awsdata import (ALL_METHODS, ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED, CACHING_OPTIMIZED, CLOUDFRONT_ZONE,
                              EDGE_EVENTS, SAFE_METHODS, SECURITY_HEADERS)
from compiler.context import Context
from compiler.facts import BUILTIN_HANDLERS, EdgeFn, fetch_signer
from compiler.naming import API, FUNCTIONS, ORIGIN_VERIFY_HEADER, STORAGE, camel, edge_function_name, logical_id, signing_parameter
from compiler.spec import Distribution
from compiler.spec.cdn import EdgeFunction, Origin
from compiler.spec.regions import EDGE_REGION

from .exceptions import GEO_RESTRICTION, newest_runtime, record, settings
from .api import origin_verify_value
from .parts import ARTIFACT_BUCKET, alarm, alarms_on, artifact_bucket, bucket_arn, waf_visibility
from .secure import retain, service_role

MANAGED_RULES = {"core": "AWSManagedRulesCommonRuleSet", "known_bad_inputs": "AWSManagedRulesKnownBadInputsRuleSet",
                 "ip_reputation": "AWSManagedRulesAmazonIpReputationList", "sqli": "AWSManagedRulesSQLiRuleSet"}
METHODS = {"read": (["GET", "HEAD"], ["GET", "HEAD"]), "read-options": (list(SAFE_METHODS), list(SAFE_METHODS)),
           "all": (list(ALL_METHODS), ["GET", "HEAD"])}
SPA_ROUTING_JS = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) { request.uri = '/INDEX'; }
  return request;
}
"""


def build(cdn: dict[str, Distribution], ctx: Context) -> Iterable[Any]:
    if any(not cdn[f.distribution].edge_functions[f.name].cloudfront_function for f in ctx.facts.edge_functions):
        yield artifact_bucket()
    for name, dist in cdn.items():
        yield from _distribution_and_parts(name, dist, ctx)


def _distribution_and_parts(dname: str, dist: Distribution, ctx: Context) -> Iterable[Any]:
    base = logical_id("Edge", dname)
    functions: dict[str, Any] = {}  # edge function name -> the Version or CloudFront Function to associate
    for edge in (f for f in ctx.facts.edge_functions if f.distribution == dname):
        objs = list(_edge_function(ctx, dist, edge, dist.edge_functions[edge.name]))
        functions[edge.name] = objs[-1]
        yield from objs
    cert = None
    if dist.domain and not dist.certificate_arn:
        cert = certificatemanager.Certificate(
            f"{base}Certificate", DomainName=dist.domain, ValidationMethod="DNS",
            DomainValidationOptions=[certificatemanager.DomainValidationOption(DomainName=dist.domain, HostedZoneId=dist.hosted_zone_id)])
        yield cert
    acl = _web_acl(f"{base}WebAcl", f"{ctx.prefix}-{dname}", dist) if dist.waf.enabled else None
    if acl is not None:
        yield acl
    kinds = {o.kind for o in dist.origins.values()}
    oac = {}
    for kind, otype in (("bucket", "s3"), ("function_url", "lambda")):
        if kind in kinds:
            oac[kind] = cf.OriginAccessControl(f"{base}{camel(otype)}AccessControl", OriginAccessControlConfig=cf.OriginAccessControlConfig(
                Name=f"{ctx.prefix}-{dname}-{otype}", OriginAccessControlOriginType=otype, SigningBehavior="always",
                SigningProtocol="sigv4", Description=f"{ctx.prefix} {dname}: CloudFront signs every request to the {otype} origins"))
            yield oac[kind]
    immutable = None
    if any(b.cache == "immutable" for b in dist.behaviors.values()):
        immutable = cf.CachePolicy(f"{base}ImmutableCachePolicy", CachePolicyConfig=cf.CachePolicyConfig(
            Name=f"{ctx.prefix}-{dname}-1y", Comment="immutable objects: one year", MinTTL=31536000, DefaultTTL=31536000,
            MaxTTL=31536000, ParametersInCacheKeyAndForwardedToOrigin=cf.ParametersInCacheKeyAndForwardedToOrigin(
                EnableAcceptEncodingGzip=True, EnableAcceptEncodingBrotli=True,
                CookiesConfig=cf.CacheCookiesConfig(CookieBehavior="none"), HeadersConfig=cf.CacheHeadersConfig(HeaderBehavior="none"),
                QueryStringsConfig=cf.CacheQueryStringsConfig(QueryStringBehavior="none"))))
        yield immutable
    spa = None
    if dist.spa is not None and dist.spa.routing == "function":
        spa = cf.Function(f"{base}SpaRoutingFunction", Name=f"{ctx.prefix}-{dname}-spa-routing", AutoPublish=True,
                          FunctionConfig=cf.FunctionConfig(Comment="paths without a file extension -> index", Runtime="cloudfront-js-2.0"),
                          FunctionCode=SPA_ROUTING_JS.replace("INDEX", dist.index))
        yield spa
    config = _config(dname, dist, ctx, oac, immutable, functions, spa)
    if cert is not None or dist.certificate_arn:
        config["Aliases"] = [dist.domain]
        config["ViewerCertificate"] = cf.ViewerCertificate(
            AcmCertificateArn=Ref(cert) if cert is not None else dist.certificate_arn, SslSupportMethod="sni-only",
            MinimumProtocolVersion="TLSv1.2_2021")
    else:
        config["ViewerCertificate"] = cf.ViewerCertificate(CloudFrontDefaultCertificate=True)
    if acl is not None:
        config["WebACLId"] = GetAtt(acl, "Arn")
    distribution = record(cf.Distribution(f"{base}Distribution", DistributionConfig=cf.DistributionConfig(**config)), GEO_RESTRICTION,
                          "archc offers no geographic restriction: the distribution serves viewers in every country, as the spec's "
                          "users do; WAF's rate limit and managed rules apply everywhere")
    yield distribution
    if dist.domain and dist.hosted_zone_id:
        for kind in ("A", "AAAA"):
            yield route53.RecordSetType(f"{base}{camel(kind.lower())}Record", HostedZoneId=dist.hosted_zone_id, Name=dist.domain, Type=kind,
                                        AliasTarget=route53.AliasTarget(DNSName=GetAtt(distribution, "DomainName"),
                                                                        HostedZoneId=CLOUDFRONT_ZONE, EvaluateTargetHealth=False))
    if alarms_on(ctx):
        yield alarm(ctx, f"{base}5xxAlarm", f"cdn-{dname}-5xx",
                    f"CloudFront {dname}: more than 5% of requests answered 5xx in 2 of 3 five-minute periods",
                    namespace="AWS/CloudFront", metric="5xxErrorRate", dimensions={"DistributionId": Ref(distribution), "Region": "Global"},
                    statistic="Average", period=300, threshold=5, comparison="GreaterThanThreshold", evaluation_periods=3, datapoints=2)
    out = logical_id(dname, "Distribution")
    yield ctx.output(f"{out}Id", Ref(distribution), f"CloudFront distribution {dname}")
    yield ctx.output(f"{out}Arn", Sub(f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{base}Distribution}}"),
                     f"CloudFront distribution {dname} ARN (its origins trust only it)")
    yield ctx.output(f"{out}Domain", GetAtt(distribution, "DomainName"), f"CloudFront distribution {dname} domain name")


def _config(dname: str, dist: Distribution, ctx: Context, oac: dict, immutable: Any, functions: dict, spa: Any) -> dict[str, Any]:
    spec = ctx.spec
    primary = spec.regions.primary
    origins, groups = [], []
    for oname, origin in dist.origins.items():
        if spec.fails_over(origin) and not _grouped(spec, origin):
            # The primary region is lost: the DR copy is the origin, for writes too (dr.failover).
            origins.append(_origin(oname, origin, ctx, oac, spec.regions.dr))
            continue
        origins.append(_origin(oname, origin, ctx, oac, primary))
        if not spec.fails_over(origin):
            continue
        twin = origin.failover.origin
        if twin is None:
            twin = f"{oname}-dr"
            origins.append(_origin(twin, origin, ctx, oac, ctx.spec.regions.dr))
        codes = list(origin.failover_codes)
        groups.append(cf.OriginGroup(
            Id=f"{oname}-group", FailoverCriteria=cf.OriginGroupFailoverCriteria(StatusCodes=cf.StatusCodes(Quantity=len(codes), Items=codes)),
            Members=cf.OriginGroupMembers(Quantity=2, Items=[cf.OriginGroupMember(OriginId=oname), cf.OriginGroupMember(OriginId=twin)])))
    behaviors = []
    default = None
    for pattern, b in dist.behaviors.items():
        origin = dist.origins[b.origin]
        allowed, cached = METHODS[b.methods]
        cache = b.cache or ("optimized" if origin.kind == "bucket" else "disabled")
        props: dict[str, Any] = dict(
            TargetOriginId=f"{b.origin}-group" if _grouped(spec, origin) and b.failover else b.origin,
            ViewerProtocolPolicy="https-only" if origin.kind == "api" else "redirect-to-https",
            AllowedMethods=allowed, CachedMethods=cached, Compress=True, ResponseHeadersPolicyId=SECURITY_HEADERS,
            CachePolicyId={"disabled": CACHING_DISABLED, "optimized": CACHING_OPTIMIZED}.get(cache) or Ref(immutable))
        if origin.kind in ("api", "function_url"):
            props["OriginRequestPolicyId"] = ALL_VIEWER_EXCEPT_HOST
        attached = sorted(b.edge.items(), key=lambda item: EDGE_EVENTS.index(item[0]))
        lambdas = [cf.LambdaFunctionAssociation(EventType=event, LambdaFunctionARN=Ref(functions[f]))
                   for event, f in attached if not dist.edge_functions[f].cloudfront_function]
        cff = [cf.FunctionAssociation(EventType=event, FunctionARN=GetAtt(functions[f], "FunctionARN"))
               for event, f in attached if dist.edge_functions[f].cloudfront_function]
        if pattern == "default" and spa is not None:
            cff.append(cf.FunctionAssociation(EventType="viewer-request", FunctionARN=GetAtt(spa, "FunctionARN")))
        if lambdas:
            props["LambdaFunctionAssociations"] = lambdas
        if cff:
            props["FunctionAssociations"] = cff
        if pattern == "default":
            default = cf.DefaultCacheBehavior(**props)
        else:
            behaviors.append(cf.CacheBehavior(PathPattern=pattern, **props))
    config: dict[str, Any] = dict(
        Enabled=True, Comment=f"{ctx.prefix} {dname}", HttpVersion="http2and3", IPV6Enabled=True, PriceClass=dist.price_class,
        Origins=origins, DefaultCacheBehavior=default)
    if behaviors:
        config["CacheBehaviors"] = behaviors
    if groups:
        config["OriginGroups"] = cf.OriginGroups(Quantity=len(groups), Items=groups)
    if dist.logging:
        config["Logging"] = cf.Logging(Bucket=ctx.ref(STORAGE, "LogsBucketDomain", primary), Prefix=f"cloudfront/{dname}/", IncludeCookies=False)
    if dist.index is not None:
        config["DefaultRootObject"] = dist.index
    errors = []
    if dist.spa is not None and dist.spa.routing == "error_responses":
        errors += [cf.CustomErrorResponse(ErrorCode=code, ResponseCode=200, ResponsePagePath=f"/{dist.index}",
                                          ErrorCachingMinTTL=dist.spa.error_ttl_s) for code in (403, 404)]
    if dist.error_page is not None:
        # The page, with the origin's own status: a 5xx stays a 5xx for monitors and clients.
        errors += [cf.CustomErrorResponse(ErrorCode=code, ResponseCode=code, ResponsePagePath=dist.error_page.path,
                                          ErrorCachingMinTTL=dist.error_page.ttl_s) for code in sorted(dist.error_page.codes)]
    if errors:
        config["CustomErrorResponses"] = errors
    return config


def _grouped(spec: Any, origin: Origin) -> bool:
    """Served by an origin group: it has a twin, unless the twin is its DR copy and the DR region has taken over."""
    return spec.fails_over(origin) and not (spec.failed_over and origin.failover.region == "dr")


def _origin(oid: str, origin: Origin, ctx: Context, oac: dict, region: str) -> cf.Origin:
    """One CloudFront origin; `region` is where the API or function URL lives (the primary, or the DR twin's)."""
    if origin.kind == "bucket":
        return cf.Origin(Id=oid, DomainName=ctx.ref(STORAGE, logical_id(origin.bucket, "BucketDomain"), region), OriginPath=origin.path,
                         S3OriginConfig=cf.S3OriginConfig(OriginAccessIdentity=""), OriginAccessControlId=GetAtt(oac["bucket"], "Id"))
    custom = cf.CustomOriginConfig(OriginProtocolPolicy="https-only", HTTPSPort=443, OriginSSLProtocols=["TLSv1.2"], OriginReadTimeout=30)
    props: dict[str, Any] = dict(Id=oid, ConnectionAttempts=2, ConnectionTimeout=5, CustomOriginConfig=custom, OriginPath=origin.path)
    if origin.kind == "api":
        # The stage is part of every REST path: CloudFront adds it (and the origin's own path) in front.
        props.update(DomainName=ctx.ref(API, "RestApiDomain", region), OriginPath=f"/{ctx.env}{origin.path}")
        if ctx.spec.api.rest.origin_verify:
            # Overwrites a viewer's header of the same name (CloudFront's rule for origin custom headers).
            props["OriginCustomHeaders"] = [cf.OriginCustomHeader(HeaderName=ORIGIN_VERIFY_HEADER, HeaderValue=origin_verify_value(ctx.ref(API, "OriginVerifySecretName", region)))]
    elif origin.kind == "function_url":
        props.update(DomainName=ctx.ref(FUNCTIONS, f"{logical_id('Fn', origin.function_url)}UrlDomain", region),
                     OriginAccessControlId=GetAtt(oac["function_url"], "Id"))
    else:
        props["DomainName"] = origin.http
    return cf.Origin(**props)


def _edge_function(ctx: Context, dist: Distribution, edge: EdgeFn, fn: EdgeFunction) -> Iterable[Any]:
    """A CloudFront Function, or a Lambda@Edge role (trusting lambda and edgelambda), function and a version named by
    its code and settings; all retained, since CloudFront's replicas let go only hours after the last association."""
    base = logical_id("Edge", edge.distribution, edge.name)
    fname = edge_function_name(ctx.prefix, edge.distribution, edge.name)
    asset = ctx.assets[edge.asset]
    if fn.cloudfront_function:
        yield cf.Function(f"{base}Function", Name=fname, AutoPublish=True, FunctionCode=asset.body.decode(),
                          FunctionConfig=cf.FunctionConfig(Comment=f"{ctx.prefix} {edge.distribution} {edge.name}", Runtime=fn.runtime))
        return
    statements = [Statement(Sid="OwnLogsEverywhere", Effect=Allow, Action=[alogs.CreateLogGroup, alogs.CreateLogStream, alogs.PutLogEvents],
                            Resource=[Sub(f"arn:${{AWS::Partition}}:logs:*:${{AWS::AccountId}}:log-group:/aws/lambda/us-east-1.{fname}:*")])]
    statements += _builtin_statements(ctx, dist, edge, fn)
    role = service_role(f"{base}Role", ["edgelambda.amazonaws.com", "lambda.amazonaws.com"], statements)
    function = retain(awslambda.Function(
        f"{base}Function", FunctionName=fname, Role=GetAtt(role, "Arn"), Runtime=fn.runtime,
        Handler=BUILTIN_HANDLERS.get(fn.builtin, fn.handler), Architectures=["x86_64"], MemorySize=fn.memory_mb, Timeout=fn.timeout_s,
        Code=awslambda.Code(S3Bucket=Ref(ARTIFACT_BUCKET), S3Key=asset.key),
        Description=f"{ctx.prefix} {edge.distribution} Lambda@Edge {edge.name} ({', '.join(edge.events)})"))
    # A version is immutable: a new logical ID whenever the code or the function's settings change is what
    # brings them to CloudFront (the version snapshots both).
    digest = hashlib.sha256(json.dumps([asset.sha256, settings(function), settings(role)], sort_keys=True, default=str).encode()).hexdigest()[:12]
    newest_runtime(function, fn.runtime)
    version = retain(awslambda.Version(f"{base}Version{digest}", FunctionName=Ref(function),
                                       Description=f"code {asset.sha256[:12]}, settings {digest}"))
    yield from (role, function, version)


def _builtin_statements(ctx: Context, dist: Distribution, edge: EdgeFn, fn: EdgeFunction) -> list[Statement]:
    if fn.builtin == "signed_urls":
        return _signing_key(ctx, fn)
    statements = []
    signer = fetch_signer(ctx.spec, edge) if fn.builtin == "fetch_on_miss" else None
    if signer is not None:  # it signs its call to the API with the key the behavior it passes through checks
        statements += _signing_key(ctx, signer)
    if fn.builtin == "fetch_on_miss" and fn.write_back:
        origin = dist.origins[dist.behaviors[edge.patterns[0]].origin]
        bucket = ctx.facts.bucket_names[origin.bucket]
        prefix = origin.path.strip("/") + "/" if origin.path else ""
        statements.append(Statement(Sid="WriteBack", Effect=Allow, Action=[as3.PutObject], Resource=[bucket_arn(bucket, f"{prefix}*")]))
        if ctx.spec.buckets[origin.bucket].encryption == "kms":  # the object is encrypted with the bucket's key, through S3 there
            primary = ctx.spec.regions.primary
            statements.append(Statement(Sid="WriteBackKey", Effect=Allow, Action=[akms.GenerateDataKey],
                                        Resource=[ctx.ref(STORAGE, "BucketsKeyArn", primary)],
                                        Condition=Condition(StringEquals({"kms:ViaService": f"s3.{primary}.amazonaws.com"}))))
    return statements


def _signing_key(ctx: Context, fn: EdgeFunction) -> list[Statement]:
    """Read (and decrypt) the URL-signing key of a signed_urls function."""
    param = fn.signing_parameter or signing_parameter(ctx.spec.app, ctx.env)
    param_arn = Sub(f"arn:${{AWS::Partition}}:ssm:{EDGE_REGION}:${{AWS::AccountId}}:parameter{param}")
    return [
        Statement(Sid="SigningKey", Effect=Allow, Action=[assm.GetParameter], Resource=[param_arn]),
        # The SecureString's key is chosen when the parameter is created, so the key is "*"; but only through
        # SSM in us-east-1 and only for this one parameter (SSM puts its ARN in the encryption context).
        Statement(Sid="SigningKeyDecrypt", Effect=Allow, Action=[akms.Decrypt], Resource=["*"],
                  Condition=Condition(StringEquals({"kms:ViaService": f"ssm.{EDGE_REGION}.amazonaws.com",
                                                    "kms:EncryptionContext:PARAMETER_ARN": param_arn}))),
    ]


WAF_REGEX_MAX = 512  # characters in one RegexString


def _uri_regex(patterns: list[str]) -> wafv2.Statement:
    """The request paths matching any of CloudFront's path patterns (`*` any characters, `?` one), as WAF regexes of at
    most 512 characters each."""
    chunks: list[list[str]] = [[]]
    for p in patterns:
        alternative = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p)
        if chunks[-1] and len("^(?:)$") + len("|".join(chunks[-1] + [alternative])) > WAF_REGEX_MAX:
            chunks.append([])
        chunks[-1].append(alternative)
    regexes = [wafv2.Statement(RegexMatchStatement=wafv2.RegexMatchStatement(
        FieldToMatch=wafv2.FieldToMatch(UriPath={}), RegexString=f"^(?:{'|'.join(c)})$",
        TextTransformations=[wafv2.TextTransformation(Priority=0, Type="NONE")])) for c in chunks]
    return regexes[0] if len(regexes) == 1 else wafv2.Statement(OrStatement=wafv2.OrStatement(Statements=regexes))


def write_paths(dist: Distribution) -> wafv2.Statement | None:
    """The request paths CloudFront sends to a `methods: all` behavior: those its pattern matches and no earlier pattern
    does (CloudFront takes the first that matches; the default takes what none matches). None when there is none."""
    patterns = [p for p in dist.behaviors if p != "default"]
    statements = []
    for i, pattern in enumerate(list(dist.behaviors)):
        if dist.behaviors[pattern].methods != "all":
            continue
        earlier = patterns[:i] if pattern != "default" else patterns
        if pattern == "default":
            if not earlier:
                return wafv2.Statement(RegexMatchStatement=wafv2.RegexMatchStatement(
                    FieldToMatch=wafv2.FieldToMatch(UriPath={}), RegexString="^/",
                    TextTransformations=[wafv2.TextTransformation(Priority=0, Type="NONE")]))
            statements.append(wafv2.Statement(NotStatement=wafv2.NotStatement(Statement=_uri_regex(earlier))))
        elif earlier:
            statements.append(wafv2.Statement(AndStatement=wafv2.AndStatement(Statements=[
                _uri_regex([pattern]), wafv2.Statement(NotStatement=wafv2.NotStatement(Statement=_uri_regex(earlier)))])))
        else:
            statements.append(_uri_regex([pattern]))
    if not statements:
        return None
    return statements[0] if len(statements) == 1 else wafv2.Statement(OrStatement=wafv2.OrStatement(Statements=statements))


def _web_acl(logical: str, name: str, dist: Distribution) -> wafv2.WebACL:
    visibility = waf_visibility
    # The core rule set blocks bodies over 8 KB (SizeRestrictions_BODY); the paths CloudFront sends to `methods: all`
    # behaviors may carry more (API Gateway takes 10 MB): the rule only counts, and a rule after it blocks on its label
    # everywhere else.
    writes = write_paths(dist)
    rules = []
    for r in dist.waf.managed_rules:
        group = wafv2.ManagedRuleGroupStatement(VendorName="AWS", Name=MANAGED_RULES[r])
        if r == "core" and writes is not None:
            group.RuleActionOverrides = [wafv2.RuleActionOverride(Name="SizeRestrictions_BODY", ActionToUse=wafv2.RuleAction(Count=wafv2.CountAction()))]
        rules.append(wafv2.WebACLRule(Name=MANAGED_RULES[r], Priority=len(rules), OverrideAction=wafv2.OverrideAction(**{"None": {}}),
                                      Statement=wafv2.Statement(ManagedRuleGroupStatement=group), VisibilityConfig=visibility(MANAGED_RULES[r])))
        if r == "core" and writes is not None:
            rules.append(wafv2.WebACLRule(
                Name="body-size-outside-writes", Priority=len(rules), Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
                VisibilityConfig=visibility("body-size-outside-writes"),
                Statement=wafv2.Statement(AndStatement=wafv2.AndStatement(Statements=[
                    wafv2.Statement(LabelMatchStatement=wafv2.LabelMatchStatement(
                        Scope="LABEL", Key="awswaf:managed:aws:core-rule-set:SizeRestrictions_Body")),
                    wafv2.Statement(NotStatement=wafv2.NotStatement(Statement=writes))]))))
    rules.append(wafv2.WebACLRule(Name="rate-limit-per-ip", Priority=len(rules), Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
                                  Statement=wafv2.Statement(RateBasedStatement=wafv2.RateBasedStatement(
                                      Limit=dist.waf.rate_limit_per_5min, AggregateKeyType="IP", EvaluationWindowSec=300)),
                                  VisibilityConfig=visibility("rate-limit-per-ip")))
    return wafv2.WebACL(logical, Name=name, Scope="CLOUDFRONT", DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
                        Rules=rules, VisibilityConfig=visibility(name))
