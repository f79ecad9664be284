"""Latent-space tools for any `Autoencoder`: traversals, planes, interpolation, arithmetic,
dataset encodings and nearest neighbours.

Latents are indexed flat: latent dimension `k` is `z.reshape(n, -1)[:, k]`, whatever the latent
shape. Every grid of latents is built on the host (a few thousand numbers) and decoded in one
batched, compiled program (`Autoencoder.decode`); new centres, spans and directions are new
arguments, never new programs, unless the number of decoded images changes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_positive_int
from .._programs import call
from ._autoencoder import Autoencoder, check_latents


class Traversal(NamedTuple):
    """Latent traversal: each chosen dimension swept alone from a centre.

    Attributes:
      latents: (dims, steps, *latent_shape) the latents decoded.
      images: (dims, steps, *output_shape) their decodings; row r moves dimension `dims[r]`.
      offsets: (steps,) how far each column moves its dimension from the centre.
      dims: the flat latent dimensions, one per row.
      center: (*latent_shape) the latent every row starts from.
    """

    latents: jax.Array
    images: jax.Array
    offsets: np.ndarray
    dims: tuple[int, ...]
    center: np.ndarray

    def plot(self, **kwargs):
        from ..plot._latent import plot_image_grid

        return plot_image_grid(
            self.images, row_labels=[f"z[{d}]" for d in self.dims],
            col_labels=[f"{o:+.2g}" for o in self.offsets], **kwargs,
        )


class LatentPlane(NamedTuple):
    """A 2-D plane of latents around a centre, decoded.

    `images[i, j]` decodes `center + xs[j] * directions[0] + ys[i] * directions[1]`; `ys` runs
    from +span down to -span, so the grid reads like a plot with y pointing up.

    Attributes:
      latents: (steps, steps, *latent_shape).
      images: (steps, steps, *output_shape).
      xs, ys: (steps,) coordinates along the two directions.
      directions: (2, latent_size) the plane's axes (unit vectors of `dims`, or those given).
      center: (*latent_shape).
      dims: the two flat dimensions, or None when directions were given.
    """

    latents: jax.Array
    images: jax.Array
    xs: np.ndarray
    ys: np.ndarray
    directions: np.ndarray
    center: np.ndarray
    dims: tuple[int, int] | None

    def plot(self, **kwargs):
        from ..plot._latent import plot_image_grid

        return plot_image_grid(self.images, spacing=0.125, **kwargs)


class Interpolation(NamedTuple):
    """A strip of latents between two, decoded.

    Attributes:
      t: (steps,) from 0 to 1; `latents[0]` is z0 and `latents[-1]` is z1 exactly.
      latents: (steps, *latent_shape).
      images: (steps, *output_shape).
      path: "linear" or "spherical".
    """

    t: np.ndarray
    latents: jax.Array
    images: jax.Array
    path: str

    def plot(self, **kwargs):
        from ..plot._latent import plot_image_grid

        return plot_image_grid(self.images[None], col_labels=[f"{t:.2g}" for t in self.t],
                               **kwargs)


class Arithmetic(NamedTuple):
    """Latents moved along a vector: `latents[i, s] = z[i] + scales[s] * vector`, decoded.

    Attributes:
      latents: (n, scales, *latent_shape).
      images: (n, scales, *output_shape).
      scales: (scales,).
      vector: (*latent_shape) the direction added.
    """

    latents: jax.Array
    images: jax.Array
    scales: np.ndarray
    vector: np.ndarray

    def plot(self, **kwargs):
        from ..plot._latent import plot_image_grid

        return plot_image_grid(self.images, col_labels=[f"{s:+.2g}" for s in self.scales],
                               **kwargs)


class LatentEmbedding(NamedTuple):
    """A dataset encoded into the latent space, with 2-D points to draw.

    Attributes:
      latents: (n, *latent_shape) the encodings (a VAE's means).
      points: (n, 2) the latents themselves when the latent is 2-D, else their projection.
      labels: (n,) int classes, or None.
      projection: "identity" (2-D latent), "pca" or "tsne".
      axes: (2, latent_size) for "identity" and "pca", the latent directions of the two point
        coordinates (`center + px * axes[0] + py * axes[1]` is the latent under a point, on the
        plane through the data's mean); None for t-SNE, which has no such map.
      center: (latent_size,) the latent at point (0, 0) for "identity" (zero) and "pca" (the
        data's mean); None for t-SNE.
    """

    latents: jax.Array
    points: np.ndarray
    labels: np.ndarray | None
    projection: str
    axes: np.ndarray | None
    center: np.ndarray | None

    def to_latent(self, points: Any) -> np.ndarray:
        """Latents (m, latent_size) under 2-D points (m, 2) of this embedding's plane."""
        if self.axes is None:
            raise ValueError(
                "points: a t-SNE embedding has no map back to the latent space; use "
                "projection='pca' (or a 2-D latent)."
            )
        points = np.asarray(points, np.float32).reshape(-1, 2)
        return self.center + points @ self.axes

    def plot(self, **kwargs):
        from ..plot._latent import plot_embedding

        return plot_embedding(self.points, self.labels, **kwargs)


class Neighbours(NamedTuple):
    """The k nearest encoded examples of each query latent (Euclidean, in the flat latent).

    Attributes:
      indices: (queries, k) int32 positions in the dataset, nearest first.
      distances: (queries, k) their distances.
    """

    indices: jax.Array
    distances: jax.Array


# -- interpolation (pure) --------------------------------------------------------------------------


def lerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Linear interpolation `(1 - t) z0 + t z1` for each t (steps,) -> (steps, *z0.shape):
    exactly z0 at t=0 and z1 at t=1."""
    t = t.reshape(-1, *([1] * z0.ndim))
    return (1 - t) * z0 + t * z1


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation: the direction moves along the great circle from z0's to z1's at
    constant angular speed (Shoemake 1985, as White 2016 "Sampling Generative Networks" advises
    for Gaussian latents) while the norm moves linearly between theirs, so every point has norm
    `(1 - t) |z0| + t |z1|` (equal norms are kept). Exactly z0 at t=0 and z1 at t=1. Nearly
    parallel directions fall back to normalized linear interpolation; opposite ones have no
    unique great circle."""
    shape = z0.shape
    a, b = z0.reshape(-1), z1.reshape(-1)
    norm_a, norm_b = jnp.linalg.norm(a), jnp.linalg.norm(b)
    unit_a = a / jnp.where(norm_a > 0, norm_a, 1)
    unit_b = b / jnp.where(norm_b > 0, norm_b, 1)
    omega = jnp.arccos(jnp.clip(unit_a @ unit_b, -1.0, 1.0))
    t = t.reshape(-1, 1)
    sin_omega = jnp.sin(omega)
    parallel = sin_omega < 1e-6
    wa = jnp.where(parallel, 1 - t, jnp.sin((1 - t) * omega) / jnp.where(parallel, 1, sin_omega))
    wb = jnp.where(parallel, t, jnp.sin(t * omega) / jnp.where(parallel, 1, sin_omega))
    direction = wa * unit_a + wb * unit_b
    direction = direction / jnp.maximum(jnp.linalg.norm(direction, axis=1, keepdims=True), 1e-30)
    norm = (1 - t) * norm_a + t * norm_b
    out = direction * norm
    # The endpoints exactly (rounding in the normalization would move them by an ulp).
    out = jnp.where(t == 0, a, jnp.where(t == 1, b, out))
    return out.reshape(-1, *shape)


# -- the tools -------------------------------------------------------------------------------------


def latent_traversal(
    model: Autoencoder,
    z: Any = None,
    *,
    dims: Any = None,
    span: float = 3.0,
    steps: int = 9,
    offsets: Any = None,
    batch_size: int | None = None,
) -> Traversal:
    """Sweep latent dimensions one at a time from a centre and decode (Higgins et al. 2017,
    "beta-VAE", Fig. 1): what each dimension controls.

    Args:
      model: the autoencoder.
      z: the centre, one latent (*latent_shape); default the prior mean, zero.
      dims: flat latent dimensions to sweep, one row each (default every dimension).
      span: offsets run from -span to +span around the centre.
      steps: columns per row.
      offsets: explicit offsets (steps,) instead of span and steps.
      batch_size: decoded images per compiled chunk.
    """
    center = _center(model, z)
    dims = _check_dims(model, dims, "dims")
    offsets = _offsets(span, steps, offsets)
    flat = np.broadcast_to(center.reshape(-1), (len(dims), len(offsets), model.latent_size)).copy()
    for row, dim in enumerate(dims):
        flat[row, :, dim] += offsets
    latents = flat.reshape(len(dims), len(offsets), *model.latent_shape)
    images = _decode_grid(model, latents, 2, batch_size)
    return Traversal(jnp.asarray(latents), images, offsets, dims, center)


def latent_plane(
    model: Autoencoder,
    z: Any = None,
    *,
    dims: Any = (0, 1),
    directions: Any = None,
    span: float = 3.0,
    steps: int = 15,
    batch_size: int | None = None,
) -> LatentPlane:
    """Decode a steps x steps grid on a 2-D plane of the latent space through `z`: for a 2-D
    VAE around zero, the whole latent space as a map of what it generates (Kingma and Welling
    2014, "Auto-Encoding Variational Bayes", Fig. 4).

    Args:
      model: the autoencoder.
      z: the centre, one latent; default zero.
      dims: the two flat latent dimensions spanning the plane (x, y).
      directions: instead of dims, the plane's two axes as a (2, latent_size) array (e.g. a
        `LatentEmbedding`'s PCA axes).
      span: each axis runs from -span to +span around the centre.
      steps: grid points per axis.
      batch_size: decoded images per compiled chunk.
    """
    center = _center(model, z)
    steps = check_positive_int("steps", steps)
    if directions is None:
        dims = _check_dims(model, dims, "dims")
        if len(dims) != 2 or dims[0] == dims[1]:
            raise ValueError(f"dims: expected two different latent dimensions, got {dims}.")
        axes = np.eye(model.latent_size, dtype=np.float32)[list(dims)]
    else:
        axes = np.asarray(directions, np.float32)
        if axes.shape != (2, model.latent_size) or not np.isfinite(axes).all():
            raise ValueError(
                f"directions: expected a finite (2, {model.latent_size}) array (two latent "
                f"directions), got shape {axes.shape}."
            )
        dims = None
    xs = _offsets(span, steps, None)
    ys = xs[::-1].copy()
    grid = center.reshape(-1) + xs[None, :, None] * axes[0] + ys[:, None, None] * axes[1]
    latents = grid.reshape(steps, steps, *model.latent_shape).astype(np.float32)
    images = _decode_grid(model, latents, 2, batch_size)
    return LatentPlane(jnp.asarray(latents), images, xs, ys, axes, center, dims)


def interpolate(
    model: Autoencoder,
    z0: Any,
    z1: Any,
    *,
    steps: int = 8,
    path: str = "linear",
    batch_size: int | None = None,
) -> Interpolation:
    """Decode a strip of latents from z0 to z1.

    Args:
      model: the autoencoder.
      z0, z1: the two latents (*latent_shape) (encode inputs first: `model.encode(x)[i]`).
      steps: latents in the strip, both ends included.
      path: "linear" (`lerp`) or "spherical" (`slerp`: keeps a Gaussian latent's typical norm, where
        the midpoint of a linear path falls inside the shell where the prior puts its mass).
      batch_size: decoded images per compiled chunk.
    """
    check_choice("path", path, ("linear", "spherical"))
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps: expected at least 2 (both ends), got {steps}.")
    a = check_latents(model, z0, "z0")
    b = check_latents(model, z1, "z1")
    if len(a) != 1 or len(b) != 1:
        raise ValueError(
            f"z0, z1: expected one latent each, got {len(a)} and {len(b)}; pick one, e.g. z[0]."
        )
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    between = lerp if path == "linear" else slerp
    latents = call(model, ("latent.interpolate", path),
                   lambda: lambda params, a, b, t: between(a, b, t), a[0], b[0], t)
    images = model.decode(np.asarray(latents), batch_size=batch_size)
    return Interpolation(t, latents, images, path)


def attribute_vector(model: Autoencoder, with_attribute: Any, without_attribute: Any) -> np.ndarray:
    """The mean latent of inputs with an attribute minus that of inputs without it (White 2016,
    "Sampling Generative Networks": "attribute vectors"); add it with `latent_arithmetic`."""
    a = model.encode(with_attribute)
    b = model.encode(without_attribute)
    return np.asarray(a).mean(axis=0) - np.asarray(b).mean(axis=0)


def latent_arithmetic(
    model: Autoencoder,
    z: Any,
    vector: Any,
    *,
    scales: Any = (-2.0, -1.0, 0.0, 1.0, 2.0),
    batch_size: int | None = None,
) -> Arithmetic:
    """Decode `z + s * vector` for each latent of `z` and each scale s: what adding (or taking
    away) a direction, such as an `attribute_vector`, does.

    Args:
      model: the autoencoder.
      z: latents (n, *latent_shape) or one latent.
      vector: (*latent_shape) the direction.
      scales: the multiples of `vector` to add, one column each.
      batch_size: decoded images per compiled chunk.
    """
    z = check_latents(model, z)
    v = check_latents(model, vector, "vector")
    if len(v) != 1:
        raise ValueError(
            f"vector: expected one latent direction {model.latent_shape}, got {len(v)}."
        )
    scales = np.asarray(scales, np.float32).reshape(-1)
    if scales.size == 0 or not np.isfinite(scales).all():
        raise ValueError(f"scales: expected finite numbers, got {scales}.")
    latents = z[:, None] + scales.reshape(1, -1, *([1] * len(model.latent_shape))) * v
    images = _decode_grid(model, latents, 2, batch_size)
    return Arithmetic(jnp.asarray(latents), images, scales, v[0])


def encode_dataset(
    model: Autoencoder,
    x: Any,
    labels: Any = None,
    *,
    projection: str = "pca",
    key: jax.Array | None = None,
    batch_size: int | None = None,
) -> LatentEmbedding:
    """Encode a dataset and place each example on a 2-D map of the latent space, to color by
    class: the latents themselves for a 2-D latent, else their PCA (`jv.pca`) or t-SNE
    (`jv.tsne`) projection. For layer by layer projections, pass `model.encoder` to `jv.Projector`.

    Args:
      model: the autoencoder.
      x: the inputs (n, ...).
      labels: (n,) integer classes, or None.
      projection: "pca" or "tsne" (used only when the latent has more than 2 values).
      key: t-SNE's random key (default `jax.random.key(0)`).
      batch_size: examples per compiled chunk.
    """
    from ..explain._projection import pca, tsne

    check_choice("projection", projection, ("pca", "tsne"))
    latents = model.encode(x, batch_size=batch_size)
    n = latents.shape[0]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels: expected {n} integer classes, one per example, got shape "
                f"{labels.shape} and dtype {labels.dtype}."
            )
    flat = np.asarray(latents, np.float32).reshape(n, -1)
    if model.latent_size == 2:
        axes, center = np.eye(2, dtype=np.float32), np.zeros(2, np.float32)
        return LatentEmbedding(latents, flat, labels, "identity", axes, center)
    if projection == "tsne":
        return LatentEmbedding(latents, tsne(flat, key=key), labels, "tsne", None, None)
    found = pca(flat, n_components=2)
    return LatentEmbedding(latents, np.asarray(found.projected), labels, "pca",
                           np.asarray(found.components), np.asarray(found.mean))


def nearest_neighbours(model: Autoencoder, z: Any, x: Any, *, k: int = 5,
                       batch_size: int | None = None) -> Neighbours:
    """The `k` examples of dataset `x` whose latents lie nearest each query latent of `z`.

    Args:
      model: the autoencoder.
      z: query latents (queries, *latent_shape) or one latent.
      x: the dataset's inputs (n, ...), encoded (a VAE's means) to search.
      k: neighbours per query, at most n.
      batch_size: examples per compiled chunk of the encoding.
    """
    z = check_latents(model, z)
    latents = np.asarray(model.encode(x, batch_size=batch_size)).reshape(-1, model.latent_size)
    k = check_positive_int("k", k)
    if k > len(latents):
        raise ValueError(f"k: expected at most the dataset's {len(latents)} examples, got {k}.")

    def build():
        def nearest(params, queries, data):
            del params
            d2 = _squared_distances(queries, data)
            neg, idx = jax.lax.top_k(-d2, k)
            return Neighbours(idx.astype(jnp.int32), jnp.sqrt(jnp.maximum(-neg, 0.0)))

        return nearest

    return call(model, ("latent.neighbours", k), build, z.reshape(len(z), -1), latents)


# -- helpers ---------------------------------------------------------------------------------------


def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.sum(a**2, 1)[:, None] - 2 * a @ b.T + jnp.sum(b**2, 1)[None]


def _center(model: Autoencoder, z: Any) -> np.ndarray:
    if z is None:
        return np.zeros(model.latent_shape, np.float32)
    z = check_latents(model, z)
    if len(z) != 1:
        raise ValueError(
            f"z: expected one latent {model.latent_shape} as the centre, got {len(z)}; pick one, "
            "e.g. z[0]."
        )
    return z[0]


def _check_dims(model: Autoencoder, dims: Any, argument: str) -> tuple[int, ...]:
    if dims is None:
        return tuple(range(model.latent_size))
    values = (dims,) if isinstance(dims, int | np.integer) else tuple(dims)
    for dim in values:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"{argument}: expected latent dimensions (ints), got {dim!r}.")
        if not 0 <= dim < model.latent_size:
            raise ValueError(
                f"{argument}: latent dimension {int(dim)} is out of range; the latent has "
                f"{model.latent_size} dimensions, 0 to {model.latent_size - 1}."
            )
    if not values:
        raise ValueError(f"{argument}: expected at least one latent dimension, got none.")
    return tuple(int(d) for d in values)


def _offsets(span: float, steps: int, offsets: Any) -> np.ndarray:
    if offsets is not None:
        offsets = np.asarray(offsets, np.float32).reshape(-1)
        if offsets.size == 0 or not np.isfinite(offsets).all():
            raise ValueError(f"offsets: expected finite numbers, got {offsets}.")
        return offsets
    steps = check_positive_int("steps", steps)
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"span: expected a positive number, got {span!r}.")
    return np.linspace(-span, span, steps, dtype=np.float32)


def _decode_grid(model: Autoencoder, latents: np.ndarray, leading: int, batch_size) -> jax.Array:
    """Decode latents with `leading` grid axes in one batch, keeping the grid's shape."""
    grid = latents.shape[:leading]
    flat = np.asarray(latents, np.float32).reshape(-1, *model.latent_shape)
    images = model.decode(flat, batch_size=batch_size)
    return images.reshape(*grid, *images.shape[1:])
