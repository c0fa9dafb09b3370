"""The same spec gives the same bytes, whatever the hash seed, in separate processes."""

import os
import subprocess
import sys

from .conftest import ROOT


def _compile(out, seed):
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_two_processes_with_different_hash_seeds_give_identical_bytes(tmp_path):
    a = _compile(tmp_path / "a", 1)
    b = _compile(tmp_path / "b", 987654)
    assert len(a) >= 15
    assert a == b
