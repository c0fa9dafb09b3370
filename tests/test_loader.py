"""Loading arch.yaml: positions, duplicate keys, and the documented overlay merge rule."""

import pytest

from compiler.diagnostics import SpecError
from compiler.loader import load_text

BASE = """\
app: demo
regions: {primary: eu-west-1}
environments:
  dev:
    network: {azs: 2, endpoints: [s3]}
    database: null
    tables: {items: {partition_key: {name: id}}}
  prod:
    alarms: null
    network: {flow_logs: {retention_days: 365}}
network:
  cidr: 10.1.0.0/16
  endpoints: [s3, ecr.api]
  flow_logs: {retention_days: 90, traffic: ALL}
database:
  version: "16.9"
  multi_az: true
alarms: {email: [ops@example.com]}
"""


def test_mappings_merge_and_lists_replace():
    data, _ = load_text(BASE).for_env("dev")
    assert data["network"]["cidr"] == "10.1.0.0/16"  # kept from the base
    assert data["network"]["azs"] == 2  # added by the overlay
    assert data["network"]["endpoints"] == ["s3"]  # a list replaces, never appends


def test_nested_mapping_merges_key_by_key():
    data, _ = load_text(BASE).for_env("prod")
    assert data["network"]["flow_logs"] == {"retention_days": 365, "traffic": "ALL"}


def test_an_overlay_may_remove_one_section_and_add_another():
    data, _ = load_text(BASE).for_env("dev")
    assert "database" not in data
    assert data["tables"] == {"items": {"partition_key": {"name": "id"}}}


def test_null_removes_a_section():
    data, _ = load_text(BASE).for_env("prod")
    assert "alarms" not in data
    assert "environments" not in data


def test_positions_follow_the_overlay():
    _, pos = load_text(BASE).for_env("dev")
    assert pos.of(("network", "azs")).line == 5
    assert pos.of(("network", "cidr")).line == 12
    assert pos.of(("tables", "items", "partition_key")).line == 7
    assert pos.of(("network", "flow_logs", "traffic"), key=True).line == 14


def test_duplicate_keys_are_refused_naming_both_lines_with_the_other_mistakes():
    from compiler.validate import validate

    doc = load_text("app: a\nregions: {primary: eu-wset-1}\napp: b\nenvironments: {dev: {}}\n")
    with pytest.raises(SpecError) as e:
        validate(doc)
    assert [(d.code, d.line) for d in e.value.diagnostics] == [("S209", 1), ("S208", 2), ("S101", 3)]
    assert "line 1" in e.value.diagnostics[2].message


def test_yaml_tags_are_refused_not_a_traceback():
    from compiler.validate import validate

    with pytest.raises(SpecError) as e:
        validate(load_text("app: !Ref Name\nregions: {primary: eu-west-1}\nenvironments: {dev: {}}\nalarms: {email: [!Sub x]}\n"))
    assert [(d.code, d.line, d.path) for d in e.value.diagnostics] == [("S100", 1, "app"), ("S100", 4, "alarms.email[0]")]


def test_yaml_syntax_error_is_located():
    with pytest.raises(SpecError) as e:
        load_text("app: a\nregions: {primary: eu-west-1\nenvironments: {dev: {}}\n")
    [d] = e.value.diagnostics
    assert d.code == "S100" and d.line >= 2


def test_without_environments_there_is_one_named_default():
    doc = load_text("app: a\nregions: {primary: eu-west-1}\n")
    assert doc.environments == ["default"]
    data, _ = doc.for_env("default")
    assert data == {"app": "a", "regions": {"primary": "eu-west-1"}}


def test_environment_names_must_fit_resource_names():
    with pytest.raises(SpecError) as e:
        load_text("app: a\nregions: {primary: eu-west-1}\nenvironments: {Prod_EU: {}}\n")
    [d] = e.value.diagnostics
    assert (d.code, d.line) == ("S209", 3)


def test_keys_are_text_so_yaml_1_1_booleans_stay_names():
    """`on:` (a failover's status codes) is the key "on", not YAML 1.1's True; values keep their YAML types."""
    data, _ = load_text("app: demo\nregions: {primary: eu-west-1}\nx: {on: [503], yes: no, 404: off}\n").for_env("default")
    assert data["x"] == {"on": [503], "yes": False, "404": False}
