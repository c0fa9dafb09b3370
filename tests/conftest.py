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
    return {"out": out, "apps": result.apps, "manifests": result.manifests, "warnings": result.warnings}


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
