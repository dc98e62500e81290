"""Lineage graphs as text trees (the CLI) — pure, no I/O."""

from __future__ import annotations

from collections import defaultdict

from kibako.lineage.models import LineageGraph, Vertex


def describe(v: Vertex) -> str:
    extra = []
    if v.status:
        extra.append(v.status)
    if v.digest:
        extra.append(v.digest[:19] + "…")
    tail = f" [{', '.join(extra)}]" if extra else ""
    return f"{v.type} {v.name}{tail}  ({v.id})"


def render_text(graph: LineageGraph, direction: str = "both") -> str:
    """A tree per start vertex: its sources above ("up") and what came of it below ("down")."""
    vertices = {v.id: v for v in graph.vertices}
    parents: dict[str, list[tuple[str, str]]] = defaultdict(list)
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in graph.edges:
        if e.source_id in vertices and e.destination_id in vertices:
            parents[e.destination_id].append((e.type, e.source_id))
            children[e.source_id].append((e.type, e.destination_id))
    walks = []
    if direction in ("up", "both"):
        walks.append(("◀", parents))
    if direction in ("down", "both"):
        walks.append(("▶", children))
    lines: list[str] = []
    for start in graph.start_ids:
        lines.append(describe(vertices[start]))
        # Both walks hang under the start as one list, so the tree stays one tree.
        items = [
            (arrow, t, other, links) for arrow, links in walks for t, other in _sorted(links, start, vertices)
        ]
        _branch(lines, items, vertices, {start}, "")
    if graph.truncated:
        lines.append("… (more vertices than the limit; query with a smaller depth)")
    return "\n".join(lines)


Links = dict[str, list[tuple[str, str]]]


def _sorted(links: Links, node: str, vertices: dict[str, Vertex]) -> list[tuple[str, str]]:
    return sorted(links.get(node, []), key=lambda item: (item[0], vertices[item[1]].name))


def _branch(
    lines: list[str],
    items: list[tuple[str, str, str, Links]],
    vertices: dict[str, Vertex],
    path: set[str],
    indent: str,
) -> None:
    for i, (arrow, edge_type, other, links) in enumerate(items):
        last = i == len(items) - 1
        lines.append(f"{indent}{'└─' if last else '├─'} {arrow} {edge_type}: {describe(vertices[other])}")
        if other not in path:
            below = [(arrow, t, o, links) for t, o in _sorted(links, other, vertices)]
            _branch(lines, below, vertices, path | {other}, indent + ("   " if last else "│  "))
