"""Max-pool gradients through the engine's rewrite equal JAX's own, ties included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz import _jaxpr


def pooled_score(x):
    max_pooled = nnx.max_pool(jax.nn.relu(x), (2, 2), strides=(2, 2))
    min_pooled = jax.lax.reduce_window(x, jnp.inf, jax.lax.min, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    overlapping = nnx.max_pool(x, (3, 3), strides=(1, 1))  # not a tiling: left to XLA
    return (max_pooled**2).sum() + (min_pooled * x[:, ::2, ::2]).sum() + overlapping.sum()


@pytest.fixture
def tied_input():
    x = jax.random.normal(jax.random.key(0), (3, 8, 6, 4))
    return x.at[:, :2, :4].set(0.0).at[:, 4:6, :2].set(1.5)  # whole windows of equal values


def test_rewritten_gradient_equals_jax_gradient_with_ties(tied_input):
    grad = jax.grad(pooled_score)
    np.testing.assert_array_equal(
        _jaxpr.with_fast_pool_gradients(grad)(tied_input), grad(tied_input)
    )


def test_rewritten_gradient_under_vmap(tied_input):
    batched = jax.vmap(jax.grad(pooled_score))
    xs = jnp.stack([tied_input, -tied_input])
    np.testing.assert_array_equal(_jaxpr.with_fast_pool_gradients(batched)(xs), batched(xs))


def test_rewrite_removes_the_scatter(tied_input):
    def scatters(fn):
        hlo = jax.jit(fn).lower(tied_input).compile().as_text()
        return sum(" scatter(" in line for line in hlo.splitlines())

    tiling_only = jax.grad(lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)).sum())
    assert scatters(tiling_only) >= 1
    assert scatters(_jaxpr.with_fast_pool_gradients(tiling_only)) == 0


def test_explanations_keep_plain_gradients_through_max_pools(cnn, images):
    # conftest's CNN max-pools after a ReLU, so windows of zeros (ties) occur.
    def score(x):
        return cnn.apply(cnn.params, x)[:, 3].sum()

    np.testing.assert_allclose(
        jv.saliency(cnn, images, target=3), jax.grad(score)(images), rtol=1e-6, atol=1e-7
    )
