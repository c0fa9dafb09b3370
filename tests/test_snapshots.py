"""A syrupy snapshot of every compiled template of every environment of the shipped arch.yaml."""

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import SHIPPED


def _ids():
    from compiler.build import compile_spec

    apps = compile_spec(SHIPPED, None).apps
    return sorted(f"{env}/{sid}" for env, app in apps.items() for sid in app.stacks)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_id", _ids())
def test_template_snapshot(stack_id, templates, snapshot_json):
    env, region, stack = stack_id.split("/")
    assert templates[(env, region, stack)] == snapshot_json


def test_manifest_snapshot(compiled, snapshot_json):
    assert {env: m for env, m in compiled["manifests"].items()} == snapshot_json
