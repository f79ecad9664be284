"""Display logic shared by the static plots (`jv.plot`) and the widget payloads.

Plain numpy, no matplotlib (jax arrays convert with `np.asarray`), so the widgets can use it
without pulling in a plotting library. Every choice about how an input or an attribution
*looks* is made here, once:

- `display_image`: any input image (uint8 0-255, float 0-1, standardized with negatives,
  grayscale or RGB) to floats in [0, 1] without clipping away its contrast;
- `attribution_map`: an image attribution (H, W) or (H, W, C) to one (H, W) map, channels reduced;
- `attribution_scale` + `normalize_attribution`: the sign filter and the outlier-percentile
  scaling, giving a map in [-1, 1] (sign "all") or [0, 1] (the other signs);
- `check_clip_percentile` and the array checks: errors that name the argument, the value seen
  and what is allowed (in the style of `jaxviz._checks`, whose `check_choice` is used here).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_choice

SIGNS = ("positive", "negative", "absolute", "all")
"""Which part of an attribution to show: "positive" / "negative" (the magnitude of that sign's
part, zero elsewhere), "absolute" (|attribution|) or "all" (signed, diverging around 0)."""

CHANNEL_REDUCTIONS = ("sum", "abs_sum", "l2")
"""How an image attribution's channel axis becomes one map: "sum" (signed, as Captum's
visualizer does), "abs_sum" (sum of |a| over channels, as PAIR saliency's grayscale view does),
"l2" (Euclidean norm over channels). The last two are magnitudes: they have no sign."""

UNSIGNED_REDUCTIONS = ("abs_sum", "l2")

# Colorblind-safe defaults shared by plots and widgets, one per sign. Red means positive and blue
# negative everywhere: ColorBrewer's RdBu (designed to stay distinct under the common color-vision
# deficiencies, and white at zero) for signed maps, and the matching single-hue ColorBrewer ramps
# when only one sign is shown. Magnitudes use viridis (perceptually uniform, colorblind-safe,
# still ordered when printed in grayscale).
DEFAULT_COLORMAPS = {
    "all": "RdBu_r",
    "positive": "Reds",
    "negative": "Blues",
    "absolute": "viridis",
}

# As PAIR saliency's VisualizeImageGrayscale: the top 1% of magnitudes saturate, so one extreme
# pixel does not wash out the rest of the map.
DEFAULT_CLIP_PERCENTILE = 99.0

# ITU-R BT.601 luma weights: a grayscale that keeps perceived brightness (for blended overlays).
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_clip_percentile(clip_percentile: object) -> float:
    """Return `clip_percentile` as a float in (0, 100], else raise a clear error."""
    if (
        isinstance(clip_percentile, bool)
        or not isinstance(clip_percentile, int | float | np.number)
        or not 0 < float(clip_percentile) <= 100
    ):
        raise ValueError(
            "clip_percentile: expected a number in (0, 100] (99 saturates the top 1% of "
            f"magnitudes, 100 scales by the maximum), got {clip_percentile!r}."
        )
    return float(clip_percentile)


def numeric_array(x: object, name: str) -> np.ndarray:
    """`x` (numpy, jax, nested lists) as a numpy array of numbers, keeping its dtype."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name}: expected an array (numpy or jax), got {type(x).__name__}."
        ) from error
    # bfloat16 (from ml_dtypes, what jax bfloat16 arrays become) is a float with numpy kind "V".
    if array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
        raise TypeError(
            f"{name}: expected real numbers (bool, int or float), got dtype {array.dtype}."
        )
    return array


def finite_float_array(x: object, name: str) -> np.ndarray:
    """`x` as float32, raising if it holds NaN or inf (they would silently blank a plot)."""
    array = numeric_array(x, name).astype(np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name}: contains {int(bad.sum())} NaN or infinite value(s) of {array.size}; "
            "replace them before plotting (e.g. np.nan_to_num)."
        )
    return array


def _image_shape_error(name: str, shape: tuple[int, ...]) -> ValueError:
    hint = ""
    if len(shape) == 4:
        hint = f" It has a batch axis: pass one example, e.g. {name}[0]."
    elif len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3):
        hint = (
            " It looks channels-first; jaxviz images are channels-last (NHWC): "
            f"pass np.moveaxis({name}, 0, -1)."
        )
    return ValueError(
        f"{name}: expected one image shaped (H, W), (H, W, 1) or (H, W, 3), channels last, "
        f"got shape {shape}.{hint}"
    )


def display_image(image: object, *, name: str = "image") -> np.ndarray:
    """One input image as float32 in [0, 1], ready to show: (H, W) grayscale or (H, W, 3) RGB.

    The rule, chosen so no input is clipped into garbage and no image changes its look for no
    reason:

    - uint8 is the 0-255 convention: divided by 255.
    - Anything already in [0, 1] (bool, float 0-1) is shown as it is: a dark image stays dark.
    - Anything else (standardized or ImageNet-normalized with negatives, 0-255 or 0-16 floats,
      other integers) is rescaled by the image's own min and max, over all channels together.
      That map is affine, so it keeps every pixel's order and the image's full contrast; one
      transform for all channels keeps the channels' relative brightness (a per-channel rescale
      would shift hues). It cannot undo a per-channel mean/std exactly: for true colors pass
      `x * std + mean` (then in [0, 1], shown as it is). A percentile rescale was not chosen
      because it clips the brightest and darkest pixels, which are often the object itself.
    - A constant image outside [0, 1] is shown mid-gray.

    A trailing channel axis of size 1 is dropped.
    """
    array = numeric_array(image, name)
    is_uint8 = array.dtype == np.uint8
    shape = array.shape
    if array.ndim == 3 and shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise _image_shape_error(name, shape)
    pixels = finite_float_array(array, name)
    if is_uint8:
        return pixels / np.float32(255)
    low, high = float(pixels.min()), float(pixels.max())
    if low >= 0 and high <= 1:
        return pixels
    if high == low:
        return np.full_like(pixels, 0.5)
    return (pixels - np.float32(low)) / np.float32(high - low)


