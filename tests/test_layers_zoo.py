"""Layer views on the zoo's trained shapes-cnn: feature visualization beats the dataset."""

import jax
import numpy as np
import pytest

import jaxviz as jv


@pytest.mark.slow
def test_feature_visualization_beats_the_best_dataset_example():
    """For most channels, the optimized input drives the channel's mean activation above that of
    every test image. A subset with few steps keeps this quick; benchmarks/layer_views.py
    measures every channel with the full step count."""
    m, data = jv.zoo.load("shapes-cnn")
    x = data.x_test
    targets = np.arange(0, 32, 3)  # 11 of conv3's 32 channels, spread out
    vis = jv.feature_visualization(m, shape=x.shape[1:], layer="conv3", targets=targets,
                                   steps=64, key=jax.random.key(0))
    # The objective reported is the channel's mean activation for the image, untransformed.
    own = np.asarray(jv.activations(m, vis.images, layers="conv3")).mean(axis=(1, 2))
    np.testing.assert_allclose(vis.objective, own[np.arange(targets.size), targets], rtol=1e-4,
                               atol=1e-5)
    dataset = np.asarray(jv.activations(m, x, layers="conv3")).mean(axis=(1, 2))[:, targets]
    # "Well above": by more than the spread of the channel's activation over the dataset.
    well_above = np.asarray(vis.objective) > dataset.max(axis=0) + dataset.std(axis=0)
    assert np.mean(well_above) >= 0.75
