"""The storage stacks: in the primary region the spec's buckets and, when anything logs to S3, the log bucket; in the DR
region the copies of the replicated buckets (deployed first: S3 checks a replication destination when it is written)."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import kms as akms
from awacs import s3 as as3
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import AccountId, GetAtt, Ref, Sub, s3

from compiler.context import Context
from compiler.naming import CDN_ACCESS, FUNCTIONS, QUEUES, STORAGE, logical_id
from compiler.spec import Bucket, Spec
from compiler.spec.dr import minutes
from compiler.spec.storage import S3_EVENTS, LifecycleRule

from .exceptions import tls_policy
from .parts import alarm, alarms_on, bucket_arn
from .secure import bucket, kms_key, service_role, tls_only_statement

LOGS_ID = "StorageLogsBucket"


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    facts = ctx.facts
    here = {b: n for b in spec.buckets if (n := facts.bucket_in(b, ctx.region))}
    logs = None
    logs_name = facts.logs_bucket if ctx.primary else facts.dr_logs_bucket
    if logs_name is not None:
        logs = bucket(LOGS_ID, logs_name, acl_writes=True, lifecycle=[_rule("expire-logs", LifecycleRule(
            expire_days=spec.logs.retention_days, transitions=spec.logs.transitions, noncurrent_expire_days=1))])
        yield logs
        # S3 server access logs arrive through the logging service, limited to this account's buckets.
        tls_policy(logs, "StorageLogsBucketPolicy")
        yield tls_policy(s3.BucketPolicy("StorageLogsBucketPolicy", Bucket=Ref(logs), PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="ServerAccessLogs", Effect=Allow, Principal=Principal("Service", "logging.s3.amazonaws.com"),
                      Action=[as3.PutObject], Resource=[Sub(f"${{{LOGS_ID}.Arn}}/s3/*")],
                      Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))),
            tls_only_statement(GetAtt(logs, "Arn")),
        ])), "StorageLogsBucketPolicy")
        yield ctx.output("LogsBucketDomain", GetAtt(logs, "DomainName"), "bucket for CloudFront and S3 access logs")
    key = None
    if any(spec.buckets[b].encryption == "kms" for b in here):
        # CloudFront reads SSE-KMS objects through origin access control only when the key lets it (cdn-access adds nothing
        # to a key policy): the service principal may decrypt for this account's distributions.
        key = kms_key("StorageBucketsKey", f"{ctx.prefix} bucket encryption",
                      services=("cloudfront.amazonaws.com",) if any(b in facts.bucket_readers for b in here) else ())
        yield key
        yield ctx.output("BucketsKeyArn", GetAtt(key, "Arn"), "KMS key of the buckets encrypted with kms")
    replicated = spec.replicated("buckets") if ctx.primary else []
    role = None
    if replicated:
        role = _replication_role(spec, ctx, replicated, key)
        yield role
    for name, s3_name in here.items():
        b = spec.buckets[name]
        res = list(_bucket(name, s3_name, b, ctx, logs, key if b.encryption == "kms" else None))
        if name in replicated:
            res[0].ReplicationConfiguration = _replication(name, b, ctx, role)
        yield from res
        if name in replicated and alarms_on(ctx):
            yield from _replication_alarms(name, s3_name, ctx)


def _replication(name: str, b: Bucket, ctx: Context, role: Any) -> s3.ReplicationConfiguration:
    """Every object and delete marker to the DR copy, within 15 minutes (Replication Time Control, which needs the metrics),
    in the seed's storage class; SSE-KMS objects re-encrypted with the DR region's key."""
    dr = ctx.spec.regions.dr
    destination: dict[str, Any] = dict(
        Bucket=ctx.ref(STORAGE, logical_id(name, "BucketArn"), dr), StorageClass=ctx.spec.dr.replica_storage_class,
        Metrics=s3.Metrics(Status="Enabled", EventThreshold=s3.ReplicationTimeValue(Minutes=15)),
        ReplicationTime=s3.ReplicationTime(Status="Enabled", Time=s3.ReplicationTimeValue(Minutes=15)))
    rule: dict[str, Any] = dict(Id="dr", Status="Enabled", Priority=0, Filter=s3.ReplicationRuleFilter(Prefix=""),
                                DeleteMarkerReplication=s3.DeleteMarkerReplication(Status="Enabled"))
    if b.encryption == "kms":
        destination["EncryptionConfiguration"] = s3.EncryptionConfiguration(ReplicaKmsKeyID=ctx.ref(STORAGE, "BucketsKeyArn", dr))
        rule["SourceSelectionCriteria"] = s3.SourceSelectionCriteria(SseKmsEncryptedObjects=s3.SseKmsEncryptedObjects(Status="Enabled"))
    return s3.ReplicationConfiguration(Role=GetAtt(role, "Arn"), Rules=[s3.ReplicationConfigurationRules(
        Destination=s3.ReplicationConfigurationRulesDestination(**destination), **rule)])


def _replication_role(spec: Spec, ctx: Context, names: list[str], key: Any) -> Any:
    """S3 assumes it to copy: reads versions from the sources, writes replicas to the copies. Both by name, so the role
    needs neither the buckets nor the copies to exist first (the buckets name the role: a GetAtt would make a cycle)."""
    dr = spec.regions.dr
    facts = ctx.facts
    sources = [facts.bucket_names[n] for n in names]
    copies = [facts.replica_names[n] for n in names]
    statements = [
        Statement(Sid="ReadSources", Effect=Allow, Action=[as3.GetReplicationConfiguration, as3.ListBucket],
                  Resource=[bucket_arn(b) for b in sources]),
        Statement(Sid="ReadVersions", Effect=Allow, Resource=[bucket_arn(b, "*") for b in sources],
                  Action=[as3.GetObjectVersionForReplication, as3.GetObjectVersionAcl, as3.GetObjectVersionTagging]),
        Statement(Sid="WriteCopies", Effect=Allow, Action=[as3.ReplicateObject, as3.ReplicateDelete, as3.ReplicateTags],
                  Resource=[bucket_arn(b, "*") for b in copies]),
    ]
    if any(spec.buckets[n].encryption == "kms" for n in names):
        statements += [
            Statement(Sid="DecryptSources", Effect=Allow, Action=[akms.Decrypt], Resource=[GetAtt(key, "Arn")],
                      Condition=Condition(StringEquals({"kms:ViaService": f"s3.{spec.regions.primary}.amazonaws.com"}))),
            Statement(Sid="EncryptCopies", Effect=Allow, Action=[akms.Encrypt, akms.GenerateDataKey],
                      Resource=[ctx.ref(STORAGE, "BucketsKeyArn", dr)],
                      Condition=Condition(StringEquals({"kms:ViaService": f"s3.{dr}.amazonaws.com"}))),
        ]
    return service_role("StorageReplicationRole", "s3.amazonaws.com", statements)


def _replication_alarms(name: str, s3_name: str, ctx: Context) -> Iterable[Any]:
    dims = {"SourceBucket": s3_name, "DestinationBucket": ctx.facts.replica_names[name], "RuleId": "dr"}
    base = logical_id("Storage", name)
    yield alarm(ctx, f"{base}ReplicationFailedAlarm", f"{name}-replication-failed", f"bucket {name}: objects failed to replicate "
                "to the DR region", namespace="AWS/S3", metric="OperationsFailedReplication", dimensions=dims, statistic="Sum",
                period=300, threshold=0, comparison="GreaterThanThreshold", evaluation_periods=1, missing="ignore")
    rpo_s = minutes(ctx.spec.dr.rpo) * 60
    yield alarm(ctx, f"{base}ReplicationLatencyAlarm", f"{name}-replication-latency", f"bucket {name}: replication to the DR region "
                f"is over the {ctx.spec.dr.rpo} RPO behind", namespace="AWS/S3", metric="ReplicationLatency", dimensions=dims,
                statistic="Maximum", period=300, threshold=rpo_s, comparison="GreaterThanThreshold", evaluation_periods=2, missing="ignore")


def _bucket(name: str, s3_name: str, b: Bucket, ctx: Context, logs: Any, key: Any) -> Iterable[Any]:
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
    res = bucket(lid, s3_name, versioning=b.versioning, key=key, cors=cors,
                 lifecycle=[_rule(rid, r) for rid, r in b.lifecycle.items()],
                 access_logs=(Ref(logs), f"s3/{name}/") if b.access_logs and logs is not None else None)
    if b.access_logs and logs is not None:
        res.DependsOn = ["StorageLogsBucketPolicy"]
    if b.events and ctx.region in ctx.spec.compute_regions:  # the copy sends its events too, to the DR region's queues
        res.NotificationConfiguration = _notifications(b, ctx)
    if name in ctx.facts.bucket_readers:
        # One policy per bucket: the cdn-access stack's, which lets the distributions read, also refuses plain HTTP.
        yield tls_policy(res, f"{logical_id('CdnAccess', name, 'BucketPolicy')} ({CDN_ACCESS} stack)")
    else:
        policy = logical_id("Storage", name, "BucketPolicy")
        yield tls_policy(res, policy)
        yield tls_policy(s3.BucketPolicy(policy, Bucket=Ref(res), PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[tls_only_statement(GetAtt(res, "Arn"))])), policy)
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

