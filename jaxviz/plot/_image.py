"""Image attributions: one map drawn five ways (`attribution`), and a methods grid (`grid`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure, SubFigure

from .. import _display
from .._checks import check_choice, check_positive_int
from .._deprecation import deprecated_arguments
from ._common import (
    JaxvizFigure,
    bare,
    color_limits,
    colormap,
    figure_and_axes,
    scaled_colorbar,
)

STYLES = ("heat_map", "blended_heat_map", "overlay", "masked_image", "alpha_scaling")
"""How an image attribution is drawn (Captum's names, so their users find them, and "overlay"):
"heat_map" (the map alone), "blended_heat_map" (the map, half transparent, over the input in
grayscale), "overlay" (the map over the input in gray, each pixel as opaque as its attribution
is strong: the input shows through where the attribution is near zero and the strongest pixels
are in full colour, readable on a projector), "masked_image" (the input times the map: black
where the attribution is low), "alpha_scaling" (the map as the input's opacity). `image` draws
the input alone."""

# The default opacity of the map: half transparent for "blended_heat_map" (Captum's default),
# nearly opaque at the strongest pixels for "overlay" (weaker pixels are more transparent).
_DEFAULT_ALPHA = {"blended_heat_map": 0.5, "overlay": 0.9}
# "overlay" draws the input's gray levels in this range, so the map's darkest colours (the ends
# of RdBu) still stand out on a black background and its white (zero) on a white one.
_OVERLAY_GRAY = (0.3, 0.85)

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


def _check_alpha(alpha: object, style: str) -> float:
    if alpha is None:
        return _DEFAULT_ALPHA.get(style, 0.5)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha: expected a number in [0, 1] or None (the style's default), "
                         f"got {alpha!r}.")
    return float(alpha)


def _check_units(units: object) -> str | None:
    if units is not None and not isinstance(units, str):
        raise TypeError(f"units: expected a string such as 'logit units' or None, got "
                        f"{type(units).__name__}.")
    return units


def _map_for_image(
    attribution: object, image_size: tuple[int, int] | None, reduction: str, name: str
) -> np.ndarray:
    """One (h, w) map, at the image's size or coarser by whole factors (Grad-CAM with
    `upsample=False`: each cell is drawn as a block over the pixels it covers)."""
    values = _display.attribution_map(attribution, reduction=reduction, name=name)
    if image_size is None or values.shape == tuple(image_size):
        return values
    height, width = image_size
    if height % values.shape[0] or width % values.shape[1]:
        raise ValueError(
            f"{name}: spatial size {values.shape} neither matches the image's "
            f"{tuple(image_size)} nor divides it into whole blocks; for Grad-CAM, use the map "
            "upsampled to the input's size or the layer's own grid (upsample=False)."
        )
    return values


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
    """Draw one cell; return the heat map's image (for a colorbar), or None if it has none.

    Pixels stay crisp squares (nearest interpolation: an 8x8 digit drawn large is 64 squares,
    not a blur), and a coarser map (a layer's grid) is stretched over the input as blocks."""
    low, high = color_limits(sign)
    crisp = {"interpolation": "nearest", "vmin": low, "vmax": high, "cmap": cmap}
    if style == "heat_map":
        return ax.imshow(normalized, **crisp)
    assert shown is not None, "the callers pass the input to every style but 'heat_map'"
    height, width = shown.shape[:2]
    over_input = {"extent": (-0.5, width - 0.5, height - 0.5, -0.5), **crisp}
    if style == "blended_heat_map":
        # The input in gray under the colors, so its own colors cannot be read as attribution.
        ax.imshow(_display.to_grayscale(shown), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        return ax.imshow(normalized, alpha=alpha, **over_input)
    if style == "overlay":
        gray_low, gray_high = _OVERLAY_GRAY
        gray = gray_low + (gray_high - gray_low) * _display.to_grayscale(shown)
        ax.imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        opacity = alpha * np.clip(np.abs(normalized), 0, 1)
        ax.imshow(normalized, alpha=opacity, **over_input)
        # The colorbar shows the colours at full opacity (the image's per-pixel alpha would not).
        return ScalarMappable(matplotlib.colors.Normalize(low, high), cmap)
    if normalized.shape != shown.shape[:2]:  # a coarse map as blocks, for the mask styles
        rows, columns = shown.shape[0] // normalized.shape[0], shown.shape[1] // normalized.shape[1]
        normalized = np.repeat(np.repeat(normalized, rows, axis=0), columns, axis=1)
    if style == "masked_image":
        ax.imshow(_as_rgb(shown) * normalized[..., None], interpolation="nearest")
        return None
    # alpha_scaling: drawn over the axes' background where the attribution is low.
    ax.imshow(np.concatenate([_as_rgb(shown), normalized[..., None]], axis=-1),
              interpolation="nearest")
    return None


def _draw_input(ax: Axes, shown: np.ndarray) -> None:
    ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    bare(ax)


def _draw_outline(ax: Axes, mask: np.ndarray | None) -> None:
    """The edge of a region (a ground-truth mask) as a dashed line over a drawn map."""
    if mask is not None and mask.any() and not mask.all():
        # White under black dashes: visible over dark and light pixels alike.
        ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=2.4)
        ax.contour(mask.astype(float), levels=[0.5], colors="black", linewidths=1.2,
                   linestyles="--")


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
    alpha: float | None = None,
    colorbar: bool = True,
    units: str | None = None,
    outline: object = None,
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
            "overlay", "masked_image", "alpha_scaling" (Captum's `method` names, and
            "overlay": opacity grows with the attribution's strength, for projectors).
        sign: "positive", "negative", "absolute" or "all" (signed, on a diverging colormap
            around 0). "masked_image" and "alpha_scaling" need one sign.
        clip_percentile: magnitudes above this percentile of the shown nonzero magnitudes
            saturate (100: scale by the maximum).
        channel_reduction: "sum", "abs_sum" or "l2" over the attribution's channels.
        cmap: a matplotlib colormap; default the colorblind-safe one for `sign`
            ("RdBu_r" for "all", "Reds" / "Blues" for one sign, "viridis" for "absolute").
        alpha: the heat map's opacity over the input: everywhere in "blended_heat_map"
            (default 0.5), at the strongest pixels in "overlay" (default 0.9).
        colorbar: add a colorbar (heat map styles), its ticks in attribution units.
        units: what the attribution is measured in, for the colorbar's label, e.g.
            "logit units" gives "attribution (logit units)".
        outline: a mask (H, W) of the input (e.g. the object's ground truth), drawn as a
            dashed white outline over the map.
        title: the axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib figure holding the drawing (`ax`'s figure when `ax` is given).
        A map coarser than the input by whole factors (Grad-CAM with `upsample=False`) is
        drawn as blocks over it.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> x = data.x_test[:2]
    >>> fig = jv.plot.attribution(x[0], jv.integrated_gradients(m, x)[0], sign="all")
    >>> len(fig.axes)                  # the map and its colorbar
    2
    """
    _check_style_and_sign(style, sign)
    _display.check_sign_for_reduction(sign, channel_reduction)
    alpha = _check_alpha(alpha, style)
    units = _check_units(units)
    shown = None if image is None else _display.display_image(image)
    if shown is None and style != "heat_map":
        raise ValueError(
            f"image: None, but style={style!r} draws the input; pass the input image, "
            "or use style='heat_map'."
        )
    size = None if shown is None else shown.shape[:2]
    values = _map_for_image(attribution, size, channel_reduction, "attribution")
    mask = None if outline is None else _outline_mask(outline, size, "outline")
    height, width = values.shape if shown is None else shown.shape[:2]
    scale = _display.attribution_scale(values, sign=sign, clip_percentile=clip_percentile)
    normalized = _display.normalize_attribution(values, sign=sign, scale=scale)

    side = 3.6
    figure, ax = figure_and_axes(ax, (side * width / height + (0.9 if colorbar else 0), side))
    heat = _draw(
        ax, shown, normalized, style=style, sign=sign, cmap=colormap(sign, cmap), alpha=alpha
    )
    _draw_outline(ax, mask)
    bare(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar and heat is not None:
        scaled_colorbar(figure, heat, ax, values=values, sign=sign, scale=scale, units=units)
    return figure


def _outline_mask(mask: object, image_size: tuple[int, int] | None, name: str) -> np.ndarray:
    values = _display.numeric_array(mask, name)
    if image_size is None or values.shape != tuple(image_size):
        raise ValueError(
            f"{name}: expected a mask shaped like the image, {image_size}, got shape "
            f"{values.shape}."
        )
    return values > 0.5


def _batch_of_images(images: object) -> list[np.ndarray]:
    array = _display.numeric_array(images, "images")
    if array.ndim not in (3, 4):
        raise ValueError(
            "images: expected a batch shaped (N, H, W) or (N, H, W, C), channels last, got "
            f"shape {array.shape}. For one example, pass x[:1] or x[None]."
        )
    return [_display.display_image(one, name=f"images[{i}]") for i, one in enumerate(array)]


def _outline_masks(outlines: object, shown: Sequence[np.ndarray]) -> list[np.ndarray]:
    array = _display.numeric_array(outlines, "outlines")
    if array.ndim != 3 or array.shape[0] != len(shown):
        raise ValueError(
            f"outlines: expected one mask per example, shape (N, H, W) with N={len(shown)}, "
            f"got shape {array.shape}."
        )
    return [_outline_mask(one, image.shape[:2], f"outlines[{i}]")
            for i, (one, image) in enumerate(zip(array, shown, strict=True))]


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
            _map_for_image(one, image.shape[:2], reduction, f"{label}[{i}]")
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
    alpha: float | None = None,
    colorbar: bool = True,
    units: str | None = None,
    outlines: object = None,
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
        units: what the attributions are measured in, for the colorbars' labels (as in
            `attribution`).
        outlines: one mask per example, (N, H, W) (e.g. the objects' ground truth), drawn as
            a dashed outline over every map of its row.
        row_labels: one label per example (e.g. "label 3, predicted 5"), beside the input.
        title: the figure title.
        cell_size: the side of one cell, in inches.

    Returns:
        The matplotlib figure.
    """
    _check_style_and_sign(style, sign)
    check_choice("scale", scale, SCALES)
    _display.check_sign_for_reduction(sign, channel_reduction)
    alpha = _check_alpha(alpha, style)
    units = _check_units(units)
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
    masks = [None] * len(shown) if outlines is None else _outline_masks(outlines, shown)
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
            _draw_outline(axes[row, column], masks[row])
    for ax in axes.flat:
        bare(ax)
    axes[0, 0].set_title("input")
    for column, name in enumerate(maps, start=1):
        axes[0, column].set_title(name)
    for row, label in enumerate(row_labels or ()):
        axes[row, 0].set_ylabel(label)
    if title is not None:
        figure.suptitle(title)

    if colorbar and style in ("heat_map", "blended_heat_map", "overlay"):
        if scale == "shared":
            everything = np.concatenate([stack.ravel() for stack in maps.values()])
            scaled_colorbar(
                figure,
                next(iter(heats.values())),
                axes[:, 1:],
                values=everything,
                sign=sign,
                scale=next(iter(scales.values())),
                units=units,
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
                    units=units,
                )
    return figure


def _class_title(name: str, probability: float | None, *, predicted: bool, true: bool) -> str:
    notes = [note for note, holds in (("predicted", predicted), ("true", true)) if holds]
    shown = name if probability is None else f"{name}: p={probability:.2f}"
    return shown + (f"\n({', '.join(notes)})" if notes else "\n")


def per_class(
    image: object,
    attributions: object,
    *,
    probabilities: object = None,
    class_names: Sequence[str] | None = None,
    label: int | None = None,
    style: str = "overlay",
    sign: str = "all",
    clip_percentile: float = _display.DEFAULT_CLIP_PERCENTILE,
    channel_reduction: str = "sum",
    cmap: str | matplotlib.colors.Colormap | None = None,
    alpha: float | None = None,
    units: str | None = None,
    columns: int = 5,
    cell_size: float = 1.7,
    title: str | None = None,
) -> Figure:
    """One input's attribution for every class, in a grid, each titled with the class's
    probability (which class is predicted, which is true), on one colour scale so the classes
    compare.

    Args:
        image: the input, one example (H, W), (H, W, 1) or (H, W, 3).
        attributions: its attribution for every class, (classes, H, W) or (classes, H, W, C):
            e.g. `jv.integrated_gradients(m, x, target="all")[0]`.
        probabilities: the model's probability of each class for this input, (classes,),
            e.g. `jax.nn.softmax(m(x))[0]`; the highest is marked "predicted".
        class_names: one name per class (default the class numbers).
        label: the true class, marked "true".
        style, sign, clip_percentile, channel_reduction, cmap, alpha, units: as in
            `attribution` (default: signed, drawn over the input with "overlay").
        columns: classes per row.
        cell_size: the side of one cell, in inches.
        title: the figure title.

    Returns:
        The matplotlib figure.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> x = data.x_test[:1]
    >>> ig = jv.integrated_gradients(m, x, target="all", steps=16)
    >>> fig = jv.plot.per_class(x[0], ig[0], probabilities=jax.nn.softmax(m(x))[0])
    >>> fig.axes[7].get_title().splitlines()      # x is a 7
    ['7: p=1.00', '(predicted)']
    """
    _check_style_and_sign(style, sign)
    _display.check_sign_for_reduction(sign, channel_reduction)
    _display.check_clip_percentile(clip_percentile)
    alpha = _check_alpha(alpha, style)
    units = _check_units(units)
    columns = check_positive_int("columns", columns)
    shown = _display.display_image(image)
    array = _display.numeric_array(attributions, "attributions")
    if array.ndim not in (3, 4):
        raise ValueError(
            "attributions: expected one map per class, (classes, H, W) or (classes, H, W, C), "
            f"got shape {array.shape}. From target='all', pick one example: attr[0]."
        )
    count = array.shape[0]
    maps = np.stack([_map_for_image(one, shown.shape[:2], channel_reduction,
                                    f"attributions[{c}]") for c, one in enumerate(array)])
    names = [str(c) for c in range(count)] if class_names is None else [str(n) for n in
                                                                       class_names]
    if len(names) != count:
        raise ValueError(f"class_names: expected one name per class ({count}), got "
                         f"{len(names)}.")
    probs = None
    if probabilities is not None:
        probs = _display.finite_float_array(probabilities, "probabilities")
        if probs.shape != (count,):
            raise ValueError(f"probabilities: expected one per class, shape ({count},), got "
                             f"shape {probs.shape}.")
    if label is not None and not 0 <= int(label) < count:
        raise ValueError(f"label: expected a class in [0, {count}), got {label!r}.")

    scale = _display.attribution_scale(maps.ravel(), sign=sign, clip_percentile=clip_percentile)
    rows = -(-count // columns)
    figure = JaxvizFigure(
        figsize=(cell_size * columns + 1.0, (cell_size + 0.45) * rows + 0.4 * bool(title)),
        layout="constrained",
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    cmap = colormap(sign, cmap)
    predicted = None if probs is None else int(np.argmax(probs))
    heat = None
    for cell, ax in enumerate(axes.flat):
        bare(ax)
        if cell >= count:
            ax.set_visible(False)
            continue
        normalized = _display.normalize_attribution(maps[cell], sign=sign, scale=scale)
        heat = _draw(ax, shown, normalized, style=style, sign=sign, cmap=cmap, alpha=alpha) or heat
        is_predicted, is_true = cell == predicted, label is not None and cell == int(label)
        ax.set_title(
            _class_title(names[cell], None if probs is None else float(probs[cell]),
                         predicted=is_predicted, true=is_true),
            fontsize=10, fontweight="bold" if is_predicted else "normal",
            color="tab:red" if is_predicted and label is not None and not is_true else "black",
        )
    if heat is not None:
        scaled_colorbar(figure, heat, axes, values=maps, sign=sign, scale=scale, units=units)
    if title is not None:
        figure.suptitle(title)
    return figure
