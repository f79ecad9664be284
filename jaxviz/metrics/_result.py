"""What every metric returns: a score, its per-example values, a bootstrap confidence interval
over the examples, and (where it means something) the score a random attribution gets."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

BOOTSTRAP_RESAMPLES = 1000
DEFAULT_BOOTSTRAP_KEY = (
    0  # deterministic metrics resample with jax.random.key(0) unless given a key
)


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One metric over a batch of examples.

    Attributes:
      name: the metric's function name, e.g. "deletion".
      score: the mean of `values`.
      values: the metric per example, float (batch,).
      ci: the 95% percentile-bootstrap confidence interval of `score`, resampling examples.
      higher_is_better: which direction means a better explanation.
      baseline: the mean score of random attributions (a random order of the same features,
        or the closed-form expectation for a uniformly random map), or None where a random
        attribution has no meaning for the metric.
      baseline_values: the random attributions' metric per example, or None.
      difference_ci: the 95% bootstrap CI of the mean paired difference `values -
        baseline_values` (the same examples resampled for both), or None. Per-example scores
        vary far more between examples than between an attribution and a random one on the
        same example, so this interval is much narrower than `ci`.
    """

    name: str
    score: float
    values: np.ndarray
    ci: tuple[float, float]
    higher_is_better: bool
    baseline: float | None = None
    baseline_values: np.ndarray | None = None
    difference_ci: tuple[float, float] | None = None

    def beats_baseline(self) -> bool:
        """Whether the attribution beats random ones significantly: the 95% CI of the paired
        difference (`difference_ci`) lies entirely on the better side of 0."""
        if self.difference_ci is None:
            raise ValueError(f"{self.name}: this metric has no random-attribution baseline.")
        low, high = self.difference_ci
        return low > 0 if self.higher_is_better else high < 0


@dataclasses.dataclass(frozen=True)
class CurveResult(MetricResult):
    """A perturbation curve's area (deletion, insertion, ROAD), with the curves themselves.

    Attributes:
      fractions: the share of features removed (or inserted) at each point, (points,).
      curves: the model's output for the followed class at each point, (batch, points).
      baseline_curves: the same for random orders, averaged over them, (batch, points).
    """

    fractions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    curves: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    baseline_curves: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))


@dataclasses.dataclass(frozen=True)
class RandomizationResult:
    """Model parameter randomization (Adebayo et al., 2018): the explanation after each step of
    re-initialising layers, compared with the original one.

    Attributes:
      layers: the layers randomized at each step, in order (cascading: the top layer first,
        each step adding the next one down; independent: one layer per step).
      cascading: whether the randomization accumulated.
      rank_correlation: one MetricResult per step: Spearman rank correlation with the original map.
      ssim: one MetricResult per step: structural similarity with the original map.
      attributions: the maps after each step, (steps, batch, ...).
      original: the map of the trained model, (batch, ...).
    """

    layers: tuple[str, ...]
    cascading: bool
    rank_correlation: tuple[MetricResult, ...]
    ssim: tuple[MetricResult, ...]
    attributions: np.ndarray
    original: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """The mean rank correlation after each step, (steps,)."""
        return np.array([r.score for r in self.rank_correlation])

    def plot(self, *, example: int = 0, x=None, cmap: str | None = None):
        """The cascade as a strip of maps per step with the similarity curves below
        (`jaxviz.plot.randomization`); pass the inputs `x` to show the image first."""
        from ..plot._trust import randomization

        return randomization(self, example=example, x=x, cmap=cmap)

    def widget(self, x=None, **kwargs):
        """The interactive cascade (`jaxviz.RandomizationView`)."""
        from ..widgets._trust import RandomizationView

        return RandomizationView(self, x=x, **kwargs)


def bootstrap_ci(
    values: np.ndarray, key: jax.Array, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean of `values` over `resamples` resamples of
    the examples with replacement (Efron's percentile bootstrap). One example gives (v, v)."""
    values = np.asarray(values, np.float64)
    picks = host_rng(key).integers(0, values.shape[0], size=(resamples, values.shape[0]))
    means = values[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def host_rng(key: jax.Array, *stream: int) -> np.random.Generator:
    """A NumPy generator seeded by a `jax.random.key`'s bits (and optional stream numbers): for
    the small draws made outside compiled programs (bootstrap resamples, new weights), which
    would otherwise each compile a program. The same key gives the same numbers."""
    return np.random.default_rng([*np.asarray(jax.random.key_data(key)).ravel().tolist(), *stream])


def summarize(
    name: str,
    values,
    key: jax.Array,
    *,
    higher_is_better: bool,
    baseline_values=None,
    result_type=MetricResult,
    **extra,
) -> MetricResult:
    """A result from per-example values (and optionally a random baseline's per-example values)."""
    values = np.asarray(values, np.float64)
    baseline = difference_ci = None
    if baseline_values is not None:
        baseline_values = np.asarray(baseline_values, np.float64)
        baseline = float(baseline_values.mean())
        difference_ci = bootstrap_ci(values - baseline_values, key)
    return result_type(
        name=name,
        score=float(values.mean()),
        values=values,
        ci=bootstrap_ci(values, key),
        higher_is_better=higher_is_better,
        baseline=baseline,
        baseline_values=baseline_values,
        difference_ci=difference_ci,
        **extra,
    )
