"""The architecture diagram as SVG: regions as frames (CloudFront's region as a band on top, the others side by side
below), resources in rows by tier, links as curves with their labels placed where nothing else is. Deterministic: the
same templates give the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .model import TIER, Architecture, Link, Node

NODE_W, NODE_H, GAP_X, GAP_Y = 168, 46, 22, 58
PER_ROW = 4
PAD, HEAD = 22, 30
SIDE = 70  # margin left and right of the frames, where links between regions can pass
FONT = 11
CHAR_W = 6.4  # width of one character at FONT px (a sans-serif average, generous)
COLORS = {  # fill, stroke per kind (AWS console-like families)
    "distribution": ("#f3e8fd", "#8c4fff"), "edge function": ("#f3e8fd", "#8c4fff"), "cloudfront function": ("#f3e8fd", "#8c4fff"),
    "rest api": ("#fde8f1", "#e7157b"), "websocket api": ("#fde8f1", "#e7157b"), "function": ("#fff3e0", "#ed7100"),
    "queue": ("#fde8f1", "#e7157b"), "table": ("#e8f0fe", "#3b48cc"), "bucket": ("#e6f4ea", "#3f8624"),
    "database": ("#e8f0fe", "#3b48cc"), "repository": ("#fff3e0", "#ed7100"), "origin server": ("#f2f3f3", "#545b64"),
    "backups": ("#e8f0fe", "#3b48cc"),
}
LINK_STYLE = {  # stroke, dash
    "origin": ("#8c4fff", ""), "failover": ("#8c4fff", "6 4"), "edge": ("#8c4fff", "2 3"), "integration": ("#e7157b", ""),
    "authorizer": ("#e7157b", "2 3"), "event": ("#ed7100", ""), "dead letter": ("#d13212", "6 4"),
    "replication": ("#3b48cc", "8 4"), "backup copy": ("#3b48cc", "2 3"),
}


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def holds(self, x: float, y: float, margin: float = 0) -> bool:
        return self.x - margin <= x <= self.x + self.w + margin and self.y - margin <= y <= self.y + self.h + margin

    def hits(self, o: Box, margin: float = 2) -> bool:
        return not (self.x + self.w + margin <= o.x or o.x + o.w + margin <= self.x
                    or self.y + self.h + margin <= o.y or o.y + o.h + margin <= self.y)


@dataclass
class Layout:
    width: float
    height: float
    frames: list[tuple[str, Box]]
    nodes: dict[str, Box]


def _tiers(arch: Architecture) -> dict[str, int]:
    """Rows top to bottom: at the edge, the functions CloudFront runs above the distribution (its origins are below it);
    in a region, what CloudFront reaches first (APIs and the buckets it serves), then functions, queues, data."""
    served = {_place(arch.nodes[link.target]) for link in arch.links if link.kind in ("origin", "failover")}

    edge_regions = arch.edge_regions

    def tier(n: Node) -> int:
        if n.kind in ("edge function", "cloudfront function"):
            return 0
        if n.kind == "distribution":
            return 1
        row = 0 if _place(n) in served else TIER[n.kind]
        return row + 2 if n.region in edge_regions else row  # a primary in us-east-1: its resources below the distribution

    return {nid: tier(n) for nid, n in arch.nodes.items()}


def _place(n: Node, copies: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """What a resource is whatever its region: a DR copy sits where its original does (the same stack and logical ID, or
    the original it is a replica of)."""
    return (copies or {}).get(n.id) or (n.stack, n.logical_id)


def _copies(arch: Architecture) -> dict[str, tuple[str, str]]:
    """Each copy in another region (a read replica, say) with its original's place."""
    return {link.target: (arch.nodes[link.source].stack, arch.nodes[link.source].logical_id) for link in arch.links
            if link.kind in ("replication", "backup copy") and arch.nodes[link.target].region != arch.nodes[link.source].region}


