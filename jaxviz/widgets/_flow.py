"""Widgets of the gradient-flow views: the live training monitor, one-shot gradient flow, the model
structure, and the function explorer.

All four send everything their controls can reach in one go (every recorded step's histograms up
to a cap, every layer's activation statistics, every parameter value of every function), so the
browser switches views without asking the kernel, which matters while a training loop keeps the
kernel busy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import traitlets

from ..flow._compare import (
    RUN_COLORS,
    Run,
    collect_runs,
    fold_magnitudes,
    percentile_bands,
    run_table,
)
from ..flow._diagnose import diagnose, group_diagnoses
from ..flow._functions import function_table
from ..flow._gradient_flow import GradientFlow
from ..flow._graph import ModelGraph, ValueStats, model_graph
from ..flow._recorder import Recorder
from ..flow._stats import BINS_PER_DECADE, HIST_BINS, HIST_MAX_EXP, HIST_MIN_EXP
from ..flow._summary import model_summary
from ._base import JaxvizWidget, static_asset
from ._payload import array_payload, colormap_lut

HEAT_FIELDS = {
    "grad_norm": "gradient norm",
    "update_ratio": "update/param ratio",
    "param_norm": "param norm",
}


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values.astype(np.float64))
    finite = out[np.isfinite(out)]
    floor = finite.min() - 1 if finite.size else 0.0
    return np.where(np.isneginf(out), floor, out)  # an exactly-zero norm sits below the smallest


def hist_rows(count: int, limit: int) -> np.ndarray:
    """At most ``limit`` record indices spread evenly over ``count``, always with the last one."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, limit)).astype(int))


def _shares(counts: np.ndarray) -> np.ndarray:
    """Histogram counts as uint8 shares of each layer's values (sqrt-scaled so sparse bins show)."""
    total = np.maximum(counts.sum(axis=-1, keepdims=True), 1)
    return np.rint(255 * np.sqrt(counts / total))


def monitor_payload(recorder: Recorder, *, max_hist_steps: int = 64) -> dict[str, Any]:
    """The FlowMonitor's trait values for the recorder's current contents."""
    if len(recorder) == 0 or recorder.meta is None:
        return {
            "layers": [],
            "steps": array_payload(np.zeros(0)),
            "metrics": {},
            "fields": {},
            "hist_steps": array_payload(np.zeros(0)),
            "param_hist": array_payload(np.zeros((0, 0, 0)), "uint8"),
            "grad_hist": array_payload(np.zeros((0, 0, 0)), "uint8"),
            "distributions": {},
            "diagnoses": [],
        }
    steps = recorder.steps
    recorded = {name: recorder.field(name) for name in HEAT_FIELDS}
    fields = {
        name: {"label": HEAT_FIELDS[name], "data": array_payload(_log10(values).T)}
        for name, values in recorded.items()
        if values is not None
    }
    param_hist, grad_hist = recorder.field("param_hist"), recorder.field("grad_hist")
    assert param_hist is not None and grad_hist is not None, "every FlowStats holds both"
    rows = hist_rows(len(steps), max_hist_steps)
    return {
        "layers": list(recorder.layers),
        "steps": array_payload(steps),
        "metrics": {name: array_payload(values) for name, values in recorder.metrics.items()},
        "fields": fields,
        "hist_steps": array_payload(steps[rows]),
        "param_hist": array_payload(_shares(param_hist[rows]), "uint8"),
        "grad_hist": array_payload(_shares(grad_hist[rows]), "uint8"),
        "distributions": _distributions(recorder, rows),
        "diagnoses": _diagnoses(recorder),
    }


_DISTRIBUTION_FIELDS = (
    ("weights", "param_hist"),
    ("gradients", "grad_hist"),
    ("activations", "activation_hist"),
)


def _distributions(recorder: Recorder, rows: np.ndarray) -> dict[str, Any]:
    """TensorBoard's distributions: per kind, each layer's nine percentile values (in bin
    coordinates, 0 .. HIST_BINS) at the steps that have histograms."""
    bin_edges = np.arange(HIST_BINS + 1, dtype=np.float64)
    out = {}
    for kind, name in _DISTRIBUTION_FIELDS:
        counts = recorder.field(name)
        if counts is None:
            continue
        meta = recorder.meta
        names = (
            recorder.layers if kind != "activations" else (meta.activation_names if meta else ())
        )
        chosen = counts[rows]
        bands = percentile_bands(chosen, bin_edges).transpose(1, 0, 2)  # (names, steps, 9)
        folded = fold_magnitudes(chosen)
        magnitude = percentile_bands(folded, np.arange(folded.shape[-1] + 1.0)).transpose(1, 0, 2)
        out[kind] = {
            "names": list(names),
            "data": array_payload(bands.astype(np.float32)),
            "magnitude": array_payload(magnitude.astype(np.float32)),
        }
    return out


