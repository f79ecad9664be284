"""A tiny CNN with known geometry for the layer explorer's tests: conv 3x3 -> max-pool 2x2 ->
conv 3x3 -> global mean -> dense -> logits, layers named with checkpoint_name."""

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv


def weights(channels_in: int = 1):
    k = jax.random.split(jax.random.key(0), 4)
    return (jax.random.normal(k[0], (3, 3, channels_in, 4)) * 0.5,
            jax.random.normal(k[1], (3, 3, 4, 6)) * 0.3,
            jax.random.normal(k[2], (6, 5)) * 0.5,
            jax.random.normal(k[3], (5, 3)) * 0.5)


def tiny_cnn(channels_in: int = 1, size: int = 12):
    w1, w2, w3, w4 = weights(channels_in)

    def conv(h, w):
        return jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def forward(x):
        h = checkpoint_name(jax.nn.relu(conv(x, w1)), "conv1")
        h = checkpoint_name(jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                                  (1, 2, 2, 1), "VALID"), "pool1")
        h = checkpoint_name(jax.nn.relu(conv(h, w2)), "conv2")
        h = checkpoint_name(jax.nn.relu(h.mean(axis=(1, 2)) @ w3 + 0.1), "dense1")
        return h @ w4

    return jv.wrap(forward, example=jnp.zeros((1, size, size, channels_in)))
