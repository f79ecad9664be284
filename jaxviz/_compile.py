"""How jaxviz compiles its own programs: `jit` with XLA options and kernel rewrites chosen for
the backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from . import _jaxpr


def on_cpu() -> bool:
    """Whether jaxviz's programs run on a CPU (the default backend), where it tunes them."""
    return jax.default_backend() == "cpu"


def compiler_options() -> dict[str, str]:
    """XLA options for jaxviz's programs on the default backend.

    On a CPU, XLA hands convolutions to YNNPACK by default, which runs each one on a single
    core; XLA's own (Eigen) convolutions use every core, so a 2-core machine explains about
    twice as fast without YNNPACK (benchmarks/RESULTS.md, "Where the time goes"). Only jaxviz's
    own programs are compiled this way; the user's are untouched.
    """
    return {"xla_cpu_experimental_ynn_fusion_type": ""} if on_cpu() else {}


def fast_kernels() -> _jaxpr.FastKernels:
    """The kernel rewrites for jaxviz's programs on the default backend (see
    `_jaxpr.with_fast_kernels`): max pools everywhere, convolutions on a CPU."""
    return _jaxpr.FastKernels.for_cpu() if on_cpu() else _jaxpr.FastKernels()


def jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`jax.jit` of `fn` with jaxviz's kernel rewrites and compiler options."""
    return jax.jit(
        _jaxpr.with_fast_kernels(fn, fast_kernels()), compiler_options=compiler_options()
    )
