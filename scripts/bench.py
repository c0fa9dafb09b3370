#!/usr/bin/env python3
"""Benchmark (not a test): median wall time of `archc compile` beside the import floor.

Usage: .venv/bin/python scripts/bench.py [--runs 7]
Each run is a fresh process (interpreter start, imports, validation, compile, emit), the way a user runs it, after
one warm-up run that writes the bytecode caches. The floor is a fresh process that only imports the libraries archc
builds on; every figure is also printed as a multiple of it. The 10x spec is the shipped one with ten times the
environments (so ten times the templates): its time should be about ten times the work above the floor.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def large_spec(shipped: str, factor: int = 10) -> str:
    """The shipped spec with each environment repeated `factor` times (dev -> dev, dev1, ..., dev9)."""
    head, _, rest = shipped.partition("environments:\n")
    body_lines = rest.splitlines(keepends=True)
    env_block, tail = [], []
    for i, line in enumerate(body_lines):
        if line.startswith("  ") or not line.strip():
            env_block.append(line)
        else:
            tail = body_lines[i:]
            break
    envs: list[tuple[str, list[str]]] = []
    for line in env_block:
        m = re.match(r"  ([a-z0-9]+):", line)
        if m:
            envs.append((m.group(1), [line]))
        elif envs:
            envs[-1][1].append(line)
    out = []
    for name, lines in envs:
        for n in range(factor):
            new = f"{name}{n}" if n else name
            out.append(lines[0].replace(f"  {name}:", f"  {new}:", 1))
            out.extend(lines[1:])
    return head + "environments:\n" + "".join(out) + "".join(tail)


FLOOR = [sys.executable, "-c", "import troposphere, awacs, pydantic, yaml"]
# `import pydantic` is lazy: the first model class pays for pydantic's schema machinery. Printed for context.
FIRST_MODEL = [sys.executable, "-c", "import troposphere, awacs, yaml\nfrom pydantic import BaseModel\n"
               "class M(BaseModel):\n    x: int"]


def median_run(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)  # warm-up: bytecode caches written
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compile_cmd(spec: Path, env: str, out: str) -> list[str]:
    return [sys.executable, "-m", "compiler.cli", "compile", "--env", env, "--spec", str(spec), "--out", out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as on a user's machine
    shipped = ROOT / "arch.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "arch.yaml")
        big.write_text(large_spec(shipped.read_text()))
        (Path(tmp) / "handlers").symlink_to(ROOT / "handlers")  # code folders are relative to the spec
        floor = median_run(FLOOR, args.runs, env)
        print(f"import floor (python -c 'import troposphere, awacs, pydantic, yaml')   median {floor * 1000:6.0f} ms")
        first = median_run(FIRST_MODEL, args.runs, env)
        print(f"the floor plus one pydantic model class (not a goal, for context)     median {first * 1000:6.0f} ms"
              f"   {first / floor:4.1f}x floor")
        rows = (("compile --env prod", shipped, "prod"), ("compile --env all", shipped, "all"),
                ("compile --env all, 10x spec", big, "all"))
        for label, spec, which in rows:
            out = f"{tmp}/out-{which}-{spec.parent.name}"
            med = median_run(compile_cmd(spec, which, out), args.runs, env)
            files = len(list(Path(out).rglob("*.json")))
            lines = len(spec.read_text().splitlines())
            print(f"{label:28} {lines:5} spec lines {files:4} JSON files   median {med * 1000:6.0f} ms"
                  f"   {med / floor:4.1f}x floor   ({args.runs} fresh processes)")
        # The audit report and the diagram read out/ only (no troposphere, pydantic or AWS library): they have no floor of
        # their own beyond the interpreter; shown beside the same floor for scale.
        out = f"{tmp}/out-prod-{shipped.parent.name}"
        for label, command in (("report --env prod", ["report", "--env", "prod"]), ("graph --env prod (svg)", ["graph", "--env", "prod"])):
            med = median_run([sys.executable, "-m", "compiler.cli", *command, "--out", out], args.runs, env)
            print(f"{label:28} {'':37} median {med * 1000:6.0f} ms   {med / floor:4.1f}x floor   ({args.runs} fresh processes)")


if __name__ == "__main__":
    main()
