"""Every name archc makes: stack names, export names, logical IDs, resource-name prefixes."""

from __future__ import annotations

import re

from .spec.base import camel

__all__ = ["camel", "stack_name", "export_name", "logical_id", "resource_prefix"]


def stack_name(app: str, env: str, concern: str) -> str:
    return f"{app}-{env}-{concern}"


def export_name(stack: str, output: str) -> str:
    return f"{stack}-{output}"


def logical_id(*parts: str) -> str:
    """`<Concern><Role><Kind>`: ('data', 'orders', 'Table') -> 'DataOrdersTable'. A public promise: renaming replaces."""
    lid = "".join(camel(p) if p[:1].islower() or "_" in p or "-" in p else p for p in parts)
    if not re.fullmatch(r"[A-Za-z0-9]{1,255}", lid):
        raise ValueError(f"not a logical ID: {lid!r}")
    return lid


def resource_prefix(app: str, env: str) -> str:
    """Prefix for names AWS shows people (alarm names, log groups): `fillup-prod`."""
    return f"{app}-{env}"
