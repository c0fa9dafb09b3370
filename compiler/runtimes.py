"""Lambda runtimes from cfn-lint's lifecycle data (AWS's deprecation, create-block and update-block dates, and each
runtime's successor). The file is read as data: cfn-lint itself is never imported on the compile path."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from functools import cache
from pathlib import Path

FAMILIES = ("python", "nodejs")  # what archc packages (a code folder is zipped for these)
WARN_DAYS = 180  # a pinned runtime deprecated within this many days warns (W302)


@cache
def lifecycle() -> dict[str, dict]:
    """runtime -> {deprecated, create-block, update-block, successor} for the Python and Node.js runtimes."""
    spec = importlib.util.find_spec("cfnlint")  # finds the package without running it
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json"
    data = json.loads(path.read_text())
    return {name: dates for name, dates in data.items() if name.startswith(FAMILIES) and not name.endswith("-edge")}


def _version(runtime: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", runtime))


def latest(family: str) -> str:
    """The newest runtime of a family: the one with no successor (the highest version if the data ever lists several)."""
    newest = [r for r, d in lifecycle().items() if r.startswith(family) and d.get("successor") is None]
    return max(newest, key=_version)


def retired(runtime: str, today: datetime.date | None = None) -> bool:
    """Deprecated by AWS: no more security patches (and soon no new functions)."""
    return runtime in lifecycle() and lifecycle()[runtime]["deprecated"] <= (today or datetime.date.today()).isoformat()


def supported(today: datetime.date | None = None) -> tuple[str, ...]:
    """Runtimes archc accepts, newest first per family."""
    return tuple(sorted((r for r in lifecycle() if r.startswith(FAMILIES) and _version(r) and not retired(r, today)),
                        key=lambda r: (r.startswith("nodejs"), tuple(-n for n in _version(r)))))


def deprecation_soon(runtime: str, today: datetime.date | None = None) -> str | None:
    """The deprecation date, when it falls within WARN_DAYS from today."""
    today = today or datetime.date.today()
    date = lifecycle().get(runtime, {}).get("deprecated")
    if date and today.isoformat() < date <= (today + datetime.timedelta(days=WARN_DAYS)).isoformat():
        return date
    return None
