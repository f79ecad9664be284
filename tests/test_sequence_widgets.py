"""AttentionView, TokenView and RNNView: what they send equals the core's results, long inputs
are sent as a bounded subset, bad input gets clear errors, and the static twins draw."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz import sequence as sq
from jaxviz.widgets import _sequence as views
from jaxviz.widgets._payload import payload_array
from jaxviz.zoo._models import TinyTransformer


@pytest.fixture(scope="module")
def lookup():
    model, data = jv.zoo.load("lookup-transformer")
    return model, data


@pytest.fixture(scope="module")
def sentiment():
    model, data = jv.zoo.load("sentiment-transformer")
    return model, data


@pytest.fixture(scope="module")
def attention_view(lookup):
    model, data = lookup
    return jv.AttentionView(
        model, data.x_test[:3], vocabulary=data.vocabulary, class_names=data.class_names, warm=False
    )


@pytest.fixture(scope="module")
def token_view(sentiment):
    model, data = sentiment
    return jv.TokenView(
        model,
        data.x_test[:3],
        methods=("integrated_gradients", "occlusion"),
        evidence=data.masks_test[:3],
        vocabulary=data.vocabulary,
        labels=data.y_test[:3],
        class_names=data.class_names,
        warm=False,
    )


# -- the subset logic ---------------------------------------------------------------------------


def test_downsample_takes_block_means_and_keeps_row_mass():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 10, 10)).astype(np.float32)
    maps /= maps.sum(-1, keepdims=True)
    small, block = views.downsample(maps, 4)
    assert block == 3 and small.shape == (2, 4, 4)  # ceil(10 / 4) = 3 tokens a cell, 4 cells
    np.testing.assert_allclose(small[1, 0, 2], maps[1, 0:3, 6:9].mean(), rtol=1e-6)
    np.testing.assert_allclose(small[0, 3, 3], maps[0, 9, 9], rtol=1e-6)  # the ragged corner
    even, block = views.downsample(maps[:, :8, :8] / maps[:, :8, :8].sum(-1, keepdims=True), 2)
    np.testing.assert_allclose(even.sum(-1) * block, 1.0, rtol=1e-5)  # b rows of mass 1 / b^2
    same, block = views.downsample(maps, 16)
    assert block == 1 and np.array_equal(same, maps)


def test_top_keys_are_each_querys_strongest_keys_in_order():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 7, 50)).astype(np.float32)
    index, weight = views.top_keys(maps, 5)
    assert index.shape == weight.shape == (3, 7, 5)
    np.testing.assert_array_equal(index, np.argsort(-maps, axis=-1)[..., :5])
    np.testing.assert_array_equal(weight, np.sort(maps, axis=-1)[..., ::-1][..., :5])


# -- AttentionView ----------------------------------------------------------------------------


def test_attention_view_sends_the_cores_maps(attention_view, lookup):
    model, data = lookup
    result = attention_view._result
    tokens = data.x_test[:1]
    weights = np.asarray(sq.attention(model, tokens))[0]
    rows = result["rows"]
    assert [r["label"] for r in rows[:2]] == ["blocks.0.attention", "blocks.1.attention"]
    assert [r["kind"] for r in rows[2:]] == ["rollout", "flow", "relevance"]
    for layer in range(2):
        np.testing.assert_array_equal(payload_array(rows[layer]["maps"]), weights[layer])
    full = np.asarray(sq.attention(model, tokens))
    np.testing.assert_allclose(
        payload_array(rows[2]["maps"]), np.asarray(sq.attention_rollout(full)), rtol=1e-6
    )
    np.testing.assert_allclose(payload_array(rows[3]["maps"]), sq.attention_flow(full), rtol=1e-6)
    predicted = int(np.argmax(np.asarray(model(tokens))))
    relevance = np.asarray(sq.gradient_weighted_attention(model, tokens, predicted))
    np.testing.assert_allclose(payload_array(rows[4]["maps"]), relevance - np.eye(10), atol=1e-6)
    assert not any(r["signed"] for r in rows)  # weights, rollout, flow and relevance are >= 0
    assert result["words"] == [data.vocabulary[t] for t in data.x_test[0]]


def test_attention_view_example_index_recomputes(attention_view, lookup):
    model, data = lookup
    attention_view.index = 2
    try:
        sent = payload_array(attention_view._result["rows"][1]["maps"])
        np.testing.assert_array_equal(sent, np.asarray(sq.attention(model, data.x_test[2:3]))[0, 1])
    finally:
        attention_view.index = 0


def test_long_input_sends_top_keys_and_block_means_not_full_maps():
    length = 2048
    module = TinyTransformer(20, length, 2, readout=0, dim=16, heads=2, layers=1, rngs=nnx.Rngs(0))
    model = jv.wrap(module)
    tokens = np.random.default_rng(0).integers(1, 20, (1, length)).astype(np.int32)
    view = jv.AttentionView(model, tokens, top_k=8, relevance=False, warm=False)
    rows = view._result["rows"]
    assert [r["kind"] for r in rows] == ["attention", "rollout"]  # no flow at 2,048 tokens
    sizes = []
    for row in rows:
        assert "maps" not in row
        for key in ("thumbs", "detail", "top_index", "top_weight"):
            array = payload_array(row[key])
            sizes.append(array.nbytes)
            assert array.shape[-2:] != (length, length)
        assert row["detail_block"] == length // views.DETAIL_SIZE
        assert payload_array(row["thumbs"]).shape[-1] == views.THUMB_SIZE
    assert sum(sizes) < 4 * 2**20  # vs 2 heads x 2048^2 floats x 2 rows = 64 MiB whole
    full = np.asarray(sq.attention(model, tokens))[0, 0]
    index = payload_array(rows[0]["top_index"]).astype(int)
    weight = payload_array(rows[0]["top_weight"])
    for head, query in [(0, 0), (1, 1000), (0, 2047)]:
        expected = np.sort(full[head, query])[::-1][:8]
        np.testing.assert_allclose(weight[head, query], expected, rtol=1e-6)
        np.testing.assert_allclose(full[head, query, index[head, query]], expected, rtol=1e-6)
    rollout = np.asarray(sq.attention_rollout(np.asarray(sq.attention(model, tokens))))
    np.testing.assert_allclose(
        payload_array(rows[1]["detail"]), views.downsample(rollout, views.DETAIL_SIZE)[0], rtol=1e-5
    )


def test_attention_view_static_twins(attention_view, tmp_path):
    png = attention_view.to_png()
    assert png.startswith(b"\x89PNG")
    data, _ = attention_view._repr_mimebundle_()
    assert "image/png" in data
    page = attention_view.to_html(tmp_path / "attention.html")
    text = page.read_text()
    assert "jaxviz" in text and text.count('"index":') >= 3  # three examples stored


def test_attention_view_errors(lookup):
    model, data = lookup
    with pytest.raises(TypeError, match="integer token ids"):
        jv.AttentionView(model, data.x_test[:1].astype(np.float32))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        jv.AttentionView(model, np.full((1, 10), 99, np.int32))
    with pytest.raises(ValueError, match="vocabulary: has 3 words"):
        jv.AttentionView(model, data.x_test[:1], vocabulary=["a", "b", "c"])
    with pytest.raises(ValueError, match="target: class 10 is out of range"):
        jv.AttentionView(model, data.x_test[:1], target=10)
    with pytest.raises(ValueError, match="class_names: expected 10 names"):
        jv.AttentionView(model, data.x_test[:1], class_names=["a"])
    mlp, digits = jv.zoo.load("cancer-mlp")
    with pytest.raises((TypeError, ValueError)):
        jv.AttentionView(mlp, np.zeros((1, 30), np.int32))


# -- TokenView --------------------------------------------------------------------------------


def test_token_view_sends_every_method_and_class(token_view, sentiment):
    model, data = sentiment
    result = token_view._result
    words = [data.vocabulary[t] for t in data.x_test[0]]
    shown = views.shown_length(words)
    assert result["words"] == words[:shown] and "<pad>" not in result["words"]
    assert result["evidence"] == [bool(e) for e in data.masks_test[0, :shown]]
    ig = np.asarray(sq.token_attribution(model, data.x_test[:1], "all", steps=64))[0]
    np.testing.assert_allclose(
        payload_array(result["maps"]["integrated_gradients"]), ig[:, :shown], rtol=1e-5, atol=1e-6
    )
    occlusion = np.asarray(sq.token_occlusion(model, data.x_test[:1], "all"))[0]
    np.testing.assert_allclose(
        payload_array(result["maps"]["occlusion"]), occlusion[:, :shown], rtol=1e-5, atol=1e-6
    )
    assert payload_array(result["maps"]["occlusion"]).shape == (2, shown)  # every class


def test_token_view_class_and_method_switch_without_the_kernel(token_view):
    before = dict(token_view._served)
    token_view.target = 1
    token_view.method = "occlusion"
    assert token_view._served == before  # browser-side traits: no computation
    assert token_view.shown_class() == 1
    token_view.target = -1
    token_view.method = "all"
    with pytest.raises(Exception, match="method"):
        token_view.method = "gradcam"


def test_token_view_static_twins(token_view, tmp_path):
    assert token_view.to_png().startswith(b"\x89PNG")
    page = token_view.to_html(tmp_path / "tokens.html")
    assert page.read_text().count('"index":') >= 3  # every example stored: the slider works


def test_attention_view_of_chosen_layers_rolls_out_every_layer(lookup):
    model, data = lookup
    view = jv.AttentionView(
        model,
        data.x_test[:1],
        layers="blocks.1.attention.attention_weights",
        flow=False,
        relevance=False,
        warm=False,
    )
    rows = view._result["rows"]
    assert [r["label"] for r in rows] == ["blocks.1.attention", "rollout"]
    every = np.asarray(sq.attention(model, data.x_test[:1]))
    np.testing.assert_allclose(
        payload_array(rows[1]["maps"]), np.asarray(sq.attention_rollout(every)), rtol=1e-6
    )


def test_token_view_errors(sentiment):
    model, data = sentiment
    with pytest.raises(ValueError, match="methods: expected one of"):
        jv.TokenView(model, data.x_test[:1], methods=("gradcam",))
    with pytest.raises(ValueError, match="evidence: expected a bool mask shaped like"):
        jv.TokenView(model, data.x_test[:2], evidence=data.masks_test[:3])
    with pytest.raises(ValueError, match="labels: expected one label per example"):
        jv.TokenView(model, data.x_test[:2], labels=[0])


# -- RNNView ----------------------------------------------------------------------------------


def test_rnn_view_of_a_linear_cell_has_the_closed_form_gradient(tmp_path):
    a = 0.7

    def cell(h, x):
        h = a * h + x
        return h, h

    inputs = np.random.default_rng(0).normal(size=(2, 9, 3)).astype(np.float32)
    view = jv.RNNView(cell, inputs, carry=jnp.zeros((2, 3)), warm=False)
    np.testing.assert_allclose(
        view.gradient_norms, np.broadcast_to(a ** np.arange(8, -1, -1), (2, 9)), rtol=1e-5
    )
    states = payload_array(view._data["states"]["hidden"])
    np.testing.assert_allclose(
        states, np.asarray(sq.rnn_states(cell, inputs, carry=jnp.zeros((2, 3))).hidden)
    )
    assert list(view._data["states"]) == ["hidden"] and view.step == 8
    assert view.to_png().startswith(b"\x89PNG")
    assert "gradient_norms" in view.to_html(tmp_path / "rnn.html").read_text()


def test_rnn_view_of_the_zoo_lstm_embeds_tokens_and_shows_gates():
    model, data = jv.zoo.load("sentiment-lstm")
    view = jv.RNNView(model, data.x_test[:4], vocabulary=data.vocabulary, warm=False)
    assert list(view._data["states"]) == [
        "hidden",
        "cell",
        "input",
        "forget",
        "candidate",
        "output",
    ]
    module = jv.zoo._pretrained.restore_module("sentiment-lstm")
    tokens = data.x_test[:4]
    embedded = np.asarray(module.token_embed(tokens))
    lengths = (tokens != 0).sum(1)  # padding (id 0) comes last and is cut off per example
    assert view.lengths.tolist() == lengths.tolist() and len(set(lengths)) == 3
    full = np.asarray(sq.rnn_states(module.cell, embedded).hidden)
    for i, n in enumerate(view.lengths):
        np.testing.assert_allclose(view.states.hidden[i, :n], full[i, :n], atol=1e-6)
        assert np.isnan(view.states.hidden[i, n:]).all()
        # h_T is the state the model reads: its head gives the model's logits
        logits = np.asarray(module.head(view.states.hidden[i, n - 1]))
        np.testing.assert_allclose(logits, np.asarray(model(tokens[i : i + 1]))[0], atol=1e-5)
        alone = sq.state_gradient_norms(module.cell, embedded[i : i + 1, :n])
        np.testing.assert_allclose(view.gradient_norms[i, :n], np.asarray(alone)[0], rtol=1e-5)
        assert view.gradient_norms[i, n - 1] == pytest.approx(1.0, abs=1e-5)
    assert view._data["words"][0][0] == "<cls>"
    view.state = "forget"
    assert view.to_png().startswith(b"\x89PNG")
    with pytest.raises(Exception, match="state"):
        view.state = "hidden2"
    with pytest.raises(Exception, match="step"):
        view.step = 13


def test_rnn_view_errors():
    cell = nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="token ids need a flax.nnx model"):
        jv.RNNView(cell, np.zeros((1, 5), np.int32))
    with pytest.raises(ValueError, match="norm"):
        jv.RNNView(cell, np.zeros((1, 5, 3), np.float32), norm="nuclear")
    with pytest.raises(ValueError, match="inputs: expected the float sequence"):
        jv.RNNView(cell, np.zeros((5,), np.float32))
    model, _ = jv.zoo.load("sentiment-lstm")
    with pytest.raises(ValueError, match="token id 99 is outside the vocabulary"):
        jv.RNNView(model, np.full((1, 4), 99, np.int32))
