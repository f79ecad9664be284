"""A layer's representation of a dataset, projected to 2D and clustered.

PCA and k-means are plain JAX (compiled, on any device); t-SNE comes from scikit-learn when it is
installed, since a faithful t-SNE is a large piece of numerics best not duplicated.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_input, check_key, check_positive_int
from .._deprecation import deprecated_arguments
from .._progress import progress
from ._layers import activations


class PCA(NamedTuple):
    """Principal components of a dataset.

    Attributes:
        projected: (n, n_components) coordinates of each example.
        components: (n_components, features) unit directions, the largest variance first; each
            is signed so its largest-magnitude entry is positive (SVD leaves the sign free).
        explained_variance: (n_components,) variance along each component.
        explained_variance_ratio: (n_components,) that variance over the total variance.
        mean: (features,) the mean that was subtracted.
    """

    projected: jax.Array
    components: jax.Array
    explained_variance: jax.Array
    explained_variance_ratio: jax.Array
    mean: jax.Array


class KMeans(NamedTuple):
    """A k-means clustering.

    Attributes:
        centers: (k, features) cluster centres.
        labels: (n,) int32, the cluster of each example (its nearest centre).
        inertia: sum over examples of the squared distance to their centre.
        prototypes: (k,) int32, for each cluster its member nearest its centre: a real input
            that stands for the cluster (for an empty cluster, the example nearest its centre).
        sizes: (k,) int32, examples per cluster.
    """

    centers: jax.Array
    labels: jax.Array
    inertia: jax.Array
    prototypes: jax.Array
    sizes: jax.Array


def _as_matrix(features: Any, name: str = "features") -> jax.Array:
    features = jnp.asarray(features, jnp.float32)
    if features.ndim < 2 or features.shape[0] < 2:
        raise ValueError(
            f"{name} must be (examples, ...) with at least 2 examples; got shape {features.shape}")
    return features.reshape(features.shape[0], -1)


@partial(jax.jit, static_argnames="n_components")
def _pca(data: jax.Array, n_components: int) -> PCA:
    # The eigendecomposition of the smaller of the two Gram matrices gives the same components as
    # an SVD of the data, and is much faster for layer activations (few examples, many features,
    # or the other way round).
    mean = data.mean(axis=0)
    centered = data - mean
    examples, features = centered.shape
    gram = centered @ centered.T if examples <= features else centered.T @ centered
    eigenvalues, eigenvectors = jnp.linalg.eigh(gram)
    order = jnp.argsort(-eigenvalues)[:n_components]
    top = eigenvectors[:, order]
    singular = jnp.sqrt(jnp.maximum(eigenvalues[order], 0.0))
    if examples <= features:  # top holds left singular vectors: V = X^T U / s
        components = (centered.T @ top / jnp.maximum(singular, 1e-30)).T
        # A direction without variance (the centred data has rank below n_components) has no
        # axis to recover: dividing rounding noise by its ~0 singular value gave entries of
        # 1e24, which then dominated every distance (k-means). It projects to zero instead.
        rank_floor = singular.max() * jnp.finfo(data.dtype).eps * max(examples, features)
        components = jnp.where((singular > rank_floor)[:, None], components, 0.0)
    else:
        components = top.T
    biggest = jnp.argmax(jnp.abs(components), axis=1)
    signs = jnp.sign(components[jnp.arange(n_components), biggest])
    components = components * signs[:, None]
    variance = singular**2 / (examples - 1)
    total = jnp.trace(gram) / (examples - 1)
    return PCA(centered @ components.T, components, variance, variance / total, mean)


@deprecated_arguments(positional=("n_components",))
def pca(features: Any, *, n_components: int = 2) -> PCA:
    """Principal component analysis in JAX (the same components as an SVD of the centred data,
    computed from the smaller Gram matrix).

    Args:
        features: (n, ...) one row per example; trailing axes are flattened.
        n_components: how many components to keep (at most min(n, features)).

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> p = jv.pca(jv.activations(m, data.x_test[:100], layers=["conv2"])["conv2"])
    >>> p.projected.shape
    (100, 2)
    """
    data = _as_matrix(features)
    limit = min(data.shape)
    if not 1 <= n_components <= limit:
        raise ValueError(f"n_components={n_components} must be between 1 and {limit} "
                         f"(the smaller of examples and features)")
    return _pca(data, n_components)


@deprecated_arguments(renamed={"seed": ("key", jax.random.key)}, positional=("n_components",))
def tsne(
    features: Any,
    *,
    n_components: int = 2,
    perplexity: float = 30.0,
    key: jax.Array | None = None,
    initial: Any = None,
) -> np.ndarray:
    """t-SNE embedding (scikit-learn's), initialised from PCA so it is stable across runs.

    Args:
        features: (n, ...) one row per example.
        n_components: dimensions of the embedding.
        perplexity: the effective number of neighbours; lowered to n - 1 for tiny datasets.
        key: a `jax.random.key` for the optimiser's random state (default `jax.random.key(0)`);
            the same key gives the same embedding.
        initial: (n, n_components) starting coordinates; default the PCA projection.

    Raises:
        ImportError: scikit-learn is not installed (`pip install scikit-learn`).
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ImportError("jv.tsne needs scikit-learn: pip install scikit-learn "
                          "(or use PCA, jv.pca, which needs nothing else)") from error
    data = _as_matrix(features)
    key = check_key(jax.random.key(0) if key is None else key, "tsne")
    # scikit-learn takes an int seed: the key draws it, so the same key gives the same embedding.
    random_state = int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))
    if initial is None:
        initial = pca(data, n_components=n_components).projected
    initial = np.asarray(initial, np.float32)
    # scikit-learn wants a small initial spread; PCA's own scale would slow the optimisation down.
    initial = initial / (np.std(initial[:, 0]) + 1e-12) * 1e-4
    model = TSNE(n_components, perplexity=min(perplexity, data.shape[0] - 1.0), init=initial,
                 random_state=random_state)
    return model.fit_transform(np.asarray(data)).astype(np.float32)


