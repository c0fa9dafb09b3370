"""The compile job end to end: load, validate every chosen environment, compile, then write (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .app import App, compile_app
from .diagnostics import Diagnostic, SpecError
from .emit import emit
from .loader import load
from .spec import Spec
from .validate import validate


@dataclass(frozen=True)
class BuildResult:
    apps: dict[str, App]
    manifests: dict[str, dict]
    warnings: list[Diagnostic]


def deploy_settings(spec: Spec, env: str) -> dict:
    d = spec.deploy
    protect = d.termination_protection if d.termination_protection is not None else env == "prod"
    return {"termination_protection": protect, "rollback_alarms": d.rollback_alarms,
            "monitoring_minutes": d.monitoring_minutes, "timeout_minutes": d.timeout_minutes}


def compile_spec(spec_path: Path, envs: list[str] | None) -> tuple[str, dict[str, App], list[Diagnostic], dict[str, Spec]]:
    document = load(spec_path)
    validated = validate(document, envs)
    apps: dict[str, App] = {}
    errors: list[Diagnostic] = []
    for env, spec in validated.specs.items():
        try:
            apps[env] = compile_app(spec, env, document.file)
        except SpecError as e:
            errors.extend(e.diagnostics)
    if errors:
        raise SpecError(errors, validated.warnings)
    return document.sha256, apps, validated.warnings, validated.specs


def build_all(spec_path: Path, envs: list[str] | None, out_dir: Path) -> BuildResult:
    """Nothing is written unless every environment validates and compiles."""
    sha, apps, warnings, specs = compile_spec(spec_path, envs)
    manifests = {env: emit(app, sha, out_dir, deploy_settings(specs[env], env))[1] for env, app in apps.items()}
    return BuildResult(apps, manifests, warnings)
