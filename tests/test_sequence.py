"""jaxviz.sequence: attention capture (nnx, linen, plain functions), rollout and flow, head
masking and knock-out, gradient-weighted attention, token attribution and RNN views, against
flax's own sown weights, closed forms, networkx max-flow and hand-written references."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv
from jaxviz import sequence as sq

VOCAB, LENGTH, DIM, HEADS, LAYERS, CLASSES = 12, 7, 8, 2, 2, 3
TOKENS = np.array(
    [[3, 5, 7, 2, 9, 0, 0], [4, 4, 11, 1, 6, 8, 10], [1, 2, 0, 0, 0, 0, 0]], np.int32
)  # id 0 pads the end


def _masks(tokens, causal):
    mask = (tokens != 0)[:, None, None, :]
    if causal:
        mask = mask & jnp.tril(jnp.ones((tokens.shape[1],) * 2, bool))
    return mask


class NNXAttend(nnx.Module):
    def __init__(self, *, causal: bool = False, rngs: nnx.Rngs):
        self.causal, self.sow = causal, False
        self.embed = nnx.Embed(VOCAB, DIM, rngs=rngs)
        self.position = nnx.Param(0.3 * jax.random.normal(jax.random.key(1), (LENGTH, DIM)))
        self.layers = nnx.List(
            [nnx.MultiHeadAttention(HEADS, DIM, decode=False, rngs=rngs) for _ in range(LAYERS)]
        )
        self.head = nnx.Linear(DIM, CLASSES, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens) + self.position[...]
        mask = _masks(tokens, self.causal)
        for layer in self.layers:
            x = x + layer(x, mask=mask, sow_weights=self.sow)
        return self.head(x[:, 0])


class LinenAttend(nn.Module):
    causal: bool = False
    sow: bool = False

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(VOCAB, DIM, name="embed")(tokens)
        mask = _masks(tokens, self.causal)
        for i in range(LAYERS):
            x = x + nn.MultiHeadDotProductAttention(HEADS, name=f"attn{i}")(
                x, mask=mask, sow_weights=self.sow
            )
        return nn.Dense(CLASSES, name="head")(x[:, 0])


def function_model(key, *, causal=False, tag=True):
    """A plain-function transformer naming its weights and heads with checkpoint_name; with
    `deltas`, adds them to each layer's weights (for reference gradients)."""
    ks = jax.random.split(key, 6)
    dh = DIM // HEADS
    w = {
        "embed": jax.random.normal(ks[0], (VOCAB, DIM)),
        "qkv": 0.5 * jax.random.normal(ks[1], (LAYERS, 3, DIM, HEADS, dh)),
        "out": 0.5 * jax.random.normal(ks[2], (LAYERS, HEADS, dh, DIM)),
        "head": jax.random.normal(ks[3], (DIM, CLASSES)),
    }

    def fn(tokens, deltas=None, head_mask=None, embed_delta=0.0):
        x = w["embed"][tokens] + embed_delta
        if tag:
            x = checkpoint_name(x, "embed")
        mask = _masks(tokens, causal)
        for i in range(LAYERS):
            q, k, v = (jnp.einsum("bld,dhe->blhe", x, w["qkv"][i, j]) for j in range(3))
            scores = jnp.einsum("bqhe,bkhe->bhqk", q, k) / np.sqrt(dh)
            weights = jax.nn.softmax(jnp.where(mask, scores, -1e30), axis=-1)
            if tag:
                weights = checkpoint_name(weights, f"layer{i}.attention_weights")
            if deltas is not None:
                weights = weights + deltas[i]
            heads = jnp.einsum("bhqk,bkhe->bqhe", weights, v)
            if tag:
                heads = checkpoint_name(heads, f"layer{i}.heads")
            if head_mask is not None:
                heads = heads * head_mask[i][None, None, :, None]
            x = x + jnp.einsum("bqhe,hed->bqd", heads, w["out"][i])
        return x[:, 0] @ w["head"]

    fn.embed = w["embed"]
    return fn


