"""Terminal output. Plain lines through click on the compile path (rich costs more to import and render than
archc spends compiling); rich consoles, built on first use, for the deploy commands' review tables."""

from __future__ import annotations

import functools
import sys

import click

WIDTH = 100  # what every table archc prints fits in

_STYLES = {"red": {"fg": "red"}, "yellow": {"fg": "yellow"}, "dim": {"dim": True}, "bold": {"bold": True},
           "bold red": {"fg": "red", "bold": True}}


def say(text: str, style: str | None = None, err: bool = False) -> None:
    """One line to stdout (or stderr); colour only on a terminal (click strips it elsewhere)."""
    click.secho(text, err=err, **_STYLES.get(style or "", {}))


@functools.cache
def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if stream.isatty() else WIDTH)


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]], right: frozenset[int] = frozenset(),
          width: int = WIDTH) -> str:
    """Columns padded to their widest cell; the last column wraps at commas to keep each line within `width`."""
    cols = len(headers)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(cols - 1)]
    last = max(12, width - sum(widths) - 2 * (cols - 1))
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        wrapped = _wrap_items(str(row[-1]), last)
        lines.append("  ".join(cells + [wrapped[0]]).rstrip())
        pad = " " * (sum(widths) + 2 * (cols - 1))
        lines.extend(pad + more for more in wrapped[1:])
    return "\n".join(lines)


def _wrap_items(text: str, width: int) -> list[str]:
    """A comma-separated list packed into lines of at most `width`, breaking only between items."""
    lines: list[str] = []
    for item in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(item) + 1 <= width:  # room for the comma a further break would add
            lines[-1] += ", " + item
        else:
            if lines:
                lines[-1] += ","
            lines.append(item)
    return lines or [""]
