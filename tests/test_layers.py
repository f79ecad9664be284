"""The layer explorer's pure-JAX parts: top activating examples, receptive fields, projections,
clustering and feature visualization, checked against brute force and closed forms."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name
from layer_models import tiny_cnn, weights

import jaxviz as jv
from jaxviz.explain._features import (
    channel_backprojection,
    peak_patches,
    receptive_field,
    top_activating,
)
from jaxviz.explain._featurevis import feature_visualization, random_affine, total_variation
from jaxviz.explain._projection import kmeans, layer_projections, pca, tsne


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def images():
    return jax.random.uniform(jax.random.key(1), (37, 12, 12, 1))


def _activation(m, x, layer):
    return np.asarray(jv.activations(m, x, layers=layer))


@pytest.mark.parametrize("layer", ["conv1", "conv2", "dense1"])
@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_top_activating_are_the_k_largest(model, images, layer, reduce):
    # 37 examples in chunks of 8: the last chunk is padded, and padding must never win.
    top = top_activating(model, images, layer=layer, k=5, reduce=reduce, batch_size=8,
                         show_progress=False)
    acts = _activation(model, images, layer)
    flat = acts.reshape(acts.shape[0], -1, acts.shape[-1])
    scores = flat.max(axis=1) if reduce == "max" else flat.mean(axis=1)
    brute = -np.sort(-scores, axis=0)[:5].T
    # activations() runs through the engine's kernel rewrites: equal up to float reassociation
    np.testing.assert_allclose(top.values, brute, rtol=1e-5)
    indices = np.asarray(top.indices)
    assert indices.min() >= 0 and indices.max() < images.shape[0]
    np.testing.assert_allclose(np.take_along_axis(scores.T, indices, axis=1), top.values,
                               rtol=1e-5)
    for channel in range(acts.shape[-1]):
        assert len(set(indices[channel])) == 5
    if acts.ndim == 4:
        peaks = np.asarray(top.peaks)
        at_peak = acts[indices, peaks[..., 0], peaks[..., 1], np.arange(acts.shape[-1])[:, None]]
        np.testing.assert_allclose(at_peak, flat.max(axis=1).T[np.arange(acts.shape[-1])[:, None],
                                                                 indices], rtol=1e-6)
    else:
        assert top.peaks.shape == (acts.shape[-1], 5, 0)


@pytest.mark.parametrize("method", ["deconvnet", "guided_backprop"])
def test_backprojection_of_a_first_layer_peak_is_its_kernel(images, method):
    """conv1 = relu(conv(x, w1)): the back-projection of a channel's (active) peak unit is that
    channel's 3x3 kernel placed at the peak, for both ReLU rules, and zero elsewhere."""
    m, (w1, *_) = tiny_cnn(), weights()
    channel = 2
    projected = np.asarray(channel_backprojection(m, images[:4], layer="conv1", channel=channel,
                                                  method=method))
    acts = _activation(m, images[:4], "conv1")[..., channel]
    for example in range(4):
        row, col = np.unravel_index(acts[example].argmax(), acts[example].shape)
        expected = np.zeros((14, 14))
        expected[row:row + 3, col:col + 3] = w1[:, :, 0, channel]
        np.testing.assert_allclose(projected[example, ..., 0], expected[1:13, 1:13], atol=1e-6)


def test_backprojection_refuses_a_bad_channel(model, images):
    with pytest.raises(ValueError, match=r"channel: expected channel indices in \[0, 6\)"):
        channel_backprojection(model, images, layer="conv2", channel=6)


def test_top_activating_rejects_bad_arguments(model, images):
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        top_activating(model, images, layer="nope")
    with pytest.raises(ValueError, match="k: .* got 38"):
        top_activating(model, images, layer="conv1", k=38)
    with pytest.raises(ValueError, match="reduce: .* got 'median'"):
        top_activating(model, images, layer="conv1", reduce="median")


@pytest.mark.parametrize("layer, size, stride, offset", [
    ("conv1", (3, 3), (1, 1), (-1, -1)),     # one 3x3 SAME convolution
    ("pool1", (4, 4), (2, 2), (-1, -1)),     # then a 2x2 max-pool with stride 2
    ("conv2", (8, 8), (2, 2), (-3, -3)),     # then 3x3 on the pooled map: 3 pooled cells wide
])
def test_receptive_field_matches_the_geometry(model, layer, size, stride, offset):
    field = receptive_field(model, layer=layer, input_shape=(12, 12, 1))
    assert field == (size, stride, offset)


