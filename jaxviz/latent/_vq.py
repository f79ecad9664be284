"""Vector-quantization tools: which code each position of an input uses, how evenly the
codebook is used, which codes are dead, and what each code stands for.

A VQ autoencoder (van den Oord et al. 2017, "Neural Discrete Representation Learning") snaps
each of its encoder's vectors (batch, *positions, code_size) to the nearest of `codes` code
vectors; the decoder sees only those. A codebook whose usage collapses onto a few codes
(perplexity far below the number of codes, many dead codes) wastes its capacity.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_positive_int
from ..explain import _engine
from ._autoencoder import Autoencoder, _host_array


class CodebookUsage(NamedTuple):
    """How a dataset uses a codebook.

    Attributes:
      counts: (codes,) int32, positions assigned to each code over the dataset.
      frequencies: (codes,) counts / their total.
      perplexity: exp of the entropy of `frequencies`: the number of equally used codes that
        would give the same entropy (the codebook size for uniform use, 1 for a collapsed one).
      dead: (dead codes,) int32, the codes no position uses.
      codes: (n, *positions) int32, each input's code map.
    """

    counts: np.ndarray
    frequencies: np.ndarray
    perplexity: float
    dead: np.ndarray
    codes: np.ndarray

    def plot(self, **kwargs):
        from ..plot._latent import plot_codebook_usage

        return plot_codebook_usage(self.counts, self.perplexity, **kwargs)


class CodeAtlas(NamedTuple):
    """What each code stands for.

    Attributes:
      images: (codes, *output_shape), the decoding of a code map holding that code everywhere.
      examples: (codes, k) int32, the inputs using the code at the most positions, most first;
        -1 where fewer than k inputs use it.
      shares: (codes, k) the share of each of those inputs' positions that use the code (0
        where the example is -1).
    """

    images: jax.Array
    examples: np.ndarray
    shares: np.ndarray

    def plot(self, *, columns: int = 8, **kwargs):
        """Each code's decoded image, `columns` codes a row, labelled by code number."""
        from ..plot._latent import plot_image_grid

        images = np.asarray(self.images)
        rows = -(-len(images) // columns)
        padded = np.concatenate(
            [images, np.zeros((rows * columns - len(images), *images.shape[1:]), images.dtype)]
        )
        labels = [f"codes {start}-{min(start + columns, len(images)) - 1}"
                  for start in range(0, rows * columns, columns)]
        return plot_image_grid(padded.reshape(rows, columns, *images.shape[1:]),
                               row_labels=labels, **kwargs)


def nearest_codes(vectors: jax.Array | np.ndarray, codebook: jax.Array | np.ndarray) -> jax.Array:
    """The index of the nearest code (squared Euclidean) for each vector (..., code_size) ->
    (...) int32; ties go to the lower index, as `argmin` does."""
    flat = vectors.reshape(-1, vectors.shape[-1])
    d2 = (
        jnp.sum(flat**2, axis=1, keepdims=True)
        - 2 * flat @ codebook.T
        + jnp.sum(codebook**2, axis=1)[None]
    )
    return jnp.argmin(d2, axis=1).astype(jnp.int32).reshape(vectors.shape[:-1])


def perplexity(counts: Any) -> float:
    """exp(-sum p log p) of the usage distribution p = counts / sum(counts) (0 log 0 = 0): K
    for K equally used codes, 1 when one code takes everything."""
    counts = np.asarray(counts, np.float64).reshape(-1)
    if counts.size == 0 or (counts < 0).any() or not np.isfinite(counts).all() or not counts.sum():
        raise ValueError(
            f"counts: expected non-negative finite code counts with a positive total, got "
            f"{counts}."
        )
    p = counts / counts.sum()
    used = p[p > 0]
    return float(np.exp(-(used * np.log(used)).sum()))


def vq_codes(model: Autoencoder, x: Any, *, batch_size: int | None = None) -> jax.Array:
    """The code map of each input: (n, *positions) int32 indices into `model.codebook`."""
    _codebook(model, "vq_codes")
    x = model.check_inputs(x)

    def build():
        def kernel(params, indices, x):
            del indices
            return nearest_codes(model._mean(params, x), params["codebook"])

        return kernel

    return _engine.run(
        model, ("latent.vq_codes",), build, (x,), batch_size=model._batch(x, batch_size)
    )


def quantize(model: Autoencoder, codes: Any) -> np.ndarray:
    """The vectors the decoder sees for code maps (n, *positions): `codebook[codes]`, shaped
    (n, *latent_shape); decode them with `model.decode` (e.g. after editing a code map)."""
    codebook = np.asarray(_codebook(model, "quantize"))
    codes = _host_array(codes, "codes")
    positions = model.latent_shape[:-1]
    size = len(codebook)
    if codes.shape == positions:
        codes = codes[None]
    if not np.issubdtype(codes.dtype, np.integer) or codes.shape[1:] != positions:
        raise ValueError(
            f"codes: expected integer code maps of shape (n, {', '.join(map(str, positions))}), "
            f"got shape {codes.shape} and dtype {codes.dtype}."
        )
    if codes.size and (codes.min() < 0 or codes.max() >= size):
        bad = codes.min() if codes.min() < 0 else codes.max()
        raise ValueError(f"codes: code {int(bad)} is out of range; the codebook has codes 0 to "
                         f"{size - 1}.")
    return codebook[codes]


def codebook_usage(model: Autoencoder, x: Any, *, batch_size: int | None = None) -> CodebookUsage:
    """Code usage over a dataset: counts, perplexity and dead codes (van den Oord et al. 2017;
    perplexity as reported by Sonnet's VectorQuantizer).

    >>> model, data = jv.zoo.load("digits-vqvae")
    >>> usage = jv.codebook_usage(model, data.x_test)
    >>> usage.counts.shape, usage.codes.shape          # 32 codes; a 4x4 code map per digit
    ((32,), (360, 4, 4))
    >>> bool(usage.perplexity > 20)
    True
    """
    codes = np.asarray(vq_codes(model, x, batch_size=batch_size))
    size = len(_codebook(model, "codebook_usage"))
    counts = np.bincount(codes.reshape(-1), minlength=size).astype(np.int32)
    return CodebookUsage(
        counts, counts / counts.sum(), perplexity(counts),
        np.flatnonzero(counts == 0).astype(np.int32), codes,
    )


def codebook_projection(
    model: Autoencoder, *, projection: str = "pca", key: jax.Array | None = None
) -> np.ndarray:
    """The code vectors placed in 2-D, (codes, 2): themselves when codes are 2-D, else their
    PCA (`jv.pca`) or t-SNE (`jv.tsne`, with `key`) projection."""
    from ..explain._projection import pca, tsne

    codebook = np.asarray(_codebook(model, "codebook_projection"), np.float32)
    check_choice("projection", projection, ("pca", "tsne"))
    if codebook.shape[1] == 2:
        return codebook
    if projection == "tsne":
        return tsne(codebook, key=key)
    return np.asarray(pca(codebook, n_components=2).projected)


def code_atlas(model: Autoencoder, x: Any, *, k: int = 5,
               batch_size: int | None = None) -> CodeAtlas:
    """For each code, its decoded image and the k inputs of `x` that use it most.

    Args:
      model: a VQ autoencoder.
      x: the dataset to find typical inputs in.
      k: typical inputs per code.
      batch_size: examples per compiled chunk.
    """
    size = len(_codebook(model, "code_atlas"))
    k = check_positive_int("k", k)
    codes = np.asarray(vq_codes(model, x, batch_size=batch_size))
    n = len(codes)
    flat = codes.reshape(n, -1)
    # shares[i, c]: the share of input i's positions that use code c.
    shares = np.zeros((n, size), np.float32)
    np.add.at(shares, (np.repeat(np.arange(n), flat.shape[1]), flat.reshape(-1)), 1.0)
    shares /= flat.shape[1]
    kept = min(k, n)
    # The stable sort breaks ties by input order, so the atlas is reproducible.
    order = np.argsort(-shares.T, axis=1, kind="stable")[:, :kept]
    top = np.take_along_axis(shares.T, order, axis=1)
    examples = np.where(top > 0, order, -1).astype(np.int32)
    pad = ((0, 0), (0, k - kept))
    examples = np.pad(examples, pad, constant_values=-1)
    top = np.pad(np.where(top > 0, top, 0.0), pad)
    uniform = np.broadcast_to(np.arange(size).reshape(-1, *[1] * (len(model.latent_shape) - 1)),
                              (size, *model.latent_shape[:-1]))
    images = model.decode(quantize(model, uniform), batch_size=batch_size)
    return CodeAtlas(images, examples, top.astype(np.float32))


def _codebook(model: Autoencoder, method: str) -> jax.Array:
    if not isinstance(model, Autoencoder):
        raise TypeError(f"model: {method} needs a jv.Autoencoder, got {type(model).__name__}.")
    return model.require_codebook(method)
