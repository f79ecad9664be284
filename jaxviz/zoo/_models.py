"""The zoo's network architectures (flax.nnx, images NHWC).

Layers are plain attributes (``conv1``, ``fc1``, ...) so that ``jv.wrap`` lists them under the
names a reader sees here.
"""

from __future__ import annotations

import jax
from flax import nnx


def _max_pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))


class DigitsCNN(nnx.Module):
    """8x8x1 digits -> 10 logits: two 3x3 convs at full resolution, a pool, two dense layers."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.fc1 = nnx.Linear(4 * 4 * 32, 64, rngs=rngs)
        self.fc2 = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.conv1(x))
        x = _max_pool(nnx.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        return self.fc2(nnx.relu(self.fc1(x)))


class ShapesCNN(nnx.Module):
    """32x32x3 shapes -> 4 logits.

    conv3 works at 8x8, and only a global max pool and one dense layer follow it, so
    Grad-CAM at conv3 can say where in the image the evidence is. The max pool (rather than an
    average) trains in fewer epochs and keeps conv3's responses on and around the shape instead
    of spread over the background.
    """

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 16, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.conv3 = nnx.Conv(32, 64, kernel_size=(3, 3), rngs=rngs)
        self.fc = nnx.Linear(64, 4, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = _max_pool(nnx.relu(self.conv1(x)))
        x = _max_pool(nnx.relu(self.conv2(x)))
        x = nnx.relu(self.conv3(x))
        return self.fc(x.max(axis=(1, 2)))


class CancerMLP(nnx.Module):
    """30 standardized features -> 2 logits (malignant, benign)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(30, 32, rngs=rngs)
        self.fc2 = nnx.Linear(32, 16, rngs=rngs)
        self.fc3 = nnx.Linear(16, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.fc1(x))
        x = nnx.relu(self.fc2(x))
        return self.fc3(x)
