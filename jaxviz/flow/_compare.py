"""Comparing runs the way TensorBoard does: smoothed curves, percentile bands, a run table.

``smooth`` is TensorBoard's scalar smoothing (an exponential moving average, debiased like Adam's
moments so the first points are not pulled towards zero); ``percentile_bands`` is TensorBoard's
distribution compression (the values at the basis points of a normal distribution's 0, +-0.5,
+-1, +-1.5 sigma and the extremes, interpolated inside the histogram bucket where the cumulative
count crosses each); ``collect_runs`` and ``run_table`` name several runs and summarise each by
its hyperparameters and final metrics (TensorBoard's HParams table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._recorder import Recorder
from ._runs import load_run

# TensorBoard's NORMAL_HISTOGRAM_BPS (tensorboard/plugins/distribution/compressor.py): basis
# points of min, -1.5, -1, -0.5 sigma, median, +0.5, +1, +1.5 sigma, max.
NORMAL_BASIS_POINTS = (0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000)
# One colour per run (matplotlib's tab10, colour-blind-friendlier than random hues).
RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's smoothing of a scalar series: a debiased exponential moving average.

    ``last = weight * last + (1 - weight) * y`` from ``last = 0``, divided by ``1 - weight**n``
    after ``n`` finite points (the debiasing), so the first smoothed point equals the first value.
    Non-finite points pass through unsmoothed and do not enter the average; a constant series is
    returned as it is (TensorBoard's ``classicSmoothing``).

    Args:
      values: the series.
      weight: the smoothing weight in [0, 1); 0 leaves the series unchanged.

    Returns:
      The smoothed series, float64.
    """
    if not (isinstance(weight, int | float) and 0 <= weight < 1):
        raise ValueError(f"weight: expected a number in [0, 1), got {weight!r}.")
    y = np.asarray(values, np.float64)
    if y.ndim != 1:
        raise ValueError(f"values: expected a 1-D series, got shape {y.shape}.")
    if y.size == 0 or np.all(y == y[0]):
        return y.copy()
    out = y.copy()
    last, count = 0.0, 0
    for i, v in enumerate(y):
        if not math.isfinite(v):
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out[i] = last / (1 - weight**count)
    return out


def percentile_bands(counts, edges, basis_points: Sequence[int] = NORMAL_BASIS_POINTS):
    """The values at ``basis_points`` (1/100 of a percent) of each histogram, TensorBoard's way.

    Empty buckets below the first and above the last nonempty one are dropped first (TensorBoard's
    histograms span exactly the data's range). For each basis point, the bucket where the
    cumulative share crosses it is found and the value is interpolated linearly between that
    bucket's left and right edges; a histogram with no counts gives NaN.

    Args:
      counts: ``(..., buckets)`` counts.
      edges: ``buckets + 1`` increasing bucket edges.
      basis_points: in [0, 10000], increasing.

    Returns:
      ``(..., len(basis_points))`` values.
    """
    counts = np.asarray(counts, np.float64)
    edges = np.asarray(edges, np.float64)
    if edges.shape != (counts.shape[-1] + 1,):
        raise ValueError(
            f"edges: expected {counts.shape[-1] + 1} edges for {counts.shape[-1]} buckets, got "
            f"shape {edges.shape}."
        )
    flat = counts.reshape(-1, counts.shape[-1])
    out = _compress(flat, edges, np.asarray(basis_points, np.float64))
    return out.reshape(*counts.shape[:-1], len(basis_points))


