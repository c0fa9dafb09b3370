"""Shared fixtures: the shipped spec compiled once per session, and every compiled template linted once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "arch.yaml"
SPECS = Path(__file__).resolve().parent / "specs"


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """The shipped arch.yaml compiled for every environment into a temporary out/."""
    from compiler.build import build_all

    out = tmp_path_factory.mktemp("out")
    result = build_all(SHIPPED, None, out)
    return {"out": out, "apps": result.apps, "manifests": {env: m.to_json() for env, m in result.manifests.items()}, "warnings": result.warnings}


@pytest.fixture(scope="session")
def templates(compiled):
    """{(env, region, stack): template dict} for every compiled template."""
    out = {}
    for env, man in compiled["manifests"].items():
        for t in man["templates"]:
            out[(env, t["region"], t["stack"])] = json.loads((compiled["out"] / env / t["path"]).read_text())
    return out


@pytest.fixture(scope="session")
def lint_report(compiled):
    """cfn-lint over every compiled template of every environment, once per session (two workers)."""
    from compiler.lint import lint_envs

    return lint_envs(compiled["out"], None, workers=2)


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id].get("Properties", {})


def make_spec(text: str, env: str | None = None):
    """A validated Spec from YAML text (the first environment, or the one named)."""
    from compiler.loader import load_text
    from compiler.validate import validate

    specs = validate(load_text(text)).specs
    return specs[env or next(iter(specs))]


def build_app(spec, env: str = "prod", base: Path = ROOT, root: Path | None = None):
    """Compile a Spec object the way `archc compile` does: facts, code packages, every blueprint."""
    from blueprints.registry import BLUEPRINTS
    from compiler.app import compile_app
    from compiler.assets import HANDLERS_ROOT, package
    from compiler.facts import derive
    from compiler.loader import Positions

    facts = derive(spec, env)
    assets, errors = package(spec, env, base, "arch.yaml", Positions({}, {}), facts, root=root or HANDLERS_ROOT)
    assert not errors, errors
    return compile_app(spec, env, BLUEPRINTS, assets=assets, facts=facts), assets


def shipped_spec(env: str = "prod"):
    from compiler.loader import load
    from compiler.validate import validate

    return validate(load(SHIPPED)).specs[env]


def with_updates(model, path: str, value):
    """A copy of a frozen pydantic model with the field at dotted `path` replaced (dict keys work too)."""
    head, _, rest = path.partition(".")
    if isinstance(model, dict):
        return {**model, head: with_updates(model[head], rest, value) if rest else value}
    current = getattr(model, head)
    return model.model_copy(update={head: with_updates(current, rest, value) if rest else value})
