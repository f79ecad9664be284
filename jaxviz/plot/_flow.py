"""Static twins of the gradient-flow views: one-shot gradient flow, the training monitor, the model
structure, and the function explorer. Each returns a matplotlib figure and never calls show()."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from ..flow._diagnose import diagnose, group_diagnoses
from ..flow._functions import function_curves
from ..flow._gradient_flow import GradientFlow
from ..flow._recorder import Recorder
from ..flow._stats import BINS_PER_DECADE, HIST_BINS, HIST_MAX_EXP, HIST_MIN_EXP
from ..flow._summary import LayerRow
from ._common import JaxvizFigure, figure_and_axes

FLAG_COLORS = {"vanishing": "#1f77b4", "exploding": "#d62728"}
_OUTPUT_COLOR, _PARAM_COLOR, _FLAT_COLOR = "#333333", "#f28e2b", "#e6e6e6"


def gradient_flow(flow: GradientFlow, *, ax: Axes | None = None) -> Figure | SubFigure:
    """Gradient size per layer, from the output (left) back to the input (right), log scale.

    The line is the RMS of d(objective)/d(layer output), the signal back-propagation carries; the
    bars, the RMS of the gradient of the layer's own parameters. Vanishing or exploding layers are
    marked and named.
    """
    if not isinstance(flow, GradientFlow):
        raise TypeError(
            f"flow: expected the result of jaxviz.gradient_flow, got {type(flow).__name__}."
        )
    figure, ax = figure_and_axes(ax, (max(5.0, 0.55 * len(flow.layers) + 2), 3.6))
    order = np.arange(len(flow.layers))[::-1]  # output first
    pos = np.arange(len(order))
    param = flow.param_grad_rms[order]
    has = np.isfinite(param) & (param > 0)
    ax.bar(pos[has], param[has], color=_PARAM_COLOR, alpha=0.55, label="parameter gradient (RMS)")
    out = np.maximum(flow.output_grad_rms[order], 1e-30)
    ax.plot(pos, out, "-o", color=_OUTPUT_COLOR, label="gradient at layer output (RMS)", zorder=3)
    for p, i in zip(pos, order):
        flag = flow.flags[i]
        if flag:
            ax.plot(p, out[p], "o", ms=11, mfc="none", mec=FLAG_COLORS[flag], mew=2, zorder=4)
            ax.annotate(
                flag,
                (p, out[p]),
                xytext=(0, 10),
                textcoords="offset points",
                ha="center",
                color=FLAG_COLORS[flag],
                fontsize=8,
            )
    ax.set_yscale("log")
    ax.set_xticks(
        pos,
        [flow.layers[i] for i in order],
        rotation=45 if len(pos) > 6 else 0,
        ha="right" if len(pos) > 6 else "center",
    )
    ax.set_xlabel("layer: output → input (the way the gradient flows)")
    ax.set_ylabel("gradient magnitude")
    ax.set_title(f"Gradient flow of the {flow.objective}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="y", alpha=0.3)
    return figure


def _signed_log_ticks(ax: Axes) -> None:
    """Label the fixed histogram bins (drawn as image columns) by value: -1, -1e-4, 0, 1e-4, 1."""
    centre = HIST_BINS // 2
    ticks, labels = [centre], ["0"]
    for exponent in range(HIST_MIN_EXP + 2, HIST_MAX_EXP + 1, 2):
        k = (exponent - HIST_MIN_EXP) * BINS_PER_DECADE  # the bin 10**exponent starts
        ticks += [centre + 0.5 + k, centre - 0.5 - k]
        labels += [f"1e{exponent}", f"-1e{exponent}"]
    ax.set_xticks(ticks, labels, fontsize=7, rotation=90)


def log_grad_norms(recorder: Recorder) -> np.ndarray:
    """(layers, steps) log10 gradient norms; -inf for exactly zero, NaN for NaN."""
    grad_norm = recorder.field("grad_norm")
    assert grad_norm is not None, "every FlowStats holds grad_norm"
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(grad_norm).T


def flow_monitor(recorder: Recorder, *, step: int | None = None) -> Figure:
    """The training monitor's twin: metric curves, log gradient norm per layer and step, the weight
    and gradient histograms of every layer at ``step`` (default: the last), and the diagnoses."""
    if not isinstance(recorder, Recorder):
        raise TypeError(f"recorder: expected a jaxviz.Recorder, got {type(recorder).__name__}.")
    figure = JaxvizFigure(figsize=(11, 7.5), layout="constrained")
    if len(recorder) == 0 or recorder.meta is None:
        figure.text(
            0.5,
            0.5,
            "Nothing recorded yet: call recorder.add(stats, loss=...) in your loop.",
            ha="center",
        )
        return figure
    steps, layers = recorder.steps, recorder.layers
    row = (
        len(steps) - 1 if step is None else int(np.argmin(np.abs(steps - step)))
    )  # nearest kept step
    grid = figure.add_gridspec(3, 2, height_ratios=[1, 1.1, 0.45])
    curves, heat = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    whist, ghist = figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1])
    text = figure.add_subplot(grid[2, :])

    for name, values in recorder.metrics.items():
        ok = np.isfinite(values)
        curves.plot(steps[ok], values[ok], label=name, lw=1.2)
    curves.axvline(steps[row], color="0.5", lw=0.8, ls="--")
    curves.set_xlabel("step")
    curves.set_title("metrics", fontsize=10)
    if recorder.metrics:
        curves.legend(fontsize=8)

    image = log_grad_norms(recorder)
    finite = image[np.isfinite(image)]
    # columns as wide as the steps they stand for, so thinned older history keeps its time scale
    x_edges = np.concatenate([[steps[0] - 0.5], (steps[1:] + steps[:-1]) / 2, [steps[-1] + 0.5]])
    mesh = heat.pcolormesh(
        x_edges,
        np.arange(len(layers) + 1) - 0.5,
        np.ma.masked_invalid(image),
        cmap="magma",
        vmin=finite.min() if finite.size else None,
        vmax=finite.max() if finite.size else None,
    )
    heat.set_ylim(len(layers) - 0.5, -0.5)
    heat.set_yticks(range(len(layers)), layers, fontsize=7)
    heat.axvline(steps[row], color="w", lw=0.8, ls="--")
    heat.set_xlabel("step")
    heat.set_title("log10 gradient norm per layer", fontsize=10)
    figure.colorbar(mesh, cax=heat.inset_axes((1.02, 0, 0.025, 1)))

    for ax, name, title in ((whist, "param_hist", "weights"), (ghist, "grad_hist", "gradients")):
        histograms = recorder.field(name)
        assert histograms is not None, "every FlowStats holds both histograms"
        counts = histograms[row].astype(float)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(
            share,
            aspect="auto",
            cmap="Greys",
            interpolation="nearest",
            norm=matplotlib.colors.PowerNorm(0.5, vmin=0, vmax=max(share.max(), 1e-9)),
        )
        ax.set_yticks(range(len(layers)), layers, fontsize=7)
        _signed_log_ticks(ax)
        ax.set_title(f"{title} at step {steps[row]} (share of values per bin)", fontsize=10)
        ax.set_xlabel("value (signed, log-spaced bins)")

    text.axis("off")
    lines = [str(g) for g in group_diagnoses(diagnose(recorder))] or [
        "No problems found in the recent steps."
    ]
    text.text(
        0, 1, "\n".join(_wrap(line) for line in lines), va="top", fontsize=8, family="sans-serif"
    )
    return figure


def _wrap(line: str, width: int = 170) -> str:
    import textwrap

    return "\n  ".join(textwrap.wrap(line, width))


def model_view(rows: list[LayerRow], *, layer: str | None = None) -> Figure:
    """The model's layers as a table (type, output shape, parameters, dtype), and the activation
    histogram of ``layer`` (default: the first)."""
    if not rows or not all(isinstance(r, LayerRow) for r in rows):
        raise TypeError(
            "rows: expected the list of LayerRow from jaxviz.flow.model_summary(model, x)."
        )
    names = [r.name for r in rows]
    if layer is not None and layer not in names:
        raise ValueError(
            f"layer: unknown layer {layer!r}; the model's layers are: {', '.join(names)}."
        )
    chosen = rows[names.index(layer) if layer else 0]
    figure = JaxvizFigure(figsize=(10, 0.32 * len(rows) + 1.6), layout="constrained")
    table_ax, hist_ax = figure.subplots(1, 2, width_ratios=[1.6, 1])
    table_ax.axis("off")
    cells = [
        [r.name, r.type, "×".join(map(str, r.output_shape)), f"{r.param_count:,}", r.dtype]
        for r in rows
    ]
    table = table_ax.table(
        cells,
        colLabels=["layer", "type", "output shape", "params", "dtype"],
        loc="upper center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (r, _), cell in table.get_celld().items():
        if r == names.index(chosen.name) + 1:
            cell.set_facecolor("#fde9c9")
    edges = np.linspace(
        chosen.min,
        chosen.max if chosen.max > chosen.min else chosen.min + 1,
        len(chosen.histogram) + 1,
    )
    hist_ax.stairs(chosen.histogram, edges, fill=True, color="#4e79a7", alpha=0.8)
    hist_ax.set_title(f"{chosen.name}: activations", fontsize=10)
    hist_ax.set_xlabel(
        f"mean {chosen.mean:.3g}, std {chosen.std:.3g}, zeros {chosen.zero_fraction:.0%}",
        fontsize=8,
    )
    hist_ax.set_ylabel("count")
    return figure


def function(name: str, *, ax: Axes | None = None, **params: float) -> Figure | SubFigure:
    """An activation or loss and its derivative (``jax.grad``), flat regions shaded."""
    from ..flow._functions import FUNCTIONS

    curves = function_curves(name, **params)
    spec = FUNCTIONS[name]
    figure, ax = figure_and_axes(ax, (6, 3.6))
    x, flat = curves["x"], curves["flat"]
    _shade(ax, x, flat)
    ax.plot(x, curves["value"], color="#4e79a7", lw=2, label=f"{name}")
    ax.plot(
        x, curves["derivative"], color="#e15759", lw=1.6, ls="--", label="derivative (jax.grad)"
    )
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    shown = ", ".join(
        f"{k}={v:g}" for k, v in {**{p.name: p.default for p in spec.params}, **params}.items()
    )
    ax.set_title(
        f"{name}({shown})  {spec.formula}" if shown else f"{name}  {spec.formula}", fontsize=10
    )
    ax.set_xlabel(spec.x_label)
    ax.legend(fontsize=8, loc="upper left")
    return figure


def _shade(ax: Axes, x: np.ndarray, flat: np.ndarray) -> None:
    """Grey spans where the derivative is under a tenth of its peak."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(int), [0]])))
    for n, (start, stop) in enumerate(zip(edges[::2], edges[1::2])):
        ax.axvspan(
            float(x[start]),
            float(x[stop - 1]),
            color=_FLAT_COLOR,
            lw=0,
            label="flat: |f′| < 10% of peak" if n == 0 else None,
        )
