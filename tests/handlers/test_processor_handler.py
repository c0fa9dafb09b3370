"""handlers/processor/app.py against moto: an object put into a bucket whose notification targets a queue becomes the
message moto's S3 produced; the handler gets it in the shape Lambda's SQS event source delivers. The loop below plays
the event source mapping (receive, invoke, delete what succeeded, leave the reported failures)."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
ACCOUNT = "123456789012"

MAX_RECEIVES = 5
BUCKET = "fillup-dev-documents-us-east-1"


@pytest.fixture
def pipeline(processor_app, lambda_context, monkeypatch):
    """A versioned bucket notifying a queue (uploads/ prefix) with a dead-letter queue after 5 receives, the
    idempotency table, and the handler module."""
    monkeypatch.setenv("PROCESSED_TABLE", "fillup-dev-processed")
    with mock_aws():
        s3, sqs, ddb = (boto3.client(n, region_name=REGION) for n in ("s3", "sqs", "dynamodb"))
        dlq = sqs.create_queue(QueueName="fillup-dev-uploads-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="fillup-dev-uploads", Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})})["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}}]})
        ddb.create_table(TableName="fillup-dev-processed", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        p = {"s3": s3, "sqs": sqs, "ddb": ddb, "queue": queue, "queue_arn": queue_arn, "dlq": dlq, "app": processor_app,
             "context": lambda_context}
        # Writing the notification made S3 send its test event; the handler must take it and do nothing.
        p["test_events"] = receive(p)
        assert deliver(p, p["test_events"]) == []
        yield p


def receive(p, url=None) -> list[dict]:
    msgs = p["sqs"].receive_message(QueueUrl=url or p["queue"], MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    return msgs


def as_lambda_event(p, messages: list[dict]) -> dict:
    """The event Lambda's SQS event source passes to the function."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "attributes": m["Attributes"],
        "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": p["queue_arn"],
        "awsRegion": REGION} for m in messages]}


def deliver(p, messages: list[dict]) -> list[str]:
    """Invoke the handler with a batch; delete what succeeded (as Lambda does); return the failed message ids."""
    result = p["app"].handler(as_lambda_event(p, messages), p["context"])
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    for m in messages:
        if m["MessageId"] not in failed:
            p["sqs"].delete_message(QueueUrl=p["queue"], ReceiptHandle=m["ReceiptHandle"])
    return failed


def drain(p, rounds: int = 20) -> None:
    for _ in range(rounds):
        messages = receive(p)
        if not messages:
            return
        deliver(p, messages)


def records(p) -> list[dict]:
    return p["ddb"].scan(TableName="fillup-dev-processed")["Items"]


def test_an_uploaded_object_becomes_exactly_one_processed_record(pipeline, capsys):
    body = b"%PDF-1.7 quarterly report"
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/report q3+final.pdf", Body=body)
    pipeline["s3"].put_object(Bucket=BUCKET, Key="other/ignored.txt", Body=b"not under uploads/")
    [message] = receive(pipeline)
    record = json.loads(message["Body"])["Records"][0]
    assert record["eventName"].startswith("ObjectCreated:") and record["s3"]["object"]["key"] != "uploads/report q3+final.pdf"
    assert deliver(pipeline, [message]) == []
    [item] = records(pipeline)
    # The key URL-decoded; moto 5 leaves versionId out of the event (S3 sends it for versioned buckets): then the ETag.
    obj = record["s3"]["object"]
    assert item["id"]["S"] == f"{BUCKET}/uploads/report q3+final.pdf#{obj.get('versionId') or obj['eTag']}"
    assert item["status"]["S"] == "done"
    assert json.loads(item["result"]["S"]) == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert receive(pipeline) == []
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["message"] for entry in logs] == ["processed"] and logs[0]["level"] == "INFO"


def test_the_version_in_the_event_is_the_one_processed(pipeline):
    first = pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/v.txt", Body=b"one")["VersionId"]
    [message] = receive(pipeline)
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/v.txt", Body=b"two, longer")
    receive(pipeline)  # the second version's event, not delivered here
    body = json.loads(message["Body"])
    body["Records"][0]["s3"]["object"]["versionId"] = first  # as S3 writes it for a versioned bucket
    message["Body"] = json.dumps(body)
    assert deliver(pipeline, [message]) == []
    [item] = records(pipeline)
    assert item["id"]["S"].endswith(f"#{first}") and json.loads(item["result"]["S"])["bytes"] == 3


def test_a_duplicate_delivery_is_processed_once(pipeline, capsys):
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/a.txt", Body=b"a")
    [message] = receive(pipeline)
    calls = []
    original = pipeline["app"].process
    pipeline["app"].process = lambda *a: calls.append(a) or original(*a)
    assert deliver(pipeline, [message]) == []
    [first] = records(pipeline)
    # S3 delivers at least once: the same event again, as a new message.
    pipeline["sqs"].send_message(QueueUrl=pipeline["queue"], MessageBody=message["Body"])
    drain(pipeline)
    assert len(calls) == 1 and records(pipeline) == [first]
    assert "already processed" in capsys.readouterr().out


def test_s3_test_event_is_skipped(pipeline):
    [message] = pipeline["test_events"]  # sent by S3 when the notification was written (the fixture delivered it)
    assert json.loads(message["Body"])["Event"] == "s3:TestEvent"
    assert records(pipeline) == [] and receive(pipeline) == []


def test_a_poison_message_fails_alone_and_ends_in_the_dead_letter_queue(pipeline):
    pipeline["sqs"].send_message(QueueUrl=pipeline["queue"], MessageBody="not an S3 event")
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/good.txt", Body=b"fine")
    receives = 0
    for _ in range(MAX_RECEIVES + 3):
        messages = receive(pipeline)
        if not messages:
            break
        receives += 1
        failed = deliver(pipeline, messages)
        assert len(failed) == 1 and len(messages) - len(failed) in (0, 1)  # only the poison message is reported
    assert receives == MAX_RECEIVES
    assert [json.loads(r["result"]["S"])["bytes"] for r in records(pipeline)] == [4]
    [dead] = receive(pipeline, pipeline["dlq"])
    assert dead["Body"] == "not an S3 event"


def test_a_failure_inside_process_releases_the_claim_so_a_retry_can_succeed(pipeline):
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/flaky.txt", Body=b"x")
    [message] = receive(pipeline)
    original, attempts = pipeline["app"].process, []

    def flaky(*a):
        attempts.append(a)
        if len(attempts) == 1:
            raise TimeoutError("the parser gave up")
        return original(*a)

    pipeline["app"].process = flaky
    assert deliver(pipeline, [message]) == [message["MessageId"]]
    assert records(pipeline) == []
    drain(pipeline)
    assert len(attempts) == 2 and [r["status"]["S"] for r in records(pipeline)] == ["done"]


def test_the_account_in_the_events_is_the_mocked_one(pipeline):
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/x.txt", Body=b"x")
    [message] = receive(pipeline)
    assert pipeline["queue_arn"].split(":")[4] == ACCOUNT and json.loads(message["Body"])["Records"][0]["s3"]["bucket"]["name"] == BUCKET


def test_a_removed_object_event_is_skipped_not_failed(pipeline):
    pipeline["s3"].put_object(Bucket=BUCKET, Key="uploads/gone.txt", Body=b"x")
    [message] = receive(pipeline)
    pipeline["s3"].delete_object(Bucket=BUCKET, Key="uploads/gone.txt")
    body = json.loads(message["Body"])
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"  # what S3 sends for `on: [removed]`
    message["Body"] = json.dumps(body)
    assert deliver(pipeline, [message]) == [] and records(pipeline) == []
