"""The URL-signing keys, read from the SSM SecureString named in config.json and cached per container.

Used by viewer_request (to check a signature) and origin_response (to sign its own call to a protected API path).
The parameter holds one key, or two newline-separated keys (newest first) during a rotation. If a refresh fails the
previous keys stay in use (retried every 30 s at most); with no keys at all the caller gets the exception. The role
needs ``ssm:GetParameter`` on the parameter ARN and ``kms:Decrypt`` on its KMS key.
"""
from __future__ import annotations

import logging
import time

import boto3
from botocore.config import Config

import config
import signing

log = logging.getLogger()

RETRY_AFTER_FAILURE = 30.0
_ssm = None
_keys: list[str] = []
_keys_valid_until = 0.0


def signing_keys(cfg: config.Signing) -> list[str]:
    """Keys from SSM, cached per container for cfg.cache_seconds."""
    global _ssm, _keys, _keys_valid_until
    now = time.monotonic()
    if _keys and now < _keys_valid_until:
        return _keys
    try:
        if _ssm is None:
            _ssm = boto3.client("ssm", region_name=cfg.region, config=Config(
                connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}))
        value = _ssm.get_parameter(Name=cfg.parameter, WithDecryption=True)["Parameter"]["Value"]
        keys = signing.parse_keys(value)
        if not keys:
            raise ValueError("signing parameter is empty")
        _keys, _keys_valid_until = keys, now + cfg.cache_seconds
    except Exception:
        if not _keys:
            raise
        log.exception("signing key refresh failed; keeping the cached keys")
        _keys_valid_until = now + min(RETRY_AFTER_FAILURE, cfg.cache_seconds)
    return _keys
