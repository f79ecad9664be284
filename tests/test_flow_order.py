"""Training statistics know the forward order, or say they don't: depth diagnoses (vanishing /
exploding along the layers) are made only over layers whose place in the forward pass is known."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz.flow import Recorder, diagnose, flow_stats
from jaxviz.flow._demo import toy_classification
from jaxviz.flow._diagnose import DEPTH_RATIO
from jaxviz.flow._order import NOT_RUN

DEPTH = 8
FORWARD = tuple(f"layers.{i}" for i in range(DEPTH)) + ("head",)
DEPTH_KINDS = {"vanishing", "exploding"}


class Mlp(nnx.Module):
    """``layers.0 .. layers.7`` then ``head``: the parameter tree sorts ``head`` first."""

    def __init__(self, activation, weight_std, *, width=64, rngs):
        init = nnx.initializers.normal(weight_std)
        sizes = [16] + [width] * DEPTH
        self.layers = nnx.List(
            [nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(sizes, sizes[1:])]
        )
        self.head = nnx.Linear(width, 4, kernel_init=init, rngs=rngs)
        self.activation = activation

    def __call__(self, x):
        for layer in self.layers:
            x = self.activation(layer(x))
        return self.head(x)


def _train(net, x, y, *, lr, steps, recorders):
    """The README's loop: the jitted step returns ``jv.flow_stats(grads, params, updates)`` and
    every recorder gets ``add(stats, loss=loss)``."""
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    optimizer = optax.sgd(lr)

    def loss_fn(params):
        logits = nnx.merge(graphdef, params, rest)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def train_step(params, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        stats = jv.flow_stats(grads, params, updates)
        return optax.apply_updates(params, updates), opt_state, loss, stats

    opt_state = optimizer.init(params)
    for _ in range(steps):
        params, opt_state, loss, stats = train_step(params, opt_state)
        for rec in recorders:
            rec.add(stats, loss=loss)
    return recorders


@pytest.fixture(scope="module")
def data():
    return toy_classification(jax.random.key(0), n=256)


@pytest.fixture(scope="module")
def sigmoid_runs(data):
    """A deep sigmoid network with N(0, 1) weights (Nielsen ch. 5), 60 SGD steps, recorded with
    the wrapped model (the README's form) and without it (the old form)."""
    x, y = data
    net = Mlp(jax.nn.sigmoid, 1.0, rngs=nnx.Rngs(0))
    m = jv.wrap(net, example=x)
    with_model, plain = _train(
        net, x, y, lr=1.0, steps=60, recorders=[Recorder(model=m), Recorder()]
    )
    return m, with_model, plain


def test_call_order_comes_from_the_model_not_the_tree(sigmoid_runs):
    m, with_model, plain = sigmoid_runs
    assert m.layers == FORWARD
    assert plain.layers[0] == "head" and plain.meta.ordered == 0  # the tree's name order
    assert with_model.layers == FORWARD and with_model.meta.ordered == len(FORWARD)
    assert with_model.meta.order_note == ""
    # the same numbers, rows moved with their names
    by_name = dict(zip(plain.layers, plain.field("grad_norm").T))
    for j, name in enumerate(with_model.layers):
        np.testing.assert_array_equal(with_model.field("grad_norm")[:, j], by_name[name])
    sizes = dict(zip(plain.meta.layers, plain.meta.sizes))
    assert with_model.meta.sizes == tuple(sizes[n] for n in FORWARD)


def test_deep_sigmoid_vanishes_early_and_nothing_explodes(sigmoid_runs):
    _, with_model, _ = sigmoid_runs
    found = diagnose(with_model)
    vanishing = [d.layer for d in found if d.kind == "vanishing"]
    assert vanishing[:3] == ["layers.0", "layers.1", "layers.2"]
    assert "head" not in vanishing
    assert not [d for d in found if d.kind in ("exploding", "order_unknown")]
    # the measured flow behind it: the first layer's gradient is far below the head's
    grad = np.median(with_model.field("grad_norm")[-20:], axis=0) / np.sqrt(with_model.meta.sizes)
    assert grad[-1] / grad[0] > DEPTH_RATIO
    assert str(found[0]).startswith("layers.0: vanishing gradient.")


def test_the_monitor_shows_forward_order_and_the_right_diagnosis(sigmoid_runs):
    from jaxviz.widgets._flow import monitor_payload

    _, with_model, plain = sigmoid_runs
    shown = monitor_payload(with_model)
    assert shown["layers"] == list(FORWARD)
    kinds = {d["kind"]: d["layers"] for d in shown["diagnoses"]}
    assert kinds["vanishing"][0] == "layers.0" and "exploding" not in kinds
    assert "order_unknown" in {d["kind"] for d in monitor_payload(plain)["diagnoses"]}


def test_without_a_known_order_no_depth_finding_and_a_note_why(sigmoid_runs):
    m, _, plain = sigmoid_runs
    found = diagnose(plain)
    assert not [d for d in found if d.kind in DEPTH_KINDS]  # no "head: exploding"
    (note,) = [d for d in found if d.kind == "order_unknown"]
    assert note.severity == "info" and "head" in note.layer and "layers.0" in note.layer
    assert "not known" in note.evidence and "cannot be told" in note.evidence
    assert "model=" in note.suggestion
    # the other rules still run: SGD at lr 1 moves the head by a quarter of its size a step
    assert any(d.kind == "update_ratio_high" and d.layer == "head" for d in found)
    # given the model afterwards, diagnose finds the same as the Recorder that had it
    assert diagnose(plain, model=m) == diagnose(sigmoid_runs[1])
    assert diagnose(plain, order=FORWARD) == diagnose(sigmoid_runs[1])


def test_deep_linear_large_init_explodes_and_is_reported(data):
    """Weights N(0, (2/sqrt(64))^2): gain 2 a layer, 2**8 from input to output."""
    x, y = data
    net = Mlp(lambda z: z, 2.0 / 8, rngs=nnx.Rngs(0))
    m = jv.wrap(net, example=x)
    (rec,) = _train(net, x, y, lr=0.01, steps=12, recorders=[Recorder(model=m)])
    found = diagnose(rec)
    exploding = {d.layer: d for d in found if d.kind == "exploding"}
    assert set(exploding) == set(FORWARD)
    assert "then overflowed to NaN/inf at step" in exploding["layers.0"].evidence
    assert found[0].kind == "nonfinite" and found[0].severity == "error"
    assert not [d for d in found if d.kind == "vanishing"]
    # Growth before the overflow is what the rule measured: check it against the raw norms.
    norms = rec.field("grad_norm")[:, 0]
    first_bad = int(np.flatnonzero(~np.isfinite(norms))[0])
    assert norms[first_bad - 1] / norms[0] > 100


def test_deep_linear_weight_gradients_are_balanced_across_depth(data):
    """Why the linear net's explosion is not a depth finding: the weight gradient of layer k is
    activation (gain**(k-1)) times back-propagated gradient (gain**(n-k)), the same for every k
    (Glorot & Bengio 2010, 4.2.1). Here at gain 2 over 8 layers (256x) they stay within 4x."""
    x, y = data
    net = Mlp(lambda z: z, 2.0 / 8, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(net, nnx.Param)

    def loss(p):
        logits = nnx.merge(graphdef, p)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    m = jv.wrap(net, example=x)
    s = jax.jit(lambda p: flow_stats(jax.grad(loss)(p), p, model=m))(params)
    rms = np.asarray(s.grad_norm) / np.sqrt(s.sizes)
    hidden = rms[:DEPTH]
    assert hidden.max() / hidden.min() < 4
    assert [d.kind for d in diagnose(s) if d.kind in DEPTH_KINDS] == []


def test_flow_stats_with_model_and_a_single_step(sigmoid_runs, data):
    m, _, _ = sigmoid_runs
    params = m.params
    grads = jax.tree.map(jnp.ones_like, params)
    s = jax.jit(lambda g, p: flow_stats(g, p, model=m))(grads, params)
    assert s.layers == FORWARD and s.ordered == len(FORWARD) and s.order_note == ""
    s = jax.eval_shape(lambda g, p: flow_stats(g, p, order=["layers.1", "layers.0"]), grads, params)
    assert s.layers[:3] == ("layers.1", "layers.0", "head") and s.ordered == 2
    assert "head" in s.order_note and "not known" in s.order_note


def test_linen_call_order_from_intercepted_calls():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.sigmoid(nn.Dense(8, name="z_in")(x))
            x = nn.sigmoid(nn.Dense(8, name="m_mid")(x))
            return nn.Dense(2, name="a_out")(x)

    x = jnp.ones((4, 3))
    variables = Net().init(jax.random.key(0), x)
    m = jv.wrap(Net(), variables, example=x)

    def layers(tree, model=None):  # static fields only: trace, never compile
        return jax.eval_shape(lambda t: flow_stats(t, t, model=model), tree)

    assert layers(variables["params"]).layers == ("a_out", "m_mid", "z_in")
    s = layers(variables["params"], m)
    assert s.layers == ("z_in", "m_mid", "a_out") and s.ordered == 3
    assert layers(variables, m).layers == s.layers  # with the collection key


def test_recorder_takes_the_order_once_the_model_has_run():
    class Scaled(nnx.Module):  # a parameter of the top module: never called as a layer
        def __init__(self, rngs):
            self.second = nnx.Linear(3, 3, rngs=rngs)
            self.first = nnx.Linear(2, 3, rngs=rngs)
            self.scale = nnx.Param(jnp.ones(3))

        def __call__(self, x):
            return self.second(self.first(x)) * self.scale

    net = Scaled(nnx.Rngs(0))
    m = jv.wrap(net)  # not run yet: its call order is not known
    params = nnx.state(net, nnx.Param)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-6), params)
    grads["first"]["kernel"] = jnp.ones((2, 3))  # first layer: large, the rest 1e-6

    stats = jax.jit(flow_stats)(grads, params)
    rec = Recorder(capacity=8, fetch_every=2, model=m)
    for _ in range(3):
        rec.add(stats)
    assert rec.layers == ("first", "scale", "second") and rec.meta.order_note == NOT_RUN
    assert not [d for d in diagnose(rec) if d.kind in DEPTH_KINDS]
    before = dict(zip(rec.layers, rec.field("grad_norm").T))

    m(jnp.ones((1, 2)))  # now it has run
    rec.add(stats)
    assert rec.layers == ("first", "second", "scale") and rec.meta.ordered == 2
    assert "scale is not among the layers in forward order" in rec.meta.order_note
    after = rec.field("grad_norm")
    assert len(after) == 4
    for j, name in enumerate(rec.layers):
        np.testing.assert_array_equal(after[:3, j], before[name])
        np.testing.assert_array_equal(after[3, j], before[name][0])
    named = Recorder(capacity=8, order=["first", "second"])  # the same, for a plain pytree
    named.add(stats)
    assert named.layers == rec.layers and named.meta.ordered == 2
    found = diagnose(rec)
    assert [(d.kind, d.layer) for d in found if d.kind in DEPTH_KINDS] == [("exploding", "first")]
    findings = lambda r: [(d.kind, d.layer, d.evidence) for d in diagnose(r)]  # noqa: E731
    assert findings(named) == findings(rec)  # (recorded over 1 step and over 4)
    (note,) = [d for d in found if d.kind == "order_unknown"]
    assert note.layer == "scale"


def test_bad_order_sources_are_named():
    params = {"a": {"w": jnp.ones(2)}, "b": {"w": jnp.ones(2)}}
    net = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
    with pytest.raises(
        TypeError, match=r"model: expected a wrapped jaxviz.Model, got Linear.*jv.wrap"
    ):
        Recorder(model=net)
    with pytest.raises(ValueError, match="has not run on an input yet"):
        flow_stats(params, params, model=jv.wrap(net))
    with pytest.raises(ValueError, match="not both"):
        diagnose(Recorder(), model=jv.wrap(net), order=["a"])
    with pytest.raises(TypeError, match="order: expected a sequence of layer names"):
        flow_stats(params, params, order="ab")
    with pytest.raises(ValueError, match=r"order: none of the parameter tree's layers \(a, b\)"):
        flow_stats(params, params, order=["x", "y"])
    m = jv.wrap(net, example=jnp.ones((1, 2)))  # a top-level Linear: no named layers inside
    with pytest.raises(ValueError, match="model: none of the parameter tree's layers"):
        flow_stats(params, params, model=m)
