"""The affine start of a model (explain/_affine.py): found where it is, absent where it is not,
and integrated gradients / SmoothGrad through it equal the same methods without it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz.explain import _affine


def _split(m, x):
    return _affine.split(m.apply, m.params, jnp.asarray(x))


def test_a_cnn_splits_after_its_first_convolution_and_bias(cnn_models, images):
    for kind, m in cnn_models.items():
        split = _split(m, images)
        assert isinstance(split, _affine.AffineSplit), kind
        (frontier,) = split.prefix(images)
        conv1 = jv.activations(m, images, layers=["conv1"])["conv1"]
        np.testing.assert_allclose(frontier, conv1, rtol=1e-6, atol=1e-6, err_msg=kind)
        rows = jax.ShapeDtypeStruct(images.shape, images.dtype)
        np.testing.assert_allclose(
            split.suffix((frontier,), rows), m(images), rtol=1e-5, atol=1e-6, err_msg=kind
        )


def test_a_linear_model_is_affine_all_the_way(linear):
    m, w, b = linear
    x = jax.random.normal(jax.random.key(0), (3, 7))
    split = _split(m, x)
    assert isinstance(split, _affine.AffineSplit)
    np.testing.assert_allclose(split.prefix(x)[0], x @ w + b, rtol=1e-6)


class _Start(nnx.Module):
    """conv -> batch norm (eval) -> ReLU -> dense, plus a dense skip path from the raw input."""

    def __init__(self, rngs):
        self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
        self.norm = nnx.BatchNorm(4, use_running_average=True, rngs=rngs)
        self.dense = nnx.Linear(8 * 8 * 4, 5, rngs=rngs)
        self.skip = nnx.Linear(8 * 8 * 3, 5, rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.norm(self.conv(2.0 * x - 1.0)))
        return self.dense(h.reshape(h.shape[0], -1)) * jnp.tanh(
            self.skip(x.reshape(x.shape[0], -1))
        )


@pytest.fixture(scope="module")
def branched_net():
    net = _Start(nnx.Rngs(3))
    net.norm.mean[...] = jnp.linspace(-0.3, 0.3, 4)
    net.norm.var[...] = jnp.linspace(0.5, 2.0, 4)
    return net


@pytest.fixture(scope="module")
def branched(branched_net):
    return jv.wrap(branched_net)


def test_the_start_reaches_through_batch_norm_and_has_one_value_per_branch(
    branched, branched_net, images
):
    split = _split(branched, images)
    assert isinstance(split, _affine.AffineSplit)
    normed, skipped = split.prefix(images)
    np.testing.assert_allclose(
        normed, branched_net.norm(branched_net.conv(2.0 * images - 1.0)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        skipped, branched_net.skip(images.reshape(6, -1)), rtol=1e-5, atol=1e-6
    )


def test_models_without_a_costly_affine_start_are_left_whole(images):
    elementwise = jv.wrap(
        lambda x: jnp.tanh(2.0 * x + 1.0).reshape(x.shape[0], -1)[:, :5], example=images
    )
    assert isinstance(_split(elementwise, images), _affine.Unsplit)
    w = jax.random.normal(jax.random.key(1), (8 * 8 * 3, 5))
    first_nonlinear = jv.wrap(lambda x: jnp.abs(x).reshape(x.shape[0], -1) @ w, example=images)
    assert isinstance(_split(first_nonlinear, images), _affine.Unsplit)
    half = jv.wrap(
        lambda x: x.reshape(x.shape[0], -1) @ w.astype(jnp.bfloat16),
        example=images.astype(jnp.bfloat16),
    )
    assert isinstance(_split(half, images.astype(jnp.bfloat16)), _affine.Unsplit)


@pytest.fixture
def without_split(monkeypatch):
    """Run a call with the affine start left in place (every point through the whole model)."""

    def run(call):
        with monkeypatch.context() as patch:
            patch.setattr(_affine, "split", lambda apply, params, x: _affine.Unsplit(apply, params))
            return call()

    return run


@pytest.mark.parametrize("model", ["cnn", "branched"])
def test_integrated_gradients_through_the_start_equals_the_whole_path(
    model, request, images, without_split
):
    m = request.getfixturevalue(model)
    baseline = jax.random.normal(jax.random.key(2), images.shape) * 0.1

    def call():
        return (
            jv.integrated_gradients(
                m, images, target=2, steps=24, baseline=baseline, return_delta=True
            ),
            jv.integrated_gradients(m, images, target="all", steps=8),
        )

    (attr, delta), every = call()
    (attr_whole, delta_whole), every_whole = without_split(call)
    scale = np.abs(attr_whole).max()
    np.testing.assert_allclose(attr, attr_whole, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(
        delta, delta_whole, atol=1e-5 * np.abs(attr_whole).sum(axis=(1, 2, 3)).max()
    )
    np.testing.assert_allclose(every, every_whole, rtol=1e-5, atol=1e-6 * np.abs(every_whole).max())


def test_smoothgrad_through_the_start_equals_the_whole_model(cnn, images, without_split):
    def call():
        return jv.smoothgrad(cnn, images, target=1, samples=6, key=jax.random.key(4))

    whole = without_split(call)
    np.testing.assert_allclose(call(), whole, rtol=1e-5, atol=1e-6 * np.abs(whole).max())
