"""Offline diff of an environment's compiled templates against a baseline, with replacement predicted from cfn-lint's provider schemas."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from .awsdata import STATEFUL_TYPES

from .diagnostics import ArchcError
from .manifest import read as read_manifest
from .emit import dumps

BASELINE_NOTE = "out/.archc/<env>/baseline holds the templates last seen deployed (written by plan and by a successful deploy)"
POLICY_KEYS = ("DeletionPolicy", "UpdateReplacePolicy")
# The schemas mark these conditional (or not create-only at all: a Table's LocalSecondaryIndexes), but any change to
# them creates a new table (AWS documents it that way: local secondary indexes exist only from a table's creation).
ALWAYS_REPLACES = {
    "AWS::DynamoDB::Table": (("KeySchema",), ("LocalSecondaryIndexes",)),
    "AWS::DynamoDB::GlobalTable": (("KeySchema",), ("LocalSecondaryIndexes",)),
}
REPLACEMENT_ORDER = ("False", "Unknown", "Conditional", "True")  # least to most impactful
EFFECT = {"True": "replaces", "Conditional": "may replace", "False": "in place", "Unknown": "unknown (no schema)"}
SCHEMA_FALLBACK_REGION = "us-east-1"


# --- shared data: stateful types and replacement rules ---------------------------------------------------------

def stateful_types() -> frozenset[str]:
    """The types that hold data: archc's one copy of cfn-lint's StatefulResources (tests keep them in step)."""
    return STATEFUL_TYPES


def _pointer(p: str) -> tuple[str, ...]:
    parts = p.strip("/").split("/")
    return tuple(parts[1:]) if parts and parts[0] == "properties" else tuple(parts)


@lru_cache(maxsize=None)
def create_only(region: str, resource_type: str) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]] | None:
    """(createOnly, conditionalCreateOnly) property paths of a type, or None when cfn-lint has no schema for it."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

    for r in (region, SCHEMA_FALLBACK_REGION):
        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(r, resource_type).schema
        except ResourceNotFoundError:
            continue
        except Exception:  # an unknown region name: try the fallback region's schemas
            continue
        always = tuple(_pointer(p) for p in schema.get("createOnlyProperties", []))
        conditional = tuple(_pointer(p) for p in schema.get("conditionalCreateOnlyProperties", []))
        forced = ALWAYS_REPLACES.get(resource_type, ())
        return always + tuple(p for p in forced if p not in always), tuple(p for p in conditional if p not in forced)
    return None


def _touches(path: tuple, pointer: tuple[str, ...]) -> bool:
    """A changed path touches a schema path when one is a prefix of the other (`*` matches any list index)."""
    return all(p == "*" or str(a) == p for a, p in zip(path, pointer))


def path_effect(region: str, resource_type: str, prop_path: tuple) -> str:
    """"True" (replaces), "Conditional" (may replace), "False" (in place) or "Unknown", for one changed property path."""
    rules = create_only(region, resource_type)
    if rules is None:
        return "Unknown"
    always, conditional = rules
    if any(_touches(prop_path, p) for p in always):
        return "True"
    if any(_touches(prop_path, p) for p in conditional):
        return "Conditional"
    return "False"


def worst(values: Iterable[str]) -> str:
    return max(values, key=REPLACEMENT_ORDER.index, default="False")


# --- structural diff ---------------------------------------------------------------------------------------------

