"""An honest schema: every leaf field arch.yaml's JSON Schema offers changes what archc writes.

For each leaf, a spec that uses it (the reference spec, the examples, tests/specs/leaves/arch.yaml) is compiled
with the field at one value and at another; the templates, code packages or manifest must differ. A field that
no blueprint reads fails here, and so does a new field nobody gave a second value below.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from compiler.build import compile_document, render_all
from compiler.diagnostics import SpecError
from compiler.loader import load, load_text
from compiler.spec import spec_json_schema
from compiler.validate import validate

ROOT = Path(__file__).resolve().parent.parent

# (spec file, environment): each flattened to that environment's data and compiled on its own.
BASES = [
    (ROOT / "arch.yaml", "prod"),
    (ROOT / "arch.yaml", "dev"),
    (ROOT / "tests/specs/leaves/arch.yaml", "default"),
    (ROOT / "tests/specs/leaves/existing.yaml", "default"),
    (ROOT / "examples/async-processing/arch.yaml", "prod"),
    (ROOT / "examples/image-failover/arch.yaml", "prod"),
    (ROOT / "examples/image-cdn/arch.yaml", "prod"),
    (ROOT / "examples/multi-region-ssr/arch.yaml", "prod"),
    (ROOT / "examples/fillup/arch.yaml", "prod"),
    (ROOT / "tests/specs/leaves/failover.yaml", "default"),
]

# Not leaves of the architecture: the overlays whose own leaves are the ones above.
STRUCTURAL = {"environments": "per-environment overlays of the same fields; each field is tested through the base"}


@dataclass(frozen=True)
class Patch:
    """The new value plus sibling fields that must change with it (None removes a sibling)."""

    value: Any
    siblings: dict[str, Any]


def other(*choices):
    """The first choice that differs from the current value."""
    return lambda cur: next(c for c in choices if c != cur)


def add(item):
    return lambda cur: [*(cur or []), item] if item not in (cur or []) else [c for c in cur if c != item]


def merged(extra: dict):
    return lambda cur: {**(cur or {}), **extra}


# New values for every leaf that is neither a boolean (flipped) nor an enumeration (another member).
MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "app": other("otherapp", "another"),
    "regions.primary": other("eu-north-1", "eu-west-3"),
    "regions.dr": other("ca-central-1", "eu-west-2"),
    "tags": merged({"Owner": "team-x"}),
    "waivers": lambda cur: {k: v + " (reviewed)" for k, v in cur.items()} if cur else None,
    "network.cidr": other("10.8.0.0/16", "10.9.0.0/16"),
    "network.azs": other(2, 3),
    "network.nat_gateways": other(1, 2),
    "network.subnet_prefix.public": other(25, 26),
    "network.subnet_prefix.app": other(21, 22),
    "network.subnet_prefix.data": other(25, 26),
    "network.endpoints": add("sts"),
    "network.flow_logs.retention_days": other(60, 90),
    "database.version": other("16.10", "17.5"),
    "database.instance_class": other("db.t4g.medium", "db.t4g.large"),
    "database.storage_gb": other(30, 40),
    "database.max_storage_gb": other(200, 300),
    "database.backup_retention_days": other(10, 14),
    "database.backup_window": other("05:00-06:00", "06:00-07:00"),
    "database.maintenance_window": other("sat:07:00-sat:08:00", "fri:07:00-fri:08:00"),
    "database.rotation_days": other(60, 90),
    "database.database_name": other("orders", "shop"),
    "database.master_username": other("root_admin", "owner"),
    "database.port": other(5433, 5434),
    "database.log_retention_days": other(60, 90),
    "database.performance_insights_days": other(7, 31),
    "buckets.*.lifecycle.*.prefix": other("other/", "more/"),
    "buckets.*.lifecycle.*.expire_days": other(400, 500),
    "buckets.*.lifecycle.*.transitions": lambda cur: [{"days": 40, "storage_class": "STANDARD_IA"}],
    "buckets.*.lifecycle.*.noncurrent_expire_days": other(70, 80),
    "buckets.*.lifecycle.*.noncurrent_transitions": lambda cur: [{"days": 35, "storage_class": "GLACIER"}],
    "buckets.*.cors.origins": add("https://admin.example.com"),
    "buckets.*.cors.methods": add("PUT"),
    "buckets.*.cors.headers": add("X-Trace"),
    "buckets.*.cors.expose_headers": add("X-Version"),
    "buckets.*.cors.max_age_s": other(600, 900),
    "tables.*.partition_key.name": other("id2", "key"),
    "tables.*.sort_key.name": other("sk2", "range"),
    "tables.*.indexes.*.partition_key.name": other("owner", "user2"),
    "tables.*.indexes.*.sort_key.name": other("updated", "created2"),
    "tables.*.indexes.*.projection": other("all", ["status"]),
    "tables.*.ttl_attribute": other("gone_at", "ttl"),
    "queues.*.visibility_timeout_s": other(200, 240),
    "queues.*.retention_days": other(5, 6),
    "queues.*.delay_s": other(5, 10),
    "queues.*.dead_letter.max_receive_count": other(6, 7),
    "queues.*.dead_letter.retention_days": other(13, 12),
    "functions.*.code": lambda cur: Patch("fn" if cur == "worker" else "worker", {"image": None, "bootstrap": None}),
    "functions.*.image.tag": other("2.0.0", "3.0.0"),
    "functions.*.image.digest": lambda cur: Patch("sha256:" + "a" * 64, {"tag": None}),
    "functions.*.events.*.queue": other("audit", "jobs"),
    "functions.*.events.*.batch_size": other(30, 40),
    "functions.*.events.*.window_s": other(3, 4),
    "functions.*.events.*.max_concurrency": other(4, 2),
    "repositories.*.keep_images": other(30, 40),
    "buckets.*.events.*.on": other(["removed"], ["created"]),
    "buckets.*.events.*.prefix": other("in/", "landing/"),
    "buckets.*.events.*.suffix": other(".json", ".txt"),
    "buckets.*.events.*.to": other("queues.audit", "queues.jobs"),
    "network.existing.*.vpc_id": other("vpc-0aaaaaaaaaaaaaaaa", "vpc-0bbbbbbbbbbbbbbbb"),
    "network.existing.*.subnet_ids": add("subnet-0cccccccccccccccc"),
    "network.existing.*.data_subnet_ids": lambda cur: ["subnet-0dddddddddddddddd", "subnet-0eeeeeeeeeeeeeeee"],
    "network.existing.*.security_group_id": other("sg-0fffffffffffffff0", "sg-0eeeeeeeeeeeeeeee"),
    "network.existing.*.route_table_ids": add("rtb-0aaaaaaaaaaaaaaaa"),
    "functions.*.bootstrap": lambda cur: Patch(True, {"code": None, "image": None}) if not cur else Patch(None, {"code": "fn"}),
    "functions.*.handler": other("main.handler", "app.main"),
    "functions.*.runtime": other("python3.13", "python3.14"),
    "functions.*.memory_mb": other(768, 640),
    "functions.*.timeout_s": other(20, 25),
    "functions.*.reserved_concurrency": other(7, 8),
    "functions.*.uses": lambda cur: {k: v for k, v in list(cur.items())[:-1]} if cur else None,
    "functions.*.permissions.*.actions": add("bedrock:InvokeModelWithResponseStream"),
    "functions.*.permissions.*.resources": add("arn:aws:bedrock:eu-west-1::foundation-model/amazon.titan-embed-text-v2:0"),
    "functions.*.environment": merged({"FEATURE": "on"}),
    "functions.*.log_retention_days": other(60, 90),
    "functions.*.dlq_retention_days": other(7, 10),
    "functions.*.url.cors.origins": add("https://admin.example.com"),
    "functions.*.url.cors.methods": add("DELETE"),
    "functions.*.url.cors.headers": add("X-Trace"),
    "functions.*.url.cors.max_age_s": other(300, 900),
    "api.rest.function": lambda cur: None,  # resolved per base below (another function of the spec)
    "api.rest.routes": add("DELETE /items/{id}"),
    "api.rest.throttle.rate": other(500, 700),
    "api.rest.throttle.burst": other(900, 1100),
    "api.rest.cors.origins": add("https://admin.example.com"),
    "api.rest.cors.methods": add("DELETE"),
    "api.rest.cors.headers": add("X-Trace"),
    "api.rest.cors.max_age_s": other(300, 900),
    "api.rest.access_log_retention_days": other(30, 60),
    "api.rest.sampling.rate": other(0.5, 0.25),
    "api.rest.auth.user_pool_arn": other("arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_Other1"),
    "api.rest.auth.public": lambda cur: (cur or [])[:1] or None,
    "api.rest.sampling.reservoir_per_s": other(2, 3),
    "api.websocket.function": lambda cur: None,  # resolved per base below
    "api.websocket.routes": add("typing"),
    "api.websocket.route_selection": other("$request.body.type", "$request.body.op"),
    "api.websocket.throttle.rate": other(500, 700),
    "api.websocket.throttle.burst": other(900, 1100),
    "api.websocket.access_log_retention_days": other(30, 60),
    "cdn.*.domain": other("www2.example.com", "edge.example.com"),
    "cdn.*.hosted_zone_id": other("Z0OTHERZONE0000001", "Z0OTHERZONE0000002"),
    "cdn.*.certificate_arn": other("arn:aws:acm:us-east-1:123456789012:certificate/99999999-1234-1234-1234-123456789012",
                                   "arn:aws:acm:us-east-1:123456789012:certificate/88888888-1234-1234-1234-123456789012"),
    "cdn.*.origins.*.bucket": lambda cur: None,  # resolved per base below (another bucket)
    "cdn.*.origins.*.api": lambda cur: None,  # one API: an origin moves to it from another kind
    "cdn.*.origins.*.function_url": lambda cur: None,  # resolved per base below
    "cdn.*.origins.*.http": other("mirror.example.com", "backup.example.com"),
    "cdn.*.origins.*.path": other("/v2", "/other"),
    "cdn.*.origins.*.failover.origin": lambda cur: None,  # resolved per base below
    "cdn.*.origins.*.failover.on": other([500], [504]),
    "cdn.*.behaviors.*.origin": lambda cur: None,  # resolved per base below
    "cdn.*.behaviors.*.edge": lambda cur: {} if cur else None,
    "cdn.*.edge_functions.*.code": lambda cur: "edge-js" if cur == "edge-py" else None,
    "cdn.*.edge_functions.*.builtin": lambda cur: Patch(None, {"code": "edge-py"}) if cur else None,
    "cdn.*.edge_functions.*.runtime": lambda cur: {"python3.14": "python3.13", "python3.13": "python3.14",
                                                   "nodejs24.x": None, "cloudfront-js-2.0": None}[cur],
    "cdn.*.edge_functions.*.handler": lambda cur: "main.handler",
    "cdn.*.edge_functions.*.memory_mb": other(512, 256),
    "cdn.*.edge_functions.*.timeout_s": other(20, 25),
    "cdn.*.edge_functions.*.signing_parameter": other("/shared/signing-key", "/other/key"),
    "cdn.*.index": other("home.html", "main.html"),
    "cdn.*.spa.error_ttl_s": other(30, 60),
    "cdn.*.error_page.path": other("/errors/oops.html", "/errors/down.html"),
    "cdn.*.error_page.codes": other([503], [500]),
    "cdn.*.error_page.ttl_s": other(30, 60),
    "cdn.*.waf.managed_rules": add("sqli"),
    "cdn.*.waf.rate_limit_per_5min": other(5000, 6000),
    "logs.retention_days": other(400, 500),
    "logs.transitions": lambda cur: [{"days": 45, "storage_class": "STANDARD_IA"}],
    "alarms.email": add("oncall@example.com"),
    "alarms.budget.monthly_usd": other(300, 700),
    "alarms.budget.alert_percents": add(50),
    "network.dr_cidr": other("10.5.0.0/16", "10.6.0.0/16"),
    "buckets.*.replicate": lambda cur: cur is False,  # off under dr: (on by default there), or on
    "tables.*.replicate": lambda cur: cur is False,
    "api.rest.health": lambda cur: None if cur else "/items",
    "dr.rto": other("3h", "5h"),
    "dr.rpo": other("45m", "2h"),
    "dr.backup_retention_days": other(10, 14),
    "dr.failover.restore_from": other("arn:aws:rds:eu-central-1:123456789012:auto-backup:ab-bbbbbbbbbbbbbbbbbbbbbbbbbb"),
    "deploy.monitoring_minutes": other(20, 30),
    "deploy.timeout_minutes": other(60, 90),
}

# Leaves whose other value names another entry of the spec (another function, bucket, origin).
REFERENCES = {
    "api.rest.function": "functions", "api.websocket.function": "functions",
    "cdn.*.origins.*.bucket": "buckets", "cdn.*.origins.*.function_url": "functions", "functions.*.image.repository": "repositories",
    "cdn.*.origins.*.failover.origin": "origins", "cdn.*.behaviors.*.origin": "origins",
}


# --- the schema's leaves ---------------------------------------------------------------------------------------

def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _objects(schema: dict, node: dict) -> list[dict]:
    """The object schemas a value may be (optional objects are anyOf [object, null])."""
    node = _resolve(schema, node)
    subs = [_resolve(schema, s) for s in node.get("anyOf", [node])]
    return [s for s in subs if "properties" in s]


def _entries(schema: dict, node: dict) -> dict | None:
    """The value schema of a map of named entries (e.g. buckets.NAME), when its values are objects."""
    node = _resolve(schema, node)
    for s in [_resolve(schema, x) for x in node.get("anyOf", [node])]:
        values = [*s.get("patternProperties", {}).values()]
        if isinstance(s.get("additionalProperties"), dict):
            values.append(s["additionalProperties"])
        if values and _objects(schema, values[0]):
            return values[0]
    return None


def schema_leaves() -> dict[str, dict]:
    schema = spec_json_schema()
    leaves: dict[str, dict] = {}

    def walk(node: dict, path: tuple[str, ...]) -> None:
        objects = _objects(schema, node)
        if objects:
            for obj in objects:
                for key, sub in obj["properties"].items():
                    walk(sub, path + (key,))
            return
        entries = _entries(schema, node)
        if entries is not None:
            walk(entries, path + ("*",))
            return
        leaves[".".join(path)] = _resolve(schema, node)

    walk(schema, ())
    return leaves


def _kind(node: dict) -> tuple[str, list]:
    subs = [s for s in node.get("anyOf", [node]) if s.get("type") != "null"]
    if len(subs) == 1 and subs[0].get("type") == "boolean":
        return "bool", []
    if len(subs) == 1 and "enum" in subs[0]:
        return "enum", subs[0]["enum"]
    return "other", []


# --- compiling a spec's data -----------------------------------------------------------------------------------

@cache
def _base_data(spec: Path, env: str) -> dict:
    """One environment's data on its own; waivers that only another environment needs are left out."""
    document = load(spec)
    data, _ = document.for_env(env)
    weakened = {path for path, _ in validate(document, [env]).specs[env].weakened()}
    waivers = {k: v for k, v in data.get("waivers", {}).items() if k in weakened}
    return {**{k: v for k, v in data.items() if k != "waivers"}, **({"waivers": waivers} if waivers else {})}


