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

from .._progress import progress

_REDUCTIONS = ("max", "mean")


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


def _check_layer(m: Any, layer: str) -> None:
    if layer not in m.layers:
        raise ValueError(f"layer={layer!r} is not a layer of this model; choose one of {m.layers}")


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
    _check_layer(m, layer)
    x = jnp.asarray(x)
    n = x.shape[0]
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce={reduce!r} is not supported; use one of {_REDUCTIONS}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of examples ({n})")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be a positive integer")
    chunk = min(batch_size, n)
    chunks = -(-n // chunk)
    padded = jnp.concatenate([x, jnp.zeros((chunks * chunk - n, *x.shape[1:]), x.dtype)])
    shape = m.layer_shapes(padded[:chunk])[layer]
    channels, spatial_rank = shape.shape[-1], len(shape.shape) - 2

    @jax.jit
    def merge(params, best, xb, start):
        values, indices, peaks = best
        _, acts = m.apply(params, xb, taps={layer: jnp.zeros(shape.shape, shape.dtype)})
        scores, where = channel_scores(acts[layer], reduce)
        index = start + jnp.arange(chunk, dtype=jnp.int32)
        scores = jnp.where((index < n)[:, None], scores.astype(jnp.float32), -jnp.inf)
        all_values = jnp.concatenate([values, scores.T], axis=1)
        all_indices = jnp.concatenate([indices, jnp.broadcast_to(index, (channels, chunk))], 1)
        all_peaks = jnp.concatenate([peaks, jnp.swapaxes(where, 0, 1)], axis=1)
        values, order = jax.lax.top_k(all_values, k)
        take = jax.vmap(lambda a, o: a[o])
        return values, take(all_indices, order), take(all_peaks, order)

    best = (
        jnp.full((channels, k), -jnp.inf, jnp.float32),
        jnp.full((channels, k), -1, jnp.int32),
        jnp.zeros((channels, k, spatial_rank), jnp.int32),
    )
    starts = range(0, chunks * chunk, chunk)
    for start in progress(starts, chunks, f"top examples of {layer}", enabled=show_progress):
        xb = jax.lax.dynamic_slice_in_dim(padded, start, chunk)
        best = merge(m.params, best, xb, jnp.int32(start))
    values, indices, peaks = best
    return TopExamples(layer, indices, values, peaks)


def receptive_field(
    m: Any, *, layer: str, input_shape: tuple[int, ...], samples: int = 8, seed: int = 0
) -> ReceptiveField:
    """Measures the receptive field of a spatial layer from the support of the gradient.

    The gradient of a unit's activations (summed over channels) with respect to random inputs is
    nonzero exactly on the pixels the unit sees; a union over a few random inputs covers pixels
    a ReLU or a max-pool happened to switch off for one of them. Two neighbouring units give
    the stride.

    Args:
        m: a wrapped model.
        layer: a layer of `m` whose output is (batch, height, width, channels).
        input_shape: one example's shape, (height, width, channels).
        samples: how many random inputs to take the union over.
        seed: seed of those random inputs.
    """
    _check_layer(m, layer)
    probe = jax.random.normal(jax.random.key(seed), (samples, *input_shape), jnp.float32)
    shape = m.layer_shapes(probe)[layer].shape
    if len(shape) != 4 or len(input_shape) != 3:
        raise ValueError(
            f"receptive_field needs an image input (height, width, channels) and a layer with a "
            f"map; got input_shape={tuple(input_shape)} and layer {layer!r} of shape {shape}")
    zeros = jnp.zeros(shape, jnp.float32)

    def support(row, col):
        def unit(xs):
            _, acts = m.apply(m.params, xs, taps={layer: zeros})
            return jnp.sum(acts[layer][:, row, col, :])

        seen = jnp.any(jax.grad(unit)(probe) != 0, axis=(0, 3))
        rows, cols = np.nonzero(np.asarray(seen))
        if rows.size == 0:
            raise ValueError(f"layer {layer!r}: no input pixel reaches unit ({row}, {col})")
        return (rows.min(), cols.min()), (rows.max() + 1, cols.max() + 1)

    height, width = shape[1], shape[2]
    row, col = height // 2, width // 2
    (top, left), (bottom, right) = support(row, col)
    next_row, next_col = min(row + 1, height - 1), min(col + 1, width - 1)
    (top2, left2), _ = support(next_row, next_col)
    stride = (int(top2 - top) if next_row > row else 1, int(left2 - left) if next_col > col else 1)
    return ReceptiveField(
        size=(int(bottom - top), int(right - left)),
        stride=stride,
        offset=(int(top - row * stride[0]), int(left - col * stride[1])),
    )


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
