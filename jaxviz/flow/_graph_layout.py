"""Layouts of a `ModelGraph` for its static twin: Graphviz `dot` when it is installed, else a
layered layout in pure Python.

The fallback is the classic layered (Sugiyama) scheme, kept small: cycles broken by reversing
the edges a depth-first search finds going back; each node ranked by its longest path from a
source; edges longer than one rank routed through dummy points; the order within a rank improved
by a few barycenter sweeps (Sugiyama, Tagawa and Toda, "Methods for visual understanding of
hierarchical system structures", 1981). Unlike `dot` it does not reserve room for module boxes:
they are drawn around their members.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from ._graph import GraphEdge, ModelGraph

NODE_W, NODE_H, RANK_GAP, NODE_GAP, GROUP_GAP = 1.6, 0.5, 0.55, 0.35, 0.3


@dataclass(frozen=True)
class Layout:
    """Node centres and each edge's polyline (from the source's centre to the target's), in
    drawing units, y growing downwards; `engine` is "dot" or "layered"."""

    positions: dict[str, tuple[float, float]]
    routes: tuple[tuple[GraphEdge, tuple[tuple[float, float], ...]], ...]
    engine: str


def shape_text(shape: Iterable[int]) -> str:
    return "×".join(map(str, shape))


def layout(
    graph: ModelGraph, collapsed: Iterable[str] = (), *, engine: str | None = None
) -> Layout:
    """The drawn graph's layout: `dot` when installed (or `engine="dot"`), else `"layered"`."""
    if engine not in (None, "dot", "layered"):
        raise ValueError(f"engine: expected None, 'dot' or 'layered', got {engine!r}.")
    if engine == "dot" or (engine is None and shutil.which("dot")):
        return dot_layout(graph, collapsed)
    parents = {n.id: n.parent for n in graph.nodes}
    return layered_layout(*graph.view(collapsed), parents=parents)


def layered_layout(
    ids: tuple[str, ...], edges: tuple[GraphEdge, ...], *, parents: dict | None = None
) -> Layout:
    """A layered top-to-bottom layout of nodes `ids` (in program order) joined by `edges`;
    with `parents` ({node: its group or None}), extra room where a rank enters or leaves a
    group, for the group's box and label."""
    parents = parents or {}

    def groups_of(node_id):
        out, p = set(), parents.get(node_id)
        while p is not None:
            out.add(p)
            p = parents.get(p)
        return out

    index = {n: i for i, n in enumerate(ids)}
    forward = [e for e in edges if index[e.source] < index[e.destination]]
    # program order is a topological order except for loops (a module called twice): those
    # edges are drawn but do not rank
    rank = dict.fromkeys(ids, 0)
    for e in sorted(forward, key=lambda e: index[e.destination]):
        rank[e.destination] = max(rank[e.destination], rank[e.source] + 1)
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for n in ids:
        layers[rank[n]].append(n)
    chains: dict[int, list[str]] = {}
    for k, e in enumerate(forward):
        chain = [e.source]
        for r in range(rank[e.source] + 1, rank[e.destination]):
            dummy = f"\0{k}:{r}"
            layers[r].append(dummy)
            chain.append(dummy)
        chains[k] = [*chain, e.destination]
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:], strict=False):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    pos = {n: float(i) for layer in layers for i, n in enumerate(layer)}
    for _ in range(4):
        for sweep, neighbours in ((layers[1:], up), (layers[-2::-1], down)):
            for layer in sweep:
                centre = {
                    n: sum(pos[m] for m in neighbours.get(n, [])) / len(neighbours[n])
                    if neighbours.get(n)
                    else pos[n]
                    for n in layer
                }
                layer.sort(key=lambda n: (centre[n], n.startswith("\0")))
                for i, n in enumerate(layer):
                    pos[n] = float(i)
    xy: dict[str, tuple[float, float]] = {}
    y, previous = 0.0, set()
    for r, layer in enumerate(layers):
        around = set().union(*(groups_of(n) for n in layer if not n.startswith("\0")))
        y += (NODE_H + RANK_GAP + GROUP_GAP * len(around ^ previous)) if r else 0.0
        previous = around
        width = [NODE_W if not n.startswith("\0") else 0.2 for n in layer]
        total = sum(width) + NODE_GAP * (len(layer) - 1)
        x = -total / 2
        for n, w in zip(layer, width, strict=True):
            xy[n] = (x + w / 2, y)
            x += w + NODE_GAP
    routes = []
    for k, e in enumerate(forward):
        routes.append((e, tuple(xy[n] for n in chains[k])))
    for e in edges:
        if index[e.source] >= index[e.destination]:
            routes.append((e, (xy[e.source], xy[e.destination])))
    return Layout({n: xy[n] for n in ids}, tuple(routes), "layered")


