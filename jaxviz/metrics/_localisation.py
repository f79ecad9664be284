"""Localisation: does the attribution point at the object? Each metric compares the
attribution's map (an image attribution summed over its channels) with a ground-truth mask per
example, e.g. the `shapes` zoo dataset's `masks_test`. Their random baseline is exact: a map of
independent, identically distributed values scores the mask's share of the positions, in
expectation, on all four."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_positive_int
from . import _inputs
from ._result import MetricResult, summarize


def pointing_game(model, x, target, attribution, *, masks, key=None) -> MetricResult:
    """Pointing game (Zhang et al., 2018): 1 if the map's maximum lies inside the mask (with
    ties, any maximum), else 0. Quantus's `PointingGame` (weighted=False). Higher is better.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, or one int per example.
      attribution: an array shaped like `x` (or like `x` without its channel axis), or a method
        called as `attribution(model, x, classes)`.
      masks: bool (batch, height, width) for images (else shaped like `x`), True on the object.
      key: the bootstrap's `jax.random.key` (default key(0)).
    """
    return _localisation("pointing_game", _pointing_game, model, x, target, attribution, masks, key)


def relevance_mass(
    model, x, target, attribution, *, masks, positive: bool = True, key=None
) -> MetricResult:
    """Relevance mass accuracy (Arras et al., 2022): the share of the map's relevance that lies
    inside the mask, `R_inside / R_total`. Higher is better.

    Arras et al. score positive relevance: with `positive=True` negative values count as 0
    (an example without positive relevance scores 0). Quantus's `RelevanceMassAccuracy` sums
    the signed map (its `abs=False` default) and equals `positive=False`; both agree on
    non-negative maps.

    Args: as `pointing_game`; positive: keep only positive relevance.
    """
    return _localisation(
        "relevance_mass",
        functools.partial(_relevance_mass, positive=positive),
        model,
        x,
        target,
        attribution,
        masks,
        key,
    )


def relevance_rank(model, x, target, attribution, *, masks, key=None) -> MetricResult:
    """Relevance rank accuracy (Arras et al., 2022): with K the mask's size, the share of the
    map's K highest positions that lie inside the mask. Quantus's `RelevanceRankAccuracy`
    (ties ordered by position). Higher is better.

    Args: as `pointing_game`.
    """
    return _localisation(
        "relevance_rank", _relevance_rank, model, x, target, attribution, masks, key
    )


def top_k_intersection(
    model,
    x,
    target,
    attribution,
    *,
    masks,
    k: int | None = None,
    concept_influence: bool = False,
    key=None,
) -> MetricResult:
    """Top-k intersection (Theiner et al., 2021): the share of the map's `k` highest positions
    inside the mask; with `concept_influence`, divided by the mask's share of the positions
    (1 is then chance). Quantus's `TopKIntersection`. Higher is better.

    Args: as `pointing_game`; k: how many top positions (at most all of them); default a
    tenth of them (Quantus's default is 1000, for 224 x 224 maps).
    """
    if k is None:
        k = max(1, int(np.prod(np.shape(masks)[1:])) // 10)
    k = check_positive_int("k", k)
    return _localisation(
        "top_k_intersection",
        functools.partial(_top_k, k=k, concept_influence=concept_influence),
        model,
        x,
        target,
        attribution,
        masks,
        key,
        k=k,
        concept_influence=concept_influence,
    )


def _localisation(
    name, score, model, x, target, attribution, masks, key, *, k=None, concept_influence=False
):
    x, _, attr = _inputs.explained(model, x, target, attribution, metric=name)
    masks = _inputs.check_masks(masks, x)
    positions = _inputs.position_map(attr, x)
    size = positions[0].size
    if k is not None and k > size:
        raise ValueError(f"k: {k} is more than the {size} positions of an example's map.")
    flat, inside = positions.reshape(len(positions), -1), masks.reshape(len(masks), -1)
    values = np.asarray(score(jnp.asarray(flat), jnp.asarray(inside)))
    share = inside.mean(axis=1)
    chance = np.ones_like(share) if concept_influence else share
    return summarize(
        name, values, _inputs.bootstrap_key(key), higher_is_better=True, baseline_values=chance
    )


@jax.jit
def _pointing_game(flat, inside):
    return (inside & (flat == flat.max(axis=1, keepdims=True))).any(axis=1).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames="positive")
def _relevance_mass(flat, inside, positive):
    if positive:
        flat = jnp.maximum(flat, 0.0)
    total = flat.sum(axis=1)
    return jnp.where(
        total != 0, (flat * inside).sum(axis=1) / jnp.where(total != 0, total, 1.0), 0.0
    )


@jax.jit
def _relevance_rank(flat, inside):
    ranks = _inputs.descending_ranks(flat)
    return ((ranks < inside.sum(axis=1, keepdims=True)) & inside).sum(axis=1) / inside.sum(axis=1)


@functools.partial(jax.jit, static_argnames=("k", "concept_influence"))
def _top_k(flat, inside, k, concept_influence):
    hits = ((_inputs.descending_ranks(flat) < k) & inside).sum(axis=1) / k
    return hits * flat.shape[1] / inside.sum(axis=1) if concept_influence else hits