@pytest.fixture(scope="module")
def nnx_module():
    return NNXAttend(rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def nnx_model(nnx_module):
    return jv.wrap(nnx_module)


@pytest.fixture(scope="module")
def fn_reference():
    return function_model(jax.random.key(2))


@pytest.fixture(scope="module")
def fn_model(fn_reference):
    return jv.wrap(fn_reference)


def _sown_nnx(module, tokens):
    copy = nnx.clone(module)
    copy.sow = True
    _, sown = nnx.capture(copy, nnx.Intermediate)(jnp.asarray(tokens))
    return np.stack(
        [np.asarray(sown["layers"][i]["attention_weights"][0]) for i in range(LAYERS)], axis=1
    )


# -- capture --------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_nnx_attention_equals_flax_sown_weights_and_respects_masks(causal):
    module = NNXAttend(causal=causal, rngs=nnx.Rngs(0))
    model = jv.wrap(module)
    weights = np.asarray(sq.attention(model, TOKENS))
    assert weights.shape == (3, LAYERS, HEADS, LENGTH, LENGTH)
    np.testing.assert_allclose(weights, _sown_nnx(module, TOKENS), atol=1e-6)
    allowed = np.broadcast_to(np.asarray(_masks(TOKENS, causal))[:, None], weights.shape)
    assert (weights[~allowed] == 0.0).all()  # exactly zero, not small
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert sq.attention_layers(model, TOKENS) == (
        "layers.0.attention_weights",
        "layers.1.attention_weights",
    )
    # the user's module is untouched and its own call still takes flax's fused path
    assert module.layers[0].attention_fn is nnx.dot_product_attention


@pytest.mark.parametrize("causal", [False, True])
def test_linen_attention_equals_flax_sown_weights(causal):
    module = LinenAttend(causal=causal)
    variables = module.init(jax.random.key(0), jnp.asarray(TOKENS))
    weights = np.asarray(sq.attention(jv.wrap(module, variables), TOKENS))
    _, state = LinenAttend(causal=causal, sow=True).apply(
        variables, jnp.asarray(TOKENS), mutable=["intermediates"]
    )
    sown = np.stack(
        [
            np.asarray(state["intermediates"][f"attn{i}"]["attention_weights"][0])
            for i in range(LAYERS)
        ],
        1,
    )
    np.testing.assert_allclose(weights, sown, atol=1e-6)
    allowed = np.broadcast_to(np.asarray(_masks(TOKENS, causal))[:, None], weights.shape)
    assert (weights[~allowed] == 0.0).all()


def test_function_attention_reads_checkpoint_name_tags(fn_model, fn_reference):
    weights = np.asarray(sq.attention(fn_model, TOKENS))
    assert sq.attention_layers(fn_model, TOKENS) == (
        "layer0.attention_weights",
        "layer1.attention_weights",
    )
    assert weights.shape == (3, LAYERS, HEADS, LENGTH, LENGTH)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (weights[..., 5:][:1] == 0.0).all() and (weights[2, ..., 2:] == 0.0).all()  # padding
    # the captured weights are the ones the function uses: adding a delta there moves the logits
    # exactly as the hand-written perturbation does
    deltas = [0.01 * jnp.ones((3, HEADS, LENGTH, LENGTH)) for _ in range(LAYERS)]
    moved = sq._tokens.forward(
        fn_model,
        fn_model.params,
        jnp.asarray(TOKENS),
        deltas=dict(zip(sq.attention_layers(fn_model, TOKENS), deltas)),
    )[0]
    np.testing.assert_allclose(
        moved, fn_reference(jnp.asarray(TOKENS), deltas=deltas), rtol=1e-5, atol=1e-5
    )
    one = np.asarray(sq.attention(fn_model, TOKENS, layers="layer1.attention_weights", heads=1))
    np.testing.assert_array_equal(one[:, 0, 0], weights[:, 1, 1])


# -- head masking and knock-out -------------------------------------------------------------------


def test_all_ones_head_mask_leaves_logits_unchanged(nnx_model, fn_model):
    for model in (nnx_model, fn_model):
        masked = np.asarray(sq.logits_with_head_mask(model, TOKENS, np.ones((LAYERS, HEADS))))
        # flax's own call fuses attention (jax.nn.dot_product_attention); the tapped one does not
        np.testing.assert_allclose(masked, np.asarray(model(TOKENS)), atol=1e-5)


@pytest.mark.parametrize("layer, head", [(0, 0), (1, 1)])
def test_masking_a_head_equals_zeroing_its_output_projection_slice(
    nnx_module, nnx_model, layer, head
):
    mask = np.ones((LAYERS, HEADS), np.float32)
    mask[layer, head] = 0.0
    masked = np.asarray(sq.logits_with_head_mask(nnx_model, TOKENS, mask))
    edited = nnx.clone(nnx_module)  # merge(split(m)) would share the module's Variables
    kernel = edited.layers[layer].out.kernel
    kernel[...] = kernel[...].at[head].set(0.0)
    np.testing.assert_allclose(masked, np.asarray(edited(jnp.asarray(TOKENS))), atol=1e-5)
    assert np.abs(masked - np.asarray(nnx_model(TOKENS))).max() > 1e-3  # the head mattered


def test_masking_a_linen_head_equals_zeroing_its_output_projection_slice():
    module = LinenAttend()
    variables = module.init(jax.random.key(0), jnp.asarray(TOKENS))
    mask = np.ones((LAYERS, HEADS), np.float32)
    mask[1, 0] = 0.0
    masked = np.asarray(sq.logits_with_head_mask(jv.wrap(module, variables), TOKENS, mask))
    params = jax.tree.map(lambda a: a, variables["params"])
    params["attn1"]["out"]["kernel"] = params["attn1"]["out"]["kernel"].at[0].set(0.0)
    np.testing.assert_allclose(
        masked, np.asarray(module.apply({"params": params}, jnp.asarray(TOKENS))), atol=1e-5
    )


def test_head_importance_is_the_score_drop_of_each_single_knockout(fn_model, fn_reference):
    importance = np.asarray(sq.head_importance(fn_model, TOKENS, target=2))
    full = np.asarray(fn_reference(jnp.asarray(TOKENS)))[:, 2]
    for layer in range(LAYERS):
        for head in range(HEADS):
            mask = jnp.ones((LAYERS, HEADS)).at[layer, head].set(0.0)
            knocked = np.asarray(fn_reference(jnp.asarray(TOKENS), head_mask=mask))[:, 2]
            np.testing.assert_allclose(importance[:, layer, head], full - knocked, atol=1e-4)
    every = np.asarray(sq.head_importance(fn_model, TOKENS, target="all"))
    assert every.shape == (3, CLASSES, LAYERS, HEADS)
    np.testing.assert_allclose(every[:, 2], importance, atol=1e-6)


def test_head_importance_compiles_one_program(nnx_model):
    before = len(nnx_model.programs)
    sq.head_importance(nnx_model, TOKENS, target=0)
    sq.head_importance(nnx_model, TOKENS, target=1)  # a new target is data, not a new program
    assert len(nnx_model.programs) == before + 1


# -- rollout, flow, gradient-weighted attention ---------------------------------------------------


def _random_weights(key, batch=2, layers=3, heads=2, tokens=5):
    logits = jax.random.normal(key, (batch, layers, heads, tokens, tokens))
    return np.asarray(jax.nn.softmax(2.0 * logits, axis=-1))


def test_rollout_is_the_product_of_residual_averaged_layers():
    weights = _random_weights(jax.random.key(3))
    rollout = np.asarray(sq.attention_rollout(weights))
    eye = np.eye(weights.shape[-1])
    for b in range(weights.shape[0]):
        expected = eye
        for layer in range(weights.shape[1]):
            expected = (0.5 * weights[b, layer].mean(0) + 0.5 * eye) @ expected
        np.testing.assert_allclose(rollout[b], expected, atol=1e-5)
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-5)


