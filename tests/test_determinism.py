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


def test_fast_json_writer_matches_the_standard_encoder(compiled):
    import json

    from compiler.emit import dumps

    files = [p for p in compiled["out"].rglob("*.json")]
    assert len(files) >= 30
    for path in files:
        data = json.loads(path.read_text())
        assert dumps(data) == (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(), path
    tricky = {"b": [1.5, -0.0, 1e300, True, None, "é\u2028\"\\", {}], "a": [], "c": {"z": 1, "y": [[]]}}
    assert dumps(tricky) == (json.dumps(tricky, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
