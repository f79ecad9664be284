"""Adaptive path integration for integrated gradients: nodes go where the integrand changes.

Integrated gradients integrates the gradient along the straight path
``gamma(alpha) = baseline + alpha * (x - baseline)``. Its completeness identity,
``sum(attribution) == f(x) - f(baseline)``, holds on every piece of the path too: over
``[a, b]`` the scalar integrand ``<grad f(gamma), x - baseline>`` integrates exactly to
``f(gamma(b)) - f(gamma(a))``. So two forward passes at an interval's ends give a quadrature
rule's *exact* completeness error on that interval, with no error model.

The integrator starts each example from a few equal intervals with a Gauss-Legendre rule on
each, then repeatedly bisects the intervals with the largest local errors until the example's
completeness gap is within ``tol * |f(x) - f(baseline)|`` or its interval budget is spent.
For a ReLU network the integrand jumps where a unit switches on or off; bisection isolates the
large jumps at a logarithmic cost, where a uniform rule needs ever more nodes everywhere. For a
smooth network the per-interval Gauss-Legendre rule converges fast wherever it is not split.

Shapes are static, so the whole batch is one compiled ``lax.while_loop``: each round bisects a
fixed number of intervals, the worst across the batch relative to each example's tolerance,
among the examples not yet done. Work goes only to the examples that still need it, instead of
every example waiting, masked, for the slowest one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


class PathIntegrals(NamedTuple):
    """Each example's integral of the gradient along its straight path."""

    mean_gradient: jax.Array  # (B, *features): integral over alpha in [0, 1] of grad f(gamma)
    relative_gap: jax.Array  # (B,): |sum of the attribution - (f(x) - f(baseline))| / |f(x) - f(b.)|
    gradient_evaluations: jax.Array  # (B,) int32: gradients spent on each example
    forward_evaluations: jax.Array  # (B,) int32: forward passes at each example's interval ends
    rounds: jax.Array  # () int32: bisection rounds the batch ran


class _Intervals(NamedTuple):
    """Up to ``slots`` intervals per example; an unused slot is [0, 0] with zero integrals."""

    start: jax.Array  # (B, slots): alpha at the left end
    end: jax.Array
    f_start: jax.Array  # f(gamma(start))
    f_end: jax.Array
    scalar: jax.Array  # the rule's integral of the scalar integrand <grad f, x - baseline>
    error: jax.Array  # |scalar - (f_end - f_start)|: the exact local completeness error
    integral: jax.Array  # (B, slots, *features): the rule's integral of the gradient
    used: jax.Array  # (B,) int32: slots in use
    splits: jax.Array  # (B,) int32: bisections applied
    rounds: jax.Array  # () int32
    stalled: jax.Array  # () bool: the last round could split nothing (errors all zero or no room)


def gauss_legendre_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    points, weights = np.polynomial.legendre.leggauss(nodes)
    return (points + 1.0) / 2.0, weights / 2.0


