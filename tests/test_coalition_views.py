"""Views of coalition and relevance results: what each figure draws is checked against the
numbers it claims to show (bar ends, dot positions, shares), and LIME's returned samples
against the model evaluated on the same coalitions."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection

import jaxviz as jv
from jaxviz.explain._coalition import lime_coalitions
from jaxviz.plot._coalition import _outline_segments

matplotlib.use("Agg")

FEATURES = 6
RNG = np.random.default_rng(3)
W1 = RNG.normal(size=(FEATURES, 8)).astype(np.float32)
W2 = RNG.normal(size=(8, 3)).astype(np.float32)


def mlp_numpy(x):
    return np.tanh(x @ W1) @ W2


@pytest.fixture(scope="module")
def mlp():
    return jv.wrap(lambda x: jnp.tanh(x @ W1) @ W2, example=np.zeros((1, FEATURES), np.float32))


@pytest.fixture(scope="module")
def data():
    x = RNG.normal(size=(12, FEATURES)).astype(np.float32)
    return x, RNG.normal(size=(5, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def shapley(mlp, data):
    x, background = data
    return jv.shapley_values(mlp, x, "all", background=background)


def bars(ax):
    return [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]


def test_waterfall_walks_from_the_base_to_the_output(shapley, data):
    x, _ = data
    figure = shapley.plot("waterfall", index=2, class_index=1, top_k=4)
    values, base = np.asarray(shapley.values[2, 1]), float(shapley.base[2, 1])
    drawn = bars(figure.axes[0])
    assert len(drawn) == 5  # four features and the rest
    # Bottom to top: the rest, then the shown features from the smallest |value| to the largest.
    order = np.argsort(-np.abs(values), kind="stable")
    expected = [values[order[4:]].sum(), *values[order[:4]][::-1]]
    np.testing.assert_allclose([b.get_width() for b in drawn], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(drawn[0].get_x(), base, rtol=1e-6)
    end = drawn[-1].get_x() + drawn[-1].get_width()
    output = float(mlp_numpy(x[2:3])[0, 1])
    np.testing.assert_allclose(end, output, atol=1e-4)  # efficiency: the walk ends at f(x)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0] == "2 other features" and labels[-1] == f"feature {order[0]}"


def test_importance_bars_are_the_mean_absolute_values(shapley):
    figure = shapley.plot("bar", index=None, class_index=0, top_k=None)
    heights = sorted(b.get_width() for b in bars(figure.axes[0]))
    want = sorted(np.abs(np.asarray(shapley.values[:, 0])).mean(0))
    np.testing.assert_allclose(heights, want, rtol=1e-6)


def test_beeswarm_puts_each_example_at_its_value_coloured_by_its_feature(shapley, data):
    x, _ = data
    figure = shapley.plot("beeswarm", class_index=0, features=x)
    ax = figure.axes[0]
    rows = [c for c in ax.collections if isinstance(c, PathCollection)]
    values = np.asarray(shapley.values[:, 0])
    order = np.argsort(-np.abs(values).mean(0), kind="stable")
    assert len(rows) == FEATURES
    for row, feature in zip(rows, order, strict=True):
        offsets = row.get_offsets()
        np.testing.assert_allclose(offsets[:, 0], values[:, feature], rtol=1e-6)
        assert np.abs(offsets[:, 1] - rows.index(row)).max() <= 0.4 + 1e-6
        # Colours rise with the feature's value (percentile-clipped, so ties at the ends).
        level = np.asarray(row.get_array())
        ranked = level[np.argsort(x[:, feature])]
        assert (np.diff(ranked) >= -1e-9).all()


def test_lime_samples_are_the_models_values_on_the_drawn_coalitions(mlp, data, getkey):
    x, background = data
    key = getkey()
    plain = jv.lime(mlp, x[:2], 1, key=key, samples=40, baseline=background[0])
    result = jv.lime(mlp, x[:2], 1, key=key, samples=40, baseline=background[0],
                     return_samples=True)  # fmt: skip
    for a, b in zip(plain[:4], result[:4], strict=True):
        np.testing.assert_array_equal(a, b)  # returning the samples changes nothing else
    samples = result.samples
    width = 0.75 * math.sqrt(FEATURES)  # lime's default for the l2 distance
    assert samples.kernel_width == pytest.approx(width)
    for i in range(2):
        z = np.asarray(lime_coalitions(jax.random.fold_in(key, i), 40, FEATURES))
        np.testing.assert_array_equal(samples.coalitions[i], z)
        masked = np.where(z, x[i], background[0])
        np.testing.assert_allclose(samples.values[i], mlp_numpy(masked)[:, 1], atol=1e-5)
        distance2 = FEATURES - z.sum(1)
        np.testing.assert_allclose(samples.weights[i], np.exp(-distance2 / (2 * width**2)), 1e-6)


def test_lime_fit_draws_the_surrogate_against_the_model(getkey):
    linear = jv.wrap(lambda x: x @ W2, example=np.zeros((1, 8), np.float32))
    x = RNG.normal(size=(1, 8)).astype(np.float32)
    result = jv.lime(linear, x, "all", key=getkey(), samples=64, alpha=0.0, return_samples=True)
    figure = result.plot("fit", class_index=2)
    dots = next(c for c in figure.axes[0].collections if isinstance(c, PathCollection))
    model_value, surrogate = dots.get_offsets().T
    # A linear model is its own surrogate: every coalition lies on the diagonal.
    np.testing.assert_allclose(surrogate, model_value, atol=1e-4)
    assert "R² = 1.000" in figure.axes[0].get_title()
    with pytest.raises(ValueError, match="return_samples=True"):
        jv.lime(linear, x, key=getkey(), samples=16).plot("fit")


def test_outlines_run_between_groups():
    groups = jv.grid_segments((4, 4), 2)
    segments = _outline_segments(groups)
    assert segments.shape == (8, 2, 2)  # 4 vertical and 4 horizontal unit edges
    assert set(np.unique(segments[:, :, 0][np.isclose(segments[:, 0, 0], segments[:, 1, 0])])) == {
        1.5
    }


def test_grouped_attribution_draws_group_values_and_outlines(getkey):
    model = jv.wrap(lambda x: x.sum(axis=(1, 2)), example=np.zeros((1, 4, 4, 3), np.float32))
    x = RNG.normal(size=(1, 4, 4, 3)).astype(np.float32)
    groups = jv.grid_segments((4, 4), 2)
    result = jv.shapley_values(model, x, groups=groups)
    figure = result.plot("image", image=x[0], groups=groups)
    ax = figure.axes[0]
    assert sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection)) == 8
    # The heat map holds each group's value (normalized by the largest), constant in a cell.
    heat = np.asarray(ax.images[-1].get_array())
    values = np.asarray(result.values[0])
    np.testing.assert_allclose(heat, (values / np.abs(values).max())[groups], rtol=1e-5)


def test_relevance_readout_shows_each_layers_share():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self):
            self.fc1 = nnx.Linear(FEATURES, 5, rngs=nnx.Rngs(0))
            self.fc2 = nnx.Linear(5, 3, rngs=nnx.Rngs(1))

        def __call__(self, x):
            return self.fc2(nnx.relu(self.fc1(x)))

    model = jv.wrap(Net())
    x = RNG.normal(size=(2, FEATURES)).astype(np.float32)
    result = jv.lrp(model, x, "all", composite="epsilon-plus", return_layers=True)
    figure = result.plot(x[1], index=1, class_index=2)
    readout = figure.axes[-1]
    shares = [b.get_width() for b in bars(readout)]
    totals = np.array([float(result.layers[n][1, 2]) for n in result.layers])
    np.testing.assert_allclose(shares, 100 * totals / totals[-1], rtol=1e-5)
    assert [t.get_text() for t in readout.get_yticklabels()] == list(result.layers)


def test_view_errors(shapley, data):
    x, _ = data
    with pytest.raises(ValueError, match="kind: expected one of"):
        shapley.plot("force")
    with pytest.raises(ValueError, match="class_index: the result holds every class"):
        shapley.plot("waterfall")
    with pytest.raises(ValueError, match=r"index: expected an example in \[0, 11\], got 12"):
        shapley.plot("waterfall", index=12, class_index=0)
    with pytest.raises(ValueError, match="features: kind='beeswarm' colours by feature value"):
        shapley.plot("beeswarm", class_index=0)
    with pytest.raises(ValueError, match="image, groups: kind='image'"):
        shapley.plot("image", class_index=0)
    with pytest.raises(ValueError, match=r"features: expected the shape of values \(12, 6\)"):
        jv.plot.beeswarm(shapley.values[:, 0], x[:, :3])
    with pytest.raises(ValueError, match=r"values: expected one example's values"):
        jv.plot.waterfall(shapley.values[:, 0], 0.0)
