"""Secure defaults, one small factory per service: every stateful resource is encrypted and retained."""

from __future__ import annotations

from typing import Any

from awacs import kms as akms
from awacs import sns as asns
from awacs.aws import Allow, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals, Bool, ArnLike
from troposphere import AccountId, GetAtt, Ref, Sub
from troposphere import kms, logs, sns

# Types that hold data (cfn-lint's StatefulResources; a test keeps this in step with it). Each one must
# carry DeletionPolicy and UpdateReplacePolicy Retain or Snapshot: compile checks it.
STATEFUL_TYPES = frozenset({
    "AWS::Backup::BackupVault", "AWS::CloudFormation::Stack", "AWS::Cognito::UserPool", "AWS::DocDB::DBCluster",
    "AWS::DocDB::DBInstance", "AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table", "AWS::EC2::Volume",
    "AWS::EFS::FileSystem", "AWS::EMR::Cluster", "AWS::ElastiCache::CacheCluster", "AWS::ElastiCache::ReplicationGroup",
    "AWS::Elasticsearch::Domain", "AWS::FSx::FileSystem", "AWS::KMS::Key", "AWS::Kinesis::Stream", "AWS::Logs::LogGroup",
    "AWS::Neptune::DBCluster", "AWS::Neptune::DBInstance", "AWS::OpenSearchService::Domain", "AWS::Organizations::Account",
    "AWS::QLDB::Ledger", "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::Redshift::Cluster", "AWS::S3::Bucket",
    "AWS::SDB::Domain", "AWS::SQS::Queue", "AWS::SecretsManager::Secret",
})
KEEP = ("Retain", "Snapshot", "RetainExceptOnCreate")


def retain(resource: Any, policy: str = "Retain") -> Any:
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource


def kms_key(logical_id: str, description: str, *, services: tuple[str, ...] = (), log_groups: tuple[str, ...] = ()) -> kms.Key:
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
    key = kms.Key(logical_id, Description=description, EnableKeyRotation=True, PendingWindowInDays=30,
                  KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=statements))
    return retain(key)


def log_group(logical_id: str, name: Any, retention_days: int, key: kms.Key) -> logs.LogGroup:
    """Encrypted with the stack's key, kept for the spec's retention, retained when the stack goes."""
    return retain(logs.LogGroup(logical_id, LogGroupName=name, RetentionInDays=retention_days, KmsKeyId=GetAtt(key, "Arn")))


def topic(logical_id: str, name: Any, key: kms.Key) -> sns.Topic:
    return sns.Topic(logical_id, TopicName=name, KmsMasterKeyId=Ref(key))


def topic_policy(logical_id: str, topic_ref: Any, publishers: tuple[str, ...]) -> sns.TopicPolicy:
    """Named AWS services of this account may publish; nobody may publish without TLS."""
    return sns.TopicPolicy(logical_id, Topics=[topic_ref], PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="ServicesPublish", Effect=Allow, Principal=Principal("Service", sorted(publishers)),
                  Action=[asns.Publish], Resource=[topic_ref],
                  Condition=Condition(StringEquals({"aws:SourceAccount": AccountId}))),
        Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[asns.Publish],
                  Resource=[topic_ref], Condition=Condition(Bool({"aws:SecureTransport": "false"}))),
    ]))




def bucket(logical_id: str, name: Any, *, lifecycle: list | None = None, access_logs: tuple[Any, str] | None = None,
           acl_writes: bool = False) -> Any:
    """Private, versioned, encrypted (SSE-S3, which CloudFront OAC and log delivery can use), retained.
    `acl_writes` keeps ACLs usable for CloudFront's standard log delivery, which writes with an ACL."""
    from troposphere import s3

    props: dict[str, Any] = dict(
        BucketName=name,
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"), BucketKeyEnabled=True)]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(
            ObjectOwnership="BucketOwnerPreferred" if acl_writes else "BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(Id="abort-incomplete-uploads", Status="Enabled",
                             AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7)),
            *(lifecycle or [])]))
    if access_logs is not None:
        target, prefix = access_logs
        props["LoggingConfiguration"] = s3.LoggingConfiguration(DestinationBucketName=target, LogFilePrefix=prefix)
    return retain(s3.Bucket(logical_id, **props))


def tls_only_statement(bucket_arn: Any) -> Statement:
    from awacs import s3 as as3

    return Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[as3.Action("*")],
                     Resource=[bucket_arn, Sub("${Arn}/*", Arn=bucket_arn)], Condition=Condition(Bool({"aws:SecureTransport": "false"})))
