"""Layer-wise relevance propagation (Bach et al., 2015) as a modified gradient.

LRP sends the class score back through the network layer by layer, sharing each unit's relevance
among the inputs that contributed to it. jaxviz computes it as "gradient x input" with modified
backward rules (Ancona et al., 2018; zennit's formulation): the cotangent flowing back through
the network is relevance divided by the value it belongs to, so the relevance of any
intermediate value `v` is `v * cotangent(v)`. Then every operation that is linear and carries
no bias (reshapes, pools, sums, residual additions, max pools as selections, ReLU gates) passes
relevance on with its plain gradient, conserving it and splitting a sum among its summands in
proportion to their contributions (so a residual addition never doubles relevance, unlike
relevance-as-cotangent implementations: zennit #236). Only the layers proper -- a
`dot_general` or `conv_general_dilated` between the input and the weights, and the elementwise
affine operations that follow it (its bias, an evaluation-mode batch norm) -- carry an LRP rule,
as a `custom_vjp`.

The model's own computation is traced to a jaxpr and re-evaluated with those equations replaced
(the same way guided backprop swaps ReLU rules), so NNX modules, Linen modules and plain
functions need no change.

Layers ("units"): a unit is a `dot_general` (kind "dense") or `conv_general_dilated` (kind
"conv") with exactly one operand that depends on the input (the other is weights), followed by
the chain of elementwise `add`/`sub`/`mul`/`div`/`neg` equations whose other operand does not
depend on the input, each the only use of the value before it. Folding that chain into the
unit's affine map `s * (W h) + t` is the batch-norm canonizer (zennit's `MergeBatchNorm`): the
rule sees the merged weights `s * W` and bias `t`. A unit is named after the model's layer whose
output the chain passes through (the taps of `jv.wrap`: NNX/Linen submodules, `checkpoint_name`
tags in plain functions), so `rules={"conv2": "gamma"}` names the layer, while composites pick
rules by kind and forward order ("the first conv"), as zennit's do by module type and
registration order.

Rules that give an input relevance not proportional to the input (flat, z-box) return it through
a "sink": a zero array beside the model input that the layer's input is computed from by the same
reshapes and transposes, whose cotangent is the relevance itself; an elementwise affine step of
the input (a normalization) passes it on position by position. They apply only to a layer that
reads the model input that way (a first layer), as they are meant to; z-box's bounds are then in
the layer's input space (normalized, if the model normalizes).
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name
from jax.extend import core as jcore

from .. import _jaxpr
from .._checks import check_batch_size, check_choice
from .._programs import LRU, PROGRAMS_PER_MODEL
from . import _engine
from ._backprop import feature_sum, per_class, pull_back_each
from ._targets import chosen_classes, class_scores, prepare

# -- rules ----------------------------------------------------------------------------------------


def _stabilize(value: jax.Array, epsilon: float) -> jax.Array:
    """`value` moved `epsilon` away from zero (zeros move up), zennit's `Stabilizer`."""
    return value + jnp.where(value >= 0, epsilon, -epsilon).astype(value.dtype)


class _Affine(NamedTuple):
    """A unit's affine map `h -> s * (W h) + t` at the rule's disposal, with the positive and
    negative parts of its merged weights `s * W` (s is None when the chain only adds)."""

    linear: Callable[[jax.Array, jax.Array], jax.Array]  # (h, W) -> W h, the bare dot / conv
    w: jax.Array
    s: jax.Array | None
    t: jax.Array

    def apply(self, h):
        out = self.linear(h, self.w)
        return out if self.s is None else self.s * out

    def positive(self, h):
        """`h -> (s W)^+ h`: where s < 0, (s W)^+ is s times W's negative part."""
        up = self.linear(h, jnp.maximum(self.w, 0))
        if self.s is None:
            return up
        return jnp.maximum(self.s, 0) * up + jnp.minimum(self.s, 0) * self.linear(
            h, jnp.minimum(self.w, 0)
        )

    def negative(self, h):
        down = self.linear(h, jnp.minimum(self.w, 0))
        if self.s is None:
            return down
        return jnp.maximum(self.s, 0) * down + jnp.minimum(self.s, 0) * self.linear(
            h, jnp.maximum(self.w, 0)
        )


def _pull(fn, g, *inputs):
    """The transpose of the linear `fn` at these inputs applied to `g`."""
    return jax.vjp(fn, *inputs)[1](g)