def _squared_distances(data: jax.Array, centers: jax.Array) -> jax.Array:
    return (jnp.sum(data**2, 1)[:, None] - 2 * data @ centers.T + jnp.sum(centers**2, 1)[None])


def _plus_plus_init(data: jax.Array, k: int, key: jax.Array) -> jax.Array:
    """k-means++: each new centre drawn with probability proportional to squared distance."""
    first, rest = jax.random.split(key)
    centers = jnp.zeros((k, data.shape[1]), data.dtype).at[0].set(
        data[jax.random.randint(first, (), 0, data.shape[0])])

    def add(i, centers):
        taken = jnp.arange(k) < i
        d2 = jnp.where(taken[None], _squared_distances(data, centers), jnp.inf).min(axis=1)
        d2 = jnp.maximum(d2, 0.0)
        pick = jax.random.choice(jax.random.fold_in(rest, i), data.shape[0], p=d2 / jnp.sum(d2))
        return centers.at[i].set(data[pick])

    return jax.lax.fori_loop(1, k, add, centers)


@partial(jax.jit, static_argnames=("k", "iterations"))
def _kmeans(data: jax.Array, k: int, key: jax.Array, iterations: int) -> KMeans:
    def lloyd(_, centers):
        labels = jnp.argmin(_squared_distances(data, centers), axis=1)
        one_hot = jax.nn.one_hot(labels, k, dtype=data.dtype)
        sizes = one_hot.sum(axis=0)
        means = (one_hot.T @ data) / jnp.maximum(sizes, 1)[:, None]
        # An emptied cluster keeps its centre rather than collapsing to the origin.
        return jnp.where(sizes[:, None] > 0, means, centers)

    centers = jax.lax.fori_loop(0, iterations, lloyd, _plus_plus_init(data, k, key))
    d2 = jnp.maximum(_squared_distances(data, centers), 0.0)
    labels = jnp.argmin(d2, axis=1).astype(jnp.int32)
    inertia = jnp.sum(jnp.take_along_axis(d2, labels[:, None], axis=1))
    sizes = jnp.bincount(labels, length=k).astype(jnp.int32)
    members = labels[:, None] == jnp.arange(k)[None]
    nearest_member = jnp.argmin(jnp.where(members, d2, jnp.inf), axis=0)
    # An empty cluster has no member: its nearest example stands for it.
    prototypes = jnp.where(sizes > 0, nearest_member, jnp.argmin(d2, axis=0)).astype(jnp.int32)
    return KMeans(centers, labels, inertia, prototypes, sizes)


