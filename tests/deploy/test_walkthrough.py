"""The README's deploy walkthrough runs as written: scripts/walkthrough.py runs its block against a fresh moto server and
checks every exit code the README states (plan 1 -> deploy 0 -> plan 0 -> ... -> destroy 0)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_the_readme_walkthrough_runs_as_written():
    r = subprocess.run([sys.executable, "scripts/walkthrough.py"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(line.startswith("ok ") for line in lines), r.stdout
    stated = [line.split(" (README: ")[1].split(")")[0] for line in lines if "archc " in line]
    assert stated[:4] == ["0", "1", "0", "0"]  # compile, plan (changes), deploy, plan (no changes)
    assert any("archc destroy" in line for line in lines)