def _networkx_flow(graph, q, k):
    layers, tokens, _ = graph.shape
    g = nx.DiGraph()
    for layer in range(1, layers + 1):
        for i in range(tokens):
            for j in range(tokens):
                g.add_edge((layer, i), (layer - 1, j), capacity=float(graph[layer - 1, i, j]))
    return nx.maximum_flow_value(g, (layers, q), (0, k))


def test_attention_flow_equals_networkx_max_flow():
    weights = _random_weights(jax.random.key(4), batch=1, layers=3, tokens=4)
    graph = np.asarray(sq.layer_graph(weights))[0]
    raw = sq.attention_flow(weights, normalize=False)[0]
    expected = np.array([[_networkx_flow(graph, q, k) for k in range(4)] for q in range(4)])
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    normalized = sq.attention_flow(weights)[0]
    np.testing.assert_allclose(normalized, expected / expected.sum(-1, keepdims=True), atol=1e-5)


def test_two_layer_flow_is_the_sum_of_bottlenecks():
    # two layers: each path top q -> middle m -> input k is separate, so the flow is
    # sum_m min(A2[q, m], A1[m, k])
    weights = _random_weights(jax.random.key(5), batch=1, layers=2, tokens=5)
    graph = np.asarray(sq.layer_graph(weights))[0]
    expected = np.minimum(graph[1][:, :, None], graph[0][None]).sum(1)
    np.testing.assert_allclose(sq.attention_flow(weights, normalize=False)[0], expected, atol=1e-5)


