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


# Tests that each take minutes and share nothing: every one is scheduled on its own, so they
# spread over the xdist workers instead of queueing on their module's worker.
RUN_APART = ("tests/test_notebooks.py::test_notebook_runs_offline_in_time[",)


def scheduling_unit(nodeid: str) -> str:
    """What xdist keeps on one worker: a test's module (its module-scoped fixtures, e.g. compiled
    programs, are then built once, as `--dist loadfile` does), or the test alone if it runs
    apart."""
    return nodeid if nodeid.startswith(RUN_APART) else nodeid.split("::", 1)[0]


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (pyproject's addopts), except the tests in `RUN_APART`, each its own unit.

    (`--dist loadgroup` with an `xdist_group` per notebook would say the same, but pytest-xdist
    3.8 marks a group by rewriting `item._nodeid`, which pytest 9.2's nodes no longer read.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class NotebooksApart(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    return NotebooksApart(config, log)


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
