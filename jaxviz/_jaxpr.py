"""Re-evaluate a traced model with rewrites: `checkpoint_name` taps, swapped ReLU rules, and
faster forms of operations XLA:CPU runs slowly.

Plain functions name their layers with `jax.ad_checkpoint.checkpoint_name`, which leaves a `name`
equation in the jaxpr; guided backprop and deconvnet need `jax.nn.relu` (a `custom_jvp` around
`max(x, 0)`) to carry another backward rule. Both are reached by evaluating the model's jaxpr in
the caller's trace (so it composes with `jit`, `vmap` and `grad`) and rewriting those equations.
jaxviz's programs (gradients included) are evaluated the same way to replace max pools, their
gradients and convolutions that XLA:CPU runs slowly (`with_fast_kernels`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, cast

import jax
import jax.core
import jax.numpy as jnp
from jax.extend import core as jcore

TagHook = Callable[[str, jax.Array], jax.Array]
ReluRule = Callable[[jax.Array], jax.Array]

CALL_PRIMITIVES = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
}
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
    if len(body.eqns) == 1 and body.eqns[0].primitive.name in CALL_PRIMITIVES:
        inner = body.eqns[0]
        if inner.params.get("name") == "relu":
            return True
        body = inner.params[CALL_PRIMITIVES[inner.primitive.name]].jaxpr
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

    max_pools: bool = True
    narrow_convolutions: bool = False
    canonical_convolutions: bool = False

    @classmethod
    def for_cpu(cls) -> FastKernels:
        return cls(narrow_convolutions=True, canonical_convolutions=True)


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

    - `max_pools`: max (and min) pools over windows that tile their input (stride == window)
      become the elementwise maximum of strided slices, which fuses with the layer before it
      (XLA:CPU's `reduce_window` ran 6x slower), and their gradients (`select_and_scatter_add`)
      a first-max mask: XLA:CPU's serial scatter took a third of a CIFAR-size CNN's
      input-gradient time, the mask is elementwise. Like XLA's rule, the mask routes each
      window's gradient to its first maximum, so results are unchanged.
    - `narrow_convolutions`: convolutions with at most `NARROW_FEATURES` output channels (above
      all the input gradient of an image model's first layer, which has the image's 1-4
      channels) become one matrix product followed by shifted sums (`_narrow_convolution`);
      those with at most `NARROW_FEATURES` input channels (the first layer itself) become a
      matrix product of the input's patches (`_few_input_convolution`). XLA:CPU's convolution
      ran them at 1/5 and 1/1.6 (1/2.2 for one channel) of that speed.
    - `canonical_convolutions`: every other convolution takes its operands in the layout
      XLA:CPU's fast convolution works in, (batch, *spatial, features) and (*spatial, in, out).
      XLA arranges that itself at the top level of a program, but not inside a loop body, where
      an input gradient (whose kernel is (out, in)-transposed) fell back to a loop 25-50x slower.

    Loop bodies (`while`, `scan`, `cond`) are rewritten too.
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
        and all(
            d == 1 for d in (*params.get("base_dilation", ()), *params.get("window_dilation", ()))
        )
    )


def _tiled_pool(operand, windows, combine):
    """A pool over windows that tile `operand`: `combine` (maximum, minimum) of the slices that
    hold each window's element at one offset."""
    offsets = itertools.product(*map(range, windows))
    return functools.reduce(
        combine, (jax.lax.slice(operand, o, operand.shape, windows) for o in offsets)
    )


_TILED_POOLS = {"reduce_window_max": jnp.maximum, "reduce_window_min": jnp.minimum}


