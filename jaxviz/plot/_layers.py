"""Static twins of the layer views: activation grids, a channel's detail, its top examples, feature
visualizations, and projections of layers (with their clusters)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from .. import _display, _layer_display
from .._checks import check_positive_int
from ._common import JaxvizFigure, bare, color_limits, colormap, figure_and_axes

_CELL_INCHES = 1.1
# Class colours: tab10 is colorblind-friendlier than the default cycle and has 10 distinct hues,
# one per digit; more classes fall back to tab20.
_FEW_CLASSES, _MANY_CLASSES = "tab10", "tab20"


def class_colors(count: int) -> list[tuple[float, float, float, float]]:
    """One RGBA color per class (tab10, or tab20 beyond 10 classes), as the plots and widgets
    use them."""
    cmap = colormaps[_FEW_CLASSES if count <= 10 else _MANY_CLASSES]
    return [cmap(i % cmap.N) for i in range(count)]


def _one_activation(activation: object) -> np.ndarray:
    values = _display.finite_float_array(activation, "activation")
    if values.ndim not in (1, 3):
        hint = " It has a batch axis: pass one example, e.g. acts[0]." if values.ndim in (2, 4) \
            else ""
        raise ValueError("activation: expected one example's activation, (height, width, "
                         f"channels) or (features,), got shape {values.shape}.{hint}")
    return values


def activation_grid(
    activation: object,
    *,
    channels: Sequence[int] | None = None,
    columns: int | None = None,
    title: str | None = None,
) -> Figure:
    """Every channel's activation map of one example as a grid (or, for a dense layer, one bar per
    neuron); one color scale for the whole layer, so channels can be compared.

    Args:
        activation: one example's activation, (height, width, channels) or (features,), e.g.
            `jv.activations(model, x, ["conv2"])["conv2"][0]`.
        channels: which channels to draw (default all).
        columns: grid columns (default: a grid about 1.6 times wider than tall).
        title: the figure title.

    Returns:
        The matplotlib figure.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> conv1 = jv.activations(m, data.x_test[:1], ["conv1"])["conv1"]
    >>> fig = jv.plot.activation_grid(conv1[0], title="conv1")
    >>> len([ax for ax in fig.axes if ax.get_visible()])   # 16 channels and the colorbar
    17
    """
    values = _one_activation(activation)
    if values.ndim == 1:
        return _activation_bars(values, title)
    chosen = list(range(values.shape[-1])) if channels is None else [int(c) for c in channels]
    if not chosen:
        raise ValueError("channels: expected at least one channel to draw, got none.")
    normalized, sign, scale = _layer_display.normalized_activation(values[..., chosen])
    columns = _layer_display.grid_columns(len(chosen)) if columns is None else check_positive_int(
        "columns", columns)
    rows = math.ceil(len(chosen) / columns)
    figure = JaxvizFigure(figsize=(columns * _CELL_INCHES + 0.8, rows * (_CELL_INCHES + 0.2) + 0.4),
                          layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    low, high = color_limits(sign)
    cmap = colormap(sign, None)
    shown = None
    for cell, ax in enumerate(axes.flat):
        bare(ax)
        if cell >= len(chosen):
            ax.set_visible(False)
            continue
        shown = ax.imshow(normalized[..., cell], cmap=cmap, vmin=low, vmax=high,
                          interpolation="nearest")
        ax.set_title(f"{chosen[cell]}: max {values[..., chosen[cell]].max():.2g}", fontsize=7)
    assert shown is not None  # the first cell always holds a channel
    colorbar = figure.colorbar(shown, ax=axes, shrink=0.8, aspect=30)
    colorbar.set_ticks([low, high])
    colorbar.set_ticklabels([f"{low * scale + 0.0:.2g}", f"{high * scale:.2g}"])
    colorbar.set_label("activation")
    if title is not None:
        figure.suptitle(title)
    return figure


def _activation_bars(values: np.ndarray, title: str | None) -> Figure:
    figure = JaxvizFigure(figsize=(min(12, 2 + 0.12 * values.size), 2.4), layout="constrained")
    ax = figure.add_subplot()
    sign = _layer_display.activation_sign(values)
    colors = np.where(values >= 0, "tab:red", "tab:blue") if sign == "all" else "tab:purple"
    ax.bar(np.arange(values.size), values, color=colors, width=0.85)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("neuron")
    ax.set_ylabel("activation")
    ax.set_xlim(-0.6, values.size - 0.4)
    ax.spines[["top", "right"]].set_visible(False)
    if title is not None:
        ax.set_title(title)
    return figure


def activation_overlay(
    image: object, activation_map: object, *, alpha: float = 0.6, title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """One channel's activation map stretched over the input (drawn in gray), half transparent.

    Args:
        image: the input, one example (H, W), (H, W, 1) or (H, W, 3).
        activation_map: the channel's map (h, w), any size: it is stretched over the image.
        alpha: the map's opacity.
        title: the axes title.
        ax: draw into this axes instead of a new figure.
    """
    shown = _display.to_grayscale(_display.display_image(image))
    values = _display.finite_float_array(activation_map, "activation_map")
    if values.ndim != 2:
        raise ValueError(f"activation_map: expected one channel's map (h, w), got shape "
                         f"{values.shape}.")
    normalized, sign, _ = _layer_display.normalized_activation(values)
    figure, ax = figure_and_axes(ax, (3.2, 3.2))
    height, width = shown.shape
    ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    low, high = color_limits(sign)
    ax.imshow(normalized, cmap=colormap(sign, None), vmin=low, vmax=high, alpha=alpha,
              extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="bilinear")
    bare(ax)
    if title is not None:
        ax.set_title(title)
    return figure


def image_rows(
    rows: Sequence[Iterable[object]],
    *,
    row_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
) -> Figure:
    """Rows of small images: e.g. each channel's top examples (or their receptive-field patches),
    or feature visualizations.

    Args:
        rows: one sequence (or array) of images per row; rows may differ in length.
        row_labels: a label left of each row ("channel 3").
        captions: a caption under each image (its activation).
        title: the figure title.
    """
    rows = [[_display.display_image(image, name="rows") for image in row] for row in rows]
    columns = max(len(row) for row in rows)
    figure = JaxvizFigure(figsize=(columns * 0.9 + 0.9, len(rows) * 1.0 + 0.4),
                          layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, row in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            bare(ax)
            if c >= len(row):
                ax.set_visible(False)
                continue
            ax.imshow(row[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if captions is not None:
                ax.set_xlabel(captions[r][c], fontsize=7)
        if row_labels is not None:
            axes[r][0].set_ylabel(row_labels[r], fontsize=8)
    if title is not None:
        figure.suptitle(title)
    return figure


def top_examples(
    x: object, top, *, channels: Sequence[int] | None = None, patches: object = None,
    title: str | None = None,
) -> Figure:
    """Each channel's top dataset examples (from `jv.top_activating`), one row per channel.

    Args:
        x: the dataset the examples were taken from.
        top: the `TopExamples` result.
        channels: which channels (rows) to show (default the first 8).
        patches: `jv.peak_patches(x, top, field)`, to show each example's receptive-field patch
            around its peak instead of the whole input.
        title: the figure title (default names the layer).
    """
    x = np.asarray(x)
    indices, values = np.asarray(top.indices), np.asarray(top.values)
    chosen = list(range(min(8, indices.shape[0]))) if channels is None else list(channels)
    source = np.asarray(patches) if patches is not None else None
    rows = [source[c] if source is not None else x[indices[c]] for c in chosen]
    captions = [[f"{v:.2g}" for v in values[c]] for c in chosen]
    return image_rows(rows, row_labels=[f"channel {c}" for c in chosen], captions=captions,
                      title=title or f"top examples of {top.layer}")


def projection(
    points: object, labels: object = None, *, class_names: Sequence[str] | None = None,
    title: str | None = None, legend: bool = True, ax: Axes | None = None,
) -> Figure | SubFigure:
    """A 2D projection of a dataset (e.g. `jv.pca(features).projected`), colored by class."""
    points = _display.finite_float_array(points, "points")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points: expected (examples, 2) coordinates, got shape {points.shape}.")
    figure, ax = figure_and_axes(ax, (4.0, 4.0))
    size = float(np.clip(3000 / points.shape[0], 4, 30))  # fewer points, bigger dots
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, color="tab:blue", alpha=0.7, linewidths=0)
    else:
        labels = np.asarray(labels).astype(int)
        if labels.shape != (points.shape[0],):
            raise ValueError(f"labels: expected one class per point ({points.shape[0]}), got "
                             f"shape {labels.shape}.")
        count = max(int(labels.max()) + 1, len(class_names or ()))
        colors = class_colors(count)
        for label in np.unique(labels):
            at = labels == label
            name = class_names[label] if class_names is not None else str(label)
            ax.scatter(points[at, 0], points[at, 1], s=size, color=colors[label], alpha=0.75,
                       linewidths=0, label=name)
        if legend:
            ax.legend(fontsize=7, markerscale=2, frameon=False, loc="center left",
                      bbox_to_anchor=(1.0, 0.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return figure


def layer_projections(
    projections: Mapping[str, object], labels: object = None, *,
    class_names: Sequence[str] | None = None, title: str | None = None,
) -> Figure:
    """Small multiples of `jv.layer_projections`: one panel per layer, so the classes can be seen
    separating with depth."""
    if not projections:
        raise ValueError("projections: expected at least one layer's projection, got none.")
    names = list(projections)
    columns = min(len(names), 4)
    rows = math.ceil(len(names) / columns)
    figure = JaxvizFigure(figsize=(columns * 2.6 + 1.0, rows * 2.6 + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for cell, ax in enumerate(axes.flat):
        if cell >= len(names):
            ax.set_visible(False)
            continue
        projection(projections[names[cell]], labels, class_names=class_names, title=names[cell],
                   legend=False, ax=ax)
    if labels is not None:
        handles, names = axes.flat[0].get_legend_handles_labels()
        figure.legend(handles, names, loc="outside right center", fontsize=8, markerscale=2,
                      frameon=False)
    if title is not None:
        figure.suptitle(title)
    return figure


def clusters(x: object, clustering, *, title: str | None = None) -> Figure:
    """Each cluster of `jv.kmeans` as its prototype (its member nearest its centre) and size."""
    x = np.asarray(x)
    prototypes, sizes = np.asarray(clustering.prototypes), np.asarray(clustering.sizes)
    order = np.argsort(-sizes)
    return image_rows([x[prototypes[order]]],
                      captions=[[f"#{c}: {sizes[c]}" for c in order]],
                      title=title or "cluster prototypes (cluster: size)")
