"""The walkthrough's step 3 runs as the README writes it: `python examples/moto/stacks.py --out DIR` in a fresh process."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_the_walkthrough_stacks_script_writes_three_templates_and_a_manifest(tmp_path):
    r = subprocess.run([sys.executable, "examples/moto/stacks.py", "--out", str(tmp_path / "out")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and lines[-1].endswith("manifest.json") and sum("via S3" in x for x in lines) == 1
    assert (tmp_path / "out" / "dev" / "manifest.json").is_file()
