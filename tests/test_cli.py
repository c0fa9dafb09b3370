"""The archc command as a user runs it: exit codes, the table, nothing half-written, schema, import hygiene."""

import json
import os
import subprocess
import sys

from .conftest import ROOT, SHIPPED, SPECS

ARCHC = [sys.executable, "-m", "compiler.cli"]


def run(*args, cwd=ROOT):
    return subprocess.run([*ARCHC, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


def test_compile_prints_the_table_and_writes_every_environment(tmp_path):
    r = run("compile", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "fillup-prod-data" in r.stdout and "resources" in r.stdout
    for env in ("dev", "staging", "prod"):
        man = json.loads((tmp_path / "out" / env / "manifest.json").read_text())
        assert man["environment"] == env
        for t in man["templates"]:
            assert (tmp_path / "out" / env / t["path"]).is_file()


def test_validate_with_five_mistakes_prints_five_located_lines_and_exits_2():
    r = run("validate", "--spec", str(SPECS / "broken" / "five_mistakes.yaml"))
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if "five_mistakes.yaml:" in line]
    assert len(lines) == 5
    assert "Traceback" not in r.stderr


def test_a_broken_spec_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert run("compile", "--out", str(out)).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec = tmp_path / "arch.yaml"
    spec.write_text(SHIPPED.read_text().replace("azs: 3", "azs: 7"))
    r = run("compile", "--spec", str(spec), "--out", str(out))
    assert r.returncode == 2 and "S106" in r.stderr and "nothing was written" in r.stderr
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_recompiling_replaces_an_environment_whole(tmp_path):
    out = tmp_path / "out"
    assert run("compile", "--env", "dev", "--out", str(out)).returncode == 0
    stray = out / "dev" / "stale.json"
    stray.write_text("{}")
    assert run("compile", "--env", "dev", "--out", str(out)).returncode == 0
    assert not stray.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".dev.")]


def test_missing_spec_file_is_a_clean_error(tmp_path):
    r = run("compile", "--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_environment_exits_2():
    r = run("validate", "--env", "qa")
    assert r.returncode == 2 and "S110" in r.stderr


def test_schema_matches_the_shipped_schema_file():
    r = run("schema")
    assert r.returncode == 0
    assert json.loads(r.stdout) == json.loads((ROOT / "arch.schema.json").read_text())
    assert SHIPPED.read_text().startswith("# yaml-language-server: $schema=./arch.schema.json")


def test_schema_describes_sections_and_overlays():
    schema = json.loads(run("schema").stdout)
    assert {"app", "regions", "network", "database", "functions", "alarms", "environments"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_validate_and_compile_do_not_import_boto3_or_cfn_lint(tmp_path):
    code = ("import sys; from compiler.cli import main; sys.argv=['archc','compile','--out',%r]\n"
            "try:\n main()\nexcept SystemExit: pass\n"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('boto3','botocore','cfnlint','moto')]\n"
            "print('IMPORTED', bad)") % str(tmp_path / "out")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "IMPORTED []" in r.stdout, r.stdout + r.stderr


def test_lint_reports_errors_with_exit_1(tmp_path):
    out = tmp_path / "out"
    assert run("compile", "--env", "dev", "--out", str(out)).returncode == 0
    man = json.loads((out / "dev" / "manifest.json").read_text())
    path = out / "dev" / man["templates"][0]["path"]
    t = json.loads(path.read_text())
    t["Resources"]["Broken"] = {"Type": "AWS::SNS::Topic", "Properties": {"NoSuchProperty": 1}}
    path.write_text(json.dumps(t))
    r = run("lint", "--env", "dev", "--out", str(out))
    assert r.returncode == 1 and "E3002" in r.stderr


def test_compile_notes_templates_sent_through_s3(tmp_path):
    r = run("compile", "--env", "prod", "--out", str(tmp_path / "out"))
    man = json.loads((tmp_path / "out" / "prod" / "manifest.json").read_text())
    assert any(not t["inline"] and t["bytes"] > 51200 for t in man["templates"])
    assert all(t["inline"] == (t["bytes"] <= 51200) for t in man["templates"])
    via_s3 = {ln.split()[1] for ln in r.stdout.splitlines() if " S3 " in ln}
    assert via_s3 == {t["stack"] for t in man["templates"] if not t["inline"]}
    assert "over 51,200 bytes" in r.stdout


def test_compile_table_fits_100_columns_and_names_every_stack(tmp_path):
    r = run("compile", "--env", "all", "--out", str(tmp_path / "out"))
    assert r.returncode == 0
    assert max(len(ln) for ln in r.stdout.splitlines()) <= 100
    for man in (json.loads(p.read_text()) for p in (tmp_path / "out").glob("*/manifest.json")):
        section = r.stdout.split(f'{man["environment"]}: ', 1)[1].split("stacks in", 2)[1]
        rows = [ln.split()[:2] for ln in section.splitlines()[2:] if ln and not ln.startswith(" ")]
        assert [[t["region"], t["stack"]] for t in man["templates"]] == rows[:len(man["templates"])]


def test_stack_over_the_resource_and_output_limits_is_a_compile_error(tmp_path):
    tables = "".join(f"    t{i}: {{partition_key: {{name: id}}}}\n" for i in range(500))
    spec = tmp_path / "arch.yaml"
    spec.write_text("app: big\nregions: {primary: eu-west-1}\nenvironments: {dev: {}}\nalarms: {email: [ops@example.com]}\n"
                    "tables:\n" + tables)
    r = run("compile", "--spec", str(spec), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "C401" in r.stderr and "C402" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_validate_json_reports_errors_as_data():
    r = run("validate", "--json", "--spec", str(SPECS / "broken" / "five_mistakes.yaml"))
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and len(doc["errors"]) == 5
    assert {e["code"] for e in doc["errors"]} == {"S102", "S201", "S203", "S208", "S211"}
    assert all(e["line"] > 0 and e["col"] > 0 for e in doc["errors"])
    ok = json.loads(run("validate", "--json").stdout)
    assert ok["ok"] is True and ok["environments"] == ["dev", "staging", "prod"]


def test_waived_weakened_defaults_are_one_summary_line_unless_verbose(tmp_path):
    r = run("compile", "--env", "prod", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "1 weakened default, waived: api.rest.auth.public (arch.yaml:118) (--verbose for each)" in r.stderr
    assert " W301 " not in r.stderr
    verbose = run("compile", "--env", "prod", "--out", str(tmp_path / "out"), "--verbose")
    assert "arch.yaml:118:15 W301 api.rest.auth.public: 2 route(s) left open to anyone" in verbose.stderr
    assert "weakened default, waived" not in verbose.stderr
    spec = tmp_path / "arch.yaml"  # a weakened default with no waiver is never summarised away
    spec.write_text("".join(line for line in SHIPPED.read_text().splitlines(keepends=True)
                            if not line.startswith("  api.rest.auth.public:")))
    (tmp_path / "handlers").symlink_to(ROOT / "handlers")
    r = run("validate", "--spec", str(spec))
    assert r.returncode == 0, r.stderr
    assert "W301 api.rest.auth.public: 2 route(s) left open to anyone" in r.stderr and "if this is intended, say why" in r.stderr
    assert "weakened default, waived" not in r.stderr
