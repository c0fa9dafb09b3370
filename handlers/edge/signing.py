"""Signed URLs for protected paths (shared by clients and the viewer-request function).

signature = base64url_nopad(HMAC-SHA256(key, "{path}?{expires_param}={expires}"))

* ``path``: the URI exactly as CloudFront sees it (percent-encoded, no query string).
* ``expires``: Unix time in whole seconds; the URL is valid while now <= expires.
* ``key``: the signing secret as text (its UTF-8 bytes are the HMAC key).

A client builds ``{path}?expires={expires}&signature={signature}`` (``sign_url``);
other query parameters are allowed and are not covered by the signature.
Standard library only, so backends can copy or import this file as is.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Iterable, Optional, Union
from urllib.parse import urlencode

SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32-byte digest, base64url without padding
EXPIRES_RE = re.compile(r"[0-9]{1,12}")


def string_to_sign(path: str, expires: Union[int, str], expires_param: str = "expires") -> str:
    return f"{path}?{expires_param}={expires}"


def sign(path: str, expires: Union[int, str], key: str, expires_param: str = "expires") -> str:
    """Signature for ``path`` valid until ``expires`` (Unix seconds)."""
    digest = hmac.new(key.encode("utf-8"), string_to_sign(path, expires, expires_param).encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_url(path: str, expires: int, key: str, expires_param: str = "expires",
             signature_param: str = "signature") -> str:
    """``path?expires=...&signature=...`` ready to append to the distribution's base URL."""
    query = urlencode({expires_param: expires, signature_param: sign(path, expires, key, expires_param)})
    return f"{path}?{query}"


def verify(path: str, expires: Optional[str], signature: Optional[str], keys: Union[str, Iterable[str]],
           now: Optional[float] = None, expires_param: str = "expires") -> bool:
    """True if ``signature`` is well formed, not expired and made with one of ``keys``."""
    if not isinstance(expires, str) or not isinstance(signature, str):
        return False
    if not EXPIRES_RE.fullmatch(expires) or not SIGNATURE_RE.fullmatch(signature):
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    if isinstance(keys, str):
        keys = [keys]
    given = signature.encode("ascii")
    ok = False
    for key in keys:  # no early exit: time does not reveal which key matched
        ok |= hmac.compare_digest(sign(path, expires, key, expires_param).encode("ascii"), given)
    return ok


def parse_keys(secret_value: str) -> list[str]:
    """Keys held by the SSM parameter: one per line, newest first (empty lines ignored)."""
    return [line.strip() for line in secret_value.splitlines() if line.strip()]