def _rows(nodes: list[Node], tiers: dict[str, int]) -> list[list[Node]]:
    """Tier rows, each wrapped at PER_ROW nodes."""
    rows: list[list[Node]] = []
    for tier in sorted({tiers[n.id] for n in nodes}):
        members = sorted((n for n in nodes if tiers[n.id] == tier), key=lambda n: (n.kind, n.logical_id, n.id))
        rows += [members[i:i + PER_ROW] for i in range(0, len(members), PER_ROW)]
    return rows


def _grid(nodes: list[Node], tiers: dict[str, int], copies: dict[str, tuple[str, str]]) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Cells (row, column) for the regions below the edge, shared by all of them: one band of rows per tier, and in each
    band one slot per resource whatever its region, so a DR copy sits exactly where its original does. Returns the cells
    by node id, the number of rows and of columns."""
    cells: dict[str, tuple[int, int]] = {}
    row0, cols = 0, 1
    for tier in sorted({tiers[n.id] for n in nodes}):
        members = [n for n in nodes if tiers[n.id] == tier]
        slots = sorted({_place(n, copies) for n in members},
                       key=lambda p: (min((n.kind, n.logical_id) for n in members if _place(n, copies) == p), p))
        for n in members:
            i = slots.index(_place(n, copies))
            cells[n.id] = (row0 + i // PER_ROW, i % PER_ROW)
        cols = max(cols, min(len(slots), PER_ROW))
        row0 += -(-len(slots) // PER_ROW)
    return cells, row0, cols


def layout(arch: Architecture) -> Layout:
    regions = arch.regions
    by_region = {r: [n for n in arch.nodes.values() if n.region == r] for r in regions}
    edge = [r for r in regions if r in arch.edge_regions]
    lower = [r for r in regions if r not in edge]
    frames: list[tuple[str, Box]] = []
    boxes: dict[str, Box] = {}
    tiers = _tiers(arch)

    def size(cols: int, rows: int) -> tuple[float, float]:
        return 2 * PAD + cols * NODE_W + (cols - 1) * GAP_X, HEAD + 2 * PAD + rows * NODE_H + (rows - 1) * GAP_Y

    def at(x: float, y: float, row: int, col: int) -> Box:
        return Box(x + PAD + col * (NODE_W + GAP_X), y + HEAD + PAD + row * (NODE_H + GAP_Y), NODE_W, NODE_H)

    cells, rows, cols = _grid([n for r in lower for n in by_region[r]], tiers, _copies(arch))
    lower_frame = size(cols, rows) if lower else (0.0, 0.0)
    edge_sizes = {}
    for r in edge:  # centred rows of their own (a primary in us-east-1 keeps its resources below the distribution)
        edge_rows = _rows(by_region[r], tiers)
        edge_sizes[r] = (edge_rows, size(max(len(row) for row in edge_rows), len(edge_rows)))
    lower_w = len(lower) * lower_frame[0] + 40 * max(0, len(lower) - 1)
    width = max([lower_w] + [sz[0] for _, sz in edge_sizes.values()]) + 2 * SIDE  # room to route around the frames
    y = 20.0
    for r in edge:
        edge_rows, (w, h) = edge_sizes[r]
        x = (width - w) / 2
        frames.append((r, Box(x, y, w, h)))
        for i, row in enumerate(edge_rows):
            x0 = x + (w - (len(row) * NODE_W + (len(row) - 1) * GAP_X)) / 2 - PAD
            for j, n in enumerate(row):
                boxes[n.id] = at(x0, y, i, j)
        y += h + 70
    x = (width - lower_w) / 2
    for r in lower:
        w, h = lower_frame
        frames.append((r, Box(x, y, w, h)))
        for n in by_region[r]:
            boxes[n.id] = at(x, y, *cells[n.id])
        x += w + 40
    height = y + lower_frame[1] + 90 + 18 * (len(LINK_STYLE) * 110 // max(width, 1))  # links between regions, the legend
    return Layout(width, height, frames, boxes)


def _bezier(x1: float, y1: float, c1: tuple[float, float], c2: tuple[float, float], x2: float, y2: float,
            ts: tuple[float, ...]) -> list[tuple[float, float]]:
    out = []
    for t in ts:
        u = 1 - t
        out.append((u**3 * x1 + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t**3 * x2,
                    u**3 * y1 + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t**3 * y2))
    return out


LABEL_TS = (0.5, 0.35, 0.65, 0.25, 0.75, 0.15, 0.85)
SAMPLE_TS = tuple(i / 24 for i in range(1, 24))


def _path(a: Box, b: Box, bend: float) -> tuple[str, list[tuple[float, float]], list[tuple[float, float]]]:
    """A curve from a to b: (SVG path, points for its label, points along it). Down or up between rows; an arc under
    the row when both sit in the same row. `bend` moves the curve sideways (or the arc deeper)."""
    if abs(a.y - b.y) < 1:  # same row (a copy beside its source): an arc below
        x1, y1, x2, y2 = a.x + a.w / 2, a.y + a.h, b.x + b.w / 2, b.y + b.h
        dip = max(y1, y2) + 30 + bend
        c1, c2 = (x1, dip), (x2, dip)
    else:
        down = b.y > a.y
        x1, y1 = a.x + a.w / 2, (a.y + a.h) if down else a.y
        x2, y2 = b.x + b.w / 2, b.y if down else (b.y + b.h)
        mid = (y1 + y2) / 2
        c1, c2 = (x1 + bend, mid), (x2 + bend, mid)
    d = f"M{x1:.1f},{y1:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} {x2:.1f},{y2:.1f}"
    return d, _bezier(x1, y1, c1, c2, x2, y2, LABEL_TS), _bezier(x1, y1, c1, c2, x2, y2, SAMPLE_TS)


def _crossings(points: list[tuple[float, float]], boxes: list[Box], margin: float = 0) -> int:
    """How many of the boxes (grown by margin) a curve sampled at these points passes through."""
    return sum(1 for b in boxes if any(b.holds(x, y, margin) for x, y in points))


def _route(a: Box, b: Box, others: list[Box], start: int, canvas: Box) -> tuple[str, list[tuple[float, float]]]:
    """Of the curves from a to b (bent sideways, or arcs of different depths), the first that crosses fewest other boxes;
    `start` spreads links between the same pair (or arcs side by side) apart."""
    same_row = abs(a.y - b.y) < 1
    bends = [start * 14 + k * 12 for k in range(12)] if same_row else \
        [start * 14 + k for k in (0, 40, -40, 80, -80, 120, -120, 170, -170, 230, -230)]
    best = None
    for bend in bends:
        d, label_pts, pts = _path(a, b, bend)
        crossings = _crossings(pts, others, 4) + 100 * any(not canvas.holds(x, y) for x, y in pts)
        if best is None or crossings < best[0]:
            best = (crossings, d, label_pts)
        if crossings == 0:
            break
    return best[1], best[2]


def _text_w(text: str) -> float:
    return len(text) * CHAR_W + 8


def _label_box(text: str, x: float, y: float) -> Box:
    w = _text_w(text)
    return Box(x - w / 2, y - 8, w, 15)


def svg(arch: Architecture, title: str = "") -> str:
    lay = layout(arch)
    placed: list[Box] = list(lay.nodes.values()) + [Box(b.x, b.y, _text_w(_region_title(arch, r)) + 16, 28) for r, b in lay.frames]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
           f'width="{lay.width:.0f}" height="{lay.height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}" '
           f'role="img" aria-label="{escape(title or "architecture")}">',
           "<defs>" + "".join(f'<marker id="arrow-{i}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                              f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
                              for i, (color, _) in enumerate(LINK_STYLE.values())) + "</defs>"]
    marker = {kind: f"arrow-{i}" for i, kind in enumerate(LINK_STYLE)}
    for region, b in lay.frames:
        out.append(f'<g class="region" data-region="{escape(region)}"><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" '
                   f'height="{b.h:.1f}" rx="8" fill="#fafafa" stroke="#879196" stroke-dasharray="4 3"/>'
                   f'<text x="{b.x + 12:.1f}" y="{b.y + 20:.1f}" font-weight="bold" fill="#232f3e">{escape(_region_title(arch, region))}</text></g>')
    labels = []
    bends: dict[tuple[str, str], int] = {}
    for link in sorted(arch.links, key=_link_order):
        a, b = lay.nodes[link.source], lay.nodes[link.target]
        key = (link.source, link.target) if link.source < link.target else (link.target, link.source)
        n = bends.get(key, 0)
        bends[key] = n + 1
        if abs(a.y - b.y) < 1:  # an arc under a row: nested by where it starts, so arcs side by side do not coincide
            n += sum(1 for o in lay.nodes.values() if abs(o.y - a.y) < 1 and o.x < a.x)
        others = [box for nid, box in lay.nodes.items() if nid not in (link.source, link.target)]
        d, pts = _route(a, b, others, n, Box(2, 2, lay.width - 4, lay.height - 44))
        color, dash = LINK_STYLE[link.kind]
        out.append(f'<g class="link" data-kind="{escape(link.kind)}" data-source="{escape(link.source)}" data-target="{escape(link.target)}">'
                   f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.4"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + f' marker-end="url(#{marker[link.kind]})"/></g>')
        text = _short(link)
        if text:
            def free(x: float, y: float) -> bool:
                box = _label_box(text, x, y)
                return (box.x >= 4 and box.x + box.w <= lay.width - 4 and box.y >= 4 and box.y + box.h <= lay.height - 40
                        and not any(box.hits(o) for o in placed))

            spot = next((p for p in pts if free(*p)), None)
            if spot is None:  # everything near the curve is taken: step outwards from its middle, within the canvas
                mx, my = pts[0]
                spot = next(((mx + dx, my + dy) for dy in (0, 16, -16, 32, -32, 48, -48, 64, -64, 80, -80, 96, -96, 112, 128)
                             for dx in (0, -90, 90, -180, 180) if free(mx + dx, my + dy)), pts[0])
            box = _label_box(text, *spot)
            placed.append(box)
            labels.append(f'<g class="label"><rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="3" '
                          f'fill="#ffffff" fill-opacity="0.92" stroke="{color}" stroke-width="0.6"/>'
                          f'<text x="{spot[0]:.1f}" y="{spot[1] + 3.5:.1f}" text-anchor="middle" fill="#232f3e">{escape(text)}</text></g>')
    for nid, b in sorted(lay.nodes.items()):
        n = arch.nodes[nid]
        fill, stroke = COLORS[n.kind]
        kind = f"{n.kind} (replica)" if n.replica_of else n.kind
        out.append(f'<g class="node" data-kind="{escape(n.kind)}" data-id="{escape(nid)}"><title>{escape(nid)}</title>'
                   f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
                   f'<text x="{b.x + 10:.1f}" y="{b.y + 16:.1f}" font-size="9.5" fill="{stroke}">{escape(kind.upper())}</text>'
                   f'<text x="{b.x + 10:.1f}" y="{b.y + 34:.1f}" font-size="12" fill="#232f3e">{escape(_fit(n.name, b.w - 20, 12))}</text></g>')
    out += labels
    out.append(_legend(lay, sorted({link.kind for link in arch.links}, key=list(LINK_STYLE).index)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _link_order(link: Link) -> tuple:
    return (list(LINK_STYLE).index(link.kind), link.source, link.target, link.label)


def _short(link: Link) -> str:
    """The label drawn on the diagram: the link's own words, trimmed to stay legible (the report's tables have them whole)."""
    text = link.label
    if link.kind in ("origin", "failover"):
        text = ("failover: " if link.kind == "failover" else "") + text
    return text if len(text) <= 34 else text[:32] + "…"


def _fit(text: str, width: float, size: float) -> str:
    most = int(width / (size * 0.58))
    return text if len(text) <= most else text[:most - 1] + "…"


def _region_title(arch: Architecture, region: str) -> str:
    """The region, and its roles: CloudFront's, the one data is copied from (primary), the one it is copied to (DR)."""
    roles = []
    if region in arch.edge_regions:
        roles.append("CloudFront (global edge)")
    copies = [link for link in arch.links if link.kind in ("replication", "backup copy")]
    if any(arch.nodes[link.target].region == region and arch.nodes[link.source].region != region for link in copies):
        roles.append("DR (copies)")
    elif any(arch.nodes[link.source].region == region and arch.nodes[link.target].region != region for link in copies):
        roles.append("primary")
    return " · ".join([region, *roles])


