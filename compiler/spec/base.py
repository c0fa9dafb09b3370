"""The strict, frozen model base and the way cross-field rules report their codes and places."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

RULES_ERROR = "archc_rules"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)


@dataclass(frozen=True)
class Issue:
    """One broken cross-field rule: its code, the field it points at (relative to the model), why."""

    code: str
    at: tuple[str | int, ...]
    message: str


def raise_issues(issues: Iterable[Issue]) -> None:
    """Raise every broken rule of one model at once (the loader turns each into a located diagnostic)."""
    issues = tuple(issues)
    if issues:
        raise PydanticCustomError(RULES_ERROR, "{count} rule(s) broken", {"count": len(issues), "issues": issues})


def camel(name: str) -> str:
    """`file_processor` -> `FileProcessor`: user-given names become logical-ID parts."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)
