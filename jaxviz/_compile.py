"""How jaxviz compiles its own programs: `jit` with XLA options chosen for the backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax


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


def jit(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """`jax.jit` with jaxviz's compiler options."""
    return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
