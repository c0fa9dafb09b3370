"""Facts the whole spec implies, derived once per environment and handed to every blueprint through the context:
physical names, which distributions read which buckets and function URLs, the edge functions' baked-in config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .naming import LOGS_BUCKET, bucket_name, signing_parameter
from .spec import Spec
from .spec.cdn import pattern_prefix
from .spec.regions import EDGE_REGION

BUILTIN_HANDLERS = {"signed_urls": "viewer_request.handler", "fetch_on_miss": "origin_response.handler"}


@dataclass(frozen=True)
class EdgeFn:
    """One edge function as attached: its distribution, name, events and the behavior patterns it runs on."""

    distribution: str
    name: str
    events: tuple[str, ...]
    patterns: tuple[str, ...]

    @property
    def asset(self) -> str:
        return f"@edge/{self.distribution}/{self.name}"


@dataclass(frozen=True)
class Facts:
    bucket_names: dict[str, str]  # user bucket -> S3 name (primary region)
    logs_bucket: str | None  # the log bucket's S3 name, when anything logs to S3
    bucket_readers: dict[str, tuple[str, ...]]  # bucket -> distributions that read it
    url_readers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # region -> function -> distributions
    edge_functions: tuple[EdgeFn, ...] = ()  # every edge function attached to a behavior
    queue_senders: dict[str, tuple[str, ...]] = field(default_factory=dict)  # queue -> the buckets (user names) sending it events
    replica_names: dict[str, str] = field(default_factory=dict)  # replicated bucket -> S3 name of its copy in the DR region
    dr_logs_bucket: str | None = None  # the DR region's log bucket, when a replica keeps access logs
    primary: str = ""  # the primary region, where bucket_names live

    def bucket_in(self, name: str, region: str) -> str | None:
        """A bucket's S3 name in a region: the primary's, or its DR copy's (None where the bucket has no copy)."""
        return self.bucket_names[name] if region == self.primary else self.replica_names.get(name)

    def edge_fn(self, distribution: str, name: str) -> EdgeFn:
        return next(f for f in self.edge_functions if f.distribution == distribution and f.name == name)


def derive(spec: Spec, env: str) -> Facts:
    primary = spec.regions.primary
    names = {b: bucket_name(spec.app, env, b, primary) for b in spec.buckets}
    logs_needed = any(b.access_logs for b in spec.buckets.values()) or any(d.logging for d in spec.cdn.values())
    readers: dict[str, set[str]] = {}
    urls: dict[str, dict[str, set[str]]] = {}
    edge: list[EdgeFn] = []
    for dname, dist in spec.cdn.items():
        used = set()
        for b in dist.behaviors.values():
            used.add(b.origin)
            origin = dist.origins[b.origin]
            if origin.failover is not None and origin.failover.origin and b.failover:
                used.add(origin.failover.origin)
        for oname in sorted(used):
            origin = dist.origins[oname]
            if origin.bucket is not None:
                readers.setdefault(origin.bucket, set()).add(dname)
            if origin.function_url is not None:
                regions = [primary] + ([spec.regions.dr] if spec.fails_over(origin) and origin.failover.region == "dr" else [])
                for region in regions:
                    urls.setdefault(region, {}).setdefault(origin.function_url, set()).add(dname)
        for fname in dist.edge_functions:
            attached = [(event, pattern) for pattern, b in dist.behaviors.items() for event, f in b.edge.items() if f == fname]
            if attached:
                edge.append(EdgeFn(dname, fname, tuple(sorted({e for e, _ in attached})), tuple(p for _, p in attached)))
    senders: dict[str, set[str]] = {}
    for bname, b in spec.buckets.items():
        for ev in b.events.values():
            kind, target = ev.target
            if kind == "queues":
                senders.setdefault(target, set()).add(bname)
    dr = spec.regions.dr
    replicas = {b: bucket_name(spec.app, env, b, dr) for b in spec.replicated("buckets")}
    dr_logs = bucket_name(spec.app, env, LOGS_BUCKET, dr) if any(spec.buckets[b].access_logs for b in replicas) else None
    return Facts(names, bucket_name(spec.app, env, LOGS_BUCKET, primary) if logs_needed else None,
                 {b: tuple(sorted(d)) for b, d in sorted(readers.items())},
                 {r: {f: tuple(sorted(d)) for f, d in sorted(fs.items())} for r, fs in sorted(urls.items())}, tuple(edge),
                 {q: tuple(sorted(b)) for q, b in sorted(senders.items())}, replicas, dr_logs, primary)


def regional_domain(name: str, region: str) -> str:
    return f"{name}.s3.{region}.amazonaws.com"


def _signing(spec: Spec, env: str, fn: Any, prefixes: list[str]) -> dict[str, Any]:
    return {"parameter": fn.signing_parameter or signing_parameter(spec.app, env), "region": EDGE_REGION, "cache_seconds": 300,
            "protected_prefixes": prefixes}


def fetch_signer(spec: Spec, fn: EdgeFn) -> Any:
    """The signed_urls function a fetch_on_miss call passes through (it calls the API through the distribution's own
    behaviors when the API's domain is not known), or None."""
    dist = spec.cdn[fn.distribution]
    pattern = fn.patterns[0]
    fallback = dist.origins[dist.origins[dist.behaviors[pattern].origin].failover.origin]
    if fallback.http is not None:
        return None
    through, _ = dist.behavior_for(fallback.path + pattern_prefix(pattern) + "x")
    checker = dist.signed_by(through)
    return dist.edge_functions[checker] if checker else None


def edge_config(spec: Spec, env: str, facts: Facts, fn: EdgeFn) -> dict[str, Any]:
    """config.json baked into a builtin edge function's package (Lambda@Edge has no environment variables). No
    secrets: the signing key stays in SSM. An API behind the distribution is reached through the distribution's own
    domain (each event carries it), since its execute-api domain is not known at compile time."""
    dist = spec.cdn[fn.distribution]
    spec_fn = dist.edge_functions[fn.name]
    config: dict[str, Any] = {"origins": {}, "routes": [], "api_timeout_seconds": 10}
    if spec_fn.builtin == "signed_urls":
        config["signing"] = _signing(spec, env, spec_fn, sorted({pattern_prefix(p) for p in fn.patterns}))
    elif spec_fn.builtin == "fetch_on_miss":
        origin = dist.origins[dist.behaviors[fn.patterns[0]].origin]
        fallback = dist.origins[origin.failover.origin]
        region = spec.regions.primary
        bucket = facts.bucket_names[origin.bucket]
        config["origins"]["s3"] = {"type": "s3", "domain": regional_domain(bucket, region), "region": region,
                                   "path": origin.path, "auth_method": "none"}
        domain = fallback.http if fallback.http is not None else "$distribution"
        config["origins"]["api"] = {"type": "custom", "domain": domain, "path": fallback.path}
        checker = fetch_signer(spec, fn)
        if checker is not None:  # the call goes through a behavior that checks a signature: sign it with that key
            config["origins"]["api"]["signed"] = True
            config["signing"] = _signing(spec, env, checker, [])
        config["failover_origin"] = "api"
        config["write_back"] = {"enabled": spec_fn.write_back, "bucket": bucket, "region": region,
                                "prefix": origin.path.strip("/") + "/" if origin.path else "", "cache_control": "max-age=31536000"}
    return config
