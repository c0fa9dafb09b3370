"""The compile job end to end: load, validate every chosen environment, compile, then write (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .app import App, compile_app
from .diagnostics import Diagnostic, SpecError
from .emit import emit
from .loader import load
from .validate import validate


@dataclass(frozen=True)
class BuildResult:
    apps: dict[str, App]
    manifests: dict[str, dict]
    warnings: list[Diagnostic]


def compile_spec(spec_path: Path, envs: list[str] | None) -> tuple[str, dict[str, App], list[Diagnostic]]:
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
    return document.sha256, apps, validated.warnings


def build_all(spec_path: Path, envs: list[str] | None, out_dir: Path) -> BuildResult:
    """Nothing is written unless every environment validates and compiles."""
    sha, apps, warnings = compile_spec(spec_path, envs)
    manifests = {env: emit(app, sha, out_dir)[1] for env, app in apps.items()}
    return BuildResult(apps, manifests, warnings)
