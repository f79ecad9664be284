"""Speed rules: the same values as the equations they replace, in forms XLA:CPU runs faster.

Each rule is measured on a CPU (the numbers in its docstring; benchmarks/bench_rewrites.py times
them all on and off). `jaxviz.config.speed_rewrites` chooses which ones jaxviz's programs use:
by default all of them on a CPU and none on an accelerator, where they have not been measured.
`RULES` names every rule `_jaxpr.evaluate` knows, the rules a method asks for included.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple, cast

import jax
import jax.core
import jax.numpy as jnp
from jax.extend import core as jcore

from ._jaxpr import LAYER_TAPS, RELU_RULES, Rule, bind

# -- max pools --


def _tiles(operand_shape, params) -> bool:
    """Whether the windows tile the operand: stride == window, no padding or dilation, and the
    windows cover it exactly."""
    windows, strides = params["window_dimensions"], params["window_strides"]
    return (
        tuple(windows) == tuple(strides)
        and all(lo == hi == 0 for lo, hi in params["padding"])
        and all(n % w == 0 for n, w in zip(operand_shape, windows, strict=True))
        and all(
            d == 1 for d in (*params.get("base_dilation", ()), *params.get("window_dilation", ()))
        )
    )


_TILED_POOLS = {"reduce_window_max": jnp.maximum, "reduce_window_min": jnp.minimum}


class TiledMaxPool(Rule):
    """Max (and min) pools whose windows tile their input become the elementwise maximum of
    strided slices, one slice per offset in the window.

    The slices fuse with the layer before the pool, while XLA:CPU's `reduce_window` ran 6x slower
    than they do. Only windows that tile the input (stride == window, no padding, no dilation)
    match: an overlapping pool reads each element several times and is left to XLA.
    """

    name = "tiled_max_pool"

    def matches(self, eqn, invals):
        return eqn.primitive.name in _TILED_POOLS and _tiles(_shape(eqn.invars[0]), eqn.params)

    def apply(self, eqn, invals, ev):
        operand, windows = invals[0], eqn.params["window_dimensions"]
        offsets = itertools.product(*map(range, windows))
        slices = (jax.lax.slice(operand, o, operand.shape, windows) for o in offsets)
        return [functools.reduce(_TILED_POOLS[eqn.primitive.name], slices)]


class MaxPoolGradient(Rule):
    """The gradient of a tiling max (or min) pool, `select_and_scatter_add`, becomes a first-max
    mask: a one-hot of each window's argmax times the window's incoming gradient.

    XLA:CPU runs the scatter serially: it took a third of a CIFAR-size CNN's input-gradient time,
    while the mask is elementwise. Like XLA's own rule, the mask routes each window's gradient to
    its first maximum, so results are unchanged, ties (windows of zeros after a ReLU) included.
    """

    name = "max_pool_gradient"

    def matches(self, eqn, invals):
        return (
            eqn.primitive.name == "select_and_scatter_add"
            and eqn.params["select_prim"] in (jax.lax.ge_p, jax.lax.le_p)
            and _tiles(_shape(eqn.invars[1]), eqn.params)
        )

    def apply(self, eqn, invals, ev):
        source, operand = invals
        windows, rank = eqn.params["window_dimensions"], operand.ndim
        tiled = operand.reshape([d for n, w in zip(operand.shape, windows) for d in (n // w, w)])
        outer, inner = list(range(0, 2 * rank, 2)), list(range(1, 2 * rank, 2))
        flat = tiled.transpose(outer + inner).reshape(source.shape + (-1,))
        pick = jnp.argmax if eqn.params["select_prim"] is jax.lax.ge_p else jnp.argmin
        routed = (
            jax.nn.one_hot(pick(flat, axis=-1), flat.shape[-1], dtype=source.dtype)
            * source[..., None]
        )
        routed = routed.reshape(source.shape + tuple(windows))
        return [
            routed.transpose([i for axis in range(rank) for i in (axis, rank + axis)]).reshape(
                operand.shape
            )
        ]


# -- convolutions --

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


def _shape(var: jcore.Var | jcore.Literal) -> tuple[int, ...]:
    """A variable's shape: a model's jaxpr holds shaped arrays (typed only as AbstractValue)."""
    return cast(jax.core.ShapedArray, var.aval).shape


def _out_features(eqn: jcore.JaxprEqn) -> int:
    return _shape(eqn.outvars[0])[eqn.params["dimension_numbers"].out_spec[1]]


def _in_features(eqn: jcore.JaxprEqn) -> int:
    return _shape(eqn.invars[1])[eqn.params["dimension_numbers"].rhs_spec[1]]


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

    def in_output_layout(self, out: jax.Array, lhs: jax.Array) -> jax.Array:
        """`out` (N, *sizes, O) in the convolution's own output layout and dtype."""
        dtype = self.params["preferred_element_type"] or lhs.dtype
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


