"""Writes an App to out/<env>/: one JSON template per stack and region plus manifest.json, replaced whole or not at all."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from . import __version__
from .awsdata import INLINE_BODY_LIMIT, STATEFUL_TYPES, URL_BODY_LIMIT
from .context import App
from .diagnostics import ArchcError, Diagnostic, SpecError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Artifact:
    stack: str
    region: str
    concern: str
    path: str  # relative to out/<env>
    body: bytes
    resources: int
    dependencies: tuple[str, ...]
    tags: dict[str, str]
    stateful: tuple[str, ...]  # logical IDs a stack policy protects from Replace and Delete
    alarms: tuple[str, ...]  # alarm names, candidates for rollback triggers
    parameters: tuple[str, ...]
    capabilities: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def inline(self) -> bool:
        return len(self.body) <= INLINE_BODY_LIMIT


def dumps(data: object) -> bytes:
    """The bytes of `json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)` plus a newline (orjson writes
    exactly those bytes, over ten times faster than the standard encoder, which falls back to Python to indent)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def render(app: App) -> list[Artifact]:
    """Template bytes per stack, in deploy order (pure)."""
    out = []
    for batch in app.deploy_order():
        for sid in batch:
            stack = app.stacks[sid]
            t = stack.template
            body = dumps(t.to_dict())
            out.append(Artifact(stack.name, stack.region, stack.concern, f"{stack.region}/{stack.name}.json", body,
                                len(t.resources), tuple(app.dependencies(sid)), stack.tags,
                                tuple(sorted(lid for lid, r in t.resources.items() if r.resource_type in STATEFUL_TYPES)),
                                tuple(sorted(str(r.properties["AlarmName"]) for r in t.resources.values()
                                             if r.resource_type == "AWS::CloudWatch::Alarm")),
                                tuple(sorted(t.parameters)), capabilities(t)))
    return out


def capabilities(template) -> tuple[str, ...]:
    """What CloudFormation must be told it may do: IAM (NAMED_IAM for named IAM resources), AUTO_EXPAND for transforms."""
    caps = set()
    for r in template.resources.values():
        if r.resource_type.startswith("AWS::IAM::"):
            caps.add("CAPABILITY_IAM")
            if any(k in r.properties for k in ("RoleName", "ManagedPolicyName", "GroupName", "UserName", "InstanceProfileName")):
                caps.add("CAPABILITY_NAMED_IAM")
    if template.transform:
        caps.update(("CAPABILITY_AUTO_EXPAND", "CAPABILITY_IAM"))  # the rotation transform's nested stack creates a role
    return tuple(sorted(caps))


def manifest(app: App, artifacts: list[Artifact], spec_sha256: str, deploy: dict) -> dict:
    return {
        "deploy": deploy,
        "archc_version": __version__,
        "app": app.app,
        "environment": app.env,
        "spec_sha256": spec_sha256,
        "deploy_order": app.deploy_order(),
        "edges": [{"consumer": e.consumer, "producer": e.producer, "output": e.output, "kind": e.kind} for e in app.edges],
        "templates": [{
            "stack": a.stack, "region": a.region, "concern": a.concern, "path": a.path, "sha256": a.sha256,
            "bytes": len(a.body), "resources": a.resources, "dependencies": list(a.dependencies),
            "inline": a.inline, "tags": a.tags, "stateful": list(a.stateful), "alarms": list(a.alarms),
            "parameters": list(a.parameters), "capabilities": list(a.capabilities),
        } for a in artifacts],
    }


def write_env(out_dir: Path, env: str, files: dict[str, bytes]) -> Path:
    """Replace out/<env> whole: write a sibling temp dir, then swap it in with renames."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / env
    tmp = Path(tempfile.mkdtemp(prefix=f".{env}.tmp-", dir=out_dir))
    try:
        for rel, data in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        os.chmod(tmp, 0o755)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{env}.old-", dir=out_dir))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArchcError(f"could not write {target}: {e}") from None
    return target


def prepare(app: App, spec_sha256: str, deploy: dict, assets: dict | None = None, file: str = "arch.yaml",
            weakened: list[dict] | None = None) -> tuple[dict[str, bytes], dict]:
    """Every file of out/<env> and the manifest, in memory (pure); a template over 1 MB is a compile error."""
    artifacts = render(app)
    too_big = [a for a in artifacts if len(a.body) > URL_BODY_LIMIT]
    if too_big:
        raise SpecError([Diagnostic(file, 1, 1, "C403", a.stack, f"{len(a.body):,} bytes in {a.region}; CloudFormation takes at most "
                                    f"{URL_BODY_LIMIT:,} bytes even through S3: split the section") for a in too_big])
    assets = assets or {}
    man = manifest(app, artifacts, spec_sha256, deploy)
    man["assets"] = [{"function": a.function, "source": a.source, "sha256": a.sha256, "key": a.key,
                      "bytes": len(a.body), "path": a.path} for _, a in sorted(assets.items()) if not a.inline]
    man["weakened"] = weakened or []
    files = {a.path: a.body for a in artifacts}
    files.update({a.path: a.body for a in assets.values() if not a.inline})
    files[MANIFEST] = dumps(man)
    return files, man


def read_manifest(out_dir: Path, env: str) -> dict:
    path = out_dir / env / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        compiled = sorted(p.parent.name for p in out_dir.glob("*/" + MANIFEST)) if out_dir.is_dir() else []
        have = f" (compiled here: {', '.join(compiled)})" if compiled else ""
        raise ArchcError(f"nothing compiled for environment \"{env}\" in {out_dir}/{have}: run `archc compile --env {env}` "
                         "if the spec has that environment") from None


def emit(app: App, spec_sha256: str, out_dir: Path, deploy: dict, assets: dict | None = None) -> tuple[Path, dict]:
    """prepare() and write one environment."""
    files, man = prepare(app, spec_sha256, deploy, assets)
    return write_env(out_dir, app.env, files), man
