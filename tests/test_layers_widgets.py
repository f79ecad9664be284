"""The layer widgets' Python side: what they send is what the core computes."""

import jax
import numpy as np
import pytest
from layer_models import tiny_cnn

import jaxviz as jv
from jaxviz import _layer_display
from jaxviz.widgets._payload import payload_array


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def data():
    x = jax.random.uniform(jax.random.key(1), (30, 12, 12, 1))
    return x, np.arange(30) % 3


@pytest.fixture(scope="module")
def explorer(model, data):
    x, y = data
    return jv.LayerExplorer(model, x[:6], labels=y[:6], class_names=["a", "b", "c"], dataset=x,
                            k=4, feature_steps=16)


def test_explorer_sends_every_layers_activations(model, data, explorer):
    x, _ = data
    expected = jv.activations(model, x[:6])
    assert explorer.layer_names == list(expected)
    for name, activation in expected.items():
        sent = explorer.layer_data[name]
        np.testing.assert_array_equal(payload_array(sent["activations"]), np.asarray(activation))
        assert sent["spatial"] == (activation.ndim == 4)
        sign = _layer_display.activation_sign(np.asarray(activation))
        assert sent["sign"] == sign
        limits = payload_array(sent["limits"])
        np.testing.assert_allclose(
            limits, [_layer_display.activation_scale(np.asarray(a), sign) for a in activation])
        stats = payload_array(sent["stats"])
        flat = np.asarray(activation).reshape(6, -1, activation.shape[-1])
        np.testing.assert_allclose(stats[..., 1], flat.max(axis=1), rtol=1e-6)
    assert explorer.captions[0].startswith("label a, predicted ")
    assert payload_array(explorer.inputs).shape == (6, 12, 12, 4)


def test_clicking_a_channel_sends_its_top_examples_and_feature_visualization(model, data,
                                                                            explorer):
    x, _ = data
    explorer.layer = "conv2"
    explorer.channel = 2
    assert explorer._reply["error"] is None
    detail = explorer.detail
    top = jv.top_activating(model, x, layer="conv2", k=4, show_progress=False)
    assert detail["layer"] == "conv2" and detail["channel"] == 2
    assert detail["top_indices"] == np.asarray(top.indices[2]).tolist()
    np.testing.assert_allclose(detail["top_values"], top.values[2], rtol=1e-6)
    assert payload_array(detail["top_images"]).shape == (4, 12, 12, 4)
    assert detail["field"] == [8, 8]
    assert payload_array(detail["patches"]).shape == (4, 8, 8, 4)
    back = jv.channel_backprojection(model, x[np.asarray(top.indices[2])], layer="conv2",
                                     channel=2)
    np.testing.assert_allclose(payload_array(detail["backprojections"]),
                               np.asarray(back)[..., 0], rtol=1e-5, atol=1e-7)
    # The feature visualization comes in a second request, once the examples are shown.
    assert detail["feature_pending"] and "feature" not in detail
    explorer.with_feature = True
    detail = explorer.detail
    assert payload_array(detail["feature"]).shape == (1, 12, 12, 4)
    assert detail["top_indices"] == np.asarray(top.indices[2]).tolist()
    means = np.asarray(jv.activations(model, x, layers="conv2")).mean(axis=(1, 2))[:, 2]
    assert detail["dataset_objective"] == pytest.approx(means.max(), rel=1e-5)
    explorer.channel = -1
    explorer.with_feature = False
    assert explorer.detail == {}


