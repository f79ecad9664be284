"""Static twin of the model graph: nodes, module boxes and shaped edges, laid out by Graphviz
`dot` when installed, else by jaxviz's layered layout (`jaxviz.flow._graph_layout`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..flow._graph import ModelGraph
from ..flow._graph_layout import NODE_H, NODE_W, layout, node_label, shape_text
from ._common import JaxvizFigure, figure_and_axes

KIND_COLORS = {
    "input": "#e8f1fa",
    "output": "#e8f1fa",
    "module": "#fdf1dc",
    "collapsed": "#f6dcb0",
    "op": "#eeeeee",
}
_EDGE, _SELECTED = "#777777", "#d62728"


def model_graph(
    graph: ModelGraph,
    *,
    collapsed: Iterable[str] = (),
    selected: str | None = None,
    engine: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """The graph top to bottom: modules as boxes (a collapsed one drawn as one node with its
    parameter count), operations as grey pills, each edge labelled with its shape."""
    if not isinstance(graph, ModelGraph):
        raise TypeError(
            f"graph: expected the result of jaxviz.model_graph, got {type(graph).__name__}."
        )
    collapsed = set(collapsed)
    if selected is not None:
        graph.node(selected)
    lay = layout(graph, collapsed, engine=engine)
    xs = [x for x, _ in lay.positions.values()]
    ys = [y for _, y in lay.positions.values()]
    width, height = max(xs) - min(xs) + 2 * NODE_W, max(ys) - min(ys) + 2 * NODE_H
    figure, ax = figure_and_axes(
        ax, (min(14.0, 1.0 + 1.35 * width), min(24.0, 0.8 + 0.85 * height))
    )
    nodes = {n.id: n for n in graph.nodes}
    _draw_groups(ax, graph, lay.positions, collapsed)
    for e, points in lay.routes:
        _draw_edge(ax, points, shape_text(e.shape))
    for node_id, (x, y) in lay.positions.items():
        n = nodes[node_id]
        kind = "collapsed" if n.children else n.kind
        w, h = (NODE_W, NODE_H) if n.kind != "op" else (0.9 * NODE_W, 0.7 * NODE_H)
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=KIND_COLORS[kind],
                edgecolor=_SELECTED if node_id == selected else "#555555",
                linewidth=2.0 if node_id == selected else 0.8,
                zorder=3,
            )
        )
        text = (
            node_label(n).replace(f"\n{n.type}", f" · {n.type}") if n.kind == "module" else n.label
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlim(min(xs) - NODE_W, max(xs) + NODE_W)
    ax.set_ylim(max(ys) + NODE_H, min(ys) - NODE_H)  # top to bottom
    ax.set_aspect("equal", adjustable="datalim")
    ax.axis("off")
    total = f"{graph.param_count:,} parameters"
    ax.set_title(
        f"{total} · laid out by {'Graphviz dot' if lay.engine == 'dot' else 'jaxviz layers'}",
        fontsize=9,
    )
    return figure


def _draw_edge(ax: Axes, points, label: str) -> None:
    # from the source's border to the target's: move the ends half a node along the edge
    (x0, y0), (x1, y1) = points[0], points[1]
    (_, ya), (xb, yb) = points[-2], points[-1]
    down = 1 if y1 >= y0 else -1
    points = [
        (x0, y0 + down * NODE_H / 2),
        *points[1:-1],
        (xb, yb - (1 if yb >= ya else -1) * NODE_H / 2),
    ]
    for k, (a, b) in enumerate(zip(points, points[1:], strict=False)):
        last = k == len(points) - 2
        ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                arrowstyle="-|>" if last else "-",
                mutation_scale=8,
                color=_EDGE,
                linewidth=0.8,
                shrinkA=0,
                shrinkB=0,
                zorder=2,
            )
        )
    # the label beside a long edge's run through its bend points (a skip's, clear of the nodes),
    # else beside its segment
    (x0, y0), (x1, y1) = (points[1], points[-2]) if len(points) >= 4 else points[:2]
    ax.text(
        (x0 + x1) / 2 + 0.05,
        (y0 + y1) / 2,
        label,
        fontsize=6,
        color="#555555",
        ha="left",
        va="center",
        zorder=5,
    )


def _draw_groups(ax: Axes, graph: ModelGraph, positions, collapsed) -> None:
    """A labelled box around each expanded module's drawn members (outer modules drawn first)."""

    def members(node_id):
        for c in graph.node(node_id).children:
            if c in positions:
                yield positions[c]
            elif c not in collapsed:
                yield from members(c)

    depth = {}
    for n in graph.nodes:
        depth[n.id] = 0 if n.parent is None else depth[n.parent] + 1
    for n in graph.nodes:
        if not n.children or n.id in collapsed or n.id in positions:
            continue
        pts = list(members(n.id))
        if not pts:
            continue
        pad = 0.18 - 0.04 * min(depth[n.id], 3)
        x0 = min(x for x, _ in pts) - NODE_W / 2 - pad
        x1 = max(x for x, _ in pts) + NODE_W / 2 + pad
        y0 = min(y for _, y in pts) - NODE_H / 2 - pad - 0.18
        y1 = max(y for _, y in pts) + NODE_H / 2 + pad
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                facecolor="#fbf7ef",
                edgecolor="#c9a86a",
                linewidth=0.8,
                zorder=1,
            )
        )
        count = f" · {n.param_count:,} params" if n.param_count else ""
        ax.text(
            x0 + 0.05,
            y0 + 0.04,
            f"{n.label} · {n.type}{count}",
            fontsize=6.5,
            va="top",
            color="#8a6d2f",
            # over the edges that cross into the box, on a backing of the box's colour
            bbox={"facecolor": "#fbf7ef", "edgecolor": "none", "pad": 0.8, "alpha": 0.9},
            zorder=2.5,
        )


