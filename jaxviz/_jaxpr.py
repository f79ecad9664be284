"""Re-evaluate a traced program in the caller's trace, rewriting equations by named rules.

A rule (`Rule`) says which equations it rewrites (`matches(eqn, invals)`) and what it computes
instead (`apply`). `evaluate` runs a jaxpr equation by equation: the first active rule that
matches an equation replaces it, nested `jit` calls are entered so that rules reach their
equations, and every other equation is bound as it was. Evaluating in the caller's trace keeps the
result composable with `jit`, `vmap` and `grad`.

Two kinds of rule:

- rules a method asks for, which change what is computed: `LayerTaps` (the `checkpoint_name`
  tags of plain functions become layer taps) and `ReluRules` (every `jax.nn.relu` carries
  another backward rule, for guided backprop and deconvnet). They are active when `evaluate`
  gets their hook (`on_tag=`, `relu=`).
- speed rules, which compute the same values in a form XLA runs faster (`jaxviz/_rewrites.py`).
  `jaxviz.config.speed_rewrites` chooses which ones jaxviz's programs use (`_compile.jit`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import jax
from jax.extend import core as jcore

TagHook = Callable[[str, jax.Array], jax.Array]
ReluRule = Callable[[jax.Array], jax.Array]

CALL_PRIMITIVES = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
}
# Constructs whose body a ReLU rule cannot enter without changing what they compute or how.
OPAQUE_NAMES = {
    "checkpoint": "jax.checkpoint / remat",
    "remat": "jax.checkpoint / remat",
    "remat2": "jax.checkpoint / remat",
    "scan": "lax.scan (or nnx.scan / linen.scan)",
    "while": "lax.while_loop / fori_loop",
    "cond": "lax.cond / lax.switch",
    "custom_vjp_call": "a jax.custom_vjp function",
    "custom_vjp_call_jaxpr": "a jax.custom_vjp function",
    "custom_jvp_call": "a jax.custom_jvp function",
}


class UnreachableReluError(ValueError):
    """A ReLU sits inside a construct whose backward rule cannot be swapped."""


class Rule:
    """A named rewrite of one kind of equation. Subclasses say in their docstring what they
    rewrite and why, and define `matches` and `apply`."""

    name: ClassVar[str]
    speed: ClassVar[bool] = True  # True: the same values, computed faster

    def matches(self, eqn: jcore.JaxprEqn, invals: Sequence[Any]) -> bool:
        """Whether this rule rewrites `eqn`, about to be evaluated on `invals`."""
        raise NotImplementedError

    def apply(self, eqn: jcore.JaxprEqn, invals: Sequence[Any], ev: Evaluation) -> list[Any]:
        """`eqn`'s outputs (a list, one per outvar) computed the rule's way."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<rewrite rule {self.name!r}>"


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One evaluation's active rules (in priority order) and the hooks of the method's rules."""

    rules: tuple[Rule, ...]
    on_tag: TagHook | None = None
    relu: ReluRule | None = None

    def run(self, jaxpr: jcore.Jaxpr, consts: Sequence[Any], args: Sequence[Any]) -> list[Any]:
        """`jaxpr`'s outputs on `args`, every equation rewritten by the first rule that matches."""
        env: dict[jcore.Var, Any] = {}

        def read(v):
            return v.val if isinstance(v, jcore.Literal) else env[v]

        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env[var] = value
        for var, value in zip(jaxpr.invars, args, strict=True):
            env[var] = value
        for eqn in jaxpr.eqns:
            invals = [read(v) for v in eqn.invars]
            outvals = self._equation(eqn, invals)
            # (an unused output, a DropVar, is stored too: never read, and not in every JAX's API)
            env.update(zip(eqn.outvars, outvals, strict=True))
        return [read(v) for v in jaxpr.outvars]

    def _equation(self, eqn: jcore.JaxprEqn, invals: list[Any]) -> list[Any]:
        for rule in self.rules:
            if rule.matches(eqn, invals):
                return list(rule.apply(eqn, invals, self))
        name = eqn.primitive.name
        if name in CALL_PRIMITIVES and self.rules:
            sub = eqn.params[CALL_PRIMITIVES[name]]
            return self.run(sub.jaxpr, sub.consts, invals)
        return bind(eqn, *invals)

    def speed_only(self) -> Evaluation:
        """This evaluation without the method's rules (for bodies their hooks cannot run in)."""
        return Evaluation(tuple(rule for rule in self.rules if rule.speed))