@dataclasses.dataclass(frozen=True)
class Epsilon:
    """The epsilon rule (Bach et al., 2015): `R_i = h_i sum_j w_ij R_j / (z_j + eps sign(z_j))`.
    `epsilon=0` is LRP-0, which on this gradient-x-input footing is exactly gradient x input."""

    epsilon: float = 1e-6
    proportional = True

    def backward(self, layer: _Affine, h, z, c):
        if self.epsilon == 0:
            grad = c  # R / z with R = z * c: the plain gradient, with no 0 / 0 where z = 0
        else:
            grad = z * c / _stabilize(z, self.epsilon)
        return _pull(layer.apply, grad, h)[0]


@dataclasses.dataclass(frozen=True)
class Gamma:
    """The generalised gamma rule (Montavon et al., 2019; Andeol et al., 2021), as zennit's
    `Gamma`: positive outputs are explained by the positive contributions with their weights'
    same-sign parts boosted by `gamma`, negative outputs by the negative ones."""

    gamma: float = 0.25
    stabilizer: float = 1e-6
    proportional = True

    def backward(self, layer: _Affine, h, z, c):
        relevance = z * c
        boost_up = lambda v: layer.apply(v) + self.gamma * layer.positive(v)  # noqa: E731
        boost_down = lambda v: layer.apply(v) + self.gamma * layer.negative(v)  # noqa: E731
        up, down = jnp.maximum(h, 0), jnp.minimum(h, 0)
        bias_up = layer.t + self.gamma * jnp.maximum(layer.t, 0)
        bias_down = layer.t + self.gamma * jnp.minimum(layer.t, 0)
        rise, pull_rise = jax.vjp(lambda a, b: boost_up(a) + boost_down(b), up, down)
        fall, pull_fall = jax.vjp(lambda a, b: boost_down(a) + boost_up(b), up, down)
        g_rise = jnp.where(z > 0, relevance, 0) / _stabilize(rise + bias_up, self.stabilizer)
        g_fall = jnp.where(z < 0, relevance, 0) / _stabilize(fall + bias_down, self.stabilizer)
        rise_up, rise_down = pull_rise(g_rise)
        fall_up, fall_down = pull_fall(g_fall)
        return jnp.where(h > 0, rise_up + fall_up, 0) + jnp.where(h < 0, rise_down + fall_down, 0)


@dataclasses.dataclass(frozen=True)
class AlphaBeta:
    """The alpha-beta rule (Bach et al., 2015): positive contributions share `alpha` times the
    relevance, negative ones take away `beta` times it (alpha - beta = 1); alpha=1, beta=0 is z+."""

    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = 1e-6
    proportional = True

    def __post_init__(self):
        if self.alpha < 0 or self.beta < 0 or not np.isclose(self.alpha - self.beta, 1.0):
            raise ValueError(
                f"rules: AlphaBeta needs alpha >= 0, beta >= 0 and alpha - beta = 1 (so relevance "
                f"is conserved), got alpha={self.alpha}, beta={self.beta}."
            )

    def backward(self, layer: _Affine, h, z, c):
        relevance = z * c
        up, down = jnp.maximum(h, 0), jnp.minimum(h, 0)
        cotangent = 0.0
        for weight, first, second, bias in (
            (self.alpha, layer.positive, layer.negative, jnp.maximum(layer.t, 0)),
            (-self.beta, layer.negative, layer.positive, jnp.minimum(layer.t, 0)),
        ):
            if weight == 0:
                continue
            out, pull = jax.vjp(lambda a, b, f=first, s=second: f(a) + s(b), up, down)
            from_up, from_down = pull(relevance / _stabilize(out + bias, self.stabilizer))
            cotangent = cotangent + weight * (
                jnp.where(h > 0, from_up, 0) + jnp.where(h < 0, from_down, 0)
            )
        return cotangent


@dataclasses.dataclass(frozen=True)
class ZBox:
    """The z^B rule (Montavon et al., 2017) for inputs bounded by `low` and `high` (scalars or one
    value per channel, the last axis): relevance by each input's contribution relative to the
    box's extreme contributions. For a layer reading the model input only."""

    low: float | tuple[float, ...]
    high: float | tuple[float, ...]
    stabilizer: float = 1e-6
    proportional = False

    def backward(self, layer: _Affine, h, z, c):
        relevance = z * c
        low = jnp.broadcast_to(jnp.asarray(self.low, h.dtype), h.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, h.dtype), h.shape)
        out, pull = jax.vjp(
            lambda a, lo, hi: layer.apply(a) - layer.positive(lo) - layer.negative(hi), h, low, high
        )
        from_h, from_low, from_high = pull(relevance / _stabilize(out, self.stabilizer))
        return h * from_h + low * from_low + high * from_high


