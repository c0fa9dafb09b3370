"""handlers/api/app.py driven with full API Gateway REST (v1) Lambda proxy events."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest

ERROR_KEYS = {"code", "message", "requestId", "timestamp"}


def call(api_app, event, ctx=None):
    resp = api_app.handler(event, ctx)
    assert set(resp) >= {"statusCode", "headers", "body"}
    assert isinstance(resp["body"], str)
    assert resp.get("isBase64Encoded") is False
    return resp


def assert_error(resp, status, code, event):
    assert resp["statusCode"] == status
    assert resp["headers"]["Content-Type"].startswith("application/json")
    body = json.loads(resp["body"])
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == ERROR_KEYS
    assert err["code"] == code
    assert err["message"] and isinstance(err["message"], str)
    assert err["requestId"] == event["requestContext"]["requestId"]
    ts = datetime.fromisoformat(err["timestamp"].replace("Z", "+00:00"))
    assert err["timestamp"].endswith("Z") and ts.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - ts) < timedelta(seconds=30)
    return err


def log_lines(capsys):
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # every line must be JSON


# ---------------------------------------------------------------------------------------------- routes


def test_health(api_app, make_rest_event, lambda_context):
    event = make_rest_event("GET", "/health")
    resp = call(api_app, event, lambda_context)
    assert resp["statusCode"] == 200
    body = json.loads(resp["body"])
    assert body["status"] == "ok"
    assert body["requestId"] == event["requestContext"]["requestId"]
    assert resp["headers"]["Content-Type"] == "application/json; charset=utf-8"


def test_health_exact_resource_ignores_custom_domain_base_path(api_app, make_rest_event):
    # Exact resource "/health" reached through a custom domain mapped at base path "v1".
    event = make_rest_event("GET", "/v1/health", resource="/health")
    assert call(api_app, event)["statusCode"] == 200


def test_trailing_slash_is_the_same_route(api_app, make_rest_event):
    assert call(api_app, make_rest_event("GET", "/health/"))["statusCode"] == 200


def test_echo_returns_parsed_body(api_app, make_rest_event):
    payload = {"amountMl": 250, "tags": ["water", "水"], "nested": {"ok": True, "none": None}}
    resp = call(api_app, make_rest_event("POST", "/echo", body=json.dumps(payload)))
    assert resp["statusCode"] == 200
    assert json.loads(resp["body"]) == {"echo": payload}


def test_echo_base64_encoded_body(api_app, make_rest_event):
    payload = {"greeting": "早安", "n": [1, 2.5]}
    event = make_rest_event("POST", "/echo", body=json.dumps(payload, ensure_ascii=False), base64_body=True)
    assert event["isBase64Encoded"] is True and "早" not in event["body"]
    resp = call(api_app, event)
    assert resp["statusCode"] == 200
    assert json.loads(resp["body"]) == {"echo": payload}


@pytest.mark.parametrize("body", ["{not json", "", None, "{'single': 'quotes'}", "NaN", '{"a": Infinity}'])
def test_echo_invalid_json_is_400(api_app, make_rest_event, body):
    event = make_rest_event("POST", "/echo", body=body)
    resp = call(api_app, event)
    assert_error(resp, 400, "BAD_REQUEST", event)


@pytest.mark.parametrize("raw", [b"\xff\xfe not utf-8", b"{broken"])
def test_echo_invalid_base64_payload_is_400(api_app, make_rest_event, raw):
    event = make_rest_event("POST", "/echo", body=raw, base64_body=True)
    assert_error(call(api_app, event), 400, "BAD_REQUEST", event)


def test_echo_base64_flag_with_garbage_is_400(api_app, make_rest_event):
    event = make_rest_event("POST", "/echo", body='{"a": 1}')
    event["isBase64Encoded"] = True  # flag set but the body is not base64
    assert_error(call(api_app, event), 400, "BAD_REQUEST", event)


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/health/extra"), ("GET", "/"),
                                         ("DELETE", "/users/1")])
def test_unknown_path_is_404(api_app, make_rest_event, method, path):
    event = make_rest_event(method, path)
    resp = call(api_app, event)
    assert_error(resp, 404, "NOT_FOUND", event)
    assert "Allow" not in resp["headers"]


@pytest.mark.parametrize("method,path,allowed", [("GET", "/echo", "POST"), ("DELETE", "/health", "GET"),
                                                 ("PUT", "/echo", "POST")])
def test_wrong_method_is_405_with_allow(api_app, make_rest_event, method, path, allowed):
    event = make_rest_event(method, path)
    resp = call(api_app, event)
    assert_error(resp, 405, "METHOD_NOT_ALLOWED", event)
    allow = {m.strip() for m in resp["headers"]["Allow"].split(",")}
    assert allowed in allow and method not in allow


def test_unexpected_exception_is_500_without_leaking(api_app, make_rest_event, monkeypatch, capsys):
    def boom(event, request_id):
        raise RuntimeError("db password is hunter2 at /var/task/app.py")

    monkeypatch.setitem(api_app.ROUTES["/health"], "GET", boom)
    event = make_rest_event("GET", "/health")
    resp = call(api_app, event)
    err = assert_error(resp, 500, "INTERNAL_SERVER_ERROR", event)
    assert "hunter2" not in resp["body"] and "Traceback" not in resp["body"] and "RuntimeError" not in resp["body"]
    assert "hunter2" not in err["message"]
    # ...but the operator gets the traceback in the (JSON) log.
    lines = log_lines(capsys)
    assert any("hunter2" in ln.get("exception", "") for ln in lines)
    assert lines[-1]["status"] == 500 and lines[-1]["level"] == "ERROR"


# ---------------------------------------------------------------------------------------------- CORS

ALLOWED = "https://app.fillup.example"


def test_cors_allowed_origin_is_echoed(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", f" {ALLOWED} , https://admin.fillup.example")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    resp = call(api_app, make_rest_event("GET", "/health", headers={"Origin": ALLOWED}))
    assert resp["statusCode"] == 200
    assert resp["headers"]["Access-Control-Allow-Origin"] == ALLOWED
    assert resp["headers"]["Access-Control-Allow-Credentials"] == "true"
    assert resp["headers"]["Vary"] == "Origin"


def test_cors_origin_header_is_case_insensitive(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    event = make_rest_event("GET", "/health", headers={"origin": ALLOWED})  # HTTP/2 clients send lowercase
    assert call(api_app, event)["headers"]["Access-Control-Allow-Origin"] == ALLOWED


def test_cors_credentials_false(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "false")
    resp = call(api_app, make_rest_event("GET", "/health", headers={"Origin": ALLOWED}))
    assert resp["headers"]["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in resp["headers"]


@pytest.mark.parametrize("origins", [ALLOWED, ""])
@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.fillup.example.evil.example",
                                    "http://app.fillup.example"])
def test_cors_denied_origin_gets_no_allow_origin(api_app, make_rest_event, monkeypatch, origins, origin):
    monkeypatch.setenv("CORS_ORIGINS", origins)
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    resp = call(api_app, make_rest_event("GET", "/health", headers={"Origin": origin}))
    assert resp["statusCode"] == 200
    assert "Access-Control-Allow-Origin" not in resp["headers"]
    assert "Access-Control-Allow-Credentials" not in resp["headers"]
    assert resp["headers"]["Vary"] == "Origin"


def test_cors_headers_on_error_responses(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    resp = call(api_app, make_rest_event("GET", "/missing", headers={"Origin": ALLOWED}))
    assert resp["statusCode"] == 404
    assert resp["headers"]["Access-Control-Allow-Origin"] == ALLOWED  # the browser may read the error body


def test_cors_preflight(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    event = make_rest_event("OPTIONS", "/echo", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    resp = call(api_app, event)
    assert resp["statusCode"] == 204 and resp["body"] == ""
    assert resp["headers"]["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in resp["headers"]["Access-Control-Allow-Methods"]
    assert "Content-Type" in resp["headers"]["Access-Control-Allow-Headers"]


def test_cors_preflight_uses_the_compiled_headers_and_max_age(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    monkeypatch.setenv("CORS_HEADERS", "Content-Type,X-Request-Id")
    monkeypatch.setenv("CORS_MAX_AGE", "120")
    event = make_rest_event("OPTIONS", "/echo", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    resp = call(api_app, event)
    assert resp["headers"]["Access-Control-Allow-Headers"] == "Content-Type, X-Request-Id"
    assert resp["headers"]["Access-Control-Max-Age"] == "120"


def test_no_origin_header_no_cors_but_vary(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", ALLOWED)
    event = make_rest_event("GET", "/health")
    event["headers"] = None  # API Gateway sends null maps when there are no headers
    event["multiValueHeaders"] = None
    resp = call(api_app, event)
    assert resp["statusCode"] == 200
    assert "Access-Control-Allow-Origin" not in resp["headers"] and resp["headers"]["Vary"] == "Origin"


# ---------------------------------------------------------------------------------------------- logging, loading


def test_one_structured_log_line_per_request(api_app, make_rest_event, capsys):
    event = make_rest_event("POST", "/echo", body='{"secret": "do-not-log"}')
    call(api_app, event)
    lines = log_lines(capsys)
    assert len(lines) == 1
    line = lines[0]
    assert line["requestId"] == event["requestContext"]["requestId"]
    assert line["path"] == "/echo" and line["method"] == "POST" and line["status"] == 200
    assert isinstance(line["durationMs"], (int, float)) and line["durationMs"] >= 0
    assert "do-not-log" not in json.dumps(line)  # bodies are not logged


def test_handler_modules_do_not_collide(api_app, ws_app):
    assert api_app is not ws_app and api_app.__name__ != ws_app.__name__
    assert api_app.handler is not ws_app.handler
    assert "app" not in sys.modules or sys.modules["app"] not in (api_app, ws_app)


def test_api_handler_imports_only_stdlib(api_app):
    import ast
    from pathlib import Path

    tree = ast.parse(Path(api_app.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names) | {"__future__", "boto3", "botocore"}


def test_base_path_is_stripped_before_routing(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("API_BASE_PATH", "/api")
    event = make_rest_event("GET", "/api/health")
    event["resource"] = "/api/health"
    resp = call(api_app, event)
    assert resp["statusCode"] == 200 and json.loads(resp["body"])["status"] == "ok"


def test_images_are_rendered_and_cacheable(api_app, make_rest_event, monkeypatch):
    monkeypatch.setenv("API_BASE_PATH", "/api")
    event = make_rest_event("GET", "/api/images/cats/1.svg")
    event["resource"] = "/api/{proxy+}"
    event["pathParameters"] = {"proxy": "images/cats/1.svg"}
    resp = call(api_app, event)
    assert resp["statusCode"] == 200 and resp["headers"]["Content-Type"] == "image/svg+xml"
    assert "cats/1.svg" in resp["body"] and "max-age=31536000" in resp["headers"]["Cache-Control"]
    event["pathParameters"] = {"proxy": "images/../etc"}
    assert call(api_app, event)["statusCode"] == 400
