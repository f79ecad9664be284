"""Similarity of two maps, row by row: Pearson and Spearman correlation, and SSIM."""

from __future__ import annotations

import jax
import jax.numpy as jnp

SSIM_WINDOW = 7  # scikit-image's default window (uniform, 7 x 7)


def pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation of each row of `a` with the same row of `b`, (rows, features) ->
    (rows,); 0 where either row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    scale = jnp.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    return jnp.where(scale > 0, (a * b).sum(axis=1) / jnp.where(scale > 0, scale, 1.0), 0.0)


def average_ranks(values: jax.Array) -> jax.Array:
    """Each row's ranks (0-based), tied values sharing their average rank (as scipy's rankdata)."""

    def row(v):
        ordered = jnp.sort(v)
        first = jnp.searchsorted(ordered, v, side="left")
        past = jnp.searchsorted(ordered, v, side="right")
        return (first + past - 1) / 2.0

    return jax.vmap(row)(values)


@jax.jit
def spearman(a: jax.Array, b: jax.Array) -> jax.Array:
    """Spearman rank correlation of rows (scipy.stats.spearmanr's, ties averaged)."""
    return pearson(average_ranks(a.astype(jnp.float32)), average_ranks(b.astype(jnp.float32)))


@jax.jit
def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean structural similarity (Wang et al., 2004) of 2-D maps (rows, height, width), as
    scikit-image's `structural_similarity` with its defaults (a 7 x 7 uniform window, sample
    covariances, K1 = 0.01, K2 = 0.03, the mean over windows inside the map) and the data range
    Quantus passes: max - min over both maps. Two equal constant maps score 1."""
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    both = jnp.stack([a, b], axis=1)
    data_range = (both.max(axis=(1, 2, 3)) - both.min(axis=(1, 2, 3)))[:, None, None]
    count = SSIM_WINDOW * SSIM_WINDOW

    def window_mean(v):
        summed = jax.lax.reduce_window(
            v, 0.0, jax.lax.add, (1, SSIM_WINDOW, SSIM_WINDOW), (1, 1, 1), "VALID"
        )
        return summed / count

    mean_a, mean_b = window_mean(a), window_mean(b)
    unbiased = count / (count - 1)
    var_a = unbiased * (window_mean(a * a) - mean_a**2)
    var_b = unbiased * (window_mean(b * b) - mean_b**2)
    cov = unbiased * (window_mean(a * b) - mean_a * mean_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    numerator = (2 * mean_a * mean_b + c1) * (2 * cov + c2)
    denominator = (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    index = jnp.where(
        denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1.0), 1.0
    )
    return index.mean(axis=(1, 2))
