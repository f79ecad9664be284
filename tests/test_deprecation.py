"""The deprecation helper: old spellings still work, warn once, and name the new spelling."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import jaxviz as jv
from jaxviz._deprecation import REMOVAL, deprecated_arguments

matplotlib.use("Agg")


@deprecated_arguments(
    renamed={"m": "model", "seed": ("key", lambda seed: ("key", seed))},
    positional=("loss", "steps"),
)
def explain(model, x, target=None, *, loss=None, steps=8, key=None):
    """Returns its arguments, so a test sees what the call resolved to."""
    return model, x, target, loss, steps, key


class Widget:
    @deprecated_arguments(renamed={"m": "model"}, positional=("class_names",))
    def __init__(self, model, x, labels=None, *, class_names=None):
        self.args = (model, x, labels, class_names)


def call_recording(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, [(w.category, str(w.message), w.filename) for w in caught]


def test_new_spelling_runs_without_a_warning():
    result, caught = call_recording(explain, "net", 1, 2, loss="l", steps=4, key="k")
    assert result == ("net", 1, 2, "l", 4, "k")
    assert caught == []


def test_renamed_keyword_is_passed_under_its_new_name_with_one_warning():
    result, caught = call_recording(explain, m="net", x=1)
    assert result == ("net", 1, None, None, 8, None)
    assert len(caught) == 1
    category, message, filename = caught[0]
    assert category is DeprecationWarning
    assert message == (
        f"explain: the argument m= is now model=; m= stops working in jaxviz {REMOVAL}."
    )
    assert filename == __file__  # the warning points at the caller's line, not at jaxviz


def test_renamed_keyword_with_a_conversion():
    result, caught = call_recording(explain, "net", 1, seed=3)
    assert result[-1] == ("key", 3)
    assert "seed= is now key=" in caught[0][1]


def test_positional_options_are_passed_by_name_with_a_warning():
    result, caught = call_recording(explain, "net", 1, 2, "l", 16)
    assert result == ("net", 1, 2, "l", 16, None)
    assert len(caught) == 1
    assert caught[0][1] == (
        f"explain: passing loss, steps by position is deprecated and stops working in jaxviz "
        f"{REMOVAL}; write loss=..., steps=...."
    )
    assert caught[0][2] == __file__


def test_both_deprecations_in_one_call_warn_for_each():
    result, caught = call_recording(explain, "net", 1, 2, "l", seed=0)
    assert result == ("net", 1, 2, "l", 8, ("key", 0))
    assert [message.split(":")[1].split()[0] for _, message, _ in caught] == ["passing", "the"]


def test_old_and_new_spelling_together_is_an_error():
    with pytest.raises(TypeError, match="got both m= .* and model="):
        explain(1, m="net", model="net")
    with pytest.raises(TypeError, match="got two values for loss="):
        explain("net", 1, 2, "l", loss="l")


def test_too_many_positional_arguments_is_still_an_error():
    with pytest.raises(TypeError, match="takes at most 5 positional arguments, got 6"):
        explain("net", 1, 2, "l", 16, "extra")


def test_the_signature_shown_is_the_new_one():
    assert str(inspect.signature(explain)) == (
        "(model, x, target=None, *, loss=None, steps=8, key=None)"
    )
    assert str(inspect.signature(Widget)) == "(model, x, labels=None, *, class_names=None)"


def test_a_constructor_accepts_the_old_spellings():
    widget, caught = call_recording(Widget, "net", 1, 2, ["a"])
    assert widget.args == ("net", 1, 2, ["a"])
    assert caught[0][1].startswith("Widget: passing class_names by position")
    widget, caught = call_recording(Widget, m="net", x=1)
    assert widget.args == ("net", 1, None, None)
    assert caught[0][1].startswith("Widget: the argument m= is now model=")


def test_a_rename_to_a_missing_parameter_fails_when_decorating():
    with pytest.raises(TypeError, match="cannot rename m= to model="):
        deprecated_arguments(renamed={"m": "model"})(lambda net: net)
    with pytest.raises(TypeError, match="steps is not a keyword-only parameter"):
        deprecated_arguments(positional=("steps",))(lambda x, steps=1: x)


# -- the public API's old spellings: each still gives the new spelling's result, and warns -------

FEATURES = np.random.default_rng(0).normal(size=(12, 5)).astype(np.float32)


def same(a, b):
    equal = jax.tree.map(lambda u, v: np.array_equal(np.asarray(u), np.asarray(v)), a, b)
    return jax.tree.all(equal)


def assert_old_spelling_works(old, new, names):
    """`old()` warns once per deprecated spelling, naming each new one, and equals `new()`."""
    with pytest.warns(DeprecationWarning) as caught:
        result = old()
    messages = " ".join(str(w.message) for w in caught)
    for name in names:
        assert name in messages
    return result, new()


def test_pca_and_kmeans_options_by_position():
    old, new = assert_old_spelling_works(
        lambda: jv.pca(FEATURES, 3), lambda: jv.pca(FEATURES, n_components=3), ["n_components="]
    )
    assert same(old, new)
    key = jax.random.key(0)
    old, new = assert_old_spelling_works(
        lambda: jv.kmeans(FEATURES, 3, key=key), lambda: jv.kmeans(FEATURES, k=3, key=key), ["k="]
    )
    assert same(old, new)


def test_plot_method_is_now_style():
    image, attribution = np.zeros((4, 4)), np.arange(16.0).reshape(4, 4)
    old, new = assert_old_spelling_works(
        lambda: jv.plot.attribution(image, attribution, method="heat_map"),
        lambda: jv.plot.attribution(image, attribution, style="heat_map"),
        ["style="],
    )
    assert len(old.axes) == len(new.axes) == 2  # the map and its colorbar: no blended input
    old, new = assert_old_spelling_works(
        lambda: jv.plot.grid(image[None], {"a": attribution[None]}, method="masked_image"),
        lambda: jv.plot.grid(image[None], {"a": attribution[None]}, style="masked_image"),
        ["style="],
    )
    assert len(old.axes) == len(new.axes)


def test_layer_projections_model_and_projection():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(5, 3)), jnp.float32)
    model = jv.wrap(lambda x: x @ w)
    old, new = assert_old_spelling_works(
        lambda: jv.layer_projections(m=model, x=FEATURES, method="pca", show_progress=False),
        lambda: jv.layer_projections(model, FEATURES, projection="pca", show_progress=False),
        ["model=", "projection="],
    )
    assert same(old, new)


def test_engine_methods_old_spellings(cnn, images):
    x = np.asarray(images[:2])
    old, new = assert_old_spelling_works(
        lambda: jv.integrated_gradients(cnn, x, 1, steps=4, method="riemann_left"),
        lambda: jv.integrated_gradients(cnn, x, 1, steps=4, quadrature="riemann_left"),
        ["quadrature="],
    )
    assert same(old, new)
    old, new = assert_old_spelling_works(
        lambda: jv.layer_conductance(cnn, x, 1, layer="conv1", steps=4, method="riemann_right"),
        lambda: jv.layer_conductance(cnn, x, 1, layer="conv1", steps=4, quadrature="riemann_right"),
        ["quadrature="],
    )
    assert same(old, new)
    old, new = assert_old_spelling_works(
        lambda: jv.top_activating(m=cnn, x=x, layer="conv2", k=1, show_progress=False),
        lambda: jv.top_activating(cnn, x, layer="conv2", k=1, show_progress=False),
        ["model="],
    )
    assert same(old, new)
    shape = (8, 8, 3)
    old, new = assert_old_spelling_works(
        lambda: jv.receptive_field(m=cnn, layer="conv2", input_shape=shape, seed=3),
        lambda: jv.receptive_field(cnn, layer="conv2", input_shape=shape, key=jax.random.key(3)),
        ["model=", "key="],
    )
    assert old == new == jv.ReceptiveField(size=(5, 5), stride=(1, 1), offset=(-2, -2))


def test_gradient_flow_loss_by_position(cnn, images):
    def loss(logits):
        return logits[:, 0].sum()

    old, new = assert_old_spelling_works(
        lambda: jv.gradient_flow(cnn, images, None, loss),
        lambda: jv.gradient_flow(cnn, images, loss=loss),
        ["loss=..."],
    )
    assert old.layers == new.layers
    np.testing.assert_array_equal(old.output_grad_norm, new.output_grad_norm)
