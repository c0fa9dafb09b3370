"""The compile job end to end: load, validate every chosen environment, compile, then write (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .app import App, compile_app
from .assets import Asset, package
from .facts import derive
from .diagnostics import Diagnostic, SpecError
from .emit import prepare, write_env
from .loader import Document, load
from .manifest import DR_SUMMARY, DeploySettings, Manifest, Weakened
from .spec import Spec
from .validate import validate, weakened_entries


@dataclass(frozen=True)
class BuildResult:
    apps: dict[str, App]
    manifests: dict[str, Manifest]
    warnings: list[Diagnostic]


def deploy_settings(spec: Spec, env: str) -> DeploySettings:
    d = spec.deploy
    protect = d.termination_protection if d.termination_protection is not None else env == "prod"
    return DeploySettings(protect, d.rollback_alarms, d.monitoring_minutes, d.timeout_minutes)


@dataclass(frozen=True)
class Compiled:
    file: str  # the spec as diagnostics name it
    spec_sha256: str
    apps: dict[str, App]
    warnings: list[Diagnostic]
    specs: dict[str, Spec]
    assets: dict[str, dict[str, Asset]]
    weakened: dict[str, list[Weakened]]  # per environment: each weakened default, its waiver and where it is written


def compile_spec(spec_path: Path, envs: list[str] | None) -> Compiled:
    return compile_document(load(spec_path), envs, Path(spec_path).resolve().parent)


def compile_document(document: Document, envs: list[str] | None, base: Path) -> Compiled:
    """Validate and compile the chosen environments; code folders are relative to `base` (the spec's folder)."""
    validated = validate(document, envs)
    apps: dict[str, App] = {}
    assets: dict[str, dict[str, Asset]] = {}
    errors: list[Diagnostic] = []
    from blueprints.registry import BLUEPRINTS

    for env, spec in validated.specs.items():
        facts = derive(spec, env)
        packaged, missing = package(spec, env, base, document.file, document.for_env(env)[1], facts)
        errors.extend(missing)
        if missing:
            continue
        try:
            apps[env] = compile_app(spec, env, BLUEPRINTS, document.file, packaged, facts)
        except SpecError as e:
            errors.extend(e.diagnostics)
        assets[env] = packaged
    if errors:
        raise SpecError(sorted(set(errors)), validated.warnings)
    weakened = {env: weakened_entries(document.for_env(env)[1], spec) for env, spec in validated.specs.items()}
    return Compiled(document.file, document.sha256, apps, validated.warnings, validated.specs, assets, weakened)


def render_all(c: Compiled) -> dict[str, tuple[dict[str, bytes], Manifest]]:
    """Every file of each out/<env> and its manifest, in memory."""
    from . import dbusers, runbook

    out = {}
    for env, app in c.apps.items():
        documents = {runbook.RUNBOOK: runbook.render(app, c.specs[env]), DR_SUMMARY: runbook.summary(app, c.specs[env]),
                     dbusers.DATABASE_USERS: dbusers.render(app, c.specs[env])}
        out[env] = prepare(app, c.spec_sha256, deploy_settings(c.specs[env], env), c.assets[env], c.file, c.weakened[env],
                           {name: text for name, text in documents.items() if text} or None)
    return out


def build_all(spec_path: Path, envs: list[str] | None, out_dir: Path) -> BuildResult:
    """Nothing is written unless every environment validates and compiles."""
    c = compile_spec(spec_path, envs)
    prepared = render_all(c)
    for env, (files, _) in prepared.items():  # written only once every environment rendered
        write_env(out_dir, env, files)
    return BuildResult(c.apps, {env: man for env, (_, man) in prepared.items()}, c.warnings)
