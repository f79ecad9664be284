"""Shared fixtures: one small ReLU CNN built three ways (flax.nnx, flax.linen, a plain function
with checkpoint_name tags) from the same weights, and a linear model with closed forms."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv

CLASSES = 5


def module_group(item: pytest.Item) -> str:
    """The xdist group of a test: its module's path (relative to the rootdir)."""
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """With `--dist loadgroup` (pyproject's addopts) a test runs on its group's worker. Every test
    without a group of its own joins its module's group, so a module stays on one worker and its
    module-scoped fixtures (compiled programs) are built once, as `--dist loadfile` did; tests
    marked with their own `xdist_group` (each notebook) spread over the workers."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(module_group(item)))
SHAPE = (8, 8, 3)


def cnn_weights(seed: int = 0) -> dict:
    """Random weights with nonzero biases (completeness must not rely on zero biases)."""
    keys = jax.random.split(jax.random.key(seed), 6)

    def normal(key, shape, scale):
        return scale * jax.random.normal(key, shape, jnp.float32)

    return {
        "conv1": {"kernel": normal(keys[0], (3, 3, 3, 6), 0.4), "bias": normal(keys[1], (6,), 0.2)},
        "conv2": {"kernel": normal(keys[2], (3, 3, 6, 8), 0.3), "bias": normal(keys[3], (8,), 0.2)},
        "dense": {
            "kernel": normal(keys[4], (4 * 4 * 8, CLASSES), 0.2),
            "bias": normal(keys[5], (CLASSES,), 0.2),
        },
    }


def _conv(x, layer):
    y = jax.lax.conv_general_dilated(
        x, layer["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + layer["bias"]


def cnn_function(weights):
    def fn(x):
        h = jax.nn.relu(checkpoint_name(_conv(x, weights["conv1"]), "conv1"))
        h = jax.nn.relu(checkpoint_name(_conv(h, weights["conv2"]), "conv2"))
        h = nn.max_pool(h, (2, 2), (2, 2))
        h = h.reshape(h.shape[0], -1)
        return checkpoint_name(h @ weights["dense"]["kernel"] + weights["dense"]["bias"], "dense")

    return fn


class NnxCNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 6, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(6, 8, (3, 3), rngs=rngs)
        self.dense = nnx.Linear(4 * 4 * 8, CLASSES, rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.conv1(x))
        h = nnx.relu(self.conv2(h))
        h = nn.max_pool(h, (2, 2), (2, 2))
        return self.dense(h.reshape(h.shape[0], -1))


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Conv(6, (3, 3), name="conv1")(x))
        h = nn.relu(nn.Conv(8, (3, 3), name="conv2")(h))
        h = nn.max_pool(h, (2, 2), (2, 2))
        return nn.Dense(CLASSES, name="dense")(h.reshape(h.shape[0], -1))


def nnx_cnn(weights):
    net = NnxCNN(nnx.Rngs(0))
    for name, layer in weights.items():
        getattr(net, name).kernel[...] = layer["kernel"]
        getattr(net, name).bias[...] = layer["bias"]
    return net


@pytest.fixture(scope="session")
def weights():
    return cnn_weights()


@pytest.fixture(scope="session")
def images():
    return jax.random.normal(jax.random.key(42), (6,) + SHAPE)


@pytest.fixture(scope="session")
def cnn_models(weights, images):
    """The same CNN as {"nnx": ..., "linen": ..., "function": ...} wrapped models."""
    return {
        "nnx": jv.wrap(nnx_cnn(weights)),
        "linen": jv.wrap(LinenCNN(), {"params": weights}),
        "function": jv.wrap(cnn_function(weights), example=images),
    }


@pytest.fixture(scope="session")
def cnn(cnn_models):
    return cnn_models["nnx"]


@pytest.fixture(scope="session")
def linear():
    """A linear model f(x) = x @ w + b with known gradients: column c of w."""
    w = jnp.asarray(np.random.default_rng(0).normal(size=(7, 4)), jnp.float32)
    b = jnp.asarray([0.5, -1.0, 2.0, 0.0], jnp.float32)
    return jv.wrap(lambda x: x @ w + b), w, b


@pytest.fixture
def getkey():
    keys = iter(jax.random.split(jax.random.key(1234), 1000))
    return lambda: next(keys)
