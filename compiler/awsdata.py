"""AWS facts archc relies on, as plain data (no troposphere, no boto3): limits, stateful types, managed IDs."""

from __future__ import annotations

# CloudFormation limits per stack (aws-facts.md section 10).
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_PARAMETERS = 200
INLINE_BODY_LIMIT = 51_200  # bytes; a larger template is sent through S3 (TemplateURL)
URL_BODY_LIMIT = 1_048_576  # 1 MB through TemplateURL

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

# CloudFront (aws-facts.md section 3).
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"  # every CloudFront alias target
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # managed SecurityHeadersPolicy: HSTS, nosniff, frame and referrer policy
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
EDGE_EVENTS = ("viewer-request", "origin-request", "origin-response", "viewer-response")
