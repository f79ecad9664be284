"""`jaxviz.config.speed_rewrites`: the values it takes, where it applies (thread, block), what
`_compile.settings_key()` says about it, and that `_compile.jit` follows it call by call."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxviz import _compile, _jaxpr
from jaxviz._config import Config, config
from jaxviz._rewrites import SPEED_RULE_NAMES

ALL = SPEED_RULE_NAMES
POOLS = ("tiled_max_pool", "max_pool_gradient")


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setattr(_compile, "on_cpu", lambda: True)


@pytest.fixture
def accelerator(monkeypatch):
    monkeypatch.setattr(_compile, "on_cpu", lambda: False)


def test_auto_is_the_default_and_means_every_rule_on_a_cpu(cpu):
    assert Config().speed_rewrites == "auto" and config.speed_rewrites == "auto"
    assert _compile.speed_rule_names() == ALL
    assert _compile.settings_key() == ("speed_rewrites", ALL)


def test_auto_means_no_rule_on_an_accelerator(accelerator):
    assert _compile.speed_rule_names() == ()
    with config.override(speed_rewrites=True):
        assert _compile.speed_rule_names() == ALL


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (False, ()),
        (True, ALL),
        ({"max_pool_gradient", "tiled_max_pool"}, POOLS),
        (["loops"], ("loops",)),
        ((), ()),
    ],
)
def test_override_chooses_rules_in_priority_order_and_restores(cpu, value, names):
    with config.override(speed_rewrites=value):
        assert _compile.speed_rule_names() == names
        assert _compile.settings_key() == ("speed_rewrites", names)
    assert _compile.speed_rule_names() == ALL


def test_override_is_restored_after_an_error_and_nests(cpu):
    with pytest.raises(RuntimeError), config.override(speed_rewrites=False):
        raise RuntimeError
    assert config.speed_rewrites == "auto"
    with config.override(speed_rewrites=False):
        with config.override(speed_rewrites=POOLS):
            assert _compile.speed_rule_names() == POOLS
        assert _compile.speed_rule_names() == ()


def test_override_holds_in_its_own_thread_only(cpu):
    seen = {}
    inside, checked = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen["other"] = _compile.speed_rule_names()
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with config.override(speed_rewrites=False):
        inside.set()
        checked.wait()
        seen["this"] = _compile.speed_rule_names()
    thread.join()
    assert seen == {"other": ALL, "this": ()}


def test_setting_applies_to_every_thread(cpu):
    seen = []
    try:
        config.speed_rewrites = False
        thread = threading.Thread(target=lambda: seen.append(_compile.speed_rule_names()))
        thread.start()
        thread.join()
    finally:
        config.speed_rewrites = "auto"
    assert seen == [()]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("off", r"got 'off'; allowed: \"auto\", True, False"),
        (None, "got None"),
        (1, "got 1"),
        ({"tiled_max_pool", "max_pools"}, "got unknown rule name.*'max_pools'.*tiled_max_pool"),
        (
            ["layer_taps"],
            "got unknown rule name.*'layer_taps'",
        ),  # a method's rule cannot be turned off
    ],
)
def test_bad_values_are_refused_with_what_is_allowed(value, message):
    with pytest.raises(ValueError, match=f"speed_rewrites: {message}"):
        config.speed_rewrites = value
    with (
        pytest.raises(ValueError, match=f"speed_rewrites: {message}"),
        config.override(speed_rewrites=value),
    ):
        pass
    assert config.speed_rewrites == "auto"


def test_rewrite_rules_describe_every_rule():
    described = config.rewrite_rules()
    assert list(described) == ["layer_taps", "relu_rules", *ALL]
    assert "6x slower" in described["tiled_max_pool"] and "1/5" in described["narrow_convolution"]


def test_jit_rewrites_once_when_on_and_not_when_off(cpu, monkeypatch):
    rewritten = []
    real_rewrite = _jaxpr.rewrite

    def spy(fn, rules):
        rewritten.append(tuple(rule.name for rule in rules))
        return real_rewrite(fn, rules)

    monkeypatch.setattr(_jaxpr, "rewrite", spy)

    def pooled_gradient(x):
        return jax.grad(lambda x: nnx.max_pool(jnp.sin(x), (2, 2), strides=(2, 2)).sum())(x)

    program = _compile.jit(pooled_gradient)
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    on = program(x)
    with config.override(speed_rewrites=False):
        off = program(x)
    again = program(x)
    with config.override(speed_rewrites=False):
        program(x)
    assert rewritten == [ALL]  # rewritten once, when on; the program is reused
    np.testing.assert_array_equal(on, again)
    np.testing.assert_allclose(on, off, rtol=1e-6)
