"""Faithfulness: does removing what the attribution calls relevant change the model's output?

Deletion and insertion curves, ROAD, faithfulness correlation and infidelity. Each is one
compiled program over chunks of examples (`jaxviz.explain._engine.run`): every perturbed copy
of a chunk, for the attribution's order and for the random orders of the baseline, goes through
the model as one batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.sparse.linalg import cg

from .._checks import check_batch_size, check_choice, check_positive_int
from ..explain import _engine
from . import _inputs
from ._inputs import (
    descending_ranks,
    followed_output,
    on_features,
    perturbations,
    position_map,
    random_ranks,
    unit_grid,
    unit_scores,
)
from ._result import CurveResult, MetricResult, summarize
from ._similarity import pearson

ORDERS = ("most", "least")
ROAD_PERCENTAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def deletion(
    model,
    x,
    target,
    attribution,
    *,
    order: str = "most",
    region: int = 1,
    steps: int = 32,
    replacement: float | str | np.ndarray = 0.0,
    blur_sigma: float = 4.0,
    output: str = "probability",
    random_orders: int = 4,
    key=None,
    batch_size: int | None = None,
) -> CurveResult:
    """Deletion curve and its area (Petsiuk et al., 2018, "RISE"; Samek et al., 2017's pixel
    flipping): remove features in the attribution's order, step by step, and follow the model.

    The features are ranked by relevance in units: for images (batch, height, width, channels),
    `region` x `region` squares of pixels with all their channels (relevance summed over the
    square and the channels); otherwise each feature alone. At point k of `steps + 1`, the first
    round(k / steps * units) units of the order are replaced, and the curve records the followed
    class's output. The score is the area under the curve over the removed share in [0, 1]
    (trapezoid rule). Removing the most relevant first ("MoRF"), a faithful attribution makes
    the output fall fast: a low area is better. With `order="least"` ("LeRF"), a high area is.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, or one int per example.
      attribution: an array shaped like `x` (or like `x` without its channel axis, e.g. a
        Grad-CAM map), or a method called as `attribution(model, x, classes)`.
      order: "most" (most relevant first) or "least" (least relevant first).
      region: the side of the square units of an image, in pixels (1: pixel by pixel).
      steps: the curve's number of steps (it has steps + 1 points, from nothing removed to all).
      replacement: what removed features become: a scalar, an array shaped like one example,
        one per example, or "blur" (a Gaussian blur of the input with `blur_sigma` pixels).
      output: "probability" (softmax, as RISE), "logit", or "accuracy" (1 while the followed
        class is still predicted).
      random_orders: random orders of the same units per example for the baseline (0: none).
      key: a `jax.random.key` for the random orders and the bootstrap.
      batch_size: examples per compiled chunk, as in `jaxviz.saliency`.

    Returns:
      A `CurveResult`: the areas, their bootstrap CI, the random orders' mean area as the
      baseline, and the curves.
    """
    return _perturbation_curve(
        "deletion",
        model,
        x,
        target,
        attribution,
        insert=False,
        order=order,
        region=region,
        steps=steps,
        replacement=replacement,
        blur_sigma=blur_sigma,
        output=output,
        random_orders=random_orders,
        key=key,
        batch_size=batch_size,
    )


def insertion(
    model,
    x,
    target,
    attribution,
    *,
    order: str = "most",
    region: int = 1,
    steps: int = 32,
    replacement: float | str | np.ndarray | None = None,
    blur_sigma: float = 4.0,
    output: str = "probability",
    random_orders: int = 4,
    key=None,
    batch_size: int | None = None,
) -> CurveResult:
    """Insertion curve and its area (Petsiuk et al., 2018): start from the input with every
    feature replaced and put features back in the attribution's order. With the most relevant
    first, a high area is better.

    Args: as `deletion`; the replacement is the starting point, by default (None) a blurred
    copy of an image, as RISE, and 0 for other inputs.
    """
    if replacement is None:
        replacement = "blur" if np.ndim(x) == 4 else 0.0
    return _perturbation_curve(
        "insertion",
        model,
        x,
        target,
        attribution,
        insert=True,
        order=order,
        region=region,
        steps=steps,
        replacement=replacement,
        blur_sigma=blur_sigma,
        output=output,
        random_orders=random_orders,
        key=key,
        batch_size=batch_size,
    )


def _perturbation_curve(
    name,
    model,
    x,
    target,
    attribution,
    *,
    insert,
    order,
    region,
    steps,
    replacement,
    blur_sigma,
    output,
    random_orders,
    key,
    batch_size,
) -> CurveResult:
    check_choice("order", order, ORDERS)
    _inputs.check_output(output)
    steps = check_positive_int("steps", steps)
    random_orders = _check_count("random_orders", random_orders)
    blur_sigma = _inputs.check_scale("blur_sigma", blur_sigma)
    x, classes, attr = _inputs.explained(model, x, target, attribution, metric=name)
    region = _inputs.check_region(region, x)
    fill = _inputs.check_replacement(replacement, x)
    blur = isinstance(fill, str)
    sample_key, resample_key = _keys(key, name, random_orders)
    count = unit_grid(position_map(attr, x).shape[1:], region, _inputs.is_image(x))[1]
    cuts = _cuts(count, np.linspace(0.0, 1.0, steps + 1))

    def build():
        def kernel(params, key, cuts, indices, x, attr, classes, fill):
            ranks = _orders(key, indices, x, attr, region, order, random_orders)
            grid, _ = unit_grid(x.shape[1 : 3 if x.ndim == 4 else None], region, x.ndim == 4)
            removed = ranks[:, :, None][..., grid] < cuts.reshape((1, 1, -1) + (1,) * grid.ndim)
            if insert:
                removed = ~removed
            start = _inputs.gaussian_blur(x, blur_sigma).astype(x.dtype) if blur else fill
            rows = jnp.where(on_features(removed, x), start[:, None, None], x[:, None, None])
            return _outputs(model, params, rows, classes, output)

        return kernel

    fill_values = x if blur else fill  # unused by the blur program, but keeps one signature
    program = (
        "metrics.curve",
        insert,
        order,
        region,
        random_orders,
        blur,
        float(blur_sigma),
        output,
    )
    curves = np.asarray(
        _engine.run(
            model,
            program,
            build,
            (x, attr, classes, fill_values),
            shared=(sample_key, cuts),
            batch_size=check_batch_size(batch_size),
            evaluations=(1 + random_orders) * (steps + 1),
        )
    )
    fractions = np.asarray(cuts) / count
    areas = np.trapezoid(curves, fractions, axis=-1)  # (batch, 1 + random_orders)
    higher = insert == (order == "most")
    result = summarize(
        name,
        areas[:, 0],
        resample_key,
        higher_is_better=higher,
        baseline_values=areas[:, 1:].mean(axis=1) if random_orders else None,
        result_type=CurveResult,
        fractions=fractions,
        curves=curves[:, 0],
        baseline_curves=curves[:, 1:].mean(axis=1) if random_orders else np.zeros((x.shape[0], 0)),
    )
    assert isinstance(result, CurveResult)
    return result


def road(
    model,
    x,
    target,
    attribution,
    *,
    order: str = "most",
    percentages=ROAD_PERCENTAGES,
    noise: float = 0.01,
    output: str = "accuracy",
    random_orders: int = 4,
    key=None,
    batch_size: int | None = None,
) -> CurveResult:
    """ROAD, RemOve And Debias (Rong et al., 2022): deletion where the removed pixels are filled
    by noisy linear imputation, so the filling itself does not tell the model which pixels
    were removed.

    Each removed pixel takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct
    ones, 1/12 for the diagonals, over the neighbours inside the image), solved jointly for all
    removed pixels of a channel (a sparse linear system, here by conjugate gradients), plus
    Gaussian noise of standard deviation `noise`: the imputation of the paper's code
    (tleemann/road_evaluation) and Quantus's `noisy_linear_imputation`. The score is the mean
    output over the removal percentages (the curve's area divided by its span). Images only;
    pixels are ranked by their relevance summed over channels.

    Args:
      model, x, target, attribution, key, batch_size: as in `deletion`.
      order: "most" (MoRF: a low score is better) or "least" (LeRF: a high score is better).
      percentages: the removed shares, each in (0, 1) (all removed leaves nothing to impute from).
      noise: the imputation noise's standard deviation.
      output: "accuracy" (as in the paper: whether the followed class is still predicted),
        "probability" or "logit".
      random_orders: random pixel orders per example for the baseline (0: none).
    """
    check_choice("order", order, ORDERS)
    _inputs.check_output(output)
    random_orders = _check_count("random_orders", random_orders)
    shares = np.asarray(percentages, np.float64).reshape(-1)
    if shares.size == 0 or not np.all((shares > 0) & (shares < 1)):
        raise ValueError(f"percentages: expected removed shares in (0, 1), got {percentages!r}.")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: expected a non-negative standard deviation, got {noise!r}.")
    x, classes, attr = _inputs.explained(model, x, target, attribution, metric="road")
    if not _inputs.is_image(x):
        raise ValueError(
            "x: road imputes pixels from their neighbours and needs images (batch, height, "
            f"width, channels), got shape {x.shape}."
        )
    sample_key, resample_key = _keys(key, "road", random_orders or noise)
    count = x.shape[1] * x.shape[2]
    cuts = _cuts(count, shares)

    def build():
        def kernel(params, key, cuts, indices, x, attr, classes):
            order_key, noise_key = jax.random.split(key)
            ranks = _orders(order_key, indices, x, attr, 1, order, random_orders)
            grid, _ = unit_grid(x.shape[1:3], 1, True)
            removed = ranks[:, :, None][..., grid] < cuts.reshape((1, 1, -1, 1, 1))
            copies = jnp.broadcast_to(x[:, None, None], removed.shape + x.shape[-1:])
            points = copies.shape[1] * copies.shape[2]
            draws = (
                perturbations(noise_key, indices, points, x.shape[1:], "gaussian", noise).reshape(
                    (-1,) + x.shape[1:]
                )
                if noise
                else 0.0
            )
            filled = noisy_linear_imputation(
                copies.reshape((-1,) + x.shape[1:]),
                removed.reshape((-1,) + x.shape[1:3]),
                draws,
            )
            return _outputs(
                model, params, filled.reshape(copies.shape).astype(x.dtype), classes, output
            )

        return kernel

    program = ("metrics.road", order, random_orders, noise, output)
    curves = np.asarray(
        _engine.run(
            model,
            program,
            build,
            (x, attr, classes),
            shared=(sample_key, cuts),
            batch_size=check_batch_size(batch_size),
            evaluations=(1 + random_orders) * len(shares),
        )
    )
    scores = curves.mean(axis=-1)
    result = summarize(
        "road",
        scores[:, 0],
        resample_key,
        higher_is_better=order == "least",
        baseline_values=scores[:, 1:].mean(axis=1) if random_orders else None,
        result_type=CurveResult,
        fractions=np.asarray(cuts) / count,
        curves=curves[:, 0],
        baseline_curves=curves[:, 1:].mean(axis=1) if random_orders else np.zeros((x.shape[0], 0)),
    )
    assert isinstance(result, CurveResult)
    return result


# The imputation's neighbour weights (Rong et al., 2022): direct neighbours 1/6, diagonals 1/12.
_NEIGHBOUR_WEIGHTS = np.array(
    [[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]]
)


def noisy_linear_imputation(images: jax.Array, removed: jax.Array, draws) -> jax.Array:
    """Images (n, height, width, channels) with the `removed` pixels (n, height, width) replaced
    by the solution of `value = weighted mean of the neighbours`, plus `draws` (noise shaped
    like the images, or 0).

    The system restricted to the removed pixels is `(D - W) v = W known` with W the neighbour
    weights and D each pixel's total weight of neighbours inside the image: a graph Laplacian,
    positive definite whenever each group of removed pixels touches a kept one, solved by
    Jacobi-preconditioned conjugate gradients, all images and channels as one system."""
    images = images.astype(jnp.float32)
    unknown = removed[..., None].astype(jnp.float32)
    known = images * (1 - unknown)

    def neighbours(values):
        height, width = values.shape[1:3]
        padded = jnp.pad(values, ((0, 0), (1, 1), (1, 1), (0, 0)))
        return sum(
            float(_NEIGHBOUR_WEIGHTS[i, j]) * padded[:, i : i + height, j : j + width]
            for i in range(3)
            for j in range(3)
            if _NEIGHBOUR_WEIGHTS[i, j]
        )

    degree = neighbours(jnp.ones(images.shape[:3] + (1,), jnp.float32))

    def system(values):
        return unknown * (degree * values - neighbours(unknown * values))

    solved, _ = cg(
        system, unknown * neighbours(known), M=lambda r: r / degree, tol=1e-6, maxiter=1000
    )
    return known + unknown * (solved + draws)


def faithfulness_correlation(
    model,
    x,
    target,
    attribution,
    *,
    subset_size: int = 16,
    samples: int = 64,
    region: int = 1,
    replacement=0.0,
    output: str = "logit",
    key=None,
    batch_size: int | None = None,
) -> MetricResult:
    """Faithfulness correlation (Bhatt et al., 2020): over random subsets S of `subset_size`
    units, the Pearson correlation between the attribution's sum over S and the drop of the
    followed output when S is replaced, `f(x) - f(x with S replaced)`. Higher is better.

    The baseline is the same correlation for a random attribution: the units' relevance
    shuffled within each example (the same perturbed copies, so no extra model evaluation).
    An example whose sums or drops do not vary correlates 0.

    Args:
      model, x, target, attribution, region, replacement, batch_size: as in `deletion`.
      subset_size: units per random subset (Quantus's `subset_size`).
      samples: random subsets per example (Quantus's `nr_runs`, 100 by default there).
      output: "logit" (Quantus's default, softmax=False) or "probability".
      key: a `jax.random.key` for the subsets, the shuffles and the bootstrap.
    """
    check_choice("output", output, ("logit", "probability"))
    samples = check_positive_int("samples", samples)
    subset_size = check_positive_int("subset_size", subset_size)
    x, classes, attr = _inputs.explained(
        model, x, target, attribution, metric="faithfulness_correlation"
    )
    region = _inputs.check_region(region, x)
    fill = _inputs.check_replacement(replacement, x)
    if isinstance(fill, str):
        raise ValueError(
            "replacement: faithfulness_correlation takes a value or an array, not 'blur'."
        )
    count = unit_grid(position_map(attr, x).shape[1:], region, _inputs.is_image(x))[1]
    if subset_size > count:
        raise ValueError(
            f"subset_size: {subset_size} is more than the {count} units of an example."
        )
    sample_key, resample_key = _inputs.sampling_keys(key, "faithfulness_correlation")

    def build():
        def kernel(params, key, indices, x, attr, classes, fill):
            subset_key, shuffle_key = jax.random.split(key)
            image = x.ndim == 4
            grid, count = unit_grid(x.shape[1 : 3 if image else None], region, image)
            scores = unit_scores(position_map(attr, x), grid, count)
            chosen = (
                random_ranks(subset_key, indices, samples, count) < subset_size
            )  # (batch, samples, units)
            rows = jnp.where(on_features(chosen[..., grid], x), fill[:, None], x[:, None])
            at_x = followed_output(model.apply(params, x), classes, output)
            drops = at_x[:, None] - _outputs(model, params, rows[:, None], classes, output)[:, 0]
            shuffled = jnp.take_along_axis(
                scores, random_ranks(shuffle_key, indices, 1, count)[:, 0], axis=1
            )
            sums = jnp.einsum("bsu,bu->bs", chosen.astype(jnp.float32), scores)
            shuffled_sums = jnp.einsum("bsu,bu->bs", chosen.astype(jnp.float32), shuffled)
            return pearson(sums, drops), pearson(shuffled_sums, drops)

        return kernel

    program = ("metrics.faithfulness_correlation", subset_size, samples, region, output)
    values, shuffled = _engine.run(
        model,
        program,
        build,
        (x, attr, classes, fill),
        shared=(sample_key,),
        batch_size=check_batch_size(batch_size),
        evaluations=samples + 1,
    )
    return summarize(
        "faithfulness_correlation",
        values,
        resample_key,
        higher_is_better=True,
        baseline_values=shuffled,
    )


def infidelity(
    model,
    x,
    target,
    attribution,
    *,
    noise: float = 0.1,
    samples: int = 32,
    normalize: bool = False,
    output: str = "logit",
    key=None,
    batch_size: int | None = None,
) -> MetricResult:
    """Infidelity (Yeh et al., 2019): `E_I[(I . attribution - (f(x) - f(x - I)))^2]` over
    perturbations `I ~ N(0, noise^2)` per feature, the expected squared error of the
    attribution as a linear model of the output's change. Lower is better; an attribution
    equal to the gradient of a linear model scores 0.

    This is Captum's `infidelity` with a Gaussian `perturb_func` returning `(I, x - I)`: the
    same sign convention and, with `normalize=True`, the same rescaling of the attribution by
    the least-squares `beta = E[(I.a) df] / E[(I.a)^2]` (0/0 taken as 0), which makes the score
    invariant to the attribution's scale (Yeh et al.'s "optimal scaling"; captum#613). A map
    without a channel axis is shared by the channels.

    The baseline is the infidelity of a random attribution: the attribution's features
    shuffled within each example, scored on the same perturbations.

    Args:
      model, x, target, attribution, batch_size: as in `deletion`.
      noise: the perturbations' standard deviation.
      samples: perturbations per example (Captum's `n_perturb_samples`).
      normalize: rescale the attribution by the optimal `beta` first (Captum's `normalize`).
      output: "logit" (the model's output, as Captum's forward_func) or "probability".
      key: a `jax.random.key` for the perturbations, the shuffles and the bootstrap.
    """
    check_choice("output", output, ("logit", "probability"))
    samples = check_positive_int("samples", samples)
    noise = _inputs.check_scale("noise", noise)
    x, classes, attr = _inputs.explained(model, x, target, attribution, metric="infidelity")
    sample_key, resample_key = _inputs.sampling_keys(key, "infidelity")

    def build():
        def kernel(params, key, indices, x, attr, classes):
            noise_key, shuffle_key = jax.random.split(key)
            perturbation = perturbations(
                noise_key, indices, samples, x.shape[1:], "gaussian", noise
            )
            rows = (x[:, None].astype(jnp.float32) - perturbation).astype(x.dtype)
            at_x = followed_output(model.apply(params, x), classes, output)
            drops = at_x[:, None] - _outputs(model, params, rows[:, None], classes, output)[:, 0]
            features = jnp.broadcast_to(attr[..., None] if attr.ndim < x.ndim else attr, x.shape)
            flat = features.reshape(x.shape[0], -1)
            order = random_ranks(shuffle_key, indices, 1, flat.shape[1])[:, 0]
            shuffled = jnp.take_along_axis(flat, order, axis=1)
            flat_perturbation = perturbation.reshape(x.shape[0], samples, -1)
            return tuple(
                _infidelity(jnp.einsum("bsf,bf->bs", flat_perturbation, a), drops, normalize)
                for a in (flat, shuffled)
            )

        return kernel

    program = ("metrics.infidelity", samples, float(noise), normalize, output)
    values, shuffled = _engine.run(
        model,
        program,
        build,
        (x, attr, classes),
        shared=(sample_key,),
        batch_size=check_batch_size(batch_size),
        evaluations=samples + 1,
    )
    return summarize(
        "infidelity", values, resample_key, higher_is_better=False, baseline_values=shuffled
    )


def _infidelity(dots: jax.Array, drops: jax.Array, normalize: bool) -> jax.Array:
    """Mean squared error (batch,) of `dots` (batch, samples) as predictions of `drops`."""
    if normalize:
        energy = (dots**2).sum(axis=1)
        beta = (dots * drops).sum(axis=1) / jnp.where(energy == 0, 1.0, energy)
        dots = beta[:, None] * dots
    return ((dots - drops) ** 2).mean(axis=1)


def _orders(key, indices, x, attr, region, order, random_orders) -> jax.Array:
    """Unit ranks (batch, 1 + random_orders, units): the attribution's order, then random ones."""
    image = x.ndim == 4
    grid, count = unit_grid(x.shape[1 : 3 if image else None], region, image)
    scores = unit_scores(position_map(attr, x), grid, count)
    ranks = descending_ranks(scores if order == "most" else -scores)[:, None]
    if random_orders:
        ranks = jnp.concatenate([ranks, random_ranks(key, indices, random_orders, count)], axis=1)
    return ranks


def _outputs(model, params, rows: jax.Array, classes: jax.Array, output: str) -> jax.Array:
    """The followed output for perturbed copies (batch, orders, points, ...): (batch, orders,
    points)."""
    batch_shape = rows.shape[:3]
    per_row = jnp.broadcast_to(classes[:, None, None], batch_shape).reshape(-1)
    logits = model.apply(params, rows.reshape((-1,) + rows.shape[3:]))
    return followed_output(logits, per_row, output).reshape(batch_shape)


def _cuts(count: int, shares: np.ndarray) -> np.ndarray:
    """How many units are removed at each share: round(share * count), int32."""
    return np.round(np.asarray(shares) * count).astype(np.int32)


def _check_count(argument: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{argument}: expected a non-negative integer, got {value!r}.")
    return int(value)


def _keys(key, metric: str, random_draws: float):
    """(sampling key, bootstrap key): the key is required only when something is drawn."""
    if random_draws:
        return _inputs.sampling_keys(key, metric)
    resample = _inputs.bootstrap_key(key)
    return jax.random.key(0), resample


def perturbed_inputs(
    x,
    attribution,
    *,
    fractions,
    insert: bool = False,
    order: str = "most",
    region: int = 1,
    replacement: float | str | np.ndarray | None = 0.0,
    blur_sigma: float = 4.0,
) -> np.ndarray:
    """The inputs a deletion (or insertion) curve evaluates the model on: for each share in
    `fractions`, `x` with that share of its units removed (or, with `insert`, put back onto the
    replacement) in the attribution's order, exactly as `deletion` and `insertion` build them
    (the same ranking, ties by position, and rounding of the unit count).

    Args:
      x: a batch of inputs (batch, ...).
      attribution: shaped like `x` (or like `x` without its channel axis).
      fractions: the shares removed (or inserted), each in [0, 1], e.g. a curve's `fractions`.
      insert, order, region, replacement, blur_sigma: as in `deletion` and `insertion`
        (`replacement=None` with `insert` is the insertion default: a blurred image).

    Returns:
      float (batch, len(fractions), *x.shape[1:]).
    """
    check_choice("order", order, ORDERS)
    x = np.asarray(x)
    attr = _inputs.check_attribution(attribution, x)
    region = _inputs.check_region(region, x)
    if replacement is None:
        replacement = "blur" if _inputs.is_image(x) else 0.0
    fill = _inputs.check_replacement(replacement, x)
    blur_sigma = _inputs.check_scale("blur_sigma", blur_sigma)
    shares = np.asarray(fractions, np.float64).reshape(-1)
    if shares.size == 0 or not np.all((shares >= 0) & (shares <= 1)):
        raise ValueError(f"fractions: expected shares in [0, 1], got {fractions!r}.")
    image = _inputs.is_image(x)
    grid, count = unit_grid(position_map(attr, x).shape[1:], region, image)
    scores = unit_scores(jnp.asarray(position_map(attr, x)), grid, count)
    ranks = np.asarray(descending_ranks(scores if order == "most" else -scores))
    cuts = _cuts(count, shares)
    removed = ranks[:, None][..., np.asarray(grid)] < cuts.reshape((1, -1) + (1,) * grid.ndim)
    if insert:
        removed = ~removed
    start = np.asarray(_inputs.gaussian_blur(jnp.asarray(x), blur_sigma)) if isinstance(
        fill, str
    ) else np.asarray(fill)
    mask = removed[..., None] if image else removed
    return np.where(mask, start[:, None], x[:, None]).astype(x.dtype)