@cache
def _compiled(text: str, base: str) -> tuple[str, dict[str, bytes]] | tuple[str, str]:
    try:
        c = compile_document(load_text(text), None, Path(base))
    except SpecError as e:
        return "error", "; ".join(f"{d.code} {d.path}: {d.message}" for d in e.diagnostics)
    (files, manifest), = render_all(c).values()
    man = {k: v for k, v in manifest.to_json().items() if k != "spec_sha256"}
    man["weakened"] = [{k: v for k, v in w.items() if k not in ("line", "col")} for w in man["weakened"]]
    return "ok", {**{k: v for k, v in files.items() if k != "manifest.json"}, "manifest": json.dumps(man, sort_keys=True)}


def _text(data: dict, env: str) -> str:
    return yaml.safe_dump({**data, "environments": {env: {}}} if env != "default" else data, sort_keys=False)


def _instances(data: dict, parts: list[str], at: tuple = ()):
    """Concrete paths for a dotted leaf path: `*` ranges over the entries present; missing objects are created."""
    if len(parts) == 1:
        yield at + (parts[0],)
        return
    head, rest = parts[0], parts[1:]
    node = _get(data, at)
    if head == "*":
        for key in (node or {}):
            yield from _instances(data, rest, at + (key,))
    elif node is not None and isinstance(node, dict):
        yield from _instances(data, rest, at + (head,))


