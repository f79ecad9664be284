"""Attributions of vector inputs: a bar chart per feature, and a colored strip per position."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator

from .. import _display
from .._checks import check_choice, check_positive_int
from ._common import bare, color_limits, colormap, figure_and_axes, scaled_colorbar

# Bars take the ends of the signed colormap, so red/blue mean positive/negative as in the maps.
_POSITIVE_END, _NEGATIVE_END = 0.85, 0.15
_REST_COLOR = matplotlib.colors.to_rgba("0.7")  # light gray
# Tokens longer than this are cut with an ellipsis so they fit their cell.
_TOKEN_CHARS = 10


def _one_vector(attribution: object) -> np.ndarray:
    scores = _display.finite_float_array(attribution, "attribution")
    if scores.ndim != 1 or scores.size == 0:
        hint = " It has a batch axis: pass one example, e.g. attr[0]." if scores.ndim == 2 else ""
        raise ValueError(
            "attribution: expected one example's attributions shaped (features,), "
            f"got shape {scores.shape}.{hint}"
        )
    return scores


def _labels(name: str, labels: Sequence[object] | None, count: int, default: str) -> list[str]:
    if labels is None:
        return [f"{default} {i}" for i in range(count)]
    if isinstance(labels, str) or len(labels) != count:
        seen = "a string" if isinstance(labels, str) else f"{len(labels)} entries"
        raise ValueError(f"{name}: expected one entry per position ({count}), got {seen}.")
    return [str(label) for label in labels]


def feature_bars(
    attribution: object,
    values: object = None,
    *,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = 10,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """A horizontal bar per feature, largest |attribution| on top; return the figure.

    Args:
        attribution: one example's attributions, shaped (features,), e.g. `attr[0]`.
        values: the example's feature values, (features,), shown beside the names
            ("petal length = 5.1"), e.g. `x[0]`.
        feature_names: one name per feature; default "feature 0", "feature 1", ...
        top_k: how many features get their own bar; the others are summed into one gray bar
            ("12 other features"), so the bars still add up to the total. None: every feature.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the chart.
    """
    scores = _one_vector(attribution)
    count = scores.size
    names = _labels("feature_names", feature_names, count, "feature")
    if values is not None:
        shown_values = _display.finite_float_array(values, "values")
        if shown_values.shape != scores.shape:
            raise ValueError(
                f"values: expected the shape of attribution {scores.shape}, "
                f"got shape {shown_values.shape}."
            )
        names = [f"{name} = {value:.4g}" for name, value in zip(names, shown_values, strict=True)]
    top_k = None if top_k is None else check_positive_int("top_k", top_k)
    # A stable sort keeps ties in feature order, so the chart is reproducible.
    order = np.argsort(-np.abs(scores), kind="stable")
    shown, rest = order[: top_k or count], order[top_k or count :]
    heights = list(scores[shown])
    labels = [names[i] for i in shown]
    signed = colormap("all", None)
    colors = [signed(_POSITIVE_END if h >= 0 else _NEGATIVE_END) for h in heights]
    if rest.size:
        heights.append(float(scores[rest].sum()))
        labels.append(f"{rest.size} other feature{'s' if rest.size > 1 else ''}")
        colors.append(_REST_COLOR)

    figure, ax = figure_and_axes(ax, (6.4, 0.8 + 0.32 * len(heights)))
    positions = np.arange(len(heights))
    ax.barh(positions, heights, color=colors, height=0.7)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()  # the largest on top
    ax.axvline(0, color="0.3", linewidth=0.8)
    for position, height in zip(positions, heights, strict=True):
        ax.annotate(
            f"{height:+.3g}",
            (height, position),
            xytext=(3 if height >= 0 else -3, 0),
            textcoords="offset points",
            ha="left" if height >= 0 else "right",
            va="center",
            fontsize=8,
        )
    ax.margins(x=0.18)  # room for the value labels at the bars' ends
    ax.set_xlabel("attribution")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is not None:
        ax.set_title(title)
    return figure


def _text_color(cmap: matplotlib.colors.Colormap, fraction: float) -> str:
    red, green, blue, _ = cmap(fraction)
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.45 else "black"


def sequence(
    attribution: object,
    tokens: Sequence[str] | None = None,
    *,
    sign: str = "all",
    clip_percentile: float = _display.DEFAULT_CLIP_PERCENTILE,
    channel_reduction: str = "sum",
    cmap: str | matplotlib.colors.Colormap | None = None,
    per_row: int | None = None,
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """Attributions over positions (tokens, time steps) as a strip of colored cells.

    Args:
        attribution: one example, (positions,) or (positions, features) (e.g. token
            embeddings; the features are reduced with `channel_reduction`).
        tokens: one string per position, written in its cell (cut to 10 characters).
        sign: "all" (default: signed, diverging around 0), "positive", "negative", "absolute".
        clip_percentile, channel_reduction, cmap: as in `jv.plot.attribution`.
        per_row: cells per row before wrapping; default 12 with tokens, all in one row without.
        colorbar: add a colorbar below, its ticks in attribution units.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the strip.
    """
    check_choice("sign", sign, _display.SIGNS)
    _display.check_sign_for_reduction(sign, channel_reduction)
    values = _display.finite_float_array(attribution, "attribution")
    if values.ndim == 2:
        values = _display.reduce_channels(values, channel_reduction)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            "attribution: expected one example shaped (positions,) or (positions, features), "
            f"got shape {values.shape}."
        )
    length = values.size
    labels = None if tokens is None else _labels("tokens", tokens, length, "token")
    if per_row is None:
        per_row = length if labels is None else min(length, 12)
    per_row = check_positive_int("per_row", per_row)
    scale = _display.attribution_scale(values, sign=sign, clip_percentile=clip_percentile)
    normalized = _display.normalize_attribution(values, sign=sign, scale=scale)

    rows = math.ceil(length / per_row)
    cells = np.full(rows * per_row, np.nan, np.float32)
    cells[:length] = normalized
    # Padding after the last position stays blank (masked), not colored as zero.
    cells = np.ma.masked_invalid(cells.reshape(rows, per_row))
    cell_width = 0.8 if labels is not None else min(0.4, 9 / per_row)
    width = max(3.0, per_row * cell_width + 0.4)
    # Room for the title, the cells, the position axis (without tokens) and the colorbar.
    height = 0.5 + 0.45 * rows + 0.5 * (labels is None) + 0.8 * colorbar
    figure, ax = figure_and_axes(ax, (width, height))
    low, high = color_limits(sign)
    cmap = colormap(sign, cmap)
    heat = ax.imshow(cells, cmap=cmap, vmin=low, vmax=high, aspect="auto")
    if labels is not None:
        bare(ax)
        for position, label in enumerate(labels):
            row, column = divmod(position, per_row)
            text = label if len(label) <= _TOKEN_CHARS else label[: _TOKEN_CHARS - 1] + "…"
            fraction = (normalized[position] - low) / (high - low)
            ax.text(
                column, row, text, ha="center", va="center", fontsize=9,
                color=_text_color(cmap, fraction),
            )  # fmt: skip
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if rows == 1:
            ax.set_yticks([])
            ax.set_xlabel("position")
        else:  # each row is labelled with the position it starts at
            ax.set_yticks(np.arange(rows), [str(row * per_row) for row in range(rows)])
            ax.set_xlabel("position in row")
    if labels is not None or per_row <= 50:  # thin white lines between cells, where they fit
        ax.set_xticks(np.arange(per_row + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        # About 3 inches long and 0.12 thick, however wide the strip.
        shrink = min(0.9, 3.0 / width)
        scaled_colorbar(
            figure,
            heat,
            ax,
            values=values,
            sign=sign,
            scale=scale,
            location="bottom",
            shrink=shrink,
            aspect=shrink * width / 0.12,
        )
    return figure