def to_grayscale(display: np.ndarray) -> np.ndarray:
    """A `display_image` result as (H, W) luma in [0, 1] (used under blended overlays)."""
    if display.ndim == 2:
        return display
    return display @ _LUMA_WEIGHTS


def reduce_channels(attribution: np.ndarray, reduction: str = "sum") -> np.ndarray:
    """Reduce the last axis (channels) of an attribution with one of `CHANNEL_REDUCTIONS`."""
    check_choice("channel_reduction", reduction, CHANNEL_REDUCTIONS)
    if reduction == "sum":
        return attribution.sum(axis=-1)
    if reduction == "abs_sum":
        return np.abs(attribution).sum(axis=-1)
    return np.sqrt(np.square(attribution).sum(axis=-1))


def attribution_map(
    attribution: object,
    *,
    reduction: str = "sum",
    image_size: tuple[int, int] | None = None,
    name: str = "attribution",
) -> np.ndarray:
    """One image attribution, (H, W) or (H, W, C), as an (H, W) float32 map.

    `image_size`, when given, is the (H, W) the map must match (the input it is drawn over).
    """
    check_choice("channel_reduction", reduction, CHANNEL_REDUCTIONS)
    values = finite_float_array(attribution, name)
    if values.ndim == 3:
        values = reduce_channels(values, reduction)
    elif values.ndim != 2:
        hint = (
            f" It has a batch (or class) axis: pass one example, e.g. {name}[0]."
            if values.ndim == 4
            else ""
        )
        raise ValueError(
            f"{name}: expected one image attribution shaped (H, W) or (H, W, C), "
            f"got shape {values.shape}.{hint}"
        )
    if image_size is not None and values.shape != tuple(image_size):
        raise ValueError(
            f"{name}: spatial size {values.shape} does not match the image's "
            f"{tuple(image_size)}; for Grad-CAM, use the map upsampled to the input's size."
        )
    return values


def check_sign_for_reduction(sign: str, reduction: str) -> None:
    """Unsigned reductions have no negative part: showing it (or diverging colors) would mislead."""
    if reduction in UNSIGNED_REDUCTIONS and sign in ("negative", "all"):
        raise ValueError(
            f"sign: {sign!r} needs signed values, but channel_reduction={reduction!r} gives "
            "magnitudes; use sign='absolute', or channel_reduction='sum'."
        )


def signed_part(values: np.ndarray, sign: str) -> np.ndarray:
    """The part of `values` that `sign` shows: signed for "all", a magnitude (>= 0) otherwise."""
    check_choice("sign", sign, SIGNS)
    if sign == "all":
        return values
    if sign == "positive":
        return np.maximum(values, 0)
    if sign == "negative":
        return np.maximum(-values, 0)
    return np.abs(values)


def attribution_scale(
    values: np.ndarray, *, sign: str = "absolute", clip_percentile: float = DEFAULT_CLIP_PERCENTILE
) -> float:
    """The magnitude that maps to full color: the `clip_percentile`-th percentile of the
    nonzero magnitudes of the part `sign` shows (0.0 if that part is all zero).

    Zeros are left out so a sign filter does not shift the percentile (with sign "positive",
    every negative pixel becomes 0) and so the many exact zeros of ReLU models do not make the
    scale depend on how much background an image has. Pass the values of several maps
    concatenated to get one shared scale.

    Differs from Captum's `outlier_perc`, which thresholds on the cumulative *sum* of sorted
    magnitudes; this is the plain percentile of PAIR saliency's `VisualizeImageGrayscale`.
    """
    clip_percentile = check_clip_percentile(clip_percentile)
    magnitudes = np.abs(signed_part(np.asarray(values, dtype=np.float32), sign))
    nonzero = magnitudes[magnitudes > 0]
    if nonzero.size == 0:
        return 0.0
    return float(np.percentile(nonzero, clip_percentile))


def normalize_attribution(values: np.ndarray, *, sign: str, scale: float) -> np.ndarray:
    """`values` divided by `scale` and clipped: to [-1, 1] for sign "all", [0, 1] otherwise.

    A zero scale (nothing of that sign) gives zeros.
    """
    if not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale: expected a finite number >= 0, got {scale!r}.")
    shown = signed_part(np.asarray(values, dtype=np.float32), sign)
    if scale == 0:
        return np.zeros_like(shown)
    return np.clip(shown / np.float32(scale), -1.0 if sign == "all" else 0.0, 1.0)


def is_saturated(values: np.ndarray, *, sign: str, scale: float) -> bool:
    """Whether `normalize_attribution(values, sign=sign, scale=scale)` clipped any value (a
    colorbar marks it with arrow ends)."""
    shown = signed_part(np.asarray(values, dtype=np.float32), sign)
    return scale > 0 and bool((np.abs(shown) > scale).any())
