"""Latent spaces: explore any encoder/decoder pair (autoencoders, VAEs, VQ-VAEs).

The API (every name also at the top level as `jv.<name>`, except the pure helpers `lerp`,
`slerp`, `perplexity`, `nearest_codes` and `quantize`, which live in `jv.latent`):

    model = jv.Autoencoder(encode, decode, *, params=None, latent_shape=None, example=None,
                           codebook=None)
        encode, decode: an nnx.Module | fn(params, value) with params= | a batched fn(value).
        encode returns latents (n, *latent_shape), or a VAE's (mean, log_variance); a VQ
        autoencoder passes codebook (codes, code_size) and encodes to (n, *positions,
        code_size) vectors, snapped to the nearest code before decoding.
    model.latent_shape, .latent_size, .variational, .quantized, .codebook, .input_shape,
    model.output_shape, .params ({"encode", "decode", "codebook"}: every program's argument)
    model.encode(x, *, key=None) -> (n, *latent_shape): a VAE's mean, with key a sample
    model.decode(z) -> (n, *output_shape)          (z: (n, *latent_shape) or one latent)
    model.reconstruct(x), model(x) -> decode(encode(x)), through the codebook for a VQ one
    model.encoder -> a jv.Model whose "logits" are the flat latents (for jv.Projector, ...)
    model.check_inputs(x) -> x validated as a host array (errors name the argument)

    latent_traversal(model, z=None, *, dims=None, span=3.0, steps=9, offsets=None)
        -> Traversal(.latents, .images (dims, steps, *output_shape), .offsets, .dims, .center)
    latent_plane(model, z=None, *, dims=(0, 1), directions=None, span=3.0, steps=15)
        -> LatentPlane(.latents, .images, .xs, .ys, .directions, .center, .dims);
        images[i, j] decodes center + xs[j] * directions[0] + ys[i] * directions[1],
        ys run from +span to -span (row 0 is the top)
    interpolate(model, z0, z1, *, steps=8, path="linear" | "spherical")
        -> Interpolation(.t, .latents (exactly z0 first, z1 last), .images, .path)
    lerp(z0, z1, t), slerp(z0, z1, t): pure JAX; slerp's norm is linear in t
    attribute_vector(model, with_attribute, without_attribute) -> (*latent_shape)
    latent_arithmetic(model, z, vector, *, scales=(-2, -1, 0, 1, 2))
        -> Arithmetic(.latents, .images (n, scales, *output_shape), .scales, .vector)
    encode_dataset(model, x, labels=None, *, projection="pca" | "tsne", key=None)
        -> LatentEmbedding(.latents, .points (n, 2), .labels, .projection, .axes, .center);
        points are the latents themselves for a 2-D latent; .to_latent(points) maps points
        back to latents (2-D latent or PCA)
    nearest_neighbours(model, z, x, *, k=5) -> Neighbours(.indices, .distances), (queries, k)

    vq_codes(model, x) -> (n, *positions) int32 code maps
    quantize(model, codes) -> codebook[codes] (decode them with model.decode)
    codebook_usage(model, x)
        -> CodebookUsage(.counts, .frequencies, .perplexity, .dead, .codes)
    perplexity(counts) -> exp(entropy of the usage): K for uniform use, 1 when collapsed
    nearest_codes(vectors, codebook) -> argmin indices (pure JAX)
    codebook_projection(model, *, projection="pca" | "tsne", key=None) -> (codes, 2)
    code_atlas(model, x, *, k=5)
        -> CodeAtlas(.images (codes, *output_shape), .examples (codes, k) or -1, .shares)

A 2-D GAN (jaxviz/latent/_gan.py; in `jv.latent` only; the widget is `jv.GANLab`):

    ring_centers(modes=8, radius=2.0), grid_centers(side=5, spacing=1.0) -> (k, 2) mode centres
    sample_mixture(key, centers, n, *, std=0.05) -> (points (n, 2), mode index (n,))
    ring_data(n=2000, *, key=None) -> the 8-Gaussian ring's points
    GAN(generator=None, discriminator=None, *, rngs=None): default ReLU MLPs; gan(z) generates
    GANTrainer(generator, discriminator, *, batch_size=256): .init(key) -> GANState,
        .run(state, data, steps, learning_rate) -> (state, losses (steps, 2)), .view(...)
    mode_coverage(samples, centers, *, radius=0.15, min_count=None)
        -> ModeCoverage(.covered, .quality, .counts, .radius, .min_count)

Every result with a picture has `.plot()` (matplotlib, loaded lazily). Latent dimensions are
flat indices into `z.reshape(n, -1)`. Grids are decoded in one batched program per shape from
the autoencoder's own program cache, so a new centre, span or direction never recompiles.
The zoo's `jv.zoo.load("digits-vae")` (2-D latent), `"digits-vae-8"` (8-D) and
`"digits-vqvae"` (32 codes, a 4x4 code map) return `(Autoencoder, Dataset)`.
"""

from ._autoencoder import Autoencoder as Autoencoder
from ._gan import GAN as GAN
from ._gan import GANState as GANState
from ._gan import GANTrainer as GANTrainer
from ._gan import ModeCoverage as ModeCoverage
from ._gan import grid_centers as grid_centers
from ._gan import mode_coverage as mode_coverage
from ._gan import ring_centers as ring_centers
from ._gan import ring_data as ring_data
from ._gan import sample_mixture as sample_mixture
from ._tools import Arithmetic as Arithmetic
from ._tools import Interpolation as Interpolation
from ._tools import LatentEmbedding as LatentEmbedding
from ._tools import LatentPlane as LatentPlane
from ._tools import Neighbours as Neighbours
from ._tools import Traversal as Traversal
from ._tools import attribute_vector as attribute_vector
from ._tools import encode_dataset as encode_dataset
from ._tools import interpolate as interpolate
from ._tools import latent_arithmetic as latent_arithmetic
from ._tools import latent_plane as latent_plane
from ._tools import latent_traversal as latent_traversal
from ._tools import lerp as lerp
from ._tools import nearest_neighbours as nearest_neighbours
from ._tools import slerp as slerp
from ._vq import CodeAtlas as CodeAtlas
from ._vq import CodebookUsage as CodebookUsage
from ._vq import code_atlas as code_atlas
from ._vq import codebook_projection as codebook_projection
from ._vq import codebook_usage as codebook_usage
from ._vq import nearest_codes as nearest_codes
from ._vq import perplexity as perplexity
from ._vq import quantize as quantize
from ._vq import vq_codes as vq_codes
