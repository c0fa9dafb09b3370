"""The storage stack in the primary region: the spec's buckets and, when anything logs to S3, the log bucket."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import s3 as as3
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import AccountId, GetAtt, Ref, Sub, s3

from compiler.context import Context
from compiler.naming import FUNCTIONS, QUEUES, logical_id
from compiler.spec import Bucket, Spec
from compiler.spec.storage import S3_EVENTS, LifecycleRule

from .secure import bucket, kms_key, tls_only_statement

LOGS_ID = "StorageLogsBucket"


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    facts = ctx.facts
    logs = None
    if facts.logs_bucket is not None:
        logs = bucket(LOGS_ID, facts.logs_bucket, acl_writes=True, lifecycle=[
            s3.LifecycleRule(Id="expire-logs", Status="Enabled", ExpirationInDays=spec.logs.retention_days,
                             NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1))])
        yield logs
        # S3 server access logs arrive through the logging service, limited to this account's buckets.
        yield s3.BucketPolicy("StorageLogsBucketPolicy", Bucket=Ref(logs), PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="ServerAccessLogs", Effect=Allow, Principal=Principal("Service", "logging.s3.amazonaws.com"),
                      Action=[as3.PutObject], Resource=[Sub(f"${{{LOGS_ID}.Arn}}/s3/*")],
                      Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))),
            tls_only_statement(GetAtt(logs, "Arn")),
        ]))
        yield ctx.output("LogsBucketDomain", GetAtt(logs, "DomainName"), "bucket for CloudFront and S3 access logs")
    key = None
    if any(b.encryption == "kms" for b in spec.buckets.values()):
        # CloudFront reads SSE-KMS objects through origin access control only when the key lets it (cdn-access adds nothing
        # to a key policy): the service principal may decrypt for this account's distributions.
        key = kms_key("StorageBucketsKey", f"{ctx.prefix} bucket encryption",
                      services=("cloudfront.amazonaws.com",) if facts.bucket_readers else ())
        yield key
        yield ctx.output("BucketsKeyArn", GetAtt(key, "Arn"), "KMS key of the buckets encrypted with kms")
    for name, spec_bucket in spec.buckets.items():
        yield from _bucket(name, spec_bucket, ctx, logs, key if spec_bucket.encryption == "kms" else None)


def _bucket(name: str, b: Bucket, ctx: Context, logs: Any, key: Any) -> Iterable[Any]:
    lid = logical_id("Storage", name, "Bucket")
    cors = None
    if b.cors is not None:
        c = b.cors
        rule: dict[str, Any] = dict(AllowedOrigins=c.origins, AllowedMethods=c.methods, MaxAge=c.max_age_s)
        if c.headers:
            rule["AllowedHeaders"] = c.headers
        if c.expose_headers:
            rule["ExposedHeaders"] = c.expose_headers
        cors = [s3.CorsRules(**rule)]
    res = bucket(lid, ctx.facts.bucket_names[name], versioning=b.versioning, key=key, cors=cors,
                 lifecycle=[_rule(rid, r) for rid, r in b.lifecycle.items()],
                 access_logs=(Ref(logs), f"s3/{name}/") if b.access_logs and logs is not None else None)
    if b.access_logs and logs is not None:
        res.DependsOn = ["StorageLogsBucketPolicy"]
    if b.events:
        res.NotificationConfiguration = _notifications(b, ctx)
    yield res
    yield ctx.output(logical_id(name, "BucketArn"), GetAtt(res, "Arn"), f"bucket {name}")
    yield ctx.output(logical_id(name, "BucketDomain"), GetAtt(res, "RegionalDomainName"), f"bucket {name}, regional domain")


def _notifications(b: Bucket, ctx: Context) -> s3.NotificationConfiguration:
    """S3 checks each destination when the configuration is written: the queue's policy and the function's permission
    are in stacks deployed before this one (the edges below), each naming this bucket by its name."""
    queues, functions = [], []
    for ename, ev in b.events.items():
        kind, target = ev.target
        rules = [s3.Rules(Name=n, Value=v) for n, v in (("prefix", ev.prefix), ("suffix", ev.suffix)) if v is not None]
        extra = {"Filter": s3.Filter(S3Key=s3.S3Key(Rules=rules))} if rules else {}
        for kind_of_event in ev.on:
            if kind == "queues":
                queues.append(s3.QueueConfigurations(Event=S3_EVENTS[kind_of_event], Queue=ctx.ref(QUEUES, logical_id(target, "QueueArn")),
                                                     **extra))
            else:
                functions.append(s3.LambdaConfigurations(Event=S3_EVENTS[kind_of_event],
                                                         Function=ctx.ref(FUNCTIONS, logical_id("Fn", target, "Arn")), **extra))
    props: dict[str, Any] = {}
    if queues:
        props["QueueConfigurations"] = queues
    if functions:
        props["LambdaConfigurations"] = functions
    return s3.NotificationConfiguration(**props)


def _rule(rid: str, r: LifecycleRule) -> s3.LifecycleRule:
    props: dict[str, Any] = dict(Id=rid, Status="Enabled")
    if r.prefix is not None:
        props["Prefix"] = r.prefix
    if r.expire_days is not None:
        props["ExpirationInDays"] = r.expire_days
    if r.transitions:
        props["Transitions"] = [s3.LifecycleRuleTransition(StorageClass=t.storage_class, TransitionInDays=t.days) for t in r.transitions]
    if r.noncurrent_expire_days is not None:
        props["NoncurrentVersionExpiration"] = s3.NoncurrentVersionExpiration(NoncurrentDays=r.noncurrent_expire_days)
    if r.noncurrent_transitions:
        props["NoncurrentVersionTransitions"] = [s3.NoncurrentVersionTransition(StorageClass=t.storage_class, TransitionInDays=t.days)
                                                 for t in r.noncurrent_transitions]
    return s3.LifecycleRule(**props)