@dataclasses.dataclass(frozen=True)
class Flat:
    """The flat rule (Lapuschkin et al., 2019): every input of a unit's receptive field gets an
    equal share, whatever its value or weight. For a layer reading the model input only."""

    stabilizer: float = 1e-6
    proportional = False

    def backward(self, layer: _Affine, h, z, c):
        ones = lambda v: layer.linear(v, jnp.ones_like(layer.w))  # noqa: E731
        fan_in, pull = jax.vjp(ones, jnp.ones_like(h))
        return pull(z * c / _stabilize(fan_in, self.stabilizer))[0]


Rule = Epsilon | Gamma | AlphaBeta | ZBox | Flat
RULE_NAMES = ("zero", "epsilon", "gamma", "alpha2-beta1", "z-plus", "flat", "z-box")


class _Settings(NamedTuple):
    epsilon: float
    gamma: float
    stabilizer: float
    low: Any
    high: Any


def _named_rule(name: str, settings: _Settings, argument: str) -> Rule:
    check_choice(argument, name, RULE_NAMES)
    if name == "zero":
        return Epsilon(0.0)
    if name == "epsilon":
        return Epsilon(settings.epsilon)
    if name == "gamma":
        return Gamma(settings.gamma, settings.stabilizer)
    if name == "alpha2-beta1":
        return AlphaBeta(2.0, 1.0, settings.stabilizer)
    if name == "z-plus":
        return AlphaBeta(1.0, 0.0, settings.stabilizer)
    if name == "flat":
        return Flat(settings.stabilizer)
    if settings.low is None or settings.high is None:
        raise ValueError(
            f"{argument}: the z-box rule needs the input's bounds: pass low= and high= (the lowest "
            "and highest values an input can take, scalars or one per channel)."
        )
    return ZBox(settings.low, settings.high, settings.stabilizer)


# -- composites: rules by kind and forward order, as zennit defines them ---------------------------


class UnitInfo(NamedTuple):
    name: str | None  # the model layer the unit belongs to
    kind: str  # "dense" | "conv"


def _first(units, kinds) -> int | None:
    return next((i for i, u in enumerate(units) if u.kind in kinds), None)


def _by_kind(conv: Rule, dense: Rule, first: Rule | None = None, first_kinds=()):
    def assign(units, settings):
        del settings
        start = _first(units, first_kinds) if first is not None else None
        return [
            first if i == start else conv if u.kind == "conv" else dense
            for i, u in enumerate(units)
        ]

    return assign


def _composite(name: str, settings: _Settings) -> Callable:
    epsilon = Epsilon(settings.epsilon)
    plus = AlphaBeta(1.0, 0.0, settings.stabilizer)
    alpha_beta = AlphaBeta(2.0, 1.0, settings.stabilizer)
    both = ("dense", "conv")
    if name == "epsilon-plus-flat":
        return _by_kind(plus, epsilon, Flat(settings.stabilizer), both)
    if name == "epsilon-alpha2-beta1-flat":
        return _by_kind(alpha_beta, epsilon, Flat(settings.stabilizer), both)
    if name == "epsilon-plus":
        return _by_kind(plus, epsilon)
    if name == "epsilon-alpha2-beta1":
        return _by_kind(alpha_beta, epsilon)
    if name == "epsilon-gamma-box":
        box = _named_rule("z-box", settings, "composite")
        return _by_kind(Gamma(settings.gamma, settings.stabilizer), epsilon, box, ("conv",))
    return _by_kind(Epsilon(0.0), Epsilon(0.0))  # "zero"


COMPOSITES = (
    "epsilon-plus-flat",
    "epsilon-gamma-box",
    "epsilon-alpha2-beta1",
    "epsilon-alpha2-beta1-flat",
    "epsilon-plus",
    "zero",
)
KINDS = ("dense", "conv")


