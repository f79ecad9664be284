"""The trust views: the scorecard (each cell is the metric's own result; verdicts, ranking and
errors), the scrubber's frames (the model on them gives back the deletion and insertion curves),
the randomization view, the Explorer's trust panel, and their static twins."""

from __future__ import annotations

import functools

import jax
import matplotlib
import numpy as np
import pytest

import jaxviz as jv
from jaxviz import metrics
from jaxviz.widgets._payload import payload_array

matplotlib.use("Agg")

KEY = jax.random.key(3)


@pytest.fixture(scope="module")
def shapes():
    model, data = jv.zoo.load("shapes-cnn")
    return model, data.x_test[:6], data.y_test[:6], data.masks_test[:6], data.class_names


METHODS = {
    "gradient": jv.saliency,
    "Grad-CAM": functools.partial(jv.gradcam, layer="conv4"),
}
OPTIONS = {
    "deletion": {"steps": 8, "random_orders": 2},
    "insertion": {"steps": 8, "random_orders": 2},
}


@pytest.fixture(scope="module")
def card(shapes):
    model, x, y, masks, _ = shapes
    return metrics.scorecard(model, x, y, methods=METHODS, masks=masks, options=OPTIONS, key=KEY)


def test_scorecard_cells_are_the_metrics_own_results(shapes, card):
    model, x, y, masks, _ = shapes
    assert card.methods == ("gradient", "Grad-CAM")
    assert card.metrics == (
        "deletion",
        "insertion",
        "sparseness",
        "relevance_mass",
        "pointing_game",
    )
    cam = np.asarray(METHODS["Grad-CAM"](model, x, y))
    # Each metric draws from its own fold of the key (its column), the same for every method.
    alone = metrics.deletion(
        model, x, y, cam, steps=8, random_orders=2, key=jax.random.fold_in(KEY, 0)
    )
    cell = card.results["Grad-CAM"]["deletion"]
    np.testing.assert_allclose(cell.values, alone.values, rtol=1e-6)
    assert cell.ci == alone.ci and cell.baseline == alone.baseline
    mass = metrics.relevance_mass(model, x, y, cam, masks=masks)
    np.testing.assert_allclose(card.results["Grad-CAM"]["relevance_mass"].values, mass.values)
    assert card.scores.shape == (2, 5) and card.ci.shape == (2, 5, 2)
    assert np.all(card.ci[..., 0] <= card.scores) and np.all(card.scores <= card.ci[..., 1])
    # The same random orders for both methods: one baseline per metric.
    np.testing.assert_array_equal(card.baselines[0], card.baselines[1])
    assert np.isnan(card.baselines[0, 2])  # sparseness has no random baseline
    assert card.higher_is_better == (False, True, True, True, True)


def test_scorecard_verdicts_and_ranking(card):
    verdicts = card.verdicts
    for i, method in enumerate(card.methods):
        for j, metric in enumerate(card.metrics):
            result = card.results[method][metric]
            if result.difference_ci is None:
                assert verdicts[i, j] == 0
            elif result.beats_baseline():
                assert verdicts[i, j] == 1
    # Grad-CAM's relevance mass inside the shapes beats random, as tests/test_metrics.py finds.
    assert verdicts[1, 3] == 1
    column = card.metrics.index("relevance_mass")
    best = card.ranking("relevance_mass")
    assert best[0] == card.methods[int(np.argmax(card.scores[:, column]))]
    column = card.metrics.index("deletion")
    assert card.ranking("deletion")[0] == card.methods[int(np.argmin(card.scores[:, column]))]


def test_scorecard_errors(shapes):
    model, x, y, masks, _ = shapes
    with pytest.raises(ValueError, match="metrics: unknown metric 'auc'; expected one of"):
        metrics.scorecard(model, x, y, methods=METHODS, metrics=["auc"], key=KEY)
    with pytest.raises(ValueError, match="masks: the metric 'pointing_game' compares with masks"):
        metrics.scorecard(model, x, y, methods=METHODS, metrics=["pointing_game"], key=KEY)
    with pytest.raises(ValueError, match="methods: expected at least one method"):
        metrics.scorecard(model, x, y, methods={}, key=KEY)
    with pytest.raises(ValueError, match="methods: two methods share a name"):
        metrics.scorecard(model, x, y, methods=[jv.saliency, jv.saliency], key=KEY)
    with pytest.raises(TypeError, match="methods: 'a' is ndarray, not a method"):
        metrics.scorecard(model, x, y, methods={"a": np.zeros(3)}, key=KEY)
    with pytest.raises(ValueError, match="options: unknown metric 'entropy'"):
        metrics.scorecard(
            model, x, y, methods=METHODS, metrics=["sparseness"], options={"entropy": {}}, key=KEY
        )
    with pytest.raises(TypeError, match="key: scorecard draws random samples and needs a key"):
        metrics.scorecard(model, x, y, methods=METHODS)
    with pytest.raises(ValueError, match="target: class 7 is out of range"):
        metrics.scorecard(model, x, 7, methods=METHODS, metrics=["sparseness"], key=KEY)


def test_scorecard_widget_payload_and_twin(card):
    widget = jv.Scorecard(card, sort_by="relevance_mass")
    table = widget.table
    assert table["methods"] == list(card.methods)
    assert [m["name"] for m in table["metrics"]] == list(card.metrics)
    cell = table["cells"][1][3]
    assert cell["score"] == card.scores[1, 3] and cell["verdict"] == card.verdicts[1, 3]
    assert cell["ci"] == list(card.ci[1, 3]) and cell["baseline"] == card.baselines[1, 3]
    assert table["cells"][0][2]["baseline"] is None  # no NaN reaches the JSON
    assert widget.to_png().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="sort_by: unknown metric 'auc'"):
        jv.Scorecard(card, sort_by="auc")