def test_gradient_weighted_attention_matches_a_hand_written_chefer_rule(fn_model):
    tokens = jnp.asarray(TOKENS)
    reference = function_model(jax.random.key(2), tag=False)
    relevance = np.asarray(sq.gradient_weighted_attention(fn_model, TOKENS, target=1))
    weights = np.asarray(sq.attention(fn_model, TOKENS))
    zeros = [jnp.zeros((3, HEADS, LENGTH, LENGTH)) for _ in range(LAYERS)]
    grads = jax.grad(lambda d: reference(tokens, deltas=d)[:, 1].sum())(zeros)
    expected = np.broadcast_to(np.eye(LENGTH), (3, LENGTH, LENGTH))
    for layer in range(LAYERS):
        mixed = np.maximum(np.asarray(grads[layer]) * weights[:, layer], 0).mean(1)
        expected = expected + mixed @ expected
    np.testing.assert_allclose(relevance, expected, rtol=1e-5, atol=1e-5)
    every = np.asarray(sq.gradient_weighted_attention(fn_model, TOKENS, target="all"))
    np.testing.assert_allclose(every[:, 1], relevance, atol=1e-5)


# -- token attribution ----------------------------------------------------------------------------


def test_token_integrated_gradients_complete_and_match_embedding_gradients(fn_model, fn_reference):
    tokens = jnp.asarray(TOKENS)
    attr = np.asarray(sq.token_attribution(fn_model, TOKENS, target=0, layer="embed", steps=64))
    gap = np.asarray(fn_reference(tokens)[:, 0] - fn_reference(jnp.zeros_like(tokens))[:, 0])
    np.testing.assert_allclose(attr.sum(1), gap, rtol=1e-3, atol=1e-3)
    # saliency and input x gradient: the gradient at the embedding output, reduced per token
    zeros = jnp.zeros((3, LENGTH, DIM))
    grads = np.asarray(jax.grad(lambda d: fn_reference(tokens, embed_delta=d)[:, 0].sum())(zeros))
    embedded = np.asarray(fn_reference.embed[tokens])
    expected = {
        ("saliency", "sum"): grads.sum(-1),
        ("saliency", "l2"): np.sqrt((grads**2).sum(-1)),
        ("input_x_gradient", "sum"): (grads * embedded).sum(-1),
        ("input_x_gradient", "l2"): np.sqrt(((grads * embedded) ** 2).sum(-1)),
    }
    for (method, reduce), value in expected.items():
        got = sq.token_attribution(
            fn_model, TOKENS, target=0, layer="embed", method=method, reduce=reduce
        )
        np.testing.assert_allclose(np.asarray(got), value, rtol=1e-5, atol=1e-5)
    every = np.asarray(
        sq.token_attribution(fn_model, TOKENS, target="all", layer="embed", steps=64)
    )
    assert every.shape == (3, CLASSES, LENGTH)
    np.testing.assert_allclose(every[:, 0], attr, atol=1e-5)


