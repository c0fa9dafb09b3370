"""The `cdn:` section: named CloudFront distributions, each a set of typed origins and path behaviors, with edge
functions per event, WAF, certificate and DNS (the edge resources live in us-east-1)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, Name, StrictModel, raise_issues
from .functions import LATEST_PYTHON, runtime_issues

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CLOUDFRONT_FUNCTION_RUNTIME = "cloudfront-js-2.0"
VIEWER_LIMITS = (128, 5)  # MB, seconds (aws-facts.md section 2)
ORIGIN_LIMITS = (10240, 30)
EVENTS = ("viewer-request", "origin-request", "origin-response", "viewer-response")
# CloudFront Functions run only on viewer events.
VIEWER_EVENTS = ("viewer-request", "viewer-response")
# Builtins are archc's own Lambda@Edge handlers (handlers/edge), configured from the behavior they sit on.
BUILTINS = {"signed_urls": "viewer-request", "fetch_on_miss": "origin-response"}
DEFAULT_FAILOVER_CODES = (500, 502, 503, 504)
# S3 behind OAC answers 403 for a missing object (aws-facts.md section 3): a bucket origin fails over on 403 and 404 too.
BUCKET_FAILOVER_CODES = (403, 404, 500, 502, 503, 504)
FAILOVER_CODES = (400, 403, 404, 416, 500, 502, 503, 504)
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_PATTERN = re.compile(r"/[A-Za-z0-9._~*{}/-]*|default")
_ORIGIN_PATH = re.compile(r"(/[A-Za-z0-9._-]+)*")


class Failover(StrictModel):
    """The twin an origin fails over to: another origin of this distribution, or the same origin in the DR region."""

    origin: str | None = Field(None, description="another origin of this distribution")
    region: Literal["dr"] | None = Field(None, description="the same API, function URL or (replicated) bucket in the DR region")
    on: list[Literal[400, 403, 404, 416, 500, 502, 503, 504]] | None = Field(
        None, description="status codes that fail over (default 500, 502, 503, 504; a bucket adds 403 and 404)")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if (self.origin is None) == (self.region is None):
            issues.append(Issue("S231", (), "give exactly one of `origin` (another origin) or `region: dr`"))
        if self.on is not None and (not self.on or len(set(self.on)) != len(self.on)):
            issues.append(Issue("S231", ("on",), "list each status code once, at least one"))
        raise_issues(issues)
        return self


class Origin(StrictModel):
    bucket: str | None = Field(None, description="a bucket under buckets:, read through origin access control")
    api: Literal["rest"] | None = Field(None, description="the REST API (its stage)")
    function_url: str | None = Field(None, description="a function's URL (functions.NAME.url), signed by origin access control")
    http: str | None = Field(None, description="any HTTPS server by domain name")
    path: str = Field("", description="origin path prepended to every request, e.g. /processed")
    failover: Failover | None = None

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if sum(x is not None for x in (self.bucket, self.api, self.function_url, self.http)) != 1:
            issues.append(Issue("S236", (), "give exactly one of bucket, api, function_url or http"))
        if not _ORIGIN_PATH.fullmatch(self.path):
            issues.append(Issue("S107", ("path",), 'write an origin path such as "/processed" (no trailing slash), or leave it out'))
        if self.http is not None and not _DOMAIN.fullmatch(self.http):
            issues.append(Issue("S107", ("http",), f'"{self.http}" is not a domain name'))
        if self.failover is not None and self.failover.region == "dr" and self.http is not None:
            issues.append(Issue("S231", ("failover", "region"), "an http origin has no DR-region copy archc knows of; "
                                "fail over to another origin instead"))
        raise_issues(issues)
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("bucket", "api", "function_url", "http") if getattr(self, k) is not None)

    @property
    def failover_codes(self) -> tuple[int, ...]:
        if self.failover.on is not None:
            return tuple(self.failover.on)
        return BUCKET_FAILOVER_CODES if self.kind == "bucket" else DEFAULT_FAILOVER_CODES


class Behavior(StrictModel):
    origin: str = Field(description="an origin of this distribution")
    methods: Literal["read", "read-options", "all"] = Field(
        "read", description="read: GET, HEAD; read-options: also OPTIONS; all: also POST, PUT, PATCH, DELETE")
    cache: Literal["disabled", "optimized", "immutable"] | None = Field(
        None, description="disabled (APIs, HTML), optimized (CloudFront's default TTLs), immutable (one year); "
                          "default: optimized for buckets, disabled otherwise")
    failover: bool = Field(True, description="false: send this path to the primary origin alone (writes cannot go to an origin group)")
    edge: dict[Literal["viewer-request", "origin-request", "origin-response", "viewer-response"], str] = Field(
        default_factory=dict, description="event -> a function under edge_functions")


class EdgeFunction(StrictModel):
    """A Lambda@Edge function (Python or Node.js, your code or an archc builtin) or a CloudFront Function."""

    code: str | None = Field(None, description="folder (relative to the spec) with your handler")
    builtin: Literal["signed_urls", "fetch_on_miss"] | None = Field(
        None, description="signed_urls: viewer-request check of an HMAC-signed URL; fetch_on_miss: origin-response that answers an "
                          "S3 miss from the behavior's failover origin")
    runtime: str = Field(LATEST_PYTHON, description=f"a Python or Node.js Lambda runtime (Lambda@Edge; default the newest Python) or "
                                                    f"{CLOUDFRONT_FUNCTION_RUNTIME} (CloudFront Function)")
    handler: str = Field("index.handler", pattern=r"^[A-Za-z0-9_./-]+\.[A-Za-z_][A-Za-z0-9_]*$",
                         description="file.function (Lambda@Edge with your code)")
    memory_mb: int = Field(128, description="viewer events 128 MB at most, origin events 10,240")
    timeout_s: int = Field(5, description="viewer events 5 s at most, origin events 30")
    write_back: bool = Field(False, description="fetch_on_miss: store what the failover origin answered in the bucket (max-age one year)")
    signing_parameter: str | None = Field(None, pattern=r"^/[A-Za-z0-9_./-]+$", max_length=1011,
                                          description="signed_urls: SSM SecureString in us-east-1 with the HMAC key (default /{app}/{env}/edge/url-signing-key)")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        cf_function = self.runtime == CLOUDFRONT_FUNCTION_RUNTIME
        if (self.code is None) == (self.builtin is None):
            issues.append(Issue("S215", (), "give exactly one of `code` (a folder) or `builtin`"))
        if not cf_function:
            issues += runtime_issues(self.runtime)
        if self.builtin is not None and not self.runtime.startswith("python"):
            issues.append(Issue("S233", ("runtime",), f"archc's builtin edge handlers are Python: use {LATEST_PYTHON}"))
        if self.write_back and self.builtin != "fetch_on_miss":
            issues.append(Issue("S237", ("write_back",), "write_back belongs to `builtin: fetch_on_miss`"))
        if self.signing_parameter is not None and self.builtin != "signed_urls":
            issues.append(Issue("S237", ("signing_parameter",), "signing_parameter belongs to `builtin: signed_urls`"))
        if not 128 <= self.memory_mb <= ORIGIN_LIMITS[0]:
            issues.append(Issue("S234", ("memory_mb",), f"edge functions have 128 to {ORIGIN_LIMITS[0]} MB"))
        if not 1 <= self.timeout_s <= ORIGIN_LIMITS[1]:
            issues.append(Issue("S234", ("timeout_s",), f"edge functions run 1 to {ORIGIN_LIMITS[1]} s"))
        raise_issues(issues)
        return self

    @property
    def cloudfront_function(self) -> bool:
        return self.runtime == CLOUDFRONT_FUNCTION_RUNTIME


class Spa(StrictModel):
    routing: Literal["error_responses", "function"] = Field(
        "function", description="function: a CloudFront Function on the default behavior rewrites extension-less paths to the "
                                "index; error_responses: every 403/404 of the distribution becomes the index with 200 (API errors "
                                "and WAF blocks too: a weakened default beside an API or function origin)")
    error_ttl_s: int = Field(10, ge=0, le=31536000, description="how long CloudFront caches the rewritten error (error_responses)")

    @model_validator(mode="after")
    def _rules(self):
        if self.routing == "function" and "error_ttl_s" in self.model_fields_set:
            raise_issues([Issue("S238", ("error_ttl_s",), "error_ttl_s belongs to routing: error_responses (a function rewrites the "
                                "request; no error is cached)")])
        return self


class ErrorPage(StrictModel):
    """A page CloudFront shows instead of an origin's server error, with the error's own status (monitors still see it)."""

    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]+$", description="object path served from a bucket origin, e.g. /errors/5xx.html")
    codes: list[Literal[500, 501, 502, 503, 504]] = Field(default_factory=lambda: [500, 502, 503, 504], min_length=1,
                                                         description="the origin's status codes answered with the page")
    ttl_s: int = Field(10, ge=0, le=31536000, description="how long CloudFront caches the error before asking the origin again")

    @model_validator(mode="after")
    def _rules(self):
        if len(set(self.codes)) != len(self.codes):
            raise_issues([Issue("S238", ("codes",), "list each status code once")])
        return self


class Waf(StrictModel):
    enabled: bool = True
    managed_rules: list[Literal["core", "known_bad_inputs", "ip_reputation", "sqli"]] = Field(default_factory=lambda: ["core", "known_bad_inputs"])
    rate_limit_per_5min: int = Field(2000, ge=10, le=2_000_000_000)


class Distribution(StrictModel):
    domain: str | None = Field(None, description="custom domain, e.g. cdn.example.com")
    hosted_zone_id: str | None = Field(None, pattern=r"^Z[A-Z0-9]{1,31}$", description="Route 53 zone: archc requests a DNS-validated certificate and writes A/AAAA aliases")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$")
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    origins: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")], Origin] = Field(min_length=1)
    behaviors: dict[str, Behavior] = Field(description='path pattern (e.g. "/images/*") -> behavior, in the order CloudFront tries '
                                                       'them; "default" for everything else')
    edge_functions: dict[Name, EdgeFunction] = Field(default_factory=dict)
    index: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$", description="object served for / (e.g. index.html)")
    spa: Spa | None = Field(None, description="single-page app: unknown paths answer the index")
    error_page: ErrorPage | None = Field(None, description="a page for the origins' 5xx errors (the whole distribution, API paths too)")
    waf: Waf = Waf()
    logging: bool = Field(True, description="access logs to the primary region's log bucket")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.domain is not None and not _DOMAIN.fullmatch(self.domain):
            issues.append(Issue("S107", ("domain",), f'"{self.domain}" is not a domain name'))
        if self.domain and not (self.hosted_zone_id or self.certificate_arn):
            issues.append(Issue("S235", ("domain",), "a custom domain needs a certificate: give hosted_zone_id (archc requests and validates one) "
                                "or certificate_arn (an ACM certificate in us-east-1)"))
        if (self.hosted_zone_id or self.certificate_arn) and not self.domain:
            issues.append(Issue("S235", (), "hosted_zone_id and certificate_arn need a domain"))
        if "default" not in self.behaviors:
            issues.append(Issue("S103", ("behaviors",), 'missing the "default" behavior (every other path)'))
        if self.spa is not None and self.index is None:
            issues.append(Issue("S238", ("spa",), "a single-page app needs `index` (e.g. index.html)"))
        if self.error_page is not None and "default" in self.behaviors:
            pattern, b = self.behavior_for(self.error_page.path)
            origin = self.origins.get(b.origin)
            if origin is not None and origin.kind != "bucket":
                issues.append(Issue("S238", ("error_page", "path"), f'{self.error_page.path} goes to origin "{b.origin}" (behavior "{pattern}"), '
                                    "which is not a bucket: CloudFront fetches the error page through the behaviors, so put it on a path "
                                    "a bucket origin serves"))
        issues += self._origin_rules() + self._behavior_rules()
        default = self.behaviors.get("default")
        if self.spa is not None and self.spa.routing == "function" and default is not None and "viewer-request" in default.edge:
            issues.append(Issue("S238", ("behaviors", "default", "edge", "viewer-request"),
                                "the single-page app's routing (spa.routing: function, the default) needs the default behavior's "
                                "viewer-request, and CloudFront runs one function per event: set spa.routing: error_responses, or route "
                                "extension-less paths to the index in this function and drop `spa:`"))
        raise_issues(issues)
        return self

    def signed_by(self, pattern: str) -> str | None:
        """The signed_urls function checking a behavior's requests at viewer-request, if any."""
        fname = self.behaviors[pattern].edge.get("viewer-request")
        fn = self.edge_functions.get(fname) if fname else None
        return fname if fn is not None and fn.builtin == "signed_urls" else None

    def reaches(self, pattern: str) -> list[tuple[tuple[str, str], str]]:
        """(backend, path prefix there) for each origin a behavior's requests may reach: its origin and failover twin.
        The REST API is one backend whichever origin names it, a bucket one whichever path it is read under."""
        origin = self.origins[self.behaviors[pattern].origin]
        members = [origin] + ([self.origins[origin.failover.origin]] if origin.failover and origin.failover.origin else [])
        return [((m.kind, m.bucket or m.api or m.function_url or m.http), m.path + pattern_prefix(pattern)) for m in members]

    def behavior_for(self, path: str) -> tuple[str, Behavior]:
        """The behavior CloudFront picks for a request path: the first pattern that matches, in order, else the default."""
        for pattern, b in self.behaviors.items():
            if pattern != "default" and _matches(pattern, path):
                return pattern, b
        return "default", self.behaviors["default"]

    def _origin_rules(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for name, origin in self.origins.items():
            twin = origin.failover.origin if origin.failover else None
            if twin is None:
                continue
            if twin not in self.origins:
                issues.append(Issue("S239", ("origins", name, "failover", "origin"), f'no origin "{twin}" in this distribution{did_you_mean(twin, self.origins)}'))
            elif twin == name or self.origins[twin].failover is not None:
                issues.append(Issue("S231", ("origins", name, "failover", "origin"),
                                    "an origin group has exactly two members: fail over to an origin that has no failover of its own"))
        return issues

    def _behavior_rules(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for pattern, b in self.behaviors.items():
            if not _PATTERN.fullmatch(pattern) or len(pattern) > 255:
                issues.append(Issue("S107", ("behaviors", pattern), f'"{pattern}" is not a path pattern: write e.g. "/images/*" or "default"'))
            origin = self.origins.get(b.origin)
            if origin is None:
                issues.append(Issue("S239", ("behaviors", pattern, "origin"), f'no origin "{b.origin}" in this distribution{did_you_mean(b.origin, self.origins)}'))
            elif origin.failover is not None and b.failover and b.methods == "all":
                issues.append(Issue("S230", ("behaviors", pattern, "methods"),
                                    f'origin "{b.origin}" fails over (an origin group), which takes only GET, HEAD and OPTIONS: '
                                    "use methods: read or read-options, or add `failover: false` to send this path to the primary alone"))
            elif origin.failover is None and not b.failover:
                issues.append(Issue("S230", ("behaviors", pattern, "failover"), f'origin "{b.origin}" has no failover to turn off'))
            for event, fname in b.edge.items():
                fn = self.edge_functions.get(fname)
                if fn is None:
                    issues.append(Issue("S239", ("behaviors", pattern, "edge", event),
                                        f'no function "{fname}" under edge_functions{did_you_mean(fname, self.edge_functions)}'))
                    continue
                issues += _event_issues(("behaviors", pattern, "edge", event), event, fn, fname, origin)
        return issues


def example_path(pattern: str, under: str = "") -> str:
    """A concrete path the pattern matches (under a prefix of its own, when given): each wildcard stands for "x"."""
    prefix = pattern_prefix(pattern)
    rest = pattern[len(prefix):] if pattern != "default" else "*"
    return (under if under.startswith(prefix) else prefix) + rest.replace("*", "x").replace("?", "x")


def signature_issues(cdn: dict, rest_open: bool) -> list[Issue]:
    """A path a signed behavior protects must not be reachable without the signature: through another behavior of any
    distribution that reaches the same bucket or API (CloudFront picks the first pattern that matches), or at the REST
    API's own domain when origin verification is off."""
    issues, seen = [], set()
    protected = [(d, sp, dist.signed_by(sp), space) for d, dist in cdn.items() for sp in dist.behaviors if dist.signed_by(sp)
                 for space in dist.reaches(sp)]
    for d, sp, fname, (backend, area) in protected:
        if backend[0] == "api" and rest_open and ("api", d) not in seen:
            seen.add(("api", d))
            issues.append(Issue("S260", (d, "behaviors", sp), f'the REST API answers anyone at its own domain (api.rest.origin_verify: '
                                f'false), so the signature "{sp}" requires on {area} can be skipped: turn origin_verify on',
                                reads=(("api",), ("cdn", d, "behaviors"), ("cdn", d, "origins"))))
        for ud, dist in cdn.items():
            for up in dist.behaviors:
                if dist.signed_by(up) or (ud, up, area) in seen:
                    continue
                for other, space in dist.reaches(up):
                    if other != backend or not (space.startswith(area) or area.startswith(space)):
                        continue
                    origin_path = space[: len(space) - len(pattern_prefix(up))]
                    probe = example_path(up, area[len(origin_path):] if area.startswith(space) else "")
                    if not (_matches(up, probe) or up == "default") or not (origin_path + probe).startswith(area) \
                            or dist.behavior_for(probe)[0] != up:
                        continue
                    seen.add((ud, up, area))
                    what = "the REST API" if backend[0] == "api" else f'{backend[0].replace("_", " ")} "{backend[1]}"'
                    where = f'"{sp}"' + (f" of distribution {d}" if d != ud else "")
                    cover = probe.rsplit("/", 1)[0] + "/*"
                    fix = (f'move "{up}" after "{sp}"' if ud == d and cover == sp else
                           f'add a behavior "{cover}" before "{up}" with `edge: {{viewer-request: {fname}}}`')
                    issues.append(Issue("S260", (ud, "behaviors", up),
                                        f'"{up}" reaches {what} under {area} without a signature (e.g. {probe}), which {where} requires '
                                        f"({fname}): {fix}", reads=tuple(("cdn", x, part) for x in {d, ud} for part in ("behaviors", "origins", "edge_functions"))))
    return issues


def pattern_prefix(pattern: str) -> str:
    """'/images/*' -> '/images/'; 'default' -> '/'."""
    if pattern == "default":
        return "/"
    return pattern.split("*", 1)[0] if "*" in pattern else pattern


def _matches(pattern: str, path: str) -> bool:
    """CloudFront's path patterns: case-sensitive, `*` any characters (slashes too), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path) is not None


def _event_issues(at: tuple, event: str, fn: EdgeFunction, name: str, origin: Origin | None) -> list[Issue]:
    issues = []
    if fn.cloudfront_function and event not in VIEWER_EVENTS:
        issues.append(Issue("S233", at, f'"{name}" is a CloudFront Function, which runs on viewer-request and viewer-response only'))
    if fn.builtin is not None and BUILTINS[fn.builtin] != event:
        issues.append(Issue("S233", at, f'the {fn.builtin} builtin runs on {BUILTINS[fn.builtin]}'))
    if event in VIEWER_EVENTS and not fn.cloudfront_function and (fn.memory_mb > VIEWER_LIMITS[0] or fn.timeout_s > VIEWER_LIMITS[1]):
        issues.append(Issue("S234", at, f'"{name}" has {fn.memory_mb} MB and {fn.timeout_s} s; viewer functions are limited to '
                            f"{VIEWER_LIMITS[0]} MB and {VIEWER_LIMITS[1]} s at the edge"))
    if fn.builtin == "fetch_on_miss" and origin is not None and (origin.kind != "bucket" or origin.failover is None or origin.failover.origin is None):
        issues.append(Issue("S233", at, "fetch_on_miss answers an S3 miss: put it on a behavior whose origin is a bucket that fails over to another origin"))
    return issues