def integrate_gradient_paths(
    value_fn: Callable[[jax.Array, jax.Array], jax.Array],
    x: jax.Array,
    baseline: jax.Array,
    *,
    tol: float,
    nodes: int = 2,
    initial_intervals: int = 4,
    max_intervals: int = 64,
    splits_per_round: int | None = None,
) -> PathIntegrals:
    """Integrate the gradient along each example's path from its baseline to x, to a tolerance.

    Args:
      value_fn: ``value_fn(points, rows)`` maps points ``(P, *features)`` on the paths of
        examples ``rows`` ``(P,)`` (indices into the batch) to the explained scalar of each,
        ``(P,)`` (e.g. the target logit of ``x[rows]``). Points are independent, so the gradient
        of the sum is each point's gradient.
      x, baseline: ``(B, *features)``.
      tol: relative tolerance on each example's completeness gap,
        ``|sum(attribution) - (f(x) - f(baseline))| <= tol * |f(x) - f(baseline)|``.
      nodes: Gauss-Legendre nodes per interval.
      initial_intervals: equal intervals each example starts with.
      max_intervals: the interval budget per example; refinement stops there even if ``tol``
        is not met, which ``relative_gap`` then shows. Memory is ``max_intervals`` copies of x.
      splits_per_round: bisections per round across the batch (default: the batch size).

    Returns:
      :class:`PathIntegrals`; the attribution is ``(x - baseline) * mean_gradient``.
    """
    batch, features = x.shape[0], x.shape[1:]
    splits_per_round = splits_per_round or batch
    if initial_intervals > max_intervals:
        raise ValueError(f"initial_intervals={initial_intervals} must be at most "
                         f"max_intervals={max_intervals}")
    rule_points, rule_weights = (jnp.asarray(r, x.dtype) for r in gauss_legendre_rule(nodes))
    direction = x - baseline
    gradient_fn = jax.grad(lambda points, rows: jnp.sum(value_fn(points, rows)))
    feature_axes = tuple(range(1, x.ndim))

    def on_path(alpha: jax.Array, rows: jax.Array) -> jax.Array:
        scale = alpha.reshape(-1, *([1] * len(features)))
        return baseline[rows] + scale * direction[rows]

    def rule(start, end, rows) -> tuple[jax.Array, jax.Array]:
        """The rule's integrals of the gradient and of the scalar integrand, per interval."""
        width = (end - start)[:, None]
        alpha = (start[:, None] + width * rule_points).reshape(-1)
        node_rows = jnp.repeat(rows, nodes)
        gradients = gradient_fn(on_path(alpha, node_rows), node_rows)
        gradients = gradients.reshape(start.shape[0], nodes, *features)
        integral = jnp.einsum("kn,kn...->k...", width * rule_weights, gradients)
        return integral, jnp.sum(integral * direction[rows], axis=feature_axes)

    def with_intervals(state: _Intervals, rows, slots, start, end, f_start, f_end) -> _Intervals:
        """Evaluate the rule on the intervals and store them; rows == batch are dropped."""
        integral, scalar = rule(start, end, jnp.minimum(rows, batch - 1))

        def put(field: jax.Array, values: jax.Array) -> jax.Array:
            return field.at[rows, slots].set(values, mode="drop")

        return state._replace(
            start=put(state.start, start), end=put(state.end, end),
            f_start=put(state.f_start, f_start), f_end=put(state.f_end, f_end),
            scalar=put(state.scalar, scalar),
            error=put(state.error, jnp.abs(scalar - (f_end - f_start))),
            integral=put(state.integral, integral),
        )

    grid = jnp.linspace(0.0, 1.0, initial_intervals + 1, dtype=x.dtype)
    grid_rows = jnp.repeat(jnp.arange(batch), initial_intervals + 1)
    f_grid = value_fn(on_path(jnp.tile(grid, batch), grid_rows), grid_rows)
    f_grid = f_grid.reshape(batch, initial_intervals + 1)
    total_change = f_grid[:, -1] - f_grid[:, 0]
    allowed_gap = tol * jnp.abs(total_change)

    empty = jnp.zeros((batch, max_intervals), x.dtype)
    state = _Intervals(
        start=empty, end=empty, f_start=empty, f_end=empty, scalar=empty, error=empty,
        integral=jnp.zeros((batch, max_intervals, *features), x.dtype),
        used=jnp.full((batch,), initial_intervals, jnp.int32),
        splits=jnp.zeros((batch,), jnp.int32), rounds=jnp.int32(0), stalled=jnp.bool_(False),
    )
    first_rows = jnp.repeat(jnp.arange(batch), initial_intervals)
    first_slots = jnp.tile(jnp.arange(initial_intervals), batch)
    state = with_intervals(
        state, first_rows, first_slots,
        jnp.tile(grid[:-1], batch), jnp.tile(grid[1:], batch),
        f_grid[:, :-1].reshape(-1), f_grid[:, 1:].reshape(-1),
    )

    def gap(state: _Intervals) -> jax.Array:
        return jnp.abs(jnp.sum(state.scalar, axis=1) - total_change)

    def needs_work(state: _Intervals) -> jax.Array:
        return (gap(state) > allowed_gap) & (state.used < max_intervals)

    def bisect_worst(state: _Intervals) -> _Intervals:
        # Worst intervals first, each measured against its own example's tolerance.
        priority = state.error / jnp.maximum(allowed_gap, jnp.finfo(x.dtype).tiny)[:, None]
        priority = jnp.where(needs_work(state)[:, None], priority, -1.0)
        top, flat = lax.top_k(priority.reshape(-1), splits_per_round)
        chosen_rows, slots = flat // max_intervals, flat % max_intervals
        eligible = top > 0
        # The k-th eligible split of an example this round takes its k-th free slot.
        earlier = jnp.tril(chosen_rows[:, None] == chosen_rows[None, :], k=-1) & eligible[None, :]
        new_slots = state.used[chosen_rows] + jnp.sum(earlier, axis=1)
        applied = eligible & (new_slots < max_intervals)
        rows = jnp.where(applied, chosen_rows, batch)  # the scatters drop row `batch`
        start, end = state.start[chosen_rows, slots], state.end[chosen_rows, slots]
        middle = (start + end) / 2
        f_middle = value_fn(on_path(middle, chosen_rows), chosen_rows)
        state = with_intervals(
            state,
            jnp.concatenate([rows, rows]),
            jnp.concatenate([slots, new_slots]),
            jnp.concatenate([start, middle]),
            jnp.concatenate([middle, end]),
            jnp.concatenate([state.f_start[chosen_rows, slots], f_middle]),
            jnp.concatenate([f_middle, state.f_end[chosen_rows, slots]]),
        )
        added = jnp.zeros((batch,), jnp.int32).at[rows].add(1, mode="drop")
        return state._replace(used=state.used + added, splits=state.splits + added,
                              rounds=state.rounds + 1, stalled=~jnp.any(applied))

    def unfinished(state: _Intervals) -> jax.Array:
        return jnp.any(needs_work(state)) & ~state.stalled

    state = lax.while_loop(unfinished, bisect_worst, state)
    return PathIntegrals(
        mean_gradient=jnp.sum(state.integral, axis=1),
        relative_gap=gap(state) / jnp.abs(total_change),
        gradient_evaluations=nodes * (initial_intervals + 2 * state.splits),
        forward_evaluations=initial_intervals + 1 + state.splits,
        rounds=state.rounds,
    )