def test_receptive_field_of_a_layer_whose_relu_is_always_off():
    """A layer that applies its own ReLU and is off for every random probe (like a sparse last
    conv) has no gradient; the field is then measured with the ReLUs passing gradients back."""
    kernel = jnp.ones((5, 5, 1, 2)) / 25

    def fn(x):
        conv = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        off = checkpoint_name(jax.nn.relu(conv - 100.0), "off")  # -100: never positive
        return off.mean(axis=(1, 2))

    m = jv.wrap(fn, example=jnp.zeros((1, 12, 12, 1)))
    assert receptive_field(m, layer="off", input_shape=(12, 12, 1)) == ((5, 5), (1, 1), (-2, -2))


def test_a_peak_unit_sees_only_its_patch(model, images):
    """Zeroing every pixel outside the receptive field leaves the peak unit unchanged."""
    field = receptive_field(model, layer="conv2", input_shape=(12, 12, 1))
    top = top_activating(model, images, layer="conv2", k=3, show_progress=False)
    channel, rank = 2, 0
    index, (row, col) = int(top.indices[channel, rank]), np.asarray(top.peaks[channel, rank])
    top_row, left = field.offset[0] + row * field.stride[0], field.offset[1] + col * field.stride[1]
    mask = np.zeros((12, 12, 1), np.float32)
    mask[max(top_row, 0):top_row + field.size[0], max(left, 0):left + field.size[1]] = 1
    masked = images[index:index + 1] * mask
    unit = _activation(model, masked, "conv2")[0, row, col, channel]
    np.testing.assert_allclose(unit, top.values[channel, rank], rtol=1e-5)
    patches = peak_patches(images, top, field)
    assert patches.shape == (6, 3, 8, 8, 1)
    # The patch is real pixels of that example, shifted inside the image when it crosses the edge.
    r0 = int(np.clip(top_row, 0, 12 - 8))
    c0 = int(np.clip(left, 0, 12 - 8))
    np.testing.assert_array_equal(patches[channel, rank], images[index, r0:r0 + 8, c0:c0 + 8])


@pytest.mark.parametrize("examples, features", [(200, 30), (40, 300)])  # both Gram matrices
def test_pca_matches_numpy_svd(examples, features):
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(examples, features)) * np.linspace(4, 0.1, features)).astype(
        np.float32) + 3.0
    result = pca(data, n_components=4)
    centered = data - data.mean(axis=0)
    _, singular, vt = np.linalg.svd(centered.astype(np.float64), full_matrices=False)
    signs = np.sign(np.sum(np.asarray(result.components) * vt[:4], axis=1))
    assert np.all(signs != 0)
    np.testing.assert_allclose(np.asarray(result.components), vt[:4] * signs[:, None], atol=1e-4)
    np.testing.assert_allclose(result.explained_variance, singular[:4] ** 2 / (examples - 1),
                               rtol=1e-4)
    np.testing.assert_allclose(result.explained_variance_ratio,
                               singular[:4] ** 2 / np.sum(singular**2), rtol=1e-4)
    np.testing.assert_allclose(result.projected, centered @ (vt[:4] * signs[:, None]).T,
                               atol=1e-3)
    biggest = np.argmax(np.abs(result.components), axis=1)
    assert np.all(np.asarray(result.components)[np.arange(4), biggest] > 0)


def test_pca_beyond_the_datas_rank_projects_to_zero():
    """5 centred examples span 4 directions: the fifth component has no variance and must not
    blow rounding noise up (it once came out near 1e24 and swamped k-means)."""
    data = np.random.default_rng(1).normal(size=(5, 40)).astype(np.float32)
    result = pca(data, n_components=5)
    assert np.abs(np.asarray(result.projected)).max() < 10 * np.abs(data).max()
    np.testing.assert_allclose(np.asarray(result.projected)[:, 4], 0.0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(result.components)[4], 0.0)


def test_pca_rejects_too_many_components():
    with pytest.raises(ValueError, match="n_components=6"):
        pca(np.zeros((5, 10)), n_components=6)