def _legend(lay: Layout, kinds: list[str]) -> str:
    """The link kinds this diagram draws, in rows that fit its width."""
    parts, x, y = [], 20.0, lay.height - 22
    for kind in kinds:
        color, dash = LINK_STYLE[kind]
        w = 40 + _text_w(kind)
        if x + w > lay.width - 10:
            x, y = 20.0, y + 18
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 26:.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="1.6"'
                     + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                     f'<text x="{x + 31:.1f}" y="{y + 4:.1f}" fill="#232f3e">{escape(kind)}</text>')
        x += w
    return '<g class="legend">' + "".join(parts) + "</g>"


def stack_graph(manifest) -> str:
    """The stack graph as SVG: one column per deploy batch (left first), each stack a box, an arrow from each stack to the
    stacks that read it."""
    cols = [list(batch) for batch in manifest.deploy_order]
    by_id = {t.id: t for t in manifest.templates}
    w, h, gx, gy = 176, 40, 46, 14
    boxes: dict[str, Box] = {}
    for i, batch in enumerate(cols):
        for j, sid in enumerate(batch):
            boxes[sid] = Box(20 + i * (w + gx), 44 + j * (h + gy), w, h)
    width = 40 + len(cols) * w + (len(cols) - 1) * gx
    height = 64 + max((len(b) for b in cols), default=0) * (h + gy)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="{FONT}" role="img" aria-label="stack graph">',
           '<defs><marker id="stack-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
           '<path d="M0,0 L10,5 L0,10 z" fill="#879196"/></marker></defs>']
    for i in range(len(cols)):
        out.append(f'<text x="{20 + i * (w + gx):.0f}" y="26" font-weight="bold" fill="#232f3e">{i + 1}.</text>')
    for t in manifest.templates:
        for dep in t.dependencies:
            if dep in boxes and t.id in boxes:
                a, b = boxes[dep], boxes[t.id]
                x1, y1, x2, y2 = a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2
                others = [o for sid, o in boxes.items() if sid not in (dep, t.id)]
                best = None
                for dy in (0, -(h + gy) / 2, (h + gy) / 2, -(h + gy), h + gy, -1.5 * (h + gy), 1.5 * (h + gy)):
                    c1, c2 = (x1 + gx * 1.5, y1 + dy), (x2 - gx * 1.5, y2 + dy)  # through the gaps between rows
                    pts = _bezier(x1, y1, c1, c2, x2, y2, SAMPLE_TS)
                    crossings = _crossings(pts, others) + 10 * any(y < 34 or y > height - 4 for _, y in pts)  # off, or over the numbers
                    if best is None or crossings < best[0]:
                        best = (crossings, c1, c2)
                    if crossings == 0:
                        break
                _, c1, c2 = best
                out.append(f'<path class="dependency" d="M{x1:.1f},{y1:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} '
                           f'{x2:.1f},{y2:.1f}" fill="none" stroke="#879196" stroke-width="1" marker-end="url(#stack-arrow)"/>')
    for sid, b in boxes.items():
        t = by_id[sid]
        out.append(f'<g class="stack" data-id="{escape(sid)}"><title>{escape(sid)}</title><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" '
                   f'height="{b.h:.1f}" rx="5" fill="#f2f3f3" stroke="#545b64"/>'
                   f'<text x="{b.x + 8:.1f}" y="{b.y + 16:.1f}" fill="#232f3e" font-weight="bold">{escape(t.concern)}</text>'
                   f'<text x="{b.x + 8:.1f}" y="{b.y + 31:.1f}" fill="#545b64" font-size="10">{escape(t.region)} · {t.resources} resources</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
