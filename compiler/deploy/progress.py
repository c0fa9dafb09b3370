"""The live view of a deploy on an interactive terminal: one row per stack (waiting, running with the resource
CloudFormation is working on, done, failed), redrawn in place, with the events printed above it. Elsewhere (a pipe, a
CI log, --json) deploy prints plain lines and this is never built."""

from __future__ import annotations

import threading
import time
from typing import Any

WAITING, RUNNING = "waiting", "running"
STYLE = {WAITING: "dim", RUNNING: "yellow", "deployed": "green", "protected": "green"}


class Progress:
    """Stack states as deploy reports them (thread-safe), and their table."""

    def __init__(self, stacks: list[dict]):
        self._lock = threading.Lock()
        self.rows = {s["id"]: {"state": WAITING, "detail": ", ".join(s.get("create_after") or []) and
                               f"after {', '.join(s['create_after'])}", "since": None, "ended": None} for s in stacks}

    def update(self, stack_id: str, state: str | None = None, detail: str | None = None) -> None:
        with self._lock:
            row = self.rows.get(stack_id)
            if row is None:
                return
            if state is not None:
                if state == RUNNING and row["since"] is None:
                    row["since"] = time.monotonic()
                elif state != RUNNING and row["since"] is not None and row["ended"] is None:
                    row["ended"] = time.monotonic()  # the clock stops where the stack did
                row["state"] = state
            if detail is not None:
                row["detail"] = detail

    def table(self) -> Any:
        from rich.table import Table

        t = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=False)
        for col in ("stack", "state", "time", "now"):
            t.add_column(col, no_wrap=col != "now", overflow="fold")
        with self._lock:
            for sid, row in self.rows.items():
                elapsed = "" if row["since"] is None else f"{(row['ended'] or time.monotonic()) - row['since']:.0f}s"
                t.add_row(sid, row["state"], elapsed, row["detail"] or "", style=STYLE.get(row["state"], "bold red"))
        return t


class LiveView:
    """rich's Live around a Progress: `echo` prints above the table, `update` redraws it."""

    def __init__(self, console: Any, stacks: list[dict]):
        from rich.live import Live

        self.progress = Progress(stacks)
        # Drawn from the current state at each refresh: the clock runs between events, and no thread can show a stale table.
        self.live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self.progress.table)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.refresh()
        self.live.__exit__(*exc)

    def echo(self, msg: str, style: str = "") -> None:
        self.live.console.print(msg, style=style or None, markup=False)

    def update(self, stack_id: str, state: str | None = None, detail: str | None = None) -> None:
        self.progress.update(stack_id, state, detail)
