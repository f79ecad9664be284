"""The order a model calls its layers in, where it can be known, and never a guess.

Comparing a layer's gradient with the layers after it (vanishing / exploding along depth) needs
the forward order, and a parameter pytree does not hold it: ``jax.tree_util`` (so every optax
update) rebuilds dicts with sorted keys and NNX state is sorted by name, so an NNX network's
``head`` comes before ``layers.0``. The order is known from:

* a wrapped ``jaxviz.Model`` that has run on an input (``jv.wrap(net, example=x)``, or any call or
  explanation): the order its layers produced their outputs in that trace, seen by a probe on each
  NNX submodule's ``__call__`` or by ``nn.intercept_methods`` for Linen (``jaxviz/_model.py``);
* ``order=``: layer names in forward order, for a plain pytree.

Nothing else counts as forward order: names (``head`` < ``layers.0``), numbering and the order a
module defines its attributes in are guesses, and a depth comparison in a wrong order gives a
wrong diagnosis (an "exploding" head on a network whose early layers vanish).
"""

from __future__ import annotations

from collections.abc import Sequence

from .._model import Model

NO_ORDER = (
    "the order the model calls its layers in is not known (a parameter tree lists them by name)"
)
NOT_RUN = (
    "the Recorder's model has not run on an input yet, so the order it calls its layers in is not "
    "known"
)
HOW_TO_GIVE = (
    "pass the wrapped model: jv.Recorder(model=jv.wrap(net, example=x)), or flow_stats(..., "
    "model=m) / diagnose(..., model=m); for a plain pytree, order=[layer names in forward order]"
)


def call_order(model: Model) -> tuple[str, ...] | None:
    """The layers in the order ``model`` called them in its last trace; None before any trace.

    Before a trace an NNX model's ``layers`` lists its submodules in definition order, and a Linen
    model's its parameter owners: neither is the call order.
    """
    return model.call_order


def check_order_source(model, order, *, argument: str = "model") -> None:
    """Validate ``model=`` / ``order=``: at most one, a ``jaxviz.Model`` or a sequence of names."""
    if model is not None and order is not None:
        raise ValueError(
            "order: give either model (a jaxviz.Model that knows its call order) or order (layer "
            "names in forward order), not both."
        )
    if model is not None and not isinstance(model, Model):
        raise TypeError(
            f"{argument}: expected a wrapped jaxviz.Model, got {type(model).__name__}; wrap it "
            "first, e.g. jv.wrap(net, example=x) (jv.wrap(module, variables, example=x) for "
            "Linen), so it runs once and the order it calls its layers in is seen."
        )
    if order is not None and (
        isinstance(order, str) or not all(isinstance(n, str) for n in _as_tuple(order))
    ):
        raise TypeError(
            f"order: expected a sequence of layer names in forward order (e.g. m.layers), got "
            f"{order!r:.80}."
        )


def _as_tuple(order) -> tuple:
    try:
        return tuple(order)
    except TypeError:
        return (order,)


def forward_order(model: Model | None, order: Sequence[str] | None) -> tuple[str, ...] | None:
    """Layer names in forward order from ``model`` or ``order`` (validated); None if neither.

    Raises ValueError for a model that has not run yet: asked for its order now, it has none.
    """
    check_order_source(model, order)
    if order is not None:
        return tuple(order)
    if model is None:
        return None
    names = call_order(model)
    if names is None:
        raise ValueError(
            "model: jaxviz learns the order a model calls its layers in by running it once, and "
            "this one has not run on an input yet: wrap it with example=x "
            "(jv.wrap(net, example=x)) or call it once (m(x)) first."
        )
    return names


def arrange(
    layers: Sequence[str], forward: Sequence[str], *, argument: str = "model"
) -> tuple[tuple[str, ...], int, str]:
    """``layers`` with those named in ``forward`` first, in that order, the rest after as they
    came; how many are in known order; and, when some are not, a note saying which and why.

    Raises ValueError, naming ``argument``, when ``forward`` names none of ``layers`` (the
    parameters of another model, or a tree with another root).
    """
    rank = {name: i for i, name in enumerate(forward)}
    known = sorted((n for n in layers if n in rank), key=rank.__getitem__)
    rest = [n for n in layers if n not in rank]
    if not known and layers:
        raise ValueError(
            f"{argument}: none of the parameter tree's layers ({_some(layers)}) is among the "
            f"layers in forward order ({_some(forward)}); pass the parameters of this model, from "
            "its root (e.g. nnx.state(net, nnx.Param) or variables['params'])."
        )
    note = ""
    if rest:
        note = (
            f"{_some(rest)} {'is' if len(rest) == 1 else 'are'} not among the layers in forward "
            "order (for a model: parameters of a module used outside __call__, or of the top "
            "module itself), so their place in the forward pass is not known"
        )
    return (*known, *rest), len(known), note


def _some(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
