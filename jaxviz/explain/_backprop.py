"""The one backward pass every gradient method shares: seed the followed class, pull back."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._targets import chosen_classes, class_scores, cotangents


def pull_back(vjp: Callable, logits: jax.Array, mode: str, classes: jax.Array) -> jax.Array:
    """Gradient of each row's followed score with respect to the vjp's input, in float32.

    Rows are independent examples, so one backward pass seeded with one-hot rows gives every
    row's own gradient. Returns (rows, ...), or (rows, classes, ...) for mode "all" (a vmapped
    backward pass sharing one forward pass).
    """
    (grads,) = pull_back_each(vjp, logits, mode, classes)
    return grads


def pull_back_each(vjp: Callable, logits: jax.Array, mode: str, classes: jax.Array) -> tuple[jax.Array, ...]:
    """`pull_back` for a vjp of several inputs: each one's gradient."""
    num_classes = logits.shape[-1]
    seeds = cotangents(mode, chosen_classes(mode, classes, logits), num_classes, logits.dtype)
    if mode == "all":
        grads = tuple(jnp.moveaxis(g, 0, 1) for g in jax.vmap(vjp)(seeds))
    else:
        grads = vjp(seeds)
    return tuple(g.astype(jnp.float32) for g in grads)


def fix_predicted(mode: str, classes: jax.Array, logits: jax.Array) -> tuple[str, jax.Array]:
    """Turn "predicted" into "given" with the argmax of `logits` (computed at the real input),
    so later passes at other points (paths, noise) keep following the same class."""
    if mode == "predicted":
        return "given", chosen_classes(mode, classes, logits)
    return mode, classes


def per_class(values: jax.Array, mode: str) -> jax.Array:
    """Insert the class axis that "all" mode adds, so (batch, ...) broadcasts against results."""
    return values[:, None] if mode == "all" else values


def rows_of(points: jax.Array) -> jax.Array:
    """Flatten (batch, samples, ...) points into model rows (batch * samples, ...)."""
    return points.reshape((-1,) + points.shape[2:])


def per_sample(grads: jax.Array, batch: int) -> jax.Array:
    """Undo `rows_of` on gradients: (batch * samples, ...) -> (batch, samples, ...)."""
    return grads.reshape((batch, -1) + grads.shape[1:])


def sample_axis(values: jax.Array, mode: str) -> jax.Array:
    """(batch, samples, ...) values lined up with per_sample gradients in either mode."""
    return values[:, :, None] if mode == "all" else values


def feature_sum(attr: jax.Array, mode: str) -> jax.Array:
    """Sum attributions over the feature axes: (batch,), or (batch, classes) for "all"."""
    first_feature = 2 if mode == "all" else 1
    return attr.sum(axis=tuple(range(first_feature, attr.ndim)))


def with_completeness_gap(attr, mode: str, classes, logits, baseline_logits, return_delta: bool):
    """`attr`, or with `return_delta` the pair `(attr, gap)`: each example's completeness gap
    `sum(attr) - (f(x) - f(baseline))` for the followed class (per class for "all")."""
    if not return_delta:
        return attr
    gap = class_scores(mode, classes, logits) - class_scores(mode, classes, baseline_logits)
    return attr, feature_sum(attr, mode) - gap


def in_groups(values: jax.Array, size: int, axis: int = 0) -> jax.Array:
    """`values` with their sample axis `axis` cut into groups of `size`, zero-padded, the groups
    first: (groups, ..., size, ...). Padded samples must carry a zero weight."""
    samples = values.shape[axis]
    groups = -(-samples // size)
    padding = [(0, 0)] * values.ndim
    padding[axis] = (0, groups * size - samples)
    values = jnp.pad(jnp.asarray(values), padding)
    return jnp.moveaxis(values.reshape(values.shape[:axis] + (groups, size) + values.shape[axis + 1 :]), axis, 0)


def sum_over_groups(fn: Callable, *per_group: jax.Array):
    """The sum over groups `g` of `fn(*(a[g] for a in per_group))`: the groups run one after
    another in one program, so memory holds one group's rows (see `_engine.samples_per_group`)."""
    if per_group[0].shape[0] == 1:
        return fn(*(a[0] for a in per_group))
    shapes = jax.eval_shape(fn, *(a[0] for a in per_group))
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    total, _ = jax.lax.scan(lambda acc, group: (jax.tree.map(jnp.add, acc, fn(*group)), None), zeros, per_group)
    return total
