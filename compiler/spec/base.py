"""The strict, frozen model base and the way cross-field rules report their codes and places."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Iterable

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

RULES_ERROR = "archc_rules"

# A user name for a resource: it becomes part of AWS names and logical IDs (hyphens and underscores both camel-case).
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,29}$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True, defer_build=True)


@dataclass(frozen=True)
class Issue:
    """One broken cross-field rule: its code, the field it points at (relative to the model), why."""

    code: str
    at: tuple[str | int, ...]
    message: str
    reads: tuple[tuple[str | int, ...], ...] = ()  # other parts the rule looked at (relative, like `at`)


def raise_issues(issues: Iterable[Issue]) -> None:
    """Raise every broken rule of one model at once (the loader turns each into a located diagnostic)."""
    issues = tuple(issues)
    if issues:
        raise PydanticCustomError(RULES_ERROR, "{count} rule(s) broken", {"count": len(issues), "issues": issues})
