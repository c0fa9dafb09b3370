"""Fixtures for the Lambda handler tests.

The handler folders are Lambda code roots, not packages, and both modules are called ``app``: they are
loaded by file path under distinct module names and never registered as ``app`` in sys.modules.
AWS calls go to moto in-process; the Management API can also be pointed at a local HTTP server that
records every PostToConnection and answers 410 GoneException for chosen connection ids.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_APP = ROOT / "handlers" / "api" / "app.py"
WS_APP = ROOT / "handlers" / "websocket" / "app.py"

REGION = "us-east-1"
ACCOUNT = "123456789012"
WS_API_ID = "a1b2c3d4e5"
WS_DOMAIN = f"{WS_API_ID}.execute-api.{REGION}.amazonaws.com"
WS_STAGE = "prod"


def load_handler(path: Path, module_name: str):
    """A fresh module object for one handler file (fresh per test: no client caches leak between tests)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the Lambda code root
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region; nothing may reach real AWS or a proxy."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                "WEBSOCKET_ENDPOINT", "CORS_ORIGINS", "CORS_ALLOW_CREDENTIALS", "CONNECTIONS_TABLE", "LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def api_app(aws_env):
    """handlers/api/app.py, freshly loaded under a private module name."""
    return load_handler(API_APP, "fillup_handler_api_app")


@pytest.fixture
def processor_app(aws_env):
    """handlers/processor/app.py, freshly loaded under a private module name."""
    return load_handler(ROOT / "handlers" / "processor" / "app.py", "fillup_handler_processor_app")


@pytest.fixture
def ws_app(aws_env):
    """handlers/websocket/app.py, freshly loaded under a private module name."""
    return load_handler(WS_APP, "fillup_handler_websocket_app")


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers may read."""

    def __init__(self, request_id: str | None = None):
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = "fillup-dev-test"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fillup-dev-test"
        self.memory_limit_in_mb = 1024
        self.log_group_name = "/aws/lambda/fillup-dev-test"
        self.log_stream_name = "2025/11/16/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture
def lambda_context():
    return LambdaContext()


# ---------------------------------------------------------------------------------------------- REST v1 events


def rest_event(method: str, path: str, *, body: str | bytes | None = None, headers: dict | None = None,
               base64_body: bool = False, resource: str = "/{proxy+}", stage: str = "dev",
               query: dict | None = None, request_id: str | None = None) -> dict:
    """An API Gateway REST API Lambda proxy event (payload format 1.0), in AWS's full shape."""
    request_id = request_id or str(uuid.uuid4())
    hdrs = {
        "Accept": "application/json",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Desktop-Viewer": "true",
        "CloudFront-Viewer-Country": "TW",
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "pytest/handlers",
        "Via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "cf-id-example==",
        "X-Amzn-Trace-Id": "Root=1-5e1b4151-5ac6c58f3375aa3c7c6b73c9",
        "X-Forwarded-For": "203.0.113.10, 130.176.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    if base64_body and body is not None:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        body = base64.b64encode(raw).decode("ascii")
    elif isinstance(body, bytes):
        body = body.decode("utf-8")
    path_params = None
    if resource.endswith("{proxy+}"):
        prefix = resource[: -len("{proxy+}")]
        path_params = {"proxy": path[len(prefix):] if path.startswith(prefix) else path.lstrip("/")}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "c6af9ac6Ex=",
            "requestTime": "16/Nov/2025:10:30:00 +0000",
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "abcdef1234",
            "requestTimeEpoch": 1763289000000,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": "203.0.113.10", "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": "pytest/handlers", "user": None,
            },
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "apiId": "abcdef1234",
        },
        "body": body,
        "isBase64Encoded": bool(base64_body and body is not None),
    }


# ---------------------------------------------------------------------------------------------- WebSocket events

_EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}


def ws_event(route_key: str, connection_id: str, *, body: str | None = None, base64_body: bool = False,
             connected_at_ms: int | None = None, request_id: str | None = None, signer: dict | None = None) -> dict:
    """An API Gateway WebSocket Lambda proxy event, in AWS's full shape for each event type."""
    if connected_at_ms is None:
        connected_at_ms = int(time.time() * 1000) - 1000
    event_type = _EVENT_TYPES.get(route_key, "MESSAGE")
    ctx = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": "Ex1dReQuEsTiD=",
        "requestTime": "16/Nov/2025:10:30:00 +0000",
        "messageDirection": "IN",
        "stage": WS_STAGE,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": connected_at_ms + 500,
        "identity": {"sourceIp": "203.0.113.10", "userAgent": "pytest-ws/1.0", **(signer or {})},
        "requestId": request_id or "Ws" + uuid.uuid4().hex[:14] + "=",
        "domainName": WS_DOMAIN,
        "connectionId": connection_id,
        "apiId": WS_API_ID,
    }
    event: dict = {"requestContext": ctx, "isBase64Encoded": False}
    if event_type == "CONNECT":
        hdrs = {
            "Host": WS_DOMAIN,
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "X-Amzn-Trace-Id": "Root=1-5e1b4151-5ac6c58f3375aa3c7c6b73c9",
            "X-Forwarded-For": "203.0.113.10",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        }
        event["headers"] = hdrs
        event["multiValueHeaders"] = {k: [v] for k, v in hdrs.items()}
    elif event_type == "DISCONNECT":
        hdrs = {"Host": WS_DOMAIN, "x-api-key": "", "x-restapi": ""}
        event["headers"] = hdrs
        event["multiValueHeaders"] = {k: [v] for k, v in hdrs.items()}
        ctx["disconnectStatusCode"] = 1001
        ctx["disconnectReason"] = "Client-side close frame status not set"
    else:
        ctx["messageId"] = "Msg" + uuid.uuid4().hex[:12] + "="
        if base64_body and body is not None:
            body = base64.b64encode(body.encode("utf-8")).decode("ascii")
            event["isBase64Encoded"] = True
        event["body"] = body
    return event


def send_message_event(connection_id: str, message) -> dict:
    return ws_event("sendMessage", connection_id, body=json.dumps({"action": "sendMessage", "message": message}))


# ---------------------------------------------------------------------------------------------- Management API stub


class ManagementApiStub:
    """Records PostToConnection calls; answers 410 GoneException for ids in ``gone``."""

    def __init__(self):
        self.posts: list[tuple[str, bytes]] = []
        self.gone: set[str] = set()
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                marker = "/@connections/"
                if marker not in self.path:
                    self._reply(404, b'{"message":"Not Found"}', {"Content-Type": "application/json"})
                    return
                cid = unquote(self.path.split(marker, 1)[1])
                with stub.lock:
                    stub.posts.append((cid, data))
                if cid in stub.gone:
                    self._reply(410, b'{"message":null}',
                                {"Content-Type": "application/json", "x-amzn-ErrorType": "GoneException"})
                else:
                    self._reply(200)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/{WS_STAGE}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def bodies_for(self, connection_id: str) -> list[dict]:
        return [json.loads(d) for cid, d in self.posts if cid == connection_id]


@pytest.fixture
def mgmt_stub(aws_env, monkeypatch):
    stub = ManagementApiStub()
    stub.thread.start()
    monkeypatch.setenv("WEBSOCKET_ENDPOINT", stub.endpoint)
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()


@pytest.fixture
def make_rest_event():
    return rest_event


@pytest.fixture
def make_ws_event():
    return ws_event


@pytest.fixture
def make_send_message():
    return send_message_event
