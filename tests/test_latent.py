"""Latent-space tools on autoencoders whose answers are known in closed form."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz import latent

LATENT, OUT = 3, 6
W = np.asarray(jax.random.normal(jax.random.key(0), (LATENT, OUT)), np.float32)
B = np.asarray(jax.random.normal(jax.random.key(1), (OUT,)), np.float32)


def inputs(n, seed=0, size=OUT):
    return np.asarray(jax.random.uniform(jax.random.key(seed), (n, size)), np.float32)


@pytest.fixture(scope="module")
def linear():
    """decode(z) = z @ W + b: moving latent k by d moves the output by exactly d * W[k]."""
    return latent.Autoencoder(lambda x: x @ np.linalg.pinv(W), lambda z: z @ W + B,
                              example=inputs(2))


class MLP(nnx.Module):
    def __init__(self, sizes, rngs):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


class VAEEncoder(nnx.Module):
    def __init__(self, rngs):
        self.body = MLP([OUT, 8, 2 * LATENT], rngs)

    def __call__(self, x):
        h = self.body(x)
        return h[:, :LATENT], h[:, LATENT:]


@pytest.fixture(scope="module")
def vae():
    return latent.Autoencoder(VAEEncoder(nnx.Rngs(0)), MLP([LATENT, 8, OUT], nnx.Rngs(1)),
                              example=inputs(2))


# -- wrapping -----------------------------------------------------------------------------------


def test_nnx_linen_and_plain_functions_give_the_modules_own_outputs():
    enc, dec = MLP([OUT, 5, LATENT], nnx.Rngs(2)), MLP([LATENT, 5, OUT], nnx.Rngs(3))
    x = inputs(7)
    ae = latent.Autoencoder(enc, dec, latent_shape=LATENT)
    np.testing.assert_allclose(ae.encode(x), enc(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ae.reconstruct(x), dec(enc(x)), rtol=1e-5, atol=1e-6)

    class Dense(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            return nn.Dense(self.features)(x)

    le, ld = Dense(LATENT), Dense(OUT)
    variables = (le.init(jax.random.key(0), x), ld.init(jax.random.key(1), x[:, :LATENT]))
    linen = latent.Autoencoder(lambda p, v: le.apply(p[0], v), lambda p, z: ld.apply(p[1], z),
                               params=variables, example=x)
    np.testing.assert_allclose(linen.decode(linen.encode(x)),
                               ld.apply(variables[1], le.apply(variables[0], x)), rtol=1e-5)
    assert linen.latent_shape == (LATENT,) and not linen.variational


def test_a_vae_encodes_to_its_mean_and_samples_per_example_from_a_key(vae):
    x = inputs(5)
    mean, log_var = vae._encode(vae.params["encode"], x)
    np.testing.assert_allclose(vae.encode(x), mean, rtol=1e-6, atol=1e-7)
    key = jax.random.key(3)
    sample = np.asarray(vae.encode(x, key=key))
    noise = np.stack([jax.random.normal(jax.random.fold_in(key, i), (LATENT,)) for i in range(5)])
    np.testing.assert_allclose(sample, mean + np.exp(0.5 * log_var) * noise, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vae.encode(x, key=key, batch_size=2), sample)
    assert vae.variational and vae.latent_shape == (LATENT,)


def test_the_encoder_as_a_model_gives_the_latents_as_logits(vae):
    x = inputs(4)
    np.testing.assert_allclose(vae.encoder(x), vae.encode(x), rtol=1e-6)


# -- traversals, planes, arithmetic -------------------------------------------------------------


def test_moving_latent_k_by_d_moves_a_linear_decoders_output_by_d_times_its_row(linear):
    z = linear.encode(inputs(1, seed=4))[0]
    result = jv.latent_traversal(linear, z, dims=[2, 0], offsets=[-1.5, 0.0, 0.25, 2.0])
    base = np.asarray(z) @ W + B
    for row, k in enumerate((2, 0)):
        for col, d in enumerate(result.offsets):
            np.testing.assert_allclose(result.images[row, col] - base, d * W[k], atol=2e-6)
    plane = jv.latent_plane(linear, z, dims=(1, 2), span=2.0, steps=5)
    for i, y in enumerate(plane.ys):
        for j, x in enumerate(plane.xs):
            np.testing.assert_allclose(plane.images[i, j] - base, x * W[1] + y * W[2], atol=3e-6)
    assert plane.ys[0] == 2.0 and plane.xs[0] == -2.0  # row 0 is the top (y up)


def test_a_plane_along_given_directions_decodes_the_centre_plus_their_combination(linear):
    directions = np.asarray([[1.0, 1.0, 0.0], [0.0, 0.5, -1.0]], np.float32)
    plane = jv.latent_plane(linear, directions=directions, span=1.0, steps=3)
    want = (plane.xs[None, :, None] * directions[0] + plane.ys[:, None, None] * directions[1])
    np.testing.assert_allclose(plane.images, want @ W + B, atol=3e-6)


def test_latent_arithmetic_adds_scaled_attribute_vectors(linear):
    with_x, without_x = inputs(6, seed=5), inputs(4, seed=6)
    vector = jv.attribute_vector(linear, with_x, without_x)
    np.testing.assert_allclose(
        vector, linear.encode(with_x).mean(0) - linear.encode(without_x).mean(0), atol=1e-6
    )
    z = linear.encode(inputs(2, seed=7))
    moved = jv.latent_arithmetic(linear, z, vector, scales=[-1.0, 0.0, 3.0])
    want = (np.asarray(z)[:, None] + np.asarray([-1.0, 0.0, 3.0])[None, :, None] * vector) @ W + B
    np.testing.assert_allclose(moved.images, want, atol=1e-5)


def test_moving_the_centre_or_span_reuses_the_compiled_decoder(linear):
    jv.latent_plane(linear, steps=6)
    before = len(linear.programs)
    jv.latent_plane(linear, np.ones(LATENT), span=0.5, steps=6)
    jv.latent_plane(linear, dims=(0, 2), steps=6)
    assert len(linear.programs) == before


# -- interpolation ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["linear", "spherical"])
def test_interpolation_endpoints_decode_exactly_to_the_endpoints(vae, path):
    z = np.asarray(vae.encode(inputs(2, seed=8)))
    strip = jv.interpolate(vae, z[0], z[1], steps=7, path=path)
    np.testing.assert_array_equal(strip.latents[0], z[0])
    np.testing.assert_array_equal(strip.latents[-1], z[1])
    ends = vae.decode(z)
    np.testing.assert_allclose(strip.images[0], ends[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(strip.images[-1], ends[1], rtol=1e-6, atol=1e-7)
    assert strip.t[0] == 0.0 and strip.t[-1] == 1.0


def test_slerp_keeps_norms_and_moves_at_constant_angular_speed():
    a = np.asarray([3.0, 0.0, 4.0, 1.0], np.float32)
    b = np.asarray([0.0, 5.0, 0.0, 1.0], np.float32) * np.linalg.norm(a) / np.sqrt(26.0)
    t = np.linspace(0, 1, 9, dtype=np.float32)
    path = np.asarray(latent.slerp(jnp.asarray(a), jnp.asarray(b), jnp.asarray(t)))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-6)
    omega = np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    angles = np.arccos(np.clip(path @ a / np.linalg.norm(path, axis=1) / np.linalg.norm(a), -1, 1))
    np.testing.assert_allclose(angles, t * omega, atol=1e-3)
    # Unequal norms: the norm moves linearly between the endpoints'.
    c = 2.5 * b
    path = np.asarray(latent.slerp(jnp.asarray(a), jnp.asarray(c), jnp.asarray(t)))
    want = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(c)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), want, rtol=1e-6)
    # A linear path cuts inside: its midpoint's norm is smaller.
    mid = latent.lerp(jnp.asarray(a), jnp.asarray(b), jnp.asarray([0.5]))[0]
    assert np.linalg.norm(mid) < 0.8 * np.linalg.norm(a)


# -- datasets and neighbours --------------------------------------------------------------------


def test_encoding_a_dataset_maps_points_back_to_latents_on_its_plane(linear):
    x = inputs(40, seed=9)
    embedded = jv.encode_dataset(linear, x, np.arange(40) % 4)
    assert embedded.projection == "pca" and embedded.points.shape == (40, 2)
    flat = np.asarray(embedded.latents)
    # The points' plane through the mean holds the projections of the latents onto it.
    projected = embedded.to_latent(embedded.points)
    residual = flat - projected
    np.testing.assert_allclose(residual @ embedded.axes.T, 0.0, atol=1e-5)
    two = latent.Autoencoder(lambda x: x[:, :2], lambda z: jnp.tile(z, 3), example=x)
    plain = jv.encode_dataset(two, x)
    assert plain.projection == "identity"
    np.testing.assert_array_equal(plain.points, x[:, :2])


def test_nearest_neighbours_agree_with_brute_force(linear):
    x = inputs(50, seed=10)
    queries = np.asarray(jax.random.normal(jax.random.key(11), (4, LATENT)), np.float32)
    found = jv.nearest_neighbours(linear, queries, x, k=6)
    latents = np.asarray(linear.encode(x))
    d = np.linalg.norm(queries[:, None] - latents[None], axis=-1)
    np.testing.assert_array_equal(found.indices, np.argsort(d, axis=1)[:, :6])
    np.testing.assert_allclose(found.distances, np.sort(d, axis=1)[:, :6], rtol=1e-4, atol=1e-5)


# -- vector quantization ------------------------------------------------------------------------

CODES, CODE_SIZE, SIDE = 10, 4, 3


def vq(codebook, encode=None):
    """Inputs (n, SIDE*SIDE*CODE_SIZE) are the encoder's vectors; decode flattens back."""
    encode = encode or (lambda x: x.reshape(x.shape[0], SIDE, SIDE, CODE_SIZE))
    return latent.Autoencoder(encode, lambda z: z.reshape(z.shape[0], -1) * 2.0,
                              codebook=codebook, example=inputs(1, size=SIDE * SIDE * CODE_SIZE))


