"""Layer and neuron methods: activations, layer integrated gradients, conductance, neuron gradient.

All of them go through `model.apply(params, x, taps={layer: delta})`: the activation comes back,
and the gradient with respect to `delta` is the gradient with respect to the layer's output.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import (
    check_baseline,
    check_batch_size,
    check_choice,
    check_input,
    check_layer,
    check_layers,
    check_positive_int,
)
from . import _engine
from ._backprop import (
    fix_predicted,
    per_class,
    per_sample,
    pull_back,
    rows_of,
    with_completeness_gap,
)
from ._quadrature import RULES, path_rule
from ._targets import prepare


def zero_taps(model, x, layers) -> dict[str, jax.Array]:
    """Inside a program: zero deltas for `layers` (names) of the model, for the inputs `x` (any
    rows, traced or not), shaped from the model's trace at that input shape."""
    shapes = model.layer_shapes(x)
    return {name: jnp.zeros(shapes[name].shape, shapes[name].dtype) for name in layers}


def activations(model, x, layers: str | Sequence[str] | None = None, *, batch_size: int | None = None):
    """The outputs of the model's layers for `x`, from one compiled forward pass.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs.
      layers: one layer name, several, or None for every layer in `model.layers`.

    Returns:
      `{layer: activation}` in forward order (a single array when `layers` is one name).
    """
    x = check_input(model, x)
    shapes = model.layer_shapes(x)
    names = list(shapes) if layers is None else [layers] if isinstance(layers, str) else list(layers)
    check_layers(names, list(shapes), argument="layers")

    def build():
        def kernel(params, indices, x):
            return model.apply(params, x, zero_taps(model, x, names))[1]

        return kernel

    result = _engine.run(model, ("activations", tuple(names)), build, (x,), batch_size=check_batch_size(batch_size))
    result = {name: result[name] for name in names}
    return result[layers] if isinstance(layers, str) else result


def layer_integrated_gradients(
    model,
    x,
    target=None,
    *,
    layer: str,
    baseline=0.0,
    steps: int = 64,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    return_delta: bool = False,
):
    """Integrated gradients of the target score with respect to a layer's output (Captum's
    `LayerIntegratedGradients`): the layer's output moves along the straight path from its value
    at `baseline` (an input-space baseline) to its value at `x`, the rest of the network seeing
    `x`; attributions are (a(x) - a(baseline)) times the path-averaged layer gradient.

    Returns float32 attributions shaped like the layer's output (a class axis after the batch for
    target="all"); with `return_delta`, also `sum(attr) - (f(x) - f(baseline))` per example.
    """
    check_choice("method", method, RULES)
    steps = check_positive_int("steps", steps)
    alphas, weights = path_rule(method, steps)
    x, target = prepare(model, x, target)
    check_layer(model, x, layer)
    baseline = check_baseline(baseline, x)

    def build():
        def kernel(params, indices, x, baseline, classes):
            taps = zero_taps(model, x, [layer])
            logits, at_input = model.apply(params, x, taps)
            base_logits, at_baseline = model.apply(params, baseline, taps)
            mode, classes = fix_predicted(target.mode, classes, logits)
            start, end = at_baseline[layer].astype(jnp.float32), at_input[layer].astype(jnp.float32)
            path = jnp.asarray(alphas, jnp.float32).reshape((1, steps) + (1,) * (end.ndim - 1))
            replaced = (start[:, None] + path * (end - start)[:, None] - end[:, None]).astype(taps[layer].dtype)
            repeated = jnp.repeat(x, steps, axis=0)

            def forward(delta):
                return model.apply(params, repeated, {layer: delta})[0]

            path_logits, vjp = jax.vjp(forward, rows_of(replaced))
            grads = per_sample(pull_back(vjp, path_logits, mode, jnp.repeat(classes, steps)), x.shape[0])
            attr = per_class(end - start, mode) * jnp.tensordot(jnp.asarray(weights, jnp.float32), grads, axes=(0, 1))
            return with_completeness_gap(attr, mode, classes, logits, base_logits, return_delta)

        return kernel

    program = ("layer_integrated_gradients", layer, method, steps, return_delta, target.mode)
    return _engine.run(
        model, program, build, (x, baseline, target.classes), batch_size=check_batch_size(batch_size),
        evaluations=steps + 2,
    )


