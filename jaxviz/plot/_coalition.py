"""Views of coalition and relevance explanations: a waterfall, importance bars and a beeswarm of
Shapley values, LIME's surrogate fit, grouped attributions over an image, and LRP's relevance map
with its per-layer conservation readout. `LimeResult.plot`, `ShapleyResult.plot` and
`Relevance.plot` call these."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.cm
import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure, SubFigure

from .. import _display
from .._checks import check_choice, check_positive_int
from ._common import JaxvizFigure, colormap, figure_and_axes
from ._features import _NEGATIVE_END, _POSITIVE_END, _REST_COLOR, _labels, feature_bars
from ._image import attribution as attribution_view

SHAPLEY_KINDS = ("waterfall", "bar", "beeswarm", "image")
LIME_KINDS = ("fit", "bar", "image")
# Feature values colour the beeswarm on a sequential, colour-blind-safe map (shap's red-blue
# "cool" map is not); values beyond these percentiles saturate, so one outlier does not wash out
# a feature's colours.
_VALUE_COLORMAP = "viridis"
_VALUE_PERCENTILES = (5, 95)


def _signed_colors(heights: Sequence[float]) -> list:
    signed = colormap("all", None)
    return [signed(_POSITIVE_END if h >= 0 else _NEGATIVE_END) for h in heights]


def _top(scores: np.ndarray, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `top_k` largest |scores| (stable, so ties keep feature order) and the rest."""
    top_k = scores.size if top_k is None else check_positive_int("top_k", top_k)
    order = np.argsort(-np.abs(scores), kind="stable")
    return order[:top_k], order[top_k:]


def _others(count: int) -> str:
    return f"{count} other feature{'s' if count > 1 else ''}"


