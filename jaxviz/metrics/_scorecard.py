"""A method x metric scorecard: several explanations of the same model and inputs, each scored
by several metrics, with confidence intervals and each metric's random-attribution baseline.

Each method's attribution is computed once and shared by every metric that takes an
attribution; the metrics that explain perturbed inputs again (robustness) call the method.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from .._checks import check_key
from . import _inputs
from ._axiomatic import completeness_gap, non_sensitivity
from ._complexity import entropy, sparseness
from ._faithfulness import deletion, faithfulness_correlation, infidelity, insertion, road
from ._localisation import pointing_game, relevance_mass, relevance_rank, top_k_intersection
from ._result import MetricResult
from ._robustness import avg_sensitivity, local_lipschitz, max_sensitivity


@dataclasses.dataclass(frozen=True)
class _Metric:
    call: Callable[..., MetricResult]
    needs_method: bool = False  # explains perturbed inputs again: called with the method
    needs_masks: bool = False
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# The scorecard's settings: small enough for a notebook (a few dozen model evaluations per
# example); `options=` overrides them per metric.
METRICS: dict[str, _Metric] = {
    "deletion": _Metric(deletion, options={"steps": 16, "random_orders": 4}),
    "insertion": _Metric(insertion, options={"steps": 16, "random_orders": 4}),
    "road": _Metric(road, options={"random_orders": 2}),
    "faithfulness_correlation": _Metric(faithfulness_correlation, options={"samples": 32}),
    "infidelity": _Metric(infidelity, options={"samples": 32, "normalize": True}),
    "max_sensitivity": _Metric(max_sensitivity, needs_method=True, options={"samples": 8}),
    "avg_sensitivity": _Metric(avg_sensitivity, needs_method=True, options={"samples": 8}),
    "local_lipschitz": _Metric(local_lipschitz, needs_method=True, options={"samples": 8}),
    "pointing_game": _Metric(pointing_game, needs_masks=True),
    "relevance_mass": _Metric(relevance_mass, needs_masks=True),
    "relevance_rank": _Metric(relevance_rank, needs_masks=True),
    "top_k_intersection": _Metric(top_k_intersection, needs_masks=True),
    "sparseness": _Metric(sparseness),
    "entropy": _Metric(entropy),
    "completeness_gap": _Metric(completeness_gap),
    "non_sensitivity": _Metric(non_sensitivity, options={"region": 4}),
}

SCORECARD_METRICS = tuple(METRICS)
"""The metrics `scorecard` offers, by name."""
DEFAULT_METRICS = ("deletion", "insertion", "sparseness")
DEFAULT_MASK_METRICS = ("relevance_mass", "pointing_game")


@dataclasses.dataclass(frozen=True)
class Scorecard:
    """Methods (rows) scored by metrics (columns).

    Attributes:
      methods: the methods' names, in order.
      metrics: the metrics' names, in order.
      results: `results[method][metric]`, the full `MetricResult` of each cell.
    """

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    results: Mapping[str, Mapping[str, MetricResult]]

    def _table(self, field: Callable[[MetricResult], Any]) -> np.ndarray:
        return np.array(
            [[field(self.results[m][k]) for k in self.metrics] for m in self.methods], np.float64
        )

    @property
    def scores(self) -> np.ndarray:
        """The mean score of each cell, (methods, metrics)."""
        return self._table(lambda r: r.score)

    @property
    def ci(self) -> np.ndarray:
        """The 95% bootstrap interval of each cell, (methods, metrics, 2)."""
        return self._table(lambda r: r.ci)

    @property
    def baselines(self) -> np.ndarray:
        """Each cell's random-attribution score, NaN where the metric has none."""
        return self._table(lambda r: np.nan if r.baseline is None else r.baseline)

    @property
    def higher_is_better(self) -> tuple[bool, ...]:
        """Per metric, whether a higher score is better."""
        return tuple(self.results[self.methods[0]][k].higher_is_better for k in self.metrics)

    @property
    def verdicts(self) -> np.ndarray:
        """Per cell, +1 where the method beats random attributions significantly (the paired
        difference's 95% CI on the better side of 0), -1 where it is significantly worse, 0
        where the interval holds 0 or the metric has no baseline. int (methods, metrics)."""
        return self._table(_verdict).astype(np.int8)

    def ranking(self, metric: str) -> tuple[str, ...]:
        """The methods from best to worst by `metric`'s score."""
        column = self.metrics.index(_check_metric_name(metric, self.metrics))
        order = np.argsort(self.scores[:, column], kind="stable")
        if self.higher_is_better[column]:
            order = order[::-1]
        return tuple(self.methods[i] for i in order)

    def plot(self, **kwargs):
        """The table as a matplotlib figure (`jaxviz.plot.scorecard`)."""
        from ..plot._trust import scorecard as draw

        return draw(self, **kwargs)

    def widget(self, **kwargs):
        """The interactive table (`jaxviz.Scorecard`)."""
        from ..widgets._trust import Scorecard as ScorecardWidget

        return ScorecardWidget(self, **kwargs)


