"""One-shot gradient flow: how strongly the objective's gradient reaches each layer, for a batch.

For each layer in forward order: the gradient with respect to the layer's output (through a zero
delta added to it, the core's tap) and with respect to the layer's parameters (the gradient with
respect to ``m.params``, cut per layer with ``m.layer_params``), from one compiled
forward-and-backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._callables import lift
from ..explain import _engine
from ..explain._backprop import fix_predicted
from ..explain._layers import zero_taps
from ..explain._targets import class_scores, prepare
from ._diagnose import depth_flags


@dataclass(frozen=True)
class GradientFlow:
    """Per-layer gradient statistics (numpy arrays, one entry per layer, forward order).

    Attributes:
      layers: layer names in forward order.
      objective: what was differentiated, in words.
      output_shapes: each layer's output shape for this batch.
      output_grad_norm / output_grad_rms / output_grad_max: L2 norm, root mean square and largest
        magnitude of d(objective)/d(layer output) over the whole batch.
      activation_rms: root mean square of the layer's output.
      param_count: parameters the layer owns (0 for a layer without any; its param fields are NaN).
      param_grad_norm / param_grad_rms: of d(objective)/d(layer parameters).
      param_norm: L2 norm of the layer's parameters.
      flags: per layer "vanishing", "exploding" or None, comparing ``output_grad_rms`` with the
        layers after it (``jaxviz.flow.depth_flags``).
    """

    layers: tuple[str, ...]
    objective: str
    output_shapes: tuple[tuple[int, ...], ...]
    output_grad_norm: np.ndarray
    output_grad_rms: np.ndarray
    output_grad_max: np.ndarray
    activation_rms: np.ndarray
    param_count: np.ndarray
    param_grad_norm: np.ndarray
    param_grad_rms: np.ndarray
    param_norm: np.ndarray
    flags: tuple[str | None, ...]

    def plot(self, ax=None):
        """The static twin: ``jaxviz.plot.gradient_flow(self, ax=ax)``."""
        from ..plot._flow import gradient_flow as plot_gradient_flow

        return plot_gradient_flow(self, ax=ax)


def _norm(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(
        sum((jnp.sum(jnp.square(a.astype(jnp.float32))) for a in leaves), jnp.float32(0))
    )


def _size(tree) -> int:
    return int(sum(np.size(a) for a in jax.tree_util.tree_leaves(tree)))


def gradient_flow(
    model, x, target=None, loss: Callable[..., jax.Array] | None = None, *, labels=None
) -> GradientFlow:
    """How the gradient of an objective flows back through every layer, for the batch ``x``.

    Args:
      model: a ``jaxviz.wrap``ped model.
      x: a batch of inputs.
      target: whose logit is the objective, summed over the batch: None (each example's predicted
        class), an int, or one int per example. Not with ``loss``.
      loss: instead of a target logit, a function ``loss(logits) -> scalar``, e.g.
        ``lambda z: optax.softmax_cross_entropy_with_integer_labels(z, y).mean()``; or
        ``loss(logits, labels)`` with ``labels=`` given. A fresh lambda of the same code reuses
        the compiled program: the arrays it closes over (or reads as globals) are passed to the
        program as arguments, so their current values are always the ones used.
      labels: an array passed to ``loss`` as its second argument.

    Returns:
      A ``GradientFlow`` (numpy, forward order); ``.plot()`` draws it.
    """
    if loss is not None and target is not None:
        raise ValueError(
            "target: give either target (a logit to follow) or loss (a function of the logits), not both."
        )
    if loss is not None and not callable(loss):
        raise TypeError(
            f"loss: expected a function loss(logits) -> scalar, got {type(loss).__name__}."
        )
    if labels is not None and loss is None:
        raise ValueError("labels: they are passed to loss(logits, labels); give loss too.")
    if isinstance(target, str):
        raise ValueError(
            f"target: gradient flow follows one scalar objective; expected None, an int or an int "
            f"array, got {target!r}."
        )
    x, resolved = prepare(model, x, target)
    shapes = model.layer_shapes(x)
    extra = () if labels is None else (np.asarray(labels),)
    if loss is not None:
        _check_loss(loss, model.output_shape(x), extra)
    layers = tuple(shapes)
    lifted = lift(loss) if loss is not None else None
    program = ("gradient_flow", resolved.mode, None if lifted is None else lifted.key)
    arrays = () if lifted is None else lifted.arrays
    rebuild = None if lifted is None else lifted.rebuild
    build = lambda: _build(model, layers, resolved.mode, rebuild)  # noqa: E731
    stats = jax.device_get(_engine.call(model, program, build, x, resolved.classes, arrays, extra))
    if loss is not None:
        objective = "loss(logits)"
    else:
        objective = {"predicted": "predicted-class logit", "given": "target logit"}[
            resolved.mode
        ] + ", summed over the batch"
    counts = np.array([_size(model.layer_params(name)) for name in layers])
    output_rms = stats["output_grad_norm"] / np.sqrt([np.prod(shapes[n].shape) for n in layers])
    with np.errstate(invalid="ignore", divide="ignore"):
        param_rms = np.where(counts > 0, stats["param_grad_norm"] / np.sqrt(counts), np.nan)
    no_params = counts == 0
    return GradientFlow(
        layers=layers,
        objective=objective,
        output_shapes=tuple(tuple(shapes[n].shape) for n in layers),
        output_grad_norm=stats["output_grad_norm"],
        output_grad_rms=output_rms,
        output_grad_max=stats["output_grad_max"],
        activation_rms=stats["activation_norm"]
        / np.sqrt([np.prod(shapes[n].shape) for n in layers]),
        param_count=counts,
        param_grad_norm=np.where(no_params, np.nan, stats["param_grad_norm"]),
        param_grad_rms=param_rms,
        param_norm=np.where(no_params, np.nan, stats["param_norm"]),
        flags=tuple(depth_flags(output_rms)),
    )


def _check_loss(loss, logits: jax.ShapeDtypeStruct, extra: tuple) -> None:
    try:
        out = jax.eval_shape(loss, logits, *extra)
    except Exception as err:  # the user's function failed on abstract logits: say so plainly
        raise ValueError(
            f"loss: calling it on logits of shape {logits.shape} failed: {err}"
        ) from None
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"loss: expected a scalar from loss(logits), got shape {getattr(out, 'shape', type(out))}; "
            "reduce over the batch, e.g. with .mean()."
        )


def _build(model, layers: tuple[str, ...], mode: str, rebuild_loss):
    def kernel(params, x, classes, loss_arrays, extra):
        loss = rebuild_loss(loss_arrays) if rebuild_loss is not None else None

        def objective(params, taps):
            logits, acts = model.apply(params, x, taps)
            if loss is not None:
                return jnp.asarray(loss(logits, *extra), jnp.float32).reshape(()), acts
            given, chosen = fix_predicted(mode, classes, logits)
            return class_scores(given, chosen, logits).sum(), acts

        taps = zero_taps(model, x, layers)
        (param_grads, tap_grads), acts = jax.grad(objective, argnums=(0, 1), has_aux=True)(
            params, taps
        )
        per_layer = lambda fn: jnp.stack([fn(name) for name in layers])  # noqa: E731
        return {
            "output_grad_norm": per_layer(lambda n: _norm(tap_grads[n])),
            "output_grad_max": per_layer(
                lambda n: jnp.max(jnp.abs(tap_grads[n].astype(jnp.float32)))
            ),
            "activation_norm": per_layer(lambda n: _norm(acts[n])),
            "param_grad_norm": per_layer(lambda n: _norm(model.layer_params(n, tree=param_grads))),
            "param_norm": per_layer(lambda n: _norm(model.layer_params(n, tree=params))),
        }

    return kernel