def _diagnoses(recorder: Recorder) -> list[dict[str, Any]]:
    """The grouped diagnoses, each with the (layer, step) of every finding it groups, so the
    monitor can take the viewer there."""
    found = diagnose(recorder)
    return [
        {
            **asdict(group),
            "links": [
                {"layer": d.layer, "step": int(d.step)} for d in found if d.kind == group.kind
            ],
        }
        for group in group_diagnoses(found)
    ]


def runs_payload(runs: list[Run]) -> list[dict[str, Any]]:
    """Every run's curves (training metrics at their steps, validation series) and its row of
    the run table."""
    table = run_table(runs)
    out = []
    for run, row in zip(runs, table):
        rec = run.recorder
        out.append(
            {
                **row,
                "final": {k: (v if np.isfinite(v) else None) for k, v in row["final"].items()},
                "step_count": row["steps"],
                "steps": array_payload(rec.steps),
                "metrics": {name: array_payload(v) for name, v in rec.metrics.items()},
                "validation": {
                    name: {"steps": array_payload(s), "values": array_payload(v)}
                    for name, (s, v) in rec.validation.items()
                },
            }
        )
    return out


def _luts(*names: str) -> dict[str, Any]:
    return {name: array_payload(colormap_lut(name), "uint8") for name in names}


class _ClientSideWidget(JaxvizWidget):
    """A widget whose controls never need the kernel: everything is sent up front."""

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}


