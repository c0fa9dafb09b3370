"""The `tables:` section: named DynamoDB tables (keys, indexes, TTL, streams), on demand, encrypted, recoverable."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]


class KeyAttribute(StrictModel):
    name: AttributeName
    type: Literal["S", "N", "B"] = "S"


class Index(StrictModel):
    """A global secondary index."""

    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    projection: Literal["all", "keys_only"] | list[AttributeName] = Field(
        "all", description="all, keys_only, or a list of non-key attributes to include")


class Table(StrictModel):
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    indexes: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")], Index] = Field(default_factory=dict)
    ttl_attribute: AttributeName | None = None
    stream: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = None
    point_in_time_recovery: bool = True
    deletion_protection: bool = True
    replicate: bool | None = Field(None, description="a global table with a replica in the DR region; default: on when the spec has dr:")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.sort_key and self.sort_key.name == self.partition_key.name:
            issues.append(Issue("S213", ("sort_key", "name"), "the sort key must differ from the partition key"))
        types: dict[str, str] = {}
        keys = [(("partition_key",), self.partition_key), (("sort_key",), self.sort_key)]
        keys += [(("indexes", n, k), getattr(ix, k)) for n, ix in self.indexes.items() for k in ("partition_key", "sort_key")]
        for at, key in keys:
            if key is None:
                continue
            if types.setdefault(key.name, key.type) != key.type:
                issues.append(Issue("S213", at + ("type",), f'attribute "{key.name}" is declared with two types; DynamoDB keeps one per attribute'))
        if len(self.indexes) > 20:
            issues.append(Issue("S213", ("indexes",), "DynamoDB allows 20 global secondary indexes per table"))
        raise_issues(issues)
        return self
