#!/usr/bin/env python3
"""Benchmark (not a test): median wall time of `archc compile --env all` for the shipped spec and a spec ten times its size.

Usage: .venv/bin/python scripts/bench.py [--runs 7]
Each run is a fresh `archc compile` process (interpreter start, imports, validation, compile, emit), the way a
user runs it. The large spec is the shipped one with ten times the environments (so ten times the templates).
"""

from __future__ import annotations

import argparse
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


def median_compile(spec: Path, runs: int) -> tuple[float, int]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "compiler.cli", "compile", "--env", "all", "--spec", str(spec),
                            "--out", f"{tmp}/out"], cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        count = len(list(Path(tmp, "out").rglob("*.json")))
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    shipped = ROOT / "arch.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "arch.yaml")
        big.write_text(large_spec(shipped.read_text()))
        (Path(tmp) / "handlers").symlink_to(ROOT / "handlers")  # code folders are relative to the spec
        for label, spec in (("shipped arch.yaml", shipped), ("10x arch.yaml", big)):
            lines = len(spec.read_text().splitlines())
            med, files = median_compile(spec, args.runs)
            print(f"{label:18} {lines:5} lines  {files:4} JSON files  median {med * 1000:7.0f} ms over {args.runs} runs")


if __name__ == "__main__":
    main()
