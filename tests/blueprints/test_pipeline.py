"""Bucket events, queues feeding functions, container-image repositories and existing VPCs (seeds/004)."""

from __future__ import annotations

import json

import pytest

from ..conftest import props, resources


def _stmts(policy: dict) -> dict:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_bucket_event_goes_to_the_queue_whose_policy_names_the_bucket(templates, compiled):
    storage = templates[("prod", "ap-northeast-1", "fillup-prod-storage")]
    queues = templates[("prod", "ap-northeast-1", "fillup-prod-queues")]
    [config] = props(storage, "StorageDocumentsBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert config == {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::ImportValue": "fillup-prod-queues-UploadsQueueArn"},
                      "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}}
    send = _stmts(props(queues, "QueuesUploadsQueuePolicy")["PolicyDocument"])["BucketEvents"]
    assert send["Principal"] == {"Service": "s3.amazonaws.com"} and send["Action"] == ["sqs:SendMessage"]
    assert send["Condition"] == {"ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::fillup-prod-documents-ap-northeast-1"}},
                                 "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # S3 checks the queue policy when the notification is written: the queues stack deploys first.
    order = [sid for batch in compiled["manifests"]["prod"]["deploy_order"] for sid in batch]
    assert order.index("ap-northeast-1/fillup-prod-queues") < order.index("ap-northeast-1/fillup-prod-storage")


def test_the_queue_follows_aws_rules_for_a_lambda_consumer(templates):
    queues = templates[("prod", "ap-northeast-1", "fillup-prod-queues")]
    q = props(queues, "QueuesUploadsQueue")
    assert q["VisibilityTimeout"] == 6 * 300 + 5  # 6 x the processor's timeout + its batching window
    assert q["RedrivePolicy"]["maxReceiveCount"] == 5
    assert props(queues, "QueuesUploadsDeadLetterQueue")["MessageRetentionPeriod"] > q["MessageRetentionPeriod"]
    esm = props(templates[("prod", "ap-northeast-1", "fillup-prod-functions")], "FnProcessorUploadsEventSource")
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (esm["BatchSize"], esm["MaximumBatchingWindowInSeconds"], esm["ScalingConfig"]) == (10, 5, {"MaximumConcurrency": 5})
    assert esm["EventSourceArn"] == {"Fn::ImportValue": "fillup-prod-queues-UploadsQueueArn"}
    # Lambda polls a queue in its own region: the DR copy of the function has no event source.
    # The DR region's mapping waits for failover: its queue collects the events of the replicated uploads.
    [dr] = resources(templates[("prod", "us-west-2", "fillup-prod-functions")], "AWS::Lambda::EventSourceMapping").values()
    assert dr["Properties"]["Enabled"] is False


def test_the_consumer_may_receive_and_delete_and_is_told_the_names(templates):
    fns = templates[("prod", "ap-northeast-1", "fillup-prod-functions")]
    role = _stmts(props(fns, "FnProcessorRole")["Policies"][0]["PolicyDocument"])
    assert "sqs:ReceiveMessage" in role["QueueUploadsConsume"]["Action"] and "sqs:SendMessage" not in role["QueueUploadsConsume"]["Action"]
    assert role["BucketDocumentsReadWriteObjects"]["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::fillup-prod-documents-ap-northeast-1/*"}]
    env = props(fns, "FnProcessorFunction")["Environment"]["Variables"]
    assert env["DOCUMENTS_BUCKET"] == "fillup-prod-documents-ap-northeast-1" and env["PROCESSED_TABLE"] == "fillup-prod-processed"


def test_alarms_on_the_pipeline(templates):
    queues = templates[("prod", "ap-northeast-1", "fillup-prod-queues")]
    oldest = props(queues, "QueuesUploadsOldestMessageAlarm")
    assert (oldest["MetricName"], oldest["Threshold"], oldest["Statistic"]) == ("ApproximateAgeOfOldestMessage", 1805, "Maximum")
    dlq = props(queues, "QueuesUploadsDeadLetterAlarm")
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == ("ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    rate = props(templates[("prod", "ap-northeast-1", "fillup-prod-functions")], "FnProcessorErrorRateAlarm")
    assert rate["Threshold"] == 5 and [m["Id"] for m in rate["Metrics"]] == ["inv", "err", "rate"]


def test_repositories_are_scanned_immutable_encrypted_expiring_and_replicated(templates, compiled):
    for region in ("ap-northeast-1", "us-west-2"):
        repo = props(templates[("prod", region, "fillup-prod-images")], "ImagesProcessorRepository")
        assert repo["ImageTagMutability"] == "IMMUTABLE" and repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert repo["EncryptionConfiguration"] == {"EncryptionType": "KMS"}
        rule = json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])["rules"][0]
        assert rule["selection"]["countNumber"] == 20 and rule["action"] == {"type": "expire"}
        pull = repo["RepositoryPolicyText"]["Statement"][0]
        assert pull["Principal"] == {"Service": "lambda.amazonaws.com"} and "ecr:BatchGetImage" in pull["Action"]
    replication = props(templates[("prod", "ap-northeast-1", "fillup-prod-images")], "ImagesReplicationConfiguration")
    [rule] = replication["ReplicationConfiguration"]["Rules"]
    assert rule["Destinations"] == [{"Region": "us-west-2", "RegistryId": {"Ref": "AWS::AccountId"}}]
    assert rule["RepositoryFilters"][0]["Filter"] == {"Ref": "ReplicatedPrefixUsWest2"}
    # The DR repository exists before anything replicates into it (ECR would create it without these settings).
    order = [sid for batch in compiled["manifests"]["prod"]["deploy_order"] for sid in batch]
    assert order.index("us-west-2/fillup-prod-images") < order.index("ap-northeast-1/fillup-prod-images")


