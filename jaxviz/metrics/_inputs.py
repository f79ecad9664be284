"""Shared argument handling for the metrics: the followed classes, the attribution (given or
computed by a method), masks, replacement values, and the units features are removed in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_baseline, check_choice, check_key, check_positive_int
from ..explain._targets import prepare
from ._result import DEFAULT_BOOTSTRAP_KEY

OUTPUTS = ("probability", "logit", "accuracy")


class Explained(NamedTuple):
    x: np.ndarray  # the checked inputs
    classes: np.ndarray  # int32 (batch,), the followed class of each example
    attribution: np.ndarray  # float32, shaped like x (or like x without its channel axis)


def explained(model, x, target, attribution, *, metric: str) -> Explained:
    """Validate the inputs and the target, and get the attribution: as given, or by calling
    the method `attribution(model, x, classes)` for the resolved classes."""
    x, classes = followed_classes(model, x, target, metric=metric)
    if callable(attribution):
        attribution = call_method(attribution, model, x, classes)
    return Explained(x, classes, check_attribution(attribution, x))


def followed_classes(model, x, target, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The checked `x` and one class per example: the given ones, or the predicted ones."""
    x, resolved = prepare(model, x, target)
    if resolved.mode == "all":
        raise ValueError(
            f"target: {metric} follows one class per example; got 'all'. Pass None (the predicted "
            "class), an int, or one int per example."
        )
    if resolved.mode == "predicted":
        return x, np.asarray(model(x)).argmax(axis=-1).astype(np.int32)
    return x, resolved.classes


def call_method(method: Callable, model, x, classes) -> np.ndarray:
    """`method(model, x, classes)` as float32 host values."""
    return np.asarray(method(model, x, classes), np.float32)


def needs_method(attribution, metric: str) -> Callable:
    if not callable(attribution):
        shape = getattr(attribution, "shape", None)
        raise TypeError(
            f"attribution: {metric} explains perturbed inputs or models again, so it needs "
            "the method, "
            "called as method(model, x, target), e.g. jv.saliency or functools.partial(jv.gradcam, "
            f"layer='conv4'); got {type(attribution).__name__}"
            + (f" of shape {shape}." if shape else ".")
        )
    return attribution


def check_attribution(attribution, x: np.ndarray, argument: str = "attribution") -> np.ndarray:
    """An attribution shaped like `x`, or for images (batch, height, width, channels) like `x`
    without its channel axis (a map such as Grad-CAM's, shared by the channels)."""
    attribution = np.asarray(attribution, np.float32)
    allowed = [x.shape] + ([x.shape[:-1]] if is_image(x) else [])
    if attribution.shape not in allowed:
        raise ValueError(
            f"{argument}: shape {attribution.shape} does not match the input x of shape {x.shape}; "
            f"expected {' or '.join(map(str, allowed))}."
        )
    if not np.isfinite(attribution).all():
        raise ValueError(f"{argument}: contains NaN or infinite values.")
    return attribution


def is_image(x) -> bool:
    """Inputs (batch, height, width, channels) are images: features are removed pixel by pixel
    (or region by region), all channels together."""
    return x.ndim == 4


def position_map(attribution, x):
    """Relevance per position: summed over the channels of an image attribution shaped like
    `x`, else as it is. Shape x.shape[:-1] for images, x.shape otherwise."""
    if is_image(x) and attribution.ndim == x.ndim:
        return attribution.sum(axis=-1)
    return attribution


def check_masks(masks, x: np.ndarray) -> np.ndarray:
    """Ground-truth masks, one per example: True where the object is, shaped like a position map."""
    masks = np.asarray(masks)
    expected = x.shape[:-1] if is_image(x) else x.shape
    if masks.shape != expected:
        raise ValueError(
            f"masks: shape {masks.shape} does not match the input x of shape {x.shape}; "
            "expected one "
            f"mask per example, {expected}."
        )
    if masks.dtype != bool and not np.isin(masks, (0, 1)).all():
        raise ValueError("masks: expected booleans (or 0/1), True on the object's positions.")
    masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.reshape(masks.shape[0], -1).any(axis=1))
    if empty.size:
        raise ValueError(
            f"masks: the mask of example {int(empty[0])} is empty; each example needs an object."
        )
    return masks


def check_region(region, x: np.ndarray) -> int:
    region = check_positive_int("region", region)
    if region > 1 and not is_image(x):
        raise ValueError(
            "region: square regions need images (batch, height, width, channels); x has "
            f"shape {x.shape}. "
            "Use region=1 (each feature alone)."
        )
    if is_image(x) and region > min(x.shape[1:3]):
        raise ValueError(f"region: {region} is larger than the image ({x.shape[1]}x{x.shape[2]}).")
    return region


def check_replacement(replacement, x: np.ndarray) -> np.ndarray | str:
    """What removed features become: "blur" (a Gaussian blur of the input, images only), or a
    scalar, an array shaped like one example, or one per example."""
    if isinstance(replacement, str):
        check_choice("replacement", replacement, ("blur",))
        if not is_image(x):
            raise ValueError(
                "replacement: 'blur' needs images (batch, height, width, channels); x has "
                f"shape {x.shape}."
            )
        return replacement
    return check_baseline(replacement, x, argument="replacement")