def changed_paths(old: Any, new: Any, path: tuple = ()) -> list[tuple]:
    """Leaf paths where two JSON values differ; a key or list element present on one side only is its own path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple] = []
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new:
                out.append(path + (k,))
            else:
                out.extend(changed_paths(old[k], new[k], path + (k,)))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for i in range(max(len(old), len(new))):
            if i >= len(old) or i >= len(new):
                out.append(path + (i,))
            else:
                out.extend(changed_paths(old[i], new[i], path + (i,)))
        return out
    return [] if old == new else [path]


def render_path(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class PathChange:
    path: str
    effect: str  # "True" | "Conditional" | "False" | "Unknown" (see EFFECT)


@dataclass
class ResourceDiff:
    logical_id: str
    action: str  # Add | Remove | Modify
    type: str
    replacement: str | None  # Modify only: True | Conditional | False | Unknown
    paths: list[PathChange] = field(default_factory=list)
    stateful: bool = False
    policies: dict[str, str] = field(default_factory=dict)  # DeletionPolicy / UpdateReplacePolicy it carries

    @property
    def data_loss(self) -> bool:
        """A stateful resource removed, or replaced (surely or maybe)."""
        return self.stateful and (self.action == "Remove" or (self.action == "Modify" and self.replacement in ("True", "Conditional")))


def predict(region: str, old: dict, new: dict) -> tuple[str, list[PathChange]]:
    """Replacement of one resource going from `old` to `new` (template resource entries), with each changed path's effect."""
    if old.get("Type") != new.get("Type"):
        return "True", [PathChange("Type", "True")]
    rtype = new.get("Type", "")
    changes = []
    for p in changed_paths({k: v for k, v in old.items() if k != "Type"}, {k: v for k, v in new.items() if k != "Type"}):
        if p and p[0] == "Properties":
            prop = p[1:]
            effect = path_effect(region, rtype, prop) if prop else worst(
                path_effect(region, rtype, (k,)) for k in set(old.get("Properties") or {}) | set(new.get("Properties") or {}))
        else:
            effect = "False"  # Metadata, policies, DependsOn, Condition, Update/CreationPolicy: never a replacement
        changes.append(PathChange(render_path(p), effect))
    return worst(c.effect for c in changes), changes


def _policies(res: dict) -> dict[str, str]:
    return {k: res[k] for k in POLICY_KEYS if k in res}