def test_code_assignment_equals_a_brute_force_argmin():
    codebook = np.asarray(jax.random.normal(jax.random.key(12), (CODES, CODE_SIZE)), np.float32)
    ae = vq(codebook)
    x = np.asarray(jax.random.normal(jax.random.key(13), (30, SIDE * SIDE * CODE_SIZE)),
                   np.float32)
    codes = np.asarray(jv.vq_codes(ae, x, batch_size=8))
    vectors = x.reshape(30, SIDE, SIDE, 1, CODE_SIZE)
    brute = np.argmin(((vectors - codebook) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(codes, brute)
    assert codes.shape == (30, SIDE, SIDE)
    np.testing.assert_allclose(ae.reconstruct(x), 2.0 * codebook[brute].reshape(30, -1),
                               rtol=1e-6)


def test_perplexity_is_the_codebook_size_for_uniform_use_and_one_when_collapsed():
    assert latent.perplexity(np.full(32, 7)) == pytest.approx(32.0, rel=1e-12)
    assert latent.perplexity(np.eye(32)[5] * 100) == pytest.approx(1.0, abs=1e-12)
    assert latent.perplexity([1, 1, 0, 0]) == pytest.approx(2.0, rel=1e-12)
    codebook = np.asarray(jax.random.normal(jax.random.key(14), (CODES, CODE_SIZE)), np.float32)
    collapsed = vq(codebook, lambda x: jnp.broadcast_to(
        jnp.asarray(codebook[3]) + 0 * x[:, :1, None, None], (x.shape[0], SIDE, SIDE, CODE_SIZE)))
    usage = jv.codebook_usage(collapsed, inputs(12, size=SIDE * SIDE * CODE_SIZE))
    assert usage.perplexity == pytest.approx(1.0)
    np.testing.assert_array_equal(usage.dead, [c for c in range(CODES) if c != 3])
    assert usage.counts[3] == 12 * SIDE * SIDE


def test_uniform_code_maps_give_a_perplexity_of_the_codebook_size():
    codebook = np.asarray(jax.random.normal(jax.random.key(15), (CODES, CODE_SIZE)), np.float32)
    # Input i holds code (i + position) % CODES at each position: every code equally often.
    n = CODES
    maps = (np.arange(n)[:, None] + np.arange(SIDE * SIDE)[None]) % CODES
    x = codebook[maps].reshape(n, -1)
    usage = jv.codebook_usage(vq(codebook), x)
    assert usage.perplexity == pytest.approx(CODES, rel=1e-9) and len(usage.dead) == 0


def test_the_code_atlas_decodes_each_code_and_finds_the_inputs_that_use_it_most():
    codebook = np.asarray(jax.random.normal(jax.random.key(16), (CODES, CODE_SIZE)), np.float32)
    ae = vq(codebook)
    maps = np.zeros((4, SIDE, SIDE), np.int64)
    maps[1, :2] = 7   # input 1: 6 of 9 positions use code 7
    maps[2, 0] = 7    # input 2: 3 of 9
    maps[3] = 5       # input 3: all code 5
    atlas = jv.code_atlas(ae, codebook[maps].reshape(4, -1), k=3)
    np.testing.assert_array_equal(atlas.examples[7], [1, 2, -1])
    np.testing.assert_allclose(atlas.shares[7], [6 / 9, 3 / 9, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(atlas.examples[5], [3, -1, -1])
    np.testing.assert_array_equal(atlas.examples[2], [-1, -1, -1])
    np.testing.assert_allclose(atlas.images[7], 2.0 * np.tile(codebook[7], SIDE * SIDE),
                               rtol=1e-6)
    assert jv.codebook_projection(ae).shape == (CODES, 2)


# -- errors -------------------------------------------------------------------------------------


def test_a_decoder_that_does_not_take_the_latent_size_is_named():
    w = np.ones((5, OUT), np.float32)
    with pytest.raises(ValueError, match=r"decode: .*\(batch, 3\).*latent_shape=\(3,\)"):
        latent.Autoencoder(lambda x: x[:, :3], lambda z: z @ w, example=inputs(2))


@pytest.mark.parametrize("encode, seen", [
    (lambda x: (x, x, x), "a tuple of 3"),
    (lambda x: {"mean": x}, "a dict with keys \\['mean'\\]"),
    (lambda x: (x[:, :2], x[:, :3]), "a tuple of 2"),
    (lambda x: x[0], "shape \\(6,\\)"),
])
def test_an_encoder_returning_the_wrong_structure_is_named(encode, seen):
    with pytest.raises(ValueError, match=f"encode: expected .*{seen}"):
        latent.Autoencoder(encode, lambda z: z, example=inputs(2))


def test_a_latent_shape_that_disagrees_with_the_encoder_is_named():
    with pytest.raises(ValueError, match=r"latent_shape: given as \(4,\).*\(3,\)"):
        latent.Autoencoder(lambda x: x[:, :3], lambda z: z, latent_shape=4, example=inputs(2))
    with pytest.raises(TypeError, match="latent_shape: not given"):
        latent.Autoencoder(lambda x: x, lambda z: z)


def test_a_latent_index_out_of_range_is_named(linear):
    with pytest.raises(ValueError, match=r"dims: latent dimension 3 is out of range; .* 0 to 2"):
        jv.latent_traversal(linear, dims=[0, 3])
    with pytest.raises(ValueError, match=r"dims: latent dimension -1 is out of range"):
        jv.latent_plane(linear, dims=(-1, 0))
    with pytest.raises(ValueError, match="dims: expected two different"):
        jv.latent_plane(linear, dims=(1, 1))


def test_nan_latents_are_named(linear):
    bad = np.asarray([0.0, np.nan, 1.0], np.float32)
    with pytest.raises(ValueError, match=r"z: contains 1 NaN .*index \(0, 1\).*latents must be"):
        linear.decode(bad)
    with pytest.raises(ValueError, match="z0: contains 1 NaN"):
        jv.interpolate(linear, bad, np.zeros(3))
    with pytest.raises(ValueError, match="z: contains 1 NaN"):
        jv.latent_traversal(linear, bad)
    with pytest.raises(ValueError, match=r"z: expected latents of shape \(n, 3\)"):
        linear.decode(np.zeros((2, 4)))


def test_vq_tools_on_a_plain_autoencoder_and_bad_codes_are_named(linear):
    with pytest.raises(ValueError, match="model: vq_codes needs a vector-quantized"):
        jv.vq_codes(linear, inputs(2))
    ae = vq(np.zeros((CODES, CODE_SIZE), np.float32))
    with pytest.raises(ValueError, match=r"codes: code 10 is out of range; .* 0 to 9"):
        latent.quantize(ae, np.full((1, SIDE, SIDE), 10))
    with pytest.raises(ValueError, match="codebook: its codes have size 4, but"):
        latent.Autoencoder(lambda x: x.reshape(-1, 2, 3), lambda z: z,
                           codebook=np.zeros((5, 4), np.float32), example=inputs(1))


def test_sampling_a_plain_autoencoder_is_refused(linear):
    with pytest.raises(ValueError, match="key: only a VAE"):
        linear.encode(inputs(2), key=jax.random.key(0))


def test_the_static_twins_draw_every_decoded_image_in_its_cell(linear):
    traversal = jv.latent_traversal(linear, dims=[0, 2], offsets=[-1.0, 0.0, 1.0])
    figure = traversal.plot()
    (ax,) = figure.axes
    mosaic = ax.images[0].get_array()
    # Rows of 6-value outputs are drawn as 1x6 strips with a 1-pixel gap (spacing 0.1 of 6).
    assert mosaic.shape == (2 * 1 + 1, 3 * 6 + 2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z[0]", "z[2]"]
    strip = np.asarray(traversal.images[1, 2])
    low, high = float(np.min(traversal.images)), float(np.max(traversal.images))
    if low < -0.1 or high > 1.1:  # the plot maps a grid outside [0, 1] to it, one scale for all
        strip = (strip - low) / (high - low)
    np.testing.assert_allclose(mosaic[2, 14:20], np.clip(strip, 0, 1), atol=1e-6)
    assert jv.encode_dataset(linear, inputs(10), np.arange(10) % 2).plot().axes
