"""The affine start of a network, where a straight path through input space stays straight.

Most networks begin with an affine map of their input: a convolution or dense layer and its
bias, often after an input scaling, and in evaluation mode followed by batch norm. Integrated
gradients evaluates the network at the points ``b + alpha (x - b)``; through an affine map ``A``
those are ``A(b) + alpha (A(x) - A(b))``, so the points can be formed after ``A`` from two
evaluations of it per example instead of one per step. ``A``'s input gradient is linear too:
the weighted sum of the steps' gradients at ``A``'s output is pulled back through ``A`` once per
example. The rest of the network runs at every step as before; the integral is the same, up to
float rounding.

``split`` finds ``A`` in the model's jaxpr: the equations that are affine in the input (sums,
products with one input-dependent factor, convolutions and matrix products with the weights,
reshapes, pads, slices, reductions) up to the first that is not (a ReLU, a max pool, a square).
The values crossing that boundary are the *frontier*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.core
import jax.numpy as jnp
from jax.extend import core as jcore

from .. import _jaxpr

# How a primitive's output depends on its operands when some of them depend on the input.
_ANY_OPERANDS = {"add", "sub", "add_any", "concatenate"}  # affine in all of them together
_ONE_OPERAND = {"mul", "dot_general", "conv_general_dilated"}  # affine in any one of them alone
_FIRST_OPERAND = {  # affine in the first operand, the others fixed
    "neg", "reshape", "squeeze", "expand_dims", "broadcast_in_dim", "transpose", "rev", "slice",
    "copy", "copy_p", "reduce_sum", "reduce_window_sum", "cumsum", "pad", "dynamic_slice", "gather",
    "div", "convert_element_type",
}  # fmt: skip
# The work a prefix must hold to be worth cutting off: the rest is elementwise and cheap.
_COSTLY = {"dot_general", "conv_general_dilated"}

_FIXED, _AFFINE, _OTHER = "fixed", "affine", "other"


@dataclasses.dataclass(frozen=True)
class _Cut:
    closed: jcore.ClosedJaxpr  # apply(params, rows), traced
    prefix: jcore.Jaxpr  # (params..., rows) -> frontier
    suffix: jcore.Jaxpr  # (params..., frontier...) -> logits


def _aval(var: jcore.Var | jcore.Literal) -> jax.core.ShapedArray:
    """A variable's abstract value: always a shaped array in a model's jaxpr (the type says
    only AbstractValue)."""
    return cast(jax.core.ShapedArray, var.aval)


def _kind(eqn: jcore.JaxprEqn, kinds: list[str]) -> str:
    """_FIXED, _AFFINE or _OTHER for the outputs of `eqn`, given its operands' kinds."""
    varying = [i for i, k in enumerate(kinds) if k != _FIXED]
    if not varying:
        return _FIXED
    if _OTHER in kinds:
        return _OTHER
    name = eqn.primitive.name
    if name in _ANY_OPERANDS or (name in _ONE_OPERAND and len(varying) == 1):
        return _AFFINE
    if name in _FIRST_OPERAND and varying == [0]:
        if name == "convert_element_type":
            floats = jnp.issubdtype(_aval(eqn.invars[0]).dtype, jnp.floating)
            return (
                _AFFINE
                if floats and jnp.issubdtype(eqn.params["new_dtype"], jnp.floating)
                else _OTHER
            )
        return _AFFINE
    if name in _jaxpr.CALL_PRIMITIVES:
        body = eqn.params[_jaxpr.CALL_PRIMITIVES[name]].jaxpr
        outputs, _ = _classify(body, kinds)
        return _OTHER if _OTHER in outputs else _AFFINE
    return _OTHER


def _classify(jaxpr: jcore.Jaxpr, input_kinds: list[str]) -> tuple[list[str], list[str]]:
    """The kinds of `jaxpr`'s outputs and of each of its equations."""
    kind_of: dict[jcore.Var, str] = dict(zip(jaxpr.invars, input_kinds, strict=True))

    def kind(v) -> str:
        return _FIXED if isinstance(v, jcore.Literal) else kind_of.get(v, _FIXED)

    eqn_kinds = []
    for eqn in jaxpr.eqns:
        k = _kind(eqn, [kind(v) for v in eqn.invars])
        eqn_kinds.append(k)
        kind_of.update((v, k) for v in eqn.outvars)
    return [kind(v) for v in jaxpr.outvars], eqn_kinds


def _costly(eqn: jcore.JaxprEqn) -> bool:
    if eqn.primitive.name in _COSTLY:
        return True
    return any(_costly(e) for body in jcore.jaxprs_in_params(eqn.params) for e in body.eqns)