def diff_template(region: str, old: dict | None, new: dict | None) -> tuple[list[ResourceDiff], list[str]]:
    """Resource changes (sorted by logical ID) and the other top-level sections that changed (Outputs.X, Parameters.Y, ...)."""
    old, new = old or {}, new or {}
    o_res, n_res = old.get("Resources") or {}, new.get("Resources") or {}
    stateful = stateful_types()
    out: list[ResourceDiff] = []
    for lid in sorted(set(o_res) | set(n_res)):
        a, b = o_res.get(lid), n_res.get(lid)
        if a == b:
            continue
        if a is None:
            out.append(ResourceDiff(lid, "Add", b.get("Type", "?"), None, stateful=b.get("Type") in stateful, policies=_policies(b)))
        elif b is None:
            out.append(ResourceDiff(lid, "Remove", a.get("Type", "?"), None, stateful=a.get("Type") in stateful, policies=_policies(a)))
        else:
            replacement, paths = predict(region, a, b)
            out.append(ResourceDiff(lid, "Modify", b.get("Type", "?"), replacement, paths,
                                    stateful=b.get("Type") in stateful or a.get("Type") in stateful, policies=_policies(b)))
    sections = []
    for key in sorted((set(old) | set(new)) - {"Resources"}):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            sections.extend(f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        else:
            sections.append(key)
    return out, sections


# --- an environment against its baseline -------------------------------------------------------------------------

@dataclass
class StackDiff:
    id: str  # "<region>/<stack>"
    region: str
    stack: str
    status: str  # added | removed | changed | unchanged
    resources: list[ResourceDiff] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


@dataclass
class EnvDiff:
    env: str
    baseline: str  # what the templates were compared with
    stacks: list[StackDiff]

    @property
    def changed(self) -> bool:
        return any(s.status != "unchanged" for s in self.stacks)

    def as_dict(self) -> dict:
        data = asdict(self)
        for s, sd in zip(data["stacks"], self.stacks):
            for r, rd in zip(s["resources"], sd.resources):
                r["data_loss"] = rd.data_loss
        data["changed"] = self.changed
        return data


def baseline_dir(out_dir: Path, env: str) -> Path:
    return out_dir / ".archc" / env / "baseline"


def write_baseline(out_dir: Path, env: str, region: str, stack: str, template: dict | None) -> None:
    """Record the template last seen deployed for one stack (None forgets it: the stack does not exist yet)."""
    path = baseline_dir(out_dir, env) / region / f"{stack}.json"
    if template is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(dumps(template))
    tmp.replace(path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ArchcError(f"{path} is not valid JSON: {e}") from None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise ArchcError("--ref needs git, which is not installed") from None


def baseline_from_ref(ref: str, spec_path: Path, out_dir: Path, env: str) -> tuple[dict[str, dict], str]:
    """Templates at a git ref: the committed out/<env> when there is one, else the spec at that ref compiled by today's compiler."""
    spec_path = spec_path.resolve()
    top = _git(spec_path.parent, "rev-parse", "--show-toplevel")
    if top.returncode:
        raise ArchcError(f"--ref {ref}: {spec_path.parent} is not inside a git repository")
    root = Path(top.stdout.decode().strip())
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode:
        raise ArchcError(f'--ref: "{ref}" is not a commit in {root}')
    try:
        rel_out = out_dir.resolve().relative_to(root).as_posix()
    except ValueError:
        rel_out = None
    if rel_out is not None:
        man = _git(root, "show", f"{ref}:{rel_out}/{env}/manifest.json")
        if man.returncode == 0:
            templates = {}
            for t in json.loads(man.stdout)["templates"]:
                body = _git(root, "show", f"{ref}:{rel_out}/{env}/{t['path']}")
                if body.returncode == 0:
                    templates[f"{t['region']}/{t['stack']}"] = json.loads(body.stdout)
            return templates, f"{ref}:{rel_out}/{env}"
    rel_spec = spec_path.relative_to(root).as_posix()
    shown = _git(root, "show", f"{ref}:{rel_spec}")
    if shown.returncode:
        raise ArchcError(f"--ref {ref}: neither {rel_out or out_dir}/{env} nor {rel_spec} exists at that commit")
    from .build import compile_spec
    from .diagnostics import SpecError
    from .emit import render

    # Beside the current spec, so relative paths in it (function code) resolve the same way.
    with tempfile.NamedTemporaryFile("wb", dir=spec_path.parent, prefix=f".{spec_path.stem}.{ref.replace('/', '_')}.",
                                     suffix=spec_path.suffix, delete=False) as f:
        f.write(shown.stdout)
        tmp = Path(f.name)
    try:
        apps = compile_spec(tmp, [env]).apps
    except SpecError as e:
        raise ArchcError(f"--ref {ref}: the spec at that commit does not compile for {env} ({e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ({a.entry.id: json.loads(a.body) for a in render(apps[env])},
            f"{rel_spec} at {ref}, compiled by archc today")


def baseline_from_dir(directory: Path) -> dict[str, dict]:
    """Every `<region>/<stack>.json` under a directory laid out like out/<env>."""
    if not directory.is_dir():
        raise ArchcError(f"baseline directory {directory} does not exist")
    return {f"{p.parent.name}/{p.stem}": _read_json(p) for p in sorted(directory.glob("*/*.json"))}


def diff_env(out_dir: Path, env: str, *, baseline: Path | None = None, ref: str | None = None, spec_path: Path = Path("arch.yaml"),
             stacks: Iterable[str] = (), regions: Iterable[str] = ()) -> EnvDiff:
    manifest = read_manifest(out_dir, env)
    chosen = manifest.select(stacks, regions)
    if ref:
        old, label = baseline_from_ref(ref, spec_path, out_dir, env)
    elif baseline:
        old, label = baseline_from_dir(baseline), str(baseline)
    else:
        default = baseline_dir(out_dir, env)
        if default.is_dir():
            old, label = baseline_from_dir(default), f"{default} (last plan or deploy)"
        else:  # nothing planned or deployed yet: everything is new (compare with --baseline DIR or --ref REF instead)
            old, label = {}, f"nothing yet ({default} is recorded by archc plan and deploy; or use --baseline DIR / --ref REF)"
    result = []
    for t in chosen:
        new = _read_json(out_dir / env / t.path)
        before = old.get(t.id)
        resources, sections = diff_template(t.region, before, new)
        status = "added" if before is None else ("changed" if resources or sections else "unchanged")
        result.append(StackDiff(t.id, t.region, t.stack, status, resources, sections))
    if not list(stacks):
        compiled = {t.id for t in manifest.templates}
        wanted = set(regions)
        for sid in sorted(set(old) - compiled):
            region, name = sid.split("/", 1)
            if wanted and region not in wanted:
                continue
            resources, _ = diff_template(region, old[sid], None)
            result.append(StackDiff(sid, region, name, "removed", resources))
    return EnvDiff(env, label, result)
