"""How plans and diffs read: rich tables in the terminal, Markdown in out/<env>/plan.md."""

from __future__ import annotations

from typing import Any

from .review import CODES, SEVERITY

REPLACEMENT = {"True": "REPLACE", "Conditional": "may replace", "False": "in place", "Unknown": "unknown"}
STYLE = {"blocked": "bold red", "warning": "yellow", "note": "cyan"}
ACTION_STYLE = {"Add": "green", "Remove": "red", "Modify": "yellow"}


def _replacement(row: dict, short: bool = False) -> str:
    """The replacement column; an update a value from another stack may cause (deploy runs it only in place) says its
    condition in full, or, `short` (the terminal, which shows the condition on the line below), only that there is one."""
    if row["action"] != "Modify" or not row["replacement"]:
        return "-"
    text = REPLACEMENT.get(row["replacement"], row["replacement"])
    if row.get("condition"):
        return f"{text}, if a value changes" if short else f"{text}, {row['condition']}"
    return text + (" (predicted)" if row.get("replacement_source") == "predicted" else "")


def _details(row: dict) -> str:
    parts = []
    for d in row["details"]:
        target = ".".join(x for x in (d["attribute"], d["name"]) if x) or "?"
        how = ", ".join(x for x in (d["requires_recreation"] and f"recreation {d['requires_recreation']}", d["evaluation"],
                                    d["change_source"]) if x)
        parts.append(f"{target} ({how})" if how else target)
    return "; ".join(parts) or "-"


def _denied(policy: object) -> list[str]:
    """The logical IDs a stack policy denies updates to (its Deny statements' LogicalResourceId/... resources)."""
    ids = []
    for st in (policy.get("Statement") or []) if isinstance(policy, dict) else []:
        if isinstance(st, dict) and st.get("Effect") == "Deny":
            res = st.get("Resource")
            ids += [r.split("/", 1)[1] if r.startswith("LogicalResourceId/") else r for r in (res if isinstance(res, list) else [res])
                    if isinstance(r, str)]
    return ids


def setting_line(item: dict) -> str:
    """One protection setting deploy applies, as people read it."""
    if item["setting"] == "termination_protection":
        return "termination protection: off -> on (the spec asks for it)"
    now = "none set" if item["current"] is None else "differs from the one archc sets"
    denied = _denied(item["wanted"])
    return (f"stack policy: {now} -> set it: updates may not replace or delete "
            + (", ".join(denied) if denied else "anything named (no stateful resources; everything else allowed)"))


def _settings_note(s: dict) -> str:
    if not s["settings"]:
        return ""
    return ("; protection settings to apply after the change set" if s["status"] == "changes"
            else "; protection settings to apply (no change set needed)")


def _status_line(s: dict) -> str:
    if s["status"] == "create after":
        n = len(s["changes"])
        return (f"CREATE after {', '.join(s['create_after'])}: {n} addition{'s' if n != 1 else ''} reviewed from its template "
                "(deploy makes the change set once they exist and runs it only if it is exactly this)")
    if s["status"] == "update after":
        return (f"UPDATE after the stacks it reads from, only if {', '.join(r['output'] + ' of ' + r['producer'] for r in s['reads'])} "
                "changes (deploy reads the value again; the updates below are the only ones it runs)") + _settings_note(s)
    if s["status"] == "changes":
        n = sum(not r.get("condition") for r in s["changes"])
        text = f"{s['change_set']['type']} change set, {n} change{'s' if n != 1 else ''}"
        if s.get("reads"):
            text += f"; made again at deploy if {', '.join(r['output'] + ' of ' + r['producer'] for r in s['reads'])} changes"
        if s["change_set"].get("deleted"):
            why = {"D501": "it would lose data (D501)", "D506": "it would change an export in use (D506)"}
            reasons = " and ".join(why[c] for c in sorted({r["code"] for r in s["risks"] if r["blocking"]}))
            text += f"; change set deleted: {reasons}, so it cannot be executed, from archc or the console"
        return text + _settings_note(s)
    return s["status"] + (f": {s['reason']}" if s["status"] == "deferred" and s["reason"] else "") + _settings_note(s)


