"""FunctionExplorer math, the model summary, and the static twins of the gradient-flow views."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv
from jaxviz.flow import Recorder, flow_stats
from jaxviz.flow._functions import FUNCTIONS, function_curves, function_table
from jaxviz.flow._summary import model_summary

X = np.linspace(-5, 5, 101)


def test_activation_derivatives_match_closed_forms():
    s = 1 / (1 + np.exp(-X))
    c = function_curves("sigmoid", x=X)
    np.testing.assert_allclose(c["derivative"], s * (1 - s), atol=1e-6)
    c = function_curves("tanh", x=X)
    np.testing.assert_allclose(c["derivative"], 1 - np.tanh(X) ** 2, atol=1e-6)
    c = function_curves("leaky_relu", x=X, slope=0.2)
    np.testing.assert_allclose(c["derivative"], np.where(X >= 0, 1.0, 0.2))
    c = function_curves("softplus", x=X, beta=2.0)
    np.testing.assert_allclose(c["derivative"], 1 / (1 + np.exp(-2 * X)), atol=1e-6)
    c = function_curves("elu", x=X, alpha=0.5)
    np.testing.assert_allclose(c["derivative"], np.where(X > 0, 1.0, 0.5 * np.exp(X)), atol=1e-6)


def test_loss_derivatives_match_closed_forms():
    c = function_curves("cross_entropy", x=X, target=0.3)
    np.testing.assert_allclose(c["derivative"], 1 / (1 + np.exp(-X)) - 0.3, atol=1e-6)
    c = function_curves("mse", x=X, target=1.0)
    np.testing.assert_allclose(c["derivative"], 2 * (X - 1), atol=1e-5)
    c = function_curves("huber", x=X, delta=1.5)
    np.testing.assert_allclose(c["derivative"], np.clip(X, -1.5, 1.5), atol=1e-6)
    c = function_curves("hinge", x=X, target=-1.0)
    np.testing.assert_allclose(c["derivative"], np.where(X > -1, 1.0, 0.0))


def test_flat_regions_are_saturation_and_dead_sides():
    sig = function_curves("sigmoid", x=X)
    # sigmoid' < 0.025 exactly where |x| > log((1 + sqrt(0.9)) / (1 - sqrt(0.9))) ~ 3.64
    np.testing.assert_array_equal(sig["flat"], np.abs(X) > 3.64)
    np.testing.assert_array_equal(function_curves("relu", x=X)["flat"], X <= 0)  # jax: relu'(0) = 0


def test_function_table_covers_every_parameter_value():
    table = function_table(x=X)
    assert set(table) == set(FUNCTIONS)
    elu = table["elu"]
    assert elu["param"] == "alpha" and elu["value"].shape == (len(elu["grid"]), len(X))
    row = int(np.argmin(np.abs(elu["grid"] - 0.6)))
    np.testing.assert_allclose(
        elu["value"][row],
        function_curves("elu", x=X, alpha=float(elu["grid"][row]))["value"],
        atol=1e-6,
    )
    assert table["relu"]["value"].shape == (1, len(X))
    with pytest.raises(ValueError, match="name"):
        function_curves("swish")
    with pytest.raises(ValueError, match="params"):
        function_curves("relu", slope=1)


class Mixed(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(2, 3, (3,), rngs=rngs)
        self.head = nnx.Linear(12, 2, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.conv(x))
        return self.head(h.reshape(h.shape[0], -1))


def test_model_summary_rows():
    x = jax.random.normal(jax.random.key(0), (5, 4, 2))
    rows = model_summary(jv.wrap(Mixed(nnx.Rngs(0))), x)
    assert [(r.name, r.type, r.output_shape, r.param_count) for r in rows] == [
        ("conv", "Conv", (5, 4, 3), 3 * 2 * 3 + 3),
        ("head", "Linear", (5, 2), 12 * 2 + 2),
    ]
    conv_out = np.asarray(jv.activations(jv.wrap(Mixed(nnx.Rngs(0))), x, "conv"))
    assert rows[0].histogram.sum() == conv_out.size
    np.testing.assert_allclose(
        [rows[0].mean, rows[0].min, rows[0].max],
        [conv_out.mean(), conv_out.min(), conv_out.max()],
        rtol=1e-5,
    )

    def fn(x):
        return checkpoint_name(jnp.concatenate([x, -x], axis=1), "both")

    (row,) = model_summary(jv.wrap(fn, example=x[:, :, 0]), x[:, :, 0])
    assert (row.type, row.param_count, row.param_dtype) == ("named value", 0, "-")


def test_static_twins_draw_what_they_claim():
    def fn(x):
        for i in range(6):
            x = checkpoint_name(jax.nn.sigmoid(0.5 * x), f"s{i}")
        return jnp.concatenate([x, -x], axis=1)

    flow = jv.gradient_flow(jv.wrap(fn, example=jnp.ones((2, 3))), jnp.ones((2, 3)))
    fig = jv.plot.gradient_flow(flow)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "s5",
        "s4",
        "s3",
        "s2",
        "s1",
        "s0",
    ]  # output first
    flagged = [t.get_text() for t in ax.texts]
    assert flagged.count("vanishing") == sum(f == "vanishing" for f in flow.flags) > 0

    rec = Recorder(capacity=16)
    p = {"a": {"w": jnp.ones(3)}, "b": {"w": jnp.ones(2)}}
    for i in range(40):
        rec.add(flow_stats(jax.tree.map(lambda v: v * (i + 1), p), p), loss=1.0 / (i + 1))
    fig = jv.plot.flow_monitor(rec, step=37)
    titles = [a.get_title() for a in fig.axes]
    assert "weights at step 37 (share of values per bin)" in titles
    nearest = rec.steps[np.argmin(np.abs(rec.steps - 5))]  # step 5 itself was thinned away
    assert nearest != 5 and f"gradients at step {nearest} (share of values per bin)" in [
        a.get_title() for a in jv.plot.flow_monitor(rec, step=5).axes
    ]
    assert any(
        "No problems" in t.get_text() or "in " in t.get_text() for a in fig.axes for t in a.texts
    )

    fig = jv.plot.function("relu")
    assert fig.axes[0].get_xlabel() == "x (pre-activation)"
    with pytest.raises(TypeError, match="recorder"):
        jv.plot.flow_monitor("nope")
    with pytest.raises(TypeError, match="flow"):
        jv.plot.gradient_flow({})
