"""Static twins of the training views: runs compared, the confusion matrix, the loss landscape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from ..flow._compare import Run, collect_runs, fold_magnitudes, percentile_bands, run_table, smooth
from ..flow._stats import BINS_PER_DECADE, HIST_MAX_EXP, HIST_MIN_EXP
from ._common import JaxvizFigure, figure_and_axes

DISTRIBUTIONS = {
    "weights": "param_hist",
    "gradients": "grad_hist",
    "activations": "activation_hist",
}


def metric_names(runs: Sequence[Run]) -> list[str]:
    """Every training or validation metric name over the runs, loss first."""
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.recorder.metrics))
        names.update(dict.fromkeys(run.recorder.validation))
    return sorted(names, key=lambda n: (n != "loss", n))


def _magnitude_ticks(ax: Axes) -> None:
    """Label a folded |value| bin axis (bin 0: |v| below 10**HIST_MIN_EXP, then a decade per
    BINS_PER_DECADE bins) at every other power of ten."""
    exponents = range(HIST_MIN_EXP + 2, HIST_MAX_EXP + 1, 2)
    ax.set_yticks(
        [0.5, *(1 + (e - HIST_MIN_EXP) * BINS_PER_DECADE for e in exponents)],
        ["0", *(f"1e{e}" for e in exponents)],
        fontsize=7,
    )


def distribution_bands(recorder, kind: str, index: int):
    """``(steps, bands)``: the recorder's ``kind`` histograms of one layer (or activation),
    folded onto |value|, as TensorBoard's nine percentile values over time, in bin coordinates
    (see ``fold_magnitudes``)."""
    counts = recorder.field(DISTRIBUTIONS[kind])
    if counts is None:
        return np.zeros(0, np.int64), np.zeros((0, 9))
    folded = fold_magnitudes(counts[:, index])
    bands = percentile_bands(folded, np.arange(folded.shape[-1] + 1.0))
    ok = np.isfinite(bands[:, 0])
    return recorder.steps[ok], bands[ok]


def draw_bands(ax: Axes, steps: np.ndarray, bands: np.ndarray, color: str) -> None:
    """Nested percentile bands (TensorBoard's distributions): outer ones lighter, median line."""
    for lo, alpha in ((0, 0.12), (1, 0.2), (2, 0.3), (3, 0.45)):
        ax.fill_between(steps, bands[:, lo], bands[:, 8 - lo], color=color, alpha=alpha, lw=0)
    ax.plot(steps, bands[:, 4], color=color, lw=1.2)


def run_comparison(
    runs,
    *,
    smoothing: float = 0.6,
    log_scale: bool = False,
    hidden: Sequence[str] = (),
    focus: str | None = None,
    layer: str | None = None,
) -> Figure:
    """Several runs on shared axes: one panel per metric (training solid and smoothed,
    validation dashed with markers), the focused run's weight, gradient and activation
    distributions over time for one layer, and the run table (hyperparameters, final metrics).

    Args:
      runs: Recorders or run directories (see ``jaxviz.flow.collect_runs``).
      smoothing: TensorBoard's smoothing weight for training curves (raw curves drawn faint).
      log_scale: log y axes for the metrics.
      hidden: names of runs left off the charts (still in the table).
      focus: the run whose distributions are drawn (default: the first shown).
      layer: the layer drawn (default: the focused run's first).
    """
    runs = (
        runs
        if isinstance(runs, list) and all(isinstance(r, Run) for r in runs)
        else (collect_runs(runs))
    )
    shown = [r for r in runs if r.name not in hidden]
    names = metric_names(shown)
    figure = JaxvizFigure(figsize=(11, 3.2 * 2 + 0.35 * len(runs) + 0.8), layout="constrained")
    grid = figure.add_gridspec(3, max(3, len(names)), height_ratios=[1, 1, 0.25 + 0.1 * len(runs)])
    for k, name in enumerate(names):
        ax = figure.add_subplot(grid[0, k])
        for run in shown:
            _draw_metric(ax, run, name, smoothing)
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(f"{name}: training (solid), validation (dashed)", fontsize=9)
    if names:
        figure.axes[0].legend(
            handles=[_line(r.color, r.name) for r in shown],
            fontsize=8,
            title="run",
            title_fontsize=8,
        )
    focused = next((r for r in shown if r.name == focus), shown[0] if shown else None)
    if focused is not None:
        rec = focused.recorder
        layers = list(rec.layers)
        j = layers.index(layer) if layer in layers else 0
        for k, kind in enumerate(("weights", "gradients", "activations")):
            ax = figure.add_subplot(grid[1, k])
            meta = rec.meta
            names_of_kind = (
                layers if kind != "activations" else list(meta.activation_names if meta else ())
            )
            if not names_of_kind:
                ax.text(0.5, 0.5, f"no {kind} recorded", ha="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            index = j if kind != "activations" else min(j, len(names_of_kind) - 1)
            steps, bands = distribution_bands(rec, kind, index)
            draw_bands(ax, steps, bands, focused.color)
            _magnitude_ticks(ax)
            ax.set_xlabel("step")
            ax.set_ylabel("|value| (log)")
            ax.set_title(f"{focused.name}: {kind} of {names_of_kind[index]}", fontsize=9)
    table_ax = figure.add_subplot(grid[2, :])
    _draw_table(table_ax, run_table(runs), hidden)
    return figure


def _line(color: str, label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, lw=2, label=label)


def _draw_metric(ax: Axes, run: Run, name: str, smoothing: float) -> None:
    rec = run.recorder
    if name in rec.metrics:
        values, steps = rec.metrics[name], rec.steps
        ok = np.isfinite(values)
        if smoothing > 0:
            ax.plot(steps[ok], values[ok], color=run.color, alpha=0.25, lw=0.8)
        ax.plot(steps[ok], smooth(values[ok], smoothing), color=run.color, lw=1.5)
    if name in rec.validation:
        v_steps, v_values = rec.validation[name]
        ax.plot(v_steps, v_values, color=run.color, ls="--", marker="o", ms=3, lw=1.2)


def _format(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _draw_table(ax: Axes, rows: list[dict], hidden: Sequence[str]) -> None:
    ax.set_axis_off()
    if not rows:
        return
    hparams = list(dict.fromkeys(k for r in rows for k in r["hparams"]))
    finals = list(dict.fromkeys(k for r in rows for k in r["final"]))
    short = [k.replace("validation/", "val. ") for k in finals]
    header = ["run", *hparams, "steps", *(f"final {k}" for k in short)]
    cells = [
        [
            r["name"] + (" (hidden)" if r["name"] in hidden else ""),
            *(_format(r["hparams"].get(k, "-")) for k in hparams),
            str(r["steps"]),
            *(_format(r["final"].get(k, math.nan)) for k in finals),
        ]
        for r in rows
    ]
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for i, r in enumerate(rows, start=1):
        table[i, 0].get_text().set_color(r["color"])


def _percent(value) -> str:
    return "-" if not np.isfinite(value) else f"{100 * value:.0f}%"


def confusion_matrix(matrix, *, ax: Axes | None = None, normalize: bool = False):
    """The confusion matrix (rows: true class, columns: predicted), counts written in the cells,
    with each class's precision (under its column) and recall (right of its row)."""
    counts = matrix.counts.astype(np.float64)
    n = len(matrix.class_names)
    figure, ax = figure_and_axes(ax, (1.6 + 0.55 * n, 1.2 + 0.5 * n))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    peak = shown.max() if shown.size else 1
    for t in range(n):
        for p in range(n):
            text = f"{shown[t, p]:.2f}" if normalize else str(int(counts[t, p]))
            ax.text(
                p,
                t,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[t, p] > 0.6 * peak else "black",
            )
    precision, recall = matrix.precision, matrix.recall
    ax.set_xticks(
        range(n),
        [f"{c}\nP {_percent(v)}" for c, v in zip(matrix.class_names, precision)],
        fontsize=6,
    )
    ax.set_yticks(
        range(n),
        [f"{c}  R {_percent(v)}" for c, v in zip(matrix.class_names, recall)],
        fontsize=7,
    )
    ax.set_xlabel("predicted class (P: precision)")
    ax.set_ylabel("true class (R: recall)")
    ax.set_title(f"confusion matrix, accuracy {matrix.accuracy:.1%}", fontsize=10)
    figure.colorbar(image, ax=ax, label="share of the row" if normalize else "examples")
    return figure


def loss_landscape(landscape, *, ax: Axes | None = None) -> Figure | SubFigure:
    """A 1-D slice as a line with the centre marked; a 2-D slice as filled contours."""
    figure, ax = figure_and_axes(ax, (5.2, 4.2) if landscape.loss.ndim == 2 else (5.2, 3.4))
    if landscape.loss.ndim == 1:
        (t,) = landscape.coordinates
        ax.plot(t, landscape.loss, color="#1f77b4", lw=1.6)
        ax.scatter([0.0], [landscape.centre_loss], color="k", zorder=3, label="centre")
        if landscape.kind == "line":
            end = np.argmin(np.abs(t - 1))
            ax.scatter([1.0], [landscape.loss[end]], color="#d62728", zorder=3, label="end")
        ax.legend(fontsize=8)
        ax.set_xlabel(landscape.axis_labels[0])
        ax.set_ylabel("loss")
    else:
        a, b = landscape.coordinates
        levels = np.quantile(landscape.loss[np.isfinite(landscape.loss)], np.linspace(0, 1, 16))
        filled = ax.contourf(b, a, landscape.loss, levels=np.unique(levels), cmap="viridis")
        ax.contour(b, a, landscape.loss, levels=np.unique(levels), colors="w", linewidths=0.4)
        ax.scatter([0], [0], color="r", marker="*", s=80, label="centre")
        ax.set_xlabel(landscape.axis_labels[1])
        ax.set_ylabel(landscape.axis_labels[0])
        ax.legend(fontsize=8, loc="upper right")
        figure.colorbar(filled, ax=ax, label="loss")
    ax.set_title(
        f"loss landscape ({landscape.kind}), centre loss {landscape.centre_loss:.3g}", fontsize=10
    )
    return figure


def confusion_view(matrix, x, examples, index, view) -> Figure:
    """The ConfusionView's twin: the matrix, the selected cell's first examples, and the chosen
    example with its attribution for the predicted class."""
    images = np.asarray(x)
    is_image = images.ndim == 3 or (images.ndim == 4 and images.shape[-1] in (1, 3))
    figure = JaxvizFigure(figsize=(11, 4.6), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.25])  # type: ignore[misc]
    confusion_matrix(matrix, ax=left.add_subplot())
    shown = list(examples[:8])
    columns = max(4, len(shown) // 2 + len(shown) % 2)
    grid = right.add_gridspec(3, columns)
    if len(examples):
        t, p = matrix.labels[examples[0]], matrix.predictions[examples[0]]
        right.suptitle(
            f"examples of {matrix.class_names[t]} predicted as {matrix.class_names[p]}: "
            f"{len(examples)}",
            fontsize=10,
        )
    for k, i in enumerate(shown):
        ax = right.add_subplot(grid[k // columns, k % columns])
        if is_image:
            ax.imshow(np.squeeze(images[i]), cmap="gray", interpolation="nearest")
        ax.set_title(f"#{i}", fontsize=8)
        ax.set_axis_off()
    if index is not None and is_image:
        predicted = int(matrix.predictions[index])
        attribution = np.asarray(view.attribution(index))
        limit = float(np.abs(attribution).max()) or 1.0
        ax = right.add_subplot(grid[2, : columns // 2])
        ax.imshow(np.squeeze(images[index]), cmap="gray", interpolation="nearest")
        ax.set_title(f"#{index}: true {matrix.class_names[matrix.labels[index]]}", fontsize=8)
        ax.set_axis_off()
        ax = right.add_subplot(grid[2, columns // 2 :])
        shown_map = ax.imshow(attribution, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{view.method} for {matrix.class_names[predicted]}", fontsize=8)
        ax.set_axis_off()
        right.colorbar(shown_map, ax=ax, label="attribution (logit units)", shrink=0.8)
    return figure
