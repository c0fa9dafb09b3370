"""origin-response: on an S3 miss, fetch from the API origin and cache the result in S3.

Handler string: ``origin_response.handler``. Origin-response can't re-route, so when
the S3 origin answers 403 (missing object behind OAC without s3:ListBucket) or 404
for a GET/HEAD, this function calls ``origins[failover_origin]`` itself: GET
``{protocol}://{domain}[:port]{path}{uri}?{querystring}`` with ``api_timeout_seconds``.
The API's status, headers and body become the response (text types as text, anything
else base64); redirects are passed through, not followed. A response over CloudFront's
1 MB limit for generated origin responses, or an unreachable API, gives a 502
(``cache-control: no-store``).

When the API origin is ``signed`` (the distribution checks a signature on the path
called, e.g. an /api/images/* behavior), the call carries its own ``expires`` and
``signature`` (valid 60 s), made with the signing key (``keys.py``, as viewer_request).

Write-back (``write_back.enabled``): an API 200 for a request without a query string
is stored with ``s3:PutObject`` at ``write_back.prefix + URI`` (decoded, no leading
slash) with the API's content type and ``write_back.cache_control``, so the next miss
is an S3 hit. A 200 too large to return is still stored (up to ``max_object_bytes``).
Write-back errors are logged and never change the viewer's response. With a query
string nothing is stored: S3 keys ignore the query, so variants would collide.
Any other response (S3 hit, non-S3 origin) passes through unchanged.
"""
from __future__ import annotations

import base64
import logging
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from urllib.parse import unquote, urlencode

import boto3
from botocore.config import Config

import config
import keys
import signing

log = logging.getLogger()
log.setLevel(logging.INFO)

RESPONSE_LIMIT = 1024 * 1024  # generated origin-response size (headers + body) quota
MISS_STATUSES = ("403", "404")
# Headers CloudFront rejects in a generated response (disallowed or read-only) and hop-by-hop ones.
DROP = {"connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "trailer", "upgrade", "te", "transfer-encoding", "via", "content-length", "x-cache", "x-forwarded-proto",
        "x-real-ip", "x-amzn-requestid", "x-amzn-errortype", "x-amzn-auth", "x-amzn-trace-id"}
DROP_PREFIXES = ("x-amz-cf-", "x-edge-", "x-accel-", "x-amzn-cf-", "x-amzn-remapped-")
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "image/svg+xml")
_s3 = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # surface 3xx as HTTPError so it is passed through


# ProxyHandler({}): no proxy lookup from environment variables (none exist on Lambda@Edge).
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


SIGNED_FOR_SECONDS = 60  # a signed call to the API is good for a minute: it is made at once


def _api_url(o: config.Origin, request: dict, distribution: str, cfg: config.EdgeConfig) -> str:
    default_port = 443 if o.protocol == "https" else 80
    # The API's own domain is only known after deploy; "$distribution" calls it through this
    # distribution (its API behavior), whose domain every event carries.
    domain = distribution if o.domain == config.DISTRIBUTION_DOMAIN else o.domain
    host = domain if o.port == default_port else f"{domain}:{o.port}"
    qs = request.get("querystring", "")
    path = f"{o.path}{request['uri']}"
    if o.signed:
        # The distribution checks a signature on this path too: sign the call with the viewer-request key.
        s, expires = cfg.signing, int(time.time()) + SIGNED_FOR_SECONDS
        own = urlencode({s.expires_param: expires, s.signature_param: signing.sign(path, expires, keys.signing_keys(s)[0], s.expires_param)})
        qs = f"{qs}&{own}" if qs else own
    return f"{o.protocol}://{host}{path}" + (f"?{qs}" if qs else "")


def _fetch(url: str, timeout: float, limit: int):
    """(status, [(name, value)], body or None if longer than limit)."""
    req = urllib.request.Request(url, method="GET", headers={"User-Agent": "fillup-edge-failover/1"})
    try:
        resp = _opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        resp = err
    with resp:
        body = resp.read(limit + 1)
        return resp.status, list(resp.headers.items()), body if len(body) <= limit else None


def _with_read_only(response: dict, headers: dict) -> dict:
    for low in ("via", "transfer-encoding"):  # read-only here: keep CloudFront's values untouched
        if low in response.get("headers", {}):
            headers[low] = response["headers"][low]
    return headers


def _error(response: dict, status: int, text: str) -> dict:
    response.update(status=str(status), statusDescription=HTTPStatus(status).phrase, body=text,
                    bodyEncoding="text", headers=_with_read_only(response, {
                        "cache-control": [{"key": "Cache-Control", "value": "no-store"}],
                        "content-type": [{"key": "Content-Type", "value": "text/plain; charset=utf-8"}]}))
    return response


def _write_back(wb: config.WriteBack, uri: str, body: bytes, content_type: str) -> None:
    global _s3
    try:
        if _s3 is None:
            _s3 = boto3.client("s3", region_name=wb.region, config=Config(
                connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}))
        key = wb.prefix + unquote(uri).lstrip("/")
        _s3.put_object(Bucket=wb.bucket, Key=key, Body=body, ContentType=content_type,
                       CacheControl=wb.cache_control)
        log.info("wrote back s3://%s/%s (%d bytes)", wb.bucket, key, len(body))
    except Exception:
        log.exception("write-back of %s failed; serving the API response anyway", uri)


def handler(event, context):
    cf = event["Records"][0]["cf"]
    request, response = cf["request"], cf["response"]
    if "s3" not in request.get("origin", {}) or str(response.get("status")) not in MISS_STATUSES \
            or request.get("method", "GET") not in ("GET", "HEAD"):
        return response
    cfg = config.get()
    api, wb = cfg.origins[cfg.failover_origin], cfg.write_back
    limit = max(RESPONSE_LIMIT, wb.max_object_bytes if wb.enabled else 0)
    try:
        url = _api_url(api, request, cf["config"]["distributionDomainName"], cfg)
        status, headers, body = _fetch(url, cfg.api_timeout_seconds, limit)
    except Exception as exc:
        log.warning("failover to %s failed for %s: %r", api.domain, request["uri"], exc)
        return _error(response, 502, "Bad Gateway: image service unreachable\n")
    if body is None:
        return _error(response, 502, "Bad Gateway: image service response too large\n")
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "application/octet-stream")
    if status == 200 and wb.enabled and not request.get("querystring"):
        _write_back(wb, request["uri"], body, content_type)
    out: dict = {}
    for name, value in headers:
        low = name.lower()
        if low not in DROP and not low.startswith(DROP_PREFIXES):
            out.setdefault(low, []).append({"key": name, "value": value})
    _with_read_only(response, out)
    textual = content_type.lower().startswith(TEXT_TYPES)
    try:
        text, encoding = (body.decode("utf-8"), "text") if textual else (None, "base64")
    except UnicodeDecodeError:
        text, encoding = None, "base64"
    if text is None:
        text = base64.b64encode(body).decode("ascii")
    size = len(text.encode("utf-8")) + sum(len(h["key"]) + len(h["value"]) + 4 for v in out.values() for h in v)
    if size > RESPONSE_LIMIT:
        return _error(response, 502, "Bad Gateway: image service response too large\n")
    try:
        description = HTTPStatus(status).phrase
    except ValueError:
        description = ""
    response.update(status=str(status), statusDescription=description, headers=out, body=text,
                    bodyEncoding=encoding)
    return response