def assign_rules(
    units: list[UnitInfo], composite: str, rules: Mapping[str, Any], settings: _Settings
) -> list[Rule]:
    """Each unit's rule: `rules` by layer name, then by kind, then the composite."""
    chosen = _composite(composite, settings)(units, settings)
    for i, unit in enumerate(units):
        for key in (unit.name, unit.kind):
            if key is not None and key in rules:
                chosen[i] = rules[key]
                break
    return chosen


def _check_rules(
    rules, settings: _Settings, layers: tuple[str, ...], units: list[UnitInfo]
) -> dict[str, Rule]:
    if rules is None:
        return {}
    if not isinstance(rules, Mapping):
        raise TypeError(
            "rules: expected a mapping from layer names or kinds to rules, got "
            f"{type(rules).__name__}."
        )
    with_units = [u.name for u in units if u.name is not None]
    checked = {}
    for key, rule in rules.items():
        if key not in KINDS and key not in with_units:
            if key in layers:
                raise ValueError(
                    f"rules: layer {key!r} holds no dense or convolution for a rule to apply to; "
                    f"layers that do: {', '.join(with_units) or '(none)'} (or a kind: "
                    f"{', '.join(KINDS)})."
                )
            raise ValueError(
                f"rules: unknown layer {key!r}; the model's layers with a dense or convolution "
                f"are: {', '.join(with_units) or '(none)'} (or a kind: {', '.join(KINDS)})."
            )
        if isinstance(rule, str):
            rule = _named_rule(rule, settings, f"rules[{key!r}]")
        elif not isinstance(rule, Epsilon | Gamma | AlphaBeta | ZBox | Flat):
            raise TypeError(
                f"rules[{key!r}]: expected a rule name ({', '.join(map(repr, RULE_NAMES))}) or a "
                f"rule object (Epsilon, Gamma, AlphaBeta, ZBox, Flat), got {rule!r}."
            )
        checked[key] = rule
    return checked


# -- finding the units in a jaxpr ------------------------------------------------------------------

_LAYER_PRIMITIVES = {"dot_general": "dense", "conv_general_dilated": "conv"}
_AFFINE = ("add", "sub", "mul", "div", "neg")
# Operations that only move, copy or select values: relevance passes through them unchanged, so a
# flat / z-box layer reading the input through them can hand its relevance back to the input.
_STRUCTURAL = {
    "reshape",
    "transpose",
    "squeeze",
    "expand_dims",
    "convert_element_type",
    "copy",
    "copy_p",
    "slice",
    "pad",
    "broadcast_in_dim",
    "rev",
    "name",
}


@dataclasses.dataclass
class _Unit:
    eqn: jcore.JaxprEqn  # the dot_general / conv_general_dilated
    operand: int  # which of its operands depends on the input
    # the affine and tag equations folded into it, each with the var of the value it continues
    chain: list[tuple[jcore.JaxprEqn, Any]]
    names: list[str]
    kind: str

    @property
    def scaled(self) -> bool:
        """Whether the chain multiplies (so `s` is needed), rather than only adding a bias."""
        return any(
            e.primitive.name in ("mul", "div", "neg")
            or (e.primitive.name == "sub" and e.invars[1] is value)
            for e, value in self.chain
        )


def _dependent_vars(jaxpr: jcore.Jaxpr, dependent_in: list[bool]) -> set:
    dependent = {v for v, d in zip(jaxpr.invars, dependent_in, strict=True) if d}
    for eqn in jaxpr.eqns:
        if any(not isinstance(v, jcore.Literal) and v in dependent for v in eqn.invars):
            dependent.update(eqn.outvars)
    return dependent


def _depends(v, dependent) -> bool:
    return not isinstance(v, jcore.Literal) and v in dependent


def _find_units(jaxpr: jcore.Jaxpr, dependent: set) -> dict[int, _Unit]:
    """The units of this jaxpr (not its sub-jaxprs), keyed by the index of their last equation."""
    uses: dict[Any, list[int]] = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if not isinstance(v, jcore.Literal):
                uses.setdefault(v, []).append(i)
    outputs = {v for v in jaxpr.outvars if not isinstance(v, jcore.Literal)}
    units: dict[int, _Unit] = {}
    for i, eqn in enumerate(jaxpr.eqns):
        kind = _LAYER_PRIMITIVES.get(eqn.primitive.name)
        if kind is None:
            continue
        flags = [_depends(v, dependent) for v in eqn.invars]
        if flags.count(True) != 1:
            continue
        unit = _Unit(eqn, flags.index(True), [], [], kind)
        value, last = eqn.outvars[0], i
        while value not in outputs and len(uses.get(value, ())) == 1:
            j = uses[value][0]
            nxt = jaxpr.eqns[j]
            name = nxt.primitive.name
            if name == "name":
                unit.names.append(nxt.params["name"])
            elif not _folds(nxt, value, dependent):
                break
            unit.chain.append((nxt, value))
            value, last = nxt.outvars[0], j
        units[last] = unit
    return units


