import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz.flow import group_layers


class Net(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(5, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 8, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.sigmoid(self.l2(jax.nn.sigmoid(self.l1(x)))))


def _by_hand(net, x, objective):
    """Norms of d objective / d layer output and / d layer params, with jax.grad on explicit
    math."""
    weights = {
        n: (getattr(net, n).kernel[...], getattr(net, n).bias[...]) for n in ("l1", "l2", "out")
    }

    def forward(weights, deltas):
        h = x @ weights["l1"][0] + weights["l1"][1] + deltas["l1"]
        h = jax.nn.sigmoid(h) @ weights["l2"][0] + weights["l2"][1] + deltas["l2"]
        logits = jax.nn.sigmoid(h) @ weights["out"][0] + weights["out"][1] + deltas["out"]
        return objective(logits)

    deltas = {
        "l1": jnp.zeros((len(x), 8)),
        "l2": jnp.zeros((len(x), 8)),
        "out": jnp.zeros((len(x), 3)),
    }
    g_weights, g_deltas = jax.grad(forward, argnums=(0, 1))(weights, deltas)
    norm = lambda t: float(jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree.leaves(t))))  # noqa: E731
    return (
        [norm(g_deltas[n]) for n in ("l1", "l2", "out")],
        [norm(g_weights[n]) for n in ("l1", "l2", "out")],
        [norm(weights[n]) for n in ("l1", "l2", "out")],
    )


@pytest.fixture(scope="module")
def net_and_x():
    net = Net(nnx.Rngs(0))
    return net, jax.random.normal(jax.random.key(1), (6, 5))


def test_per_layer_numbers_match_jax_grad_by_hand(net_and_x):
    net, x = net_and_x
    m = jv.wrap(net)
    flow = jv.gradient_flow(m, x)
    predicted = np.argmax(np.asarray(m(x)), axis=1)
    out_g, param_g, param_n = _by_hand(net, x, lambda z: z[jnp.arange(len(x)), predicted].sum())
    assert flow.layers == ("l1", "l2", "out")
    np.testing.assert_allclose(flow.output_grad_norm, out_g, rtol=1e-5)
    np.testing.assert_allclose(flow.param_grad_norm, param_g, rtol=1e-5)
    np.testing.assert_allclose(flow.param_norm, param_n, rtol=1e-5)
    np.testing.assert_array_equal(flow.param_count, [48, 72, 27])
    np.testing.assert_allclose(
        flow.output_grad_rms, np.array(out_g) / np.sqrt([48, 48, 18]), rtol=1e-5
    )
    # the output layer's gradient is the one-hot seed: norm sqrt(batch)
    np.testing.assert_allclose(flow.output_grad_norm[-1], np.sqrt(len(x)), rtol=1e-6)

    flow = jv.gradient_flow(m, x, target=2)
    out_g, param_g, _ = _by_hand(net, x, lambda z: z[:, 2].sum())
    np.testing.assert_allclose(flow.output_grad_norm, out_g, rtol=1e-5)
    np.testing.assert_allclose(flow.param_grad_norm, param_g, rtol=1e-5)


def test_loss_objective_matches_by_hand(net_and_x):
    net, x = net_and_x
    y = jnp.array([0, 1, 2, 0, 1, 2])
    loss = lambda z: optax.softmax_cross_entropy_with_integer_labels(z, y).mean()  # noqa: E731
    flow = jv.gradient_flow(jv.wrap(net), x, loss=loss)
    out_g, param_g, _ = _by_hand(net, x, loss)
    np.testing.assert_allclose(flow.output_grad_norm, out_g, rtol=1e-5)
    np.testing.assert_allclose(flow.param_grad_norm, param_g, rtol=1e-5)
    assert flow.objective == "loss(logits)"


def test_linen_and_flow_stats_share_layer_names():
    class Mlp(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(6, name="encoder")(x))
            return nn.Dense(2, name="head")(nn.relu(nn.Dense(6, name="block")(x)))

    x = jnp.ones((2, 3))
    variables = Mlp().init(jax.random.key(0), x)
    m = jv.wrap(Mlp(), variables)
    flow = jv.gradient_flow(m, x)
    assert flow.layers == ("encoder", "block", "head")
    assert group_layers(variables, order=m.layers).names == m.layers
    assert group_layers(m.params, order=m.layers).names == m.layers
    net = Net(nnx.Rngs(0))
    assert group_layers(jv.wrap(net).params, order=jv.wrap(net).layers).names == ("l1", "l2", "out")


def test_vanishing_flagged_along_a_deep_sigmoid_chain():
    def fn(x):
        from jax.ad_checkpoint import checkpoint_name

        for i in range(8):
            x = checkpoint_name(jax.nn.sigmoid(x * 0.5), f"s{i}")  # each layer passes back <= 1/8
        return jnp.concatenate([x, -x], axis=1)

    flow = jv.gradient_flow(jv.wrap(fn, example=jnp.ones((2, 4))), jnp.ones((2, 4)))
    assert flow.flags[0] == "vanishing" and flow.flags[-1] is None
    assert np.all(np.isnan(flow.param_grad_norm)) and np.all(flow.param_count == 0)
    assert np.all(np.diff(np.log(flow.output_grad_rms)) > 0)  # shrinking toward the input


def test_bad_arguments(net_and_x):
    net, x = net_and_x
    m = jv.wrap(net)
    with pytest.raises(ValueError, match="target"):
        jv.gradient_flow(m, x, target="all")
    with pytest.raises(ValueError, match="target"):
        jv.gradient_flow(m, x, target=1, loss=lambda z: z.sum())
    with pytest.raises(ValueError, match="loss: expected a scalar"):
        jv.gradient_flow(m, x, loss=lambda z: z.sum(axis=1))
    with pytest.raises(ValueError, match="target: class 7"):
        jv.gradient_flow(m, x, target=7)
