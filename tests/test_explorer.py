"""jv.Explorer's Python side: what it computes, sends, caches and reports."""

import base64
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import traitlets
from flax import nnx

import jaxviz as jv
from jaxviz import _display
from jaxviz.widgets import _explorer
from jaxviz.widgets._payload import payload_array

HOSTILE = "<img src=x onerror=alert(1)>"


class TinyCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(1, 4, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(4, 6, (3, 3), rngs=rngs)
        self.head = nnx.Linear(6 * 8 * 8, 3, rngs=rngs)

    def __call__(self, x):
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        return self.head(x.reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def cnn():
    model = jv.wrap(TinyCNN(nnx.Rngs(0)))
    x = jax.random.uniform(jax.random.key(1), (5, 8, 8, 1)) * 2 - 0.5  # not in [0, 1]
    return model, x


@pytest.fixture
def explorer(cnn):
    model, x = cnn
    return jv.Explorer(
        model, x, labels=[0, 1, 2, 0, 1], class_names=["a", HOSTILE, "c"], method="saliency"
    )


def mlp_model(features=4, classes=2):
    w = jax.random.normal(jax.random.key(2), (features, classes))
    return jv.wrap(lambda v: jnp.tanh(v) @ w, example=jnp.ones((1, features)))


def test_every_class_arrives_in_one_float32_payload_matching_the_core(explorer, cnn):
    model, x = cnn
    result = explorer._result
    assert result["maps"]["dtype"] == "float32" and isinstance(result["maps"]["buffer"], memoryview)
    maps = payload_array(result["maps"])
    assert maps.shape == (3, 8, 8)
    core = np.asarray(jv.saliency(model, x[:1], "all"))[0]  # (classes, 8, 8, 1)
    for c in range(3):
        np.testing.assert_allclose(maps[c], _display.attribution_map(core[c]), rtol=1e-6)


def test_integrated_gradients_uses_the_steps_control(explorer, cnn):
    model, x = cnn
    explorer.steps = 8
    explorer.method = "integrated_gradients"
    want = np.asarray(jv.integrated_gradients(model, x[:1], "all", steps=8))[0, 2, ..., 0]
    np.testing.assert_allclose(
        payload_array(explorer._result["maps"])[2], want, rtol=1e-5, atol=1e-7
    )


def test_a_seen_view_comes_from_the_cache(explorer, monkeypatch):
    calls = []
    spec = _explorer.METHODS["grad_x_input"]
    counting = _explorer.Method(spec.label, spec.about, lambda *a: calls.append(1) or spec.run(*a))
    monkeypatch.setitem(_explorer.METHODS, "grad_x_input", counting)
    explorer.method = "grad_x_input"
    first = payload_array(explorer._result["maps"]).copy()
    explorer.method = "saliency"
    explorer.method = "grad_x_input"
    explorer.layer = "conv1"  # not an option of this method: no new computation
    assert len(calls) == 1
    np.testing.assert_array_equal(payload_array(explorer._result["maps"]), first)


def test_layer_methods_offer_only_layers_with_the_inputs_spatial_axes(explorer):
    assert explorer._setup["layers"] == ["conv1", "conv2"]
    assert explorer.layer == "conv2"  # the last convolution, Grad-CAM's usual choice
    explorer.method = "gradcam"
    conv2 = payload_array(explorer._result["maps"]).copy()
    explorer.layer = "conv1"
    assert explorer._reply["error"] is None
    assert not np.allclose(payload_array(explorer._result["maps"]), conv2)


def test_an_error_shows_in_the_widget_and_the_next_good_request_clears_it(explorer):
    explorer.method = "smoothgrad"
    good = payload_array(explorer._result["maps"]).copy()
    explorer.noise = -1.0
    assert "noise" in explorer._reply["error"] and "-1.0" in explorer._reply["error"]
    np.testing.assert_array_equal(payload_array(explorer._result["maps"]), good)
    explorer.noise = 0.1
    assert explorer._reply["error"] is None


def test_a_change_from_python_is_computed_and_sent(explorer):
    explorer.index = 3
    assert explorer._result["index"] == 3
    explorer.compare = True
    assert set(explorer._result["compare"]) == set(_explorer.COMPARE_DEFAULT)


def test_images_are_sent_as_displayed_by_display_image(explorer, cnn):
    _, x = cnn
    images = payload_array(explorer._inputs["images"])
    assert images.shape == (5, 8, 8, 4) and images.dtype == np.uint8
    shown = _display.display_image(np.asarray(x[2]))
    np.testing.assert_array_equal(images[2, ..., 0], np.rint(shown * 255).astype(np.uint8))
    assert (images[..., 3] == 255).all()


def test_shown_class_follows_the_prediction_until_one_is_chosen(explorer, cnn):
    model, x = cnn
    predicted = np.argmax(np.asarray(model(x)), axis=-1)
    explorer.index = 4
    assert explorer.shown_class() == predicted[4]
    explorer.target = 1
    assert explorer.shown_class() == 1


def test_vectors_get_feature_maps_and_names():
    model = mlp_model()
    x = jax.random.normal(jax.random.key(3), (3, 4))
    w = jv.Explorer(model, x, feature_names=["w", "x", "y", "z"], method="integrated_gradients")
    assert w._setup["kind"] == "vector" and w._setup["layers"] == []
    assert "gradcam" not in w.methods
    maps = payload_array(w._result["maps"])
    want = np.asarray(jv.integrated_gradients(model, x[:1], "all", steps=w.steps))[0]
    np.testing.assert_allclose(maps, want, rtol=1e-5, atol=1e-7)
    assert w._inputs["feature_names"] == ["w", "x", "y", "z"]


def test_sequences_reduce_features_per_position():
    model = mlp_model(features=6)
    fn = model

    x = jax.random.normal(jax.random.key(4), (2, 3, 2))
    seq = jv.wrap(lambda v: fn.apply(fn.params, v.reshape(v.shape[0], -1)), example=x)
    w = jv.Explorer(seq, x, tokens=["the", "cat", "sat"], method="saliency")
    assert w._setup["kind"] == "sequence"
    assert w._inputs["tokens"] == [["the", "cat", "sat"]] * 2
    core = np.asarray(jv.saliency(seq, x[:1], "all"))[0]
    np.testing.assert_allclose(payload_array(w._result["maps"]), core.sum(-1), rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": [0, 1]}, r"labels: expected one label per input \(5\), got 2"),
        ({"class_names": ["a"]}, r"class_names: expected 3 names, got 1"),
        ({"method": "anchors"}, r"method: expected one of 'saliency'.*got 'anchors'"),
        ({"kind": "video"}, r"kind: expected one of 'auto', 'image'.*got 'video'"),
    ],
)
def test_bad_arguments_are_named(cnn, kwargs, message):
    model, x = cnn
    with pytest.raises(ValueError, match=message):
        jv.Explorer(model, x, **kwargs)


def test_layer_methods_are_refused_for_a_model_without_spatial_layers():
    with pytest.raises(ValueError, match=r"method: expected one of .*got 'gradcam'"):
        jv.Explorer(mlp_model(), jnp.ones((2, 4)), method="gradcam")


def test_the_png_twin_is_in_the_mimebundle(explorer):
    data, _ = explorer._repr_mimebundle_()
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")


def test_to_html_stores_the_chosen_inputs_and_methods_with_names_as_text(explorer, tmp_path):
    path = explorer.to_html(tmp_path / "e.html", inputs=[0, 2], methods=["saliency", "gradcam"])
    text = path.read_text()
    assert "<img" not in text
    block = json.loads(
        re.search(
            r'<script type="application/vnd.jaxviz.page\+json">(.*?)</script>', text, re.S
        ).group(1)
    )
    stored = {(s["state"]["index"], s["state"]["method"]) for s in block["stored"]}
    assert {(0, "saliency"), (2, "saliency"), (0, "gradcam"), (2, "gradcam")} <= stored
    assert block["state"]["_setup"]["class_names"][1] == HOSTILE
    with pytest.raises(ValueError, match="methods: expected one of"):
        explorer.to_html(tmp_path / "f.html", methods=["nope"])


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("index", 5, r"index: expected a value in \[0, 4\], got 5"),
        ("target", 3, r"target: expected a value in \[-1, 2\], got 3"),
        ("method", "anchors", r"method: expected one of 'saliency'.*got 'anchors'"),
        ("layer", "head", r"layer: expected one of 'conv1', 'conv2', got 'head'"),
        ("sign", "both", r"sign: expected one of 'positive'.*got 'both'"),
        ("cmap", "nope", r"cmap: expected one of 'auto'.*got 'nope'"),
        ("alpha", 1.5, r"alpha: expected a value in \[0.0, 1.0\], got 1.5"),
        ("clip", 0.0, r"clip_percentile: expected a number in \(0, 100\]"),
    ],
)
def test_choices_the_browser_cannot_draw_are_refused(explorer, trait, value, message):
    with pytest.raises(traitlets.TraitError, match=message):
        setattr(explorer, trait, value)


