"""Image attributions: one map drawn five ways (`attribution`), and a methods grid (`grid`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from .. import _display
from .._checks import check_choice
from .._deprecation import deprecated_arguments
from ._common import (
    JaxvizFigure,
    bare,
    color_limits,
    colormap,
    figure_and_axes,
    scaled_colorbar,
)

STYLES = ("heat_map", "blended_heat_map", "masked_image", "alpha_scaling")
"""How an image attribution is drawn (Captum's names, so their users find them):
"heat_map" (the map alone), "blended_heat_map" (the map, half transparent, over the input in
grayscale), "masked_image" (the input times the map: black where the attribution is low),
"alpha_scaling" (the map as the input's opacity). `image` draws the input alone."""

SCALES = ("shared", "per_method")
"""How `grid` scales colors: one scale for every map, or one per method (column)."""

# A map in [0, 1] multiplies or fades the input; a signed map cannot.
_UNSIGNED_STYLES = ("masked_image", "alpha_scaling")


def _check_style_and_sign(style: str, sign: str) -> None:
    check_choice("style", style, STYLES)
    check_choice("sign", sign, _display.SIGNS)
    if style in _UNSIGNED_STYLES and sign == "all":
        raise ValueError(
            f"sign: style={style!r} needs one sign (the map becomes a mask in [0, 1]), but "
            "'all' keeps both; use 'absolute', 'positive' or 'negative'."
        )


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}.")
    return float(alpha)


def _as_rgb(shown: np.ndarray) -> np.ndarray:
    return shown if shown.ndim == 3 else np.repeat(shown[..., None], 3, axis=-1)


def _draw(
    ax: Axes,
    shown: np.ndarray | None,
    normalized: np.ndarray,
    *,
    style: str,
    sign: str,
    cmap: matplotlib.colors.Colormap,
    alpha: float,
):
    """Draw one cell; return the heat map's image (for a colorbar), or None if it has none."""
    low, high = color_limits(sign)
    if style == "heat_map":
        return ax.imshow(normalized, cmap=cmap, vmin=low, vmax=high)
    assert shown is not None, "the callers pass the input to every style but 'heat_map'"
    if style == "blended_heat_map":
        # The input in gray under the colors, so its own colors cannot be read as attribution.
        ax.imshow(_display.to_grayscale(shown), cmap="gray", vmin=0, vmax=1)
        return ax.imshow(normalized, cmap=cmap, vmin=low, vmax=high, alpha=alpha)
    if style == "masked_image":
        ax.imshow(_as_rgb(shown) * normalized[..., None])
        return None
    # alpha_scaling: drawn over the axes' background where the attribution is low.
    ax.imshow(np.concatenate([_as_rgb(shown), normalized[..., None]], axis=-1))
    return None


def _draw_input(ax: Axes, shown: np.ndarray) -> None:
    ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
    bare(ax)


def image(image: object, *, title: str | None = None, ax: Axes | None = None) -> Figure | SubFigure:
    """Draw an input as jaxviz shows it (any normalization, see `_display.display_image`).

    Args:
        image: one example, (H, W), (H, W, 1) or (H, W, 3), numpy or jax.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the drawing.
    """
    shown = _display.display_image(image)
    height, width = shown.shape[:2]
    figure, ax = figure_and_axes(ax, (3.6 * width / height, 3.6))
    _draw_input(ax, shown)
    if title is not None:
        ax.set_title(title)
    return figure


@deprecated_arguments(renamed={"method": "style"})
def attribution(
    image: object,
    attribution: object,
    *,
    style: str = "blended_heat_map",
    sign: str = "absolute",
    clip_percentile: float = _display.DEFAULT_CLIP_PERCENTILE,
    channel_reduction: str = "sum",
    cmap: str | matplotlib.colors.Colormap | None = None,
    alpha: float = 0.5,
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """Draw one image attribution; return the figure (never shown: a notebook shows it as the
    cell's value).

    Args:
        image: the input, one example: (H, W), (H, W, 1) or (H, W, 3), numpy or jax, any
            normalization (uint8, float 0-1, standardized; see `jaxviz._display.display_image`).
            May be None for style "heat_map".
        attribution: its attribution, (H, W) or (H, W, C), e.g. `jv.saliency(m, x)[0]`.
        style: how the map is drawn, one of `STYLES`: "heat_map", "blended_heat_map",
            "masked_image", "alpha_scaling" (Captum's `method` names).
        sign: "positive", "negative", "absolute" or "all" (signed, on a diverging colormap
            around 0). "masked_image" and "alpha_scaling" need one sign.
        clip_percentile: magnitudes above this percentile of the shown nonzero magnitudes
            saturate (100: scale by the maximum).
        channel_reduction: "sum", "abs_sum" or "l2" over the attribution's channels.
        cmap: a matplotlib colormap; default the colorblind-safe one for `sign`
            ("RdBu_r" for "all", "Reds" / "Blues" for one sign, "viridis" for "absolute").
        alpha: the heat map's opacity over the input in "blended_heat_map".
        colorbar: add a colorbar (heat map styles), its ticks in attribution units.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the drawing (`ax`'s figure when `ax` is given).

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> x = data.x_test[:2]
    >>> fig = jv.plot.attribution(x[0], jv.integrated_gradients(m, x)[0], sign="all")
    >>> len(fig.axes)                  # the map and its colorbar
    2
    """
    _check_style_and_sign(style, sign)
    _display.check_sign_for_reduction(sign, channel_reduction)
    alpha = _check_alpha(alpha)
    shown = None if image is None else _display.display_image(image)
    if shown is None and style != "heat_map":
        raise ValueError(
            f"image: None, but style={style!r} draws the input; pass the input image, "
            "or use style='heat_map'."
        )
    values = _display.attribution_map(
        attribution,
        reduction=channel_reduction,
        image_size=None if shown is None else shown.shape[:2],
    )
    height, width = values.shape
    scale = _display.attribution_scale(values, sign=sign, clip_percentile=clip_percentile)
    normalized = _display.normalize_attribution(values, sign=sign, scale=scale)

    side = 3.6
    figure, ax = figure_and_axes(ax, (side * width / height + (0.9 if colorbar else 0), side))
    heat = _draw(
        ax, shown, normalized, style=style, sign=sign, cmap=colormap(sign, cmap), alpha=alpha
    )
    bare(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar and heat is not None:
        scaled_colorbar(figure, heat, ax, values=values, sign=sign, scale=scale)
    return figure


def _batch_of_images(images: object) -> list[np.ndarray]:
    array = _display.numeric_array(images, "images")
    if array.ndim not in (3, 4):
        raise ValueError(
            "images: expected a batch shaped (N, H, W) or (N, H, W, C), channels last, got "
            f"shape {array.shape}. For one example, pass x[:1] or x[None]."
        )
    return [_display.display_image(one, name=f"images[{i}]") for i, one in enumerate(array)]


def _batch_of_maps(
    name: str, attributions: object, shown: Sequence[np.ndarray], reduction: str
) -> np.ndarray:
    label = f"attributions[{name!r}]"
    array = _display.numeric_array(attributions, label)
    if array.ndim not in (3, 4) or array.shape[0] != len(shown):
        hint = (
            " It has a class axis (target='all'): pick one class, e.g. attr[:, 3]."
            if array.ndim == 5
            else ""
        )
        raise ValueError(
            f"{label}: expected shape (N, H, W) or (N, H, W, C) with N={len(shown)} like "
            f"images, got shape {array.shape}.{hint}"
        )
    return np.stack(
        [
            _display.attribution_map(
                one, reduction=reduction, image_size=image.shape[:2], name=f"{label}[{i}]"
            )
            for i, (one, image) in enumerate(zip(array, shown, strict=True))
        ]
    )


@deprecated_arguments(renamed={"method": "style"})
def grid(
    images: object,
    attributions: Mapping[str, object],
    *,
    style: str = "heat_map",
    sign: str = "absolute",
    scale: str = "per_method",
    clip_percentile: float = _display.DEFAULT_CLIP_PERCENTILE,
    channel_reduction: str = "sum",
    cmap: str | matplotlib.colors.Colormap | None = None,
    alpha: float = 0.5,
    colorbar: bool = True,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    cell_size: float = 2.0,
) -> Figure:
    """Compare methods: one row per example, the input first, then one column per method.

    Args:
        images: the inputs, a batch (N, H, W) or (N, H, W, C), any normalization.
        attributions: method name -> its attributions for the batch, (N, H, W) or (N, H, W, C),
            in column order, e.g. `{"saliency": jv.saliency(m, x), "IG": ...}`.
        style: how each map is drawn, as in `attribution` (default "heat_map").
        sign: "positive", "negative", "absolute" or "all", as in `attribution`.
        scale: "per_method" (one color scale per column, so examples compare within a method;
            methods have different units) or "shared" (one scale for every map).
        clip_percentile, channel_reduction, cmap, alpha: as in `attribution`.
        colorbar: one colorbar per column ("per_method") or one for all ("shared"), for the
            heat map styles.
        row_labels: one label per example (e.g. "label 3, predicted 5"), beside the input.
        title: the figure title.
        cell_size: the side of one cell, in inches.

    Returns:
        The matplotlib figure.
    """
    _check_style_and_sign(style, sign)
    check_choice("scale", scale, SCALES)
    _display.check_sign_for_reduction(sign, channel_reduction)
    alpha = _check_alpha(alpha)
    _display.check_clip_percentile(clip_percentile)
    if not isinstance(attributions, Mapping) or not attributions:
        raise TypeError(
            "attributions: expected a non-empty mapping {method name: attributions "
            f"(N, H, W[, C])}}, got {type(attributions).__name__}."
        )
    shown = _batch_of_images(images)
    maps = {
        str(name): _batch_of_maps(str(name), values, shown, channel_reduction)
        for name, values in attributions.items()
    }
    if row_labels is not None and len(row_labels) != len(shown):
        raise ValueError(
            f"row_labels: expected one label per example ({len(shown)}), got {len(row_labels)}."
        )

    def scale_of(*stacks: np.ndarray) -> float:
        values = np.concatenate([stack.ravel() for stack in stacks])
        return _display.attribution_scale(values, sign=sign, clip_percentile=clip_percentile)

    if scale == "shared":
        scales = dict.fromkeys(maps, scale_of(*maps.values()))
    else:
        scales = {name: scale_of(stack) for name, stack in maps.items()}

    rows, columns = len(shown), len(maps) + 1
    figure = JaxvizFigure(
        figsize=(cell_size * columns + 0.8, cell_size * rows + 0.6 * colorbar + 0.4 * bool(title)),
        layout="constrained",
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    cmap = colormap(sign, cmap)
    heats = {}
    for row, shown_image in enumerate(shown):
        _draw_input(axes[row, 0], shown_image)
        for column, (name, stack) in enumerate(maps.items(), start=1):
            normalized = _display.normalize_attribution(stack[row], sign=sign, scale=scales[name])
            heats[name] = _draw(
                axes[row, column],
                shown_image,
                normalized,
                style=style,
                sign=sign,
                cmap=cmap,
                alpha=alpha,
            )
    for ax in axes.flat:
        bare(ax)
    axes[0, 0].set_title("input")
    for column, name in enumerate(maps, start=1):
        axes[0, column].set_title(name)
    for row, label in enumerate(row_labels or ()):
        axes[row, 0].set_ylabel(label)
    if title is not None:
        figure.suptitle(title)

    if colorbar and style in ("heat_map", "blended_heat_map"):
        if scale == "shared":
            everything = np.concatenate([stack.ravel() for stack in maps.values()])
            scaled_colorbar(
                figure,
                next(iter(heats.values())),
                axes[:, 1:],
                values=everything,
                sign=sign,
                scale=next(iter(scales.values())),
            )
        else:
            for column, (name, stack) in enumerate(maps.items(), start=1):
                scaled_colorbar(
                    figure,
                    heats[name],
                    axes[:, column],
                    values=stack,
                    sign=sign,
                    scale=scales[name],
                    location="bottom",
                )
    return figure
