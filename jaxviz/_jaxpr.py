"""Re-evaluate a traced model with rewrites: `checkpoint_name` taps, swapped ReLU rules, and
faster kernels for two operations XLA runs slowly.

Plain functions name their layers with `jax.ad_checkpoint.checkpoint_name`, which leaves a `name`
equation in the jaxpr; guided backprop and deconvnet need `jax.nn.relu` (a `custom_jvp` around
`max(x, 0)`) to carry another backward rule. Both are reached by evaluating the model's jaxpr in
the caller's trace (so it composes with `jit`, `vmap` and `grad`) and rewriting those equations.
The engine evaluates each explanation program (gradients included) the same way to replace
max-pool gradients and narrow convolutions (`with_fast_kernels`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

TagHook = Callable[[str, jax.Array], jax.Array]
ReluRule = Callable[[jax.Array], jax.Array]

_CALL_PRIMITIVES = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr"}
# Constructs whose body a rewrite cannot enter without changing what they compute or how.
_OPAQUE_NAMES = {
    "checkpoint": "jax.checkpoint / remat",
    "remat": "jax.checkpoint / remat",
    "scan": "lax.scan (or nnx.scan / linen.scan)",
    "while": "lax.while_loop / fori_loop",
    "cond": "lax.cond / lax.switch",
    "custom_vjp_call": "a jax.custom_vjp function",
    "custom_vjp_call_jaxpr": "a jax.custom_vjp function",
    "custom_jvp_call": "a jax.custom_jvp function",
}


class UnreachableReluError(ValueError):
    """A ReLU sits inside a construct whose backward rule cannot be swapped."""


def _sub_jaxprs(params: dict[str, Any]) -> Iterator[jcore.Jaxpr]:
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, jcore.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jcore.Jaxpr):
                yield item


def is_relu(eqn: jcore.JaxprEqn) -> bool:
    """True for the equation `jax.nn.relu` leaves behind (also `nnx.relu`, `linen.relu`)."""
    if eqn.primitive.name != "custom_jvp_call":
        return False
    body = eqn.params["call_jaxpr"].jaxpr
    if len(body.eqns) == 1 and body.eqns[0].primitive.name in _CALL_PRIMITIVES:
        inner = body.eqns[0]
        if inner.params.get("name") == "relu":
            return True
        body = inner.params[_CALL_PRIMITIVES[inner.primitive.name]].jaxpr
    return (
        len(body.eqns) == 1
        and body.eqns[0].primitive.name == "max"
        and any(isinstance(v, jcore.Literal) and v.val == 0 for v in body.eqns[0].invars)
    )


def count_relus(jaxpr: jcore.Jaxpr) -> int:
    """How many ReLUs the jaxpr applies, nested calls included."""
    return sum(1 if is_relu(e) else count_relus_in(e.params) for e in jaxpr.eqns)


def count_relus_in(params: dict[str, Any]) -> int:
    return sum(count_relus(j) for j in _sub_jaxprs(params))


@dataclasses.dataclass(frozen=True)
class FastKernels:
    """Which slow XLA kernels to replace (see `with_fast_kernels`)."""

    pool_gradients: bool = True
    narrow_convolutions: bool = False


def evaluate(
    closed: jcore.ClosedJaxpr,
    *args: Any,
    on_tag: TagHook | None = None,
    relu: ReluRule | None = None,
    fast: FastKernels | None = None,
) -> list[Any]:
    """Evaluate `closed` on `args` in the current trace, rewriting tags and (optionally) ReLUs
    and slow kernels (see `with_fast_kernels`)."""
    return _eval(closed.jaxpr, closed.consts, list(args), on_tag, relu, fast)


def with_fast_kernels(fn: Callable[..., Any], fast: FastKernels) -> Callable[..., Any]:
    """`fn` computing the same values with kernels that XLA runs slowly replaced.

    - `pool_gradients`: every max-pool gradient over non-overlapping windows
      (`select_and_scatter_add`, the transpose of `reduce_window_max`) becomes a first-max mask.
      XLA's CPU backend lowers it to a serial scatter that took a third of a CIFAR-size CNN's
      input-gradient time; the mask is elementwise and fuses. Like XLA's rule, it routes each
      window's gradient to its first maximum, so results are unchanged.
    - `narrow_convolutions`: convolutions with at most `NARROW_FEATURES` output channels (above
      all the input gradient of an image model's first layer, which has the image's 1-4
      channels) become one matrix product followed by shifted sums (`_narrow_convolution`).
      XLA:CPU's convolution ran that case at 1/5 of the speed (benchmarks/RESULTS.md).
    """

    def rewritten(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        out = evaluate(closed, *jax.tree.leaves(args), fast=fast)
        return jax.tree.unflatten(jax.tree.structure(out_shape), out)

    return rewritten


def _tiles(operand_shape, params) -> bool:
    windows, strides = params["window_dimensions"], params["window_strides"]
    return (
        tuple(windows) == tuple(strides)
        and all(lo == hi == 0 for lo, hi in params["padding"])
        and all(n % w == 0 for n, w in zip(operand_shape, windows, strict=True))
    )


def _scatter_to_first_extremum(source, operand, select_prim, windows):
    """`select_and_scatter_add` for windows that tile `operand` exactly (stride == window)."""
    rank = operand.ndim
    tiled = operand.reshape([d for n, w in zip(operand.shape, windows) for d in (n // w, w)])
    outer, inner = list(range(0, 2 * rank, 2)), list(range(1, 2 * rank, 2))
    flat = tiled.transpose(outer + inner).reshape(source.shape + (-1,))
    pick = jnp.argmax if select_prim is jax.lax.ge_p else jnp.argmin
    routed = jax.nn.one_hot(pick(flat, axis=-1), flat.shape[-1], dtype=source.dtype) * source[..., None]
    routed = routed.reshape(source.shape + tuple(windows))
    return routed.transpose([i for axis in range(rank) for i in (axis, rank + axis)]).reshape(operand.shape)


# Wider outputs ran as fast or faster through XLA's convolution (16 channels: a tie).
NARROW_FEATURES = 4


def _is_narrow_convolution(eqn: jcore.JaxprEqn) -> bool:
    if eqn.primitive.name != "conv_general_dilated":
        return False
    params = eqn.params
    return (
        eqn.outvars[0].aval.shape[params["dimension_numbers"].out_spec[1]] <= NARROW_FEATURES
        and params["feature_group_count"] == params["batch_group_count"] == 1
        and all(d == 1 for d in params["lhs_dilation"])
    )


def _narrow_convolution(lhs, rhs, params):
    """`conv_general_dilated` (no input dilation or groups) as channels x (taps x outputs)
    matrix product, then a strided, shifted sum over the taps."""
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    x = jnp.transpose(lhs, (lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))  # (N, *spatial, C)
    w = jnp.transpose(rhs, (*rhs_spec[2:], rhs_spec[1], rhs_spec[0]))  # (*taps, C, O)
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *((lo, hi, 0) for lo, hi in params["padding"]), (0, 0, 0)])
    taps, (channels, outputs) = w.shape[:-2], w.shape[-2:]
    by_tap = jnp.moveaxis(w.reshape(-1, channels, outputs), 0, 1).reshape(channels, -1)
    cols = jnp.dot(x, by_tap, preferred_element_type=params["preferred_element_type"]).reshape(
        x.shape[:-1] + (-1, outputs)
    )
    strides, dilation = params["window_strides"], params["rhs_dilation"]
    sizes = [(n - (t - 1) * d - 1) // s + 1 for n, t, d, s in zip(x.shape[1:-1], taps, dilation, strides, strict=True)]
    out = 0
    for k, tap in enumerate(itertools.product(*map(range, taps))):
        start = [t * d for t, d in zip(tap, dilation, strict=True)]
        out = out + jax.lax.slice(
            cols[..., k, :],
            (0, *start, 0),
            (x.shape[0], *(b + (n - 1) * s + 1 for b, n, s in zip(start, sizes, strides, strict=True)), outputs),
            (1, *strides, 1),
        )
    order = (out_spec[0], *out_spec[2:], out_spec[1])  # the output axis each of ours becomes
    out_dtype = params["preferred_element_type"] or lhs.dtype  # as the convolution's own output
    return jnp.transpose(out, sorted(range(len(order)), key=order.__getitem__)).astype(out_dtype)


def _eval(jaxpr, consts, args, on_tag, relu, fast=None):
    env: dict[jcore.Var, Any] = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value

    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "name" and on_tag is not None:
            outvals = [on_tag(eqn.params["name"], invals[0])]
        elif relu is not None and is_relu(eqn):
            outvals = [relu(invals[0])]
        elif fast is not None and fast.narrow_convolutions and _is_narrow_convolution(eqn):
            outvals = [_narrow_convolution(*invals, eqn.params)]
        elif (
            fast is not None
            and fast.pool_gradients
            and name == "select_and_scatter_add"
            and eqn.params["select_prim"] in (jax.lax.ge_p, jax.lax.le_p)
            and _tiles(invals[1].shape, eqn.params)
        ):
            outvals = [_scatter_to_first_extremum(*invals, eqn.params["select_prim"], eqn.params["window_dimensions"])]
        elif name in _CALL_PRIMITIVES and (on_tag or relu or fast):
            sub = eqn.params[_CALL_PRIMITIVES[name]]
            outvals = _eval(sub.jaxpr, sub.consts, invals, on_tag, relu, fast)
        elif name in ("checkpoint", "remat") and on_tag is not None and relu is None:
            # Taps inline a remat: the same numbers, only its memory trade-off is lost.
            outvals = _eval(eqn.params["jaxpr"], (), invals, on_tag, relu, fast)
        else:
            if relu is not None and count_relus_in(eqn.params):
                construct = _OPAQUE_NAMES.get(name, f"a `{name}` construct")
                raise UnreachableReluError(
                    f"the model applies a ReLU inside {construct}, where jaxviz cannot swap its "
                    "backward rule; guided backprop and deconvnet would silently fall back to "
                    "plain gradients there. Move the ReLU out of that construct (e.g. unroll the "
                    "scan, drop the remat) to use this method."
                )
            with eqn.ctx.manager:
                outvals = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
            if not eqn.primitive.multiple_results:
                outvals = [outvals]
        for var, value in zip(eqn.outvars, outvals, strict=True):
            if not isinstance(var, jcore.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]
