"""What a channel responds to: maximum-activation examples over a dataset and receptive fields.

The dataset streams through one compiled program in fixed-shape chunks (the tail is padded and
masked out), and a running top-k is merged chunk by chunk, so memory stays bounded by the chunk
whatever the dataset size, and nothing recompiles after the first chunk.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_batch_size, check_choice, check_input, check_layer, check_positive_int
from . import _engine
from ._layers import zero_taps
from ._relu_rules import RULES, _relu_with_backward, check_reachable_relus, with_relu_rule

_REDUCTIONS = ("max", "mean")
_BACKPROJECT_FROM = ("peak", "sum")


class TopExamples(NamedTuple):
    """The k dataset examples that excite each channel of a layer most, best first.

    Attributes:
        layer: the layer's name.
        indices: (channels, k) int32, positions of the examples in the dataset.
        values: (channels, k) float32, each example's score for the channel (its peak or mean).
        peaks: (channels, k, spatial dims) int32, where in the layer's map the peak is (row, col
            for images); shape (channels, k, 0) for dense layers, which have no map.
    """

    layer: str
    indices: jax.Array
    values: jax.Array
    peaks: jax.Array


class ReceptiveField(NamedTuple):
    """Which input pixels a unit of a layer sees: unit (i, j) sees input rows
    `offset[0] + i * stride[0]` up to `size[0]` rows further, and likewise for columns.

    Measured from the support of the gradient, so it holds for any architecture (convolutions,
    pooling, strides, dilation) without knowing the layers' geometry.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]


def channel_scores(activation: jax.Array, reduce: str = "max") -> tuple[jax.Array, jax.Array]:
    """Scores every channel of every example: (batch, channels) scores and the peak positions.

    `activation` is (batch, ..., channels); its middle axes are the map (empty for dense layers).
    The score is the map's maximum ("max", with its position) or mean ("mean", position of the max).
    """
    batch, channels = activation.shape[0], activation.shape[-1]
    spatial = activation.shape[1:-1]
    flat = activation.reshape(batch, -1, channels)
    where = jnp.argmax(flat, axis=1)
    peaks = jnp.stack(jnp.unravel_index(where, spatial), axis=-1) if spatial else (
        jnp.zeros((batch, channels, 0), jnp.int32))
    scores = jnp.max(flat, axis=1) if reduce == "max" else jnp.mean(flat, axis=1)
    return scores, peaks.astype(jnp.int32)


def top_activating(
    m: Any,
    x: Any,
    *,
    layer: str,
    k: int = 9,
    reduce: str = "max",
    batch_size: int = 256,
    show_progress: bool = True,
) -> TopExamples:
    """The k examples of dataset `x` that activate each channel of `layer` most.

    Args:
        m: a wrapped model (`jv.wrap`).
        x: the dataset, (n, ...) with the model's input shape after the batch axis.
        layer: one of `m.layers`.
        k: how many examples per channel (at most n).
        reduce: "max" scores an example by the channel's peak over the map; "mean" by its mean.
        batch_size: examples per compiled chunk; bounds memory. The tail chunk is padded.
        show_progress: draw a progress bar when the run lasts more than a second.

    Returns:
        `TopExamples`, best first for each channel.

    >>> top = jv.top_activating(m, x, layer="conv2", k=5)
    >>> x[top.indices[3]]          # the 5 inputs channel 3 likes best
    """
    x = check_input(m, x)
    shape = check_layer(m, x[:1], layer).shape
    check_choice("reduce", reduce, _REDUCTIONS)
    n = x.shape[0]
    k = check_positive_int("k", k)
    if k > n:
        raise ValueError(f"k: expected at most the number of examples ({n}), got {k}.")
    channels, spatial_rank = shape[-1], len(shape) - 2
    best = (
        jnp.full((channels, k), -jnp.inf, jnp.float32),
        jnp.full((channels, k), -1, jnp.int32),
        jnp.zeros((channels, k, spatial_rank), jnp.int32),
    )
    values, indices, peaks = _engine.run(
        m, ("top_activating", layer, reduce), lambda: _top_k_merger(m, layer, reduce), (x,),
        batch_size=check_positive_int("batch_size", batch_size), fold=best,
        label=f"top examples of {layer}" if show_progress else None,
    )
    return TopExamples(layer, indices, values, peaks)