def test_scrubber_frames_give_back_the_curves(shapes):
    """The model's probability on each precomputed frame is the curve's value at that point:
    the frames are the inputs the metric evaluated."""
    model, x, y, _, names = shapes
    scrubber = jv.DeletionScrubber(
        model,
        x[:3],
        y[:3],
        attribution=jv.saliency,
        steps=8,
        random_orders=1,
        class_names=names,
        key=KEY,
    )
    for kind, frames in scrubber.frames.items():
        assert frames.shape == (3, 9, *x.shape[1:])
        logits = np.asarray(model(frames.reshape(-1, *x.shape[1:]))).reshape(3, 9, -1)
        probs = np.asarray(jax.nn.softmax(logits, axis=-1))
        followed = np.take_along_axis(probs, y[:3, None, None], axis=-1)[..., 0]
        np.testing.assert_allclose(followed, scrubber.results[kind].curves, atol=1e-5)
    deleted = scrubber.frames["deletion"]
    np.testing.assert_array_equal(deleted[:, 0], x[:3])  # nothing removed yet
    inserted = scrubber.frames["insertion"]
    np.testing.assert_array_equal(inserted[:, -1], x[:3])  # everything put back
    sent = payload_array(scrubber.data["frames"]["deletion"])
    assert sent.shape == (27, 32, 32, 4) and sent.dtype == np.uint8
    assert scrubber.data["class_names"] == list(names)
    scrubber.position = 4
    assert scrubber.to_png().startswith(b"\x89PNG")
    with pytest.raises(Exception, match="position: expected a point in"):
        scrubber.position = 9


def test_perturbed_inputs_follow_the_order_and_the_region():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1) + 1
    attribution = x[..., 0]  # the brightest pixels are the most relevant
    frames = metrics.perturbed_inputs(x, attribution, fractions=[0.0, 0.25, 1.0])
    assert frames.shape == (2, 3, 4, 4, 1)
    removed = frames[:, 1, ..., 0] == 0
    np.testing.assert_array_equal(removed, x[..., 0] > x[..., 0].reshape(2, -1)[:, [11]][:, None])
    assert np.all(frames[:, 2] == 0)
    squares = metrics.perturbed_inputs(x, attribution, fractions=[0.25], region=2)
    np.testing.assert_array_equal(squares[:, 0, 2:, 2:], 0)  # the brightest 2x2 square first
    assert np.all(squares[:, 0, :2] != 0)
    least = metrics.perturbed_inputs(x, attribution, fractions=[0.25], order="least")
    np.testing.assert_array_equal(least[:, 0, 0, :, 0], 0)  # the darkest row first
    with pytest.raises(ValueError, match=r"fractions: expected shares in \[0, 1\]"):
        metrics.perturbed_inputs(x, attribution, fractions=[1.5])


def test_scrubber_errors(shapes, linear):
    model, x, y, _, _ = shapes
    with pytest.raises(ValueError, match="x: the scrubber sends every frame"):
        jv.DeletionScrubber(model, np.concatenate([x] * 3), None, attribution=jv.saliency)
    with pytest.raises(ValueError, match=r"x: the scrubber shows images"):
        jv.DeletionScrubber(linear[0], np.zeros((2, 7), np.float32), 0, attribution=jv.saliency)


def test_randomization_view_and_plot(shapes):
    model, x, y, _, _ = shapes
    result = metrics.model_randomization(
        model, x[:3], y[:3], jv.saliency, layers=["fc", "conv4"], key=KEY
    )
    view = result.widget(x=x[:3])
    maps = payload_array(view.data["maps"])
    assert maps.shape == (3, 3, 32, 32)  # (examples, trained + 2 steps, H, W)
    np.testing.assert_allclose(maps.max(axis=(2, 3)), 1.0, rtol=1e-6)
    expected = np.abs(result.attributions[1, 2]).sum(axis=-1)
    np.testing.assert_allclose(maps[2, 2], expected / expected.max(), rtol=1e-5)
    assert [s["score"] for s in view.data["rank_correlation"]] == list(result.scores)
    assert view.to_png().startswith(b"\x89PNG")
    figure = result.plot(example=1, x=x[:3])
    assert len(figure.axes) == 1 + 1 + 2 + 1  # input, trained, two steps, the curves


def test_explorer_trust_panel_scores_the_shown_map(shapes):
    model, x, y, _, names = shapes
    explorer = jv.Explorer(model, x[:3], y[:3], class_names=names, method="saliency", warm=False)
    answer = explorer.score_trust(1, "gradcam")
    assert answer["status"] == "done" and explorer._trust == answer
    target = explorer.shown_class_of(1)
    shown = explorer.attribution_maps(1, "gradcam")[target][None]
    alone = metrics.deletion(
        model, x[1:2], target, shown, steps=16, random_orders=8, key=jax.random.key(0)
    )
    assert answer["scores"]["deletion"]["score"] == pytest.approx(alone.score)
    assert answer["scores"]["deletion"]["baseline"] == pytest.approx(alone.baseline)
    assert answer["scores"]["sparseness"]["baseline"] is None
    failed = explorer.score_trust(1, "no_such_method")
    assert failed["status"] == "error" and "method: expected one of" in failed["error"]
