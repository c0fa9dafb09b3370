"""The arch.yaml models: the top level (app, regions, tags) and one module per section."""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterator

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .alarms import Alarms
from .api import REST_MAX_TIMEOUT_S, Api
from .cdn import Cdn
from .base import Issue, StrictModel, camel, raise_issues
from .database import Database, DynamoDB, Postgres
from .functions import Function, FunctionName
from .network import Network
from .regions import REGIONS

# Tags archc writes itself on every stack and resource.
RESERVED_TAGS = ("Environment", "Application", "Component")


class Regions(StrictModel):
    primary: str = Field(description="the region everything regional lives in")
    dr: str | None = Field(None, description="optional disaster-recovery region")

    @field_validator("primary", "dr")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            from ..diagnostics import did_you_mean
            raise PydanticCustomError("S208", '"{value}" is not an AWS region{hint}',
                                      {"value": value, "hint": did_you_mean(value, REGIONS)})
        return value

    @model_validator(mode="after")
    def _rules(self):
        if self.dr is not None and self.dr == self.primary:
            raise_issues([Issue("S204", ("dr",), f"the DR region must differ from the primary region ({self.primary})")])
        return self

    @property
    def all(self) -> tuple[str, ...]:
        return (self.primary,) + ((self.dr,) if self.dr else ())


class Deploy(StrictModel):
    """How `archc deploy` protects the stacks of this environment."""

    termination_protection: bool | None = Field(None, description="default: on for an environment named prod")
    rollback_alarms: bool = Field(True, description="use the stack's alarms (up to 5) as rollback triggers")
    monitoring_minutes: int = Field(10, ge=0, le=180, description="how long CloudFormation watches the rollback alarms after a deploy")
    timeout_minutes: int = Field(120, ge=5, le=720, description="how long deploy waits for one stack")


class Spec(StrictModel):
    """One environment's view of arch.yaml (the base with that environment's overlay merged on)."""

    app: str = Field(description="application name: lowercase letters, digits and hyphens; part of every stack and resource name")
    regions: Regions
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags on every stack and resource")
    waivers: dict[str, Annotated[str, Field(min_length=3)]] = Field(
        default_factory=dict, description="weakened secure defaults, by spec path, each with the written reason it is acceptable")
    network: Network = Network()
    database: Database | None = None
    functions: dict[FunctionName, Function] = Field(default_factory=dict)
    api: Api | None = None
    cdn: Cdn | None = None
    alarms: Alarms = Alarms()
    deploy: Deploy = Deploy()

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,19}", value) or value.endswith("-") or "--" in value:
            raise PydanticCustomError("S209", '"{value}" must be 2-20 lowercase letters, digits or single hyphens, starting with a letter '
                                      "(it is part of bucket, database and stack names)", {"value": value})
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if key in RESERVED_TAGS:
                raise PydanticCustomError("S210", 'tag "{key}" is written by archc itself; choose another key', {"key": key})
            if key.lower().startswith("aws:") or not 1 <= len(key) <= 128 or len(value) > 256 or not re.fullmatch(r"[\w .:/=+\-@]*", key + value):
                raise PydanticCustomError("S210", 'tag "{key}" is not valid: keys 1-128 and values 0-256 characters of letters, digits, '
                                          "spaces and _.:/=+-@, keys not starting with aws:", {"key": key})
        return tags

    @model_validator(mode="after")
    def _references(self):
        """Rules across sections: what one section names must exist in another and fit its limits."""
        from ..diagnostics import did_you_mean

        issues = []
        for section, api in (("rest", self.api and self.api.rest), ("websocket", self.api and self.api.websocket)):
            if api is None:
                continue
            fn = self.functions.get(api.function)
            if fn is None:
                issues.append(Issue("S221", ("api", section, "function"),
                                    f'no function "{api.function}" under functions:{did_you_mean(api.function, self.functions)}'))
            elif section == "rest" and fn.timeout_s > REST_MAX_TIMEOUT_S:
                issues.append(Issue("S217", ("functions", api.function, "timeout_s"),
                                    f"{fn.timeout_s} s behind the REST API, which stops waiting after {REST_MAX_TIMEOUT_S} s; use at most {REST_MAX_TIMEOUT_S}"))
        for name, fn in self.functions.items():
            if fn.uses_database and not isinstance(self.database, Postgres):
                issues.append(Issue("S224", ("functions", name, "uses_database"), "uses_database needs `database: {engine: postgres}`"))
        if self.cdn is not None:
            rest = self.api.rest if self.api else None
            if rest is None:
                issues.append(Issue("S225", ("cdn",), "the CDN fronts the REST API: add `api: {rest: ...}`"))
            elif not all(path == self.cdn.api_path or path.startswith(self.cdn.api_path + "/") for _, path in rest.methods):
                issues.append(Issue("S225", ("api", "rest", "routes"),
                                    f"behind the CDN every REST route lives under {self.cdn.api_path} (e.g. \"GET {self.cdn.api_path}/health\")"))
        net = self.network
        if isinstance(self.database, Postgres) and net.nat_gateways == 0 and "secretsmanager" not in net.endpoints:
            issues.append(Issue("S214", ("network", "endpoints"),
                                "the database's rotation function needs Secrets Manager: add the secretsmanager endpoint or a NAT gateway"))
        raise_issues(issues)
        return self

    def weakened(self) -> Iterator[tuple[str, str]]:
        """Every secure default this spec turns off, by spec path, with what it costs."""
        db = self.database
        if isinstance(db, (Postgres, DynamoDB)) and not db.deletion_protection:
            yield "database.deletion_protection", "deletion protection is off: a stack update or delete can drop the database"
        if isinstance(db, DynamoDB) and not db.point_in_time_recovery:
            yield "database.point_in_time_recovery", "point-in-time recovery is off: a bad write cannot be undone"
        for name, fn in self.functions.items():
            if fn.url is not None and fn.url.auth == "NONE":
                yield f"functions.{name}.url.auth", "the function URL is public: anyone on the internet can invoke it"
        if not self.alarms.email:
            yield "alarms.email", "no one is subscribed to the alarm topic: alarms fire unseen"
        if self.cdn is not None and not self.cdn.waf.enabled:
            yield "cdn.waf.enabled", "no web application firewall in front of the distribution"
        if self.cdn is not None and self.cdn.images is not None and not self.cdn.images.signed_urls:
            yield "cdn.images.signed_urls", "images are served to anyone without a signed URL"


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of arch.yaml: the Spec plus `environments:` overlays (partial specs merged onto it)."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archc arch.yaml"
    schema["properties"]["environments"] = {
        "type": "object",
        "description": "environment name -> overlay merged onto the base before validation "
                       "(mappings merge, lists and scalars replace, a changed variant tag replaces the section, null removes it)",
        "additionalProperties": {"type": ["object", "null"]},
        "propertyNames": {"pattern": "^[a-z][a-z0-9]{0,9}$"},
        "minProperties": 1,
    }
    schema["required"] = sorted(set(schema.get("required", [])) | {"environments"})
    return schema


__all__ = ["Cdn", "Api", "Deploy", "Alarms", "Database", "DynamoDB", "Function", "Network", "Postgres", "Regions", "Spec", "camel", "spec_json_schema"]