def _folds(eqn, value, dependent) -> bool:
    """Whether `eqn` is an elementwise affine step of `value` alone (a bias, a batch norm)."""
    name = eqn.primitive.name
    if name not in _AFFINE or eqn.outvars[0].aval.shape != value.aval.shape:
        return False
    if name == "neg":
        return True
    other = [v for v in eqn.invars if v is not value]
    if len(other) != 1 or _depends(other[0], dependent):
        return False
    if name == "div":
        return eqn.invars[0] is value
    return True


def _sub_jaxpr(eqn):
    name = eqn.primitive.name
    if name in _jaxpr.CALL_PRIMITIVES:
        sub = eqn.params[_jaxpr.CALL_PRIMITIVES[name]]
        return sub.jaxpr, sub.consts
    if name in ("checkpoint", "remat"):
        return eqn.params["jaxpr"], ()
    return None


def _holds_layers(jaxpr: jcore.Jaxpr) -> bool:
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in _LAYER_PRIMITIVES:
            return True
        if any(_holds_layers(j) for j in _jaxpr.sub_jaxprs(eqn.params)):
            return True
    return False


# -- evaluating with the rules -----------------------------------------------------------------


@dataclasses.dataclass
class _Pass:
    """One evaluation's state: which rule each unit gets (in forward order), the taps, the sink."""

    rules: Sequence[Rule] | None  # None: only collect the units
    deltas: Mapping[str, jax.Array] | None
    units: list[UnitInfo] = dataclasses.field(default_factory=list)
    activations: dict[str, jax.Array] = dataclasses.field(default_factory=dict)
    tag_shapes: dict[str, jax.ShapeDtypeStruct] = dataclasses.field(default_factory=dict)
    needs_sink: list[str] = dataclasses.field(default_factory=list)

    def next_rule(self, info: UnitInfo) -> Rule:
        self.units.append(info)
        return Epsilon(0.0) if self.rules is None else self.rules[len(self.units) - 1]

    def tap(self, name: str, value: jax.Array) -> jax.Array:
        if name in self.tag_shapes:
            return value
        self.tag_shapes[name] = jax.ShapeDtypeStruct(value.shape, value.dtype)
        if self.deltas is None or name not in self.deltas:
            return value
        self.activations[name] = value
        return value + self.deltas[name].astype(value.dtype)


def _eval(
    jaxpr: jcore.Jaxpr, consts, args, dependent_in: list[bool], sinks: list, state: _Pass
) -> list:
    env: dict[Any, Any] = {}
    sink_env: dict[Any, Any] = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value, sink in zip(jaxpr.invars, args, sinks, strict=True):
        env[var] = value
        if sink is not None:
            sink_env[var] = sink
    dependent = _dependent_vars(jaxpr, dependent_in)
    units = _find_units(jaxpr, dependent)
    folded = {id(e) for u in units.values() for e in (u.eqn, *(e for e, _ in u.chain))}

    for i, eqn in enumerate(jaxpr.eqns):
        name = eqn.primitive.name
        if i in units:
            unit = units[i]
            outvals = [_apply_unit(unit, env, read, sink_env, state)]
        elif id(eqn) in folded:
            continue
        elif name == "name":
            outvals = [state.tap(eqn.params["name"], read(eqn.invars[0]))]
        elif (sub := _sub_jaxpr(eqn)) is not None:
            sub_jaxpr, sub_consts = sub
            outvals = _eval(
                sub_jaxpr,
                sub_consts,
                [read(v) for v in eqn.invars],
                [_depends(v, dependent) for v in eqn.invars],
                [sink_env.get(v) for v in eqn.invars],
                state,
            )
        else:
            if any(_depends(v, dependent) for v in eqn.invars) and any(
                _holds_layers(j) for j in _jaxpr.sub_jaxprs(eqn.params)
            ):
                construct = _jaxpr.OPAQUE_NAMES.get(name, f"a `{name}` construct")
                raise ValueError(
                    f"model: it applies a dense or convolution layer inside {construct}, where LRP "
                    "cannot give it a rule; unroll or remove that construct to use LRP."
                )
            invals = [read(v) for v in eqn.invars]
            outvals = _jaxpr.bind(eqn, *invals)
            if name in _STRUCTURAL and eqn.invars and eqn.invars[0] in sink_env:
                moved = _jaxpr.bind(eqn, sink_env[eqn.invars[0]], *invals[1:])
                sink_env[eqn.outvars[0]] = moved[0]
            elif name in _AFFINE:
                _follow_normalization(eqn, dependent, sink_env)
        for var, value in zip(eqn.outvars, outvals, strict=True):
            if not isinstance(var, jcore.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]