def check_output(output) -> str:
    return check_choice("output", output, OUTPUTS)


def check_fraction(argument: str, value, *, low_open: bool = False) -> float:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value > 1 or value < 0 or (low_open and value == 0):
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{argument}: expected a fraction in {bound}, got {value!r}.")
    return float(value)


def check_scale(argument: str, value) -> float:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{argument}: expected a positive number, got {value!r}.")
    return float(value)


def sampling_keys(key, metric: str) -> tuple[jax.Array, jax.Array]:
    """(the metric's sampling key, the bootstrap's key) from the user's key (required). The
    bootstrap draws on the host from the key's bits (`host_rng`), on a stream of its own."""
    key = check_key(key, metric)
    return key, key


def bootstrap_key(key) -> jax.Array:
    """The bootstrap's key for a deterministic metric: from `key`, or a fixed default."""
    return jax.random.key(DEFAULT_BOOTSTRAP_KEY) if key is None else check_key(key, "bootstrap")


# -- inside programs ------------------------------------------------------------------------------


def unit_grid(position_shape: tuple[int, ...], region: int, image: bool) -> tuple[jax.Array, int]:
    """Which unit (the features removed together) each position belongs to, and how many units:
    region x region squares of an image's (height, width), else every feature alone."""
    if not image:
        count = int(np.prod(position_shape))
        return jnp.arange(count, dtype=jnp.int32).reshape(position_shape), count
    height, width = position_shape
    rows, cols = -(-height // region), -(-width // region)
    grid = (jnp.arange(height)[:, None] // region) * cols + jnp.arange(width)[None, :] // region
    return grid.astype(jnp.int32), rows * cols


def unit_scores(positions: jax.Array, grid: jax.Array, count: int) -> jax.Array:
    """Relevance per unit (batch, units): the positions' relevance summed over each unit."""
    flat = positions.reshape(positions.shape[0], -1)
    return jax.vmap(lambda p: jax.ops.segment_sum(p, grid.reshape(-1), num_segments=count))(flat)


def descending_ranks(scores: jax.Array) -> jax.Array:
    """Each unit's rank, 0 for the most relevant (ties: the lower index first), (batch, units)."""
    order = jnp.argsort(-scores, axis=-1, stable=True)
    return jnp.argsort(order, axis=-1).astype(jnp.int32)


def random_ranks(key: jax.Array, indices: jax.Array, orders: int, count: int) -> jax.Array:
    """`orders` uniformly random rankings of `count` units per example, (batch, orders, units);
    example i's come from fold_in(key, i), so they do not depend on the chunking."""

    def one(i):
        return jax.vmap(lambda k: jax.random.permutation(k, count))(
            jax.random.split(jax.random.fold_in(key, i), orders)
        )

    return jax.vmap(one)(indices).astype(jnp.int32)


def on_features(position_values: jax.Array, x: jax.Array) -> jax.Array:
    """Per-position values (..., *positions) lined up with x's features (a channel axis added)."""
    return position_values[..., None] if x.ndim == 4 else position_values


def followed_output(logits: jax.Array, classes: jax.Array, output: str) -> jax.Array:
    """The followed class's probability, logit, or whether it is predicted (1.0 or 0.0), per row."""
    logits = logits.astype(jnp.float32)
    if output == "accuracy":
        return (jnp.argmax(logits, axis=-1) == classes).astype(jnp.float32)
    if output == "probability":
        logits = jax.nn.log_softmax(logits, axis=-1)
    value = jnp.take_along_axis(logits, classes[:, None], axis=-1)[:, 0]
    return jnp.exp(value) if output == "probability" else value


def gaussian_blur(x: jax.Array, sigma: float) -> jax.Array:
    """Images (batch, height, width, channels) blurred per channel by a Gaussian of `sigma`
    pixels, truncated at 3 sigma, with edge values repeated beyond the border."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = jnp.asarray(taps / taps.sum(), jnp.float32)
    out = x.astype(jnp.float32)
    for axis in (1, 2):
        padding = [(0, 0)] * 4
        padding[axis] = (radius, radius)
        padded = jnp.pad(out, padding, mode="edge")
        size = out.shape[axis]
        out = functools.reduce(
            jnp.add,
            (
                taps[k] * jax.lax.slice_in_dim(padded, k, k + size, axis=axis)
                for k in range(2 * radius + 1)
            ),
        )
    return out


PERTURBATIONS = ("gaussian", "uniform")


def perturbations(
    key: jax.Array, indices: jax.Array, samples: int, shape: tuple[int, ...], kind: str, scale
) -> jax.Array:
    """Per-example random perturbations (batch, samples, *shape): Gaussian with standard deviation
    `scale`, or uniform in [-scale, scale]. Example i's come from fold_in(key, i)."""

    def one(i):
        k = jax.random.fold_in(key, i)
        if kind == "gaussian":
            return scale * jax.random.normal(k, (samples, *shape))
        return jax.random.uniform(k, (samples, *shape), minval=-scale, maxval=scale)

    return jax.vmap(one)(indices)