def verdict(plan: dict) -> str:
    s = plan["summary"]
    r = s["resources"]
    if plan["blocked"]:
        n = sum(1 for x in plan["risks"] if x["blocking"])
        codes = "/".join(sorted({x["code"] for x in plan["risks"] if x["blocking"]}))
        return f"BLOCKED: {n} blocking risk{'s' if n != 1 else ''} ({codes}); deploy refuses this plan"
    settings = f"protection settings to apply on {s['settings']} stack{'s' if s['settings'] != 1 else ''}"
    later = s.get("create_after", 0)
    if s["with_changes"] == 0 and s["deferred"] == 0 and not later and not s.get("update_after"):
        if s["settings"]:
            return f"no template changes in {s['stacks']} stack{'s' if s['stacks'] != 1 else ''}; {settings}"
        return f"no changes in {s['stacks']} stack{'s' if s['stacks'] != 1 else ''}"
    n = s["with_changes"] + later  # the additions count both: a stack created after its inputs is reviewed whole
    text = (f"{n} stack{'s' if n != 1 else ''} with changes: {r['Add']} to add, {r['Modify']} to modify "
            f"({r['Replace']} replaced), {r['Remove']} to remove")
    if later:
        text += f" ({later} of them created after the stacks they read from, in the same deploy)"
    if s["deferred"]:
        text += f"; {s['deferred']} deferred until the stacks they read from are deployed"
    if s.get("update_after"):
        text += f"; {s['update_after']} updated after them if a value they read changes"
    if s["settings"]:
        text += f"; {settings}"
    return text


