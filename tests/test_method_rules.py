"""The rules a method asks for: layer taps (`checkpoint_name`) and swapped ReLU backward rules.
Each matches the equations it should, and with a neutral hook computes what JAX computes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name

from jaxviz import _jaxpr
from jaxviz._rewrites import RULES
from jaxviz.explain._relu_rules import GUIDED_RELU

W = jnp.asarray([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])


def tagged(x):
    h = checkpoint_name(x @ W, "hidden")
    h = jax.checkpoint(lambda h: checkpoint_name(jnp.tanh(h), "inside_remat"))(h)
    h = jax.jit(lambda h: checkpoint_name(h * 2.0, "inside_jit"))(h)
    return jax.nn.relu(h).sum(axis=-1)


def relus(x):
    return (jnp.asarray([2.0, -1.0, 3.0]) * jax.nn.relu(x @ W)).sum() + jnp.maximum(x, 0).sum()


X = jnp.asarray([[0.5, -1.0], [2.0, 0.25]])


def names_matched(rule, fn, *args) -> list[str]:
    eqns = jax.make_jaxpr(fn)(*args).jaxpr.eqns
    return [e.primitive.name for e in eqns if rule.matches(e, [v.aval for v in e.invars])]


def test_layer_taps_match_tags_and_remats_only():
    tag, remat = names_matched(RULES["layer_taps"], tagged, X)
    assert tag == "name" and remat in _jaxpr._REMATS


def test_layer_taps_see_every_tag_in_order_even_inside_remat_and_jit():
    seen = []

    def hook(name, value):
        seen.append((name, value.shape))
        return value

    closed = jax.make_jaxpr(tagged)(X)
    (out,) = _jaxpr.evaluate(closed, X, on_tag=hook)
    assert seen == [("hidden", (2, 3)), ("inside_remat", (2, 3)), ("inside_jit", (2, 3))]
    np.testing.assert_array_equal(out, tagged(X))


def test_layer_taps_hook_replaces_the_value():
    closed = jax.make_jaxpr(tagged)(X)

    def zero_hidden(name, value):
        return jnp.zeros_like(value) if name == "hidden" else value

    (out,) = _jaxpr.evaluate(closed, X, on_tag=zero_hidden)
    np.testing.assert_array_equal(out, jnp.zeros(2))  # relu(2 tanh(0)) = 0


def test_relu_rules_match_relus_not_a_plain_maximum():
    assert names_matched(RULES["relu_rules"], relus, X) == ["custom_jvp_call"]
    assert _jaxpr.count_relus(jax.make_jaxpr(relus)(X).jaxpr) == 1


def swapped(fn, relu):
    closed = jax.make_jaxpr(fn)(X)
    return lambda x: _jaxpr.evaluate(closed, x, relu=relu)[0]


def test_relu_rules_with_jaxs_relu_give_jaxs_gradient():
    np.testing.assert_array_equal(jax.grad(swapped(relus, jax.nn.relu))(X), jax.grad(relus)(X))


def test_relu_rules_with_the_guided_rule_give_its_closed_form():
    """d/dx of sum(v * relu(x W)) + sum(max(x, 0)) with the guided rule: v's positive entries
    pass where x W > 0; the plain maximum keeps its own gradient."""
    v = jnp.asarray([2.0, -1.0, 3.0])
    passed = jnp.where((X @ W > 0) & (v > 0), v, 0.0)
    want = passed @ W.T + (X > 0)
    np.testing.assert_allclose(jax.grad(swapped(relus, GUIDED_RELU))(X), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("construct", "wrap"),
    [
        ("remat", jax.checkpoint),
        ("scan", lambda f: lambda h: jax.lax.scan(lambda c, _: (f(c), None), h, None, length=1)[0]),
        ("cond", lambda f: lambda h: jax.lax.cond(True, f, lambda h: h, h)),
    ],
)
def test_relu_rules_refuse_a_relu_they_cannot_reach(construct, wrap):
    def fn(x):
        return wrap(jax.nn.relu)(x @ W).sum()

    closed = jax.make_jaxpr(fn)(X)
    assert names_matched(RULES["relu_rules"], fn, X), "the construct holding a ReLU should match"
    with pytest.raises(_jaxpr.UnreachableReluError, match="inside"):
        _jaxpr.evaluate(closed, X, relu=GUIDED_RELU)
