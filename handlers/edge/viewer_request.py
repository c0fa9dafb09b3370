"""viewer-request: require a valid URL signature under the protected prefixes.

Handler string: ``viewer_request.handler`` (128 MB, 5 s, generated response <= 40 KB).

Signing secret: an SSM Parameter Store SecureString in us-east-1 (``signing.parameter``
in config.json holds its NAME, never its value). On first use the function calls
``ssm.get_parameter(Name=..., WithDecryption=True)`` and keeps the keys in memory for
``signing.cache_seconds``. The parameter holds one key, or two newline-separated
keys (newest first) during a rotation; a signature made with either is accepted.
If a refresh fails the previous keys stay in use (retried every 30 s at most); with no
keys at all the viewer gets a 503. The role needs ``ssm:GetParameter`` on the
parameter ARN and ``kms:Decrypt`` on its KMS key. See README.md for rotation steps.

A protected request with a missing, malformed, wrong or expired signature gets a
generated 403 (``cache-control: no-store``). A valid one is forwarded with the
``expires``/``signature`` query parameters removed so they don't fragment the cache.
"""
from __future__ import annotations

import logging
import posixpath
import re
from urllib.parse import unquote, unquote_plus

import config
import keys
import signing

log = logging.getLogger()
log.setLevel(logging.INFO)


def _response(status: int, description: str, body: str) -> dict:
    return {
        "status": str(status),
        "statusDescription": description,
        "headers": {
            "cache-control": [{"key": "Cache-Control", "value": "no-store"}],
            "content-type": [{"key": "Content-Type", "value": "text/plain; charset=utf-8"}],
        },
        "body": body,
    }


def _split_query(querystring: str, names: tuple[str, str]) -> tuple[dict, list[str]]:
    """Values of ``names`` (a list per name) and the untouched remaining pieces."""
    found: dict = {name: [] for name in names}
    rest = []
    for piece in querystring.split("&") if querystring else []:
        key, _, value = piece.partition("=")
        key = unquote_plus(key)
        if key in found:
            found[key].append(unquote_plus(value))
        elif piece:
            rest.append(piece)
    return found, rest


def handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    cfg = config.get().signing
    uri = request["uri"]
    # CloudFront may match a behavior on the decoded, normalized path: /%69mages/x and //images/./x are /images/x too.
    normalized = posixpath.normpath(re.sub(r"/+", "/", unquote(uri)))
    if cfg is None or not any(uri.startswith(p) or normalized.startswith(p) for p in cfg.protected_prefixes):
        return request
    found, rest = _split_query(request.get("querystring", ""), (cfg.expires_param, cfg.signature_param))
    expires, sig = found[cfg.expires_param], found[cfg.signature_param]
    if len(expires) != 1 or len(sig) != 1:
        log.info("403 %s: missing or repeated signature parameters", uri)
        return _response(403, "Forbidden", "Forbidden: missing or invalid signature\n")
    try:
        current = keys.signing_keys(cfg)
    except Exception:
        log.exception("no signing key available")
        return _response(503, "Service Unavailable", "Service Unavailable\n")
    if not signing.verify(uri, expires[0], sig[0], current, expires_param=cfg.expires_param):
        log.info("403 %s: bad, malformed or expired signature", uri)
        return _response(403, "Forbidden", "Forbidden: missing or invalid signature\n")
    request["querystring"] = "&".join(rest)
    return request
