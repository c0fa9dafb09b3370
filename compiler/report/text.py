"""The architecture diagram as Mermaid and Graphviz DOT text, for docs and pull requests (the same nodes and links as the
SVG, grouped by region)."""

from __future__ import annotations

from .model import Architecture

DASHED = {"failover", "edge", "authorizer", "dead letter", "replication", "backup copy"}


def _ids(arch: Architecture) -> dict[str, str]:
    return {nid: f"n{i}" for i, nid in enumerate(sorted(arch.nodes))}


def _caption(arch: Architecture, nid: str) -> str:
    n = arch.nodes[nid]
    return f"{n.kind}{' (replica)' if n.replica_of else ''}: {n.name}"


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: its entity syntax for what it would read as markup or a quote."""
    return "".join({"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}.get(ch, ch) for ch in text)


def _groups(arch: Architecture) -> list[tuple[int, str, list[str]]]:
    """(index, region, node ids) per region, in the diagram's region order."""
    return [(i, region, [nid for nid in sorted(arch.nodes) if arch.nodes[nid].region == region]) for i, region in enumerate(arch.regions)]


def _links(arch: Architecture) -> list[tuple[str, str, bool, str]]:
    """(source id, target id, dashed, label) per link."""
    return [(link.source, link.target, link.kind in DASHED, f"{link.kind}: {link.label}" if link.label else link.kind)
            for link in sorted(arch.links)]


def mermaid(arch: Architecture) -> str:
    ids = _ids(arch)
    lines = ["flowchart TB"]
    for i, region, members in _groups(arch):
        lines += [f'  subgraph r{i}["{_mermaid_text(region)}"]', *(f'    {ids[nid]}["{_mermaid_text(_caption(arch, nid))}"]' for nid in members),
                  "  end"]
    for source, target, dashed, label in _links(arch):
        lines.append(f'  {ids[source]} {"-.->" if dashed else "-->"}|"{_mermaid_text(label)}"| {ids[target]}')
    return "\n".join(lines) + "\n"


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(arch: Architecture) -> str:
    ids = _ids(arch)
    lines = ["digraph architecture {", "  rankdir=TB;", '  node [shape=box, style="rounded"];']
    for i, region, members in _groups(arch):
        lines += [f"  subgraph cluster_{i} {{", f"    label={_dot_str(region)};",
                  *(f"    {ids[nid]} [label={_dot_str(_caption(arch, nid))}];" for nid in members), "  }"]
    for source, target, dashed, label in _links(arch):
        style = ', style="dashed"' if dashed else ""
        lines.append(f"  {ids[source]} -> {ids[target]} [label={_dot_str(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
