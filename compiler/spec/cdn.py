"""The `cdn:` section: CloudFront with the site, the API (with regional failover), images (S3 first or API only),
Lambda@Edge, WAF, certificate and DNS; the edge resources live in us-east-1."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues
from .regions import EDGE_REGION, retention_issues

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
EDGE_RUNTIMES = ("python3.12", "python3.13")
VIEWER_LIMITS = (128, 5)  # MB, seconds (aws-facts.md section 2)
ORIGIN_LIMITS = (10240, 30)
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_PREFIX = re.compile(r"/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


class EdgeFunction(StrictModel):
    """One Lambda@Edge function. The settings Lambda@Edge refuses are here only to be refused with a reason."""

    memory_mb: int = 128
    timeout_s: int = 5
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    environment: dict[str, str] = Field(default_factory=dict)
    in_vpc: bool = False
    dead_letter_queue: bool = False
    tracing: bool = False


class Edge(StrictModel):
    runtime: Literal["python3.12", "python3.13"] = "python3.13"
    region: str = Field(EDGE_REGION, description="must be us-east-1: CloudFront takes edge functions, certificates and CLOUDFRONT-scope WAF only from there")
    viewer_request: EdgeFunction = EdgeFunction()
    origin_request: EdgeFunction = EdgeFunction(memory_mb=128, timeout_s=5)
    origin_response: EdgeFunction = EdgeFunction(memory_mb=256, timeout_s=30)

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.region != EDGE_REGION:
            issues.append(Issue("S232", ("region",), f"Lambda@Edge functions, the CLOUDFRONT-scope web ACL and the certificate must be in {EDGE_REGION}"))
        for event, limits in (("viewer_request", VIEWER_LIMITS), ("origin_request", ORIGIN_LIMITS), ("origin_response", ORIGIN_LIMITS)):
            fn: EdgeFunction = getattr(self, event)
            for field, bad, why in (("environment", bool(fn.environment), "environment variables"), ("in_vpc", fn.in_vpc, "a VPC"),
                                    ("architecture", fn.architecture == "arm64", "arm64"), ("dead_letter_queue", fn.dead_letter_queue, "a dead-letter queue"),
                                    ("tracing", fn.tracing, "X-Ray tracing")):
                if bad:
                    issues.append(Issue("S233", (event, field), f"Lambda@Edge does not support {why}; configuration is baked into the code package"))
            if not 128 <= fn.memory_mb <= limits[0] or not 1 <= fn.timeout_s <= limits[1]:
                kind = "viewer" if event.startswith("viewer") else "origin"
                issues.append(Issue("S234", (event, "memory_mb" if fn.memory_mb > limits[0] or fn.memory_mb < 128 else "timeout_s"),
                                    f"{kind} functions are limited to {limits[0]} MB and {limits[1]} s at the edge"))
        raise_issues(issues)
        return self


class Site(StrictModel):
    spa: bool = Field(True, description="single-page app: unknown paths answer /index.html")
    spa_routing: Literal["error_responses", "function"] = Field(
        "error_responses", description="error_responses: 403/404 -> /index.html for the whole distribution (API errors too); "
                                       "function: a CloudFront Function rewrites extension-less site paths, API errors stay as they are")
    index: str = "index.html"
    assets_path: str = Field("/assets/*", description="hashed assets, cached one year")
    noncurrent_days: int = Field(90, ge=1, le=3650, description="old object versions expire after this")
    error_ttl_s: int = Field(10, ge=0, le=31536000)


class Images(StrictModel):
    mode: Literal["s3_first", "api_only"] = "s3_first"
    path: str = Field("/images", description="URL prefix served as images")
    cache_prefix: str = Field("processed/", pattern=r"^[A-Za-z0-9._-]+/$")
    expire_days: int = Field(30, ge=1, le=3650)
    signed_urls: bool = True
    signing_parameter: str | None = Field(None, pattern=r"^/[A-Za-z0-9_./-]{1,1010}$",
                                          description="SSM SecureString name in us-east-1 holding the HMAC key (default /{app}/{env}/edge/url-signing-key)")
    write_back: bool = True
    failover_to: list[Literal["api"]] = Field(default_factory=lambda: ["api"], description="the origin tried after the S3 cache")
    methods: list[Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]] = Field(default_factory=lambda: ["GET", "HEAD"])

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if not _PREFIX.fullmatch(self.path):
            issues.append(Issue("S107", ("path",), 'write a URL prefix such as "/images"'))
        if self.mode == "s3_first":
            if len(self.failover_to) != 1:
                issues.append(Issue("S231", ("failover_to",), "an origin group has exactly two members: the S3 cache and one fallback origin"))
            unsafe = [m for m in self.methods if m not in SAFE_METHODS]
            if unsafe:
                issues.append(Issue("S230", ("methods",), f"an origin group takes only GET, HEAD and OPTIONS, not {', '.join(unsafe)}; "
                                    "send writes to an API route instead"))
        raise_issues(issues)
        return self


class Waf(StrictModel):
    enabled: bool = True
    managed_rules: list[Literal["core", "known_bad_inputs", "ip_reputation", "sqli"]] = Field(default_factory=lambda: ["core", "known_bad_inputs"])
    rate_limit_per_5min: int = Field(2000, ge=10, le=2_000_000_000)


class Cdn(StrictModel):
    domain: str | None = Field(None, description="custom domain, e.g. app.example.com")
    hosted_zone_id: str | None = Field(None, pattern=r"^Z[A-Z0-9]{1,31}$", description="Route 53 zone for DNS validation and alias records")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    api_path: str = Field("/api", description="CloudFront sends this prefix (and the REST routes under it) to the API")
    site: Site | None = Site()
    images: Images | None = None
    waf: Waf = Waf()
    edge: Edge = Edge()
    log_retention_days: int = Field(90, description="CloudFront access logs kept this long")

    @model_validator(mode="after")
    def _rules(self):
        issues = retention_issues(("log_retention_days",), self.log_retention_days)
        if self.domain is not None and not _DOMAIN.fullmatch(self.domain):
            issues.append(Issue("S107", ("domain",), f'"{self.domain}" is not a domain name'))
        if self.domain and not (self.hosted_zone_id or self.certificate_arn):
            issues.append(Issue("S235", ("domain",), "a custom domain needs a certificate: give hosted_zone_id (archc requests and validates one) "
                                "or certificate_arn (an ACM certificate in us-east-1)"))
        if (self.hosted_zone_id or self.certificate_arn) and not self.domain:
            issues.append(Issue("S235", (), "hosted_zone_id and certificate_arn need a domain"))
        if not _PREFIX.fullmatch(self.api_path):
            issues.append(Issue("S107", ("api_path",), 'write a URL prefix such as "/api"'))
        raise_issues(issues)
        return self