DIRECT = """
app: pipe
regions: {primary: eu-west-1}
buckets:
  raw: {encryption: s3, events: {landed: {on: [created, removed], suffix: .csv, to: functions.loader}}}
functions:
  loader: {bootstrap: true, uses: {buckets.raw: read}}
"""


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    from compiler.build import build_all

    root = tmp_path_factory.mktemp("direct")
    (root / "arch.yaml").write_text(DIRECT)
    result = build_all(root / "arch.yaml", None, root / "out")
    man = result.manifests["default"]
    return root / "out", man, {t.stack: json.loads((root / "out" / "default" / t.path).read_text()) for t in man.templates}


def test_direct_bucket_event_invokes_the_function_with_a_permission_first(direct):
    _, man, templates = direct
    perm = props(templates["pipe-default-functions"], "FnLoaderRawLandedS3Permission")
    assert perm["Principal"] == "s3.amazonaws.com" and perm["SourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::pipe-default-raw-eu-west-1"}
    assert perm["SourceAccount"] == {"Ref": "AWS::AccountId"}
    configs = props(templates["pipe-default-storage"], "StorageRawBucket")["NotificationConfiguration"]["LambdaConfigurations"]
    assert [c["Event"] for c in configs] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert configs[0]["Function"] == {"Fn::ImportValue": "pipe-default-functions-FnLoaderArn"}
    order = [sid for batch in man.deploy_order for sid in batch]
    assert order.index("eu-west-1/pipe-default-functions") < order.index("eu-west-1/pipe-default-storage")


def test_direct_form_and_existing_vpc_lint_clean(direct, tmp_path):
    from compiler.build import build_all
    from compiler.lint import lint_envs

    from ..conftest import ROOT

    report = lint_envs(direct[0], None, workers=1)
    assert report.linted == 2 and [f for f in report.findings if f.level in ("error", "warning")] == []
    build_all(ROOT / "tests/specs/leaves/existing.yaml", None, tmp_path)
    report = lint_envs(tmp_path, None, workers=1)
    assert report.linted == 3 and [f for f in report.findings if f.level in ("error", "warning")] == []


def test_an_existing_vpc_gets_only_what_the_spec_asks(tmp_path):
    from compiler.build import build_all

    from ..conftest import ROOT

    man = build_all(ROOT / "tests/specs/leaves/existing.yaml", None, tmp_path).manifests["default"]
    net = json.loads((tmp_path / "default" / "eu-west-1/leaves-default-network.json").read_text())
    types = sorted(r["Type"] for r in net["Resources"].values())
    # The data tier's group (there is a database) and the two gateway endpoints; the functions' group is the given one.
    assert types == ["AWS::EC2::SecurityGroup", "AWS::EC2::VPCEndpoint", "AWS::EC2::VPCEndpoint"]
    assert props(net, "NetworkS3Endpoint")["RouteTableIds"] == ["rtb-0123456789abcdef0"]
    assert net["Outputs"]["AppSecurityGroupId"]["Value"] == "sg-0123456789abcdef0"
    assert net["Outputs"]["DataSubnetIds"]["Value"] == "subnet-0123456789abcdef2,subnet-0123456789abcdef3"
    fn = json.loads((tmp_path / "default" / "eu-west-1/leaves-default-functions.json").read_text())
    vpc = props(fn, "FnWorkerFunction")["VpcConfig"]
    assert vpc["SecurityGroupIds"] == [{"Fn::ImportValue": "leaves-default-network-AppSecurityGroupId"}]
    assert len(man.templates) == 3


def test_a_queue_with_a_customer_managed_key_lets_s3_encrypt_the_events(tmp_path):
    from compiler.build import build_all

    from ..conftest import ROOT

    build_all(ROOT / "tests/specs/leaves/arch.yaml", None, tmp_path)
    queues = json.loads((tmp_path / "default" / "eu-west-1/leaves-default-queues.json").read_text())
    key = _stmts(props(queues, "QueuesKey")["KeyPolicy"])
    assert key["S3SendsEvents"]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert key["S3SendsEvents"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert props(queues, "QueuesJobsQueue")["KmsMasterKeyId"] == {"Fn::GetAtt": ["QueuesKey", "Arn"]}
