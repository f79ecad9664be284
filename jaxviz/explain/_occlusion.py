"""Occlusion (Zeiler and Fergus, 2014): how much the score drops when a window is covered."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_batch_size
from . import _engine
from ._backprop import fix_predicted
from ._targets import class_scores, prepare


def occlusion(
    model,
    x,
    target=None,
    *,
    window,
    stride=1,
    value: float = 0.0,
    batch_size: int | None = None,
) -> jax.Array:
    """Slide a window filled with `value` over each example; each feature's attribution is the
    drop in the target score, averaged over the windows that cover it (as Captum's `Occlusion`).

    Args:
      model, x, target, batch_size: as in `jaxviz.saliency`.
      window: the window's size per example axis. An int covers that many positions on every
        axis, except an image's trailing channel axis (examples with 3+ axes), which is covered
        whole; a shorter tuple covers the remaining trailing axes whole.
      stride: the step between windows, an int or a tuple, read like `window`.
      value: what a covered feature is set to.

    Returns:
      float32 attributions shaped like `x` (or (batch, classes, ...) for target="all").
      Windows start every `stride` positions until one reaches the end; when the stride does
      not divide evenly, that last window is clipped at the edge (as in Captum), so with
      stride <= window every feature is covered. Features no window reaches get 0.
    """
    x, target = prepare(model, x, target)
    example = x.shape[1:]
    window = _per_axis("window", window, example)
    stride = _per_axis("stride", stride, example, covered=window)
    if any(w > n for w, n in zip(window, example, strict=True)):
        raise ValueError(f"window: {window} is larger than one example {example}.")

    def build():
        def kernel(params, indices, x, classes):
            logits = model.apply(params, x)
            mode, classes = fix_predicted(target.mode, classes, logits)
            example = x.shape[1:]
            starts = jnp.asarray(_window_starts(example, window, stride))
            masks = jax.vmap(lambda start: _window_mask(example, start, window))(starts)
            covered = jnp.where(masks[None], jnp.asarray(value, x.dtype), x[:, None])  # (batch, windows, ...)
            scores = class_scores(mode, classes, logits)
            drops = jax.vmap(
                lambda rows: scores - class_scores(mode, classes, model.apply(params, rows)), in_axes=1, out_axes=1
            )(covered)  # (batch, windows[, classes])
            masks = masks.astype(jnp.float32)
            counts = masks.sum(0)
            return jnp.tensordot(drops, masks, axes=(1, 0)) / jnp.where(counts > 0, counts, 1.0)

        return kernel

    program = ("occlusion", window, stride, float(value), target.mode)
    return _engine.run(
        model, program, build, (x, target.classes), batch_size=check_batch_size(batch_size),
        evaluations=len(_window_starts(example, window, stride)) + 1,
    )


def _window_starts(example, window, stride) -> np.ndarray:
    """(windows, axes) int32: where each window starts; the last one on an axis may be clipped."""
    ranges = (range(0, min(n - w + s, n), s) for n, w, s in zip(example, window, stride, strict=True))
    return np.array(list(itertools.product(*ranges)), dtype=np.int32)


def _per_axis(argument, value, example, covered=None) -> tuple[int, ...]:
    ndim = len(example)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (int(value),) * (ndim - 1 if ndim >= 3 else ndim)
    if not isinstance(value, tuple | list) or not all(isinstance(v, int | np.integer) and v >= 1 for v in value):
        raise ValueError(f"{argument}: expected a positive int or a tuple of positive ints, got {value!r}.")
    if len(value) > ndim:
        raise ValueError(f"{argument}: {tuple(value)} has more axes than one example of shape {example}.")
    whole = example if covered is None else tuple(max(c, 1) for c in covered)
    return tuple(int(v) for v in value) + tuple(whole[len(value) :])


def _window_mask(example, start, window):
    mask = jnp.ones(example, bool)
    for axis, (size, length) in enumerate(zip(example, window, strict=True)):
        position = jnp.arange(size).reshape((size,) + (1,) * (len(example) - axis - 1))
        mask &= (position >= start[axis]) & (position < start[axis] + length)
    return mask
