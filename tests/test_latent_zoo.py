"""The zoo's autoencoders: shipped weights load offline and reach their quality figures."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.zoo._pretrained import manifest, weights_path


@pytest.fixture(scope="module")
def digits():
    return jv.zoo.dataset("digits")


def mean_image_error(data) -> float:
    """The error of always answering the training set's mean image: the bar to beat."""
    return float(np.mean((data.x_test - data.x_train.mean(axis=0)) ** 2))


@pytest.mark.parametrize("name", ["digits-vae", "digits-vae-8", "digits-vqvae"])
def test_the_shipped_weights_are_the_ones_the_manifest_records(name):
    record = manifest()[name]
    assert hashlib.sha256(weights_path(name).read_bytes()).hexdigest() == record["sha256"]


@pytest.mark.parametrize("name, latent, error", [
    ("digits-vae", (2,), 0.05), ("digits-vae-8", (8,), 0.03),
])
def test_the_vaes_reconstruct_the_test_digits(name, latent, error, digits):
    ae, data = jv.zoo.load(name)
    assert isinstance(ae, jv.Autoencoder) and ae.variational and ae.latent_shape == latent
    mse = float(np.mean((np.asarray(ae.reconstruct(data.x_test)) - data.x_test) ** 2))
    assert mse < error and mse < 0.7 * mean_image_error(digits)
    assert mse == pytest.approx(manifest()[name]["test_reconstruction_mse"], rel=1e-4)


def test_the_2d_vae_latent_groups_digits_by_class(digits):
    """5-nearest-neighbour accuracy in the 2-D latent: classes form regions the plane shows."""
    ae, data = jv.zoo.load("digits-vae")
    train = np.asarray(ae.encode(data.x_train))
    test = jv.encode_dataset(ae, data.x_test, data.y_test)
    assert test.projection == "identity"
    found = jv.nearest_neighbours(ae, test.latents, data.x_train, k=5)
    votes = data.y_train[np.asarray(found.indices)]
    predicted = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    assert np.mean(predicted == data.y_test) > 0.6
    # The prior's region decodes to digit-like images: a plane over [-2, 2]^2 is not blank.
    plane = jv.latent_plane(ae, span=2.0, steps=5)
    assert plane.images.shape == (5, 5, 8, 8, 1)
    assert float(np.asarray(plane.images).std(axis=(2, 3, 4)).min()) > 0.1
    np.testing.assert_allclose(np.asarray(ae.encode(data.x_train)), train)


def test_the_vqvae_uses_most_of_its_codebook_and_reconstructs_well(digits):
    ae, data = jv.zoo.load("digits-vqvae")
    assert ae.quantized and ae.codebook.shape == (32, 8) and ae.latent_shape == (4, 4, 8)
    usage = jv.codebook_usage(ae, data.x_test)
    assert usage.codes.shape == (len(data.x_test), 4, 4)
    assert usage.perplexity > 20 and len(usage.dead) <= 4
    assert usage.perplexity == pytest.approx(manifest()["digits-vqvae"]["test_codebook_perplexity"],
                                             rel=1e-6)
    mse = float(np.mean((np.asarray(ae.reconstruct(data.x_test)) - data.x_test) ** 2))
    assert mse < 0.02 and mse < 0.3 * mean_image_error(digits)
    # Decoding an input's own code map gives its reconstruction.
    codes = np.asarray(jv.vq_codes(ae, data.x_test[:4]))
    np.testing.assert_allclose(ae.decode(jv.latent.quantize(ae, codes)),
                               ae.reconstruct(data.x_test[:4]), rtol=1e-5, atol=1e-6)
    atlas = jv.code_atlas(ae, data.x_test, k=3)
    assert atlas.images.shape == (32, 8, 8, 1)
    used = usage.counts > 0
    assert (atlas.examples[used, 0] >= 0).all() and (atlas.examples[~used] == -1).all()


def test_autoencoder_training_is_deterministic():
    from jaxviz.zoo import _pretrained, train

    first = _pretrained.weights_bytes(train.train("digits-vae", epochs=1))
    second = _pretrained.weights_bytes(train.train("digits-vae", epochs=1))
    assert first == second


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-vae", "digits-vae-8", "digits-vqvae"])
def test_retraining_reproduces_the_shipped_autoencoder_bit_for_bit(name):
    from jaxviz.zoo import _pretrained, train

    record = manifest()[name]
    if record["machine"] != train.machine_fingerprint():
        pytest.skip(f"weights were trained on {record['machine']!r}, not this machine")
    blob = _pretrained.weights_bytes(train.train(name))
    assert hashlib.sha256(blob).hexdigest() == record["sha256"]


def test_the_encoder_goes_to_the_projector_with_its_layers():
    ae, data = jv.zoo.load("digits-vae-8")
    encoder = ae.encoder
    assert encoder.layers == ("encoder", "encoder.fc1", "encoder.fc2", "encoder.log_variance",
                              "encoder.mean")
    x = data.x_test[:100]
    np.testing.assert_allclose(encoder(x), ae.encode(x), rtol=1e-5, atol=1e-6)
    projector = jv.Projector(encoder, x, data.y_test[:100])
    assert projector.layer_names[-1] == "logits" and "encoder.mean" in projector.layer_names


SHARDED = """
import jax, numpy as np, jaxviz as jv
assert jax.device_count() == 4, jax.devices()
vae, data = jv.zoo.load("digits-vae-8")
vq, _ = jv.zoo.load("digits-vqvae")
x = data.x_test[:7]
key = jax.random.key(5)
np.savez({path!r},
         sample=vae.encode(x, key=key), sample_chunked=vae.encode(x, key=key, batch_size=2),
         plane=jv.latent_plane(vae, steps=3, dims=(2, 5)).images,
         codes=jv.vq_codes(vq, x), codes_chunked=jv.vq_codes(vq, x, batch_size=3),
         reconstruction=vq.reconstruct(x))
"""


def test_latent_tools_on_four_devices_equal_one_device(tmp_path):
    path = tmp_path / "sharded.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", SHARDED.format(path=str(path))], env=env, check=True,
                   timeout=900)
    got = np.load(path)
    vae, data = jv.zoo.load("digits-vae-8")
    vq, _ = jv.zoo.load("digits-vqvae")
    x = data.x_test[:7]
    sample = np.asarray(vae.encode(x, key=jax.random.key(5)))
    np.testing.assert_allclose(got["sample"], sample, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["sample_chunked"], sample, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["plane"], jv.latent_plane(vae, steps=3, dims=(2, 5)).images,
                               rtol=1e-5, atol=1e-6)
    codes = np.asarray(jv.vq_codes(vq, x))
    np.testing.assert_array_equal(got["codes"], codes)
    np.testing.assert_array_equal(got["codes_chunked"], codes)
    np.testing.assert_allclose(got["reconstruction"], vq.reconstruct(x), rtol=1e-5, atol=1e-6)
