"""Complexity: how concentrated is the attribution? Computed on the magnitudes of all of its
values (every channel), as Quantus does."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _inputs
from ._result import MetricResult, summarize


def sparseness(model, x, target, attribution, *, key=None) -> MetricResult:
    """Sparseness (Chalasani et al., 2020): the Gini index of the attribution's magnitudes
    `|a|` sorted ascending, `sum_i (2i - n - 1) |a|_(i) / (n sum_i |a|_i)` for i = 1..n. A map
    with one nonzero value scores (n - 1) / n, the most; a uniform map scores 0; an all-zero
    map scores 0. Higher is sparser.

    Quantus's `Sparseness` adds 1e-7 to every value before sorting (to avoid 0/0), which lowers
    a one-hot map's score from (n - 1) / n by about n * 1e-7 / max|a|.

    Args:
      model, x, target: as in `jaxviz.metrics.deletion` (used to compute the attribution when a
        method is given).
      attribution: an array, or a method called as `attribution(model, x, classes)`.
      key: the bootstrap's `jax.random.key` (default key(0)).
    """
    _, _, attr = _inputs.explained(model, x, target, attribution, metric="sparseness")
    values = np.asarray(_gini(jnp.asarray(attr.reshape(len(attr), -1))))
    return summarize("sparseness", values, _inputs.bootstrap_key(key), higher_is_better=True)


def entropy(model, x, target, attribution, *, key=None) -> MetricResult:
    """Complexity as entropy (Bhatt et al., 2020): the Shannon entropy (nats) of the attribution's
    fractional contributions `|a_i| / sum_j |a_j|`. A one-hot map scores 0, a uniform one
    log(n), the most. Lower is simpler. Quantus's `Complexity` (which adds 1e-12 inside the log).

    Args: as `sparseness`.
    """
    _, _, attr = _inputs.explained(model, x, target, attribution, metric="entropy")
    values = np.asarray(_entropy(jnp.asarray(attr.reshape(len(attr), -1))))
    return summarize("entropy", values, _inputs.bootstrap_key(key), higher_is_better=False)


@jax.jit
def _gini(flat):
    magnitudes = jnp.sort(jnp.abs(flat).astype(jnp.float32), axis=1)
    n = magnitudes.shape[1]
    weights = 2 * jnp.arange(1, n + 1, dtype=jnp.float32) - n - 1
    total = magnitudes.sum(axis=1)
    return jnp.where(
        total > 0, (magnitudes @ weights) / (n * jnp.where(total > 0, total, 1.0)), 0.0
    )


@jax.jit
def _entropy(flat):
    magnitudes = jnp.abs(flat).astype(jnp.float32)
    share = magnitudes / jnp.maximum(
        magnitudes.sum(axis=1, keepdims=True), jnp.finfo(jnp.float32).tiny
    )
    return -jnp.where(share > 0, share * jnp.log(jnp.where(share > 0, share, 1.0)), 0.0).sum(axis=1)