def test_token_smoothgrad_is_deterministic_and_saliency_without_noise(fn_model):
    def smoothgrad(noise, key):
        return np.asarray(
            sq.token_attribution(
                fn_model,
                TOKENS,
                0,
                layer="embed",
                method="smoothgrad",
                key=key,
                samples=8,
                noise=noise,
            )
        )

    first, second = smoothgrad(0.1, jax.random.key(7)), smoothgrad(0.1, jax.random.key(7))
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - smoothgrad(0.1, jax.random.key(8))).max() > 1e-3
    plain = np.asarray(
        sq.token_attribution(fn_model, TOKENS, target=0, layer="embed", method="saliency")
    )
    np.testing.assert_allclose(smoothgrad(0.0, jax.random.key(7)), plain, rtol=1e-5, atol=1e-5)


def test_token_occlusion_equals_replacing_each_token(fn_model, fn_reference):
    occluded = np.asarray(sq.token_occlusion(fn_model, TOKENS, target=1, replacement=3))
    full = np.asarray(fn_reference(jnp.asarray(TOKENS)))[:, 1]
    for position in range(LENGTH):
        covered = TOKENS.copy()
        covered[:, position] = 3
        np.testing.assert_allclose(
            occluded[:, position],
            full - np.asarray(fn_reference(jnp.asarray(covered)))[:, 1],
            atol=1e-5,
        )


# -- RNN views ------------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.5, -0.9, 1.2])
def test_linear_rnn_state_gradient_is_a_power_of_a(a):
    def cell(h, x):
        h = a * h + x
        return h, h

    inputs = np.asarray(jax.random.normal(jax.random.key(0), (2, 6, 3)), np.float32)
    norms = np.asarray(sq.state_gradient_norms(cell, inputs, carry=jnp.zeros((2, 3))))
    steps = np.arange(1, 7)
    np.testing.assert_allclose(norms, np.broadcast_to(np.abs(a) ** (6 - steps), (2, 6)), rtol=1e-5)
    frobenius = np.asarray(
        sq.state_gradient_norms(cell, inputs, carry=jnp.zeros((2, 3)), norm="frobenius")
    )
    np.testing.assert_allclose(frobenius, np.sqrt(3) * norms, rtol=1e-5)
    states = sq.rnn_states(cell, inputs, carry=jnp.zeros((2, 3)))
    np.testing.assert_allclose(
        np.asarray(states.hidden[:, 1]), a * inputs[:, 0] + inputs[:, 1], rtol=1e-6
    )
    assert states.cell is None and states.gates is None


ZERO_CARRY = np.zeros((2, 3), np.float32)


def test_rnn_tools_compile_once_per_cell_and_signature():
    from compiles import compiles

    def make(weights):
        return lambda h, x: (jnp.tanh(h @ weights + x),) * 2

    # numpy arrays only: an eager jnp operation would compile a program of its own
    cell = nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))
    inputs = np.asarray(jax.random.normal(jax.random.key(1), (2, 5, 3)), np.float32)
    sq.rnn_states(cell, inputs)
    sq.state_gradient_norms(make(np.eye(3, dtype=np.float32)), inputs, carry=ZERO_CARRY)
    before = compiles.count
    sq.rnn_states(cell, inputs + 1.0)
    changed = sq.state_gradient_norms(
        make(2 * np.eye(3, dtype=np.float32)), inputs, carry=ZERO_CARRY
    )
    assert compiles.count == before  # new inputs, new closed-over weights: the same programs
    again = sq.state_gradient_norms(make(np.eye(3, dtype=np.float32)), inputs, carry=ZERO_CARRY)
    assert not np.allclose(changed, again)  # the weights are arguments, not baked-in constants


def test_lstm_states_and_gates_satisfy_the_lstm_equations():
    cell = nnx.LSTMCell(4, 5, rngs=nnx.Rngs(0))
    inputs = np.asarray(jax.random.normal(jax.random.key(1), (2, 7, 4)), np.float32)
    states = sq.rnn_states(cell, inputs)
    g = {k: np.asarray(v) for k, v in states.gates.items()}
    c, h = np.asarray(states.cell), np.asarray(states.hidden)
    previous = np.concatenate([np.zeros((2, 1, 5)), c[:, :-1]], axis=1)
    np.testing.assert_allclose(c, g["forget"] * previous + g["input"] * g["candidate"], atol=1e-5)
    np.testing.assert_allclose(h, g["output"] * np.tanh(c), atol=1e-5)
    # the same states as flax's own loop
    carry = cell.initialize_carry((2, 4), nnx.Rngs(0))
    for t in range(7):
        carry, y = cell(carry, jnp.asarray(inputs[:, t]))
        np.testing.assert_allclose(h[:, t], np.asarray(y), atol=1e-5)
    norms = np.asarray(sq.state_gradient_norms(cell, inputs))
    assert norms.shape == (2, 7) and np.allclose(norms[:, -1], 1.0, atol=1e-5)
    assert (norms[:, :-1] < 1.5).all()  # a small LSTM forgets: no explosion