def _top_k_merger(m: Any, layer: str, reduce: str):
    """merge(params, best, indices, chunk) -> best: the running top-k after one more chunk
    (padding rows, index -1, never enter it)."""

    def merge(params, best, index, xb):
        values, indices, peaks = best
        k = values.shape[1]
        _, acts = m.apply(params, xb, taps=zero_taps(m, xb, [layer]))
        scores, where = channel_scores(acts[layer], reduce)
        scores = jnp.where((index >= 0)[:, None], scores.astype(jnp.float32), -jnp.inf)
        chunk, channels = scores.shape
        all_values = jnp.concatenate([values, scores.T], axis=1)
        all_indices = jnp.concatenate([indices, jnp.broadcast_to(index, (channels, chunk))], 1)
        all_peaks = jnp.concatenate([peaks, jnp.swapaxes(where, 0, 1)], axis=1)
        values, order = jax.lax.top_k(all_values, k)
        take = jax.vmap(lambda a, o: a[o])
        return values, take(all_indices, order), take(all_peaks, order)

    return merge


def receptive_field(
    m: Any, *, layer: str, input_shape: tuple[int, ...], samples: int = 8, seed: int = 0
) -> ReceptiveField:
    """Measures the receptive field of a spatial layer from the support of the gradient.

    The gradient of a unit's activations (summed over channels) with respect to random inputs is
    nonzero exactly on the pixels the unit sees; a union over a few random inputs covers pixels
    a ReLU or a max-pool happened to switch off for one of them. Where a layer's ReLUs keep a
    unit off for every random input (a sparse layer that applies its own ReLU), the gradient is
    taken again with every ReLU passing gradients back whatever its input. Two neighbouring
    units give the stride.

    Args:
        m: a wrapped model.
        layer: a layer of `m` whose output is (batch, height, width, channels).
        input_shape: one example's shape, (height, width, channels).
        samples: how many random inputs to take the union over.
        seed: seed of those random inputs.
    """
    probe = jax.random.normal(jax.random.key(seed), (samples, *input_shape), jnp.float32)
    shape = check_layer(m, probe, layer).shape
    if len(shape) != 4 or len(input_shape) != 3:
        raise ValueError(
            f"receptive_field needs an image input (height, width, channels) and a layer with a "
            f"map; got input_shape={tuple(input_shape)} and layer {layer!r} of shape {shape}")
    height, width = shape[1], shape[2]
    row, col = height // 2, width // 2
    next_row, next_col = min(row + 1, height - 1), min(col + 1, width - 1)
    units = np.array([[row, col], [next_row, next_col]], np.int32)
    support = _engine.call(m, ("receptive_field", layer), lambda: _gradient_support(m, layer), probe, units)
    seen = np.asarray(support)
    if not seen.any(axis=(1, 2)).all():
        try:
            ungated = _engine.call(
                m, ("receptive_field", layer, "ungated"), lambda: _gradient_support(m, layer, relu=_PASS_RELU),
                probe, units,
            )
            seen = np.asarray(ungated)
        except ValueError:  # no reachable ReLU to open: keep the plain gradient's answer
            pass

    def box(unit):
        rows, cols = np.nonzero(seen[unit])
        if rows.size == 0:
            raise ValueError(
                f"layer {layer!r}: no input pixel reaches its unit at the map's centre")
        return (rows.min(), cols.min()), (rows.max() + 1, cols.max() + 1)

    (top, left), (bottom, right) = box(0)
    (top2, left2), _ = box(1)
    stride = (int(top2 - top) if next_row > row else 1, int(left2 - left) if next_col > col else 1)
    return ReceptiveField(
        size=(int(bottom - top), int(right - left)),
        stride=stride,
        offset=(int(top - row * stride[0]), int(left - col * stride[1])),
    )


# A ReLU whose backward pass ignores its input: gradients reach every pixel wired to a unit.
_PASS_RELU = _relu_with_backward(lambda x, g: g)


