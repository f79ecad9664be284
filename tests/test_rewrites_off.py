"""With the speed rewrites switched off, every public method gives what it gives with them on,
to float tolerance, on conftest's CNN (which has a 3-channel first layer, a tiling max pool and
ReLUs, so the pool, narrow-convolution and layout rules all fire when on).

Each setting explains through a model wrapped afresh inside it, so no compiled program is shared
between the two settings whatever the program cache keys on."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from conftest import LinenCNN, cnn_function, nnx_cnn

import jaxviz as jv
from jaxviz._config import config

TARGET = 1
KEY = jax.random.key(3)

METHODS = {
    "saliency": lambda m, x: jv.saliency(m, x, TARGET),
    "integrated_gradients": lambda m, x: jv.integrated_gradients(m, x, TARGET, steps=8),
    "integrated_gradients to a tolerance": lambda m, x: jv.integrated_gradients(
        m, x, TARGET, tol=1e-2, max_steps=64
    ),
    "smoothgrad": lambda m, x: jv.smoothgrad(m, x, TARGET, samples=4, key=KEY),
    "expected_gradients": lambda m, x: jv.expected_gradients(
        m, x, TARGET, baselines=x[::-1], samples=4, key=KEY
    ),
    "gradcam": lambda m, x: jv.gradcam(m, x, TARGET, layer="conv2"),
    "gradcam plus_plus": lambda m, x: jv.gradcam(m, x, TARGET, layer="conv2", plus_plus=True),
    "guided_gradcam": lambda m, x: jv.guided_gradcam(m, x, TARGET, layer="conv2"),
    "guided_backprop": lambda m, x: jv.guided_backprop(m, x, TARGET),
    "deconvnet": lambda m, x: jv.deconvnet(m, x, TARGET),
    "occlusion": lambda m, x: jv.occlusion(m, x, TARGET, window=4, stride=2),
    "layer_integrated_gradients": lambda m, x: jv.layer_integrated_gradients(
        m, x, TARGET, layer="conv1", steps=8
    ),
    "layer_conductance": lambda m, x: jv.layer_conductance(m, x, TARGET, layer="conv2", steps=8),
    "neuron_gradient": lambda m, x: jv.neuron_gradient(m, x, layer="conv2", neuron=(3, 4, 1)),
    "activations": lambda m, x: jv.activations(m, x),
    "top_activating": lambda m, x: jv.top_activating(m, x, layer="conv2", k=2, show_progress=False),
    "receptive_field": lambda m, x: jv.receptive_field(m, layer="conv2", input_shape=x.shape[1:]),
    "channel_backprojection": lambda m, x: jv.channel_backprojection(
        m, x, layer="conv2", channel=1
    ),
    "gradient_flow": lambda m, x: jv.gradient_flow(m, x, TARGET),
}
# The three ways of building a model reach the rules differently (plain functions through the
# checkpoint_name taps): the methods that use layers run on all three.
ON_EVERY_KIND = (
    "saliency",
    "gradcam",
    "guided_backprop",
    "layer_integrated_gradients",
    "activations",
)
CASES = [("nnx", name) for name in METHODS] + [
    (kind, name) for kind in ("linen", "function") for name in ON_EVERY_KIND
]


def wrap(kind, weights, images):
    if kind == "nnx":
        return jv.wrap(nnx_cnn(weights))
    if kind == "linen":
        return jv.wrap(LinenCNN(), {"params": weights})
    return jv.wrap(cnn_function(weights), example=images)


@pytest.fixture(scope="module")
def results(weights, images):
    """{(speed_rewrites, kind, method): result}, computed lazily once per module."""
    found = {}

    def get(setting, kind, name):
        if (setting, kind, name) not in found:
            with config.override(speed_rewrites=setting):
                found[setting, kind, name] = METHODS[name](wrap(kind, weights, images), images)
        return found[setting, kind, name]

    return get


def leaves(result) -> list:
    if dataclasses.is_dataclass(result):
        result = dataclasses.asdict(result)
    return jax.tree.leaves(result)


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_the_same_result_with_the_rewrites_off(results, kind, name):
    on, off = results(True, kind, name), results(False, kind, name)
    on_leaves, off_leaves = leaves(on), leaves(off)
    assert len(on_leaves) == len(off_leaves)
    for a, b in zip(on_leaves, off_leaves, strict=True):
        if isinstance(a, str | type(None)):
            assert a == b
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b)
        else:
            scale = max(float(np.nanmax(np.abs(b), initial=0.0)), 1e-6)
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
