"""Activation functions and losses with their derivatives (by ``jax.grad``), for teaching.

Each function is a scalar ``f(x, **params)``; ``function_curves`` evaluates it and ``jax.grad`` of
it over a grid of x, vmapped over a grid of each parameter, so a widget can offer every parameter
value without another kernel call. Losses are drawn as a function of the prediction (a logit ``z``
for cross-entropy and hinge) for a fixed target. "Flat" marks where ``|f'|`` is below a tenth of
its peak on the plotted range: the saturation regions of sigmoid and tanh, ReLU's dead side, a
hinge loss beyond its margin (the threshold ``flow_stats`` uses for saturated units).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._stats import SATURATION_DERIVATIVE_FRACTION


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    low: float
    high: float
    step: float

    @property
    def grid(self) -> np.ndarray:
        return np.round(np.arange(self.low, self.high + self.step / 2, self.step), 6)


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # "activation" | "loss"
    fn: Callable[..., jax.Array]
    params: tuple[Param, ...] = ()
    formula: str = ""
    x_label: str = "x (pre-activation)"


def _softplus(x, beta):
    return jax.nn.softplus(beta * x) / beta


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            "sigmoid", "activation", lambda x: jax.nn.sigmoid(x), (), "σ(x) = 1 / (1 + e^(−x))"
        ),
        Function("tanh", "activation", lambda x: jnp.tanh(x), (), "tanh(x)"),
        Function("relu", "activation", lambda x: jax.nn.relu(x), (), "max(0, x)"),
        Function(
            "leaky_relu",
            "activation",
            lambda x, slope: jnp.where(x >= 0, x, slope * x),
            (Param("slope", 0.1, 0.0, 0.5, 0.05),),
            "x if x ≥ 0 else slope·x",
        ),
        Function(
            "elu",
            "activation",
            lambda x, alpha: jax.nn.elu(x, alpha),
            (Param("alpha", 1.0, 0.2, 2.0, 0.2),),
            "x if x > 0 else α(eˣ − 1)",
        ),
        Function("gelu", "activation", lambda x: jax.nn.gelu(x, approximate=False), (), "x·Φ(x)"),
        Function(
            "softplus",
            "activation",
            _softplus,
            (Param("beta", 1.0, 0.5, 5.0, 0.5),),
            "log(1 + e^(βx)) / β",
        ),
        Function(
            "mse",
            "loss",
            lambda z, target: (z - target) ** 2,
            (Param("target", 0.0, -2.0, 2.0, 0.5),),
            "(ŷ − y)²",
            "prediction ŷ",
        ),
        Function(
            "cross_entropy",
            "loss",
            lambda z, target: jax.nn.softplus(z) - target * z,
            (Param("target", 1.0, 0.0, 1.0, 0.1),),
            "−y·log σ(z) − (1 − y)·log(1 − σ(z))",
            "logit z",
        ),
        Function(
            "hinge",
            "loss",
            lambda z, target: jax.nn.relu(1 - target * z),
            (Param("target", 1.0, -1.0, 1.0, 2.0),),
            "max(0, 1 − y·z),  y = ±1",
            "score z",
        ),
        Function(
            "huber",
            "loss",
            lambda z, delta: jnp.where(
                jnp.abs(z) <= delta, 0.5 * z**2, delta * (jnp.abs(z) - 0.5 * delta)
            ),
            (Param("delta", 1.0, 0.25, 3.0, 0.25),),
            "½r² if |r| ≤ δ else δ(|r| − δ/2)",
            "residual r = ŷ − y",
        ),
    )
}


def _check_name(name: str) -> Function:
    if name not in FUNCTIONS:
        raise ValueError(f"name: expected one of {', '.join(FUNCTIONS)}, got {name!r}.")
    return FUNCTIONS[name]


def flat_region(derivative: np.ndarray) -> np.ndarray:
    """Where |f'| is below a tenth of its peak over the plotted range (along the last axis)."""
    magnitude = np.abs(derivative)
    return magnitude < SATURATION_DERIVATIVE_FRACTION * magnitude.max(axis=-1, keepdims=True)


def function_curves(name: str, x=None, **params) -> dict[str, np.ndarray]:
    """``{"x", "value", "derivative", "flat"}`` of one function at given parameter values.

    Args:
      name: one of ``FUNCTIONS`` (sigmoid, tanh, relu, leaky_relu, elu, gelu, softplus, mse,
        cross_entropy, hinge, huber).
      x: the points (default 401 points on [-6, 6]).
      params: the function's parameters (defaults from ``FUNCTIONS[name].params``).

    >>> c = function_curves("sigmoid", x=np.array([0.0]))
    >>> float(c["value"][0]), float(c["derivative"][0])
    (0.5, 0.25)
    """
    spec = _check_name(name)
    known = {p.name: p.default for p in spec.params}
    unknown = set(params) - set(known)
    if unknown:
        raise ValueError(
            f"params: {name} takes {sorted(known) or 'no parameters'}, got {sorted(unknown)}."
        )
    values = {**known, **params}
    x = np.linspace(-6.0, 6.0, 401) if x is None else np.asarray(x, np.float32)
    f = lambda t: spec.fn(t, **values)  # noqa: E731
    xs = jnp.asarray(x, jnp.float32)
    value, derivative = np.asarray(jax.vmap(f)(xs)), np.asarray(jax.vmap(jax.grad(f))(xs))
    return {
        "x": np.asarray(x),
        "value": value,
        "derivative": derivative,
        "flat": flat_region(derivative),
    }


def function_table(x=None) -> dict[str, dict]:
    """Every function over x, for every value of its (single) parameter's grid.

    Returns ``{name: {"kind", "formula", "param" (name or None), "grid", "value", "derivative",
    "flat"}}`` with arrays shaped ``(len(grid), len(x))`` (one row when there is no parameter).
    """
    x = np.linspace(-6.0, 6.0, 401) if x is None else np.asarray(x)
    xs = jnp.asarray(x, jnp.float32)
    table = {}
    for name, spec in FUNCTIONS.items():
        param = spec.params[0] if spec.params else None
        grid = param.grid if param else np.zeros(1)

        def curves(p, spec=spec, param=param):
            f = (lambda t: spec.fn(t, **{param.name: p})) if param else spec.fn
            return jax.vmap(f)(xs), jax.vmap(jax.grad(f))(xs)

        value, derivative = jax.jit(jax.vmap(curves))(jnp.asarray(grid, jnp.float32))
        derivative = np.asarray(derivative)
        table[name] = {
            "kind": spec.kind,
            "formula": spec.formula,
            "x_label": spec.x_label,
            "param": param.name if param else None,
            "default": param.default if param else None,
            "grid": grid,
            "value": np.asarray(value),
            "derivative": derivative,
            "flat": flat_region(derivative),
        }
    return table
