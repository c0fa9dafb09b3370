"""archc keeps small copies of AWS facts off the compile path; these tests keep them in step with cfn-lint's data."""

import json
import os

import cfnlint
import cfnlint.data.schemas.extensions.aws_rds_dbinstance as rds_ext

from blueprints.secure import KEEP, STATEFUL_TYPES
from compiler.spec.database import POSTGRES_MIN_MINOR


def test_stateful_types_match_cfn_lint():
    path = os.path.join(os.path.dirname(cfnlint.__file__), "data", "AdditionalSpecs", "StatefulResources.json")
    assert STATEFUL_TYPES == set(json.load(open(path))["ResourceTypes"])


def _postgres(filename):
    data = json.load(open(os.path.join(os.path.dirname(rds_ext.__file__), filename)))
    for clause in data["allOf"]:
        engine = clause["if"]["properties"]["Engine"]
        if engine.get("const") == "postgres":
            return clause
    raise AssertionError("no postgres clause")


def test_oldest_creatable_postgres_minors_match_cfn_lint():
    deprecated = set(_postgres("engine_version_deprecated.json")["if"]["properties"]["EngineVersion"]["enum"])
    valid = set(_postgres("engine_version.json")["then"]["properties"]["EngineVersion"]["enum"])
    for major, minor in POSTGRES_MIN_MINOR.items():
        assert f"{major}.{minor}" in valid and f"{major}.{minor}" not in deprecated
        older = [f"{major}.{m}" for m in range(0, minor) if f"{major}.{m}" in valid]
        assert all(v in deprecated for v in older), older


def test_every_stateful_resource_compiled_is_kept(templates):
    for key, t in templates.items():
        for lid, r in t["Resources"].items():
            if r["Type"] in STATEFUL_TYPES:
                assert r.get("DeletionPolicy") in KEEP and r.get("UpdateReplacePolicy") in KEEP, (key, lid)


def test_runtimes_come_from_cfn_lint_lifecycle_data():
    import datetime

    from compiler import runtimes

    path = os.path.join(os.path.dirname(cfnlint.__file__), "data", "AdditionalSpecs", "LmbdRuntimeLifecycle.json")
    lifecycle = json.load(open(path))
    # The newest of each family is what AWS names as every older runtime's successor.
    assert runtimes.latest("python") == lifecycle["python3.9"]["successor"]
    assert runtimes.latest("nodejs") == lifecycle["nodejs18.x"]["successor"]
    today = datetime.date(2026, 11, 23)
    supported = runtimes.supported(today)
    assert supported[0] == runtimes.latest("python") and "python3.10" not in supported and "nodejs20.x" not in supported
    assert all(lifecycle[r]["deprecated"] > today.isoformat() for r in supported)
    assert runtimes.deprecation_soon("nodejs22.x", today) == lifecycle["nodejs22.x"]["deprecated"]  # 2027-04-30: within 180 days
    assert runtimes.deprecation_soon("python3.13", today) is None


def test_reading_the_runtimes_does_not_import_cfn_lint():
    import subprocess
    import sys

    code = "import sys; from compiler import runtimes; runtimes.supported(); print('cfnlint' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

