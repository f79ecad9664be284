"""Pieces every jv.plot renderer shares: figures, colormaps, scaled colorbars.

Figures are built without pyplot (`JaxvizFigure`, a `matplotlib.figure.Figure`): nothing is
registered with pyplot, so a notebook shows the returned figure once, as the cell's value
(a pyplot figure would also be shown by the inline backend: twice), and nothing leaks between
calls.
"""

from __future__ import annotations

import io

import matplotlib.colors
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FuncFormatter

from .. import _display

# What a colorbar's values mean for each sign (the map shows the filtered part's magnitude for
# every sign but "all").
_COLORBAR_LABELS = {
    "all": "attribution",
    "positive": "positive attribution",
    "negative": "negative attribution",
    "absolute": "|attribution|",
}


def figure_png(figure: Figure | SubFigure) -> bytes:
    """The figure as PNG bytes, cropped to what is drawn (as notebooks show figures)."""
    buffer = io.BytesIO()
    figure.get_figure(root=True).savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class JaxvizFigure(Figure):
    """A matplotlib Figure that a notebook shows as PNG by itself.

    A plain Figure made without pyplot only displays once some pyplot backend has registered a
    formatter for it (after `%matplotlib inline` or any pyplot call); this one always does.
    """

    def _repr_png_(self) -> bytes:
        return figure_png(self)


def figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float]
) -> tuple[Figure | SubFigure, Axes]:
    """The given `ax` and its figure, or a new constrained-layout figure with one axes."""
    if ax is None:
        figure = JaxvizFigure(figsize=figsize, layout="constrained")
        return figure, figure.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}.")
    figure = ax.get_figure()
    if figure is None:
        raise ValueError("ax: this Axes belongs to no figure; pass an Axes from a figure.")
    return figure, ax


def colormap(
    sign: str, cmap: str | matplotlib.colors.Colormap | None
) -> matplotlib.colors.Colormap:
    """The user's `cmap`, or the colorblind-safe default for `sign` (see `_display`)."""
    if cmap is None:
        return colormaps[_display.DEFAULT_COLORMAPS[sign]]
    if isinstance(cmap, matplotlib.colors.Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in colormaps:
        return colormaps[cmap]
    raise ValueError(
        "cmap: expected a matplotlib colormap name such as 'viridis' or 'RdBu_r' (see "
        f"matplotlib.colormaps), a Colormap, or None for the default, got {cmap!r}."
    )


def color_limits(sign: str) -> tuple[float, float]:
    """The range `_display.normalize_attribution` maps to for `sign`."""
    return (-1.0, 1.0) if sign == "all" else (0.0, 1.0)


def bare(ax: Axes) -> None:
    """No ticks and no frame for an image axes (labels and titles still show)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def scaled_colorbar(
    figure: Figure | SubFigure,
    mappable,
    axes,
    *,
    values: np.ndarray,
    sign: str,
    scale: float,
    location: str = "right",
    shrink: float = 0.9,
    aspect: float | None = None,
    units: str | None = None,
):
    """A colorbar for a normalized map, its ticks labelled in attribution units.

    The map was divided by `scale`, so a tick at t reads t * scale (negated for sign
    "negative", whose map holds magnitudes of negative values). Where outlier clipping
    saturated some of the `values` drawn, the colorbar gets arrow ends. Its label says what
    is shown and, given `units`, in what ("attribution (logit units)").
    """
    saturated = _display.is_saturated(values, sign=sign, scale=scale)
    extend = ("both" if sign == "all" else "max") if saturated else "neither"
    colorbar = figure.colorbar(
        mappable,
        ax=axes,
        location=location,
        extend=extend,
        shrink=shrink,
        aspect=aspect or (25 if location == "right" else 15),
    )
    factor = -scale if sign == "negative" else scale
    # "+ 0.0" turns -0.0 into 0.0, so the zero tick never reads "-0".
    colorbar.formatter = FuncFormatter(lambda tick, _: f"{tick * factor + 0.0:.2g}")
    low, high = color_limits(sign)
    colorbar.set_ticks([low, (low + high) / 2, high])
    label = _COLORBAR_LABELS[sign]
    colorbar.set_label(label if units is None else f"{label} ({units})")
    return colorbar
