"""The web stacks in the primary region: the site, image-cache and log buckets (`web`), and, once the distribution
exists, the bucket policies that let only that distribution read them (`web-access`)."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import s3 as as3
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import AccountId, GetAtt, Ref, Sub, s3

from compiler.app import Context
from compiler.spec import Spec
from compiler.spec.regions import EDGE_REGION

from .secure import bucket, tls_only_statement

CONCERN = "web"
ACCESS_CONCERN = "web-access"


def names(spec: Spec, env: str) -> dict[str, str]:
    """Bucket names archc chooses, so other regions and the edge code can use them at compile time."""
    base = f"{spec.app}-{env}"
    region = spec.regions.primary
    out = {"logs": f"{base}-logs-{region}"}
    if spec.cdn.site is not None:
        out["site"] = f"{base}-site-{region}"
    if spec.cdn.images is not None and spec.cdn.images.mode == "s3_first":
        out["images"] = f"{base}-images-{region}"
    return out


def regional_domain(name: str, region: str) -> str:
    return f"{name}.s3.{region}.amazonaws.com"


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    cdn = spec.cdn
    n = names(spec, ctx.env)
    logs = bucket("WebLogsBucket", n["logs"], acl_writes=True, lifecycle=[
        s3.LifecycleRule(Id="expire-logs", Status="Enabled", ExpirationInDays=cdn.log_retention_days,
                         NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1))])
    yield logs
    # S3 server access logs arrive through the logging service, limited to this account's buckets.
    yield s3.BucketPolicy("WebLogsBucketPolicy", Bucket=Ref(logs), PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="ServerAccessLogs", Effect=Allow, Principal=Principal("Service", "logging.s3.amazonaws.com"),
                  Action=[as3.PutObject], Resource=[Sub("${WebLogsBucket.Arn}/s3/*")],
                  Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))),
        tls_only_statement(GetAtt(logs, "Arn")),
    ]))
    if "site" in n:
        site = bucket("WebSiteBucket", n["site"], access_logs=(Ref(logs), "s3/site/"), lifecycle=[
            s3.LifecycleRule(Id="expire-old-versions", Status="Enabled",
                             NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=cdn.site.noncurrent_days))])
        site.DependsOn = ["WebLogsBucketPolicy"]
        yield site
        yield ctx.output("SiteBucketDomain", GetAtt(site, "RegionalDomainName"), "site bucket, reached only through CloudFront")
    if "images" in n:
        images = cdn.images
        cache = bucket("WebImagesBucket", n["images"], access_logs=(Ref(logs), "s3/images/"), lifecycle=[
            s3.LifecycleRule(Id="expire-cache", Status="Enabled", Prefix=images.cache_prefix, ExpirationInDays=images.expire_days,
                             NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1))])
        cache.DependsOn = ["WebLogsBucketPolicy"]
        yield cache
        yield ctx.output("ImagesBucketDomain", GetAtt(cache, "RegionalDomainName"), "image cache bucket, reached only through CloudFront")
    yield ctx.output("LogsBucketDomain", GetAtt(logs, "DomainName"), "bucket for CloudFront and S3 access logs")


def build_access(spec: Spec, ctx: Context) -> Iterable[Any]:
    """Only this environment's distribution may read the buckets, and only over TLS (a second pass after the edge)."""
    distribution = ctx.ref("edge", "DistributionArn", EDGE_REGION)
    for key, lid in (("site", "WebSiteBucketPolicy"), ("images", "WebImagesBucketPolicy")):
        name = names(spec, ctx.env).get(key)
        if name is None:
            continue
        arn = Sub(f"arn:${{AWS::Partition}}:s3:::{name}")
        yield s3.BucketPolicy(lid, Bucket=name, PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="CloudFrontReads", Effect=Allow, Principal=Principal("Service", "cloudfront.amazonaws.com"),
                      Action=[as3.GetObject], Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{name}/*")],
                      Condition=Condition(StringEquals({"AWS:SourceArn": distribution}))),
            tls_only_statement(arn),
        ]))