def _get(data: dict, path: tuple):
    for p in path:
        if not isinstance(data, dict):
            return None
        data = data.get(p)
    return data


def _with(data: dict, path: tuple, value, delete: bool = False) -> dict:
    out = copy.deepcopy(data)
    node = out
    for p in path[:-1]:
        node = node.setdefault(p, {})
        if node is None:
            return out
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def _candidates(leaf: str, node: dict, data: dict, path: tuple) -> list[Any]:
    """New values to try for one concrete place of a leaf."""
    cur = _get(data, path)
    kind, enum = _kind(node)
    if leaf in REFERENCES:
        if REFERENCES[leaf] == "origins":
            names = list(_get(data, path[:2] + ("origins",)) or {})
        else:
            names = list(data.get(REFERENCES[leaf]) or {})
        return [n for n in names if n != cur]
    if leaf == "cdn.*.origins.*.api":
        return [] if cur else ["rest"]
    if leaf == "cdn.*.origins.*.failover.region":  # `dr` is its only value: the origin without its DR twin
        return [Patch(None, {})] if cur else []
    if leaf in MUTATIONS:
        new = MUTATIONS[leaf](cur if cur is not None else node.get("default"))
        return [] if new is None else [new]
    if kind == "bool":
        return [not (cur if cur is not None else node.get("default"))]
    current = cur if cur is not None else node.get("default")
    return [v for v in enum if v != current]