def _follow_normalization(eqn, dependent, sink_env) -> None:
    """Let the sink follow an elementwise affine step of the input (a normalization such as
    `(x - mean) / std`): relevance maps position to position through it, so the step's output
    shares its input's sink as it is, unscaled."""
    moving = [v for v in eqn.invars if _depends(v, dependent)]
    if (
        len(moving) == 1
        and moving[0] in sink_env
        and moving[0].aval.shape == eqn.outvars[0].aval.shape
    ):
        sink_env[eqn.outvars[0]] = sink_env[moving[0]]


def _apply_unit(unit: _Unit, env, read, sink_env, state: _Pass):
    """The unit's output, computed by a function whose backward pass is the unit's rule."""
    eqn = unit.eqn
    operands = [read(v) for v in eqn.invars]
    h, w = operands[unit.operand], operands[1 - unit.operand]
    info = UnitInfo(unit.names[0] if unit.names else None, unit.kind)
    rule = state.next_rule(info)

    def linear(h, w):
        args = [w, w]
        args[unit.operand] = h
        return _jaxpr.bind(eqn, *args)[0]

    def chain(z):
        for e, value in unit.chain:
            if e.primitive.name != "name":
                z = _jaxpr.bind(e, *(z if v is value else read(v) for v in e.invars))[0]
        return z

    aval: Any = eqn.outvars[0].aval
    # The chain is affine elementwise, chain(z) = s * z + t: read t and s off two evaluations.
    t = chain(jnp.zeros(aval.shape, aval.dtype))
    s = chain(jnp.ones(aval.shape, aval.dtype)) - t if unit.scaled else None

    if rule.proportional:
        sink = None
    else:
        sink = sink_env.get(eqn.invars[unit.operand])
        if sink is None:
            state.needs_sink.append(info.name or f"the {len(state.units)}th layer ({unit.kind})")
            sink = jnp.zeros_like(h)
    out = _with_rule(rule, linear)(h, sink if sink is not None else jnp.zeros(()), w, s, t)
    for name in unit.names:
        out = state.tap(name, out)
    return out


def _with_rule(rule: Rule, linear):
    """`(h, sink, w, s, t) -> s * (W h) + t` whose backward pass is `rule`: the cotangent of `h`
    (proportional rules) or the relevance of `h` as the cotangent of `sink` (flat, z-box)."""

    def layer(w, s, t):
        return _Affine(linear, w, s, t)

    @jax.custom_vjp
    def unit(h, sink, w, s, t):
        return layer(w, s, t).apply(h) + t

    def forward(h, sink, w, s, t):
        z = unit(h, sink, w, s, t)
        return z, (h, sink, w, s, t, z)

    def backward(residuals, c):
        h, sink, w, s, t, z = residuals
        back = rule.backward(layer(w, s, t), h, z, c.astype(z.dtype))
        zeros = lambda a: None if a is None else jnp.zeros_like(a)  # noqa: E731
        if rule.proportional:
            return back.astype(h.dtype), zeros(sink), zeros(w), zeros(s), zeros(t)
        return jnp.zeros_like(h), back.astype(sink.dtype), zeros(w), zeros(s), zeros(t)

    unit.defvjp(forward, backward)
    return unit


# -- the method ------------------------------------------------------------------------------------


def _tag(name, value):
    return checkpoint_name(value, name)


def _tagged_jaxpr(model, params, x):
    """The model's jaxpr with every layer output marked by a `name` equation (plain functions
    carry their `checkpoint_name` tags already)."""
    hook = None if model.kind == "function" else _tag
    return jax.make_jaxpr(lambda p, rows: model._forward(p, rows, hook))(params, x)