def test_kmeans_invariants():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    truth = rng.integers(0, 4, size=300)
    data = centres[truth] + rng.normal(size=(300, 2)).astype(np.float32)
    result = kmeans(data, k=4, key=jax.random.key(0))
    labels, centers = np.asarray(result.labels), np.asarray(result.centers)
    d2 = ((data[:, None] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))          # nearest centre
    for cluster in range(4):                                          # centre = mean of members
        np.testing.assert_allclose(centers[cluster], data[labels == cluster].mean(0), atol=1e-4)
    np.testing.assert_allclose(result.inertia, d2.min(axis=1).sum(), rtol=1e-5)
    for cluster in range(4):  # the prototype is the member nearest the centre
        members = np.flatnonzero(labels == cluster)
        assert result.prototypes[cluster] == members[d2[members, cluster].argmin()]
    np.testing.assert_array_equal(result.sizes, np.bincount(labels, minlength=4))
    # Well separated blobs are found exactly (up to renaming the clusters).
    assert len({(t, p) for t, p in zip(truth, labels, strict=True)}) == 4
    again = kmeans(data, k=4, key=jax.random.key(0))
    np.testing.assert_array_equal(again.labels, labels)


def test_tsne_embeds_and_explains_a_missing_sklearn(monkeypatch):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(2)
    data = np.concatenate([rng.normal(size=(20, 5)), rng.normal(size=(20, 5)) + 8])
    embedding = tsne(data, perplexity=5)
    assert embedding.shape == (40, 2) and np.all(np.isfinite(embedding))
    # The two blobs stay apart: every point is nearer its own blob's centre.
    a, b = embedding[:20].mean(0), embedding[20:].mean(0)
    assert np.all(np.linalg.norm(embedding[:20] - a, axis=1) < np.linalg.norm(embedding[:20] - b,
                                                                              axis=1))
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        tsne(data)


def test_layer_projections_are_pca_of_the_flattened_activations(model, images):
    projections = layer_projections(model, images, layers=["conv2", "dense1"], batch_size=8,
                                    show_progress=False)
    assert list(projections) == ["input", "conv2", "dense1", "logits"]
    flat = _activation(model, images, "conv2").reshape(images.shape[0], -1)
    expected = np.asarray(pca(flat).projected)
    expected = expected / expected[:, 0].std()
    np.testing.assert_allclose(projections["conv2"], expected, atol=1e-4)


def test_random_affine_is_identity_without_randomness_and_keeps_a_constant():
    image = jax.random.uniform(jax.random.key(0), (9, 11, 2))
    same = random_affine(image, jax.random.key(1), jitter=0.0, scale=0.0, degrees=0.0)
    np.testing.assert_allclose(same, image, atol=1e-5)
    constant = jnp.full((9, 11, 1), 0.3)
    moved = random_affine(constant, jax.random.key(1), jitter=2.0, scale=0.2, degrees=20.0)
    np.testing.assert_allclose(moved, constant, atol=1e-6)


def test_total_variation_closed_form():
    ramp = jnp.tile(jnp.arange(5.0)[None, :, None], (4, 1, 1))  # +1 per column, flat down rows
    assert float(total_variation(ramp)) == pytest.approx(1.0)


def test_feature_visualization_is_deterministic_and_beats_the_dataset(model, images):
    kwargs = dict(shape=(12, 12, 1), layer="dense1", steps=60, key=jax.random.key(3))
    result = feature_visualization(model, **kwargs)
    assert result.images.shape == (5, 12, 12, 1)
    assert float(result.images.min()) >= 0.0 and float(result.images.max()) <= 1.0
    again = feature_visualization(model, **kwargs)
    np.testing.assert_array_equal(result.images, again.images)
    np.testing.assert_allclose(result.objective, _activation(model, result.images, "dense1")
                               .diagonal(), rtol=1e-5)
    best_in_dataset = _activation(model, images, "dense1").max(axis=0)
    assert np.mean(np.asarray(result.objective) > best_in_dataset) >= 0.6


def test_feature_visualization_of_a_class_logit(model):
    result = feature_visualization(model, shape=(12, 12, 1), targets=[1], steps=30,
                                   key=jax.random.key(3), parameterization="pixel")
    assert result.images.shape == (1, 12, 12, 1)
    logits = np.asarray(model(result.images))
    np.testing.assert_allclose(result.objective, logits[:, 1], rtol=1e-5)


def test_feature_visualization_rejects_bad_arguments(model):
    with pytest.raises(ValueError, match="targets"):
        feature_visualization(model, shape=(12, 12, 1), layer="dense1", targets=[7],
                              key=jax.random.key(0))
    with pytest.raises(ValueError, match="parameterization: .* got 'wavelet'"):
        feature_visualization(model, shape=(12, 12, 1), parameterization="wavelet",
                              key=jax.random.key(0))
