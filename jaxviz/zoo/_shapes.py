"""A procedural image dataset whose ground truth says where the object is.

Each 32x32 RGB image holds one shape (circle, square, triangle or cross) of a random size,
position and colour on a noisy background of another colour, and comes with the boolean mask
of the shape's pixels. An explanation of the class can then be checked against where the
object really is.

Everything is drawn from one JAX key with comparisons and sums only (no transcendental
functions), so the same key gives the same bits.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

SHAPE_NAMES = ("circle", "square", "triangle", "cross")
IMAGE_SIZE = 32
MIN_HALF_SIZE = 5.0  # the shape spans [centre - s, centre + s] on both axes
MAX_HALF_SIZE = 10.0
MARGIN = 1.0  # pixels kept free between a shape and the border
NOISE_STD = 0.08
MIN_CONTRAST = 0.5  # Euclidean RGB distance between the shape and background colours
CROSS_ARM = 1.0 / 3.0  # arm half-thickness as a fraction of the half size


def shape_mask(
    label: jax.Array, cx: jax.Array, cy: jax.Array, s: jax.Array, size: int = IMAGE_SIZE
) -> jax.Array:
    """Boolean (size, size) mask of a shape centred at (cx, cy) with half size s.

    Pixel (row i, column j) belongs to the shape when its centre (j + 0.5, i + 0.5) does.
    """
    centres = jnp.arange(size, dtype=jnp.float32) + 0.5
    dx = centres[None, :] - cx
    dy = centres[:, None] - cy
    ax, ay = jnp.abs(dx), jnp.abs(dy)
    circle = dx * dx + dy * dy <= s * s
    square = (ax <= s) & (ay <= s)
    # apex at the top (rows grow downwards), base at the bottom: half width grows with depth
    triangle = (ay <= s) & (2.0 * ax <= dy + s)
    arm = jnp.maximum(CROSS_ARM * s, 1.5)
    cross = ((ax <= s) & (ay <= arm)) | ((ax <= arm) & (ay <= s))
    return jnp.stack([circle, square, triangle, cross])[label]


def draw_parameters(key: jax.Array) -> dict[str, jax.Array]:
    """The random description of one image: label, centre, half size and the two colours."""
    k_label, k_size, k_pos, k_bg, k_fg = jax.random.split(key, 5)
    label = jax.random.randint(k_label, (), 0, len(SHAPE_NAMES))
    s = jax.random.uniform(k_size, (), minval=MIN_HALF_SIZE, maxval=MAX_HALF_SIZE)
    cx, cy = jax.random.uniform(k_pos, (2,), minval=s + MARGIN, maxval=IMAGE_SIZE - s - MARGIN)
    background = jax.random.uniform(k_bg, (3,))
    foreground = jax.random.uniform(k_fg, (3,))

    # too close to the background: take its opposite colour, or failing that black or white
    def far_enough(colour):
        return jnp.sum((colour - background) ** 2) >= MIN_CONTRAST**2

    foreground = jnp.where(far_enough(foreground), foreground, 1.0 - background)
    foreground = jnp.where(
        far_enough(foreground), foreground, jnp.where(background > 0.5, 0.0, 1.0)
    )
    return {"label": label, "cx": cx, "cy": cy, "s": s, "fg": foreground, "bg": background}


def _one_example(key: jax.Array) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    k_parameters, k_noise = jax.random.split(key)
    p = draw_parameters(k_parameters)
    mask = shape_mask(p["label"], p["cx"], p["cy"], p["s"])
    clean = jnp.where(mask[..., None], p["fg"], p["bg"])
    noise = NOISE_STD * jax.random.normal(k_noise, clean.shape)
    return jnp.clip(clean + noise, 0.0, 1.0), mask, p


@functools.partial(jax.jit, static_argnums=1)
def generate(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """(images, masks, parameters) for n keys split from ``key``; the parameters let tests
    rasterize each shape independently."""
    return jax.vmap(_one_example)(jax.random.split(key, n))


def _is_one_key(key: object) -> bool:
    if not isinstance(key, jax.Array):
        return False
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.shape == ()
    return key.dtype == jnp.uint32 and key.shape == (2,)  # a legacy jax.random.PRNGKey


def make_shapes(n: int, *, key: jax.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``n`` shapes images with their labels and ground-truth masks.

    Args:
      n: how many images.
      key: a ``jax.random`` key; the same key and ``n`` give the same bits.

    Returns:
      ``(images, labels, masks)``: float32 ``(n, 32, 32, 3)`` in [0, 1] (NHWC), int32 ``(n,)``
      indexing :data:`SHAPE_NAMES`, and bool ``(n, 32, 32)`` that is True on the shape's pixels.

    >>> import jax, jaxviz as jv
    >>> images, labels, masks = jv.zoo.make_shapes(4, key=jax.random.key(0))
    >>> images.shape, masks.shape
    ((4, 32, 32, 3), (4, 32, 32))
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"make_shapes: n must be a positive int, got {n!r}")
    if not _is_one_key(key):
        raise TypeError(
            f"make_shapes: key must be one jax.random key, e.g. jax.random.key(0), got {key!r}"
        )
    images, masks, parameters = generate(key, int(n))
    return np.asarray(images), np.asarray(parameters["label"], np.int32), np.asarray(masks)