class FlowMonitor(_ClientSideWidget):
    """Live view of one or several training runs, TensorBoard's dashboards in one widget.

    Every run's metric curves share axes, one panel per metric with a labelled y axis: training
    solid (smoothed with TensorBoard's debiased moving average; the raw curve faint), validation
    dashed with markers, one colour per run; a smoothing slider and a linear/log switch. The run
    table (TensorBoard's HParams) lists each run's hyperparameters and final metrics; its
    checkboxes show or hide runs on the charts and clicking a name makes it the run detailed
    below: a layers x steps heat map of log10 gradient norms (or update ratios, or parameter
    norms), a step slider with every layer's weight and gradient histograms at that step, the
    distributions over time (TensorBoard's percentile bands) of weights, gradients and
    activations per layer, and the diagnoses, each linked to the layer and step it names.
    It redraws at most every ``interval_s`` seconds from inside ``recorder.add``, and never for
    more than about a tenth of the loop's time, and once more when the cell finishes.

    Args:
      recorder: the ``jaxviz.Recorder`` your train loop adds to (or use ``runs``).
      runs: several runs to compare: Recorders or run directories (``jv.load_run``), a list or
        ``{name: run}`` (see ``jaxviz.flow.collect_runs``); ``recorder`` joins them first.
      interval_s: least time between two pushes to the browser (0: push on every add).
      max_hist_steps: how many recorded steps' histograms the step slider offers (evenly spread).
      smoothing: the initial smoothing weight in [0, 1).

    Traits a person's choices set (and code may set): ``selected_run`` (the run detailed),
    ``hidden`` (runs off the charts), ``smoothing``, ``log_scale``, ``step`` and ``layer``.

    >>> rec = jv.Recorder()
    >>> monitor = jv.FlowMonitor(rec)                # show it: the cell's last line `monitor`
    >>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    >>> for step in range(40):                       # your train loop: stats from your step
    ...     grads = jax.tree.map(lambda p: p / (step + 1), params)
    ...     rec.add(jv.flow_stats(grads, params), loss=1.0 / (step + 1))
    >>> monitor.update()                             # in a notebook, after each cell by itself
    >>> monitor.layers, len(rec.steps)
    (['dense'], 40)
    >>> other = jv.Recorder()
    >>> other.add(jv.flow_stats(params, params), loss=0.5)
    >>> monitor.add_run(other, name="baseline")
    >>> [r["name"] for r in monitor.runs]
    ['run', 'baseline']
    """

    _esm = static_asset("flow_monitor.js")
    _css = static_asset("flow_monitor.css")

    layers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    steps = traitlets.Dict().tag(sync=True)
    metrics = traitlets.Dict().tag(sync=True)
    fields = traitlets.Dict().tag(sync=True)
    hist_steps = traitlets.Dict().tag(sync=True)
    param_hist = traitlets.Dict().tag(sync=True)
    grad_hist = traitlets.Dict().tag(sync=True)
    hist_axis = traitlets.Dict().tag(sync=True)
    distributions = traitlets.Dict().tag(sync=True)
    diagnoses = traitlets.List(traitlets.Dict()).tag(sync=True)
    luts = traitlets.Dict().tag(sync=True)
    runs = traitlets.List(traitlets.Dict()).tag(sync=True)
    # the run the heat map, histograms, distributions and diagnoses are of
    selected_run = traitlets.Unicode("").tag(sync=True)
    hidden = traitlets.List(traitlets.Unicode()).tag(sync=True)
    smoothing = traitlets.Float(0.6).tag(sync=True)
    log_scale = traitlets.Bool(False).tag(sync=True)
    # the step shown by the histograms; -1 follows the newest step while training runs
    step = traitlets.Int(-1).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    pushes = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        recorder: Recorder | None = None,
        *,
        runs=None,
        interval_s: float = 0.5,
        max_hist_steps: int = 64,
        smoothing: float = 0.6,
        **kwargs,
    ):
        if recorder is not None and not isinstance(recorder, Recorder):
            raise TypeError(f"recorder: expected a jaxviz.Recorder, got {type(recorder).__name__}.")
        if recorder is None and runs is None:
            raise TypeError("recorder: expected a jaxviz.Recorder, or runs=[...] to compare.")
        if not (isinstance(interval_s, int | float) and interval_s >= 0):
            raise ValueError(f"interval_s: expected seconds >= 0, got {interval_s!r}.")
        if not (isinstance(smoothing, int | float) and 0 <= smoothing < 1):
            raise ValueError(f"smoothing: expected a number in [0, 1), got {smoothing!r}.")
        collected = [] if runs is None else collect_runs(runs)
        if recorder is not None:
            collected = collect_runs({"run": recorder, **{r.name: r.recorder for r in collected}})
        super().__init__(
            hist_axis={
                "min_exp": HIST_MIN_EXP,
                "max_exp": HIST_MAX_EXP,
                "bins_per_decade": BINS_PER_DECADE,
            },
            luts=_luts("magma", "Greys"),
            smoothing=float(smoothing),
            selected_run=collected[0].name,
            **kwargs,
        )
        self._runs: list[Run] = []
        self.max_hist_steps = max_hist_steps
        self.interval_s = float(interval_s)
        self._next_push = 0.0
        self._run_payloads: dict[tuple[str, int], dict[str, Any]] = {}
        for run in collected:
            self._follow(run)
        self._unhook = _after_each_cell(self.update)
        self.observe(lambda _: self.update(), names=["selected_run"])
        self.update()

    @property
    def recorder(self) -> Recorder:
        """The focused run's recorder."""
        return next(r.recorder for r in self._runs if r.name == self.selected_run)

    def _follow(self, run: Run) -> None:
        self._runs.append(run)
        run.recorder.subscribe(self._on_add)

    def add_run(self, run, *, name: str | None = None) -> None:
        """Add a run (a ``Recorder`` or a run directory) to the comparison."""
        names = [r.name for r in self._runs]
        name = name if name is not None else f"run {len(names)}"
        if name in names:
            raise ValueError(f"name: a run named {name!r} is already shown; pick another name.")
        (added,) = collect_runs({name: run})
        self._follow(added._replace(color=RUN_COLORS[len(self._runs) % len(RUN_COLORS)]))
        self.update()

    def _on_add(self, recorder: Recorder) -> None:
        """Push from inside ``recorder.add``: at most every ``interval_s`` seconds, and (for
        ``interval_s > 0``) never more than a tenth of the loop's time: a push that took 50 ms
        waits 450 ms after it ends. ``interval_s=0`` pushes on every add."""
        now = time.perf_counter()
        if now < self._next_push:
            return
        self.update()
        took = time.perf_counter() - now
        wait = max(self.interval_s - took, 9 * took) if self.interval_s > 0 else 0.0
        self._next_push = time.perf_counter() + wait

    def _runs_payload(self) -> list[dict[str, Any]]:
        """Every run's curves, rebuilt only for runs that changed since the last push."""
        current = {}
        for run in self._runs:
            len(run.recorder)  # fetches its buffered steps, so its version is current
            key = (run.name, run.recorder.version)
            current[key] = self._run_payloads.get(key) or runs_payload([run])[0]
        self._run_payloads = current
        return list(current.values())

    def update(self) -> None:
        """Send the runs' current contents to the browser now."""
        with self.hold_sync():
            self.runs = self._runs_payload()
            for name, value in monitor_payload(
                self.recorder, max_hist_steps=self.max_hist_steps
            ).items():
                setattr(self, name, value)
            self.pushes += 1

    def close(self) -> None:
        """Stop following the runs and close the widget."""
        if hasattr(self, "_unhook"):  # not when __init__ stopped at a bad argument
            for run in self._runs:
                run.recorder.unsubscribe(self._on_add)
            self._unhook()
        super().close()

    def plot(self):
        """The static twin: with one run and no validation, the single-run monitor figure;
        otherwise the runs compared (``jaxviz.plot.run_comparison``) as the widget shows them."""
        from ..plot._flow import flow_monitor
        from ..plot._training import run_comparison

        if len(self._runs) == 1 and not self.recorder.validation:
            return flow_monitor(self.recorder, step=None if self.step < 0 else self.step)
        return run_comparison(
            self._runs,
            smoothing=self.smoothing,
            log_scale=self.log_scale,
            hidden=self.hidden,
            focus=self.selected_run,
            layer=self.layer or None,
        )