def to_dot(graph: ModelGraph, collapsed: Iterable[str] = ()) -> str:
    """DOT text: each expanded module a cluster, each node labelled with its name, type and
    parameter count, each edge with its shape."""
    collapsed = set(collapsed)
    ids, edges = graph.view(collapsed)
    shown = set(ids)
    lines = ["digraph model {", "  rankdir=TB; node [shape=box, style=rounded, fontsize=10];"]

    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    def emit(parent, indent):
        for n in graph.nodes:
            if n.parent != parent:
                continue
            if n.id in shown:
                label = node_label(n)
                lines.append(f"{indent}{quote(n.id)} [label={quote(label)}];")
            elif n.children:
                lines.append(f"{indent}subgraph {quote('cluster_' + n.id)} {{")
                lines.append(f"{indent}  label={quote(n.label + ' · ' + n.type)};")
                emit(n.id, indent + "  ")
                lines.append(f"{indent}}}")

    emit(None, "  ")
    for e in edges:
        lines.append(
            f"  {quote(e.source)} -> {quote(e.destination)} [label={quote(shape_text(e.shape))}];"
        )
    lines.append("}")
    return "\n".join(lines)


def node_label(node) -> str:
    if node.kind in ("input", "output", "op"):
        return node.label
    count = f"\n{node.param_count:,} params" if node.param_count else ""
    return f"{node.label}\n{node.type}{count}"


def dot_layout(graph: ModelGraph, collapsed: Iterable[str] = ()) -> Layout:
    """The layout Graphviz `dot` computes (`dot -Tplain`), in inches."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("engine: Graphviz `dot` is not installed; use engine='layered'.")
    ids, edges = graph.view(collapsed)
    plain = subprocess.run(
        [exe, "-Tplain"], input=to_dot(graph, collapsed), capture_output=True, text=True, check=True
    ).stdout
    positions: dict[str, tuple[float, float]] = {}
    paths: dict[tuple[str, str], list[tuple[float, float]]] = {}
    height = 0.0
    for line in plain.splitlines():
        parts = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', line)
        unquote = [p[1:-1].replace('\\"', '"') if p.startswith('"') else p for p in parts]
        if unquote[:1] == ["graph"]:
            height = float(unquote[3])
        elif unquote[:1] == ["node"]:
            positions[unquote[1]] = (float(unquote[2]), float(unquote[3]))
        elif unquote[:1] == ["edge"]:
            n = int(unquote[3])
            pts = [(float(unquote[4 + 2 * i]), float(unquote[5 + 2 * i])) for i in range(n)]
            paths.setdefault((unquote[1], unquote[2]), []).extend(pts)
    flip = {n: (x, height - y) for n, (x, y) in positions.items()}
    routes = tuple(
        (
            e,
            tuple((x, height - y) for x, y in paths.get((e.source, e.destination), []))
            or (flip[e.source], flip[e.destination]),
        )
        for e in edges
    )
    return Layout({n: flip[n] for n in ids}, routes, "dot")
