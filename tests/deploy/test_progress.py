"""The live view deploy shows on an interactive terminal: a row per stack, redrawn as deploy reports; rendered here on a
terminal-like console of 100 columns."""

from __future__ import annotations

import io

from rich.console import Console

from compiler.deploy.progress import LiveView, Progress


def _render(progress: Progress) -> str:
    con = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    con.print(progress.table())
    return con.file.getvalue()


def test_each_stack_shows_waiting_running_with_its_resource_then_done_or_failed():
    stacks = [{"id": "us-east-1/app-dev-base"}, {"id": "us-east-1/app-dev-api", "create_after": ["us-east-1/app-dev-base"]}]
    p = Progress(stacks)
    text = _render(p)
    assert "us-east-1/app-dev-base  waiting" in text and "after us-east-1/app-dev-base" in text
    p.update("us-east-1/app-dev-base", "running", "starting")
    p.update("us-east-1/app-dev-base", None, "BaseQueue CREATE_IN_PROGRESS")
    text = _render(p)
    assert "running" in text and "BaseQueue CREATE_IN_PROGRESS" in text
    p.update("us-east-1/app-dev-base", "deployed", "CREATE_COMPLETE")
    p.update("us-east-1/app-dev-api", "failed", "ApiStage (AWS::ApiGateway::Stage) CREATE_FAILED: bad")
    text = _render(p)
    assert "deployed" in text and "failed" in text and "CREATE_FAILED: bad" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    p.update("us-east-1/unknown", "running")  # a stack the view does not show is ignored


def test_the_live_view_prints_events_above_and_leaves_the_final_table():
    con = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    with LiveView(con, [{"id": "r/s"}]) as view:
        view.echo("  r/s  Q  AWS::SQS::Queue  CREATE_COMPLETE")
        view.update("r/s", "deployed", "CREATE_COMPLETE")
    out = con.file.getvalue()
    assert "AWS::SQS::Queue  CREATE_COMPLETE" in out and "deployed" in out
