"""How jaxviz compiles its own programs: `jit` with XLA options and the speed rewrites chosen for
the backend and by `jaxviz.config`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import jax

from . import _jaxpr, _rewrites
from ._config import config


@functools.cache
def on_cpu() -> bool:
    """Whether jaxviz's programs run on a CPU (the default backend), where it tunes them.
    (Asked once: JAX fixes its backends when it first uses one, and every call reads this.)"""
    return jax.default_backend() == "cpu"


def compiler_options() -> dict[str, str]:
    """XLA options for jaxviz's programs on the default backend.

    On a CPU, XLA hands convolutions to YNNPACK by default, which runs each one on a single
    core; XLA's own (Eigen) convolutions use every core, so a 2-core machine explains about
    twice as fast without YNNPACK (benchmarks/RESULTS.md, "Where the time goes"). Only jaxviz's
    own programs are compiled this way; the user's are untouched.
    """
    return {"xla_cpu_experimental_ynn_fusion_type": ""} if on_cpu() else {}


def speed_rule_names() -> tuple[str, ...]:
    """The speed rules `jaxviz.config.speed_rewrites` turns on here and now (in this thread, on
    the default backend), in priority order."""
    setting = config.speed_rewrites
    if setting == "auto":
        setting = on_cpu()
    if isinstance(setting, bool):
        return _rewrites.SPEED_RULE_NAMES if setting else ()
    return tuple(name for name in _rewrites.SPEED_RULE_NAMES if name in setting)


def settings_key() -> Hashable:
    """A hashable that changes whenever the settings that shape a compiled program do: programs
    built under different keys must not be shared."""
    return ("speed_rewrites", speed_rule_names())


def jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`jax.jit` of `fn` with jaxviz's compiler options and the speed rewrites
    `jaxviz.config` turns on when it is called (one compiled program per setting)."""
    options = compiler_options()
    by_rules: dict[tuple[str, ...], Callable[..., Any]] = {}

    def call(*args):
        names = speed_rule_names()
        program = by_rules.get(names)
        if program is None:
            rules = [_rewrites.RULES[name] for name in names]
            program = by_rules[names] = jax.jit(
                _jaxpr.rewrite(fn, rules) if rules else fn, compiler_options=options
            )
        return program(*args)

    return call
