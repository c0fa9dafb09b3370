"""Secure defaults, one small factory per service. Precedence: archc's requirement > the user's setting > the default."""

from __future__ import annotations

from typing import Any

from awacs import kms as akms
from awacs import sns as asns
from awacs.aws import Allow, ArnLike, Bool, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import AccountId, GetAtt, Ref, Sub, iam, kms, logs, s3, sns, sqs

from compiler.awsdata import KEEP, STATEFUL_TYPES

from .exceptions import record_wildcards

__all__ = ["KEEP", "STATEFUL_TYPES", "retain", "kms_key", "log_group", "topic", "topic_policy", "bucket", "queue",
           "tls_only_statement", "tls_only", "service_role", "key_arn"]


def retain(resource: Any, policy: str = "Retain") -> Any:
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource


def kms_key(logical_id: str, description: str, *, services: tuple[str, ...] = (), log_groups: tuple[str, ...] = (),
            extra: tuple[Statement, ...] = ()) -> kms.Key:
    """A customer-managed key with yearly rotation; the account administers it, named services may use it, and
    CloudWatch Logs may use it for the log groups named (patterns such as `/aws/lambda/fillup-prod-*`) only."""
    statements = [
        Statement(Sid="AccountAdministers", Effect=Allow, Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                  Action=[akms.Action("*")], Resource=["*"]),
    ]
    if services:
        statements.append(Statement(
            Sid="ServicesEncrypt", Effect=Allow, Principal=Principal("Service", sorted(services)),
            Action=[akms.Decrypt, akms.GenerateDataKey, akms.Action("GenerateDataKey*"), akms.DescribeKey],
            Resource=["*"], Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))))
    if log_groups:
        arns = [Sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{g}") for g in sorted(log_groups)]
        statements.append(Statement(
            Sid="CloudWatchLogsEncrypt", Effect=Allow, Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
            Action=[akms.Encrypt, akms.Decrypt, akms.Action("ReEncrypt*"), akms.Action("GenerateDataKey*"), akms.DescribeKey],
            Resource=["*"],
            Condition=Condition(ArnLike({"kms:EncryptionContext:aws:logs:arn": arns if len(arns) > 1 else arns[0]}))))
    statements.extend(extra)
    key = kms.Key(logical_id, Description=description, EnableKeyRotation=True, PendingWindowInDays=30,
                  KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=statements))
    return retain(key)


def key_arn(key: Any) -> Any:
    """The ARN of a key made in this stack, or the ARN read from another stack as it is."""
    return GetAtt(key, "Arn") if isinstance(key, kms.Key) else key


def log_group(logical_id: str, name: Any, retention_days: int, key: Any) -> logs.LogGroup:
    """Encrypted with the stack's key (or a key ARN read from another stack), kept for the spec's retention, retained."""
    return retain(logs.LogGroup(logical_id, LogGroupName=name, RetentionInDays=retention_days, KmsKeyId=key_arn(key)))


def topic(logical_id: str, name: Any, key: kms.Key) -> sns.Topic:
    return sns.Topic(logical_id, TopicName=name, KmsMasterKeyId=Ref(key))


def topic_policy(logical_id: str, topic_ref: Any, publishers: tuple[str, ...]) -> sns.TopicPolicy:
    """Named AWS services of this account may publish; nobody may publish without TLS."""
    return sns.TopicPolicy(logical_id, Topics=[topic_ref], PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="ServicesPublish", Effect=Allow, Principal=Principal("Service", sorted(publishers)),
                  Action=[asns.Publish], Resource=[topic_ref],
                  Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))),
        deny_insecure_transport([topic_ref], asns.Publish),
    ]))


def bucket(logical_id: str, name: Any, *, versioning: bool = True, key: Any = None, lifecycle: list | None = None,
           access_logs: tuple[Any, str] | None = None, cors: list | None = None, acl_writes: bool = False) -> s3.Bucket:
    """Private, encrypted (SSE-S3, or SSE-KMS with `key`), retained, aborting incomplete uploads after 7 days.
    `acl_writes` keeps ACLs usable for CloudFront's standard log delivery, which writes with an ACL."""
    if key is None:
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
    else:
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn"))
    props: dict[str, Any] = dict(
        BucketName=name,
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=default, BucketKeyEnabled=True)]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(
            ObjectOwnership="BucketOwnerPreferred" if acl_writes else "BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(Id="abort-incomplete-uploads", Status="Enabled",
                             AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7)),
            *(lifecycle or [])]))
    if versioning:
        props["VersioningConfiguration"] = s3.VersioningConfiguration(Status="Enabled")
    if access_logs is not None:
        target, prefix = access_logs
        props["LoggingConfiguration"] = s3.LoggingConfiguration(DestinationBucketName=target, LogFilePrefix=prefix)
    if cors:
        props["CorsConfiguration"] = s3.CorsConfiguration(CorsRules=cors)
    return retain(s3.Bucket(logical_id, **props))


def queue(logical_id: str, name: str, *, retention_s: int, key: Any = None, **props: Any) -> sqs.Queue:
    """Encrypted (SSE-SQS, or a customer-managed key), retained."""
    encryption = {"SqsManagedSseEnabled": True} if key is None else {"KmsMasterKeyId": GetAtt(key, "Arn"), "KmsDataKeyReusePeriodSeconds": 300}
    return retain(sqs.Queue(logical_id, QueueName=name, MessageRetentionPeriod=retention_s, **encryption, **props))


def deny_insecure_transport(resources: list[Any], action: Any) -> Statement:
    """The one statement every resource policy carries: nobody may use the resource without TLS."""
    return Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[action], Resource=resources,
                     Condition=Condition(Bool({"aws:SecureTransport": "false"})))


def tls_only_statement(bucket_arn: Any) -> Statement:
    from awacs import s3 as as3

    return deny_insecure_transport([bucket_arn, Sub("${Arn}/*", Arn=bucket_arn)], as3.Action("*"))


def tls_only(resource: Any, action: Any) -> PolicyDocument:
    """A resource policy refusing every request without TLS."""
    return PolicyDocument(Version="2012-10-17", Statement=[deny_insecure_transport([resource], action)])


def service_role(logical_id: str, services: str | list[str], statements: list[Statement], **props: Any) -> iam.Role:
    """A role only the named AWS services assume, with one inline least-privilege policy; each wildcard in it is recorded
    with its reason where scanners read it."""
    role = iam.Role(logical_id, AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", services), Action=[AssumeRole])]),
        Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
        **props)
    return record_wildcards(role, statements)