def _after_each_cell(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` after every notebook cell (the last push after a loop); returns an undo."""
    try:
        from IPython import get_ipython
    except ImportError:
        return lambda: None
    shell = get_ipython()
    if shell is None:
        return lambda: None

    def hook(*_):
        callback()

    shell.events.register("post_run_cell", hook)
    return lambda: shell.events.unregister("post_run_cell", hook)


def flow_payload(flow: GradientFlow) -> dict[str, Any]:
    def finite_list(a):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, np.float64)]

    return {
        "layers": list(flow.layers),
        "objective": flow.objective,
        "output_grad_rms": finite_list(flow.output_grad_rms),
        "param_grad_rms": finite_list(flow.param_grad_rms),
        "param_count": [int(c) for c in flow.param_count],
        "flags": [f or "" for f in flow.flags],
        "shapes": [list(s) for s in flow.output_shapes],
    }


class GradientFlowView(_ClientSideWidget):
    """``jaxviz.gradient_flow``'s result along the network, output to input, log scale, with
    vanishing and exploding layers flagged. Hover a layer for its numbers."""

    _esm = static_asset("gradient_flow.js")
    _css = static_asset("gradient_flow.css")
    flow = traitlets.Dict().tag(sync=True)

    def __init__(self, flow: GradientFlow, **kwargs):
        if not isinstance(flow, GradientFlow):
            raise TypeError(
                f"flow: expected the result of jaxviz.gradient_flow, got {type(flow).__name__}."
            )
        super().__init__(flow=flow_payload(flow), **kwargs)
        self._result = flow

    def plot(self):
        return self._result.plot()


class ModelView(_ClientSideWidget):
    """The model as a graph (Netron's view): modules as nested, collapsible boxes, the operations
    between them (a residual ``add``, an activation), the shape on every edge and the parameter
    count on every node. Click a node for its output's statistics and histogram for the batch
    ``x`` and its weights' histogram. A second tab keeps the table of layers.

    Args:
      model: a ``jaxviz.wrap``ped model (flax.nnx, flax.linen or a plain function).
      x: a batch of inputs (shapes and statistics are for this batch).
      collapsed: ids of the modules drawn folded at first (default: the deepest levels, as few
        as keep about ``MAX_NODES`` nodes on screen).
      selected: the node whose statistics show first (default: the first with parameters).
      mode: "graph" or "table".

    Laid out in the browser by dagre (bundled, offline); the static twin (``plot()``) uses
    Graphviz ``dot`` when installed, else jaxviz's layered layout.
    """

    MAX_NODES = 40
    _esm = static_asset("model_view.js")
    _css = static_asset("model_view.css")
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    graph = traitlets.Dict().tag(sync=True)
    collapsed = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    mode = traitlets.Unicode("graph").tag(sync=True)

    def __init__(
        self,
        model,
        x,
        *,
        collapsed: Sequence[str] | None = None,
        selected: str | None = None,
        mode: str = "graph",
        **kwargs,
    ):
        if mode not in ("graph", "table"):
            raise ValueError(f"mode: expected 'graph' or 'table', got {mode!r}.")
        graph = model_graph(model, x)
        # the table reads layers through jv.activations, which takes floating inputs only
        rows = model_summary(model, x) if np.issubdtype(np.asarray(x).dtype, np.floating) else []
        if mode == "table" and not rows:
            raise ValueError(
                "mode: the table of layers needs floating inputs; for token ids use mode='graph'."
            )
        if collapsed is None:
            collapsed = default_collapsed(graph, self.MAX_NODES)
        graph.view(collapsed)  # names an unknown group
        if selected is None:
            selected = next(
                (n.id for n in graph.nodes if n.param_count and not n.children), "input"
            )
        graph.node(selected)
        super().__init__(
            rows=[_row_payload(r) for r in rows],
            layer=rows[0].name if rows else "",
            graph=graph_payload(graph),
            collapsed=list(collapsed),
            selected=selected,
            mode=mode,
            **kwargs,
        )
        self._rows = rows
        self.model_graph = graph

    def plot(self):
        if self.mode == "table":
            from ..plot._flow import model_view

            return model_view(self._rows, layer=self.layer or None)
        from ..plot._graph import model_view

        return model_view(self.model_graph, collapsed=self.collapsed, selected=self.selected)


def default_collapsed(graph: ModelGraph, limit: int) -> list[str]:
    """The groups to fold so that at most ``limit`` nodes show: the deepest levels first."""
    depth: dict[str, int] = {}
    for n in graph.nodes:
        depth[n.id] = 0 if n.parent is None else depth[n.parent] + 1
    groups = graph.groups
    for level in range(max((depth[g] for g in groups), default=-1) + 1, -1, -1):
        folded = [g for g in groups if depth[g] >= level]
        if len(graph.view(folded)[0]) <= limit:
            return folded
    return [g for g in groups if depth[g] == 0]


def _stats_payload(stats: ValueStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None

    def finite(v):
        return float(v) if np.isfinite(v) else None

    return {
        "mean": finite(stats.mean),
        "std": finite(stats.std),
        "min": finite(stats.min),
        "max": finite(stats.max),
        "zero_fraction": float(stats.zero_fraction),
        "histogram": array_payload(stats.histogram.astype(np.float32)),
    }


def graph_payload(graph: ModelGraph) -> dict[str, Any]:
    """The graph's nodes (with statistics as binary histograms) and edges for the browser."""
    nodes = [
        {
            "id": n.id,
            "label": n.label,
            "kind": n.kind,
            "type": n.type,
            "parent": n.parent,
            "children": list(n.children),
            "output_shape": None if n.output_shape is None else list(n.output_shape),
            "param_count": n.param_count,
            "params": [
                {"name": p.name, "shape": list(p.shape), "dtype": p.dtype} for p in n.params
            ],
            "ops": list(n.ops),
            "activation": _stats_payload(n.activation),
            "weights": _stats_payload(n.weights),
        }
        for n in graph.nodes
    ]
    edges = [
        {"source": e.source, "target": e.destination, "shape": list(e.shape), "dtype": e.dtype}
        for e in graph.edges
    ]
    return {"nodes": nodes, "edges": edges, "param_count": graph.param_count, "kind": graph.kind}


def _row_payload(row) -> dict[str, Any]:
    out = asdict(row)
    out["output_shape"] = list(row.output_shape)
    out["histogram"] = array_payload(row.histogram.astype(np.float32))
    for key in ("mean", "std", "min", "max", "zero_fraction"):
        out[key] = float(out[key]) if np.isfinite(out[key]) else None
    return out


class FunctionExplorer(_ClientSideWidget):
    """Activation functions and losses with their derivatives (computed by ``jax.grad``), a slider
    for each function's parameter, and the flat (saturated) regions shaded."""

    _esm = static_asset("function_explorer.js")
    _css = static_asset("function_explorer.css")
    x = traitlets.Dict().tag(sync=True)
    functions = traitlets.Dict().tag(sync=True)
    function = traitlets.Unicode("sigmoid").tag(sync=True)
    param = traitlets.Float(0.0).tag(sync=True)

    def __init__(self, function: str = "sigmoid", **kwargs):
        table = function_table()
        if function not in table:
            raise ValueError(f"function: expected one of {', '.join(table)}, got {function!r}.")
        x = np.linspace(-6.0, 6.0, 401)
        payload = {
            name: {
                "kind": t["kind"],
                "formula": t["formula"],
                "x_label": t["x_label"],
                "param": t["param"],
                "default": t["default"],
                "grid": [float(g) for g in t["grid"]],
                "value": array_payload(t["value"]),
                "derivative": array_payload(t["derivative"]),
                "flat": array_payload(t["flat"].astype(np.uint8), "uint8"),
            }
            for name, t in table.items()
        }
        default = table[function]["default"]
        super().__init__(
            x=array_payload(x),
            functions=payload,
            function=function,
            param=0.0 if default is None else default,
            **kwargs,
        )

    def plot(self):
        from ..plot._flow import function

        spec = self.functions[self.function]
        params: dict[str, Any] = {spec["param"]: self.param} if spec["param"] else {}
        return function(self.function, **params)