def _gradient_support(m: Any, layer: str, relu=None):
    """support(params, probe, units) -> (units, height, width) bool: the input pixels each unit
    (row, col) of `layer` depends on, over a batch of random probes (with `relu`, every ReLU
    uses its backward rule; raises ValueError where the model has no reachable ReLU)."""

    def support(params, probe, units):
        taps = zero_taps(m, probe, [layer])

        def apply(xs):
            if relu is None:
                return m.apply(params, xs, taps=taps)
            return with_relu_rule(m, params, relu, "receptive_field", taps=taps)(xs)

        def one(unit):
            def strength(xs):
                _, acts = apply(xs)
                return jnp.sum(acts[layer][:, unit[0], unit[1], :])

            return jnp.any(jax.grad(strength)(probe) != 0, axis=(0, 3))

        return jax.vmap(one)(units)

    return support


def peak_patches(x: Any, top: TopExamples, field: ReceptiveField) -> jax.Array:
    """The input patch each top example's peak unit sees: (channels, k, h, w, input channels).

    The patch is the receptive field around the peak, shifted to stay inside the image where the
    field crosses the border (so every patch is real pixels), and clipped to the image size.
    """
    x = jnp.asarray(x)
    height, width = x.shape[1], x.shape[2]
    size = (min(field.size[0], height), min(field.size[1], width))

    def patch(index, peak):
        top_row = field.offset[0] + peak[0] * field.stride[0]
        left_col = field.offset[1] + peak[1] * field.stride[1]
        top_row = jnp.clip(top_row, 0, height - size[0])
        left_col = jnp.clip(left_col, 0, width - size[1])
        return jax.lax.dynamic_slice(x[index], (top_row, left_col, 0), (*size, x.shape[3]))

    return jax.vmap(jax.vmap(patch))(top.indices, top.peaks)


def channel_backprojection(
    m: Any,
    x: Any,
    *,
    layer: str,
    channel: Any,
    method: str = "deconvnet",
    source: str = "peak",
    batch_size: int | None = None,
) -> jax.Array:
    """Projects a channel of `layer` back to input space (Zeiler and Fergus, 2014).

    The gradient of the channel's activation with respect to the input, with every ReLU's backward
    rule swapped for the method's (the same machinery as `jv.deconvnet` / `jv.guided_backprop`):
    it shows which input pattern the channel detected in each example.

    Args:
        m: a wrapped model whose nonlinearities are `jax.nn.relu` (or nnx / linen relu).
        x: a batch of inputs.
        layer: one of `m.layers`.
        channel: the channel (a neuron, for dense layers) to project: an int, or one per example.
        method: "deconvnet" (Zeiler and Fergus) or "guided_backprop" (Springenberg et al.).
        source: "peak" projects only the channel's strongest unit in each example (Zeiler and
            Fergus keep only the maximum activation); "sum" projects the whole map.
        batch_size: examples per compiled chunk.

    Returns:
        float32, shaped like `x`.
    """
    x = check_input(m, x)
    spec = check_layer(m, x, layer)
    check_choice("method", method, tuple(RULES))
    check_choice("source", source, _BACKPROJECT_FROM)
    count = spec.shape[-1]
    channels = jnp.broadcast_to(jnp.asarray(channel), (x.shape[0],))
    if not jnp.issubdtype(channels.dtype, jnp.integer) or not bool(
            jnp.all((channels >= 0) & (channels < count))):
        raise ValueError(f"channel: expected channel indices in [0, {count}) of layer {layer!r}, "
                         f"got {channel!r}.")
    relu = check_reachable_relus(m, x, method)

    def build():
        def kernel(params, indices, rows, chosen):
            def strength(rows):
                taps = zero_taps(m, rows, [layer])
                _, acts = with_relu_rule(m, params, relu, method, taps=taps)(rows)
                act = acts[layer].reshape(rows.shape[0], -1, acts[layer].shape[-1])
                picked = jnp.take_along_axis(act, chosen[:, None, None], axis=2)[..., 0]
                per_example = picked.max(axis=1) if source == "peak" else picked.sum(axis=1)
                return jnp.sum(per_example)

            return jax.grad(strength)(rows).astype(jnp.float32)

        return kernel

    program = ("channel_backprojection", layer, method, source)
    return _engine.run(m, program, build, (x, channels.astype(jnp.int32)),
                       batch_size=check_batch_size(batch_size))
