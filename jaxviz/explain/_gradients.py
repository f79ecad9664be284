"""Input-gradient methods: saliency, integrated gradients, SmoothGrad, expected gradients.

Each is one kernel over a chunk of examples; samples along a path or around the input become
extra rows of one model batch (batch * samples rows), so a chunk is one forward and one backward
pass through the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_baseline, check_batch_size, check_choice, check_key, check_positive_int
from . import _adaptive, _affine, _engine
from ._backprop import (
    fix_predicted,
    in_groups,
    per_class,
    per_sample,
    pull_back,
    pull_back_each,
    rows_of,
    sample_axis,
    sum_over_groups,
    with_completeness_gap,
)
from ._quadrature import RULES, path_rule
from ._targets import prepare

SALIENCY_MODES = ("grad", "abs", "grad_x_input")
SMOOTHGRAD_KINDS = ("smooth", "square", "var")


def saliency(model, x, target=None, *, mode: str = "grad", batch_size: int | None = None) -> jax.Array:
    """Gradient of the target class score with respect to the input (Simonyan et al., 2014).

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, one int per example, or "all" (every class,
        stacked on axis 1).
      mode: "grad" (signed gradient), "abs" (its magnitude, Captum's `Saliency` default) or
        "grad_x_input" (gradient times input, Captum's `InputXGradient`).
      batch_size: examples per compiled chunk (bounds memory). None picks it by device: on a
        CPU, chunks whose inputs and layer outputs fit in 16 MiB (1 example of 32-step
        integrated gradients on a CIFAR-size CNN, 32 of saliency), which run fastest there; on
        an accelerator, the whole batch at once.

    Returns:
      float32 attributions shaped like `x` (or (batch, classes, ...) for target="all").

    >>> import jax.numpy as jnp, jaxviz as jv
    >>> w = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    >>> m = jv.wrap(lambda x: x @ w)
    >>> jv.saliency(m, jnp.ones((1, 2)), target=1)
    Array([[-2.,  3.]], dtype=float32)
    """
    check_choice("mode", mode, SALIENCY_MODES)
    x, target = prepare(model, x, target)

    def build():
        def kernel(params, indices, x, classes):
            logits, vjp = jax.vjp(lambda rows: model.apply(params, rows), x)
            return pull_back(vjp, logits, target.mode, classes)

        return kernel

    # The modes differ only by a final elementwise step: one program serves all three.
    grads = _engine.run(model, ("saliency", target.mode), build, (x, target.classes), batch_size=check_batch_size(batch_size))
    if mode == "abs":
        return jnp.abs(grads)
    if mode == "grad_x_input":
        return grads * per_class(jnp.asarray(x, jnp.float32), target.mode)
    return grads


def integrated_gradients(
    model,
    x,
    target=None,
    *,
    baseline=0.0,
    steps: int = 64,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    return_delta: bool = False,
    tol: float | None = None,
    max_steps: int = 512,
):
    """Integrated gradients (Sundararajan et al., 2017): `(x - baseline)` times the average
    gradient along the straight path from `baseline` to `x`.

    Args:
      model, x, target, batch_size: as in `saliency`.
      baseline: a scalar, an array shaped like one example, or one per example.
      steps: gradient evaluations per example along the path. On a CPU, a path longer than
        a default chunk holds runs in equal groups of steps, one after another in one program.
        The path's points are formed after the model's affine start (its first convolution or
        dense layer and bias, input scaling, eval-mode batch norm; see `_affine`), and the
        steps' gradients are pulled back through it once: the same integral, that work done
        once per example instead of once per step.
      method: the quadrature: "gausslegendre" (Captum's default, most accurate per step),
        "riemann_left", "riemann_right", "riemann_middle" or "riemann_trapezoid". The trapezoid
        rule here integrates correctly (weights 1/(steps-1), halved at the ends); Captum's
        weights sum to (steps-1)/steps, so its trapezoid attributions are smaller by that factor.
      return_delta: also return each example's completeness gap
        `sum(attr) - (f(x) - f(baseline))` for the followed class (per class for "all").
      tol: integrate adaptively instead (`steps` and `method` are then unused): each example's
        path is bisected where the gradient changes until its completeness gap is at most
        `tol * |f(x) - f(baseline)|` (see `jaxviz.explain._adaptive`). ReLU networks reach a
        gap of 1e-3 with several times fewer gradients than Gauss-Legendre; `tol` bounds the
        sum of the attribution, while each feature's error follows the gradients spent
        (benchmarks/RESULTS.md, "Equal accuracy").
      max_steps: with `tol`, the most gradient evaluations one example may use; memory grows
        with it (about `max_steps / 4` copies of each example).

    Returns:
      float32 attributions shaped like `x` (or (batch, classes, ...) for "all"); with
      `return_delta`, the pair `(attributions, delta)`.
    """
    check_choice("method", method, RULES)
    steps = check_positive_int("steps", steps)
    alphas, weights = path_rule(method, steps)
    x, target = prepare(model, x, target)
    baseline = check_baseline(baseline, x)
    if tol is not None:
        tol, max_steps = _adaptive.check_tolerance(tol, max_steps)
        found = _adaptive.integrated_gradients_to_tolerance(
            model, x, target, baseline, tol=tol, max_steps=max_steps, batch_size=check_batch_size(batch_size)
        )
        return (found.attributions, found.delta) if return_delta else found.attributions

    group = _engine.samples_per_group(model, x, steps)

    def build():
        def kernel(params, indices, x, baseline, classes):
            split = _affine.split(model.apply, params, x)
            at_x, at_baseline = split.prefix(x), split.prefix(baseline)
            logits = split.suffix(at_x, _rows_like(x, 1))  # the start, computed once
            mode, classes = fix_predicted(target.mode, classes, logits)
            rows = _rows_like(x, group)

            def steps_of(alphas, weights):
                points = tuple(rows_of(_on_segment(b, a, alphas)).astype(a.dtype) for a, b in zip(at_x, at_baseline))
                grads = _frontier_gradients(split, points, rows, mode, jnp.repeat(classes, group))
                return tuple(_weighted_sum(weights, g) for g in grads)

            summed = sum_over_groups(steps_of, in_groups(alphas, group), in_groups(weights, group))
            diff = (x - baseline).astype(jnp.float32)
            attr = per_class(diff, mode) * _through_start(split.transpose(x), summed, mode)
            baseline_logits = split.suffix(at_baseline, _rows_like(x, 1)) if return_delta else None
            return with_completeness_gap(attr, mode, classes, logits, baseline_logits, return_delta)

        return kernel

    program = ("integrated_gradients", method, steps, group, return_delta, target.mode)
    return _engine.run(
        model, program, build, (x, baseline, target.classes), batch_size=check_batch_size(batch_size),
        evaluations=group + 1 + return_delta,
    )


def _rows_like(x, samples: int) -> jax.ShapeDtypeStruct:
    """The model rows of `samples` inputs per example of `x`."""
    return jax.ShapeDtypeStruct((x.shape[0] * samples, *x.shape[1:]), x.dtype)


def _frontier_gradients(split, frontier, rows, mode, classes) -> tuple[jax.Array, ...]:
    """Each row's gradient at the frontier of `split` (`_affine`), for inputs shaped like `rows`:
    one (rows, ...) array per frontier value, or (rows, classes, ...) for "all"."""
    logits, vjp = jax.vjp(lambda *values: split.suffix(values, rows), *frontier)
    return pull_back_each(vjp, logits, mode, classes)


def _weighted_sum(weights: jax.Array, grads: jax.Array) -> jax.Array:
    """sum_k weights[k] * grads[b, k] for (batch * len(weights), ...) rows: (batch, ...)."""
    return jnp.tensordot(weights, per_sample(grads, grads.shape[0] // weights.shape[0]), axes=(0, 1))


def _through_start(pull, summed: tuple[jax.Array, ...], mode: str) -> jax.Array:
    """Gradients summed at the frontier, pulled back through the affine start to the input."""
    (grads,) = jax.vmap(pull, in_axes=1, out_axes=1)(summed) if mode == "all" else pull(summed)
    return grads.astype(jnp.float32)


def _on_segment(start: jax.Array, end: jax.Array, alphas: jax.Array) -> jax.Array:
    """(batch, len(alphas), ...): the points `start + alpha (end - start)`, in float32."""
    start, end = start.astype(jnp.float32), end.astype(jnp.float32)
    alphas = alphas.reshape((1, -1) + (1,) * (start.ndim - 1))
    return start[:, None] + alphas * (end - start)[:, None]


def smoothgrad(
    model,
    x,
    target=None,
    *,
    samples: int = 32,
    noise: float = 0.15,
    kind: str = "smooth",
    key=None,
    batch_size: int | None = None,
) -> jax.Array:
    """SmoothGrad (Smilkov et al., 2017): gradients averaged over noisy copies of the input.

    Args:
      model, x, target, batch_size: as in `saliency`.
      samples: noisy copies per example.
      noise: the noise's standard deviation as a fraction of each example's value range
        (max - min), as in PAIR saliency's `stdev_spread`. Captum's NoiseTunnel takes the
        absolute standard deviation instead: `noise * (x.max() - x.min())` per example.
      kind: "smooth" (mean gradient), "square" (mean squared gradient, SmoothGrad-Squared) or
        "var" (the gradients' variance, VarGrad).
      key: a `jax.random.key`; the same key gives the same result, whatever the batch_size
        (each example's noise comes from `fold_in(key, its index)`).
    """
    check_choice("kind", kind, SMOOTHGRAD_KINDS)
    samples = check_positive_int("samples", samples)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: expected a non-negative fraction of the input's range, got {noise!r}.")
    key = check_key(key, "smoothgrad")
    x, target = prepare(model, x, target)

    group = _engine.samples_per_group(model, x, samples)

    def build():
        def kernel(params, key, indices, x, classes):
            def apply(rows):
                return model.apply(params, rows)

            mode, classes = fix_predicted(target.mode, classes, apply(x))
            draws = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (samples,) + x.shape[1:]))(indices)
            feature_axes = tuple(range(1, x.ndim))
            spread = (x.max(feature_axes) - x.min(feature_axes)).astype(jnp.float32)
            sigma = (noise * spread).reshape((-1, 1) + (1,) * (x.ndim - 1))
            # The mean gradient is linear in the samples' gradients: it can be pulled back
            # through the model's affine start once; the squared ones must reach the input.
            split = _affine.split(model.apply, params, x) if kind == "smooth" else _affine.Unsplit(model.apply, params)
            rows = _rows_like(x, group)

            def samples_of(noise, weights):
                points = rows_of(x[:, None].astype(jnp.float32) + noise).astype(x.dtype)
                grads = _frontier_gradients(split, split.prefix(points), rows, mode, jnp.repeat(classes, group))
                if kind == "smooth":
                    return tuple(_weighted_sum(weights, g) for g in grads)
                (g,) = grads
                return _weighted_sum(weights, g), _weighted_sum(weights, g**2)

            weights = jnp.full((samples,), 1.0 / samples, jnp.float32)
            summed = sum_over_groups(samples_of, in_groups(sigma * draws, group, axis=1), in_groups(weights, group))
            if kind == "smooth":
                return _through_start(split.transpose(x), summed, mode)
            mean, mean_square = summed
            # VarGrad as Captum computes it, E[g^2] - E[g]^2, kept off rounding's negative side.
            return mean_square if kind == "square" else jnp.maximum(mean_square - mean**2, 0.0)

        return kernel

    program = ("smoothgrad", samples, group, float(noise), kind, target.mode)
    return _engine.run(
        model, program, build, (x, target.classes), shared=(key,), batch_size=check_batch_size(batch_size),
        evaluations=group + 1,
    )


def expected_gradients(
    model, x, target=None, *, baselines, samples: int = 32, key=None, batch_size: int | None = None
) -> jax.Array:
    """Expected gradients (Erion et al., 2021; Captum's GradientShap): integrated gradients
    averaged over baselines drawn from a reference set, one random point on each path.

    Each of `samples` draws picks a baseline `b` from `baselines` and `alpha ~ U(0, 1)`, and
    contributes `grad f(b + alpha (x - b)) * (x - b)`; the result is their mean.

    Args:
      model, x, target, batch_size: as in `saliency`.
      baselines: the reference set, (references, ...) with each reference shaped like one example.
      samples: draws per example.
      key: a `jax.random.key`; the same key gives the same result.
    """
    samples = check_positive_int("samples", samples)
    key = check_key(key, "expected_gradients")
    x, target = prepare(model, x, target)
    baselines = np.asarray(baselines).astype(x.dtype)
    if baselines.ndim != x.ndim or baselines.shape[1:] != x.shape[1:] or baselines.shape[0] < 1:
        raise ValueError(
            f"baselines: expected a set of references shaped (references, {', '.join(map(str, x.shape[1:]))}) "
            f"like the examples of x, got shape {baselines.shape}."
        )

    group = _engine.samples_per_group(model, x, samples)

    def build():
        def kernel(params, baselines, key, indices, x, classes):
            def apply(rows):
                return model.apply(params, rows)

            mode, classes = fix_predicted(target.mode, classes, apply(x))

            def draw(i):
                pick, place = jax.random.split(jax.random.fold_in(key, i))
                return (
                    jax.random.randint(pick, (samples,), 0, baselines.shape[0]),
                    jax.random.uniform(place, (samples,)),
                )

            picks, alphas = jax.vmap(draw)(indices)
            split, rows = _affine.Unsplit(model.apply, params), _rows_like(x, group)

            def samples_of(picks, alphas, weights):
                chosen = baselines[picks]  # (batch, group, ...)
                diff = (x[:, None] - chosen).astype(jnp.float32)
                points = (chosen + alphas.reshape(alphas.shape + (1,) * (x.ndim - 1)) * diff).astype(x.dtype)
                (grads,) = _frontier_gradients(split, (rows_of(points),), rows, mode, jnp.repeat(classes, group))
                return jnp.einsum("k,bk...->b...", weights, per_sample(grads, x.shape[0]) * sample_axis(diff, mode))

            weights = jnp.full((samples,), 1.0 / samples, jnp.float32)
            grouped = in_groups(picks, group, axis=1), in_groups(alphas, group, axis=1), in_groups(weights, group)
            return sum_over_groups(samples_of, *grouped)

        return kernel

    program = ("expected_gradients", samples, group, target.mode)
    return _engine.run(
        model, program, build, (x, target.classes), shared=(baselines, key), batch_size=check_batch_size(batch_size),
        evaluations=group + 1,
    )
