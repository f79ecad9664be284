"""Coalition methods: LIME, KernelSHAP and Shapley values, as one compiled program per method.

A *coalition* is a subset of an input's features (or of its feature groups: tabular columns,
image superpixels, token spans). The model is evaluated on the input with the features outside
the coalition *missing*, and a method turns those evaluations into one number per group.

What "missing" means here (the masker) is explicit and is one of two things:

- `baseline=`: a missing feature takes the baseline's value at that position (a scalar, an
  array shaped like one example, or one per example), so a coalition's value is
  `f(where(in_coalition, x, baseline))`. This is Captum's meaning of `baselines` in `Lime` and
  `KernelShap`.
- `background=`: a missing feature takes its value from each row of a background dataset in
  turn, and a coalition's value is the mean over the rows,
  `mean_r f(where(in_coalition, x, background[r]))`: the interventional (marginal) expectation
  that shap's `KernelExplainer` and `ExactExplainer` with an `Independent` masker compute.
  Features are replaced together from the same row, so dependence within a row is kept, but not
  between a present feature and the missing ones.

Without either, missing features are 0 (`baseline=0.0`). A coalition's value is the model's
output for the followed class (its logit, or whatever the model returns; wrap a softmax to
explain probabilities). Every position of a group is present or missing together.

All of an example's coalitions run through the model in one program: the coalitions are drawn
(or enumerated) inside it, their masked copies are built on the fly, and they pass through the
model in fixed-size steps (`jax.lax.map`), so memory holds one step's rows; a CPU takes as many
rows per step as a default chunk holds (`_engine.samples_per_group`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._checks import check_baseline, check_batch_size, check_choice, check_key, check_positive_int
from . import _engine
from ._backprop import fix_predicted, in_groups
from ._targets import class_scores, prepare

MAX_EXACT_FEATURES = 16
LIME_DISTANCES = ("l2", "cosine")
SHAPLEY_ESTIMATORS = ("auto", "exact", "permutation")


class LimeResult(NamedTuple):
    """What `lime` returns.

    Attributes:
      attributions: shaped like `x` (or (batch, classes, ...) for target="all"); every position
        carries its group's coefficient (as Captum's `Lime` with a feature mask).
      coefficients: the surrogate's weight per group, (batch, groups) or (batch, classes, groups).
      intercept: the surrogate's intercept, (batch,) or (batch, classes).
      r2: the surrogate's weighted coefficient of determination on the sampled coalitions (as
        lime's `score`), (batch,) or (batch, classes): how well a linear model of "which groups
        are present" reproduces the model near `x`. Near 1, the coefficients say what the model
        does; near 0, they say little.
      samples: with `return_samples=True`, the coalitions drawn, the model's values on them and
        their kernel weights (a `LimeSamples`), which `plot("fit")` draws; else None.
    """

    attributions: jax.Array
    coefficients: jax.Array
    intercept: jax.Array
    r2: jax.Array
    samples: LimeSamples | None = None

    def plot(self, kind: str = "fit", **options):
        """Draw the result; return the matplotlib figure.

        Args:
          kind: "fit" (the surrogate's prediction against the model's value on the sampled
            coalitions, with R^2 and the kernel width; needs `lime(..., return_samples=True)`),
            "bar" (the coefficients of one example, largest first) or "image" (the
            coefficients over the image with the groups' outlines; needs `image=` and `groups=`).
          options: `index` (the example, default 0), `class_index` (for target="all"), and
            what `jaxviz.plot.lime_fit`, `jaxviz.plot.feature_bars` or
            `jaxviz.plot.grouped_attribution` take.
        """
        from ..plot import _coalition

        return _coalition.plot_lime(self, kind, **options)


class LimeSamples(NamedTuple):
    """LIME's sampled coalitions and what the surrogate was fitted to (`return_samples=True`).

    Attributes:
      coalitions: (batch, samples, groups) booleans, True where a group is present.
      values: the model's value on each coalition, (batch, samples) or (batch, classes, samples).
      weights: each coalition's kernel weight, (batch, samples).
      kernel_width: the kernel's width used (lime's default when none was given).
    """

    coalitions: jax.Array
    values: jax.Array
    weights: jax.Array
    kernel_width: float


class ShapleyResult(NamedTuple):
    """What `kernel_shap` and `shapley_values` return.

    Attributes:
      attributions: shaped like `x` (or (batch, classes, ...) for target="all"); every position
        carries its group's value.
      values: the Shapley value per group, (batch, groups) or (batch, classes, groups). They
        sum to `f(x) - base` (efficiency), exactly up to float32 rounding for every method.
      base: the value of the empty coalition, `E f(background)` (or `f(baseline)`), (batch,) or
        (batch, classes).
      stderr: the standard error of each value from the sampling (zeros for exact enumeration).
    """

    attributions: jax.Array
    values: jax.Array
    base: jax.Array
    stderr: jax.Array

    def plot(self, kind: str = "waterfall", **options):
        """Draw the result; return the matplotlib figure.

        Args:
          kind: "waterfall" (one example: from the base value to f(x), feature by feature),
            "bar" (one example's values, or with `index=None` the mean |value| over the batch),
            "beeswarm" (every example's value per feature, coloured by the feature's value;
            needs `features=`, the inputs) or "image" (one example's values over the image with
            the groups' outlines; needs `image=` and `groups=`).
          options: `index` (the example, default 0), `class_index` (for target="all"),
            `feature_names`, and what `jaxviz.plot.waterfall`, `jaxviz.plot.importance`,
            `jaxviz.plot.beeswarm` or `jaxviz.plot.grouped_attribution` take.
        """
        from ..plot import _coalition

        return _coalition.plot_shapley(self, kind, **options)


# -- feature groups --------------------------------------------------------------------------


def grid_segments(shape: Sequence[int], cell) -> np.ndarray:
    """A segmentation of a (height, width) image into a grid of `cell`-pixel cells.

    Args:
      shape: (height, width).
      cell: the cell's size, an int (square) or (rows, columns); the last row and column of
        cells are clipped at the edges.

    Returns:
      int32 labels (height, width), numbered row by row from 0; pass them as `groups`.
    """
    if len(shape) != 2:
        raise ValueError(f"shape: expected (height, width), got {tuple(shape)!r}.")
    cell = (cell, cell) if isinstance(cell, int | np.integer) else tuple(cell)
    rows, cols = (check_positive_int("cell", c) for c in cell)
    per_row = -(-shape[1] // cols)
    return (
        np.arange(shape[0])[:, None] // rows * per_row + np.arange(shape[1])[None, :] // cols
    ).astype(np.int32)


def superpixels(images, *, algorithm: str = "slic", **options) -> np.ndarray:
    """Superpixels of each image with scikit-image (an optional dependency).

    Args:
      images: (batch, height, width, channels), channels last.
      algorithm: "slic" (`skimage.segmentation.slic`, default `n_segments=50`) or "quickshift"
        (`skimage.segmentation.quickshift` with lime's image explainer's defaults,
        `kernel_size=4, max_dist=200, ratio=0.2`, which assume values from 0 to 255; images
        with other than 3 channels are averaged to one and not converted to Lab).
      options: passed to the scikit-image function.

    Returns:
      int32 labels (batch, height, width); pass them as `groups`.
    """
    check_choice("algorithm", algorithm, ("slic", "quickshift"))
    try:
        from skimage import segmentation
    except ImportError:
        raise ImportError(
            "superpixels: needs scikit-image (pip install scikit-image); without it, pass "
            "groups=jaxviz.grid_segments((height, width), cell) or your own segmentation."
        ) from None
    images = np.asarray(images, np.float64)
    if images.ndim != 4:
        raise ValueError(
            f"images: expected (batch, height, width, channels), got shape {images.shape}."
        )
    if algorithm == "slic":
        options = {"n_segments": 50, "start_label": 0, "channel_axis": -1} | options
        labels = [segmentation.slic(image, **options) for image in images]
    else:
        options = {
            "kernel_size": 4,
            "max_dist": 200,
            "ratio": 0.2,
            "convert2lab": images.shape[-1] == 3,
        } | options
        labels = [
            segmentation.quickshift(
                image if image.shape[-1] == 3 else image.mean(-1, keepdims=True), **options
            )
            for image in images
        ]
    return np.stack(labels).astype(np.int32)


def token_spans(length: int, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Groups for a sequence of `length` tokens: each `(start, end)` span (end excluded) is one
    group, numbered in order; every token outside the spans is a group of its own after them.

    Returns:
      int32 labels (length,); for token embeddings (batch, length, features), pass them as
      `groups` and they cover each token's whole embedding.
    """
    length = check_positive_int("length", length)
    labels = np.full(length, -1, np.int64)
    for number, span in enumerate(spans):
        start, end = span
        if not 0 <= start < end <= length:
            raise ValueError(
                f"spans: span {tuple(span)!r} is not a (start, end) with "
                f"0 <= start < end <= {length}."
            )
        if (labels[start:end] >= 0).any():
            raise ValueError(f"spans: span {tuple(span)!r} overlaps an earlier span.")
        labels[start:end] = number
    loose = labels < 0
    labels[loose] = len(spans) + np.arange(loose.sum())
    return labels.astype(np.int32)


# -- the masker ------------------------------------------------------------------------------


class Masker(NamedTuple):
    groups: np.ndarray  # int32 (batch, *example): each position's group, 0..count-1
    group_count: int  # the number of groups
    background: np.ndarray | None  # (rows, *example), or None with a baseline
    baseline: np.ndarray | None  # (batch, *example), or None with a background

    @property
    def references(self) -> int:
        """How many model rows one coalition costs."""
        return 1 if self.background is None else self.background.shape[0]


def make_masker(x: np.ndarray, *, groups=None, baseline=None, background=None) -> Masker:
    """Validate the groups and what replaces a missing feature (see the module's docstring)."""
    labels, count = _check_groups(groups, x.shape)
    if baseline is not None and background is not None:
        raise ValueError(
            "baseline, background: give one of them (a missing feature takes the baseline's value, "
            "or the values of each background row in turn), not both."
        )
    if background is None:
        return Masker(labels, count, None, check_baseline(0.0 if baseline is None else baseline, x))
    background = np.asarray(background)
    if background.ndim == x.ndim - 1 and background.shape == x.shape[1:]:
        background = background[None]
    if background.ndim != x.ndim or background.shape[1:] != x.shape[1:]:
        raise ValueError(
            "background: expected rows shaped like the examples of x, "
            f"(rows, {', '.join(map(str, x.shape[1:]))}), "
            f"got shape {background.shape}."
        )
    if background.shape[0] == 0:
        raise ValueError(
            "background: is empty (0 rows); a missing feature takes its values from the "
            "background rows, so give at least one (shap suggests 50-100 rows, or k-means "
            "centres of the training set)."
        )
    if not np.isfinite(background).all():
        raise ValueError("background: contains NaN or infinite values.")
    return Masker(labels, count, background.astype(x.dtype), None)


def _check_groups(groups, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Per-example labels 0..count-1 broadcast to `shape`, and the count."""
    batch, example = shape[0], shape[1:]
    if groups is None:
        count = math.prod(example)
        return np.broadcast_to(np.arange(count, dtype=np.int32).reshape(example), shape), count
    groups = np.asarray(groups)
    if not np.issubdtype(groups.dtype, np.integer):
        raise TypeError(
            f"groups: expected integer labels (a segmentation), got dtype {groups.dtype}."
        )
    shared = [example] + ([example[:-1]] if len(example) >= 2 else [])
    if groups.shape in shared:
        groups = np.broadcast_to(groups, (batch,) + groups.shape)
    elif groups.shape not in [(batch,) + s for s in shared]:
        allowed = " or ".join(str(s) for s in shared)
        raise ValueError(
            f"groups: shape {groups.shape} does not match the input of shape {shape}; expected one "
            f"example's shape {allowed} (the channel axis may be left out and is then covered "
            f"whole), or one of those per example with the batch axis ({batch}) first."
        )
    if groups.shape[1:] != example:
        groups = groups[..., None]
    # Labels may be any integers (scikit-image starts at 0 or 1); each example's distinct labels,
    # sorted, become groups 0, 1, ... so the group axis of the values follows the labels' order.
    relabelled = [np.unique(g, return_inverse=True)[1].reshape(g.shape) for g in groups]
    count = max(int(r.max()) + 1 for r in relabelled)
    return np.broadcast_to(np.stack(relabelled).astype(np.int32), shape), count


# -- evaluating coalitions inside a program ---------------------------------------------------


class _Game:
    """The coalition values of a chunk of examples, inside a program."""

    def __init__(self, apply, x, references, groups, mode, classes, step):
        self.apply, self.x, self.references, self.groups = apply, x, references, groups
        self.mode, self.classes, self.step = mode, classes, step

    def values(self, coalitions: jax.Array) -> jax.Array:
        """The values (batch, coalitions[, classes]) of boolean masks (batch or 1, coalitions,
        groups)."""
        batch, count = self.x.shape[0], coalitions.shape[1]
        coalitions = jnp.broadcast_to(coalitions, (batch,) + coalitions.shape[1:])
        if count == 0:
            return jnp.zeros(
                (batch, 0) + ((self.classes_count,) if self.mode == "all" else ()), jnp.float32
            )
        values = jax.lax.map(
            self._step_values, in_groups(coalitions, min(self.step, count), axis=1)
        )
        values = jnp.moveaxis(values, 0, 1)  # (batch, steps, step[, classes])
        return values.reshape((batch, -1) + values.shape[3:])[:, :count]

    @property
    def classes_count(self) -> int:
        return jax.eval_shape(self.apply, self.x).shape[-1]

    def _step_values(self, coalitions: jax.Array) -> jax.Array:
        x, references = self.x, self.references
        present = jax.vmap(lambda c, g: c[:, g])(coalitions, self.groups)  # (batch, step, *example)
        rows = jnp.where(present[:, :, None], x[:, None, None], references[:, None])
        batch, step, count = rows.shape[:3]
        logits = self.apply(rows.reshape((-1,) + x.shape[1:]))
        scores = class_scores(self.mode, jnp.repeat(self.classes, step * count), logits)
        return scores.reshape((batch, step, count) + scores.shape[1:]).mean(axis=2)


# On an accelerator, where the engine runs the whole batch at once, one step of coalitions holds
# at most this many input and layer-output values (1 GiB of float32): exact Shapley values of 16
# groups over a 100-row background are 6.5 million model rows per example, more than fits at once.
ACCELERATOR_VALUES_PER_STEP = 1 << 28


def _coalitions_per_step(model, x, coalitions: int, references: int, batch_size) -> int:
    """How many coalitions one step of `_Game.values` runs: all of them, but no more model rows
    than a default CPU chunk holds on a CPU, or than ACCELERATOR_VALUES_PER_STEP values for the
    whole chunk of examples elsewhere; the coalitions then run in equal steps."""
    coalitions = max(1, coalitions)
    if _compile.on_cpu():
        rows = _engine.samples_per_group(model, x, coalitions * references)
    else:
        examples = min(batch_size or x.shape[0], x.shape[0])
        values = _engine._values_per_input(model, x) * examples
        rows = max(1, ACCELERATOR_VALUES_PER_STEP // values)
    per_step = max(1, rows // references)
    steps = -(-coalitions // per_step)
    return -(-coalitions // steps)


def _run(model, name, static, x, target, masker: Masker, explain, *, key, coalitions, batch_size):
    """Run `explain(game, scores_at_x, keys) -> outputs` over the batch in one program."""
    batch_size = check_batch_size(batch_size)
    step = _coalitions_per_step(model, x, coalitions, masker.references, batch_size)
    with_background = masker.background is not None

    def build():
        def kernel(params, key, background, indices, x, classes, groups, *baseline):
            def apply(rows):
                return model.apply(params, rows)

            logits = apply(x)
            mode, classes = fix_predicted(target.mode, classes, logits)
            references = background[None] if with_background else baseline[0][:, None]
            game = _Game(apply, x, references.astype(x.dtype), groups, mode, classes, step)
            keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)
            return explain(game, class_scores(mode, classes, logits), keys)

        return kernel

    program = (name, *static, masker.group_count, step, with_background, target.mode)
    background = masker.background if with_background else np.zeros((), x.dtype)
    per_example = (x, target.classes, masker.groups) + (
        () if with_background else (masker.baseline,)
    )
    return _engine.run(
        model,
        program,
        build,
        per_example,
        shared=(key, background),
        batch_size=batch_size,
        evaluations=step * masker.references + 1,
    )


def _with_class_axis(values: jax.Array) -> jax.Array:
    """(batch, coalitions) values as (batch, coalitions, 1); "all" mode's keep their classes."""
    return values[..., None] if values.ndim == 2 else values


def _spread(per_group: jax.Array, groups: jax.Array) -> jax.Array:
    """Each position's group's value: (batch, [classes,] groups) -> (batch, [classes,] *example)."""
    return jax.vmap(lambda v, g: v[..., g])(per_group, groups)


def _outputs(per_group, groups, mode, *rest):
    """Lay results out for the caller: (batch, groups, outputs) ones as (batch, [classes,] groups)
    and (batch, outputs) ones as (batch[, classes]), where "all" mode's outputs are its classes
    and the other modes' single output is dropped; the per-group values come first, spread."""

    def layout(values):
        if mode != "all":
            return values[..., 0]
        return jnp.moveaxis(values, 2, 1) if values.ndim == 3 else values

    per_group = layout(per_group)
    return (_spread(per_group, groups), per_group, *map(layout, rest))


# -- LIME ------------------------------------------------------------------------------------


def lime(
    model,
    x,
    target=None,
    *,
    key=None,
    samples: int = 1000,
    kernel_width: float | None = None,
    distance: str = "l2",
    alpha: float = 1.0,
    groups=None,
    baseline=None,
    background=None,
    return_samples: bool = False,
    batch_size: int | None = None,
) -> LimeResult:
    """LIME (Ribeiro et al., 2016, "Why should I trust you?"): a weighted linear surrogate of the
    model over random coalitions of the input's feature groups.

    Each of `samples` coalitions keeps every group with probability 1/2 (as lime's image
    explainer and Captum's `Lime`), the first one keeps them all; missing groups are replaced as
    the module's docstring says. A coalition `z` (1 = present) at distance `d` from the whole
    input (all ones) weighs `exp(-d**2 / (2 * kernel_width**2))`, which is lime's kernel
    `sqrt(exp(-d**2 / kernel_width**2))` and Captum's exponential kernel (Captum measures `d`
    between the masked and the whole inputs, by default). A ridge regression of the
    coalitions' values on `z` with those sample weights (intercept fitted, the weighted means
    removed first, as scikit-learn's `Ridge(alpha)` with `sample_weight`, lime's surrogate)
    gives one coefficient per group.

    Args:
      model, x, target, batch_size: as in `jaxviz.saliency`.
      key: a `jax.random.key`; the same key gives the same result, bitwise. Each example's
        coalitions come from `fold_in(key, its index)`, so they do not depend on the batch_size.
      samples: coalitions per example, the first of them the whole input.
      kernel_width: the kernel's width; None takes lime's defaults: `0.75 * sqrt(groups)` for
        "l2" (lime's tabular explainer) and 0.25 for "cosine" (its image explainer).
      distance: how far a coalition is from the whole input, measured on the binary vectors:
        "l2", `sqrt(number of missing groups)`, or "cosine", `1 - sqrt(present / groups)`
        (1 for the empty coalition).
      alpha: the ridge penalty (lime's default 1).
      groups: feature groups: None (every value of an example is its own group, e.g. tabular
        columns), or integer labels shaped like one example, like one example without its
        trailing channel axis (covered whole), or either per example with the batch axis first;
        see `grid_segments`, `superpixels`, `token_spans`. Labels are numbered in sorted order.
      baseline, background: what a missing feature becomes (give at most one; default 0.0).
      return_samples: also return the sampled coalitions, the model's values on them and their
        kernel weights (`LimeResult.samples`, a `LimeSamples`), which `result.plot("fit")` draws.

    Returns:
      a `LimeResult` (attributions, coefficients, intercept, r2, samples).
    """
    key = check_key(key, "lime")
    samples = check_positive_int("samples", samples)
    check_choice("distance", distance, LIME_DISTANCES)
    alpha = _check_non_negative("alpha", alpha)
    x, target = prepare(model, x, target)
    masker = make_masker(x, groups=groups, baseline=baseline, background=background)
    count = masker.group_count
    if kernel_width is None:
        kernel_width = 0.75 * math.sqrt(count) if distance == "l2" else 0.25
    width = _check_positive("kernel_width", kernel_width)

    def explain(game, at_x, keys):
        coalitions = jax.vmap(lambda key: lime_coalitions(key, samples, count))(keys)
        values = _with_class_axis(game.values(coalitions))
        z = coalitions.astype(jnp.float32)
        weights = jnp.exp(-(_distance(z, distance) ** 2) / (2 * width**2))
        coefficients, intercept, r2 = jax.vmap(lambda z, v, w: _weighted_ridge(z, v, w, alpha))(
            z, values, weights
        )
        if not return_samples:
            return _outputs(coefficients, game.groups, game.mode, intercept, r2)
        return _outputs(coefficients, game.groups, game.mode, intercept, r2, values) + (
            coalitions,
            weights,
        )

    static = (samples, distance, width, alpha, bool(return_samples))
    outputs = _run(
        model,
        "lime",
        static,
        x,
        target,
        masker,
        explain,
        key=key,
        coalitions=samples,
        batch_size=batch_size,
    )
    if not return_samples:
        return LimeResult(*outputs)
    attributions, coefficients, intercept, r2, values, coalitions, weights = outputs
    drawn = LimeSamples(coalitions, values, weights, width)
    return LimeResult(attributions, coefficients, intercept, r2, drawn)


def lime_coalitions(key, samples: int, count: int) -> jax.Array:
    """LIME's coalitions of one example: (samples, count) booleans, each group present with
    probability 1/2, the first coalition whole."""
    return jax.random.bernoulli(key, 0.5, (samples, count)).at[0].set(True)


def _distance(z: jax.Array, kind: str) -> jax.Array:
    """Distance of each binary coalition (..., groups) from the all-ones vector."""
    present = z.sum(-1)
    if kind == "l2":
        return jnp.sqrt(z.shape[-1] - present)
    return 1.0 - jnp.sqrt(present / z.shape[-1])


def _weighted_ridge(z, values, weights, alpha):
    """Ridge regression of `values` (samples, outputs) on `z` (samples, groups) with sample
    `weights`: (coefficients (groups, outputs), intercept (outputs,), weighted R^2 (outputs,))."""
    share = weights / weights.sum()
    z_mean, v_mean = share @ z, share @ values
    zc, vc = z - z_mean, values - v_mean
    gram = zc.T @ (weights[:, None] * zc) + alpha * jnp.eye(z.shape[1], dtype=z.dtype)
    coefficients = jnp.linalg.solve(gram, zc.T @ (weights[:, None] * vc))
    intercept = v_mean - z_mean @ coefficients
    unexplained = weights @ (vc - zc @ coefficients) ** 2
    total = weights @ vc**2
    return (
        coefficients,
        intercept,
        jnp.where(total > 0, 1.0 - unexplained / jnp.where(total > 0, total, 1.0), 1.0),
    )


# -- KernelSHAP ------------------------------------------------------------------------------


def kernel_shap(
    model,
    x,
    target=None,
    *,
    key=None,
    samples: int | None = None,
    groups=None,
    baseline=None,
    background=None,
    batch_size: int | None = None,
) -> ShapleyResult:
    """KernelSHAP (Lundberg and Lee, 2017): Shapley values estimated by a regression over
    coalitions sampled from the Shapley kernel, with the efficiency constraint exact.

    A coalition's size k (1 to groups - 1) is drawn with probability proportional to
    `(M - 1) / (k (M - k))` and its members uniformly among the subsets of that size (so every
    coalition carries the same regression weight; Captum's `KernelShap` samples the same way),
    and each one is paired with its complement (antithetic sampling, Covert and Lee, 2021), which
    has the same kernel weight. The values `phi` minimise the squared error of
    `v(z) - base = phi . z` over the coalitions subject to `sum(phi) = f(x) - base`, solved
    exactly with a Lagrange multiplier: the values sum to `f(x) - base` up to float32 rounding,
    and for a model that is additive in the groups they are exact.

    The standard error of each value is the sandwich estimate of that constrained regression,
    with each antithetic pair as one independent draw: `P G P / n^2`, where `P` is the
    (pseudo-)inverse of the constrained normal equations and `G` sums the outer products of each
    pair's `z * residual`, times HC1's small-sample factor `pairs / (pairs - groups + 1)`. It is
    the uncertainty from sampling coalitions (0 for an exactly additive model); over many keys it
    matched the estimates' spread (tests/test_coalition.py).

    Args:
      model, x, target, batch_size: as in `jaxviz.saliency`.
      key: a `jax.random.key`; the same key gives the same result, bitwise (the coalitions as
        in `lime`).
      samples: coalitions per example (an even number: pairs); None takes shap's default,
        `2 * groups + 2048`. At least `2 * groups`.
      groups, baseline, background: as in `lime`.

    Returns:
      a `ShapleyResult` (attributions, values, base, stderr).
    """
    key = check_key(key, "kernel_shap")
    x, target = prepare(model, x, target)
    masker = make_masker(x, groups=groups, baseline=baseline, background=background)
    count = masker.group_count
    if count < 2:
        raise ValueError(
            "groups: kernel_shap needs at least 2 feature groups, got 1; the one group's "
            "Shapley value is f(x) - base (jaxviz.shapley_values computes it)."
        )
    samples = 2 * count + 2048 if samples is None else check_positive_int("samples", samples)
    if samples < 2 * count:
        raise ValueError(
            f"samples: kernel_shap needs at least 2 x groups = {2 * count} coalitions to fit "
            f"{count} values, got {samples}."
        )
    pairs = -(-samples // 2)

    def explain(game, at_x, keys):
        coalitions = jax.vmap(lambda key: shapley_kernel_coalitions(key, pairs, count))(keys)
        values = _with_class_axis(game.values(coalitions))
        base = _with_class_axis(game.values(jnp.zeros((1, 1, count), bool)))[:, 0]
        total = _with_class_axis(at_x[:, None])[:, 0] - base
        shapley, stderr = jax.vmap(_constrained_regression)(
            coalitions.astype(jnp.float32), values - base[:, None], total
        )
        return _outputs(shapley, game.groups, game.mode, base, stderr)

    attributions, values, base, stderr = _run(
        model,
        "kernel_shap",
        (pairs,),
        x,
        target,
        masker,
        explain,
        key=key,
        coalitions=2 * pairs,
        batch_size=batch_size,
    )
    return ShapleyResult(attributions, values, base, stderr)


def shapley_kernel_coalitions(key, pairs: int, count: int) -> jax.Array:
    """KernelSHAP's coalitions of one example: (2 * pairs, count) booleans, `pairs` drawn from
    the Shapley kernel (a size k with probability proportional to (M - 1) / (k (M - k)), then
    k members uniformly), followed by their complements in the same order."""
    sizes = np.arange(1, count)
    size_logits = jnp.asarray(np.log((count - 1) / (sizes * (count - sizes))), jnp.float32)
    pick, order = jax.random.split(key)
    size = jax.random.categorical(pick, size_logits, shape=(pairs,)) + 1
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(order, (pairs, count)), axis=1), axis=1)
    chosen = ranks < size[:, None]
    return jnp.concatenate([chosen, ~chosen])


def _constrained_regression(z, values, total):
    """Least squares `values ~ z @ phi` subject to `sum(phi) = total`, for paired coalitions z
    (2 * pairs, groups), values (2 * pairs, outputs), total (outputs,): phi and its sandwich
    standard error, each (groups, outputs)."""
    samples, count = z.shape
    pairs = samples // 2
    gram = z.T @ z / samples
    ones = jnp.ones((count, 1), z.dtype)
    system = jnp.block([[gram, ones], [ones.T, jnp.zeros((1, 1), z.dtype)]])
    # A pseudo-inverse: when a few pairs leave two groups always together (or apart), the data
    # cannot tell them apart, and the least-norm solution splits their joint value evenly.
    inverse = jnp.linalg.pinv(system, hermitian=True)
    shapley = (inverse @ jnp.concatenate([z.T @ values / samples, total[None]]))[:count]
    # The constraint holds only up to the inverse's rounding: put the remainder back evenly.
    shapley = shapley + (total - shapley.sum(0)) / count
    residuals = values - z @ shapley
    per_pair = (z[:, :, None] * residuals[:, None, :]).reshape(2, pairs, count, -1).sum(0)
    spread = jnp.einsum("ij,pjo->pio", inverse[:count, :count], per_pair)
    # HC1's small-sample correction: the fit used up count - 1 of the pairs' degrees of freedom.
    variance = (spread**2).sum(0) / samples**2 * pairs / max(pairs - count + 1, 1)
    return shapley, jnp.sqrt(variance)


# -- Shapley values --------------------------------------------------------------------------


def shapley_values(
    model,
    x,
    target=None,
    *,
    estimator: str = "auto",
    permutations: int = 32,
    key=None,
    groups=None,
    baseline=None,
    background=None,
    batch_size: int | None = None,
) -> ShapleyResult:
    """Shapley values (Shapley, 1953) of the feature groups: exact by enumerating every
    coalition, or sampled over permutations.

    "exact" evaluates all `2**groups` coalitions in one program and weighs each value by the
    Shapley formula: `phi_i = sum_S |S|! (M - |S| - 1)! / M! (v(S + i) - v(S))`. "permutation"
    (Strumbelj and Kononenko, 2014; shap's PermutationExplainer) averages each group's
    marginal contribution as the groups are added in random orders, each order followed by its
    reverse (antithetic); every order's contributions sum to `f(x) - base`, so the estimate
    does too, and the standard error is that of the mean over the pairs of orders.

    Args:
      model, x, target, batch_size: as in `jaxviz.saliency`.
      estimator: "exact" (up to 16 groups), "permutation", or "auto" (exact up to 16 groups).
      permutations: orders per example for "permutation" (an even number, at least 4: pairs).
      key: a `jax.random.key`, needed for "permutation"; the same key gives the same result.
      groups, baseline, background: as in `lime`.

    Returns:
      a `ShapleyResult` (attributions, values, base, stderr).
    """
    check_choice("estimator", estimator, SHAPLEY_ESTIMATORS)
    x, target = prepare(model, x, target)
    masker = make_masker(x, groups=groups, baseline=baseline, background=background)
    count = masker.group_count
    if estimator == "auto":
        estimator = "exact" if count <= MAX_EXACT_FEATURES else "permutation"
    if estimator == "exact":
        return _exact(model, x, target, masker, batch_size)
    key = check_key(key, "shapley_values with estimator='permutation'")
    permutations = check_positive_int("permutations", permutations)
    if permutations < 4:
        raise ValueError(
            "permutations: expected at least 4 (2 antithetic pairs, for a standard error), "
            f"got {permutations}."
        )
    return _permutation(model, x, target, masker, -(-permutations // 2), key, batch_size)


def _exact(model, x, target, masker: Masker, batch_size) -> ShapleyResult:
    count = masker.group_count
    if count > MAX_EXACT_FEATURES:
        raise ValueError(
            f"estimator: exact Shapley values enumerate 2^groups coalitions; {count} groups would "
            f"be 2^{count} = {2**count:,} model evaluations per example and background row, over "
            f"the limit of {MAX_EXACT_FEATURES} groups. Use estimator='permutation' (sampled, with "
            "a key), jaxviz.kernel_shap, or fewer groups (groups=..., e.g. jaxviz.grid_segments "
            "or jaxviz.superpixels for images, or columns labelled together)."
        )
    coalitions = 1 << count
    # Shapley weights by coalition size s (without the group): s! (M-s-1)! / M! = 1 / (M C(M-1, s)).
    weight = np.array(
        [1.0 / (count * math.comb(count - 1, s)) for s in range(count)] + [0.0], np.float32
    )

    def explain(game, at_x, keys):
        codes = jnp.arange(coalitions, dtype=jnp.int32)
        members = ((codes[:, None] >> jnp.arange(count, dtype=jnp.int32)) & 1).astype(bool)
        values = _with_class_axis(game.values(members[None]))  # (batch, coalitions, outputs)
        size = members.sum(1, keepdims=True)
        table = jnp.asarray(weight)
        # v(S) enters phi_i with +w(|S| - 1) when i is in S, and with -w(|S|) when it is not.
        signs = jnp.where(members, table[jnp.maximum(size - 1, 0)], -table[size])
        shapley = jnp.einsum("cm,bco->bmo", signs, values)
        base = values[:, 0]
        return _outputs(shapley, game.groups, game.mode, base, jnp.zeros_like(shapley))

    attributions, values, base, stderr = _run(
        model,
        "shapley_exact",
        (),
        x,
        target,
        masker,
        explain,
        key=jax.random.key(0),
        coalitions=coalitions,
        batch_size=batch_size,
    )
    return ShapleyResult(attributions, values, base, stderr)


def _permutation(model, x, target, masker: Masker, pairs: int, key, batch_size) -> ShapleyResult:
    count = masker.group_count
    orders = 2 * pairs

    def explain(game, at_x, keys):
        def draw(key):
            forward = jax.vmap(lambda k: jax.random.permutation(k, count))(
                jax.random.split(key, pairs)
            )
            return jnp.concatenate([forward, forward[:, ::-1]])

        # Each group's place in each order: (batch, orders, groups).
        ranks = jnp.argsort(jax.vmap(draw)(keys), axis=-1)
        # The coalitions along each order, (batch, orders, count - 1, groups), leaving out the
        # empty and the whole one, which every order shares.
        prefix = jnp.arange(1, count)
        coalitions = ranks[:, :, None, :] < prefix[None, None, :, None]
        batch = ranks.shape[0]
        inner = _with_class_axis(
            game.values(coalitions.reshape(batch, orders * (count - 1), count))
        )
        inner = inner.reshape(batch, orders, count - 1, -1)
        base = _with_class_axis(game.values(jnp.zeros((1, 1, count), bool)))[:, 0]
        whole = _with_class_axis(at_x[:, None])[:, 0]
        chain = jnp.concatenate(
            [
                jnp.broadcast_to(base[:, None, None], (batch, orders, 1, base.shape[-1])),
                inner,
                jnp.broadcast_to(whole[:, None, None], (batch, orders, 1, whole.shape[-1])),
            ],
            axis=2,
        )  # (batch, orders, count + 1, outputs): the value after each number of groups added
        before, after = (jnp.take_along_axis(chain, ranks[..., None] + k, axis=2) for k in (0, 1))
        gains = after - before
        per_pair = (gains[:, :pairs] + gains[:, pairs:]) / 2  # (batch, pairs, groups, outputs)
        shapley = per_pair.mean(1)
        stderr = per_pair.std(1, ddof=1) / math.sqrt(pairs)
        return _outputs(shapley, game.groups, game.mode, base, stderr)

    attributions, values, base, stderr = _run(
        model,
        "shapley_permutation",
        (pairs,),
        x,
        target,
        masker,
        explain,
        key=key,
        coalitions=orders * (count - 1),
        batch_size=batch_size,
    )
    return ShapleyResult(attributions, values, base, stderr)


def _check_positive(argument: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{argument}: expected a positive number, got {value!r}.")
    return float(value)


def _check_non_negative(argument: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{argument}: expected a non-negative number, got {value!r}.")
    return float(value)
