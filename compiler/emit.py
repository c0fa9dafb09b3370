"""Writes an App to out/<env>/: one JSON template per stack and region plus manifest.json, replaced whole or not at all."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterable
from pathlib import Path

import orjson

from . import __version__
from .awsdata import INLINE_BODY_LIMIT, STATEFUL_TYPES, URL_BODY_LIMIT
from .context import App
from .diagnostics import ArchcError, Diagnostic, SpecError
from .manifest import MANIFEST, AssetEntry, DeploySettings, EdgeEntry, Manifest, TemplateEntry, Weakened



@dataclass(frozen=True)
class Artifact:
    """One template's bytes and its manifest entry."""

    entry: TemplateEntry
    body: bytes


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
            out.append(Artifact(TemplateEntry(
                stack=stack.name, region=stack.region, concern=stack.concern, path=f"{stack.region}/{stack.name}.json",
                sha256=hashlib.sha256(body).hexdigest(), bytes=len(body), resources=len(t.resources),
                dependencies=tuple(app.dependencies(sid)), inline=len(body) <= INLINE_BODY_LIMIT, tags=stack.tags,
                stateful=tuple(sorted(lid for lid, r in t.resources.items() if r.resource_type in STATEFUL_TYPES)),
                alarms=tuple(sorted(str(r.properties["AlarmName"]) for r in t.resources.values()
                                    if r.resource_type == "AWS::CloudWatch::Alarm")),
                parameters=tuple(sorted(t.parameters)), capabilities=capabilities(t)), body))
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


def manifest(app: App, artifacts: list[Artifact], spec_sha256: str, deploy: DeploySettings,
             assets: dict | None = None, weakened: Iterable[Weakened] = ()) -> Manifest:
    return Manifest(
        archc_version=__version__, app=app.app, environment=app.env, spec_sha256=spec_sha256, deploy=deploy,
        deploy_order=tuple(tuple(batch) for batch in app.deploy_order()),
        edges=tuple(EdgeEntry(e.consumer, e.producer, e.output, e.kind, e.parameter) for e in app.edges),
        templates=tuple(a.entry for a in artifacts),
        assets=tuple(AssetEntry(a.function, a.source, a.sha256, a.key, len(a.body), a.path)
                     for _, a in sorted((assets or {}).items()) if not a.inline),
        weakened=tuple(weakened),
    )


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


def prepare(app: App, spec_sha256: str, deploy: DeploySettings, assets: dict | None = None, file: str = "arch.yaml",
            weakened: Iterable[Weakened] = (), documents: dict[str, str] | None = None) -> tuple[dict[str, bytes], Manifest]:
    """Every file of out/<env> and the manifest, in memory (pure); a template over 1 MB is a compile error. `documents`
    are text files written beside them (the DR runbook, the database users' SQL)."""
    artifacts = render(app)
    too_big = [a.entry for a in artifacts if a.entry.bytes > URL_BODY_LIMIT]
    if too_big:
        raise SpecError([Diagnostic(file, 1, 1, "C403", t.stack, f"{t.bytes:,} bytes in {t.region}; CloudFormation takes at most "
                                    f"{URL_BODY_LIMIT:,} bytes even through S3: split the section") for t in too_big])
    assets = assets or {}
    man = manifest(app, artifacts, spec_sha256, deploy, assets, weakened)
    files = {a.entry.path: a.body for a in artifacts}
    files.update({a.path: a.body for a in assets.values() if not a.inline})
    files.update({name: text.encode() for name, text in (documents or {}).items()})
    files[MANIFEST] = dumps(man.to_json())
    return files, man


def emit(app: App, spec_sha256: str, out_dir: Path, deploy: DeploySettings, assets: dict | None = None) -> tuple[Path, Manifest]:
    """prepare() and write one environment."""
    files, man = prepare(app, spec_sha256, deploy, assets)
    return write_env(out_dir, app.env, files), man
