"""The zoo's network architectures (flax.nnx, images NHWC).

Layers are plain attributes (``conv1``, ``fc1``, ...) so that ``jv.wrap`` lists them under the
names a reader sees here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
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


class ConvReLU(nnx.Conv):
    """A convolution that applies its ReLU itself, so the layer's output (what a tap, Grad-CAM
    or feature visualization sees) is the map the next layer reads."""

    def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
        return nnx.relu(super().__call__(inputs, out_sharding))


class ShapesCNN(nnx.Module):
    """32x32x3 shapes -> 4 logits, built so that Grad-CAM at ``conv4`` lands inside the shapes.

    - The input is first turned into each pixel's distance from the image's mean colour, per
      channel. The background covers most of the image, so the shape is bright and the
      background dark whatever the two colours: a unit can tell the inside of an outline from
      the outside. (The mean looks at every pixel, so every layer's receptive field is the whole
      image, though all but the local part enters only through that mean.)
    - ``conv1`` runs at 32x32, then a 2x2 max pool and ``conv2``..``conv4`` at 16x16: 2-pixel
      cells, and a receptive field of 16 pixels (about a shape's size) around the mean.
    - ``conv4`` is a :class:`ConvReLU`, a global max pool and one dense layer follow it, and
      training adds an L1 penalty on ``conv4``'s activations (``RECIPES["shapes-cnn"]``). So each
      channel fires at few places, its best match, which for a bright shape is just inside the
      outline (corners and edges seen from within), and Grad-CAM weighs the ReLU'd map the pool
      sees (on a pre-ReLU output, channels with negative weights would count their negative
      background values as evidence).

    Measured on the 1000 test images: Grad-CAM at ``conv4`` puts more than half its mass inside
    the shape's mask for 96% of them (median share 67%, median shape area 15%). Trained the
    same way, the network does so for 40% without the mean-colour step, 53% without the
    penalty, and 26% when Grad-CAM reads a pre-ReLU ``conv4``.
    """

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 16, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.conv3 = nnx.Conv(32, 32, kernel_size=(3, 3), rngs=rngs)
        self.conv4 = ConvReLU(32, 64, kernel_size=(3, 3), rngs=rngs)
        self.fc = nnx.Linear(64, 4, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        """``conv4``'s (ReLU'd) map, the activations the training recipe keeps sparse."""
        x = jnp.abs(x - x.mean(axis=(1, 2), keepdims=True))
        x = _max_pool(nnx.relu(self.conv1(x)))
        x = nnx.relu(self.conv2(x))
        x = nnx.relu(self.conv3(x))
        return self.conv4(x)

    def head(self, features: jax.Array) -> jax.Array:
        """The logits from ``conv4``'s map: a global max pool and ``fc``."""
        return self.fc(features.max(axis=(1, 2)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


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