def _plain(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def waterfall(
    values: object,
    base: float,
    *,
    features: object = None,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = 10,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """One example's Shapley values as a waterfall (shap's `waterfall` plot); return the figure.

    The walk starts at the base value (the model's expected output over the background, or its
    output at the baseline) at the bottom and adds one feature's value per row, smallest at the
    bottom, largest on top, to end at the model's output f(x): red rows push the output up,
    blue rows down. The features beyond `top_k` are summed in one gray row, so the walk still
    ends at f(x) = base + sum(values) (efficiency).

    Args:
        values: the Shapley value of each feature (or group), (features,), e.g.
            `result.values[0]`.
        base: the value of the empty coalition, e.g. `result.base[0]`.
        features: the example's feature values, (features,), shown beside the names.
        feature_names: one name per feature; default "feature 0", ...
        top_k: how many features get their own row; None: every feature.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the chart.
    """
    scores = _display.finite_float_array(values, "values")
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            f"values: expected one example's values, (features,), got shape {scores.shape}."
        )
    base = float(base)
    names = _named(scores, features, feature_names)
    shown, rest = _top(scores, top_k)
    # Bottom to top: the rest (if any), then the shown features from the smallest to the largest.
    rows = [(_others(rest.size), float(scores[rest].sum()))] if rest.size else []
    rows += [(names[i], float(scores[i])) for i in shown[::-1]]
    heights = [h for _, h in rows]
    starts = base + np.concatenate([[0.0], np.cumsum(heights)[:-1]])
    output = base + float(scores.sum())

    figure, ax = figure_and_axes(ax, (6.4, 1.2 + 0.34 * len(rows)))
    colors = _signed_colors(heights)
    if rest.size:
        colors[0] = _REST_COLOR
    positions = np.arange(len(rows))
    ax.barh(positions, heights, left=starts, color=colors, height=0.7)
    span = max(abs(output - base), max(abs(h) for h in heights), 1e-12)
    for position, start, height in zip(positions, starts, heights, strict=True):
        end = start + height
        ax.annotate(
            f"{height:+.3g}",
            (max(start, end), position),
            xytext=(3, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=8,
        )
        if position + 1 < len(rows):  # the connector to the next row's start
            ax.plot([end, end], [position, position + 1], color="0.55", linewidth=0.6)
    ax.set_yticks(positions, [name for name, _ in rows])
    ax.set_ylim(-0.8, len(rows) - 0.2)
    for at, label, style in ((base, "base", ":"), (output, "f(x)", "-")):
        ax.axvline(at, color="0.3", linewidth=0.8, linestyle=style)
        ax.annotate(label, (at, 1), xycoords=("data", "axes fraction"), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.set_xlim(
        min(base, output, *starts, *(starts + heights)) - 0.08 * span,
        max(base, output, *starts, *(starts + heights)) + 0.25 * span,
    )
    ax.set_xlabel(f"model output  (base = {base:.3g}  →  f(x) = {output:.3g})")
    _plain(ax)
    if title is not None:
        ax.set_title(title)
    return figure


def _named(scores: np.ndarray, features: object, feature_names) -> list[str]:
    names = _labels("feature_names", feature_names, scores.size, "feature")
    if features is None:
        return names
    shown = _display.finite_float_array(features, "features")
    if shown.shape != scores.shape:
        raise ValueError(
            f"features: expected one value per feature, shape {scores.shape}, got {shown.shape}."
        )
    return [f"{name} = {value:.4g}" for name, value in zip(names, shown, strict=True)]


def _batch_of_values(values: object) -> np.ndarray:
    scores = _display.finite_float_array(values, "values")
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(
            "values: expected the values of a batch, (examples, features), "
            f"got shape {scores.shape}."
        )
    return scores


def importance(
    values: object,
    *,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = 10,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """The mean |value| of each feature over a batch (shap's global `bar` plot), largest on top.

    Args:
        values: (examples, features) attributions, e.g. `result.values`.
        feature_names, top_k, title, ax: as in `feature_bars` (the features beyond `top_k` are
            summed in one gray bar).

    Returns:
        The matplotlib figure holding the chart.
    """
    scores = _batch_of_values(values)
    mean = np.abs(scores).mean(axis=0)
    names = _labels("feature_names", feature_names, mean.size, "feature")
    shown, rest = _top(mean, top_k)
    heights = list(mean[shown]) + ([float(mean[rest].sum())] if rest.size else [])
    labels = [names[i] for i in shown] + ([_others(rest.size)] if rest.size else [])
    figure, ax = figure_and_axes(ax, (6.4, 0.9 + 0.32 * len(heights)))
    positions = np.arange(len(heights))
    color = colormap("all", None)(_POSITIVE_END)
    ax.barh(positions, heights, color=[color] * len(shown) + [_REST_COLOR] * bool(rest.size))
    for position, height in zip(positions, heights, strict=True):
        ax.annotate(
            f"{height:.3g}", (height, position), xytext=(3, 0), textcoords="offset points",
            va="center", fontsize=8,
        )  # fmt: skip
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set_xlabel(f"mean |attribution| over {scores.shape[0]} examples")
    _plain(ax)
    if title is not None:
        ax.set_title(title)
    return figure


def _swarm_offsets(points: np.ndarray, bins: int = 60, spread: float = 0.4) -> np.ndarray:
    """Vertical offsets that stack points with nearly equal x (shap's beeswarm layout): the
    points of each of `bins` bins along x alternate above and below the row, the fullest bin
    reaching `spread`."""
    low, high = points.min(), points.max()
    which = np.floor((points - low) / max(high - low, 1e-12) * (bins - 1)).astype(int)
    offsets = np.zeros_like(points)
    fullest = max(np.bincount(which).max(), 2)
    step = spread / ((fullest + 1) // 2)
    for b in np.unique(which):
        members = np.flatnonzero(which == b)
        k = np.arange(members.size)
        offsets[members] = np.where(k % 2 == 0, 1, -1) * ((k + 1) // 2) * step
    return offsets


def beeswarm(
    values: object,
    features: object,
    *,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = 10,
    cmap: str | matplotlib.colors.Colormap = _VALUE_COLORMAP,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """Every example's value of every feature, one row per feature, ordered by mean |value|
    (shap's `beeswarm` summary), each dot coloured by that example's value of the feature.

    Args:
        values: (examples, features) attributions, e.g. `result.values`.
        features: (examples, features) the examples' feature values, e.g. `x`; each feature's
            colours run from its 5th to its 95th percentile (beyond saturates).
        feature_names, top_k, title, ax: as in `importance` (features beyond `top_k` are left
            out; the x-axis label says how many).
        cmap: a sequential colormap for the feature values (default the colour-blind-safe
            "viridis": dark low, yellow high).

    Returns:
        The matplotlib figure holding the chart.
    """
    scores = _batch_of_values(values)
    shown_values = _display.finite_float_array(features, "features")
    if shown_values.shape != scores.shape:
        raise ValueError(
            f"features: expected the shape of values {scores.shape} (one value per example and "
            f"feature), got shape {shown_values.shape}."
        )
    names = _labels("feature_names", feature_names, scores.shape[1], "feature")
    shown, rest = _top(np.abs(scores).mean(axis=0), top_k)
    colors = colormap("absolute", cmap)
    figure, ax = figure_and_axes(ax, (7.0, 1.2 + 0.42 * shown.size))
    for row, feature in enumerate(shown):
        points = scores[:, feature]
        low, high = np.percentile(shown_values[:, feature], _VALUE_PERCENTILES)
        level = np.clip((shown_values[:, feature] - low) / max(high - low, 1e-12), 0, 1)
        ax.scatter(
            points, row + _swarm_offsets(points), c=level, cmap=colors, vmin=0, vmax=1, s=14,
            linewidths=0, alpha=0.9,
        )  # fmt: skip
    ax.axvline(0, color="0.4", linewidth=0.8)
    ax.set_yticks(np.arange(shown.size), [names[i] for i in shown])
    ax.set_ylim(shown.size - 0.5, -0.5)
    hidden = f"; {_others(rest.size)} not shown" if rest.size else ""
    ax.set_xlabel(f"attribution (one dot per example, {scores.shape[0]} examples{hidden})")
    _plain(ax)
    levels = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, 1), colors)
    colorbar = figure.colorbar(levels, ax=ax, ticks=[0, 1], aspect=30, pad=0.02)
    colorbar.ax.set_yticklabels(["low", "high"])
    colorbar.set_label("feature value")
    if title is not None:
        ax.set_title(title)
    return figure


def lime_fit(
    result, *, index: int = 0, class_index: int | None = None, title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:  # fmt: skip
    """LIME's surrogate against the model on the coalitions it was fitted to: one dot per sampled
    coalition, the model's value across, the surrogate's prediction (intercept + coefficients of
    the present groups) up, the dot's size and colour its kernel weight. On the diagonal, the
    surrogate explains the model; the title gives the weighted R^2 and the kernel width.

    Args:
        result: a `LimeResult` from `jaxviz.lime(..., return_samples=True)`.
        index: the example.
        class_index: the class, for a result of target="all".
        title: the axes title (default: R^2 and the kernel width).
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the chart.
    """
    if result.samples is None:
        raise ValueError(
            "result: holds no samples; compute it with jaxviz.lime(..., return_samples=True) "
            "to draw the surrogate's fit."
        )
    every_class = np.ndim(result.coefficients) == 3
    pick = _picker(result.coefficients.shape[0], every_class, index, class_index)
    samples = result.samples
    coalitions = np.asarray(samples.coalitions[index], np.float32)
    weights = np.asarray(samples.weights[index], np.float32)
    model_values = pick(samples.values)
    surrogate = coalitions @ pick(result.coefficients) + float(pick(result.intercept))
    r2 = float(pick(result.r2))

    figure, ax = figure_and_axes(ax, (4.8, 4.2))
    order = np.argsort(weights)  # the heaviest on top
    relative = weights / max(weights.max(), 1e-30)
    dots = ax.scatter(
        model_values[order], surrogate[order], c=relative[order], s=8 + 40 * relative[order],
        cmap=colormap("absolute", None), vmin=0, vmax=1, linewidths=0,
    )  # fmt: skip
    ends = [min(model_values.min(), surrogate.min()), max(model_values.max(), surrogate.max())]
    ax.plot(ends, ends, color="0.3", linewidth=0.8, linestyle="--", label="surrogate = model")
    ax.set_xlabel("model's value on the coalition")
    ax.set_ylabel("surrogate's prediction")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    colorbar = figure.colorbar(dots, ax=ax, aspect=30, pad=0.02)
    colorbar.set_label("kernel weight (of the largest)")
    _plain(ax)
    ax.set_title(
        title
        or f"LIME fit: weighted R² = {r2:.3f}, kernel width {samples.kernel_width:.3g}\n"
        f"{coalitions.shape[0]} coalitions of {coalitions.shape[1]} groups"
    )
    return figure


def _outline_segments(groups: np.ndarray) -> np.ndarray:
    """Line segments (n, 2, 2) in pixel coordinates between neighbouring pixels of different
    groups: the groups' outlines, drawn between pixels so they hide none."""
    rows, cols = np.nonzero(groups[:, 1:] != groups[:, :-1])
    vertical = [[(c + 0.5, r - 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows, cols, strict=True)]
    rows, cols = np.nonzero(groups[1:, :] != groups[:-1, :])
    horizontal = [[(c - 0.5, r + 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows, cols, strict=True)]
    return np.asarray(vertical + horizontal, np.float32).reshape(-1, 2, 2)


def grouped_attribution(
    image: object,
    attribution: object,
    groups: object,
    *,
    sign: str = "all",
    cmap: str | matplotlib.colors.Colormap | None = None,
    alpha: float = 0.6,
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """Attributions of feature groups (superpixels, grid cells) drawn over the image, with each
    group's outline: every pixel of a group carries the group's value.

    Args:
        image: the input, one example (H, W[, C]).
        attribution: its attribution, (H, W) or (H, W, C) (a group covering whole pixels has
            the same value in every channel: its mean over channels is drawn, the group's value).
        groups: the segmentation, (H, W) integer labels (e.g. `jaxviz.grid_segments` or one
            example of `jaxviz.superpixels`).
        sign, cmap, alpha, colorbar, title, ax: as in `jaxviz.plot.attribution`.

    Returns:
        The matplotlib figure holding the drawing.
    """
    labels = np.asarray(groups)
    values = _display.finite_float_array(attribution, "attribution")
    if values.ndim == 3:
        values = values.mean(axis=-1)
    if labels.ndim == 3 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != values.shape:
        raise ValueError(
            f"groups: expected one label per pixel, shape {values.shape}, got {labels.shape}."
        )
    figure = attribution_view(
        image, values, sign=sign, cmap=cmap, alpha=alpha, colorbar=colorbar, title=title, ax=ax,
        clip_percentile=100.0,
    )  # fmt: skip
    ax = ax or figure.axes[0]
    ax.add_collection(LineCollection(list(_outline_segments(labels)), colors="0.1", linewidths=0.8))
    return figure


def relevance(
    attribution: object,
    layers: dict,
    image: object = None,
    *,
    title: str | None = None,
) -> Figure:
    """One example's LRP relevance beside the conservation readout: the total relevance at the
    input, at each layer's output (forward order) and at the explained score, as a share of the
    score. Conserving rules keep every bar at 100%; biases and epsilon take relevance away
    (bars below), and a rule or operation that is not conserving shows as a bar off 100%.

    Args:
        attribution: the relevance of one example, shaped like the input (H, W[, C]) or
            (features,).
        layers: {"input": total, layer: total, ..., "output": score}, one example's totals
            (e.g. from `Relevance.layers`).
        image: the input example the map is drawn over (images), or None.
        title: the figure's title.

    Returns:
        The matplotlib figure: the map (or feature bars) left, the readout right.
    """
    totals = {name: float(np.asarray(v)) for name, v in layers.items()}
    if "output" not in totals:
        raise ValueError(
            f"layers: expected the totals of Relevance.layers, with 'output', got {list(totals)}."
        )
    values = _display.finite_float_array(attribution, "attribution")
    figure = JaxvizFigure(figsize=(9.6, max(3.4, 0.9 + 0.36 * len(totals))), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1.1, 1])
    if values.ndim == 1:
        feature_bars(values, image, title="relevance", ax=left)
    else:
        attribution_view(
            image, values, style="heat_map" if image is None else "blended_heat_map",
            sign="all", alpha=0.7, title="relevance", ax=left,
        )  # fmt: skip
    output = totals["output"]
    names = list(totals)
    # A zero score has no shares: the bars then stay empty and the totals still show.
    shares = np.array([100 * totals[n] / output if output != 0 else 0.0 for n in names])
    positions = np.arange(len(names))
    right.barh(positions, shares, color=_signed_colors(shares.tolist()))
    right.axvline(100, color="0.3", linewidth=0.8, linestyle="--")
    for position, name in zip(positions, names, strict=True):
        right.annotate(
            f"{shares[position]:.1f}%  ({totals[name]:.4g})", (max(shares[position], 0), position),
            xytext=(3, 0),
            textcoords="offset points", va="center", fontsize=8,
        )  # fmt: skip
    right.set_yticks(positions, names)
    right.invert_yaxis()
    right.margins(x=0.2)
    right.set_xlabel("total relevance, % of the explained score")
    right.set_title("conservation, layer by layer")
    _plain(right)
    if title is not None:
        figure.suptitle(title)
    return figure


# -- the results' .plot -----------------------------------------------------------------------


def _picker(batch: int, every_class: bool, index, class_index):
    """A function taking a result array's entry for example `index` (and class `class_index`,
    for results of target="all") as NumPy."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < batch:
        raise ValueError(f"index: expected an example in [0, {batch - 1}], got {index!r}.")
    if every_class and class_index is None:
        raise ValueError(
            "class_index: the result holds every class (target='all'); pick one, e.g. "
            "class_index=0."
        )
    if not every_class and class_index is not None:
        raise ValueError(
            f"class_index: the result holds one class per example, got class_index={class_index}; "
            "leave it out (it is for results of target='all')."
        )

    def pick(array):
        entry = np.asarray(array[index])
        return entry if class_index is None else entry[class_index]

    return pick


def _image_of(image, groups, index: int):
    if image is None or groups is None:
        raise ValueError(
            "image, groups: kind='image' draws the values over the input with the groups' "
            "outlines; pass image=x[index] and groups= (the segmentation the result used)."
        )
    groups, image = np.asarray(groups), np.asarray(image)
    per_example = groups.ndim == 3 and groups.shape[1:] == image.shape[:2]
    return image, groups[index] if per_example else groups


def plot_shapley(result, kind: str, *, index=0, class_index=None, feature_names=None,
                 features=None, image=None, groups=None, **options):  # fmt: skip
    check_choice("kind", kind, SHAPLEY_KINDS)
    every_class = np.ndim(result.values) == 3
    if kind == "beeswarm" or (kind == "bar" and index is None):
        values = np.asarray(result.values)
        if every_class:
            _picker(values.shape[0], True, 0, class_index)
            values = values[:, class_index]
        if kind == "bar":
            return importance(values, feature_names=feature_names, **options)
        if features is None:
            raise ValueError("features: kind='beeswarm' colours by feature value; pass features=x.")
        return beeswarm(values, np.asarray(features).reshape(values.shape[0], -1),
                        feature_names=feature_names, **options)  # fmt: skip
    pick = _picker(result.values.shape[0], every_class, index, class_index)
    if kind == "waterfall":
        return waterfall(pick(result.values), float(pick(result.base)), features=features,
                         feature_names=feature_names, **options)  # fmt: skip
    if kind == "bar":
        return feature_bars(pick(result.values), features, feature_names=feature_names, **options)
    image, labels = _image_of(image, groups, index)
    return grouped_attribution(image, pick(result.attributions), labels, **options)


def plot_lime(result, kind: str, *, index=0, class_index=None, feature_names=None,
              features=None, image=None, groups=None, **options):  # fmt: skip
    check_choice("kind", kind, LIME_KINDS)
    if kind == "fit":
        return lime_fit(result, index=index, class_index=class_index, **options)
    every_class = np.ndim(result.coefficients) == 3
    pick = _picker(result.coefficients.shape[0], every_class, index, class_index)
    if kind == "bar":
        return feature_bars(pick(result.coefficients), features, feature_names=feature_names,
                            **options)  # fmt: skip
    image, labels = _image_of(image, groups, index)
    return grouped_attribution(image, pick(result.attributions), labels, **options)


def plot_relevance(result, image=None, *, index=0, class_index=None, **options):
    every_class = np.ndim(result.layers["output"]) == 2
    pick = _picker(result.attribution.shape[0], every_class, index, class_index)
    layers = {name: pick(total) for name, total in result.layers.items()}
    return relevance(pick(result.attribution), layers, image, **options)