def test_the_warm_up_computes_the_brightest_channels_details_ahead(model, data, explorer):
    x, _ = data
    plan = explorer._warm_states({"layer": "conv2", "channel": -1, "with_feature": False})
    peaks = np.asarray(jv.activations(model, x[:6], layers="conv2"))[0].max(axis=(0, 1))
    brightest = int(np.argmax(peaks))
    assert plan[:2] == [{"layer": "conv2", "channel": brightest, "with_feature": True},
                        {"layer": "conv2", "channel": brightest, "with_feature": False}]
    # then the likeliest channel of every other layer, nearest the shown one first
    assert [s["layer"] for s in plan[2:8:2]] == ["dense1", "pool1", "conv1"]

    warm = jv.LayerExplorer(model, x[:6], dataset=x, k=4, feature_steps=16)
    warm._warmer.limit = 2
    warm.layer = "conv2"
    warm._handle_custom_msg({"event": "rendered"}, [])
    assert warm._warmer.wait_idle(300) and warm._warmer.failed == 0
    warm.channel = brightest  # a click: the detail arrives whole, the feature included
    detail = warm.detail
    assert warm._served == {"cached": 1, "computed": 2}  # the click came from the cache
    assert "feature_pending" not in detail
    explorer.layer, explorer.channel, explorer.with_feature = "conv2", brightest, True
    np.testing.assert_array_equal(payload_array(detail["feature"]),
                                  payload_array(explorer.detail["feature"]))
    assert detail["top_indices"] == explorer.detail["top_indices"]
    explorer.channel, explorer.with_feature = -1, False


def test_a_bad_channel_is_reported_in_the_widget(explorer):
    explorer.layer = "dense1"
    explorer.channel = 99
    assert "channel: layer 'dense1' has 5 channels, got 99" in explorer._reply["error"]
    explorer.channel = -1
    assert explorer._reply["error"] is None


def test_explorer_static_twin_and_page(explorer, tmp_path):
    bundle, _ = explorer._repr_mimebundle_()
    assert "image/png" in bundle
    page = explorer.to_html(tmp_path / "layers.html").read_text()
    assert "application/vnd.jaxviz.page+json" in page and "<script" in page


def test_projector_sends_each_layers_projection_and_clusters(model, data, tmp_path):
    x, y = data
    projector = jv.Projector(model, x, y, class_names=["a", "b", "c"], clusters=3)
    expected = jv.layer_projections(model, x, show_progress=False)
    assert projector.layer_names == list(expected) == ["input", "conv1", "pool1", "conv2",
                                                       "dense1", "logits"]
    points = payload_array(projector.points)
    for i, name in enumerate(projector.layer_names):
        np.testing.assert_allclose(points[i], expected[name], rtol=1e-4, atol=1e-4)
    clusters = payload_array(projector.clusters)
    prototypes = payload_array(projector.prototypes).astype(int)
    assert clusters.shape == (6, 30) and prototypes.shape == (6, 3)
    # Each prototype belongs to the cluster it stands for (a cluster can be empty where a layer
    # maps many examples to the same point, e.g. dead ReLUs).
    for layer in range(6):
        filled = np.isin(np.arange(3), clusters[layer])
        np.testing.assert_array_equal(clusters[layer, prototypes[layer]][filled],
                                      np.arange(3)[filled])
        assert filled.sum() >= 2
    np.testing.assert_array_equal(payload_array(projector.labels), y)
    assert payload_array(projector.thumbnails).shape == (30, 12, 12, 4)
    assert projector.to_png()[:4] == b"\x89PNG"
    assert projector.to_html(tmp_path / "projector.html").exists()


def test_projector_rejects_mismatched_labels(model, data):
    x, y = data
    with pytest.raises(ValueError, match="labels: expected one non-negative integer class"):
        jv.Projector(model, x, y[:5])


def test_projector_of_a_tabular_model_sends_no_thumbnails():
    m, data = jv.zoo.load("cancer-mlp")
    projector = jv.Projector(m, data.x_test[:60], data.y_test[:60], class_names=data.class_names)
    assert projector.thumbnails == {}
    assert payload_array(projector.points).shape == (len(projector.layer_names), 60, 2)
    with pytest.raises(ValueError, match="x: the LayerExplorer shows image inputs"):
        jv.LayerExplorer(m, data.x_test[:4])