class NarrowConvolution(Rule):
    """A convolution with at most `NARROW_FEATURES` (4) output channels becomes one matrix
    product, channels x (taps x outputs), followed by a strided, shifted sum over the taps.

    Above all this is the input gradient of an image model's first layer, whose outputs are the
    image's 1-4 channels; XLA:CPU's convolution ran it at 1/5 of this speed. Grouped convolutions
    and input dilation (strided transposed convolutions) are left to XLA.
    """

    name = "narrow_convolution"

    def matches(self, eqn, invals):
        return _plain_convolution(eqn) and _out_features(eqn) <= NARROW_FEATURES

    def apply(self, eqn, invals, ev):
        lhs, rhs = invals
        conv = _ChannelsLast.of(lhs, rhs, eqn.params)
        channels, outputs = conv.w.shape[-2:]
        by_tap = jnp.moveaxis(conv.w.reshape(-1, channels, outputs), 0, 1).reshape(channels, -1)
        cols = jnp.dot(conv.x, by_tap, preferred_element_type=eqn.params["preferred_element_type"])
        cols = cols.reshape(conv.x.shape[:-1] + (-1, outputs))
        out = functools.reduce(
            jnp.add, (conv.window(cols[..., k, :], tap) for k, tap in enumerate(conv.taps()))
        )
        return [conv.in_output_layout(out, lhs)]


class FewInputConvolution(Rule):
    """A convolution with at most `NARROW_FEATURES` (4) input channels (an image model's first
    layer) becomes one matrix product of the input's patches, (N, *spatial, taps x channels),
    with the kernel, (taps x channels, O).

    XLA:CPU's convolution ran these at 1/1.6 of this speed (1/2.2 for one channel). As a fused
    loop of multiply-adds it ran no faster in whole programs, where XLA then recomputed it in
    every elementwise consumer. Grouped convolutions and input dilation are left to XLA.
    """

    name = "few_input_convolution"

    def matches(self, eqn, invals):
        return _plain_convolution(eqn) and _in_features(eqn) <= NARROW_FEATURES

    def apply(self, eqn, invals, ev):
        lhs, rhs = invals
        conv = _ChannelsLast.of(lhs, rhs, eqn.params)
        patches = jnp.concatenate([conv.window(conv.x, tap) for tap in conv.taps()], axis=-1)
        kernel = conv.w.reshape(-1, conv.w.shape[-1])
        out = jnp.dot(patches, kernel, preferred_element_type=eqn.params["preferred_element_type"])
        return [conv.in_output_layout(out, lhs)]


def _canonical_specs(rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(batch, *spatial, features) and (*spatial, in, out) as dimension-number specs."""
    return (0, rank - 1, *range(1, rank - 1)), (rank - 1, rank - 2, *range(rank - 2))


class ConvolutionLayout(Rule):
    """A convolution takes its operands in the layout XLA:CPU's fast convolution works in,
    (batch, *spatial, features) and (*spatial, in, out), and its output is transposed back.

    XLA arranges that layout itself at the top level of a program, but not inside a loop body,
    where an input gradient (whose kernel is (out, in)-transposed) fell back to a loop 25-50x
    slower (benchmarks/RESULTS.md, "Where the time goes"). Convolutions already in that layout
    are left alone.
    """

    name = "convolution_layout"

    def matches(self, eqn, invals):
        if eqn.primitive.name != "conv_general_dilated":
            return False
        numbers = eqn.params["dimension_numbers"]
        nhwc, hwio = _canonical_specs(len(numbers.lhs_spec))
        return not (
            tuple(numbers.lhs_spec) == tuple(numbers.out_spec) == nhwc
            and tuple(numbers.rhs_spec) == hwio
        )

    def apply(self, eqn, invals, ev):
        lhs, rhs = invals
        numbers = eqn.params["dimension_numbers"]
        nhwc, hwio = _canonical_specs(lhs.ndim)
        x, w = _channels_last(lhs, rhs, numbers)
        (out,) = bind(eqn, x, w, dimension_numbers=jax.lax.ConvDimensionNumbers(nhwc, hwio, nhwc))
        return [_in_output_layout(out, numbers)]


# -- loops --


def _split(values, *sizes):
    """`values` cut into consecutive parts of these sizes, and the rest."""
    parts, start = [], 0
    for size in sizes:
        parts.append(list(values[start : start + size]))
        start += size
    return [*parts, list(values[start:])]


class Loops(Rule):
    """The bodies of `while` (also `fori_loop`), `scan` and `cond` (also `switch`) are evaluated
    with the speed rules too, and the loop rebuilt around them.

    Without it the rules stop at a loop: adaptive integrated gradients (a while loop) and grouped
    path steps (a scan) would keep XLA's own kernels, whose convolutions inside a loop body ran
    25-50x slower than at the top level (see `ConvolutionLayout`). A method's own rules (layer
    taps, ReLU rules) do not enter loop bodies: their hooks cannot run inside the body's trace.
    """

    name = "loops"

    def matches(self, eqn, invals):
        return eqn.primitive.name in ("while", "scan", "cond")

    def apply(self, eqn, invals, ev):
        speed = ev.speed_only()

        def body(closed, args):
            return speed.run(closed.jaxpr, closed.consts, list(args))

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


# In priority order: the first that matches an equation rewrites it (a narrow convolution is
# computed as a matrix product before a change of layout is considered).
SPEED_RULES: tuple[Rule, ...] = (
    TiledMaxPool(),
    MaxPoolGradient(),
    NarrowConvolution(),
    FewInputConvolution(),
    ConvolutionLayout(),
    Loops(),
)
RULES: dict[str, Rule] = {rule.name: rule for rule in (LAYER_TAPS, RELU_RULES, *SPEED_RULES)}
SPEED_RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in SPEED_RULES)