def _compress(counts: np.ndarray, edges: np.ndarray, basis_points: np.ndarray) -> np.ndarray:
    """``compress_histogram``'s search for every row at once: for each basis point the first
    nonempty bucket whose cumulative share exceeds it, interpolated inside that bucket. With the
    outer empty buckets dropped, a bucket's left edge is never below the lowest edge nor its
    right edge above the highest, so the interpolation runs between the bucket's own edges."""
    rows, buckets = counts.shape
    total = counts.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(counts * (10000.0 / np.where(total > 0, total, 1.0)), axis=1)
    # next_nonempty[n, j]: the first nonempty bucket at or after j (buckets if none)
    index = np.where(counts > 0, np.arange(buckets), buckets)
    next_nonempty = np.minimum.accumulate(index[:, ::-1], axis=1)[:, ::-1]
    next_nonempty = np.concatenate([next_nonempty, np.full((rows, 1), buckets)], axis=1)
    last = buckets - 1 - np.argmax(counts[:, ::-1] > 0, axis=1)  # the last nonempty bucket
    highest = edges[last + 1]
    padded = np.concatenate([np.zeros((rows, 1)), cumulative, np.zeros((rows, 1))], axis=1)
    take = np.take_along_axis
    out = np.empty((rows, len(basis_points)))
    for k, bp in enumerate(basis_points):
        start = (cumulative <= bp).sum(axis=1)  # searchsorted(..., side="right")
        j = take(next_nonempty, start[:, None], axis=1)[:, 0]
        found = j < buckets
        jj = np.minimum(j, buckets - 1)
        before = take(padded, jj[:, None], axis=1)[:, 0]  # cumulative share before bucket j
        at = take(padded, jj[:, None] + 1, axis=1)[:, 0]
        fraction = (bp - before) / np.where(at > before, at - before, 1.0)
        value = edges[jj] + fraction * (edges[jj + 1] - edges[jj])
        out[:, k] = np.where(found, value, highest)
    out[total[:, 0] <= 0] = np.nan
    return out


def fold_magnitudes(counts: np.ndarray) -> np.ndarray:
    """Signed log-magnitude histograms folded onto |value|: bin 0 is the centre (tiny) bin, bin
    ``k`` (1 .. side) holds both signs' ``k``-th decade bin. Weights of both signs and a vanishing
    gradient's shrinking size show on a log axis, where signed bands would span -1 .. 1."""
    side = (counts.shape[-1] - 1) // 2
    negative = counts[..., :side][..., ::-1]
    positive = counts[..., side + 1 :]
    return np.concatenate([counts[..., side : side + 1], negative + positive], axis=-1)


class Run(NamedTuple):
    """One run of a comparison: its name, colour and recorder."""

    name: str
    color: str
    recorder: Recorder


RunSource = Recorder | str | PathLike


def collect_runs(runs) -> list[Run]:
    """Name and colour several runs.

    Args:
      runs: a ``Recorder`` or run directory, a list of them, or ``{name: recorder or directory}``.
        A list names each run by its directory (loaded runs) or ``run <i>``.

    Returns:
      The runs, each with a distinct name and a colour of its own.
    """
    if isinstance(runs, Recorder | str | PathLike):
        runs = [runs]
    if isinstance(runs, Mapping):
        named = [(str(name), source) for name, source in runs.items()]
    elif isinstance(runs, Sequence):
        named = [(_default_name(source, i), source) for i, source in enumerate(runs)]
    else:
        raise TypeError(
            "runs: expected a Recorder, a run directory, a list of them or {name: run}, got "
            f"{type(runs).__name__}."
        )
    if not named:
        raise ValueError("runs: expected at least one run, got none.")
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"runs: names must differ, got {names}; pass {{name: run}} to name them.")
    return [
        Run(name, RUN_COLORS[i % len(RUN_COLORS)], _as_recorder(name, source))
        for i, (name, source) in enumerate(named)
    ]


def _default_name(source, index: int) -> str:
    if isinstance(source, str | PathLike):
        return Path(source).name
    return f"run {index}"


def _as_recorder(name: str, source) -> Recorder:
    if isinstance(source, Recorder):
        return source
    if isinstance(source, str | PathLike):
        return load_run(source)
    raise TypeError(
        f"runs[{name!r}]: expected a Recorder or a run directory, got {type(source).__name__}."
    )


def final_metrics(recorder: Recorder) -> dict[str, float]:
    """Each metric's last finite value: training ones by name, validation ones as
    ``validation/<name>``."""
    out = {}
    for name, values in recorder.metrics.items():
        finite = values[np.isfinite(values)]
        out[name] = float(finite[-1]) if finite.size else math.nan
    for name, (_, values) in recorder.validation.items():
        out[f"validation/{name}"] = float(values[-1]) if len(values) else math.nan
    return out


def run_table(runs) -> list[dict]:
    """One row per run: ``{"name", "color", "hparams": {...}, "final": {...}, "steps": n}``."""
    return [
        {
            "name": run.name,
            "color": run.color,
            "hparams": dict(run.recorder.hparams),
            "final": final_metrics(run.recorder),
            "steps": int(run.recorder.steps[-1]) + 1 if len(run.recorder) else 0,
        }
        for run in (runs if _is_collected(runs) else collect_runs(runs))
    ]


def _is_collected(runs) -> bool:
    return isinstance(runs, list) and all(isinstance(r, Run) for r in runs)