@deprecated_arguments(positional=("k",))
def kmeans(features: Any, *, k: int, key: jax.Array, iterations: int = 50) -> KMeans:
    """k-means clustering (k-means++ start, then Lloyd's iterations), compiled in JAX.

    Args:
        features: (n, ...) one row per example; trailing axes are flattened.
        k: number of clusters, between 1 and n.
        key: a `jax.random.key`; the same key gives the same clustering.
        iterations: Lloyd iterations (a fixed count, so the program has one shape).

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> x = data.x_test[:200]
    >>> c = jv.kmeans(jv.activations(m, x, layers=["fc1"])["fc1"], k=10, key=jax.random.key(0))
    >>> c.labels.shape, c.sizes.sum()
    ((200,), Array(200, dtype=int32))
    >>> x[c.prototypes].shape          # one real input standing for each cluster
    (10, 8, 8, 1)
    """
    data = _as_matrix(features)
    if not 1 <= k <= data.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the number of examples ({data.shape[0]})")
    if iterations < 1:
        raise ValueError(f"iterations={iterations} must be a positive integer")
    return _kmeans(data, k, check_key(key, "kmeans"), iterations)


@deprecated_arguments(renamed={"m": "model"})
def layer_embeddings(
    model: Any, x: Any, *, layers: Any = None, components: int = 32, inputs: bool = True,
    logits: bool = True, batch_size: int | None = 256, show_progress: bool = True,
) -> dict[str, np.ndarray]:
    """Each layer's representation of dataset `x` reduced to its top principal components:
    {layer: (n, components)}, the first two being the layer's PCA projection.

    Activations (`jv.activations`, in fixed-shape chunks) are flattened per example (a conv
    layer's whole map). A layer with fewer than `components` dimensions is padded with zero
    columns, which change no distance, so every layer has one shape and the clustering that
    follows compiles once.

    Args:
        model: a wrapped model.
        x: the dataset.
        layers: names from `model.layers` (default all of them).
        components: how many principal components to keep.
        inputs: also embed the inputs themselves, as a first entry "input" (the baseline the
            layers improve on).
        logits: also embed the model's output, as a last entry "logits".
        batch_size: examples per compiled chunk.
        show_progress: draw a progress bar when the run lasts more than a second.
    """
    components = check_positive_int("components", components)
    x = check_input(model, x)
    features = {"input": x} if inputs else {}
    features.update(activations(model, x, layers=None if layers is None else list(layers),
                                batch_size=batch_size))
    if logits and "logits" not in features:
        features["logits"] = model(x)
    result = {}
    for layer in progress(features, len(features), "embedding layers", enabled=show_progress):
        flat = features[layer].reshape(features[layer].shape[0], -1)
        kept = min(components, *flat.shape)
        projected = np.asarray(pca(flat, n_components=kept).projected, np.float32)
        result[layer] = np.pad(projected, ((0, 0), (0, components - kept)))
    return result


@deprecated_arguments(renamed={"m": "model", "method": "projection"})
def layer_projections(
    model: Any, x: Any, *, layers: Any = None, projection: str = "pca", inputs: bool = True,
    logits: bool = True, batch_size: int | None = 256, show_progress: bool = True,
) -> dict[str, np.ndarray]:
    """Each layer's representation of dataset `x` projected to 2D: {layer: (n, 2)}.

    PCA gives the first two principal components of the flattened activations; t-SNE runs on
    the top 32 components (as scikit-learn advises, for speed and less noise). Each projection
    is divided by the spread of its first axis, so layers share one plot range and keep their
    aspect ratio.

    Args:
        model: a wrapped model.
        x: the dataset.
        layers: names from `model.layers` (default all of them).
        projection: "pca" (JAX) or "tsne" (scikit-learn).
        inputs: also project the inputs themselves, as a first entry "input".
        logits: also project the model's output, as a last entry "logits".
        batch_size: examples per compiled chunk.
        show_progress: draw a progress bar when the run lasts more than a second.
    """
    check_choice("projection", projection, ("pca", "tsne"))
    embedded = layer_embeddings(
        model,
        x,
        layers=layers,
        components=32 if projection == "tsne" else 2,
        inputs=inputs,
        logits=logits,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    return {layer: unit_spread(points if projection == "pca" else tsne(points))
            for layer, points in embedded.items()}


def unit_spread(points: np.ndarray) -> np.ndarray:
    """2D points divided by the standard deviation of their first coordinate."""
    points = np.asarray(points, np.float32)[:, :2]
    return points / (points[:, 0].std() + 1e-12)
