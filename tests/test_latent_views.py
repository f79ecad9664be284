"""LatentExplorer (and its static twin) on autoencoders whose decodings are known in closed form."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.widgets._payload import payload_array

RNG = np.random.default_rng(0)
W3 = RNG.normal(size=(3, 16)).astype(np.float32)  # a 3-D latent decoded linearly to 4x4 images
W2 = RNG.normal(size=(2, 16)).astype(np.float32)


def linear_autoencoder(w):
    w_j = jnp.asarray(w)
    pinv = jnp.asarray(np.linalg.pinv(w))
    return jv.Autoencoder(lambda x: x.reshape(x.shape[0], -1) @ pinv,
                          lambda z: (z @ w_j).reshape(z.shape[0], 4, 4), latent_shape=w.shape[0])


@pytest.fixture(scope="module")
def data():
    return RNG.normal(size=(60, 4, 4)).astype(np.float32), np.arange(60) % 3


@pytest.fixture(scope="module")
def explorer(data):
    x, labels = data
    return jv.LatentExplorer(linear_autoencoder(W3), x, labels=labels, steps=7, strip=5)


def test_moving_slider_k_by_d_moves_the_preview_by_d_times_the_decoders_column(explorer):
    start = [0.3, -0.2, 0.5]
    explorer.latent = start
    before = explorer.preview_array()[..., 0]
    np.testing.assert_allclose(before, (np.asarray(start) @ W3).reshape(4, 4), rtol=1e-5,
                               atol=1e-5)
    for k, d in [(0, 0.7), (2, -1.25)]:
        moved = list(start)
        moved[k] += d
        explorer.latent = moved
        after = explorer.preview_array()[..., 0]
        np.testing.assert_allclose(after - before, d * W3[k].reshape(4, 4), rtol=1e-4, atol=1e-5)


def test_the_plane_sent_decodes_the_pca_plane_grid(explorer):
    plane = payload_array(explorer.plane)[..., 0]  # (steps, steps, 4, 4)
    axes, center = payload_array(explorer.axes), payload_array(explorer.center)
    xs = np.linspace(-explorer.span, explorer.span, 7)
    for i, j in [(0, 0), (3, 5), (6, 2)]:
        latent = center + xs[j] * axes[0] + xs[::-1][i] * axes[1]
        np.testing.assert_allclose(plane[i, j], (latent @ W3).reshape(4, 4), rtol=1e-4,
                                   atol=1e-4)
    assert explorer.projection == "pca"
    points = payload_array(explorer.points)
    assert np.abs(points).max() <= explorer.span  # every point lies on the drawn plane


def test_the_strip_runs_between_the_two_picked_inputs(explorer, data):
    x, _ = data
    explorer.pair = [4, 17]
    strip = payload_array(explorer.strip)[..., 0]
    assert strip.shape == (5, 4, 4)
    model = explorer.autoencoder
    ends = np.asarray(model.decode(model.encode(x[[4, 17]])))
    np.testing.assert_allclose(strip[0], ends[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(strip[-1], ends[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(strip[2], ends.mean(0), rtol=1e-4, atol=1e-4)  # linear decoder


def test_a_2d_latent_is_drawn_as_is(data):
    x, _ = data
    model = linear_autoencoder(W2)
    explorer = jv.LatentExplorer(model, x, steps=5)
    np.testing.assert_allclose(payload_array(explorer.points), np.asarray(model.encode(x)),
                               rtol=1e-5, atol=1e-5)
    assert explorer.projection == "identity" and len(explorer.latent) == 2


def test_bad_values_are_reported_in_the_widget_and_bad_arguments_raise(explorer, data):
    x, labels = data
    explorer.latent = [float("nan"), 0.0, 0.0]
    assert "latent: expected finite values" in explorer._reply["error"]
    explorer.latent = [0.0, 0.0, 0.0]
    explorer.pair = [0, 600]
    assert "pair: example index 600 out of range [0, 60)" in explorer._reply["error"]
    explorer.pair = [0, 1]
    assert explorer._reply["error"] is None
    with pytest.raises(TypeError, match="model: expected a jaxviz.Autoencoder"):
        jv.LatentExplorer(lambda x: x, x)
    with pytest.raises(ValueError, match=r"labels: expected one integer class per example \(60\)"):
        jv.LatentExplorer(explorer.autoencoder, x, labels=labels[:5])


def test_static_twin_and_page(explorer, tmp_path):
    figure = explorer.plot()
    assert len(figure.axes) == 2 + 5  # plane, preview, the strip's images
    assert explorer.to_png()[:4] == b"\x89PNG"
    page = explorer.to_html(tmp_path / "latent.html").read_text()
    assert "jaxviz-latent-explorer" in page


# -- CodebookView ------------------------------------------------------------------------------

CODEBOOK = np.asarray(RNG.normal(size=(6, 4)), np.float32)  # codes 4 and 5 are never used


@pytest.fixture(scope="module")
def vq_setup():
    ids = RNG.integers(0, 4, size=(40, 2, 2))
    ids[0] = 1  # input 0 uses code 1 at every position: code 1's most typical input
    x = (CODEBOOK[ids] + 0.01 * RNG.normal(size=(40, 2, 2, 4))).reshape(40, 4, 4, 1)
    ae = jv.Autoencoder(lambda v: v.reshape(v.shape[0], 2, 2, 4),
                        lambda z: z.reshape(z.shape[0], 4, 4, 1), codebook=CODEBOOK,
                        example=x[:1].astype(np.float32))
    return ae, x.astype(np.float32), ids


def test_codebook_view_sends_usage_code_maps_and_code_images(vq_setup):
    ae, x, ids = vq_setup
    view = jv.CodebookView(ae, x, k=3, max_inputs=10)
    np.testing.assert_array_equal(payload_array(view.counts), np.bincount(ids.ravel(),
                                                                          minlength=6))
    assert view.dead == [4, 5]
    np.testing.assert_array_equal(payload_array(view.code_maps), ids[:10])
    images = payload_array(view.code_images)[..., 0]  # (codes, 4, 4): the code at every position
    for c in range(6):
        np.testing.assert_allclose(images[c], np.tile(CODEBOOK[c], 4).reshape(4, 4), atol=1e-6)
    inputs = payload_array(view.inputs)
    examples = payload_array(view.examples).astype(int)
    np.testing.assert_array_equal(inputs[examples[1, 0]], x[0])  # code 1's first typical input
    assert (examples[4] == -1).all()  # a dead code has none
    recon = payload_array(view.reconstructions)[..., 0]
    np.testing.assert_allclose(recon[0], np.tile(CODEBOOK[1], 4).reshape(4, 4), atol=1e-6)
    assert view.perplexity == pytest.approx(float(jv.latent.perplexity(np.bincount(
        ids.ravel(), minlength=6))))


def test_codebook_view_static_twin_page_and_errors(vq_setup, explorer, tmp_path):
    ae, x, _ = vq_setup
    view = jv.CodebookView(ae, x, k=3)
    view.code, view.input = 1, 0
    assert view.to_png()[:4] == b"\x89PNG"
    assert "jaxviz-codebook-view" in view.to_html(tmp_path / "codes.html").read_text()
    with pytest.raises(TypeError, match="model: expected a vector-quantized jaxviz.Autoencoder"):
        jv.CodebookView(explorer.autoencoder, x)
    with pytest.raises(ValueError, match="use jv.CodebookView"):
        jv.LatentExplorer(ae, x)
