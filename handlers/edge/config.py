"""Compile-time configuration for the Lambda@Edge handlers.

Lambda@Edge has no environment variables, so the compiler writes ``config.json``
next to the handler modules inside the function zip. Each container reads it
once (``get()`` caches it at module level). The file never holds secrets: the
URL-signing key lives in an SSM SecureString whose *name* is given here.

Schema (unknown keys are rejected; defaults in brackets)::

    {
      "signing": {                              # needed by viewer_request only
        "parameter": "/fillup/prod/edge/url-signing-key",  # SSM SecureString name (or ARN)
        "region": "us-east-1",                  # [us-east-1] Region of the parameter
        "cache_seconds": 300,                   # [300] in-memory key cache per container
        "expires_param": "expires",             # [expires]
        "signature_param": "signature",         # [signature]
        "protected_prefixes": ["/images/"]      # URIs that need a valid signature
      },
      "origins": {                              # name -> origin
        "s3":  {"type": "s3",                   # [s3 when the name is "s3", else custom]
                "domain": "bucket.s3.ap-northeast-1.amazonaws.com",
                "region": "ap-northeast-1",      # required with origin-access-identity
                "path": "/processed",           # [""] origin path, no trailing slash
                "auth_method": "origin-access-identity",  # [origin-access-identity] | none
                "custom_headers": {}},          # [{}] non-secret headers sent to the origin
        "api": {"type": "custom",
                "domain": "abc123.execute-api.ap-northeast-1.amazonaws.com",
                "path": "/prod", "protocol": "https",   # [https] | http (tests)
                "port": 443,                    # [443 for https, 80 for http]
                "read_timeout": 30, "keepalive_timeout": 5,
                "ssl_protocols": ["TLSv1.2"], "custom_headers": {},
                "signed": false}                # [false] sign each call with the signing key (a
                                                # path the distribution protects); needs "signing"
      },
      "routes": [{"prefix": "/api/", "origin": "api"},   # longest prefix wins;
                 {"prefix": "/images/", "origin": "s3"}], # no match = origin untouched
      "failover_origin": "api",                 # [api] custom origin called on an S3 miss
      "write_back": {                           # [disabled]
        "enabled": true, "bucket": "bucket", "region": "ap-northeast-1",
        "prefix": "processed/",                 # must equal the S3 origin path ("/processed")
        "cache_control": "max-age=31536000",    # [max-age=31536000]
        "max_object_bytes": 10485760            # [10 MiB] larger API bodies are not stored
      },
      "api_timeout_seconds": 10                 # [10] 0 < t <= 30 (origin-response limit)
    }

Write-back objects must land where the S3 origin reads them: key = prefix +
URI (decoded, without the leading slash), and CloudFront asks S3 for
origin path + URI, so ``write_back.prefix`` must match the S3 origin's ``path``
and ``write_back.bucket`` must be the bucket of an S3 origin; ``load`` checks both.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

CONFIG_FILE = "config.json"
# An origin domain of "$distribution" means: this distribution's own domain (from the event), used to
# reach the API through its cache behavior when the API's domain is not known at compile time.
DISTRIBUTION_DOMAIN = "$distribution"
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_FILE)
AUTH_METHODS = ("origin-access-identity", "none")


class ConfigError(ValueError):
    """config.json is missing a value or is inconsistent."""


@dataclass(frozen=True)
class Signing:
    parameter: str
    protected_prefixes: tuple[str, ...]
    region: str = "us-east-1"
    cache_seconds: float = 300
    expires_param: str = "expires"
    signature_param: str = "signature"


@dataclass(frozen=True)
class Origin:
    name: str
    type: str  # "s3" | "custom"
    domain: str
    path: str = ""
    region: str = ""
    auth_method: str = "origin-access-identity"
    protocol: str = "https"
    port: int = 443
    read_timeout: int = 30
    keepalive_timeout: int = 5
    ssl_protocols: tuple[str, ...] = ("TLSv1.2",)
    custom_headers: dict = field(default_factory=dict)
    signed: bool = False  # origin_response signs its call (expires + signature) with the signing key


@dataclass(frozen=True)
class Route:
    prefix: str
    origin: str


@dataclass(frozen=True)
class WriteBack:
    enabled: bool = False
    bucket: str = ""
    region: str = ""
    prefix: str = ""
    cache_control: str = "max-age=31536000"
    max_object_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class EdgeConfig:
    origins: dict
    routes: tuple[Route, ...] = ()
    signing: Optional[Signing] = None
    write_back: WriteBack = WriteBack()
    failover_origin: str = "api"
    api_timeout_seconds: float = 10


def _take(raw: Any, where: str, required: tuple = (), optional: tuple = ()) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object")
    unknown = set(raw) - set(required) - set(optional)
    missing = [k for k in required if raw.get(k) in (None, "")]
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if missing:
        raise ConfigError(f"{where}: missing {missing}")
    return raw


def _origin(name: str, raw: Any) -> Origin:
    where = f"origins.{name}"
    r = _take(raw, where, ("domain",), ("type", "path", "region", "auth_method", "protocol", "port",
                                       "read_timeout", "keepalive_timeout", "ssl_protocols", "custom_headers", "signed"))
    kind = r.get("type", "s3" if name == "s3" else "custom")
    path = r.get("path", "")
    protocol = r.get("protocol", "https")
    if kind not in ("s3", "custom"):
        raise ConfigError(f"{where}.type must be s3 or custom")
    if path and (not path.startswith("/") or path.endswith("/")):
        raise ConfigError(f"{where}.path must start with / and not end with /")
    if protocol not in ("http", "https"):
        raise ConfigError(f"{where}.protocol must be http or https")
    origin = Origin(
        name=name, type=kind, domain=r["domain"], path=path, region=r.get("region", ""),
        auth_method=r.get("auth_method", "origin-access-identity"), protocol=protocol,
        port=int(r.get("port", 443 if protocol == "https" else 80)),
        read_timeout=int(r.get("read_timeout", 30)), keepalive_timeout=int(r.get("keepalive_timeout", 5)),
        ssl_protocols=tuple(r.get("ssl_protocols", ("TLSv1.2",))), custom_headers=dict(r.get("custom_headers", {})),
        signed=r.get("signed", False) is True)
    if origin.auth_method not in AUTH_METHODS:
        raise ConfigError(f"{where}.auth_method must be one of {AUTH_METHODS}")
    if kind == "s3" and origin.auth_method == "origin-access-identity" and not origin.region:
        raise ConfigError(f"{where}.region is required with auth_method origin-access-identity")
    if not (origin.port in (80, 443) or 1024 <= origin.port <= 65535):
        raise ConfigError(f"{where}.port must be 80, 443 or 1024-65535")
    return origin


def parse(raw: Any) -> EdgeConfig:
    """Validate a decoded config.json and build an EdgeConfig."""
    r = _take(raw, "config", ("origins",),
              ("signing", "routes", "write_back", "failover_origin", "api_timeout_seconds"))
    if not isinstance(r["origins"], dict):
        raise ConfigError("origins: expected an object")
    origins = {name: _origin(name, o) for name, o in r["origins"].items()}
    routes = []
    for i, rr in enumerate(r.get("routes", [])):
        rr = _take(rr, f"routes[{i}]", ("prefix", "origin"))
        if not rr["prefix"].startswith("/") or rr["origin"] not in origins:
            raise ConfigError(f"routes[{i}]: prefix must start with / and origin must be one of {sorted(origins)}")
        routes.append(Route(rr["prefix"], rr["origin"]))
    signing = None
    if "signing" in r:
        s = _take(r["signing"], "signing", ("parameter", "protected_prefixes"),
                  ("region", "cache_seconds", "expires_param", "signature_param"))
        signing = Signing(parameter=s["parameter"], protected_prefixes=tuple(s["protected_prefixes"]),
                          region=s.get("region", "us-east-1"), cache_seconds=float(s.get("cache_seconds", 300)),
                          expires_param=s.get("expires_param", "expires"),
                          signature_param=s.get("signature_param", "signature"))
        if signing.cache_seconds < 0 or any(not p.startswith("/") for p in signing.protected_prefixes):
            raise ConfigError("signing: cache_seconds must be >= 0 and protected_prefixes must start with /")
    if signing is None and any(o.signed for o in origins.values()):
        raise ConfigError("origins: a signed origin needs the signing section (the key to sign with)")
    wb = WriteBack()
    if "write_back" in r:
        w = _take(r["write_back"], "write_back", (),
                  ("enabled", "bucket", "region", "prefix", "cache_control", "max_object_bytes"))
        wb = WriteBack(**w)
        if wb.enabled:
            _check_write_back(wb, origins)
    timeout = float(r.get("api_timeout_seconds", 10))
    if not 0 < timeout <= 30:
        raise ConfigError("api_timeout_seconds must be in (0, 30]")
    failover = r.get("failover_origin", "api")
    if failover in origins and origins[failover].type != "custom":
        raise ConfigError(f"failover_origin {failover!r} must be a custom origin")
    return EdgeConfig(origins=origins, routes=tuple(routes), signing=signing, write_back=wb,
                      failover_origin=failover, api_timeout_seconds=timeout)


def _check_write_back(wb: WriteBack, origins: dict) -> None:
    if not wb.bucket or not wb.region:
        raise ConfigError("write_back: bucket and region are required when enabled")
    for o in origins.values():
        if o.type == "s3" and o.domain.startswith(wb.bucket + ".s3"):
            if o.path.strip("/") != wb.prefix.strip("/"):
                raise ConfigError(f"write_back.prefix {wb.prefix!r} does not match origins.{o.name}.path "
                                  f"{o.path!r}: written objects would never be read")
            return
    raise ConfigError(f"write_back.bucket {wb.bucket!r} is not the bucket of any s3 origin")


def load(path: Optional[str] = None) -> EdgeConfig:
    """Read and validate config.json (default: next to this module). Not cached."""
    with open(path or DEFAULT_PATH, encoding="utf-8") as fh:
        return parse(json.load(fh))


_CACHED: Optional[EdgeConfig] = None


def get() -> EdgeConfig:
    """The container-wide configuration, read from disk on first use."""
    global _CACHED
    if _CACHED is None:
        _CACHED = load()
    return _CACHED
