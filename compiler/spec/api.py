"""The `api:` section: a REST API (API Gateway v1) and a WebSocket API (API Gateway v2), each backed by a function."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues
from .functions import Cors
from .regions import retention_issues

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY")
REST_MAX_TIMEOUT_S = 29  # API Gateway's integration timeout
_PATH = re.compile(r"/|(/([A-Za-z0-9._-]+|\{[A-Za-z_][A-Za-z0-9_]*\}|\{proxy\+\}))+")
_WS_ROUTE = re.compile(r"\$connect|\$disconnect|\$default|[A-Za-z][A-Za-z0-9_-]{0,127}")


class Throttle(StrictModel):
    rate: float = Field(1000, gt=0, le=10000, description="steady requests per second (account limit 10,000 per region)")
    burst: int = Field(2000, ge=0, le=5000, description="bucket size (account limit 5,000 per region)")


class Sampling(StrictModel):
    """An X-Ray sampling rule for the REST API's stage. Lambda honours API Gateway's decision for the requests it passes on;
    a function invoked any other way samples one request a second and 5 % of the rest, which Lambda does not let anyone change."""

    rate: float = Field(ge=0, le=1, description="fraction of requests traced once the reservoir is used, e.g. 0.1 (X-Ray's default 0.05)")
    reservoir_per_s: int = Field(1, ge=0, le=100000, description="requests a second traced before the rate applies")


_POOL = r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/[a-z0-9-]+_[A-Za-z0-9]+$"


class RestAuth(StrictModel):
    """Who may call the REST API's routes. `none` (anyone) is a weakened default: it needs a waiver with its reason."""

    type: Literal["none", "iam", "cognito"] = Field("none", description="none: anyone; iam: SigV4-signed calls whose principal "
                                                    "has execute-api:Invoke; cognito: a valid token of the user pool")
    user_pool_arn: str | None = Field(None, pattern=_POOL, description="cognito: the user pool whose ID tokens are accepted "
                                                                       "(Authorization header)")
    public: list[str] = Field(default_factory=list, description='routes left open to anyone (e.g. "GET /api/health" for monitors); '
                                                                "a weakened default that needs a waiver")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if (self.type == "cognito") != (self.user_pool_arn is not None):
            issues.append(Issue("S258", ("user_pool_arn",), "type cognito needs user_pool_arn, and only cognito takes it"))
        if self.type == "none" and self.public:
            issues.append(Issue("S258", ("public",), "with type none every route is already open: remove public"))
        raise_issues(issues)
        return self


class Rest(StrictModel):
    function: str
    routes: list[str] = Field(default_factory=lambda: ["ANY /", "ANY /{proxy+}"], description='"METHOD /path" each; ANY for all methods')
    throttle: Throttle = Throttle()
    cors: Cors | None = None
    access_log_retention_days: int = 14
    health: str | None = Field(None, description=("path of the GET route monitors call, e.g. /api/health: it must report the primary "
                                                  "region, so CloudFront never fails it over (named in the DR runbook)"))
    sampling: Sampling | None = Field(None, description="X-Ray sampling of the API's requests (default: X-Ray's 1 a second and 5 %)")
    auth: RestAuth = Field(RestAuth(), description="who may call the routes (default none: anyone, a weakened default)")
    origin_verify: bool = Field(True, description="answer only what a distribution of this spec forwards: CloudFront sends a "
                                "random header (a Secrets Manager secret) that a regional WAF web ACL on the stage checks; "
                                "false leaves the regional endpoint open to anyone (a weakened default)")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        issues += retention_issues(("access_log_retention_days",), self.access_log_retention_days)
        if self.health is not None and ("GET", self.health) not in [parse_route(r) for r in self.routes]:
            issues.append(Issue("S220", ("health",), f'"{self.health}" is not a route of this API: add "GET {self.health}" to routes'))
        seen = set()
        for i, route in enumerate(self.routes):
            parsed = parse_route(route)
            if parsed is None:
                issues.append(Issue("S220", ("routes", i), f'"{route}" is not a route: write "METHOD /path" with METHOD one of {", ".join(METHODS)} '
                                    "and path segments of letters, digits, ._- or {param} ({proxy+} last)"))
            elif parsed in seen:
                issues.append(Issue("S220", ("routes", i), f'"{route}" is listed twice'))
            else:
                seen.add(parsed)
        for i, route in enumerate(self.auth.public):
            if parse_route(route) not in seen:
                issues.append(Issue("S220", ("auth", "public", i), f'"{route}" is not a route of this API'))
        raise_issues(issues)
        return self

    @property
    def methods(self) -> list[tuple[str, str]]:
        return [parse_route(r) for r in self.routes]


def parse_route(route: str) -> tuple[str, str] | None:
    parts = route.split()
    if len(parts) != 2 or parts[0] not in METHODS or not _PATH.fullmatch(parts[1]):
        return None
    if "{proxy+}" in parts[1][:-len("{proxy+}")]:
        return None
    return parts[0], parts[1]


class WebSocket(StrictModel):
    function: str
    routes: list[str] = Field(default_factory=lambda: ["$connect", "$disconnect", "$default"])
    route_selection: str = Field("$request.body.action", pattern=r"^\$request\.body\.[A-Za-z_][A-Za-z0-9_.]*$")
    throttle: Throttle = Throttle(rate=500, burst=1000)
    access_log_retention_days: int = 14
    auth: Literal["none", "iam"] = Field("none", description="who may connect ($connect: API Gateway authorizes a WebSocket once): "
                                         "none (anyone, a weakened default) or iam (SigV4-signed connection requests)")

    @model_validator(mode="after")
    def _rules(self):
        issues = [Issue("S220", ("routes", i), f'"{r}" is not a WebSocket route: $connect, $disconnect, $default or a name of letters, digits, _ and -')
                  for i, r in enumerate(self.routes) if not _WS_ROUTE.fullmatch(r)]
        issues += retention_issues(("access_log_retention_days",), self.access_log_retention_days)
        if len(set(self.routes)) != len(self.routes):
            issues.append(Issue("S220", ("routes",), "each route may be listed once"))
        raise_issues(issues)
        return self


class Api(StrictModel):
    rest: Rest | None = None
    websocket: WebSocket | None = None


