#!/usr/bin/env python3
"""Refresh docs/report-prod.png: the reference spec's prod report (header and architecture), rendered by a headless browser.

Usage: .venv/bin/python scripts/screenshot.py [--out docs/report-prod.png] [--width 1440] [--height 1180]
Compiles the shipped arch.yaml (prod) into a scratch directory, writes its report with `archc report`, and has Chromium
(or Chrome) take the picture. Needs a Chromium: `apt-get install chromium` on Debian, or set CHROMIUM to its path.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    found = os.environ.get("CHROMIUM") or next((b for b in map(shutil.which, BROWSERS) if b), None)
    if not found:
        raise SystemExit("no Chromium found: install one (Debian: apt-get install chromium) or set CHROMIUM to its path")
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "report-prod.png")
    p.add_argument("--width", type=int, default=1440)
    p.add_argument("--height", type=int, default=1180)
    args = p.parse_args()
    chromium = browser()
    archc = [sys.executable, "-m", "compiler.cli"]
    with tempfile.TemporaryDirectory(prefix="archc-shot-") as tmp:
        out = Path(tmp) / "out"
        for command in (["compile", "--env", "prod", "--out", str(out)], ["report", "--env", "prod", "--out", str(out)]):
            subprocess.run(archc + command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        page = out / "prod" / "report.html"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
                        f"--window-size={args.width},{args.height}", f"--screenshot={args.out.resolve()}", page.as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    print(f"wrote {args.out} ({args.width}x{args.height}) from the report of {ROOT / 'arch.yaml'} (prod)")


if __name__ == "__main__":
    main()
