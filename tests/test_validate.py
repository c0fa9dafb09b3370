"""Broken specs: each must get exactly the codes and lines its first line promises, all at once."""

import re
from pathlib import Path

import pytest

from compiler.diagnostics import SpecError
from compiler.loader import load, load_text
from compiler.validate import validate

from .conftest import SHIPPED, SPECS

BROKEN = sorted((SPECS / "broken").glob("*.yaml"))


def _expected(path: Path) -> set[tuple[str, int]]:
    first = path.read_text().splitlines()[0]
    return {(code, int(line)) for code, line in re.findall(r"([SWC]\d{3})@(\d+)", first)}


def _errors(path: Path) -> list:
    with pytest.raises(SpecError) as e:
        validate(load(path))
    return e.value.diagnostics


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_spec_gets_its_codes_and_lines(path):
    got = {(d.code, d.line) for d in _errors(path)}
    assert got == _expected(path)


def test_five_mistakes_all_reported_with_columns_and_hints():
    diags = _errors(SPECS / "broken" / "five_mistakes.yaml")
    assert len(diags) == 5
    unknown = next(d for d in diags if d.code == "S102")
    assert unknown.path == "network.nat_gatways" and 'did you mean "nat_gateways"' in unknown.message
    region = next(d for d in diags if d.code == "S208")
    assert 'did you mean "eu-west-1"' in region.message
    assert all(d.col >= 1 for d in diags)
    assert all(re.fullmatch(r".*five_mistakes\.yaml:\d+:\d+ [SWC]\d{3} \S+: .+", d.render()) for d in diags)


def test_an_overlay_only_mistake_names_its_environment():
    [d] = _errors(SPECS / "broken" / "nat_in_overlay.yaml")
    assert d.envs == ("dev",)


def test_the_shipped_spec_is_valid():
    result = validate(load(SHIPPED))
    assert set(result.specs) == {"dev", "staging", "prod"}


def test_weakened_default_warns_with_its_line_and_waiver():
    result = validate(load(SHIPPED))
    [w] = [w for w in result.warnings if w.path == "database.deletion_protection"]
    assert w.code == "W301" and w.envs == ("dev",) and "waived" in w.message
    assert SHIPPED.read_text().splitlines()[w.line - 1].lstrip().startswith(("database:", "dev:")) or "deletion_protection" in SHIPPED.read_text().splitlines()[w.line - 1]


def test_unwaived_weakening_asks_for_a_reason():
    doc = load_text("app: shop\nregions: {primary: eu-west-1}\nenvironments: {dev: {}}\n"
                    "tables: {t: {deletion_protection: false, partition_key: {name: id}}}\n")
    result = validate(doc)
    [w] = [w for w in result.warnings if w.path == "tables.t.deletion_protection"]
    assert "waivers" in w.message and w.line == 4


def test_unknown_environment_is_refused():
    with pytest.raises(SpecError) as e:
        validate(load(SHIPPED), ["prdo"])
    [d] = e.value.diagnostics
    assert d.code == "S110" and 'did you mean "prod"' in d.message


def test_a_mistyped_waiver_suggests_the_path_and_is_reported_once():
    doc = load_text("app: shop\nregions: {primary: eu-west-1}\nenvironments: {dev: {database: {deletion_protection: false}}, prod: {}}\n"
                    "network: {}\ndatabase: {version: \"16.9\"}\nalarms: {email: [ops@example.com]}\n"
                    "waivers: {database.deletion_protectoin: dev is disposable}\n")
    with pytest.raises(SpecError) as e:
        validate(doc)
    [d] = e.value.diagnostics
    assert d.code == "S105" and 'did you mean "database.deletion_protection"' in d.message and d.envs == ()


def test_a_runtime_deprecated_within_180_days_warns_with_its_line():
    import datetime

    from compiler import runtimes

    soon = [r for r in runtimes.supported() if runtimes.deprecation_soon(r)]
    retired = sorted(r for r in runtimes.lifecycle() if runtimes.retired(r) and r.startswith("python3"))[-1]
    text = "app: shop\nregions: {primary: eu-west-1}\nfunctions:\n  a: {bootstrap: true}\n"
    if soon:
        result = validate(load_text(text + f"  b: {{bootstrap: true, runtime: {soon[0]}}}\n"))
        [w] = [w for w in result.warnings if w.code == "W302"]
        assert (w.path, w.line) == ("functions.b.runtime", 5) and runtimes.latest(soon[0][:6]) in w.message
    assert not [w for w in validate(load_text(text)).warnings if w.code == "W302"]  # the default is the newest
    with pytest.raises(SpecError) as e:
        validate(load_text(text + f"  c: {{bootstrap: true, runtime: {retired}}}\n"))
    assert [(d.code, d.line) for d in e.value.diagnostics] == [("S219", 5)]
    assert datetime.date.today().isoformat() >= runtimes.lifecycle()[retired]["deprecated"]
