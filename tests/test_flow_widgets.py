"""Python side of the gradient-flow widgets: payloads, throttling, static twins."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv
from jaxviz.flow import HIST_BINS, Recorder, flow_stats
from jaxviz.widgets._flow import hist_rows, monitor_payload
from jaxviz.widgets._payload import payload_array


def _recorder(steps=50, capacity=32):
    rec = Recorder(capacity=capacity, fetch_every=8)
    p = {"a": {"w": jnp.ones(3)}, "b": {"w": jnp.ones(2)}}
    for i in range(steps):
        g = {"a": {"w": jnp.full(3, 10.0 ** -(i % 5))}, "b": {"w": jnp.zeros(2)}}
        rec.add(flow_stats(g, p, g), loss=1.0 / (i + 1))
    return rec


def test_hist_rows_spread_and_keep_the_last():
    assert hist_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    rows = hist_rows(100, 8)
    assert len(rows) == 8 and rows[0] == 0 and rows[-1] == 99


def test_monitor_payload_matches_the_recorder():
    rec = _recorder()
    out = monitor_payload(rec, max_hist_steps=6)
    steps = payload_array(out["steps"])
    np.testing.assert_array_equal(steps, rec.steps.astype(np.float32))
    grad = payload_array(out["fields"]["grad_norm"]["data"])
    assert grad.shape == (2, len(steps))
    np.testing.assert_allclose(grad[0], np.log10(rec.field("grad_norm")[:, 0]), rtol=1e-5)
    # layer b's gradient is exactly zero: drawn one decade below the smallest value, not -inf
    assert np.all(np.isfinite(grad)) and np.all(grad[1] == grad[0].min() - 1)
    hist = payload_array(out["grad_hist"])
    assert hist.dtype == np.uint8 and hist.shape == (6, 2, HIST_BINS)
    np.testing.assert_array_equal(payload_array(out["hist_steps"]), steps[hist_rows(len(steps), 6)])
    assert out["layers"] == ["a", "b"]
    # b never gets a gradient, so it never moves: its update ratio (0) is far under the band
    assert [(d["kind"], d["layers"]) for d in out["diagnoses"]] == [("update_ratio_low", ("b",))]
    np.testing.assert_allclose(
        payload_array(out["metrics"]["loss"]), rec.metrics["loss"], rtol=1e-6
    )


def test_monitor_pushes_are_throttled():
    rec = Recorder(capacity=16, fetch_every=4)
    slow = jv.FlowMonitor(rec, interval_s=3600)
    fast = jv.FlowMonitor(rec, interval_s=0)
    p = {"a": jnp.ones(2)}
    for _ in range(10):
        rec.add(flow_stats(p, p), loss=1.0)
    assert slow.pushes == 2  # the one at creation, then the first add; the rest fall in the hour
    assert fast.pushes == 11
    assert fast.layers == ["a"] and payload_array(fast.steps).tolist() == list(range(10))
    slow.update()
    assert payload_array(slow.steps).tolist() == list(range(10))
    slow.close()
    rec.add(flow_stats(p, p))
    assert slow.pushes == 3
    data, _ = fast._repr_mimebundle_()
    assert "image/png" in data
    with pytest.raises(TypeError, match="recorder"):
        jv.FlowMonitor([])


def test_gradient_flow_view_model_view_and_function_explorer():
    def fn(x):
        for i in range(5):
            x = checkpoint_name(jax.nn.sigmoid(0.5 * x), f"s{i}")
        return jnp.concatenate([x, -x], axis=1)

    x = jnp.ones((2, 3))
    m = jv.wrap(fn, example=x)
    flow = jv.gradient_flow(m, x)
    view = jv.GradientFlowView(flow)
    assert view.flow["layers"] == list(flow.layers)
    assert view.flow["flags"] == [f or "" for f in flow.flags]
    assert view.flow["param_grad_rms"] == [None] * 5  # no parameters: not a number, not NaN in JSON

    mv = jv.ModelView(m, x)
    assert [r["name"] for r in mv.rows] == list(m.layers) and mv.layer == "s0"
    assert payload_array(mv.rows[0]["histogram"]).sum() == 6

    fe = jv.FunctionExplorer("huber")
    assert fe.param == 1.0 and set(fe.functions) >= {"sigmoid", "relu", "hinge"}
    value = payload_array(fe.functions["huber"]["value"])
    assert value.shape == (len(fe.functions["huber"]["grid"]), 401)
    with pytest.raises(ValueError, match="function"):
        jv.FunctionExplorer("swish")