def layer_conductance(
    model,
    x,
    target=None,
    *,
    layer: str,
    baseline=0.0,
    steps: int = 64,
    method: str = "gausslegendre",
    batch_size: int | None = None,
) -> jax.Array:
    """Conductance of each unit of a layer (Dhamdhere et al., 2018; Captum's `LayerConductance`).

    The input moves along the straight path from `baseline` to `x` at `steps + 1` points (the
    quadrature's nodes, as in Captum); each unit's conductance sums, over consecutive points,
    the layer gradient at the first point times the unit's change to the next. Returns float32
    attributions shaped like the layer's output (a class axis after the batch for "all").
    """
    check_choice("method", method, RULES)
    steps = check_positive_int("steps", steps)
    alphas, _ = path_rule(method, steps + 1)
    x, target = prepare(model, x, target)
    check_layer(model, x, layer)
    baseline = check_baseline(baseline, x)
    points_count = steps + 1

    def build():
        def kernel(params, indices, x, baseline, classes):
            mode, classes = fix_predicted(target.mode, classes, model.apply(params, x))
            path = jnp.asarray(alphas, jnp.float32).reshape((1, points_count) + (1,) * (x.ndim - 1))
            points = (baseline[:, None] + path * (x - baseline).astype(jnp.float32)[:, None]).astype(x.dtype)
            rows = rows_of(points)

            def forward(delta):
                logits, acts = model.apply(params, rows, {layer: delta})
                return logits, acts[layer]

            path_logits, vjp, evals = jax.vjp(forward, zero_taps(model, rows, [layer])[layer], has_aux=True)
            grads = per_sample(pull_back(vjp, path_logits, mode, jnp.repeat(classes, points_count)), x.shape[0])
            evals = per_sample(evals.astype(jnp.float32), x.shape[0])  # (batch, points, ...)
            changes = evals[:, 1:] - evals[:, :-1]
            if mode == "all":
                changes = changes[:, :, None]
            return (grads[:, :-1] * changes).sum(axis=1)

        return kernel

    program = ("layer_conductance", layer, method, steps, target.mode)
    return _engine.run(
        model, program, build, (x, baseline, target.classes), batch_size=check_batch_size(batch_size),
        evaluations=steps + 2,
    )


def neuron_gradient(model, x, *, layer: str, neuron, batch_size: int | None = None) -> jax.Array:
    """Gradient of one unit of a layer with respect to the input (Captum's `NeuronGradient`).

    Args:
      layer: the layer's name.
      neuron: the unit's index within one example's output of that layer: an int for a flat
        (batch, units) layer, or a tuple with one index per axis (e.g. (row, column, channel)).

    Returns float32 gradients shaped like `x`.
    """
    x = check_input(model, x)
    spec = check_layer(model, x, layer)
    unit = _unit_index(neuron, spec.shape[1:])

    def build():
        def kernel(params, indices, x):
            def unit_total(x):
                value = model.apply(params, x, zero_taps(model, x, [layer]))[1][layer]
                return value[(slice(None), *unit)].astype(jnp.float32).sum()

            return jax.grad(unit_total)(x).astype(jnp.float32)

        return kernel

    return _engine.run(model, ("neuron_gradient", layer, unit), build, (x,), batch_size=check_batch_size(batch_size))


def _unit_index(neuron, unit_shape: tuple[int, ...]) -> tuple[int, ...]:
    index = (neuron,) if isinstance(neuron, int | np.integer) else tuple(neuron) if isinstance(neuron, tuple | list) else None
    valid = (
        index is not None
        and len(index) == len(unit_shape)
        and all(isinstance(i, int | np.integer) and 0 <= i < n for i, n in zip(index, unit_shape, strict=True))
    )
    if not valid:
        raise ValueError(
            f"neuron: expected {'an int' if len(unit_shape) == 1 else 'a tuple of ' + str(len(unit_shape)) + ' ints'} "
            f"indexing one example's layer output of shape {unit_shape}, got {neuron!r}."
        )
    return tuple(int(i) for i in index)

