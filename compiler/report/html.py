"""out/<env>/report.html: one self-contained page an auditor reads (inline CSS and SVG, no request leaves the file, prints
on A4): the architecture drawn from the compiled templates, the stack graph and deploy order, the inventory, the security
posture, DR, and the latest plan. Pure over out/<env>; the same files give the same bytes."""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..diagnostics import ArchcError
from ..manifest import DR_SUMMARY as SUMMARY
from ..manifest import LINTED, PLAN_JSON, PLAN_MD, REPORT
from . import posture
from .model import Architecture, Environment, architecture
from .svg import stack_graph, svg


CSS = """
:root { --ink: #232f3e; --muted: #545b64; --line: #d5dbdb; --bad: #d13212; --warn: #8a6d00; --ok: #1d8102; }
* { box-sizing: border-box; }
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: var(--ink); margin: 0; background: #fff; }
header { padding: 22px 32px 12px; border-bottom: 3px solid #ff9900; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 16px; color: var(--ink); }
main { padding: 8px 32px 40px; max-width: 1500px; }
section { margin-top: 28px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); font-size: 12px; }
figure { margin: 12px 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { background: #f2f3f3; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.3 Menlo, Consolas, monospace; background: #f2f3f3; padding: 1px 3px; border-radius: 3px; word-break: break-all; }
.bad { color: var(--bad); font-weight: 600; } .warn { color: var(--warn); font-weight: 600; } .ok { color: var(--ok); }
.muted { color: var(--muted); }
@media print {
  nav { display: none; } main { padding: 0 12px; max-width: none; } header { padding: 0 12px 8px; }
  h2, h3 { break-after: avoid; } figure { border: none; overflow: visible; break-inside: avoid; } tr { break-inside: avoid; }
  table { font-size: 11px; } a { color: inherit; text-decoration: none; }
}
"""


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{c if isinstance(c, Markup) else escape(str(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>" if body else '<p class="muted">none</p>'


class Markup(str):
    """Text already HTML (escaped where it came from data)."""


def _code(text: str) -> Markup:
    return Markup(f"<code>{escape(text)}</code>")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def render(env: Environment) -> str:
    m = env.manifest
    arch = architecture(env)
    stores = posture.stores(env)
    sections = [
        ("architecture", "Architecture", _architecture(arch)),
        ("stacks", "Stacks and deploy order", _stacks(env)),
        ("inventory", "Inventory", _inventory(env)),
        ("security", "Security posture", _security(env, stores)),
        ("dr", "Disaster recovery", _dr(env)),
        ("plan", "Latest plan", _plan(env)),
    ]
    resources = sum(t.entry.resources for t in env.templates.values())
    regions = sorted({t.entry.region for t in env.templates.values()})
    waived = [w for w in m.weakened if w.waiver]
    cards = [(len(env.templates), "stacks"), (len(regions), "regions"), (resources, "resources"), (len(stores), "data stores"),
             (len(m.weakened), f"weakened defaults ({len(waived)} waived)"), (len(posture.exceptions(env)), "scanner exceptions")]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>' for key, title, html in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(m.app)} {escape(m.environment)}: architecture report</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(m.app)} · {escape(m.environment)}</h1>"
            f"<p>Architecture report written by archc {escape(__version__)} from the compiled templates in "
            f"<code>{escape(m.environment)}/</code> (compiled by archc {escape(m.archc_version)}), spec sha256 "
            f"<code>{escape(m.spec_sha256)}</code>.</p>"
            f"<p>Regions: {escape(', '.join(regions))}. Everything below is read from the templates, the manifest and the files "
            f"beside them; nothing was asked of AWS.</p>"
            '<div class="cards">' + "".join(f"<div class=\"card\"><b>{n}</b><span>{escape(what)}</span></div>" for n, what in cards)
            + f"</div></header><nav>{nav}</nav><main>{body}</main></body></html>\n")


def _architecture(arch: Architecture) -> str:
    counts = Counter(n.kind for n in arch.nodes.values())
    flows = Counter(link.kind for link in arch.links)
    picture = svg(arch, f"{arch.env.manifest.app} {arch.env.manifest.environment}")
    rows = [(link.kind, arch.nodes[link.source].name + f" ({arch.nodes[link.source].region})",
             arch.nodes[link.target].name + f" ({arch.nodes[link.target].region})", link.label or "-")
            for link in sorted(arch.links, key=lambda x: (x.kind, x.source, x.target))]
    return (f"<figure>{picture}<figcaption>Drawn from the compiled templates: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}; "
            f"{', '.join(f'{n} {k}' for k, n in sorted(flows.items())) or 'no links'}. Hover a box for its stack and logical ID.</figcaption></figure>"
            "<h3>What flows where</h3>" + _table(("link", "from", "to", "what"), rows))


def _stacks(env: Environment) -> str:
    m = env.manifest
    order = [(i + 1, ", ".join(batch)) for i, batch in enumerate(m.deploy_order)]
    edges = sorted({(e.consumer, e.producer, e.kind) for e in m.edges})
    reads = Counter((e.consumer, e.producer, e.kind) for e in m.edges)
    return (f"<figure>{stack_graph(m)}<figcaption>Each column deploys after the ones to its left; an arrow goes from a stack "
            "to the stacks that read its outputs.</figcaption></figure>"
            "<h3>Deploy order</h3>" + _table(("batch", "stacks (deployed in parallel)"), order, frozenset({0}))
            + "<h3>Cross-stack reads</h3>"
            + _table(("reader", "reads from", "how", "values"), [(c, p, k, reads[(c, p, k)]) for c, p, k in edges], frozenset({3})))


def _inventory(env: Environment) -> str:
    m = env.manifest
    stacks = [(t.region, t.stack, t.resources, f"{t.bytes:,}", "inline" if t.inline else "through S3",
               _code(t.sha256) if not env.templates[t.id].edited else Markup(
                   f'{_code(env.templates[t.id].sha256)} <span class="bad">edited since compile (it wrote {escape(t.sha256[:12])})</span>'))
              for t in m.templates]
    types = Counter(r.get("Type", "?") for t in env.templates.values() for r in t.resources.values())
    assets = [(a.function, a.source, f"{a.bytes:,}", _code(a.sha256)) for a in m.assets]
    return ("<h3>Stacks</h3>" + _table(("region", "stack", "resources", "bytes", "sent", "template sha256"), stacks, frozenset({2, 3}))
            + "<h3>Resources by type</h3>" + _table(("type", "count"), sorted(types.items()), frozenset({1}))
            + "<h3>Code packaged by archc</h3>" + _table(("function", "source", "bytes", "sha256"), assets, frozenset({2})))


def _security(env: Environment, stores: list[posture.Store]) -> str:
    m = env.manifest
    store_rows = [(s.region, s.kind, s.name, s.encryption, s.key, s.kept) for s in stores]
    endpoint_rows = [(e.region, e.kind, e.name, e.exposure, e.protection) for e in posture.endpoints(env)]
    route_rows = [(r.region, r.api, _code(r.route), Markup(f'<span class="warn">{escape(r.authorization)}</span>')
                   if r.authorization == "none (open)" else r.authorization) for r in posture.routes(env)]
    waivers = [(_code(f"arch.yaml:{w.line}:{w.col}"), _code(w.path), w.why,
                w.waiver if w.waiver else Markup('<span class="bad">not waived (a W301 warning at every compile)</span>'))
               for w in m.weakened]
    excepted = [(s, lid, _code(e.rule), e.reason, e.scanners) for s, lid, e in ((x.stack, x.logical_id, x) for x in posture.exceptions(env))]
    return ("<h3>Data stores: encryption, key, what happens to the data</h3>"
            + _table(("region", "kind", "name", "encryption", "key", "on delete / replace"), store_rows)
            + "<h3>Public exposure</h3>" + _table(("region", "endpoint", "name", "exposure", "in front of it"), endpoint_rows)
            + "<h3>Authorization per route</h3>" + _table(("region", "API", "route", "authorization"), route_rows)
            + "<h3>Weakened defaults and their waivers</h3>"
            + _table(("where", "setting", "why it matters", "reason given"), waivers)
            + "<h3>Exceptions written into the templates</h3>"
            "<p class=\"muted\">Each is a rule a scanner would flag, excused in the resource's Metadata in every scanner's own "
            "format, with the same reason.</p>"
            + _table(("stack", "resource", "rule", "reason", "written for"), excepted)
            + "<h3>Lint and policy findings</h3>" + _lint(env))


def _lint(env: Environment) -> str:
    data = _read_json(env.dir / LINTED)
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict) or not isinstance(data.get("findings"), list):
        return (f'<p class="warn">Not linted since this compile: run <code>archc lint --env {escape(env.manifest.environment)}'
                "</code> (cfn-lint and archc's policy rules E9101-E9106), then the report again.</p>")
    stale = [t.entry.path for t in env.templates.values() if data["templates"].get(t.entry.path) != t.sha256]
    findings = [f for f in data["findings"] if isinstance(f, dict)]
    head = (f'<p class="{"ok" if not findings else "bad"}">cfn-lint with archc\'s policy rules: {len(findings)} finding(s) '
            f"in {len(data.get('templates', {}))} template(s).</p>")
    if stale:
        head += f'<p class="warn">Changed since the lint: {escape(", ".join(sorted(stale)))}: lint again.</p>'
    def where(f: dict) -> str:
        path = Path(str(f.get("path")))
        return str(path.relative_to(env.dir.resolve())) if path.is_absolute() and path.is_relative_to(env.dir.resolve()) else (
            str(path.relative_to(env.dir)) if path.is_relative_to(env.dir) else str(path))

    rows = [(_code(f"{where(f)}:{f.get('line')}:{f.get('column')}"), f.get("level"), _code(str(f.get("rule"))), f.get("message"))
            for f in findings]
    return head + (_table(("where", "level", "rule", "message"), rows) if rows else "")


def _dr(env: Environment) -> str:
    data = _read_json(env.dir / SUMMARY)
    if data is None:
        return "<p>No DR region in this environment: nothing is copied to another region.</p>"
    try:
        return _dr_section(data)
    except (KeyError, TypeError, AttributeError):
        return f'<p class="warn">{SUMMARY} is not what compile wrote: run <code>archc compile</code> again.</p>'


def _dr_section(data: dict) -> str:
    steps = " + ".join(f"{escape(s['step'])} ({s['minutes']} min)" for s in data.get("recovery_steps", []))
    objectives = (f"<p>Primary <b>{escape(data['primary'])}</b>, DR <b>{escape(data['dr'])}</b>. "
                  + (f"Strategy <b>{escape(str(data['strategy']))}</b>: RTO <b>{escape(str(data['rto']))}</b> "
                     f"({data['rto_minutes']} min), RPO <b>{escape(str(data['rpo']))}</b> ({data['rpo_minutes']} min). "
                     f"Recovery steps counted against the RTO: {steps or 'none'}." if data.get("strategy") else "")
                  + f' The failover and failback steps are in the runbook: <a href="{escape(data["runbook"])}">{escape(data["runbook"])}</a>.</p>')
    rows = [(c["kind"], _code(c["name"]), c["copy"], c["how"], c["rpo"]) for c in data.get("copies", [])]
    return objectives + _table(("kind", "primary", "copy in the DR region", "how", "may lose"), rows)


def _plan(env: Environment) -> str:
    plan = _read_json(env.dir / PLAN_JSON)
    if not isinstance(plan, dict) or not isinstance(plan.get("stacks"), list):
        return (f'<p class="muted">No plan since this compile (<code>archc plan --env {escape(env.manifest.environment)}</code> '
                "writes one; a compile removes the previous).</p>")
    from ..deploy.report import verdict

    try:
        said = verdict(plan)
        current = {t.entry.id: t.sha256 for t in env.templates.values()}
        stale = [s["id"] for s in plan["stacks"] if current.get(s.get("id")) != s.get("sha256")]
    except (KeyError, TypeError, AttributeError):
        return '<p class="warn">plan.json is not a plan this archc wrote: run <code>archc plan</code> again.</p>'
    head = (f"<p>Account {escape(str(plan.get('account')))}; verdict: <b class=\"{'bad' if plan.get('blocked') else ''}\">"
            f"{escape(said)}</b>. Full review: <a href=\"{PLAN_MD}\">{PLAN_MD}</a>.</p>")
    if stale:
        head += f'<p class="warn">Planned from other templates than these for: {escape(", ".join(stale))}: plan again.</p>'
    risks = [(Markup(f'<span class="{"bad" if r.get("blocking") else "warn" if r.get("severity") == "warning" else ""}">'
                     f'{escape(r["code"])} {escape(str(r.get("severity")))}</span>'), r["stack"], r.get("logical_id", ""), r.get("message", ""))
             for r in plan.get("risks", [])]
    stacks = [(s["id"], s["status"], sum(not c.get("condition") for c in s.get("changes", [])), s.get("reason") or "")
              for s in plan["stacks"]]
    return (head + "<h3>Risks</h3>" + _table(("risk", "stack", "resource", "what"), risks)
            + "<h3>Stacks</h3>" + _table(("stack", "status", "changes", "note"), stacks, frozenset({2})))


def safely(what: str, build):
    """build(), with a template edited into a shape archc does not write said plainly instead of a traceback."""
    try:
        return build()
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as e:
        raise ArchcError(f"could not read {what} ({type(e).__name__}: {e}); a template was edited by hand? "
                         "run `archc compile` again") from None


def write(out_dir: Path, env_name: str) -> Path:
    from .model import read

    env = read(out_dir, env_name)
    path = env.dir / REPORT
    text = safely(f"the templates of {env_name}", lambda: render(env))
    tmp = env.dir / f".{REPORT}.tmp"
    tmp.write_text(text)
    tmp.replace(path)
    return path
