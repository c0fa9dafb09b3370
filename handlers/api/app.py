"""FillUp REST API Lambda handler (API Gateway REST API v1, Lambda proxy integration, payload format 1.0).

Handler string: ``app.handler`` (this folder is the code root of the function).

Routes:
    GET  /health  -> 200 {"status": "ok", "timestamp": ..., "requestId": ...}
    POST /echo    -> 200 {"echo": <parsed JSON body>}; 400 when the body is not valid JSON
    OPTIONS on a known path -> 204 (CORS preflight, for when API Gateway proxies OPTIONS to us)
    known path, other method -> 405 with an ``Allow`` header
    anything else -> 404
    unexpected exception -> 500 (details go to the log, never to the client)

Every error body has the FillUp design's format (seeds/001, "錯誤回應格式"):
    {"error": {"code": "...", "message": "...", "requestId": "<requestContext.requestId>",
               "timestamp": "<ISO-8601 UTC>"}}

Environment:
    CORS_ORIGINS            comma-separated exact origins (``https://app.example.com``); empty/unset = none.
                            ``Access-Control-Allow-Origin`` is echoed only for a listed Origin; ``Vary: Origin``
                            is always sent. No wildcard support (credentials forbid ``*`` anyway).
    API_BASE_PATH           a path prefix stripped before routing (e.g. /api when CloudFront sends /api/* here).
    CORS_HEADERS            comma-separated request headers a preflight allows (default Content-Type, Authorization).
    CORS_MAX_AGE            seconds a browser may cache a preflight (default 600).
    CORS_ALLOW_CREDENTIALS  "true" adds ``Access-Control-Allow-Credentials: true`` for allowed origins.
    LOG_LEVEL               DEBUG | INFO (default) | WARNING | ERROR.

Logging: one JSON line per request on stdout (CloudWatch Logs):
    {"level": "INFO", "message": "request", "requestId", "method", "path", "status", "durationMs", ...}

IAM: none (standard library only; the function needs only its CloudWatch Logs permissions).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
PREFLIGHT_ALLOW_HEADERS = "Content-Type, Authorization"
PREFLIGHT_MAX_AGE = "600"


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


logger = logging.getLogger("fillup.api")
for _h in [h for h in logger.handlers if h.get_name() == "fillup-json"]:  # module re-import: no duplicates
    logger.removeHandler(_h)
_handler = _JsonLineHandler()
_handler.set_name("fillup-json")
logger.addHandler(_handler)
logger.propagate = False  # the Lambda runtime's root handler would print a second, non-JSON copy
_level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
logger.setLevel(_level if _level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO")


# --------------------------------------------------------------------------------------------------- helpers


class HttpError(Exception):
    """An expected client error, rendered in the standard error format."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _iso_now() -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix, e.g. 2025-11-16T10:30:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _request_id(event: dict[str, Any], context: Any) -> str | None:
    rid = ((event.get("requestContext") or {}).get("requestId"))
    return rid or getattr(context, "aws_request_id", None)


def _header(event: dict[str, Any], name: str) -> str | None:
    """Case-insensitive header lookup over ``headers`` then ``multiValueHeaders`` (either may be null)."""
    lname = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == lname and value is not None:
            return value
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == lname and values:
            return values[0]
    return None


def _route_path(event: dict[str, Any]) -> str:
    """The API-relative path, independent of stage and custom-domain base-path mappings.

    ``resource`` is the API Gateway resource template: an exact resource ("/health") is the path itself;
    a greedy one ("/{proxy+}", "/api/{proxy+}") is rebuilt from ``pathParameters.proxy``. Falls back to
    ``path`` (which can carry a custom domain's base path).
    """
    resource = event.get("resource") or ""
    proxy = (event.get("pathParameters") or {}).get("proxy")
    if resource and "{" not in resource:
        path = resource
    elif resource.endswith("{proxy+}") and proxy is not None:
        path = resource[: -len("{proxy+}")] + proxy
    else:
        path = event.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    # Behind CloudFront the API lives under a prefix (e.g. /api); routes are written without it.
    base = os.environ.get("API_BASE_PATH", "").rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):] or "/"
    return path