def test_the_warm_up_plans_every_method_then_the_next_inputs_then_the_other_layers(cnn):
    model, x = cnn
    w = jv.Explorer(model, x, method="saliency", index=4, warm=False)
    plan = [(s.get("index", 4), s["method"], s.get("layer", "conv2"))
            for s in w._warm_states(w._state())]
    others = [m for m in w.methods if m != "saliency"]
    layer_methods = ["gradcam", "gradcam_plus_plus", "guided_gradcam"]
    assert plan == [  # index 4 is the last input: the slider's next move is 3
        *((4, m, "conv2") for m in others),
        *((3, m, "conv2") for m in ["saliency", *others]),
        *((4, m, "conv1") for m in layer_methods),
    ]


def test_after_the_warm_up_every_first_method_switch_comes_from_the_cache(cnn):
    model, x = cnn
    cold = jv.Explorer(model, x, method="saliency", steps=8, samples=4, warm=False)
    w = jv.Explorer(model, x, method="saliency", steps=8, samples=4)
    w._warmer.limit = len(w.methods) - 1  # this input's other methods only: a short test
    w._handle_custom_msg({"event": "rendered"}, [])  # what the front end sends once drawn
    assert w._warmer.wait_idle(300) and w._warmer.failed == 0
    for method in w.methods[1:]:
        w.method = method
        cold.method = method
        assert w._reply["error"] is None
        np.testing.assert_array_equal(payload_array(w._result["maps"]),
                                      payload_array(cold._result["maps"]))
    assert w._served["computed"] == 1  # the first view only, before it was drawn
    assert cold._served["computed"] == len(w.methods)