def test_gru_gates_reproduce_the_next_state():
    cell = nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
    inputs = np.asarray(jax.random.normal(jax.random.key(2), (1, 5, 3)), np.float32)
    states = sq.rnn_states(cell, inputs)
    g = {k: np.asarray(v) for k, v in states.gates.items()}
    h = np.asarray(states.hidden)
    previous = np.concatenate([np.zeros((1, 1, 4)), h[:, :-1]], axis=1)
    np.testing.assert_allclose(
        h, (1 - g["update"]) * g["candidate"] + g["update"] * previous, atol=1e-5
    )


# -- errors ---------------------------------------------------------------------------------------


def test_bad_inputs_get_clear_errors(nnx_model, fn_model):
    with pytest.raises(TypeError, match=r"tokens: expected integer token ids .* got dtype float32"):
        sq.attention(nnx_model, TOKENS.astype(np.float32))
    with pytest.raises(
        ValueError,
        match=r"tokens: token id 12 is outside the vocabulary; .* 12 tokens \(ids 0 to 11\)",
    ):
        sq.token_attribution(nnx_model, np.full((1, LENGTH), 12))
    with pytest.raises(
        ValueError, match=r"tokens: expected token ids shaped \(batch, length\), got shape \(7,\)"
    ):
        sq.attention(nnx_model, TOKENS[0])
    with pytest.raises(ValueError, match=r"heads: head 2 is out of range; .* 2 heads \(0 to 1\)"):
        sq.attention(nnx_model, TOKENS, heads=[0, 2])
    with pytest.raises(
        ValueError,
        match=r"head_mask: expected shape \(layers, heads\) = \(2, 2\) .* got shape \(2, 3\)",
    ):
        sq.logits_with_head_mask(nnx_model, TOKENS, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layers: unknown layer 'layers.5.attention_weights'"):
        sq.attention(nnx_model, TOKENS, layers="layers.5.attention_weights")
    with pytest.raises(
        ValueError, match=r"baseline: shape \(2,\) does not broadcast to the tokens' shape \(3, 7\)"
    ):
        sq.token_attribution(nnx_model, TOKENS, baseline=np.zeros(2, np.int32))
    with pytest.raises(ValueError, match=r"layer: the model has no flax Embed layer"):
        sq.token_attribution(fn_model, TOKENS)
    with pytest.raises(
        ValueError,
        match=r"weights: expected self-attention weights \(batch, layers, heads, tokens, tokens\)",
    ):
        sq.attention_rollout(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match=r"residual: expected a number in \[0, 1\], got 2"):
        sq.attention_rollout(np.ones((1, 1, 1, 2, 2)) / 2, residual=2)
    with pytest.raises(
        ValueError, match=r"norm: expected one of 'spectral', 'frobenius', got 'max'"
    ):
        sq.state_gradient_norms(
            lambda h, x: (h + x, h),
            np.ones((1, 2, 1), np.float32),
            carry=jnp.zeros((1, 1)),
            norm="max",
        )


def test_a_model_without_attention_says_so():
    module = nnx.Sequential(
        nnx.Embed(VOCAB, DIM, rngs=nnx.Rngs(0)),
        lambda x: x.mean(1),
        nnx.Linear(DIM, 2, rngs=nnx.Rngs(0)),
    )
    model = jv.wrap(module)
    with pytest.raises(ValueError, match=r"model: it has no attention weights jaxviz can read"):
        sq.attention(model, TOKENS)
    with pytest.raises(ValueError, match=r"model: it has no attention weights jaxviz can read"):
        sq.head_importance(model, TOKENS)
    assert (
        np.asarray(sq.token_occlusion(model, TOKENS)).shape == TOKENS.shape
    )  # token methods still work
