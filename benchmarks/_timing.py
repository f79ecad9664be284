"""Alternating wall-clock timing of competing implementations in one process."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def use_all_cores_in_torch() -> int:
    """Give PyTorch one thread per core, as XLA's CPU backend has; returns the count."""
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    return cores


def alternate(candidates: dict[str, Callable[[], object]], **options) -> dict[str, float]:
    """Median seconds per call of each candidate, run in turn (see `alternate_samples`)."""
    return {
        name: statistics.median(t) for name, t in alternate_samples(candidates, **options).items()
    }


def alternate_samples(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    budget_s: float = float("inf"),
    min_repeats: int = 2,
    min_sample_s: float = 0.0,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate in every counted round, run in turn (AB, BA, AB, ...).

    Each callable must return only once its work is done (block_until_ready for JAX; PyTorch on
    CPU is synchronous). Warm-up rounds (compilation, allocator growth) are not counted. One
    sample calls a candidate back to back until `min_sample_s` has passed (at least once), so
    millisecond calls are timed over many runs rather than one. Once `min_repeats` counted
    rounds are done and `budget_s` seconds have passed, no round starts. Round i of every
    candidate ran at about the same time, so ratios within a round are fair even when the
    machine's speed drifts between rounds.
    """
    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    began = time.perf_counter()
    for round_ in range(warmup + repeats):
        if round_ >= warmup + min_repeats and time.perf_counter() - began > budget_s:
            break
        for name in names if round_ % 2 == 0 else reversed(names):
            per_call = _seconds_per_call(candidates[name], min_sample_s)
            if round_ >= warmup:
                times[name].append(per_call)
    return times


def _seconds_per_call(call: Callable[[], object], min_sample_s: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_sample_s:
            return elapsed / calls
