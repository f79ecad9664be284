"""The grown FlowMonitor (runs compared, distributions, diagnosis links), the ConfusionView and
the LandscapeView: what they send the browser, their static twins and pages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.flow import Recorder, flow_stats, percentile_bands
from jaxviz.flow._stats import HIST_BINS
from jaxviz.widgets._explorer import Explorer


def _decode(payload):
    return np.frombuffer(bytes(payload["buffer"]), payload["dtype"]).reshape(payload["shape"])


def _run(scale, hparams, steps=12, nan_at=None):
    rec = Recorder(capacity=32, fetch_every=4, hparams=hparams)
    params = {"a": {"kernel": jnp.ones((3, 2))}, "b": {"kernel": jnp.ones((2, 2))}}
    stats = jax.jit(lambda g, p, a: flow_stats(g, p, activations={"a": ("sigmoid", a)}))
    for step in range(steps):
        grads = jax.tree.map(lambda p: p * scale / (step + 1), params)
        if step == nan_at:
            grads["b"]["kernel"] = grads["b"]["kernel"].at[0, 0].set(jnp.nan)
        acts = jax.nn.sigmoid(jnp.linspace(-3, 3, 16)[:, None] * scale)
        rec.add(stats(grads, params, acts), loss=scale / (step + 1))
        if step % 4 == 3:
            rec.add_validation(loss=1.5 * scale / (step + 1), accuracy=0.5)
    return rec


def test_monitor_compares_runs_and_details_the_focused_one():
    a, b = _run(1.0, {"lr": 0.1}), _run(3.0, {"lr": 0.3}, nan_at=7)
    monitor = jv.FlowMonitor(runs={"slow": a, "fast": b})
    assert [r["name"] for r in monitor.runs] == ["slow", "fast"]
    assert monitor.runs[0]["color"] != monitor.runs[1]["color"]
    fast = monitor.runs[1]
    np.testing.assert_array_equal(_decode(fast["metrics"]["loss"]), b.metrics["loss"])
    np.testing.assert_array_equal(_decode(fast["validation"]["loss"]["steps"]), [3, 7, 11])
    assert fast["hparams"] == {"lr": 0.3} and fast["final"]["validation/accuracy"] == 0.5
    assert monitor.selected_run == "slow" and monitor.recorder is a
    # distributions: TensorBoard's bands of the focused run's histograms at the slider's steps
    dist = monitor.distributions
    assert set(dist) == {"weights", "gradients", "activations"}
    bands = _decode(dist["gradients"]["data"])
    assert bands.shape == (2, len(a.steps), 9)
    expected = percentile_bands(a.field("grad_hist")[:, 1], np.arange(HIST_BINS + 1.0))
    np.testing.assert_allclose(bands[1], expected, rtol=1e-6)
    assert dist["activations"]["names"] == ["a"]
    # choosing another run to detail: its layers, histograms and diagnoses come instead
    monitor.selected_run = "fast"
    assert monitor.recorder is b
    links = {d["kind"]: d["links"] for d in monitor.diagnoses}
    assert {"layer": "b", "step": 7} in links["nonfinite"]  # the diagnosis names layer and step
    monitor.add_run(_run(2.0, {"lr": 0.2}), name="middle")
    assert [r["name"] for r in monitor.runs] == ["slow", "fast", "middle"]
    assert len({r["color"] for r in monitor.runs}) == 3
    with pytest.raises(ValueError, match="name: a run named 'slow' is already shown"):
        monitor.add_run(a, name="slow")
    monitor.close()


def test_monitor_keeps_the_single_recorder_call_and_checks_arguments():
    rec = _run(1.0, {})
    monitor = jv.FlowMonitor(rec)
    assert [r["name"] for r in monitor.runs] == ["run"]
    with pytest.raises(TypeError, match="recorder: expected a jaxviz.Recorder, or runs="):
        jv.FlowMonitor()
    with pytest.raises(ValueError, match=r"smoothing: expected a number in \[0, 1\), got 1.5"):
        jv.FlowMonitor(rec, smoothing=1.5)
    monitor.close()


def test_monitor_twin_and_page_show_the_comparison(tmp_path):
    monitor = jv.FlowMonitor(runs={"slow": _run(1.0, {"lr": 0.1}), "fast": _run(3.0, {"lr": 0.3})})
    monitor.hidden = ["fast"]
    monitor.smoothing = 0.8
    figure = monitor.plot()
    titles = [ax.get_title() for ax in figure.axes]
    assert "loss: training (solid), validation (dashed)" in titles
    assert "slow: gradients of a" in titles
    loss_ax = figure.axes[titles.index("loss: training (solid), validation (dashed)")]
    colors = {line.get_color() for line in loss_ax.get_lines()}
    assert colors == {monitor.runs[0]["color"]}  # the hidden run is off the chart
    assert monitor.to_png()[:4] == b"\x89PNG"
    page = monitor.to_html(tmp_path / "monitor.html").read_text()
    assert '"slow"' in page and '"fast"' in page  # both runs' curves travel with the page
    monitor.close()


@pytest.fixture(scope="module")
def digits():
    m, data = jv.zoo.load("digits-cnn")
    return m, data.x_test[:60], data.y_test[:60], data.class_names


def test_confusion_view_cells_open_the_right_examples(digits):
    m, x, y, names = digits
    view = jv.ConfusionView(m, x, y, class_names=names)
    cm = view.result
    t, p = view.cell
    predicted = np.asarray(m(x)).argmax(1)
    assert t != p and cm.counts[t, p] == max(
        cm.counts[i, j] for i in range(10) for j in range(10) if i != j
    )
    np.testing.assert_array_equal(view.examples(), np.flatnonzero((y == t) & (predicted == p)))
    np.testing.assert_array_equal(_decode(view.matrix["counts"]), cm.counts)
    # an example's attribution is the Explorer's map for its predicted class
    i = int(view.examples()[0])
    view.index = i
    view.refresh()
    shown = _decode(view._result["map"])
    reference = Explorer(m, x[i : i + 1], warm=False).attribution_maps(0, "saliency")
    np.testing.assert_allclose(shown, reference[predicted[i]], rtol=1e-5, atol=1e-7)
    assert view._result["predicted"] == predicted[i]
    explorer = view.explorer(t, p)
    assert explorer._x.shape[0] == cm.counts[t, p]
    figure = view.plot()
    assert any(
        "predicted as" in (sf._suptitle.get_text() if sf._suptitle else "") for sf in figure.subfigs
    )
    with pytest.raises(ValueError, match="method: expected one of"):
        jv.ConfusionView(m, x, y, method="gradcam")


def test_landscape_view_sends_the_slice(digits, tmp_path):
    m, x, y, _ = digits
    import optax

    def xent(logits, labels):
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    scape = jv.loss_landscape(m, xent, x[:16], y[:16], directions=1, steps=5)
    view = jv.LandscapeView(scape)
    np.testing.assert_allclose(_decode(view.landscape["loss"]), scape.loss, rtol=1e-6)
    assert view.landscape["centre_loss"] == pytest.approx(scape.centre_loss)
    assert view.to_png()[:4] == b"\x89PNG"
    page = view.to_html(tmp_path / "landscape.html").read_text()
    assert "centre_loss" in page
    with pytest.raises(TypeError, match="landscape: expected the result of jv.loss_landscape"):
        jv.LandscapeView(scape.loss)
