"""FillUp WebSocket Lambda handler (API Gateway v2 WebSocket API, Lambda proxy integration).

# IAM: dynamodb:PutItem, dynamodb:GetItem, dynamodb:DeleteItem, dynamodb:Scan, execute-api:ManageConnections

Handler string: ``app.handler`` (this folder is the code root of the function). The route comes from
``event["requestContext"]["routeKey"]`` (RouteSelectionExpression ``$request.body.action``):

    $connect      put {connectionId, connectedAt, expiresAt, principal} into CONNECTIONS_TABLE (conditional put;
                  a retried $connect for the same id is not an error). Returning non-2xx refuses the connection.
                  ``principal`` is who signed the connection request (API Gateway authorizes $connect with IAM):
                  the Cognito identity id when the credentials came from an identity pool, else the caller's ARN.
    $disconnect   delete the item.
    $default      reply to the sender only (PostToConnection) with a help message naming the valid actions.
    sendMessage   body {"action": "sendMessage", "message": "<text, at most 32 KB UTF-8>"}: post
                  {"type": "message", "message": ..., "from": <the sender's principal>, "sentAt": ...} to every
                  live connection, so every message is attributable to an authenticated sender; a sender whose
                  connection is not registered gets 403. A connection that answers GoneException (410) is
                  deleted from the table.

A validation failure returns {"statusCode": 400, "body": <error JSON>} in the FillUp error format
(seeds/001): {"error": {"code", "message", "requestId", "timestamp"}}. Because a WebSocket integration's
return value reaches the client only when a route response is configured, the same error JSON is also
posted (best effort) to the sender.

Table: partition key ``connectionId`` (S); TTL attribute ``expiresAt`` (epoch seconds) = connection time
+ 2 h (API Gateway's maximum connection duration). DynamoDB TTL deletes lazily, so the broadcast Scan also
filters out expired items.

Environment:
    CONNECTIONS_TABLE   DynamoDB table name (required for every route but $default).
    WEBSOCKET_ENDPOINT  optional Management API endpoint override (tests, custom domains); default
                        ``https://{requestContext.domainName}/{requestContext.stage}``.
    LOG_LEVEL           DEBUG | INFO (default) | WARNING | ERROR.
    AWS_REGION          set by Lambda; used by boto3 for both clients.

IAM actions used (nothing else): dynamodb:PutItem ($connect), dynamodb:DeleteItem ($disconnect and gone
connections), dynamodb:GetItem and dynamodb:Scan (sendMessage), execute-api:ManageConnections (PostToConnection on
``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/POST/@connections/*``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

CONNECTION_TTL_SECONDS = 2 * 60 * 60  # API Gateway WebSocket maximum connection duration
MAX_MESSAGE_BYTES = 32 * 1024  # cap on the "message" text, UTF-8 encoded
MAX_POST_BYTES = 128 * 1024  # PostToConnection Data limit
BROADCAST_WORKERS = 16
VALID_ACTIONS = ("sendMessage",)

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)


# --------------------------------------------------------------------------------------------------- logging


class _JsonLineHandler(logging.Handler):
    """Writes each record as one JSON line to the *current* sys.stdout (Lambda ships stdout to CloudWatch)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line: dict[str, Any] = {
                "timestamp": _iso_now(),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            line.update(getattr(record, "fields", None) or {})
            if record.exc_info:
                line["exception"] = logging.Formatter().formatException(record.exc_info)
            sys.stdout.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except Exception:  # pragma: no cover - logging must never break a request
            self.handleError(record)


logger = logging.getLogger("fillup.websocket")
for _h in [h for h in logger.handlers if h.get_name() == "fillup-json"]:  # module re-import: no duplicates
    logger.removeHandler(_h)
_handler = _JsonLineHandler()
_handler.set_name("fillup-json")
logger.addHandler(_handler)
logger.propagate = False
_level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
logger.setLevel(_level if _level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO")


# --------------------------------------------------------------------------------------------------- helpers


class WsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(code: str, message: str, request_id: str | None) -> dict[str, Any]:
    """The FillUp error format (seeds/001)."""
    return {"error": {"code": code, "message": message, "requestId": request_id, "timestamp": _iso_now()}}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _response(status: int, body: Any | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"statusCode": status}
    if body is not None:
        out["body"] = _dumps(body)
    return out


# Clients are cached per warm container (one per endpoint for the Management API).
_CLIENTS: dict[str, Any] = {}


def _dynamodb():
    if "dynamodb" not in _CLIENTS:
        _CLIENTS["dynamodb"] = boto3.client("dynamodb", config=_CLIENT_CONFIG)
    return _CLIENTS["dynamodb"]


def _management(request_context: dict[str, Any]):
    endpoint = os.environ.get("WEBSOCKET_ENDPOINT", "").strip().rstrip("/")
    if not endpoint:
        domain, stage = request_context.get("domainName"), request_context.get("stage")
        if not domain or not stage:
            raise RuntimeError("requestContext lacks domainName/stage and WEBSOCKET_ENDPOINT is unset")
        endpoint = f"https://{domain}/{stage}"
    key = "mgmt:" + endpoint
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    return _CLIENTS[key]


def _table() -> str:
    name = os.environ.get("CONNECTIONS_TABLE", "").strip()
    if not name:
        raise RuntimeError("CONNECTIONS_TABLE is not set")
    return name


def _is_gone(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code") == "GoneException" or status == 410


def _parse_body(event: dict[str, Any]) -> Any:
    raw = event.get("body")
    if raw is None or raw == "":
        raise WsError(400, "BAD_REQUEST", "Message body must be a JSON object")
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8") if event.get("isBase64Encoded") else raw
        return json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise WsError(400, "BAD_REQUEST", "Message body must be valid JSON") from None


def _post(client: Any, connection_id: str, data: bytes) -> str:
    """Post to one connection: 'ok' | 'gone' | 'failed'."""
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
        return "ok"
    except ClientError as exc:
        if _is_gone(exc):
            return "gone"
        logger.warning("post_to_connection failed", extra={"fields": {
            "connectionId": connection_id, "errorCode": exc.response.get("Error", {}).get("Code")}})
        return "failed"
    except BotoCoreError as exc:
        logger.warning("post_to_connection failed", extra={"fields": {
            "connectionId": connection_id, "errorCode": type(exc).__name__}})
        return "failed"


def _delete_connection(connection_id: str) -> None:
    _dynamodb().delete_item(TableName=_table(), Key={"connectionId": {"S": connection_id}})


def _live_connection_ids() -> list[str]:
    now = int(time.time())
    ids: list[str] = []
    pages = _dynamodb().get_paginator("scan").paginate(
        TableName=_table(),
        ProjectionExpression="connectionId",
        FilterExpression="attribute_not_exists(expiresAt) OR expiresAt > :now",
        ExpressionAttributeValues={":now": {"N": str(now)}},
    )
    for page in pages:
        ids.extend(item["connectionId"]["S"] for item in page.get("Items", []))
    return ids


# --------------------------------------------------------------------------------------------------- routes


def _principal(ctx: dict[str, Any]) -> str | None:
    """Who signed the $connect request: the Cognito identity id (identity pool credentials), else the caller's ARN."""
    identity = ctx.get("identity") or {}
    return identity.get("cognitoIdentityId") or identity.get("userArn")


def on_connect(event: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    connection_id = ctx["connectionId"]
    connected_at = int((ctx.get("connectedAt") or time.time() * 1000) // 1000)
    item = {
        "connectionId": {"S": connection_id},
        "connectedAt": {"N": str(connected_at)},
        "expiresAt": {"N": str(connected_at + CONNECTION_TTL_SECONDS)},
    }
    if _principal(ctx):
        item["principal"] = {"S": _principal(ctx)}
    try:
        _dynamodb().put_item(
            TableName=_table(),
            Item=item,
            ConditionExpression="attribute_not_exists(connectionId)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        logger.info("connection already registered", extra={"fields": {"connectionId": connection_id}})
    return _response(200)


def on_disconnect(event: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    _delete_connection(ctx["connectionId"])
    return _response(200)


def on_default(event: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    action = None
    try:
        body = _parse_body(event)
        action = body.get("action") if isinstance(body, dict) else None
    except WsError:
        pass
    help_msg = {
        "type": "help",
        "message": (f"Unknown action {action!r}. " if isinstance(action, str) else "")
        + "Valid actions: " + ", ".join(VALID_ACTIONS)
        + '. Send {"action": "sendMessage", "message": "<text>"}.',
        "validActions": list(VALID_ACTIONS),
    }
    result = _post(_management(ctx), ctx["connectionId"], _dumps(help_msg).encode("utf-8"))
    if result == "gone":
        _delete_connection(ctx["connectionId"])
    return _response(200, help_msg)


def on_send_message(event: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    body = _parse_body(event)
    if not isinstance(body, dict):
        raise WsError(400, "BAD_REQUEST", "Message body must be a JSON object")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise WsError(400, "BAD_REQUEST", '"message" must be a non-empty string')
    if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise WsError(400, "MESSAGE_TOO_LARGE", f'"message" exceeds {MAX_MESSAGE_BYTES} bytes')
    sender = _dynamodb().get_item(TableName=_table(), Key={"connectionId": {"S": ctx["connectionId"]}},
                                  ConsistentRead=True).get("Item")
    if sender is None:
        raise WsError(403, "NOT_CONNECTED", "This connection is not registered; reconnect")
    data = _dumps({"type": "message", "message": message, "from": sender.get("principal", {}).get("S"),
                   "sentAt": _iso_now()}).encode("utf-8")
    if len(data) > MAX_POST_BYTES:  # only reachable with pathological escaping (control characters)
        raise WsError(400, "MESSAGE_TOO_LARGE", "Encoded message exceeds the WebSocket message limit")

    client = _management(ctx)
    ids = _live_connection_ids()
    with ThreadPoolExecutor(max_workers=max(1, min(BROADCAST_WORKERS, len(ids)))) as pool:
        results = list(pool.map(lambda cid: (cid, _post(client, cid, data)), ids))
    gone = [cid for cid, r in results if r == "gone"]
    for cid in gone:
        try:
            _delete_connection(cid)
        except (ClientError, BotoCoreError):  # cleanup is best effort; TTL reaps the item anyway
            logger.warning("could not delete gone connection", exc_info=True,
                           extra={"fields": {"connectionId": cid}})
    summary = {
        "recipients": len(ids),
        "delivered": sum(1 for _, r in results if r == "ok"),
        "removed": len(gone),
        "failed": sum(1 for _, r in results if r == "failed"),
    }
    logger.info("broadcast", extra={"fields": {"requestId": ctx.get("requestId"), **summary}})
    return _response(200, summary)


ROUTES = {
    "$connect": on_connect,
    "$disconnect": on_disconnect,
    "$default": on_default,
    "sendMessage": on_send_message,
}


# --------------------------------------------------------------------------------------------------- entry point


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    event = event or {}
    ctx = event.get("requestContext") or {}
    route_key = ctx.get("routeKey")
    request_id = ctx.get("requestId") or getattr(context, "aws_request_id", None)
    # Any other custom route key wired to this function gets the $default help reply.
    route = ROUTES.get(route_key, on_default)
    try:
        if not ctx.get("connectionId"):
            raise WsError(400, "BAD_REQUEST", "requestContext.connectionId is missing")
        response = route(event, ctx)
    except WsError as exc:
        body = error_body(exc.code, exc.message, request_id)
        response = _response(exc.status, body)
        if ctx.get("connectionId") and route_key not in ("$connect", "$disconnect"):
            try:  # the client sees a return value only through a route response; tell it directly too
                _post(_management(ctx), ctx["connectionId"], _dumps(body).encode("utf-8"))
            except Exception:
                logger.warning("could not notify sender of error", exc_info=True)
    except Exception:
        logger.exception("unhandled exception", extra={"fields": {"requestId": request_id, "routeKey": route_key}})
        response = _response(500, error_body("INTERNAL_SERVER_ERROR", "An internal error occurred", request_id))

    status = response["statusCode"]
    logger.log(
        logging.ERROR if status >= 500 else logging.INFO,
        "request",
        extra={"fields": {
            "requestId": request_id,
            "routeKey": route_key,
            "eventType": ctx.get("eventType"),
            "connectionId": ctx.get("connectionId"),
            "status": status,
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
        }},
    )
    return response
