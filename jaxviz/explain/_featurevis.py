"""Feature visualization: the input a channel, a neuron or a class would most like to see.

Activation maximization as in Olah et al. (Distill 2017, "Feature Visualization") and Lucid:
the image lives in a decorrelated Fourier space (so gradient steps are not dominated by high
frequencies), goes through a sigmoid into the model's input range, and is randomly jittered,
scaled and rotated at every step (so the result is robust rather than adversarial noise), with
total-variation and L2 penalties. Every channel of a layer is optimized at once under `vmap`, in
one compiled `lax.scan`; the same key gives the same images.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_choice, check_key, check_layer, check_positive_int
from . import _engine
from ._layers import zero_taps

# Lucid's square root of the colour correlation of ImageNet, scaled so its largest column norm
# is 1: optimizing in these decorrelated colours keeps hues natural.
_COLOR_CORRELATION = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOR_CORRELATION /= np.max(np.linalg.norm(_COLOR_CORRELATION, axis=0))

_PARAMETERIZATIONS = ("fourier", "pixel")
_OBJECTIVES = ("channel", "neuron")


class FeatureVisualization(NamedTuple):
    """Optimized inputs and how strongly they drive their targets.

    Attributes:
        images: (targets, height, width, channels) in the model's input range.
        objective: (targets,) each image's objective (the channel's mean activation, the centre
            neuron's activation, or the class logit), without regularizers or transforms.
    """

    images: jax.Array
    objective: jax.Array


def _frequency_scale(height: int, width: int, decay: float) -> np.ndarray:
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequencies = np.sqrt(fy**2 + fx**2)
    return (1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** decay).astype(np.float32)


def _fourier_image(spectrum: jax.Array, scale: jax.Array, width: int) -> jax.Array:
    """(channels, height, width//2+1, 2) spectrum -> (height, width, channels) pixels."""
    complex_spectrum = (spectrum[..., 0] + 1j * spectrum[..., 1]) * scale
    pixels = jnp.fft.irfft2(complex_spectrum, s=(spectrum.shape[1], width))
    # Lucid's normalisation: unit-variance pixels for a white spectrum of the initial scale.
    return jnp.moveaxis(pixels, 0, -1) * np.sqrt(spectrum.shape[1] * width) / 4.0


def _squash(pixels: jax.Array, value_range: tuple[float, float]) -> jax.Array:
    if pixels.shape[-1] == 3:
        pixels = pixels @ jnp.asarray(_COLOR_CORRELATION).T
    low, high = value_range
    return low + (high - low) * jax.nn.sigmoid(pixels)


def random_affine(image: jax.Array, key: jax.Array, *, jitter: float, scale: float,
                  degrees: float) -> jax.Array:
    """Jitters (sub-pixel), scales and rotates `image` (height, width, channels) at random.

    One bilinear resampling does all three, so the transform stays differentiable and cheap;
    edges are reflected, so no artificial border appears.
    """
    height, width = image.shape[0], image.shape[1]
    k_shift, k_scale, k_angle = jax.random.split(key, 3)
    shift = jax.random.uniform(k_shift, (2,), minval=-jitter, maxval=jitter)
    zoom = jnp.exp(jax.random.uniform(k_scale, (), minval=-np.log1p(scale), maxval=np.log1p(scale)))
    angle = jnp.deg2rad(jax.random.uniform(k_angle, (), minval=-degrees, maxval=degrees))
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                              jnp.arange(width, dtype=jnp.float32), indexing="ij")
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    y, x = rows - centre_row - shift[0], cols - centre_col - shift[1]
    cos, sin = jnp.cos(angle) / zoom, jnp.sin(angle) / zoom
    source_row = cos * y - sin * x + centre_row
    source_col = sin * y + cos * x + centre_col

    def resample(channel):
        return jax.scipy.ndimage.map_coordinates(channel, [source_row, source_col], order=1,
                                                 mode="mirror")

    return jax.vmap(resample, in_axes=2, out_axes=2)(image)


def total_variation(image: jax.Array) -> jax.Array:
    """Mean absolute difference between neighbouring pixels: low for smooth images."""
    return (jnp.mean(jnp.abs(jnp.diff(image, axis=0))) + jnp.mean(jnp.abs(jnp.diff(image, axis=1))))