def bind(eqn: jcore.JaxprEqn, *invals, **changed) -> list[Any]:
    """`eqn`'s primitive applied to `invals`, with some of its parameters `changed`."""
    params = eqn.primitive.get_bind_params({**eqn.params, **changed})
    # JAX 0.7 returns (sub-functions, params), later versions the params alone.
    subfuns, params = params if isinstance(params, tuple) else ((), params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*subfuns, *invals, **params)
    return out if eqn.primitive.multiple_results else [out]


def evaluate(
    closed: jcore.ClosedJaxpr,
    *args: Any,
    on_tag: TagHook | None = None,
    relu: ReluRule | None = None,
    rules: Sequence[Rule] = (),
) -> list[Any]:
    """Evaluate `closed` on `args` in the current trace.

    Args:
      closed: the traced program.
      *args: its flat inputs.
      on_tag: with it, `LayerTaps`: each `checkpoint_name(value, name)` computes
        `on_tag(name, value)`.
      relu: with it, `ReluRules`: each `jax.nn.relu` computes `relu(x)` (a ReLU with another
        backward rule).
      rules: speed rules to apply too (from `_rewrites.SPEED_RULES`).
    """
    active = (
        *((RELU_RULES,) if relu is not None else ()),
        *((LAYER_TAPS,) if on_tag is not None else ()),
        *rules,
    )
    return Evaluation(active, on_tag, relu).run(closed.jaxpr, closed.consts, args)


def rewrite(fn: Callable[..., Any], rules: Sequence[Rule]) -> Callable[..., Any]:
    """`fn` computing the same values with `rules` applied to its traced program (traced anew
    for every input signature, inside the caller's trace)."""
    rules = tuple(rules)

    def rewritten(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        out = evaluate(closed, *jax.tree.leaves(args), rules=rules)
        return jax.tree.unflatten(jax.tree.structure(out_shape), out)

    return rewritten


# -- the rules a method asks for --


def sub_jaxprs(params: dict[str, Any]) -> Iterator[jcore.Jaxpr]:
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
    return sum(count_relus(j) for j in sub_jaxprs(params))


class ReluRules(Rule):
    """Every ReLU computes `relu(x)` of the evaluation, a ReLU with another backward rule.

    Guided backprop (Springenberg et al., 2015) and deconvnet (Zeiler and Fergus, 2014) differ
    from the gradient only by the ReLU's backward rule. `jax.nn.relu` (also `nnx.relu`,
    `linen.relu`) leaves a `custom_jvp_call` of `max(x, 0)` in the jaxpr, which this rule
    recognises (`is_relu`) and replaces, so no user code changes. A ReLU inside a construct whose
    body cannot be re-evaluated without changing what it computes or how (remat, scan, while,
    cond, a custom derivative) also matches: the rule raises `UnreachableReluError` there, since
    the method would otherwise silently fall back to plain gradients.
    """

    name = "relu_rules"
    speed = False

    def matches(self, eqn, invals):
        return is_relu(eqn) or (
            eqn.primitive.name not in CALL_PRIMITIVES and count_relus_in(eqn.params) > 0
        )

    def apply(self, eqn, invals, ev):
        if is_relu(eqn):
            assert ev.relu is not None, "the rule runs only when a ReLU rule is given"
            return [ev.relu(invals[0])]
        construct = OPAQUE_NAMES.get(eqn.primitive.name, f"a `{eqn.primitive.name}` construct")
        raise UnreachableReluError(
            f"the model applies a ReLU inside {construct}, where jaxviz cannot swap its "
            "backward rule; guided backprop and deconvnet would silently fall back to "
            "plain gradients there. Move the ReLU out of that construct (e.g. unroll the "
            "scan, drop the remat) to use this method."
        )


_REMATS = ("checkpoint", "remat", "remat2")  # the primitive's name over JAX versions


class LayerTaps(Rule):
    """Each `jax.ad_checkpoint.checkpoint_name(value, name)` computes `on_tag(name, value)`.

    Plain functions name their layers with `checkpoint_name`, which leaves a `name` equation in
    the jaxpr; the model's hook (`Model.apply`) records the value and adds a tap's delta to it.
    The body of a remat (`jax.checkpoint`) is entered too, so the tags inside it are reached: the
    same numbers, only the remat's memory trade-off is lost.
    """

    name = "layer_taps"
    speed = False

    def matches(self, eqn, invals):
        return eqn.primitive.name in ("name", *_REMATS)

    def apply(self, eqn, invals, ev):
        if eqn.primitive.name == "name":
            assert ev.on_tag is not None, "the rule runs only when taps are given"
            return [ev.on_tag(eqn.params["name"], invals[0])]
        return ev.run(eqn.params["jaxpr"], (), invals)


RELU_RULES = ReluRules()
LAYER_TAPS = LayerTaps()
