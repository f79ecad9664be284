"""Per-step training statistics computed inside the user's jitted train step.

``flow_stats`` turns ``grads``, ``params``, ``updates`` (and optionally activations) into a small
``FlowStats`` pytree of fixed shape: everything stays on the device, so recording adds no host
sync to the step; the ``Recorder`` fetches in batches later.

Histograms use fixed bins so their shape is static under ``jit`` and comparable across steps and
layers. Weights and gradients span many orders of magnitude (a vanishing gradient is 1e-7, a
weight 1e-1), so the bins are *signed log-magnitude* bins: ``BINS_PER_DECADE`` bins per decade of
``|value|`` from ``10**HIST_MIN_EXP`` to ``10**HIST_MAX_EXP`` on each side of zero, mirrored for
negative values, with one centre bin for ``|value| < 10**HIST_MIN_EXP`` (zeros included). Values
beyond ``10**HIST_MAX_EXP`` land in the outermost bins. ``histogram_edges()`` gives the edges.

A layer with more than ``HIST_SAMPLE`` values is histogrammed from a fixed random sample of that
many (the same positions every step, so steps stay comparable): binning every weight of a large
layer on every step would cost a sizable share of a training step, and a distribution's shape is
clear from a few thousand values. Norms, ratios and NaN counts always use every value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._model import Model
from ._layers import group_layers
from ._order import NO_ORDER, arrange, forward_order

HIST_MIN_EXP = -8
HIST_MAX_EXP = 2
BINS_PER_DECADE = 3
_SIDE_BINS = (HIST_MAX_EXP - HIST_MIN_EXP) * BINS_PER_DECADE
HIST_BINS = 2 * _SIDE_BINS + 1
HIST_SAMPLE = 4096

ActivationKind = Literal["relu", "sigmoid", "tanh"]
ACTIVATION_KINDS = ("relu", "sigmoid", "tanh")

# A unit is saturated where its local derivative is below a tenth of the derivative's peak:
# sigmoid' = a(1-a) < 0.025  <=>  a < 0.0257 or a > 0.9743;
# tanh' = 1 - a^2 < 0.1  <=>  |a| > 0.9487.
SATURATION_DERIVATIVE_FRACTION = 0.1


def histogram_edges() -> np.ndarray:
    """The ``HIST_BINS + 1`` bin edges (signed, symmetric about zero; see the module docstring).

    The outermost edges are +-10**HIST_MAX_EXP although those bins also hold larger values.
    """
    mags = 10.0 ** (HIST_MIN_EXP + np.arange(_SIDE_BINS + 1) / BINS_PER_DECADE)
    return np.concatenate([-mags[::-1], mags])


def _sample_positions(size: int) -> np.ndarray:
    """HIST_SAMPLE fixed positions out of ``size`` (a static constant, seeded by the size)."""
    return np.sort(np.random.default_rng(size).choice(size, HIST_SAMPLE, replace=False)).astype(
        np.int32
    )


def _histograms(layers: list[jax.Array]) -> jax.Array:
    """(len(layers), HIST_BINS) counts, all layers binned by one bincount (few ops: cheap on
    CPU)."""
    samples = []
    for values in layers:
        v = jnp.ravel(values)
        samples.append(v[_sample_positions(v.size)] if v.size > HIST_SAMPLE else v)
    owner = np.concatenate([np.full(v.size, i, np.int32) for i, v in enumerate(samples)])
    v = jnp.concatenate([v.astype(jnp.float32) for v in samples])
    mag = jnp.abs(v)
    level = jnp.floor((jnp.log10(jnp.maximum(mag, 1e-30)) - HIST_MIN_EXP) * BINS_PER_DECADE)
    level = jnp.clip(level, 0, _SIDE_BINS - 1).astype(jnp.int32)
    tiny = mag < 10.0**HIST_MIN_EXP
    index = jnp.where(
        tiny, _SIDE_BINS, jnp.where(v > 0, _SIDE_BINS + 1 + level, _SIDE_BINS - 1 - level)
    )
    index = jnp.where(
        jnp.isfinite(v), owner * HIST_BINS + index, len(layers) * HIST_BINS
    )  # NaN/inf: dropped
    counts = jnp.bincount(index, length=len(layers) * HIST_BINS + 1)[:-1]
    return counts.reshape(len(layers), HIST_BINS).astype(jnp.int32)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class FlowStats:
    """Statistics of one training step (or, stacked, of many), one row per layer.

    Array fields have a leading layer axis (``len(layers)``); the ``Recorder`` adds a step axis in
    front. ``update_ratio`` is None without ``updates``; the activation fields are None without
    ``activations``.

    Attributes:
      layers: layer names (static): the first ``ordered`` in forward order, the rest after them in
        name order, their place in the forward pass unknown.
      ordered: how many leading ``layers`` are in known forward order (static; 0 when flow_stats
        was given no ``model`` or ``order``). Depth comparisons use only these.
      order_note: why the other layers' order is unknown, "" when every layer's is known (static).
      sizes: parameter count per layer (static).
      activation_names / activation_kinds: the activations given, and their kind (static).
      grad_norm: L2 norm of the layer's gradient (all its leaves together).
      param_norm: L2 norm of the layer's parameters.
      update_ratio: ||update|| / ||param|| (Karpathy's rule of thumb: around 1e-3 is healthy).
      nonfinite: number of NaN/inf values in the layer's gradient.
      grad_hist / param_hist: counts in the fixed signed log-magnitude bins,
        ``(layers, HIST_BINS)``, of at most ``HIST_SAMPLE`` values per layer.
      dead_fraction: per activation, fraction of units (last axis) that output exactly 0 for every
        example in the batch (a dead ReLU).
      saturated_fraction: per activation, fraction of values where the derivative is below a tenth
        of its peak (sigmoid/tanh; 0 for relu).
      activation_hist: per activation, counts of its values in the same bins as the weights,
        ``(activations, HIST_BINS)`` (the monitor's distributions over time).
    """

    grad_norm: jax.Array
    param_norm: jax.Array
    nonfinite: jax.Array
    grad_hist: jax.Array
    param_hist: jax.Array
    update_ratio: jax.Array | None = None
    dead_fraction: jax.Array | None = None
    saturated_fraction: jax.Array | None = None
    activation_hist: jax.Array | None = None
    layers: tuple[str, ...] = field(default=(), metadata=dict(static=True))
    ordered: int = field(default=0, metadata=dict(static=True))
    order_note: str = field(default=NO_ORDER, metadata=dict(static=True))
    sizes: tuple[int, ...] = field(default=(), metadata=dict(static=True))
    activation_names: tuple[str, ...] = field(default=(), metadata=dict(static=True))
    activation_kinds: tuple[str, ...] = field(default=(), metadata=dict(static=True))


def _sq_norm(leaves) -> jax.Array:
    return sum((jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves), jnp.float32(0))


def _per_layer(leaves, groups, fn) -> jax.Array:
    return jnp.stack([fn([leaves[i] for i in idx]) for idx in groups.leaf_indices])


def _concat(leaves) -> jax.Array:
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def _activation_stats(kind: str, a: jax.Array) -> tuple[jax.Array, jax.Array]:
    a = a.astype(jnp.float32)
    per_unit = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[:, None]
    dead = jnp.mean(jnp.all(per_unit == 0, axis=0))
    if kind == "sigmoid":
        derivative, peak = a * (1 - a), 0.25
    elif kind == "tanh":
        derivative, peak = 1 - a * a, 1.0
    else:
        return dead, jnp.zeros((), jnp.float32)
    saturated = jnp.mean(derivative < SATURATION_DERIVATIVE_FRACTION * peak)
    return dead, saturated


def _check_activations(activations) -> tuple[tuple[str, ...], tuple[str, ...], list]:
    if not isinstance(activations, Mapping):
        raise TypeError(
            "activations: expected a mapping {name: (kind, array)}, got "
            f"{type(activations).__name__}."
        )
    names, kinds, arrays = [], [], []
    for name, entry in activations.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] in ACTIVATION_KINDS):
            raise ValueError(
                f"activations[{name!r}]: expected a (kind, array) pair with kind one of "
                f"{ACTIVATION_KINDS}, got {entry!r:.80}."
            )
        names.append(str(name))
        kinds.append(entry[0])
        arrays.append(jnp.asarray(entry[1]))
    return tuple(names), tuple(kinds), arrays


def flow_stats(
    grads,
    params,
    updates=None,
    *,
    activations: Mapping[str, tuple[ActivationKind, jax.Array]] | None = None,
    model: Model | None = None,
    order: Sequence[str] | None = None,
) -> FlowStats:
    """Per-layer statistics of one training step; pure, jit-able, no host callbacks.

    Call it inside your jitted train step and return its result; hand that to ``Recorder.add``.

    Args:
      grads: gradients, same structure as ``params``.
      params: the parameters (Linen variables/params dict, NNX state, any pytree).
      updates: the optimizer's updates (``optax`` ``update`` output), for the update/param ratio.
      activations: optional ``{name: (kind, activation)}`` with kind ``"relu"``, ``"sigmoid"`` or
        ``"tanh"``, activation shaped ``(batch, ..., units)``; gives dead and saturated fractions.
      model: the wrapped model (``jv.wrap(net, example=x)``) whose ``params`` these are; its
        layers come out in the order it calls them, which depth comparisons need. It must have
        run on an input (``example=``, or any call or explanation), which is when it is seen.
      order: instead of ``model``, layer names in forward order, for a plain pytree.

    Without ``model`` or ``order`` the layers come in name order, marked as unknown forward order
    (``ordered == 0``): ``diagnose`` then skips depth comparisons, unless the ``Recorder`` was given
    the model. Either way works; the order is static, so giving it adds nothing to the step.

    Returns:
      A ``FlowStats`` with one row per layer.

    >>> import jax, jax.numpy as jnp
    >>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    >>> s = jax.jit(flow_stats)(params, params)
    >>> s.layers, float(s.grad_norm[0]) ** 2
    (('dense',), 6.0...)
    """
    forward = forward_order(model, order)
    groups = group_layers(params, forward)
    ordered, order_note = 0, NO_ORDER
    if forward is not None:
        _, ordered, order_note = arrange(
            groups.names, forward, argument="order" if order is not None else "model"
        )
    p_leaves, p_def = jax.tree_util.tree_flatten(params)
    g_leaves, g_def = jax.tree_util.tree_flatten(grads)
    if g_def.num_leaves != p_def.num_leaves:
        raise ValueError(
            f"grads: has {g_def.num_leaves} leaves but params has {p_def.num_leaves}; pass the "
            "gradients of exactly these parameters."
        )
    param_norm = jnp.sqrt(_per_layer(p_leaves, groups, _sq_norm))
    stats = dict(
        grad_norm=jnp.sqrt(_per_layer(g_leaves, groups, _sq_norm)),
        param_norm=param_norm,
        nonfinite=_per_layer(
            g_leaves, groups, lambda ls: sum(jnp.sum(~jnp.isfinite(x)) for x in ls)
        ),
        grad_hist=_histograms([_concat([g_leaves[i] for i in idx]) for idx in groups.leaf_indices]),
        param_hist=_histograms(
            [_concat([p_leaves[i] for i in idx]) for idx in groups.leaf_indices]
        ),
    )
    if updates is not None:
        u_leaves = jax.tree_util.tree_leaves(updates)
        if len(u_leaves) != len(p_leaves):
            raise ValueError(
                f"updates: has {len(u_leaves)} leaves but params has {len(p_leaves)}; pass the "
                "optimizer updates for exactly these parameters."
            )
        update_norm = jnp.sqrt(_per_layer(u_leaves, groups, _sq_norm))
        stats["update_ratio"] = update_norm / jnp.maximum(param_norm, jnp.finfo(jnp.float32).tiny)
    names, kinds = (), ()
    if activations is not None:
        names, kinds, arrays = _check_activations(activations)
        if names:
            dead, saturated = zip(*(_activation_stats(k, a) for k, a in zip(kinds, arrays)))
            stats["dead_fraction"] = jnp.stack(dead)
            stats["saturated_fraction"] = jnp.stack(saturated)
            stats["activation_hist"] = _histograms(arrays)
    sizes = tuple(int(sum(np.size(p_leaves[i]) for i in idx)) for idx in groups.leaf_indices)
    return FlowStats(
        **stats,
        layers=groups.names,
        ordered=ordered,
        order_note=order_note,
        sizes=sizes,
        activation_names=names,
        activation_kinds=kinds,
    )


def fill_value(dtype) -> float:
    """What a stored row holds where a step gave no value: NaN for floats, 0 for counts."""
    return np.nan if np.issubdtype(dtype, np.floating) else 0


# Fields with one row per layer (the activation fields have one per activation instead).
LAYER_FIELDS = ("grad_norm", "param_norm", "nonfinite", "grad_hist", "param_hist", "update_ratio")


def reorder(meta: FlowStats, forward: Sequence[str]) -> tuple[FlowStats, np.ndarray]:
    """``meta`` with its layers in the forward order ``forward`` names (``arrange``), and the
    permutation that takes the layer axis of its ``LAYER_FIELDS`` there (``field[:, perm]`` for
    a Recorder's fields, which have a step axis in front)."""
    names, ordered, note = arrange(meta.layers, forward)
    perm = np.array([meta.layers.index(n) for n in names], np.int64)
    arranged = replace(
        meta,
        layers=names,
        ordered=ordered,
        order_note=note,
        sizes=tuple(meta.sizes[i] for i in perm),
    )
    return arranged, perm
