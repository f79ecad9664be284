"""Static twins of the layer views: what is drawn matches the numbers it is drawn from."""

import jax
import numpy as np
import pytest
from layer_models import tiny_cnn

import jaxviz as jv
from jaxviz import _layer_display


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def images():
    return jax.random.uniform(jax.random.key(1), (30, 12, 12, 1))


def test_activation_grid_draws_every_channel_on_one_scale(model, images):
    activation = np.asarray(jv.activations(model, images[:1], layers="conv2"))[0]
    figure = jv.plot.activation_grid(activation, title="conv2")
    drawn = [ax for ax in figure.axes if ax.get_visible() and ax.images]
    assert len(drawn) == activation.shape[-1]
    expected, sign, _ = _layer_display.normalized_activation(activation)
    assert sign == "absolute"  # conv2 is taken after its ReLU: no negative values
    for channel, ax in enumerate(drawn):
        np.testing.assert_allclose(ax.images[0].get_array(), expected[..., channel])
        assert ax.images[0].get_clim() == (0.0, 1.0)
    assert figure._repr_png_()[:4] == b"\x89PNG"


def test_activation_grid_of_a_dense_layer_is_one_bar_per_neuron(model, images):
    activation = np.asarray(jv.activations(model, images[:1], layers="dense1"))[0]
    figure = jv.plot.activation_grid(activation)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    np.testing.assert_allclose(heights, activation, rtol=1e-6)


def test_activation_grid_rejects_a_batch():
    with pytest.raises(ValueError, match="pass one example"):
        jv.plot.activation_grid(np.zeros((2, 4, 4, 3)))


def test_signed_layers_use_a_diverging_scale_around_zero():
    values = np.array([[[-2.0, 1.0]], [[0.5, 4.0]]], np.float32)  # (2, 1, 2): one map, 2 channels
    normalized, sign, scale = _layer_display.normalized_activation(values)
    assert sign == "all" and normalized.min() >= -1 and normalized.max() <= 1
    assert np.sign(normalized[0, 0, 0]) == -1
    statistics = _layer_display.channel_statistics(values)
    np.testing.assert_allclose(statistics["max"], [0.5, 4.0])
    np.testing.assert_allclose(statistics["active"], [0.5, 1.0])


def test_top_examples_rows_show_the_top_inputs(model, images):
    top = jv.top_activating(model, images, layer="conv2", k=4, show_progress=False)
    figure = jv.plot.top_examples(images, top, channels=[1, 3])
    cells = [ax for ax in figure.axes if ax.get_visible()]
    assert len(cells) == 8
    first = np.asarray(cells[0].images[0].get_array())
    np.testing.assert_allclose(first, np.asarray(images[int(top.indices[1, 0])])[..., 0],
                               rtol=1e-6)


def test_layer_projections_plot_one_panel_per_layer(model, images):
    labels = np.arange(30) % 3
    projections = jv.layer_projections(model, images, show_progress=False)
    figure = jv.plot.layer_projections(projections, labels, class_names=["a", "b", "c"])
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(projections)
    points = np.concatenate([c.get_offsets() for c in panels[-1].collections])
    assert points.shape == (30, 2)
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["a", "b", "c"]


def test_clusters_show_each_prototype_largest_first(model, images):
    features = jv.activations(model, images, layers="conv2")
    clustering = jv.kmeans(features, k=3, key=jax.random.key(0))
    figure = jv.plot.clusters(images, clustering)
    captions = [ax.get_xlabel() for ax in figure.axes if ax.get_visible()]
    sizes = sorted(np.asarray(clustering.sizes).tolist(), reverse=True)
    assert [int(c.split(": ")[1]) for c in captions] == sizes