def _relevance_forward(model, params, rules: Sequence[Rule] | None, deltas):
    """`(x, sink) -> (logits, state)` through the LRP rules; the state holds the taps."""

    def forward(x, sink):
        closed = _tagged_jaxpr(model, params, x)
        leaves = jax.tree.leaves(params)
        state = _Pass(rules, deltas)
        flags = [False] * len(leaves) + [True]
        (logits,) = _eval(
            closed.jaxpr, closed.consts, [*leaves, x], flags, [None] * len(leaves) + [sink], state
        )
        return logits, state

    return forward


def _trace(model, x, rules: Sequence[Rule] | None) -> _Pass:
    """One abstract evaluation: the units in forward order, the taps, the rules lacking a sink."""
    forward = _relevance_forward(model, model.params, rules, None)
    found = {}

    def logits(x):
        out, found["state"] = forward(x, jnp.zeros_like(x))
        return out

    jax.eval_shape(logits, jax.ShapeDtypeStruct(x.shape, x.dtype))
    return found["state"]


def _bounds(value, argument: str):
    """A z-box bound as a float or a tuple of floats (hashable: it is a static option)."""
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or not np.isfinite(array).all():
        raise ValueError(
            f"{argument}: expected a finite scalar or one value per channel, got {value!r}."
        )
    return float(array) if array.ndim == 0 else tuple(array.tolist())


# {model: LRU {(input signature, composite, rules, settings): (rules per unit, tap shapes)}}:
# checking
# the rules traces the model twice, which cost more than a small model's compiled program.
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(model, x, composite, rules, settings) -> tuple[tuple[Rule, ...], dict[str, Any]]:
    """Each unit's rule, checked, and the taps' shapes (remembered per model and options)."""
    try:
        key = (x.shape, x.dtype, composite, tuple((rules or {}).items()), settings)
        hash(key)
    except TypeError:  # an unhashable rule argument: check every time
        key = None
    plans = _PLANS.setdefault(model, LRU(PROGRAMS_PER_MODEL))
    make = functools.partial(_make_plan, model, x, composite, rules, settings)
    return make() if key is None else plans.get(key, make)


def _make_plan(model, x, composite, rules, settings) -> tuple[tuple[Rule, ...], dict[str, Any]]:
    found = _trace(model, x, None)
    if not found.units:
        raise ValueError(
            "model: LRP found no dense or convolution layer (a dot_general or conv_general_dilated "
            "between the input and weights) to apply its rules to."
        )
    named = _check_rules(rules, settings, tuple(found.tag_shapes), found.units)
    assigned = tuple(assign_rules(found.units, composite, named, settings))
    unreachable = _trace(model, x, list(assigned)).needs_sink
    if unreachable:
        raise ValueError(
            f"rules: the flat and z-box rules apply only to a layer that reads the model input "
            f"(through reshapes or a normalization at most), but {unreachable[0]} does not; give "
            "it another rule, or use a composite without them (e.g. 'epsilon-plus')."
        )
    return assigned, found.tag_shapes


class Relevance(NamedTuple):
    """LRP's result with its conservation readout.

    Attributes:
      attribution: relevance of each input feature, float32, shaped like `x` (or
        (batch, classes, ...) for target="all").
      layers: total relevance per example, (batch,) (or (batch, classes)), at the model input
        ("input"), at each layer's output in forward order, and at the explained score
        ("output"). With zero biases and conserving rules (LRP-0, z+, alpha-beta, flat, gamma
        on ReLU networks) every entry equals "output"; biases, epsilon and the stabilizers
        absorb some relevance on the way, which is what this readout shows.
    """

    attribution: jax.Array
    layers: dict[str, jax.Array]

    def plot(self, image=None, **options):
        """The relevance map of one example beside its per-layer conservation readout (the
        total relevance at each layer as a share of the explained score); return the figure.

        Args:
          image: the input example the map is drawn over (images), or None for the map alone.
          options: `index` (the example, default 0), `class_index` (for target="all"), and
            what `jaxviz.plot.relevance` takes.
        """
        from ..plot import _coalition

        return _coalition.plot_relevance(self, image, **options)


