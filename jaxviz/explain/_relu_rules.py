"""Guided backprop and deconvnet: the same gradient, with the ReLU's backward rule swapped.

The model is traced to a jaxpr and re-evaluated with every `jax.nn.relu` (also `nnx.relu`,
`linen.relu`) replaced by a ReLU carrying the method's rule, so no user code changes. A model
with no reachable ReLU, or with one inside remat / scan / cond / while / a custom derivative,
is refused rather than silently explained with plain gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .. import _jaxpr
from .._checks import check_batch_size
from . import _engine
from ._backprop import pull_back
from ._targets import prepare


def _relu_with_backward(rule: Callable[[jax.Array, jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    @jax.custom_vjp
    def relu(x):
        return jnp.maximum(x, 0)

    def forward(x):
        return relu(x), x

    def backward(x, g):
        return (rule(x, g),)

    relu.defvjp(forward, backward)
    return relu


# Springenberg et al. (2015): pass back only positive gradients through active units.
GUIDED_RELU = _relu_with_backward(lambda x, g: jnp.where((x > 0) & (g > 0), g, 0).astype(g.dtype))
# Zeiler and Fergus (2014): the ReLU is applied to the gradient, whatever the forward input.
DECONV_RELU = _relu_with_backward(lambda x, g: jnp.maximum(g, 0).astype(g.dtype))
RULES = {"guided_backprop": GUIDED_RELU, "deconvnet": DECONV_RELU}


def with_relu_rule(model, params, relu: Callable, method: str, *, taps=None):
    """`rows -> model output` where every ReLU uses `relu`'s backward rule (traced per shape).

    With `taps`, returns `(logits, activations)` like `model.apply`.
    """

    def apply(rows):
        def forward(params, rows, taps):
            return model.apply(params, rows, taps)

        closed, out_shape = jax.make_jaxpr(forward, return_shape=True)(params, rows, taps)
        if _jaxpr.count_relus(closed.jaxpr) == 0:
            raise ValueError(
                f"model: {method} swaps the backward rule of the model's ReLUs, but it applies none "
                "(it looks for jax.nn.relu / nnx.relu / linen.relu; jnp.maximum(x, 0) is not "
                "recognised). Without ReLUs the result would just be the plain gradient."
            )
        out = _jaxpr.evaluate(closed, *jax.tree.leaves((params, rows, taps)), relu=relu)
        return jax.tree.unflatten(jax.tree.structure(out_shape), out)

    return apply


def check_reachable_relus(model, x, method: str) -> Callable:
    """The method's ReLU, after checking (by an abstract trace) that every ReLU of the model can
    carry its backward rule: a clear error instead of silently plain gradients."""
    relu = RULES[method]
    try:
        jax.eval_shape(with_relu_rule(model, model.params, relu, method), x)
    except _jaxpr.UnreachableReluError as err:
        raise ValueError(f"model: {err}") from None
    return relu


def relu_rule_gradients(model, method: str, x, target, batch_size):
    x, target = prepare(model, x, target)
    relu = check_reachable_relus(model, x, method)

    def build():
        def kernel(params, indices, x, classes):
            logits, vjp = jax.vjp(with_relu_rule(model, params, relu, method), x)
            return pull_back(vjp, logits, target.mode, classes)

        return kernel

    return _engine.run(model, (method, target.mode), build, (x, target.classes), batch_size=check_batch_size(batch_size))


def guided_backprop(model, x, target=None, *, batch_size: int | None = None) -> jax.Array:
    """Guided backpropagation (Springenberg et al., 2015): the input gradient where each ReLU
    passes back only positive gradients, and only through units that were active.

    Matches Captum's `GuidedBackprop`. Returns float32 attributions shaped like `x` (or
    (batch, classes, ...) for target="all").
    """
    return relu_rule_gradients(model, "guided_backprop", x, target, batch_size)


def deconvnet(model, x, target=None, *, batch_size: int | None = None) -> jax.Array:
    """Deconvnet (Zeiler and Fergus, 2014): the input gradient where each ReLU applies itself to
    the gradient on the way back, ignoring its forward input. Matches Captum's `Deconvolution`."""
    return relu_rule_gradients(model, "deconvnet", x, target, batch_size)
