"""The zoo's autoencoders on 8x8 digits (flax.nnx): two VAEs and a VQ-VAE, their training
losses and their quality figures.

Each module has an ``encoder`` and a ``decoder`` submodule; ``as_autoencoder`` hands them to
``jv.Autoencoder`` (with the VQ-VAE's codebook), which is what ``jv.zoo.load`` returns.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..latent import Autoencoder, nearest_codes

DIGIT_SHAPE = (8, 8, 1)


class MLPEncoder(nnx.Module):
    """8x8x1 digits -> (mean, log_variance) of a `latent`-dimensional Gaussian."""

    def __init__(self, latent: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(64, 128, rngs=rngs)
        self.fc2 = nnx.Linear(128, 64, rngs=rngs)
        self.mean = nnx.Linear(64, latent, rngs=rngs)
        self.log_variance = nnx.Linear(64, latent, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nnx.relu(self.fc1(x.reshape(x.shape[0], -1)))
        h = nnx.relu(self.fc2(h))
        return self.mean(h), self.log_variance(h)


class MLPDecoder(nnx.Module):
    """Latents -> 8x8x1 pixel intensities in [0, 1] (the Bernoulli means)."""

    def __init__(self, latent: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(latent, 64, rngs=rngs)
        self.fc2 = nnx.Linear(64, 128, rngs=rngs)
        self.pixels = nnx.Linear(128, 64, rngs=rngs)

    def logits(self, z: jax.Array) -> jax.Array:
        h = nnx.relu(self.fc1(z))
        h = nnx.relu(self.fc2(h))
        return self.pixels(h).reshape(z.shape[0], *DIGIT_SHAPE)

    def __call__(self, z: jax.Array) -> jax.Array:
        return nnx.sigmoid(self.logits(z))


class DigitsVAE(nnx.Module):
    """A VAE (Kingma and Welling 2014) with MLP encoder and decoder and a 2-D latent, so the
    whole latent plane can be drawn."""

    latent = 2

    def __init__(self, *, rngs: nnx.Rngs):
        self.encoder = MLPEncoder(self.latent, rngs=rngs)
        self.decoder = MLPDecoder(self.latent, rngs=rngs)


class DigitsVAE8(DigitsVAE):
    """The same VAE with an 8-D latent: sharper reconstructions, a latent to project."""

    latent = 8


def vae_loss(module: DigitsVAE, x: jax.Array, key: jax.Array) -> jax.Array:
    """The negative ELBO per example: Bernoulli reconstruction cross-entropy summed over the
    pixels plus KL(q(z|x) || N(0, I)), with one reparameterized sample."""
    mean, log_variance = module.encoder(x)
    z = mean + jnp.exp(0.5 * log_variance) * jax.random.normal(key, mean.shape)
    logits = module.decoder.logits(z)
    reconstruction = jnp.sum(
        jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits))), axis=(1, 2, 3)
    )
    kl = 0.5 * jnp.sum(jnp.exp(log_variance) + mean**2 - 1.0 - log_variance, axis=1)
    return jnp.mean(reconstruction + kl)


CODES, CODE_SIZE = 32, 8


class ConvEncoder(nnx.Module):
    """8x8x1 -> 4x4 positions of CODE_SIZE-vectors (each sees a 2x2 patch and its context)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 32, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(32, 32, kernel_size=(4, 4), strides=(2, 2), rngs=rngs)
        self.project = nnx.Conv(32, CODE_SIZE, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = nnx.relu(self.conv1(x))
        h = nnx.relu(self.conv2(h))
        return self.project(h)


class ConvDecoder(nnx.Module):
    """4x4 positions of code vectors -> 8x8x1 pixel intensities in [0, 1]."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(CODE_SIZE, 32, kernel_size=(3, 3), rngs=rngs)
        self.up = nnx.ConvTranspose(32, 32, kernel_size=(4, 4), strides=(2, 2), rngs=rngs)
        self.pixels = nnx.Conv(32, 1, kernel_size=(3, 3), rngs=rngs)

    def __call__(self, z: jax.Array) -> jax.Array:
        h = nnx.relu(self.conv1(z))
        h = nnx.relu(self.up(h))
        return nnx.sigmoid(self.pixels(h))


class DigitsVQVAE(nnx.Module):
    """A VQ-VAE (van den Oord et al. 2017): a 4x4 code map per digit from 32 codes of size 8."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.encoder = ConvEncoder(rngs=rngs)
        self.decoder = ConvDecoder(rngs=rngs)
        self.codebook = nnx.Param(
            jax.random.uniform(rngs.params(), (CODES, CODE_SIZE), minval=-1.0, maxval=1.0)
        )


COMMITMENT = 0.25


def vqvae_loss(module: DigitsVQVAE, x: jax.Array, key: jax.Array) -> jax.Array:
    """Reconstruction MSE plus the codebook and commitment terms, with the straight-through
    gradient from the decoder to the encoder (van den Oord et al. 2017, eq. 3)."""
    del key
    vectors = module.encoder(x)
    codebook = module.codebook[...]
    quantized = codebook[nearest_codes(vectors, codebook)]
    codebook_term = jnp.mean((jax.lax.stop_gradient(vectors) - quantized) ** 2)
    commitment = jnp.mean((vectors - jax.lax.stop_gradient(quantized)) ** 2)
    straight_through = vectors + jax.lax.stop_gradient(quantized - vectors)
    reconstruction = jnp.mean((module.decoder(straight_through) - x) ** 2)
    return reconstruction + codebook_term + COMMITMENT * commitment


def restart_dead_codes(module: Any, x: np.ndarray, key: jax.Array) -> DigitsVQVAE:
    """Move each code no training vector uses onto a randomly drawn encoder vector (the usual
    remedy for codebook collapse, e.g. Dhariwal et al. 2020, "Jukebox"); called between
    epochs, from a fixed key, so training stays deterministic."""
    vectors = np.asarray(jax.jit(lambda m, x: m.encoder(x))(module, x)).reshape(-1, CODE_SIZE)
    codebook = np.array(module.codebook[...])
    used = np.bincount(np.asarray(nearest_codes(vectors, codebook)).reshape(-1),
                       minlength=CODES)
    dead = np.flatnonzero(used == 0)
    if len(dead):
        picks = np.asarray(jax.random.choice(key, len(vectors), (len(dead),), replace=False))
        codebook[dead] = vectors[picks]
        module.codebook[...] = jnp.asarray(codebook)
    return module


def as_autoencoder(module: Any) -> Autoencoder:
    """A `DigitsVAE` or `DigitsVQVAE` as a `jv.Autoencoder` (with the VQ-VAE's codebook)."""
    codebook = module.codebook[...] if isinstance(module, DigitsVQVAE) else None
    example = np.zeros((1, *DIGIT_SHAPE), np.float32)
    return Autoencoder(module.encoder, module.decoder, codebook=codebook, example=example)


def reconstruction_error(module: Any, x: np.ndarray) -> float:
    """Mean squared error per pixel of the reconstructions (a VAE's mean decoded)."""
    ae = as_autoencoder(module)
    return float(np.mean((np.asarray(ae.reconstruct(x)) - x) ** 2))


def codebook_perplexity(module: Any, x: np.ndarray) -> float:
    from ..latent import codebook_usage

    return codebook_usage(as_autoencoder(module), x).perplexity