def _verdict(result: MetricResult) -> int:
    if result.difference_ci is None:
        return 0
    low, high = result.difference_ci
    better = low > 0 if result.higher_is_better else high < 0
    worse = high < 0 if result.higher_is_better else low > 0
    return 1 if better else -1 if worse else 0


def scorecard(
    model,
    x,
    target,
    *,
    methods,
    metrics: Sequence[str] | None = None,
    masks=None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    key=None,
) -> Scorecard:
    """Score several explanation methods by several metrics on the same inputs.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, or one int per example.
      methods: a mapping of names to methods called as `method(model, x, classes)` (e.g.
        `{"gradient": jv.saliency, "Grad-CAM": functools.partial(jv.gradcam, layer="conv4")}`),
        or a sequence of such methods, named by their function's name.
      metrics: names from `jaxviz.metrics.SCORECARD_METRICS`; default deletion, insertion and
        sparseness, plus relevance mass and the pointing game when `masks` are given.
      masks: ground-truth masks for the localisation metrics (see `relevance_mass`).
      options: per metric, keyword arguments that override the scorecard's settings, e.g.
        `{"deletion": {"replacement": "blur"}}`.
      key: a `jax.random.key`: every metric draws from its own fold of it.

    Returns:
      A `Scorecard`.
    """
    key = check_key(key, "scorecard")
    named = _named_methods(methods)
    if metrics is None:
        metrics = DEFAULT_METRICS + (DEFAULT_MASK_METRICS if masks is not None else ())
    metrics = tuple(_check_metric_name(m, tuple(METRICS)) for m in _as_names(metrics))
    options = dict(options or {})
    for name in options:
        _check_metric_name(name, metrics, argument="options")
    for name in metrics:
        if METRICS[name].needs_masks and masks is None:
            raise ValueError(f"masks: the metric {name!r} compares with masks; pass masks=.")
    x, classes = _inputs.followed_classes(model, x, target, metric="scorecard")
    results: dict[str, dict[str, MetricResult]] = {}
    for method_name, method in named.items():
        attribution = _inputs.check_attribution(
            _inputs.call_method(method, model, x, classes), x, argument="methods"
        )
        row = results[method_name] = {}
        for column, name in enumerate(metrics):
            spec = METRICS[name]
            settings = {**spec.options, **options.get(name, {})}
            if spec.needs_masks:
                settings["masks"] = masks
            row[name] = spec.call(
                model,
                x,
                classes,
                method if spec.needs_method else attribution,
                key=jax.random.fold_in(key, column),
                **settings,
            )
    return Scorecard(methods=tuple(named), metrics=metrics, results=results)


def _as_names(metrics) -> tuple:
    return (metrics,) if isinstance(metrics, str) else tuple(metrics)


def _check_metric_name(name, allowed: tuple[str, ...], argument: str = "metrics") -> str:
    if name not in allowed:
        raise ValueError(
            f"{argument}: unknown metric {name!r}; expected one of {', '.join(allowed)}."
        )
    return name


def method_name(method: Callable) -> str:
    """A method's readable name: its function's name, with a partial's keywords."""
    if isinstance(method, functools.partial):
        keywords = ", ".join(f"{k}={v!r}" for k, v in method.keywords.items())
        return f"{method_name(method.func)}({keywords})" if keywords else method_name(method.func)
    return getattr(method, "__name__", type(method).__name__)


def _named_methods(methods) -> dict[str, Callable]:
    pairs = list(methods.items()) if isinstance(methods, Mapping) else [
        (method_name(m), m) for m in methods
    ]
    if not pairs:
        raise ValueError("methods: expected at least one method to score, got none.")
    names = [name for name, _ in pairs]
    for name, method in pairs:
        if not callable(method):
            raise TypeError(
                f"methods: {name!r} is {type(method).__name__}, not a method called as "
                "method(model, x, target), e.g. jv.saliency."
            )
    if len(set(names)) != len(names):
        raise ValueError(
            f"methods: two methods share a name ({names}); pass a mapping of distinct names."
        )
    return dict(pairs)