def _cors_headers(event: dict[str, Any]) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    origin = _header(event, "Origin")
    if not origin:
        return headers
    allowed = {o.strip().rstrip("/") for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()}
    if origin.rstrip("/") in allowed:
        headers["Access-Control-Allow-Origin"] = origin
        if os.environ.get("CORS_ALLOW_CREDENTIALS", "false").strip().lower() == "true":
            headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def _response(status: int, body: Any | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    out_headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    out_headers.update(headers or {})
    return {
        "statusCode": status,
        "headers": out_headers,
        "body": "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_body(code: str, message: str, request_id: str | None) -> dict[str, Any]:
    """The FillUp error format (seeds/001)."""
    return {"error": {"code": code, "message": message, "requestId": request_id, "timestamp": _iso_now()}}


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def _json_body(event: dict[str, Any]) -> Any:
    """Parse the request body as strict JSON (no NaN/Infinity), decoding base64 first when flagged."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise HttpError(400, "BAD_REQUEST", "Request body must be valid JSON")
    try:
        if event.get("isBase64Encoded"):
            text = base64.b64decode(raw, validate=True).decode("utf-8")
        else:
            text = raw
        return json.loads(text, parse_constant=_reject_constant)
    except (binascii.Error, UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
        raise HttpError(400, "BAD_REQUEST", "Request body must be valid JSON") from None


# --------------------------------------------------------------------------------------------------- routes


def health(event: dict[str, Any], request_id: str | None) -> tuple[int, Any]:
    return 200, {"status": "ok", "timestamp": _iso_now(), "requestId": request_id}


def echo(event: dict[str, Any], request_id: str | None) -> tuple[int, Any]:
    return 200, {"echo": _json_body(event)}


Route = Callable[[dict[str, Any], "str | None"], "tuple[int, Any]"]

# path -> {METHOD: function}. Looked up at call time, so tests can monkeypatch an entry.
ROUTES: dict[str, dict[str, Route]] = {
    "/health": {"GET": health},
    "/echo": {"POST": echo},
}


IMAGE_PREFIX = "/images/"
_IMAGE_NAME = re.compile(r"[A-Za-z0-9._/-]{1,200}")


def image(path: str) -> dict[str, Any]:
    """The image service behind the CDN (seeds/000): renders the requested image; here a labelled SVG
    placeholder. Answers are immutable, so CloudFront and the S3 write-back may keep them a year."""
    name = path[len(IMAGE_PREFIX):]
    if not _IMAGE_NAME.fullmatch(name) or ".." in name:
        raise HttpError(400, "BAD_REQUEST", "Invalid image name")
    label = html.escape(name)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="320" height="80"><rect width="100%" height="100%" fill="#eee"/>'
           f'<text x="10" y="45" font-family="sans-serif" font-size="16">{label}</text></svg>')
    return {"statusCode": 200, "isBase64Encoded": False, "body": svg,
            "headers": {"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=31536000, immutable",
                        "X-Content-Type-Options": "nosniff"}}


def _dispatch(event: dict[str, Any], method: str, path: str, request_id: str | None) -> dict[str, Any]:
    if path.startswith(IMAGE_PREFIX) and method in ("GET", "HEAD"):
        return image(path)
    methods = ROUTES.get(path)
    if methods is None:
        raise HttpError(404, "NOT_FOUND", "No route for this path")
    allow = ", ".join(sorted(set(methods) | {"OPTIONS"}))
    if method == "OPTIONS":
        headers = {"Allow": allow}
        if _header(event, "Origin"):
            headers["Access-Control-Allow-Methods"] = allow
            # The compiler passes the spec's CORS headers and max age; the defaults match its defaults.
            headers["Access-Control-Allow-Headers"] = os.environ.get("CORS_HEADERS", PREFLIGHT_ALLOW_HEADERS).replace(",", ", ")
            headers["Access-Control-Max-Age"] = os.environ.get("CORS_MAX_AGE", PREFLIGHT_MAX_AGE)
        return _response(204, None, headers)
    func = methods.get(method)
    if func is None:
        raise HttpError(405, "METHOD_NOT_ALLOWED", f"Method {method} is not allowed on this path",
                        headers={"Allow": allow})
    status, body = func(event, request_id)
    return _response(status, body)


# --------------------------------------------------------------------------------------------------- entry point


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    event = event or {}
    request_id = _request_id(event, context)
    method = (event.get("httpMethod") or "").upper()
    path = "/"
    try:
        path = _route_path(event)
        response = _dispatch(event, method, path, request_id)
    except HttpError as exc:
        response = _response(exc.status, error_body(exc.code, exc.message, request_id), exc.headers)
    except Exception:
        logger.exception("unhandled exception", extra={"fields": {"requestId": request_id, "path": path}})
        response = _response(500, error_body("INTERNAL_SERVER_ERROR", "An internal error occurred", request_id))

    try:
        response["headers"].update(_cors_headers(event))
    except Exception:  # a malformed headers map must not turn a response into a Lambda error
        response["headers"]["Vary"] = "Origin"

    status = response["statusCode"]
    logger.log(
        logging.ERROR if status >= 500 else logging.INFO,
        "request",
        extra={"fields": {
            "requestId": request_id,
            "method": method,
            "path": path,
            "resource": event.get("resource"),
            "stage": (event.get("requestContext") or {}).get("stage"),
            "status": status,
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
        }},
    )
    return response