def model_view(
    graph: ModelGraph, *, collapsed: Iterable[str] = (), selected: str | None = None
) -> Figure:
    """ModelView's static twin: the graph, and beside it the selected node's output histogram
    for the batch and its weights' histogram, with their statistics."""
    node = graph.node(selected) if selected is not None else graph.nodes[0]
    nodes = len(graph.view(collapsed)[0])
    figure = JaxvizFigure(figsize=(11, min(24.0, max(6.0, 0.95 * nodes))), layout="constrained")
    grid = figure.add_gridspec(3, 2, width_ratios=[1.5, 1], height_ratios=[1, 1, 1.2])
    model_graph(graph, collapsed=collapsed, selected=node.id, ax=figure.add_subplot(grid[:, 0]))
    axes = [figure.add_subplot(grid[row, 1]) for row in range(3)]
    for ax, stats, what, color in (
        (axes[0], node.activation, "output (this batch)", "#4e79a7"),
        (axes[1], node.weights, "weights", "#f28e2b"),
    ):
        ax.set_title(f"{node.label}: {what}", fontsize=9)
        if stats is None:
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {what.split()[0]}", ha="center", va="center", fontsize=9)
            continue
        hi = stats.max if stats.max > stats.min else stats.min + 1
        edges = np.linspace(stats.min, hi, len(stats.histogram) + 1)
        ax.stairs(stats.histogram, edges, fill=True, color=color, alpha=0.8)
        ax.set_xlabel(
            f"mean {stats.mean:.3g}, std {stats.std:.3g}, zeros {stats.zero_fraction:.0%}",
            fontsize=8,
        )
        ax.tick_params(labelsize=7)
    axes[2].axis("off")
    facts = [
        f"{node.id} ({node.kind}, {node.type})",
        f"output shape: {shape_text(node.output_shape) if node.output_shape else '-'}",
        f"parameters: {node.param_count:,}",
        *(f"  {p.name} {shape_text(p.shape)} {p.dtype}" for p in node.params[:6]),
    ]
    axes[2].text(0, 1, "\n".join(facts), va="top", fontsize=8, family="monospace")
    return figure
