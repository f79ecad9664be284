"""A small MLP and toy task that show healthy and vanishing gradient flow (tests, benchmarks).

``deep_sigmoid`` is the classic failure (Nielsen, "Neural Networks and Deep Learning", ch. 5):
sigmoid units with N(0, 1) weights saturate, each layer passes back at most a quarter of the
gradient, and the first layers learn hundreds of times slower than the last. ``healthy_relu`` is
the fix: ReLU units with He initialization.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._stats import flow_stats


def toy_classification(key, n: int = 512, features: int = 16, classes: int = 4):
    """Inputs (n, features) and integer labels from a fixed random nonlinear rule."""
    kx, kw = jax.random.split(key)
    x = jax.random.normal(kx, (n, features))
    w = jax.random.normal(kw, (features, classes))
    return x, jnp.argmax(jnp.tanh(x @ w) + 0.3 * jnp.sin(3 * x[:, :classes]), -1)


def mlp_params(key, sizes, *, weight_std) -> dict:
    """{"dense_i": {"kernel", "bias"}}; ``weight_std(fan_in)`` gives each layer's weight scale."""
    keys = jax.random.split(key, len(sizes) - 1)
    return {
        f"dense_{i}": {
            "kernel": jax.random.normal(k, (a, b)) * weight_std(a),
            "bias": jnp.zeros(b),
        }
        for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }


def mlp_layers(params: dict) -> list[str]:
    """The layers in the order ``mlp_apply`` calls them."""
    return [f"dense_{i}" for i in range(len(params))]


def mlp_apply(params: dict, x, activation: str):
    """Logits and ``{layer: (activation, hidden)}`` for every hidden layer."""
    fn = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[activation]
    names = mlp_layers(params)
    hidden = {}
    for name in names[:-1]:
        x = fn(x @ params[name]["kernel"] + params[name]["bias"])
        hidden[name] = (activation, x)
    last = params[names[-1]]
    return x @ last["kernel"] + last["bias"], hidden


def deep_sigmoid(key, depth: int = 10, width: int = 64, features: int = 16, classes: int = 4):
    sizes = [features] + [width] * depth + [classes]
    return mlp_params(key, sizes, weight_std=lambda fan_in: 1.0), "sigmoid"


def healthy_relu(key, depth: int = 4, width: int = 64, features: int = 16, classes: int = 4):
    sizes = [features] + [width] * depth + [classes]
    return mlp_params(key, sizes, weight_std=lambda fan_in: np.sqrt(2.0 / fan_in)), "relu"


def make_train_step(activation: str, optimizer, x, y, *, record: bool = True):
    """A jitted SGD step ``(params, opt_state) -> (params, opt_state, loss, stats or None)``."""

    def loss_fn(params):
        logits, hidden = mlp_apply(params, x, activation)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), hidden

    @jax.jit
    def step(params, opt_state):
        (loss, hidden), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        stats = (
            flow_stats(grads, params, updates, activations=hidden, order=mlp_layers(params))
            if record
            else None
        )
        return optax.apply_updates(params, updates), opt_state, loss, stats

    return step