def _apply(data: dict, path: tuple, value) -> dict:
    if isinstance(value, Patch) and value.value is None and not value.siblings:  # remove the field's object
        return _with(data, path[:-1], None, delete=True)
    if isinstance(value, Patch):
        out = _with(data, path, value.value, delete=value.value is None)
        for sib, v in value.siblings.items():
            out = _with(out, path[:-1] + (sib,), v, delete=v is None)
        return out
    if value is None:
        return _with(data, path, None, delete=True)
    exclusive = {"bucket", "api", "function_url", "http"}
    if path[-1] in exclusive and len(path) >= 4 and path[2] == "origins":  # an origin is one kind at a time
        out = _with(data, path, value)
        for sib in exclusive - {path[-1]}:
            out = _with(out, path[:-1] + (sib,), None, delete=True)
        return out
    return _with(data, path, value)


LEAVES = schema_leaves()


def test_every_leaf_has_a_second_value():
    missing = [leaf for leaf, node in LEAVES.items()
               if leaf not in STRUCTURAL and _kind(node)[0] == "other" and leaf not in MUTATIONS and leaf not in REFERENCES
               and leaf not in ("cdn.*.origins.*.api", "cdn.*.origins.*.failover.region")]  # one-value fields, in _candidates
    assert not missing, f"give these leaves a second value in MUTATIONS: {missing}"
    assert not set(MUTATIONS) - set(LEAVES), f"MUTATIONS names fields the schema no longer has: {set(MUTATIONS) - set(LEAVES)}"


@pytest.mark.parametrize("leaf", [leaf for leaf in LEAVES if leaf not in STRUCTURAL])
def test_leaf_changes_the_output(leaf):
    node = LEAVES[leaf]
    tried = []
    for spec, env in BASES:
        data = _base_data(spec, env)
        for path in _instances(data, leaf.split(".")):
            before_status, before = _compiled(_text(data, env), str(spec.parent))
            assert before_status == "ok", f"{spec} ({env}) does not compile: {before}"
            for value in _candidates(leaf, node, data, path):
                status, after = _compiled(_text(_apply(data, path, value), env), str(spec.parent))
                where = f"{spec.relative_to(ROOT)} ({env}) {'.'.join(map(str, path))} = {value!r}"
                if status != "ok":
                    tried.append(f"{where}: refused ({after[:300]})")
                    continue
                if after != before:
                    return
                tried.append(f"{where}: compiled output unchanged")
    pytest.fail(f"{leaf}: no spec shows the field changing what archc writes:\n  " + "\n  ".join(tried or ["no spec uses it"]))