def _scatter_to_first_extremum(source, operand, select_prim, windows):
    """`select_and_scatter_add` for windows that tile `operand` exactly (stride == window)."""
    rank = operand.ndim
    tiled = operand.reshape([d for n, w in zip(operand.shape, windows) for d in (n // w, w)])
    outer, inner = list(range(0, 2 * rank, 2)), list(range(1, 2 * rank, 2))
    flat = tiled.transpose(outer + inner).reshape(source.shape + (-1,))
    pick = jnp.argmax if select_prim is jax.lax.ge_p else jnp.argmin
    routed = (
        jax.nn.one_hot(pick(flat, axis=-1), flat.shape[-1], dtype=source.dtype) * source[..., None]
    )
    routed = routed.reshape(source.shape + tuple(windows))
    return routed.transpose([i for axis in range(rank) for i in (axis, rank + axis)]).reshape(
        operand.shape
    )


# Wider outputs ran as fast or faster through XLA's convolution (16 channels: a tie); inputs
# wider than 4 ran slower as a patch product (8 channels: 1.6x slower).
NARROW_FEATURES = 4


def _plain_convolution(eqn: jcore.JaxprEqn) -> bool:
    params = eqn.params
    return (
        eqn.primitive.name == "conv_general_dilated"
        and params["feature_group_count"] == params["batch_group_count"] == 1
        and all(d == 1 for d in params["lhs_dilation"])
    )


def _is_narrow_convolution(eqn: jcore.JaxprEqn) -> bool:
    if not _plain_convolution(eqn):
        return False
    out = cast(jax.core.ShapedArray, eqn.outvars[0].aval)
    return out.shape[eqn.params["dimension_numbers"].out_spec[1]] <= NARROW_FEATURES


def _is_few_input_convolution(eqn: jcore.JaxprEqn) -> bool:
    if not _plain_convolution(eqn):
        return False
    kernel = cast(jax.core.ShapedArray, eqn.invars[1].aval)
    return kernel.shape[eqn.params["dimension_numbers"].rhs_spec[1]] <= NARROW_FEATURES


class _ChannelsLast(NamedTuple):
    """A convolution's operands as (N, *padded spatial, C) and (*taps, C, O), and where each tap's
    window of the padded input starts and steps."""

    x: jax.Array
    w: jax.Array
    sizes: tuple[int, ...]  # the output's spatial size
    params: dict[str, Any]

    @classmethod
    def of(cls, lhs, rhs, params) -> _ChannelsLast:
        x, w = _channels_last(lhs, rhs, params["dimension_numbers"])
        pads = [(0, 0, 0), *((lo, hi, 0) for lo, hi in params["padding"]), (0, 0, 0)]
        x = jax.lax.pad(x, jnp.zeros((), x.dtype), pads)
        taps = w.shape[:-2]
        sizes = tuple(
            (n - (t - 1) * d - 1) // s + 1
            for n, t, d, s in zip(
                x.shape[1:-1], taps, params["rhs_dilation"], params["window_strides"], strict=True
            )
        )
        return cls(x, w, sizes, params)

    def taps(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(*map(range, self.w.shape[:-2]))

    def window(self, array: jax.Array, tap: tuple[int, ...]) -> jax.Array:
        """The rows of `array` (laid out like the padded input) that `tap` multiplies for
        every output position: (N, *sizes, trailing...)."""
        strides = self.params["window_strides"]
        start = [t * d for t, d in zip(tap, self.params["rhs_dilation"], strict=True)]
        stop = [b + (n - 1) * s + 1 for b, n, s in zip(start, self.sizes, strides, strict=True)]
        rank = array.ndim - 1 - len(start)
        return jax.lax.slice(
            array,
            (0, *start) + (0,) * rank,
            (array.shape[0], *stop, *array.shape[-rank:]),
            (1, *strides) + (1,) * rank,
        )

    def channels_first(self, out: jax.Array, dtype) -> jax.Array:
        """`out` (N, *sizes, O) in the convolution's own output layout and dtype."""
        return _in_output_layout(out, self.params["dimension_numbers"]).astype(dtype)


def _channels_last(lhs, rhs, dimension_numbers) -> tuple[jax.Array, jax.Array]:
    """A convolution's operands as (N, *spatial, C) and (*taps, C, O)."""
    lhs_spec, rhs_spec, _ = dimension_numbers
    x = jnp.transpose(lhs, (lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))
    return x, jnp.transpose(rhs, (*rhs_spec[2:], rhs_spec[1], rhs_spec[0]))


def _in_output_layout(out: jax.Array, dimension_numbers) -> jax.Array:
    """An (N, *spatial, O) result in the convolution's own output layout."""
    out_spec = dimension_numbers.out_spec
    order = (out_spec[0], *out_spec[2:], out_spec[1])  # the output axis each of ours becomes
    return jnp.transpose(out, sorted(range(len(order)), key=order.__getitem__))


def _output_dtype(lhs, params):
    return params["preferred_element_type"] or lhs.dtype  # as the convolution's own output


def _narrow_convolution(lhs, rhs, params):
    """`conv_general_dilated` (no input dilation or groups) as channels x (taps x outputs)
    matrix product, then a strided, shifted sum over the taps."""
    conv = _ChannelsLast.of(lhs, rhs, params)
    channels, outputs = conv.w.shape[-2:]
    by_tap = jnp.moveaxis(conv.w.reshape(-1, channels, outputs), 0, 1).reshape(channels, -1)
    cols = jnp.dot(conv.x, by_tap, preferred_element_type=params["preferred_element_type"])
    cols = cols.reshape(conv.x.shape[:-1] + (-1, outputs))
    out = functools.reduce(
        jnp.add, (conv.window(cols[..., k, :], tap) for k, tap in enumerate(conv.taps()))
    )
    return conv.channels_first(out, _output_dtype(lhs, params))


def _few_input_convolution(lhs, rhs, params):
    """`conv_general_dilated` with few input channels as one matrix product of the input's
    patches, (N, *spatial, taps x channels), with the kernel, (taps x channels, O). (As a fused
    loop of multiply-adds it ran no faster in whole programs, where XLA then recomputed it in
    every elementwise consumer.)"""
    conv = _ChannelsLast.of(lhs, rhs, params)
    patches = jnp.concatenate([conv.window(conv.x, tap) for tap in conv.taps()], axis=-1)
    kernel = conv.w.reshape(-1, conv.w.shape[-1])
    out = jnp.dot(patches, kernel, preferred_element_type=params["preferred_element_type"])
    return conv.channels_first(out, _output_dtype(lhs, params))


def _bind(eqn: jcore.JaxprEqn, *invals, **changed):
    with eqn.ctx.manager:
        out = eqn.primitive.bind(
            *invals, **eqn.primitive.get_bind_params({**eqn.params, **changed})
        )
    return out if eqn.primitive.multiple_results else [out]


def _canonical_convolution(eqn: jcore.JaxprEqn, lhs, rhs):
    """The same convolution on operands transposed to (N, *spatial, C) and (*spatial, I, O), the
    layout XLA:CPU's fast convolution takes, and its output transposed back."""
    numbers = eqn.params["dimension_numbers"]
    n = lhs.ndim
    nhwc, hwio = (0, n - 1, *range(1, n - 1)), (n - 1, n - 2, *range(n - 2))
    if (
        tuple(numbers.lhs_spec) == tuple(numbers.out_spec) == nhwc
        and tuple(numbers.rhs_spec) == hwio
    ):
        return _bind(eqn, lhs, rhs)[0]
    x, w = _channels_last(lhs, rhs, numbers)
    (out,) = _bind(eqn, x, w, dimension_numbers=jax.lax.ConvDimensionNumbers(nhwc, hwio, nhwc))
    return _in_output_layout(out, numbers)


def _fast_convolution(eqn: jcore.JaxprEqn, invals, fast: FastKernels):
    """This convolution in the fastest form `fast` allows."""
    lhs, rhs = invals
    if fast.narrow_convolutions and _is_narrow_convolution(eqn):
        return _narrow_convolution(lhs, rhs, eqn.params)
    if fast.narrow_convolutions and _is_few_input_convolution(eqn):
        return _few_input_convolution(lhs, rhs, eqn.params)
    if fast.canonical_convolutions:
        return _canonical_convolution(eqn, lhs, rhs)
    return _bind(eqn, lhs, rhs)[0]


def _split(values, *sizes):
    """`values` cut into consecutive parts of these sizes, and the rest."""
    parts, start = [], 0
    for size in sizes:
        parts.append(list(values[start : start + size]))
        start += size
    return [*parts, list(values[start:])]


def _loop(eqn: jcore.JaxprEqn, invals, fast: FastKernels):
    """A `while`, `scan` or `cond` whose bodies are evaluated with the fast kernels."""

    def body(closed, args):
        return _eval(closed.jaxpr, closed.consts, list(args), None, None, fast)

    params = eqn.params
    if eqn.primitive.name == "while":
        cond_consts, body_consts, init = _split(
            invals, params["cond_nconsts"], params["body_nconsts"]
        )
        return jax.lax.while_loop(
            lambda carry: body(params["cond_jaxpr"], [*cond_consts, *carry])[0],
            lambda carry: body(params["body_jaxpr"], [*body_consts, *carry]),
            init,
        )
    if eqn.primitive.name == "scan":
        consts, init, xs = _split(invals, params["num_consts"], params["num_carry"])

        def step(carry, x):
            out = body(params["jaxpr"], [*consts, *carry, *x])
            return out[: len(carry)], out[len(carry) :]

        carry, ys = jax.lax.scan(
            step,
            init,
            xs,
            length=params["length"],
            reverse=params["reverse"],
            unroll=params["unroll"],
        )
        return [*carry, *ys]
    index, *operands = invals
    branches = [lambda *ops, b=b: body(b, ops) for b in params["branches"]]
    return jax.lax.switch(index, branches, *operands)


_LOOPS = ("while", "scan", "cond")


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
        elif fast is not None and name == "conv_general_dilated":
            outvals = [_fast_convolution(eqn, invals, fast)]
        elif (
            fast is not None
            and fast.max_pools
            and name in _TILED_POOLS
            and _tiles(invals[0].shape, eqn.params)
        ):
            outvals = [_tiled_pool(invals[0], eqn.params["window_dimensions"], _TILED_POOLS[name])]
        elif (
            fast is not None
            and fast.max_pools
            and name == "select_and_scatter_add"
            and eqn.params["select_prim"] in (jax.lax.ge_p, jax.lax.le_p)
            and _tiles(invals[1].shape, eqn.params)
        ):
            outvals = [
                _scatter_to_first_extremum(
                    invals[0], invals[1], eqn.params["select_prim"], eqn.params["window_dimensions"]
                )
            ]
        elif fast is not None and on_tag is None and relu is None and name in _LOOPS:
            outvals = list(_loop(eqn, invals, fast))
        elif name in CALL_PRIMITIVES and (on_tag or relu or fast):
            sub = eqn.params[CALL_PRIMITIVES[name]]
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
            outvals = _bind(eqn, *invals)
        for var, value in zip(eqn.outvars, outvals, strict=True):
            if not isinstance(var, jcore.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]