def lrp(
    model,
    x,
    target=None,
    *,
    composite: str = "epsilon-plus-flat",
    rules: Mapping[str, Any] | None = None,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    stabilizer: float = 1e-6,
    low=None,
    high=None,
    return_layers: bool = False,
    batch_size: int | None = None,
):
    """Layer-wise relevance propagation (Bach et al., 2015; Montavon et al., 2019).

    Relevance starts as the explained class score and flows back layer by layer; each dense or
    convolution layer shares it among its inputs by its rule. A `composite` picks the rules by
    layer kind and order, as zennit defines it; `rules` overrides them by layer name or kind.
    Evaluation-mode batch norms (any elementwise affine step right after a layer) are merged
    into that layer first (zennit's `MergeBatchNorm` canonizer); residual additions split
    relevance among their summands in proportion to their values, never doubling it; max pools
    pass it to the maximum, average pools in proportion to the inputs; ReLUs pass it through.
    Other nonlinearities pass their gradient, which does not conserve relevance.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, one int per example, or "all".
      composite: "epsilon-plus-flat" (flat on the first layer, z+ on the other convolutions,
        epsilon on dense layers), "epsilon-gamma-box" (z-box on the first convolution, gamma on
        the others, epsilon on dense; needs `low` and `high`), "epsilon-alpha2-beta1",
        "epsilon-alpha2-beta1-flat", "epsilon-plus", or "zero" (LRP-0 everywhere, which equals
        gradient x input).
      rules: {layer name or kind ("dense", "conv"): rule}, over the composite (names before
        kinds). A rule is a name ("zero", "epsilon", "gamma", "alpha2-beta1", "z-plus", "flat",
        "z-box") or an object for other parameters (`Epsilon(0.1)`, `Gamma(0.5)`,
        `AlphaBeta(1, 0)`, `ZBox(low, high)`, `Flat()`). Flat and z-box apply only to a layer
        that reads the model input (through reshapes or an elementwise normalization at most).
      epsilon, gamma, stabilizer: the named rules' parameters (zennit's defaults).
      low, high: the bounds of z-box's layer input (normalized, if the model normalizes):
        scalars or one value per channel (last axis).
      return_layers: also return the total relevance at every layer (a `Relevance`).
      batch_size: examples per compiled chunk (see `jv.saliency`).

    Returns:
      float32 relevance shaped like `x` (or (batch, classes, ...) for target="all"); with
      `return_layers`, a `Relevance` holding it and the per-layer totals.

    >>> import jax.numpy as jnp, jaxviz as jv
    >>> w = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    >>> m = jv.wrap(lambda x: x @ w)
    >>> jv.lrp(m, jnp.ones((1, 2)), target=1, composite="zero")
    Array([[-2.,  3.]], dtype=float32)
    """
    check_choice("composite", composite, COMPOSITES)
    x, target = prepare(model, x, target)
    settings = _Settings(
        float(epsilon), float(gamma), float(stabilizer), _bounds(low, "low"), _bounds(high, "high")
    )
    assigned, tag_shapes = _plan(model, x, composite, rules, settings)
    tags = tag_shapes if return_layers else {}
    program = ("lrp", target.mode, assigned, bool(return_layers))

    def build():
        def kernel(params, indices, x, classes):
            del indices
            names = list(tags)

            def outputs(x, sink, *deltas):
                taps = dict(zip(names, deltas, strict=True))
                logits, state = _relevance_forward(model, params, assigned, taps)(x, sink)
                return logits, [state.activations[n] for n in names]

            deltas = [jnp.zeros((x.shape[0], *tags[n].shape[1:]), tags[n].dtype) for n in names]
            logits, vjp, activations = jax.vjp(outputs, x, jnp.zeros_like(x), *deltas, has_aux=True)
            grad_x, grad_sink, *grad_deltas = pull_back_each(vjp, logits, target.mode, classes)
            attribution = per_class(x, target.mode).astype(jnp.float32) * grad_x + grad_sink
            if not return_layers:
                return attribution
            totals = [feature_sum(attribution, target.mode)]
            for act, grad in zip(activations, grad_deltas, strict=True):
                act = per_class(act, target.mode).astype(jnp.float32)
                totals.append(feature_sum(act * grad, target.mode))
            chosen = chosen_classes(target.mode, classes, logits)
            totals.append(class_scores(target.mode, chosen, logits))
            return attribution, tuple(totals)

        return kernel

    out = _engine.run(
        model, program, build, (x, target.classes), batch_size=check_batch_size(batch_size)
    )
    if not return_layers:
        return out
    attribution, totals = out
    # The totals travel as a tuple: a dict would come back from the engine in sorted key order.
    return Relevance(attribution, dict(zip(("input", *tags, "output"), totals, strict=True)))