def _cut(apply: Callable, params: Any, rows: jax.ShapeDtypeStruct) -> _Cut | None:
    closed = jax.make_jaxpr(apply)(params, rows)
    jaxpr = closed.jaxpr
    *param_vars, x = jaxpr.invars
    _, eqn_kinds = _classify(jaxpr, [_FIXED] * len(param_vars) + [_AFFINE])
    affine = {
        v for eqn, k in zip(jaxpr.eqns, eqn_kinds, strict=True) if k == _AFFINE for v in eqn.outvars
    }
    affine.add(x)

    def crossing(atoms) -> list[jcore.Var]:
        return [v for v in atoms if isinstance(v, jcore.Var) and v in affine]

    frontier: list[jcore.Var] = []
    for eqn, k in zip(jaxpr.eqns, eqn_kinds, strict=True):
        if k == _OTHER:
            frontier += [v for v in crossing(eqn.invars) if v not in frontier]
    frontier += [v for v in crossing(jaxpr.outvars) if v not in frontier]
    worth_it = any(_costly(e) for e, k in zip(jaxpr.eqns, eqn_kinds, strict=True) if k == _AFFINE)
    floats = all(jnp.dtype(_aval(v).dtype) == jnp.float32 for v in frontier)
    if not worth_it or not floats or frontier == [x]:
        return None
    prefix_eqns = [e for e, k in zip(jaxpr.eqns, eqn_kinds, strict=True) if k != _OTHER]
    suffix_eqns = [e for e, k in zip(jaxpr.eqns, eqn_kinds, strict=True) if k != _AFFINE]
    info = jaxpr.debug_info.with_unknown_names()
    return _Cut(
        closed,
        jaxpr.replace(
            outvars=frontier, eqns=prefix_eqns, debug_info=info._replace(result_paths=None)
        ),
        jaxpr.replace(
            invars=[*param_vars, *frontier],
            eqns=suffix_eqns,
            debug_info=info._replace(arg_names=None),
        ),
    )


class AffineSplit:
    """`apply(params, rows)` as `suffix(prefix(rows))`, where `prefix` is affine in `rows` and
    returns the frontier: a tuple of (rows, ...) arrays. Build it with `split`."""

    def __init__(self, apply: Callable, params: Any, first: _Cut):
        self._apply, self._params = apply, params
        self._cuts = {_spec_key(first.closed.jaxpr.invars[-1].aval): first}

    def prefix(self, rows: jax.Array) -> tuple[jax.Array, ...]:
        cut = self._cut(rows)
        return tuple(
            _jaxpr.evaluate(jcore.ClosedJaxpr(cut.prefix, cut.closed.consts), *self._leaves(), rows)
        )

    def transpose(self, x: jax.Array) -> Callable[[tuple[jax.Array, ...]], tuple[jax.Array, ...]]:
        """The prefix's input gradient: frontier cotangents for inputs like `x` -> `(grad,)`."""
        return jax.vjp(self.prefix, x)[1]

    def suffix(self, frontier: tuple[jax.Array, ...], rows: jax.ShapeDtypeStruct) -> jax.Array:
        """The logits from the frontier of inputs shaped and typed like `rows`."""
        cut = self._cut(rows)
        (logits,) = _jaxpr.evaluate(
            jcore.ClosedJaxpr(cut.suffix, cut.closed.consts), *self._leaves(), *frontier
        )
        return logits

    def _cut(self, rows) -> _Cut:
        key = _spec_key(rows)
        if key not in self._cuts:
            cut = _cut(self._apply, self._params, jax.ShapeDtypeStruct(rows.shape, rows.dtype))
            if cut is None:
                raise ValueError(
                    f"the model's affine start changed with its input's shape {rows.shape}"
                )
            self._cuts[key] = cut
        return self._cuts[key]

    def _leaves(self) -> list[Any]:
        return jax.tree.leaves(self._params)


def _spec_key(rows) -> tuple:
    return tuple(rows.shape), jnp.dtype(rows.dtype)


class Unsplit:
    """The same interface for a model without an affine start worth cutting off: the frontier
    is the input itself."""

    def __init__(self, apply: Callable, params: Any):
        self._apply, self._params = apply, params

    def prefix(self, rows: jax.Array) -> tuple[jax.Array, ...]:
        return (rows,)

    def transpose(self, x: jax.Array) -> Callable[[tuple[jax.Array, ...]], tuple[jax.Array, ...]]:
        return lambda cotangents: cotangents

    def suffix(self, frontier: tuple[jax.Array, ...], rows: jax.ShapeDtypeStruct) -> jax.Array:
        return self._apply(self._params, frontier[0])


def split(apply: Callable, params: Any, x: jax.Array) -> AffineSplit | Unsplit:
    """`apply` split after its affine start; `Unsplit` where that start holds no matrix product
    or convolution (nothing worth saving), is the input itself, or is not float32 (the steps'
    gradients are summed in float32 before they are pulled back through it)."""
    first = _cut(apply, params, jax.ShapeDtypeStruct(x.shape, x.dtype))
    return Unsplit(apply, params) if first is None else AffineSplit(apply, params, first)