def _objective(m: Any, layer: str | None, kind: str) -> Any:
    """objective(params, images (1, h, w, c), target) -> scalar to maximize."""
    if layer is None:
        return lambda params, images, target: m.apply(params, images)[0, target]

    def objective(params, images, target):
        _, acts = m.apply(params, images, taps=zero_taps(m, images, [layer]))
        channel = acts[layer][0, ..., target]
        if kind == "neuron" and channel.ndim:
            return channel[tuple(size // 2 for size in channel.shape)]
        return jnp.mean(channel)

    return objective


def feature_visualization(
    m: Any,
    *,
    shape: tuple[int, ...],
    key: jax.Array,
    layer: str | None = None,
    targets: Any = None,
    objective: str = "channel",
    steps: int = 256,
    learning_rate: float = 0.1,
    parameterization: str = "fourier",
    value_range: tuple[float, float] = (0.0, 1.0),
    jitter: float | None = None,
    scale: float = 0.1,
    degrees: float = 10.0,
    total_variation_weight: float = 0.05,
    l2_weight: float = 0.0,
    decay: float = 1.0,
) -> FeatureVisualization:
    """Synthesizes, for each target, the input that maximizes it.

    Args:
        m: a wrapped model.
        shape: one input's shape, (height, width, channels).
        key: a `jax.random.key`; the same key gives the same images.
        layer: a layer of `m` whose channels are the targets, or None for the class logits.
        targets: channel (or class) indices to visualize; default every channel of the layer (or
            every class). All are optimized together, under `vmap`.
        objective: "channel" maximizes a channel's mean over its map, "neuron" the unit at the map's
            centre (the same for dense layers).
        steps: optimization steps (Adam).
        learning_rate: Adam's step size.
        parameterization: "fourier" (decorrelated, Lucid's) or "pixel".
        value_range: (low, high) range of the model's inputs; the image is squashed into it.
        jitter: maximal random shift in pixels per step; default 1/16 of the image side (>= 1).
        scale: maximal random zoom per step, as a fraction (0.1 = up to 10% in or out).
        degrees: maximal random rotation per step.
        total_variation_weight: penalty on `total_variation` (smoothness), relative to the
            objective's typical size.
        l2_weight: penalty on the mean squared distance from the middle of `value_range`.
        decay: Fourier spectrum falls off as 1 / frequency ** decay at the start (and in the
            preconditioning); larger is smoother.

    >>> vis = jv.feature_visualization(m, shape=(28, 28, 1), layer="conv2", key=jax.random.key(0))
    >>> vis.images.shape           # one image per channel of conv2
    """
    if len(shape) != 3:
        raise ValueError(
            f"shape: expected one image's (height, width, channels), got {tuple(shape)}.")
    key = check_key(key, "feature_visualization")
    check_choice("parameterization", parameterization, _PARAMETERIZATIONS)
    check_choice("objective", objective, _OBJECTIVES)
    steps = check_positive_int("steps", steps)
    height, width, channels = shape
    probe = jnp.zeros((1, *shape), jnp.float32)
    shapes = {layer: check_layer(m, probe, layer)} if layer is not None else {}
    count = (shapes[layer].shape[-1] if layer is not None
             else jax.eval_shape(lambda p: m.apply(m.params, p), probe).shape[-1])
    targets = jnp.arange(count) if targets is None else jnp.atleast_1d(jnp.asarray(targets))
    if targets.ndim != 1 or not bool(jnp.all((targets >= 0) & (targets < count))):
        what = f"channels of {layer!r}" if layer else "classes"
        raise ValueError(f"targets: expected indices in [0, {count}) ({what}), got {targets}.")
    if jitter is None:
        jitter = max(1.0, max(height, width) / 16)
    settings = dict(shape=tuple(shape), steps=steps, learning_rate=learning_rate,
                    parameterization=parameterization, value_range=tuple(value_range),
                    jitter=float(jitter), scale=float(scale), degrees=float(degrees),
                    tv=float(total_variation_weight), l2=float(l2_weight), decay=float(decay))
    # Raw key data: the engine cuts per-example arrays into chunks on the host.
    keys = jax.random.key_data(jax.random.split(key, targets.shape[0]))

    def build():
        optimize = jax.vmap(partial(_optimize_one, _objective(m, layer, objective), settings), in_axes=(None, 0, 0))
        return lambda params, indices, targets, keys: optimize(params, targets, jax.random.wrap_key_data(keys))

    # The targets are independent optimizations: the engine chunks and shards them like examples.
    program = ("feature_visualization", layer, objective, tuple(sorted(settings.items())))
    images, values = _engine.run(m, program, build, (targets.astype(jnp.int32), keys), example=probe)
    return FeatureVisualization(images, values)


def _optimize_one(score, settings, params, target, key):
    height, width, channels = settings["shape"]
    low, high = settings["value_range"]
    init_key, step_key = jax.random.split(key)
    if settings["parameterization"] == "fourier":
        scale = jnp.asarray(_frequency_scale(height, width, settings["decay"]))
        raw = 0.01 * jax.random.normal(init_key, (channels, height, width // 2 + 1, 2))

        def to_image(raw):
            return _squash(_fourier_image(raw, scale, width), (low, high))
    else:
        raw = 0.01 * jax.random.normal(init_key, (height, width, channels))

        def to_image(raw):
            return _squash(raw, (low, high))

    optimizer = optax.adam(settings["learning_rate"])
    middle = (low + high) / 2

    def loss(raw, step_key):
        image = to_image(raw)
        seen = random_affine(image, step_key, jitter=settings["jitter"], scale=settings["scale"],
                             degrees=settings["degrees"])
        penalty = (settings["tv"] * total_variation(image) / (high - low)
                   + settings["l2"] * jnp.mean((image - middle) ** 2) / (high - low) ** 2)
        return -score(params, seen[None], target) + penalty

    def step(carry, index):
        raw, state = carry
        grads = jax.grad(loss)(raw, jax.random.fold_in(step_key, index))
        updates, state = optimizer.update(grads, state, raw)
        return (optax.apply_updates(raw, updates), state), None

    (raw, _), _ = jax.lax.scan(step, (raw, optimizer.init(raw)), jnp.arange(settings["steps"]))
    image = to_image(raw)
    return image, score(params, image[None], target)
