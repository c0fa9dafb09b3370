"""The upload processor (seeds/004): S3 object events arrive wrapped in SQS messages; each object version is
processed once, and the messages that failed are reported back so that only they are retried.

- Skips the `s3:TestEvent` S3 sends when a notification is configured.
- Keys arrive URL-encoded (`+` for spaces): they are decoded before use.
- Idempotent: the PROCESSED_TABLE item `<bucket>/<key>#<version id or ETag>` is claimed with a conditional write
  before the work and marked done after it; a redelivered or duplicate event finds it done and does nothing. A claim
  held longer than the function's timeout (a crashed attempt) may be taken over.
- Partial batch responses (`ReportBatchItemFailures`): a failed message is named in `batchItemFailures`; after the
  queue's maxReceiveCount receives SQS moves it to the dead-letter queue.
- Logs one JSON object per line.

`process()` is the part an application replaces (the seed parses the document and stores its embeddings).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.parse
from typing import Any

import boto3
from botocore.exceptions import ClientError

RECORD_DAYS = 30  # processed records expire (TTL attribute expiresAt) after this
_clients: dict[str, Any] = {}


def _client(name: str):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def log(level: str, message: str, **fields: Any) -> None:
    print(json.dumps({"level": level, "message": message, **fields}, sort_keys=True, default=str), file=sys.stdout, flush=True)


def process(bucket: str, key: str, version: str | None) -> dict[str, Any]:
    """The work for one object version; returns what the processed record keeps. Replace with the application's own."""
    extra = {"VersionId": version} if version else {}
    body = _client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"]
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _records(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3 records of one SQS message ([] for S3's test event); ValueError when the body is not an S3 event."""
    try:
        body = json.loads(message["body"])
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"body is not JSON: {e}") from None
    if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(body, dict) or not isinstance(body.get("Records"), list):
        raise ValueError("body is not an S3 event notification")
    return body["Records"]


def _table():
    return _client("dynamodb"), os.environ["PROCESSED_TABLE"]


def _claim(item_id: str, now: float, lease_s: int) -> bool:
    """True when this invocation may process the object; False when it is already done. Raises when another attempt
    holds a live claim (the message is retried later)."""
    ddb, table = _table()
    try:
        ddb.put_item(TableName=table, Item={"id": {"S": item_id}, "status": {"S": "in_progress"},
                                            "leaseUntil": {"N": str(int(now + lease_s))},
                                            "expiresAt": {"N": str(int(now + RECORD_DAYS * 86400))}},
                     ConditionExpression="attribute_not_exists(id) OR (#s = :busy AND leaseUntil < :now)",
                     ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":busy": {"S": "in_progress"}, ":now": {"N": str(int(now))}})
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    current = ddb.get_item(TableName=table, Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item", {})
    if current.get("status", {}).get("S") == "done":
        return False
    raise RuntimeError(f"{item_id} is being processed by another attempt")


def _finish(item_id: str, result: dict[str, Any], now: float) -> None:
    ddb, table = _table()
    ddb.update_item(TableName=table, Key={"id": {"S": item_id}},
                    UpdateExpression="SET #s = :done, processedAt = :at, #r = :result REMOVE leaseUntil",
                    ExpressionAttributeNames={"#s": "status", "#r": "result"},
                    ExpressionAttributeValues={":done": {"S": "done"}, ":at": {"N": str(int(now))},
                                               ":result": {"S": json.dumps(result, sort_keys=True)}})


def _release(item_id: str) -> None:
    ddb, table = _table()
    try:
        ddb.delete_item(TableName=table, Key={"id": {"S": item_id}}, ConditionExpression="#s = :busy",
                        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":busy": {"S": "in_progress"}})
    except ClientError:
        pass  # the lease expires on its own


def handle_record(record: dict[str, Any], lease_s: int) -> str:
    """Process one S3 record; returns "processed", "duplicate" or "skipped" (events other than ObjectCreated)."""
    s3 = record["s3"]
    if not str(record.get("eventName", "ObjectCreated:")).startswith("ObjectCreated:"):
        log("INFO", "skipped event", eventName=record.get("eventName"), key=s3["object"]["key"])
        return "skipped"
    bucket = s3["bucket"]["name"]
    key = urllib.parse.unquote_plus(s3["object"]["key"])
    version = s3["object"].get("versionId")
    item_id = f"{bucket}/{key}#{version or s3['object'].get('eTag') or s3['object'].get('sequencer')}"
    now = time.time()
    if not _claim(item_id, now, lease_s):
        log("INFO", "already processed", id=item_id)
        return "duplicate"
    try:
        result = process(bucket, key, version)
    except Exception:
        _release(item_id)
        raise
    _finish(item_id, result, time.time())
    log("INFO", "processed", id=item_id, **result)
    return "processed"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lease_s = int(context.get_remaining_time_in_millis() / 1000) + 60 if context is not None else 960
    failures = []
    for message in event.get("Records", []):
        mid = message.get("messageId")
        try:
            records = _records(message)
            if not records:
                log("INFO", "skipped S3 test event", messageId=mid)
            for record in records:
                handle_record(record, lease_s)
        except Exception as e:  # noqa: BLE001 - every failure is reported per message, never for the whole batch
            log("ERROR", "message failed", messageId=mid, error=f"{type(e).__name__}: {e}",
                receiveCount=message.get("attributes", {}).get("ApproximateReceiveCount"))
            failures.append({"itemIdentifier": mid})
    return {"batchItemFailures": failures}