def _changes_table(changes: list[dict], width: int) -> Any:
    """One stack's changes for the terminal within `width`: a line per change (action, logical id, type without the AWS::
    every type starts with, replacement), then, indented, its scope, details and policy when AWS gave any; plan.md has
    every column in full."""
    import textwrap

    from rich.text import Text

    heads = ("action", "logical id", "type", "replacement")
    rows = [(row["action"], row["logical_id"], row["type"].removeprefix("AWS::"), _replacement(row, short=True)) for row in changes]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    widths[1] = min(widths[1], max(20, width - widths[0] - widths[2] - widths[3] - 6))
    out = Text()
    out.append("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip() + "\n", style="bold")
    for row, cells in zip(changes, rows):
        lid = cells[1] if len(cells[1]) <= widths[1] else cells[1][:widths[1] - 1] + "…"
        out.append(cells[0].ljust(widths[0]) + "  ", style=ACTION_STYLE.get(row["action"], ""))
        out.append(f"{lid.ljust(widths[1])}  {cells[2].ljust(widths[2])}  ")
        out.append(cells[3] + "\n", style="bold red" if cells[3].startswith(("REPLACE", "may")) else "")
        extra = "; ".join(x for x in (row.get("condition"), row["scope"] and f"scope {', '.join(row['scope'])}",
                                        row["details"] and _details(row), row["policy_action"] and f"policy {row['policy_action']}") if x)
        if extra or len(cells[1]) > widths[1]:
            extra = (f"{cells[1]}: " if len(cells[1]) > widths[1] else "") + extra
            out.append("\n".join(textwrap.wrap(extra, width=width, initial_indent=" " * (widths[0] + 2),
                                                subsequent_indent=" " * (widths[0] + 4), break_long_words=True)) + "\n", style="dim")
    out.rstrip()
    return out


def _say(console: Any, text: str, style: str = "", indent: int = 2) -> None:
    """One paragraph of the review, wrapped at the console's width with a hanging indent (the tables fold on their own)."""
    import textwrap

    lead = len(text) - len(text.lstrip("\n"))
    lines = textwrap.wrap(text.lstrip("\n"), width=max(40, console.width), subsequent_indent=" " * indent,
                          break_long_words=False, break_on_hyphens=False) or [""]
    console.print("\n" * lead + "\n".join(lines), style=style or None, markup=False, highlight=False)


def print_plan(console: Any, plan: dict) -> None:
    _say(console, f"archc plan: {plan['app']} {plan['environment']} (account {plan['account']})", "bold")
    for s in plan["stacks"]:
        _say(console, f"\n{s['id']}: {_status_line(s)}",
             "bold" if s["status"] in ("changes", "create after", "update after") or s["settings"] else "dim")
        for item in s["settings"]:
            _say(console, f"  setting: {setting_line(item)}", "yellow", indent=4)
        if s["status"] not in ("changes", "create after", "update after") or not s["changes"]:
            continue
        console.print(_changes_table(s["changes"], max(60, console.width)))
    if plan["risks"]:
        _say(console, "\nrisks:", "bold")
        for r in plan["risks"]:
            _say(console, f"  {r['code']} {SEVERITY[r['code']]:<7} {r['stack']} {r['message']}", STYLE[r["severity"]], indent=15)
    for name in plan.get("unused_allowances", []):
        _say(console, f"note: --allow-replace {name} matched no replacement or removal", "yellow")
    _say(console, f"\n{verdict(plan)}", "bold red" if plan["blocked"] else "bold")


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def plan_markdown(plan: dict) -> str:
    lines = [f"# archc plan: {plan['app']} {plan['environment']}", "",
             f"- account: {plan['account']}", f"- spec sha256: `{plan['spec_sha256']}`",
             f"- allowed by name: {', '.join(plan['allow_replace']) or 'none'}", f"- verdict: **{verdict(plan)}**", ""]
    if plan["risks"]:
        lines += ["## Risks", "", "| code | severity | stack | resource | what |", "|---|---|---|---|---|"]
        lines += [f"| {r['code']} | {r['severity']} | {r['stack']} | {r['logical_id']} | {_md(r['message'])} |" for r in plan["risks"]]
        lines += ["", "Codes: " + "; ".join(f"{c} {t}" for c, t in CODES.items()), ""]
    lines += ["## Stacks", ""]
    for s in plan["stacks"]:
        lines += [f"### {s['id']}", "", f"- {_md(_status_line(s))}", f"- template `{s['path']}` sha256 `{s['sha256']}`"]
        if s["change_set"]:
            lines.append(f"- change set `{s['change_set']['name']}`"
                         + (" (deleted: blocked by D501 or D506; see the risks)" if s["change_set"].get("deleted") else ""))
        if s["parameters"]:
            lines.append("- parameters: " + ", ".join(f"{k}={v}" for k, v in s["parameters"].items()))
        if s["rollback_triggers"]:
            lines.append("- rollback triggers: " + ", ".join(s["rollback_triggers"]))
        lines += [f"- setting: {_md(setting_line(item))}" for item in s["settings"]]
        lines.append("")
        if s["changes"]:
            lines += ["| action | logical id | type | replacement | scope | details | policy |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['action']} | {r['logical_id']} | {r['type']} | {_replacement(r)} | {', '.join(r['scope']) or '-'} | "
                      f"{_md(_details(r))} | {r['policy_action'] or '-'} |" for r in s["changes"]]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def print_diff(console: Any, d: Any) -> None:
    from ..diff import EFFECT

    console.print(f"archc diff: {d.env} against {d.baseline}", style="bold", markup=False)
    for s in d.stacks:
        if s.status == "unchanged":
            console.print(f"{s.id}: unchanged", style="dim", markup=False)
            continue
        note = {"added": " (new stack: no baseline)", "removed": " (no longer compiled: archc leaves the deployed stack alone)"}.get(s.status, "")
        console.print(f"{s.id}: {s.status}{note}", style="bold", markup=False)
        for r in s.resources:
            sign = {"Add": "+", "Remove": "-", "Modify": "~"}[r.action]
            effect = f" {EFFECT[r.replacement]}" if r.replacement else ""
            tags = []
            if r.stateful:
                tags.append("stateful" + "".join(f", {k} {v}" for k, v in r.policies.items()))
            if r.data_loss:
                tags.append("DATA LOSS")
            extra = f" [{'; '.join(tags)}]" if tags else ""
            style = "bold red" if r.data_loss else {"Add": "green", "Remove": "red", "Modify": "yellow"}[r.action]
            console.print(f"  {sign} {r.logical_id} ({r.type}){effect}{extra}", style=style, markup=False)
            for p in r.paths:
                console.print(f"      {p.path}: {EFFECT[p.effect]}", markup=False)
        for sec in s.sections:
            console.print(f"  ~ {sec}", markup=False)
    console.print("differences found" if d.changed else "no differences", style="bold", markup=False)
