"""Axiomatic properties: completeness (the attribution sums to the change of the output) and
non-sensitivity (features the model ignores get no attribution, and the other way round)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._checks import check_baseline, check_batch_size
from ..explain import _engine
from . import _inputs
from ._inputs import followed_output, on_features, position_map, unit_grid, unit_scores
from ._result import MetricResult, summarize


def completeness_gap(
    model, x, target, attribution, *, baseline=0.0, key=None, batch_size: int | None = None
) -> MetricResult:
    """Completeness (Sundararajan et al., 2017; Quantus's `Completeness`): the absolute gap
    `|sum(attribution) - (f(x) - f(baseline))|` per example, for the followed class's logit.
    Exact integrated gradients from the same baseline have gap 0. Lower is better.

    Quantus's `Completeness` returns only whether the gap is below a tolerance; this gives the
    gap itself.

    Args:
      model, x, target: as in `jaxviz.metrics.deletion`.
      attribution: an array, or a method called as `attribution(model, x, classes)`.
      baseline: the reference input: a scalar, an array shaped like one example, or one per example.
      key: the bootstrap's `jax.random.key` (default key(0)).
      batch_size: examples per compiled chunk.
    """
    x, classes, attr = _inputs.explained(model, x, target, attribution, metric="completeness_gap")
    baseline = check_baseline(baseline, x)

    def build():
        def kernel(params, indices, x, baseline, classes):
            logits = model.apply(params, jnp.concatenate([x, baseline]))
            scores = followed_output(logits, jnp.concatenate([classes, classes]), "logit")
            return scores[: x.shape[0]] - scores[x.shape[0] :]

        return kernel

    change = np.asarray(
        _engine.run(
            model,
            ("metrics.output_change",),
            build,
            (x, baseline, classes),
            batch_size=check_batch_size(batch_size),
            evaluations=2,
        )
    )
    gaps = np.abs(attr.reshape(len(attr), -1).sum(axis=1, dtype=np.float64) - change)
    return summarize("completeness_gap", gaps, _inputs.bootstrap_key(key), higher_is_better=False)


def non_sensitivity(
    model,
    x,
    target,
    attribution,
    *,
    region: int = 1,
    replacement=0.0,
    eps: float = 1e-5,
    output: str = "logit",
    key=None,
    batch_size: int | None = None,
) -> MetricResult:
    """Non-sensitivity (Nguyen and Martinez, 2020): the share of units on which the attribution
    and the model disagree about mattering: units with `|relevance| <= eps` whose replacement
    changes the followed output by more than `eps`, plus units with `|relevance| > eps` whose
    replacement changes it by at most `eps` (the symmetric difference of the two sets). Lower is
    better; 0 means zero attribution exactly where the model does not react.

    One model evaluation per unit and example: for images, `region` x `region` squares keep
    that affordable. Quantus's `NonSensitivity` counts the same symmetric difference (this
    divides it by the number of units).

    Args:
      model, x, target, attribution, region, replacement, batch_size: as in
        `jaxviz.metrics.deletion` ("blur" is not taken here).
      eps: the threshold below which a relevance or an output change counts as zero.
      output: "logit" or "probability".
      key: the bootstrap's `jax.random.key` (default key(0)).
    """
    _inputs.check_output(output)
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps: expected a non-negative threshold, got {eps!r}.")
    x, classes, attr = _inputs.explained(model, x, target, attribution, metric="non_sensitivity")
    region = _inputs.check_region(region, x)
    fill = _inputs.check_replacement(replacement, x)
    if isinstance(fill, str):
        raise ValueError("replacement: non_sensitivity takes a value or an array, not 'blur'.")

    def build():
        def kernel(params, indices, x, attr, classes, fill):
            image = x.ndim == 4
            grid, count = unit_grid(x.shape[1 : 3 if image else None], region, image)
            relevance = unit_scores(position_map(attr, x), grid, count)
            alone = grid[None] == jnp.arange(count).reshape(
                (-1,) + (1,) * grid.ndim
            )  # (units, *positions)
            rows = jnp.where(on_features(alone, x)[None], fill[:, None], x[:, None])
            at_x = followed_output(model.apply(params, x), classes, output)
            flat = rows.reshape((-1,) + x.shape[1:])
            at_rows = followed_output(model.apply(params, flat), jnp.repeat(classes, count), output)
            changed = jnp.abs(at_x[:, None] - at_rows.reshape(x.shape[0], count)) > eps
            relevant = jnp.abs(relevance) > eps
            return (changed != relevant).mean(axis=1)

        return kernel

    units = unit_grid(position_map(attr, x).shape[1:], region, _inputs.is_image(x))[1]
    values = _engine.run(
        model,
        ("metrics.non_sensitivity", region, float(eps), output),
        build,
        (x, attr, classes, fill),
        batch_size=check_batch_size(batch_size),
        evaluations=units + 1,
    )
    return summarize("non_sensitivity", values, _inputs.bootstrap_key(key), higher_is_better=False)
