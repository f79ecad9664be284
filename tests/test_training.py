"""After training: smoothing and percentile bands as TensorBoard computes them, runs compared,
the confusion matrix against a hand count, the loss landscape against direct evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz.flow import Recorder, collect_runs, flow_stats, percentile_bands, run_table, smooth
from jaxviz.flow._runs import export_tensorboard
from jaxviz.train import filter_normalize

# -- smoothing and bands ------------------------------------------------------------------------


def test_smoothing_is_tensorboards_debiased_moving_average():
    y = np.array([1.0, 3.0, np.nan, 2.0, 6.0])
    w = 0.5
    # by hand: last = w*last + (1-w)*y from 0, divided by 1 - w**n over the n finite points
    last1 = 0.5 * 1.0
    last2 = 0.5 * last1 + 0.5 * 3.0
    last3 = 0.5 * last2 + 0.5 * 2.0
    last4 = 0.5 * last3 + 0.5 * 6.0
    expected = [last1 / 0.5, last2 / 0.75, np.nan, last3 / 0.875, last4 / 0.9375]
    np.testing.assert_allclose(smooth(y, w), expected)
    assert smooth(y, w)[0] == 1.0  # debiased: the first point is not pulled towards zero
    np.testing.assert_array_equal(smooth(y[:2], 0.0), y[:2])
    np.testing.assert_array_equal(smooth(np.full(4, 7.0), 0.9), np.full(4, 7.0))
    with pytest.raises(ValueError, match=r"weight: expected a number in \[0, 1\), got 1"):
        smooth(y, 1)


def test_percentile_bands_agree_with_tensorboards_compressor():
    from tensorboard.plugins.distribution.compressor import compress_histogram

    rng = np.random.default_rng(0)
    edges = np.cumsum(rng.uniform(0.1, 1.0, 13)) - 3.0
    for counts in (rng.integers(0, 9, 12), np.r_[np.zeros(5), 4, np.zeros(6)], np.eye(12)[3]):
        used = np.flatnonzero(counts)  # TensorBoard's buckets span the data: no empty ends
        buckets = [(edges[i], edges[i + 1], counts[i]) for i in range(used[0], used[-1] + 1)]
        reference = [v[1] for v in compress_histogram(buckets)]
        np.testing.assert_allclose(percentile_bands(counts, edges), reference, rtol=1e-12)
    assert np.isnan(percentile_bands(np.zeros(12), edges)).all()
    one = np.eye(12)[3] * 5  # one nonempty bucket: min and max are its edges, not the outer ones
    np.testing.assert_allclose(percentile_bands(one, edges)[[0, -1]], edges[[3, 4]])
    with pytest.raises(ValueError, match="edges: expected 13 edges for 12 buckets"):
        percentile_bands(np.ones(12), edges[:5])


def _toy_recorder(scale, hparams, directory=None):
    rec = Recorder(capacity=32, fetch_every=4, hparams=hparams, directory=directory)
    params = {"a": {"kernel": jnp.ones((3, 2))}, "b": {"kernel": jnp.ones((2, 2))}}
    stats = jax.jit(lambda g, p, a: flow_stats(g, p, activations={"a": ("relu", a)}))
    for step in range(10):
        grads = jax.tree.map(lambda p: p * scale / (step + 1), params)
        acts = jnp.linspace(-1, 1, 8)[:, None] * scale
        rec.add(stats(grads, params, acts), loss=scale / (step + 1), acc=step / 10)
        if step % 3 == 2:
            rec.add_validation(loss=scale / step)
    rec.flush()
    return rec


def test_runs_are_named_coloured_and_summarised(tmp_path):
    low = _toy_recorder(1.0, {"lr": 0.1, "act": "relu"})
    _toy_recorder(2.0, {"lr": 0.3, "act": "relu"}, directory=tmp_path / "high")
    runs = collect_runs([low, tmp_path / "high"])
    assert [r.name for r in runs] == ["run 0", "high"]
    assert runs[0].color != runs[1].color
    rows = run_table(runs)
    assert rows[1]["hparams"] == {"lr": 0.3, "act": "relu"}
    assert rows[1]["final"]["loss"] == pytest.approx(2.0 / 10)
    assert rows[1]["final"]["validation/loss"] == pytest.approx(2.0 / 8)
    assert rows[0]["steps"] == 10
    with pytest.raises(ValueError, match="runs: names must differ"):
        collect_runs([tmp_path / "high", tmp_path / "high"])
    with pytest.raises(ValueError, match="is not a jaxviz run"):
        collect_runs([tmp_path])
    with pytest.raises(TypeError, match=r"runs\['x'\]: expected a Recorder or a run directory"):
        collect_runs({"x": 3})
    for reserved in ("activations/a", "_hparams_/x"):  # the export's own tags
        with pytest.raises(ValueError, match=f"metrics: the name '{reserved}' is reserved"):
            Recorder().add(**{reserved: 1.0})


def test_activation_histograms_are_recorded_saved_and_exported(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    rec = _toy_recorder(1.0, {"lr": 0.1, "act": "relu", "depth": 3, "bn": False}, tmp_path / "r")
    rec.flush()
    hist = rec.field("activation_hist")
    assert hist.shape[:2] == (10, 1) and (hist.sum(axis=-1) == 8).all()
    np.testing.assert_array_equal(jv.load_run(tmp_path / "r").field("activation_hist"), hist)
    event_file = export_tensorboard(tmp_path / "r", tmp_path / "tb")
    acc = EventAccumulator(str(event_file), size_guidance={"histograms": 0})
    acc.Reload()
    np.testing.assert_array_equal(
        acc.Histograms("activations/a")[4].histogram_value.bucket, hist[4, 0]
    )
    # TensorBoard's HParams plugin parses the hyperparameters back
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = metadata.parse_session_start_info_plugin_data(content)
    assert info.hparams["lr"].number_value == 0.1
    assert info.hparams["act"].string_value == "relu"
    assert info.hparams["depth"].number_value == 3
    assert info.hparams["bn"].bool_value is False and info.hparams["bn"].HasField("bool_value")


# -- confusion matrix ----------------------------------------------------------------------------


def _linear_classifier():
    w = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])
    return jv.wrap(lambda x: x @ w)


def test_confusion_matrix_equals_a_hand_count():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    m = _linear_classifier()
    cm = jv.confusion_matrix(m, x, y, class_names=["a", "b", "c"])
    predicted = np.asarray(x @ np.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])).argmax(1)
    hand = np.zeros((3, 3), int)
    for t, p in zip(y, predicted):
        hand[t, p] += 1
    np.testing.assert_array_equal(cm.counts, hand)
    for c in range(3):
        tp = np.sum((y == c) & (predicted == c))
        assert cm.precision[c] == pytest.approx(tp / np.sum(predicted == c))
        assert cm.recall[c] == pytest.approx(tp / np.sum(y == c))
    assert cm.accuracy == pytest.approx(np.mean(y == predicted))
    cell = cm.examples(0, 1)
    np.testing.assert_array_equal(cell, [i for i in range(40) if y[i] == 0 and predicted[i] == 1])
    assert set(cm.misclassified()) == set(np.flatnonzero(y != predicted))
    with pytest.raises(ValueError, match=r"y: expected one integer class per input, shape \(40,\)"):
        jv.confusion_matrix(m, x, y[:5])
    with pytest.raises(ValueError, match=r"y: expected classes in \[0, 3\), got values from"):
        jv.confusion_matrix(m, x, y + 1)
    with pytest.raises(ValueError, match=r"true: expected a class in \[0, 3\), got 3"):
        cm.examples(3, 0)


# -- loss landscape -----------------------------------------------------------------------------


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 3, (3, 3), rngs=rngs)
        self.head = nnx.Linear(3 * 4 * 4, 2, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.conv(x))
        return self.head(h.reshape(h.shape[0], -1))


def xent(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@pytest.fixture(scope="module")
def landscape_setup():
    x = np.random.default_rng(2).normal(size=(6, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1, 0])
    m = jv.wrap(MLP(nnx.Rngs(0)), example=x[:1])
    return m, x, y


def _direct(m, params, x, y):
    return float(xent(m.apply(params, jnp.asarray(x)), jnp.asarray(y)))


def test_filter_normalization_matches_the_definition(landscape_setup):
    m, _, _ = landscape_setup
    d = jax.tree.map(lambda p: jax.random.normal(jax.random.key(3), p.shape), m.params)
    n = filter_normalize(d, m.params)
    kernel, dk = np.asarray(m.params["conv"]["kernel"]), np.asarray(d["conv"]["kernel"])
    got = np.asarray(n["conv"]["kernel"])
    for i in range(kernel.shape[-1]):  # filter i: output channel i, every other axis
        expected = dk[..., i] / np.linalg.norm(dk[..., i]) * np.linalg.norm(kernel[..., i])
        np.testing.assert_allclose(got[..., i], expected, rtol=1e-5)
        assert np.linalg.norm(got[..., i]) == pytest.approx(np.linalg.norm(kernel[..., i]), 1e-5)
    assert not np.any(np.asarray(n["conv"]["bias"]))  # 1-D: zero (the paper's biasbn)
    w = filter_normalize(d, m.params, one_dimensional="weights")
    np.testing.assert_array_equal(
        np.asarray(w["head"]["bias"]), np.asarray(m.params["head"]["bias"])
    )


def test_landscape_centre_and_points_equal_the_loss_computed_directly(landscape_setup):
    m, x, y = landscape_setup
    scape = jv.loss_landscape(m, xent, x, y, directions=2, steps=5, span=0.5, key=jax.random.key(1))
    assert scape.loss.shape == (5, 5)
    assert scape.centre_loss == pytest.approx(_direct(m, m.params, x, y), rel=1e-5)
    d1, d2 = scape.directions
    a, b = scape.coordinates[0][4], scape.coordinates[1][1]  # 0.5, -0.25
    moved = jax.tree.map(lambda p, u, v: p + a * u + b * v, m.params, d1, d2)
    assert scape.loss[4, 1] == pytest.approx(_direct(m, moved, x, y), rel=1e-5)
    one = jv.loss_landscape(m, xent, x, y, directions=1, steps=7, key=jax.random.key(1))
    moved = jax.tree.map(lambda p, u: p + one.coordinates[0][0] * u, m.params, one.directions[0])
    assert one.loss[0] == pytest.approx(_direct(m, moved, x, y), rel=1e-5)
    again = jv.loss_landscape(m, xent, x, y, directions=1, steps=7, key=jax.random.key(1))
    np.testing.assert_array_equal(again.loss, one.loss)  # same key, same numbers
    for _ in range(2):  # a fresh lambda each time: keyed by its code, compiled once
        fresh = jv.loss_landscape(
            m, lambda z, t: xent(z, t), x, y, directions=1, steps=7, key=jax.random.key(1)
        )
        np.testing.assert_allclose(fresh.loss, one.loss, rtol=1e-6)
    keys = [k for k in m.programs if k[0][0] == "loss_landscape"]
    assert len(keys) == 3  # 2-D, 1-D with xent, 1-D with the lambda (reused by its second call)


def test_landscape_along_two_checkpoints(landscape_setup):
    m, x, y = landscape_setup
    end = jax.tree.map(lambda p: p * 0.5, m.params)
    line = jv.loss_line(m, xent, x, y, start=m.params, end=end, steps=5, margin=0.5)
    t = line.coordinates[0]
    np.testing.assert_allclose(t, [-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5])
    assert line.centre_loss == pytest.approx(_direct(m, m.params, x, y), rel=1e-5)
    assert line.loss[6] == pytest.approx(_direct(m, end, x, y), rel=1e-5)
    mid = jax.tree.map(lambda p, q: 0.75 * p + 0.25 * q, m.params, end)
    assert line.loss[3] == pytest.approx(_direct(m, mid, x, y), rel=1e-5)


def test_landscape_rejects_directions_of_the_wrong_structure(landscape_setup):
    m, x, y = landscape_setup
    wrong = {"conv": m.params["conv"]}
    with pytest.raises(ValueError, match=r"directions\[0\]: expected a pytree structured like"):
        jv.loss_landscape(m, xent, x, y, directions=(wrong,))
    bad_shape = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros(5) if "head']['bias" in jax.tree_util.keystr(path) else p,
        m.params,
    )
    shape_error = (
        r"directions\[0\]\[.head.\]\[.bias.\](\.value)?: expected shape \(2,\) like the params"
    )
    with pytest.raises(ValueError, match=shape_error + r", got \(5,\)"):
        jv.loss_landscape(m, xent, x, y, directions=(bad_shape,))
    with pytest.raises(ValueError, match="directions: expected 1 or 2"):
        jv.loss_landscape(m, xent, x, y, directions=3)
    with pytest.raises(ValueError, match=r"end: expected a pytree structured like"):
        jv.loss_line(m, xent, x, y, start=m.params, end=wrong)
    with pytest.raises(TypeError, match="loss: expected a function"):
        jv.loss_landscape(m, "xent", x, y)


def test_static_twins_draw(landscape_setup, tmp_path):
    m, x, y = landscape_setup
    scape = jv.loss_landscape(m, xent, x, y, steps=5)
    assert len(scape.plot().axes) == 2  # contours and colorbar
    cm = jv.confusion_matrix(_linear_classifier(), np.eye(2, dtype=np.float32), np.array([0, 1]))
    assert cm.plot().axes[0].get_title().startswith("confusion matrix, accuracy")
    runs = {"a": _toy_recorder(1.0, {"lr": 0.1}), "b": _toy_recorder(2.0, {"lr": 0.2})}
    figure = jv.plot.run_comparison(runs, smoothing=0.5, log_scale=True)
    titles = [ax.get_title() for ax in figure.axes]
    assert "loss: training (solid), validation (dashed)" in titles
    assert "a: activations of a" in titles
