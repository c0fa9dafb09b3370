"""Lambda@Edge handlers in handlers/edge/, loaded the way Lambda loads them.

Each test copies the handler modules into a temporary "zip root", writes config.json
next to them, puts that folder on sys.path and imports ``viewer_request`` etc. as
top-level modules; sys.modules and sys.path are restored afterwards. SSM and S3 run
in moto; the API origin is a local HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import base64
import copy
import importlib
import json
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

EDGE_SRC = Path(__file__).resolve().parents[2] / "handlers" / "edge"
MODULES = ("config", "keys", "signing", "viewer_request", "origin_request", "origin_response")
PARAM = "/fillup/test/edge/url-signing-key"
BUCKET = "fillup-test-cache"
S3_REGION = "ap-northeast-1"
S3_DOMAIN = f"{BUCKET}.s3.{S3_REGION}.amazonaws.com"
API_DOMAIN = "abc123.execute-api.ap-northeast-1.amazonaws.com"
KEY = "k-current-5d1f0c"
OLD_KEY = "k-previous-77aa01"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def make_config(api_port=None, write_back=True, cache_seconds=300):
    api = {"domain": API_DOMAIN, "path": "/prod", "protocol": "https"}
    if api_port is not None:
        api = {"domain": "127.0.0.1", "path": "/prod", "protocol": "http", "port": api_port}
    return {
        "signing": {"parameter": PARAM, "region": "us-east-1", "cache_seconds": cache_seconds,
                    "expires_param": "expires", "signature_param": "signature", "protected_prefixes": ["/images/"]},
        "origins": {"s3": {"domain": S3_DOMAIN, "region": S3_REGION, "path": "/processed"}, "api": api},
        "routes": [{"prefix": "/api/", "origin": "api"}, {"prefix": "/images/", "origin": "s3"},
                   {"prefix": "/images/raw/", "origin": "api"}],
        "write_back": {"enabled": write_back, "bucket": BUCKET, "region": S3_REGION, "prefix": "processed/",
                       "cache_control": "max-age=31536000"},
        "api_timeout_seconds": 2,
    }


class Edge:
    def __init__(self, root: Path):
        self.root = root

    def configure(self, cfg: dict) -> None:
        (self.root / "config.json").write_text(json.dumps(cfg))

    def load(self, name: str):
        module = importlib.import_module(name)
        assert Path(module.__file__).parent == self.root
        return module


@pytest.fixture
def edge(tmp_path):
    root = tmp_path / "zip"
    root.mkdir()
    for src in EDGE_SRC.glob("*.py"):
        shutil.copy(src, root / src.name)
    saved = {m: sys.modules.pop(m) for m in MODULES if m in sys.modules}
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield Edge(root)
    finally:
        sys.path.remove(str(root))
        for m in MODULES:
            sys.modules.pop(m, None)
        sys.modules.update(saved)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def ssm_key(aws):
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=PARAM, Type="SecureString", Value=KEY)
    return ssm


@pytest.fixture
def bucket(aws):
    s3 = boto3.client("s3", region_name=S3_REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": S3_REGION})
    return s3


@pytest.fixture
def api_server():
    """Local image service: path -> (status, headers, body); records request paths."""
    routes = {
        "/prod/images/cat.png": (200, {"Content-Type": "image/png", "Cache-Control": "max-age=86400"}, PNG),
        "/prod/images/broken.png": (500, {"Content-Type": "application/json"}, b'{"error":"resize failed"}'),
        "/prod/images/huge.png": (200, {"Content-Type": "image/png"}, b"\0" * (1024 * 1024 + 10)),
    }
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            status, headers, body = routes.get(self.path.split("?")[0], (404, {"Content-Type": "text/plain"}, b"no"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    server.seen = seen
    yield server
    server.shutdown()
    server.server_close()


def cf_event(event_type, uri, querystring="", origin=None, response=None):
    request = {
        "clientIp": "203.0.113.178",
        "headers": {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
                    "user-agent": [{"key": "User-Agent", "value": "curl/8.5.0"}]},
        "method": "GET", "querystring": querystring, "uri": uri,
    }
    if origin is not None:
        request["origin"] = origin
    record = {"config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                         "distributionId": "EDFDVBD6EXAMPLE", "eventType": event_type,
                         "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
              "request": request}
    if response is not None:
        record["response"] = response
    return {"Records": [{"cf": record}]}


S3_ORIGIN_IN_EVENT = {"s3": {"authMethod": "origin-access-identity", "customHeaders": {}, "domainName": S3_DOMAIN,
                             "path": "/processed", "region": S3_REGION}}


def s3_response(status):
    return {"status": str(status), "statusDescription": "Forbidden" if status == 403 else "Not Found",
            "headers": {"x-amz-request-id": [{"key": "x-amz-request-id", "value": "EXAMPLE"}],
                        "via": [{"key": "Via", "value": "1.1 abc.cloudfront.net (CloudFront)"}]}}


def signed_query(edge, uri, key=KEY, expires=None, extra=""):
    signing = edge.load("signing")
    expires = int(time.time()) + 300 if expires is None else expires
    return f"{extra}expires={expires}&signature={signing.sign(uri, expires, key)}"


# --------------------------------------------------------------------------- viewer-request

def test_valid_signature_passes_and_signature_params_are_stripped(edge, ssm_key):
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    qs = signed_query(edge, "/images/cat.png", extra="w=200&") + "&fmt=webp"
    out = vr.handler(cf_event("viewer-request", "/images/cat.png", qs), None)
    assert "status" not in out
    assert out["uri"] == "/images/cat.png"
    assert out["querystring"] == "w=200&fmt=webp"


def _bad_queries(edge):
    signing = edge.load("signing")
    now = int(time.time())
    good = signing.sign("/images/cat.png", now + 300, KEY)
    return {
        "expired": f"expires={now - 10}&signature={signing.sign('/images/cat.png', now - 10, KEY)}",
        "tampered_path": f"expires={now + 300}&signature={signing.sign('/images/dog.png', now + 300, KEY)}",
        "tampered_expires": f"expires={now + 9999}&signature={good}",
        "flipped_char": f"expires={now + 300}&signature={('A' if good[0] != 'A' else 'B') + good[1:]}",
        "wrong_key": f"expires={now + 300}&signature={signing.sign('/images/cat.png', now + 300, 'not-the-key')}",
        "missing": "",
        "missing_signature": f"expires={now + 300}",
        "missing_expires": f"signature={good}",
        "malformed_signature": f"expires={now + 300}&signature=abc$%25",
        "padded_signature": f"expires={now + 300}&signature={good}%3D",
        "malformed_expires": f"expires=tomorrow&signature={good}",
        "repeated_signature": f"expires={now + 300}&signature={good}&signature={good}",
    }


@pytest.mark.parametrize("case", ["expired", "tampered_path", "tampered_expires", "flipped_char", "wrong_key",
                                  "missing", "missing_signature", "missing_expires", "malformed_signature",
                                  "padded_signature", "malformed_expires", "repeated_signature"])
def test_bad_signature_gets_generated_403(edge, ssm_key, case):
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    out = vr.handler(cf_event("viewer-request", "/images/cat.png", _bad_queries(edge)[case]), None)
    assert out["status"] == "403"
    assert out["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "no-store"}]
    assert "uri" not in out
    assert len(json.dumps(out)) < 1024  # far below the 40 KB viewer limit


def test_unprotected_path_needs_no_signature_and_keeps_its_query(edge, aws):
    # No SSM parameter exists: touching SSM here would turn into a 503.
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    out = vr.handler(cf_event("viewer-request", "/api/health", "signature=x&expires=1"), None)
    assert "status" not in out
    assert out["querystring"] == "signature=x&expires=1"


def test_no_key_available_gives_503_no_store(edge, aws):
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    out = vr.handler(cf_event("viewer-request", "/images/cat.png", signed_query(edge, "/images/cat.png")), None)
    assert out["status"] == "503"
    assert out["headers"]["cache-control"][0]["value"] == "no-store"


def test_rotation_accepts_previous_key_too(edge, ssm_key):
    ssm_key.put_parameter(Name=PARAM, Type="SecureString", Overwrite=True, Value=f"{KEY}\n{OLD_KEY}\n")
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    for key in (KEY, OLD_KEY):
        out = vr.handler(cf_event("viewer-request", "/images/a.png", signed_query(edge, "/images/a.png", key)), None)
        assert "status" not in out, key
    retired = vr.handler(cf_event("viewer-request", "/images/a.png",
                                  signed_query(edge, "/images/a.png", "k-retired-000")), None)
    assert retired["status"] == "403"


@pytest.fixture
def ssm_calls(monkeypatch):
    calls = []
    real_client = boto3.client

    def spy(service, *args, **kwargs):
        client = real_client(service, *args, **kwargs)
        client.meta.events.register("provide-client-params.ssm.GetParameter", lambda **kw: calls.append(kw["params"]))
        return client

    monkeypatch.setattr(boto3, "client", spy)
    return calls


def test_secret_is_cached_across_invocations(edge, ssm_key, ssm_calls):
    edge.configure(make_config(cache_seconds=300))
    vr = edge.load("viewer_request")
    for _ in range(2):
        out = vr.handler(cf_event("viewer-request", "/images/a.png", signed_query(edge, "/images/a.png")), None)
        assert "status" not in out
    assert len(ssm_calls) == 1
    assert ssm_calls[0]["Name"] == PARAM and ssm_calls[0]["WithDecryption"] is True


def test_expired_cache_picks_up_a_rotated_key(edge, ssm_key, ssm_calls):
    edge.configure(make_config(cache_seconds=0))
    vr = edge.load("viewer_request")
    q_new = signed_query(edge, "/images/a.png", "k-brand-new")
    assert vr.handler(cf_event("viewer-request", "/images/a.png", q_new), None)["status"] == "403"
    ssm_key.put_parameter(Name=PARAM, Type="SecureString", Overwrite=True, Value=f"k-brand-new\n{KEY}")
    assert "status" not in vr.handler(cf_event("viewer-request", "/images/a.png", q_new), None)
    assert len(ssm_calls) == 2


# --------------------------------------------------------------------------- origin-request

def test_origin_request_routes_api_prefix_to_custom_origin_with_host(edge):
    edge.configure(make_config())
    orq = edge.load("origin_request")
    out = orq.handler(cf_event("origin-request", "/api/v1/jobs", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT)), None)
    assert out["origin"] == {"custom": {
        "domainName": API_DOMAIN, "port": 443, "protocol": "https", "path": "/prod", "sslProtocols": ["TLSv1.2"],
        "readTimeout": 30, "keepaliveTimeout": 5, "customHeaders": {}}}
    assert out["headers"]["host"] == [{"key": "Host", "value": API_DOMAIN}]
    assert out["uri"] == "/api/v1/jobs"


def test_origin_request_routes_images_to_s3_with_host(edge):
    edge.configure(make_config())
    orq = edge.load("origin_request")
    api_origin = {"custom": {"domainName": API_DOMAIN, "port": 443, "protocol": "https", "path": "/prod",
                             "sslProtocols": ["TLSv1.2"], "readTimeout": 30, "keepaliveTimeout": 5,
                             "customHeaders": {}}}
    out = orq.handler(cf_event("origin-request", "/images/cat.png", origin=api_origin), None)
    assert out["origin"] == {"s3": {"domainName": S3_DOMAIN, "region": S3_REGION,
                                    "authMethod": "origin-access-identity", "path": "/processed",
                                    "customHeaders": {}}}
    assert out["headers"]["host"] == [{"key": "Host", "value": S3_DOMAIN}]


def test_origin_request_longest_prefix_wins_and_unmatched_is_untouched(edge):
    edge.configure(make_config())
    orq = edge.load("origin_request")
    raw = orq.handler(cf_event("origin-request", "/images/raw/x.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT)), None)
    assert raw["origin"]["custom"]["domainName"] == API_DOMAIN
    before = cf_event("origin-request", "/favicon.ico", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT))
    expected = copy.deepcopy(before["Records"][0]["cf"]["request"])
    assert orq.handler(before, None) == expected


# --------------------------------------------------------------------------- origin-response

def test_s3_hit_passes_through_unchanged(edge, api_server):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    hit = {"status": "200", "statusDescription": "OK",
           "headers": {"content-type": [{"key": "Content-Type", "value": "image/png"}]}}
    out = ors.handler(cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=copy.deepcopy(hit)), None)
    assert out == hit
    assert api_server.seen == []


@pytest.mark.parametrize("miss_status", [403, 404])
def test_s3_miss_fails_over_to_api_and_writes_back(edge, api_server, bucket, miss_status):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(miss_status)), None)
    assert api_server.seen == ["/prod/images/cat.png"]
    assert out["status"] == "200"
    assert out["bodyEncoding"] == "base64" and base64.b64decode(out["body"]) == PNG
    assert out["headers"]["content-type"] == [{"key": "Content-Type", "value": "image/png"}]
    assert out["headers"]["cache-control"][0]["value"] == "max-age=86400"
    assert "content-length" not in out["headers"] and "x-amz-request-id" not in out["headers"]
    assert out["headers"]["via"] == s3_response(miss_status)["headers"]["via"]  # read-only, kept as is
    obj = bucket.get_object(Bucket=BUCKET, Key="processed/images/cat.png")
    assert obj["Body"].read() == PNG
    assert obj["ContentType"] == "image/png"
    assert obj["CacheControl"] == "max-age=31536000"


def test_failover_forwards_query_and_does_not_write_back_query_variants(edge, api_server, bucket):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/cat.png", "w=100", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(403)), None)
    assert out["status"] == "200"
    assert api_server.seen == ["/prod/images/cat.png?w=100"]
    assert bucket.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_write_back_disabled_writes_nothing(edge, api_server, bucket):
    edge.configure(make_config(api_port=api_server.server_port, write_back=False))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(403)), None)
    assert out["status"] == "200" and base64.b64decode(out["body"]) == PNG
    assert bucket.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


@pytest.mark.parametrize("uri,status,body", [("/images/broken.png", "500", '{"error":"resize failed"}'),
                                             ("/images/nope.png", "404", "no")])
def test_api_error_status_passes_through_and_is_not_written(edge, api_server, bucket, uri, status, body):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", uri, origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(403)), None)
    assert out["status"] == status
    assert out["bodyEncoding"] == "text" and out["body"] == body
    assert bucket.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_write_back_failure_still_returns_api_answer(edge, api_server, aws, caplog):
    # The bucket does not exist: put_object raises NoSuchBucket.
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(403)), None)
    assert out["status"] == "200"
    assert base64.b64decode(out["body"]) == PNG
    assert "write-back of /images/cat.png failed" in caplog.text
    assert "NoSuchBucket" in caplog.text


def test_oversized_api_body_gives_502_but_is_written_back(edge, api_server, bucket):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/huge.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(403)), None)
    assert out["status"] == "502"
    assert out["headers"]["cache-control"][0]["value"] == "no-store"
    head = bucket.head_object(Bucket=BUCKET, Key="processed/images/huge.png")
    assert head["ContentLength"] == 1024 * 1024 + 10  # next request is an S3 hit


def test_unreachable_api_gives_502(edge, aws):
    import socket
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    edge.configure(make_config(api_port=port))
    ors = edge.load("origin_response")
    out = ors.handler(cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT),
                               response=s3_response(404)), None)
    assert out["status"] == "502"


def test_custom_origin_error_is_not_failed_over(edge, api_server):
    edge.configure(make_config(api_port=api_server.server_port))
    ors = edge.load("origin_response")
    api_origin = {"custom": {"domainName": API_DOMAIN, "port": 443, "protocol": "https", "path": "/prod",
                             "sslProtocols": ["TLSv1.2"], "readTimeout": 30, "keepaliveTimeout": 5,
                             "customHeaders": {}}}
    resp = s3_response(404)
    out = ors.handler(cf_event("origin-response", "/api/x", origin=api_origin, response=copy.deepcopy(resp)), None)
    assert out == resp
    assert api_server.seen == []


# --------------------------------------------------------------------------- config

def test_config_is_read_from_the_module_directory_and_cached(edge):
    edge.configure(make_config())
    config = edge.load("config")
    first = config.get()
    assert first.origins["s3"].path == "/processed" and first.signing.parameter == PARAM
    (edge.root / "config.json").write_text("{broken")
    assert config.get() is first  # once per container


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["write_back"].update(prefix="other/"), "does not match"),
    (lambda c: c["write_back"].update(bucket="someone-else"), "not the bucket"),
    (lambda c: c["routes"].append({"prefix": "/x/", "origin": "nowhere"}), "origin must be one of"),
    (lambda c: c.update(api_timeout_seconds=60), "api_timeout_seconds"),
    (lambda c: c["signing"].update(secret="inline"), "unknown keys"),
    (lambda c: (c.pop("signing"), c["origins"]["api"].update(signed=True)), "needs the signing section"),
])
def test_config_rejects_inconsistent_values(edge, mutate, message):
    cfg = make_config()
    mutate(cfg)
    edge.configure(cfg)
    config = edge.load("config")
    with pytest.raises(config.ConfigError, match=message):
        config.load()


def test_api_reached_through_the_distribution_when_its_domain_is_not_known(edge, api_server, bucket):
    # The compiler does not know the API's execute-api domain, so the config says "$distribution" and the
    # function calls the API through the distribution whose domain the event carries.
    cfg = make_config(api_port=api_server.server_port)
    cfg["origins"]["api"]["domain"] = "$distribution"
    edge.configure(cfg)
    ors = edge.load("origin_response")
    event = cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT), response=s3_response(403))
    event["Records"][0]["cf"]["config"]["distributionDomainName"] = "127.0.0.1"
    out = ors.handler(event, None)
    assert api_server.seen == ["/prod/images/cat.png"]
    assert out["status"] == "200" and base64.b64decode(out["body"]) == PNG


def test_a_signed_api_origin_gets_a_call_the_viewer_request_check_accepts(edge, api_server, bucket, ssm_key):
    # The image route is signed on every path (an /api/images/* behavior checks it too): the function signs its own
    # call, and what the API's path receives passes viewer_request's check with the same key.
    cfg = make_config(api_port=api_server.server_port)
    cfg["origins"]["api"]["signed"] = True
    edge.configure(cfg)
    ors = edge.load("origin_response")
    event = cf_event("origin-response", "/images/cat.png", origin=copy.deepcopy(S3_ORIGIN_IN_EVENT), response=s3_response(404))
    out = ors.handler(event, None)
    assert out["status"] == "200"
    (called,) = api_server.seen
    path, query = called.split("?")
    assert path == "/prod/images/cat.png"
    cfg["signing"]["protected_prefixes"] = ["/prod/images/"]
    edge.configure(cfg)
    vr = edge.load("viewer_request")
    importlib.reload(edge.load("config"))
    checked = vr.handler(cf_event("viewer-request", path, querystring=query), None)
    assert checked.get("status") is None and checked["querystring"] == ""  # forwarded, the signature stripped
    forged = vr.handler(cf_event("viewer-request", "/prod/images/dog.png", querystring=query), None)
    assert forged["status"] == "403"  # the signature is for the path called, nothing else


@pytest.mark.parametrize("uri", ["/%69mages/cat.png", "//images/cat.png", "/static/../images/cat.png", "/images%2Fcat.png"])
def test_an_encoded_or_unnormalized_path_to_a_protected_prefix_still_needs_a_signature(edge, ssm_key, uri):
    edge.configure(make_config())
    vr = edge.load("viewer_request")
    out = vr.handler(cf_event("viewer-request", uri), None)
    assert out.get("status") == "403", uri
