"""Adaptive integrated gradients (tol=...): each example's completeness gap meets the tolerance."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.explain import _adaptive
from jaxviz.explain._targets import resolve_target


def relative_gaps(model, x, target, delta):
    logits, at_baseline = model(x), model(jnp.zeros_like(x))
    if target == "all":
        return np.abs(delta) / np.abs(logits - at_baseline)
    rows = np.arange(x.shape[0])
    classes = np.argmax(logits, axis=1) if target is None else np.full(x.shape[0], target)
    return np.abs(delta) / np.abs(logits[rows, classes] - at_baseline[rows, classes])


@pytest.fixture(scope="module")
def smooth():
    """A tanh MLP: a smooth integrand along every path."""
    keys = jax.random.split(jax.random.key(7), 4)
    w1, b1 = jax.random.normal(keys[0], (10, 32)), jax.random.normal(keys[1], (32,))
    w2, b2 = jax.random.normal(keys[2], (32, 3)) / 4, jax.random.normal(keys[3], (3,))
    return jv.wrap(lambda x: jnp.tanh(x @ w1 + b1) @ w2 + b2)


@pytest.mark.parametrize("target", [None, 3, "all"])
@pytest.mark.parametrize("tol", [1e-2, 1e-3])
def test_relu_cnn_with_random_biases_meets_the_tolerance(cnn, images, target, tol):
    attr, delta = jv.integrated_gradients(cnn, images, target=target, tol=tol, return_delta=True)
    assert attr.shape == jv.integrated_gradients(cnn, images, target=target, steps=2).shape
    assert np.all(relative_gaps(cnn, images, target, delta) <= tol * 1.001)
    # The tolerance is not met for free: a coarse fixed rule misses it.
    _, coarse = jv.integrated_gradients(cnn, images, target=target, steps=2, return_delta=True)
    assert np.max(relative_gaps(cnn, images, target, coarse)) > tol


def test_smooth_model_meets_the_tolerance_and_agrees_with_a_fine_rule(smooth):
    x = jax.random.normal(jax.random.key(3), (16, 10)) * 2
    attr, delta = jv.integrated_gradients(smooth, x, target=1, tol=1e-5, return_delta=True)
    assert np.all(relative_gaps(smooth, x, 1, delta) <= 1e-5 * 1.001)
    reference = jv.integrated_gradients(smooth, x, target=1, steps=256)
    np.testing.assert_allclose(attr, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())


def test_refinement_spends_evaluations_only_where_needed(cnn, images):
    """Looser tolerances cost fewer gradients, and no example exceeds max_steps."""
    target, baseline = resolve_target(2, images.shape[0], 5), jnp.zeros_like(images)

    def evaluations(tol, max_steps=512):
        found = _adaptive.integrated_gradients_to_tolerance(
            cnn, images, target, baseline, tol=tol, max_steps=max_steps, batch_size=None)
        return np.asarray(found.gradient_evaluations)

    loose, tight = evaluations(1e-2), evaluations(1e-4)
    assert np.all(loose <= tight) and loose.sum() < tight.sum()
    assert np.all(evaluations(1e-6, max_steps=40) <= 40)


def test_results_do_not_depend_on_the_chunking(cnn, images):
    whole = jv.integrated_gradients(cnn, images, target="all", tol=1e-3)
    chunked = jv.integrated_gradients(cnn, images, target="all", tol=1e-3, batch_size=4)
    np.testing.assert_array_equal(whole, chunked)


@pytest.mark.parametrize("tol", [0, 1.5, -1e-3, "1e-3", True])
def test_bad_tolerance_is_named(cnn, images, tol):
    with pytest.raises(ValueError, match="tol: expected a relative completeness gap"):
        jv.integrated_gradients(cnn, images, tol=tol)


def test_bad_budget_is_named(cnn, images):
    with pytest.raises(ValueError, match="max_steps: expected an integer of at least 8"):
        jv.integrated_gradients(cnn, images, tol=1e-3, max_steps=4)


SHARDED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    import jaxviz as jv
    from conftest import cnn_weights, nnx_cnn
    assert jax.device_count() == 4, jax.devices()
    m = jv.wrap(nnx_cnn(cnn_weights()))
    x = jax.random.normal(jax.random.key(42), (6, 8, 8, 3))
    attr = jv.integrated_gradients(m, x, target="all", tol=1e-3, batch_size=4)
    np.save({path!r}, np.asarray(attr))
    """
)


@pytest.mark.slow
def test_sharded_over_four_devices_is_bit_identical(cnn, images, tmp_path):
    path = tmp_path / "sharded.npy"
    script = SHARDED.format(tests=os.path.dirname(__file__), path=str(path))
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=600)
    one_device = jv.integrated_gradients(cnn, images, target="all", tol=1e-3, batch_size=4)
    np.testing.assert_array_equal(np.load(path), one_device)
