"""Training-loop overhead of gradient-flow recording and of the live FlowMonitor.

Times the same jitted SGD step on the same data three ways and prints a table:

  plain      the step alone, its outputs discarded (a loop that records nothing);
  recording  the step also returns jv.flow_stats(...) and the loop calls Recorder.add (the
             statistics stay on the device; the recorder fetches them in batches);
  monitor    as recording, with a jv.FlowMonitor subscribed (it rebuilds and sends its payload at
             most every 0.5 s from inside Recorder.add; no browser is attached, so this is the
             kernel-side cost).
  every 10th as monitor, but the recording step runs on every 10th step only and the plain step
             on the others (two jitted functions; Recorder.add(stats, step=i) keeps the step
             numbers): the way to record a model whose step is too small to hide the statistics.
  4 runs     the grown monitor: the live run is saved to a run directory as it goes, records a
             validation loss every 50 steps, and is compared in one FlowMonitor with three
             finished runs (their curves, run-table rows, and the focused run's percentile bands
             are rebuilt on every push).

A second table gives the time of one monitor push (``FlowMonitor.update``: every run's curves, the
focused run's heat map, histograms, distributions and diagnoses) for 1 and 4 runs of 1000 steps.

Each configuration runs `--steps` steps after a warm-up, `--repeats` times; the table gives the
median time per step and its ratio to the plain loop. Usage:

    python benchmarks/flow_overhead.py [--steps 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import optax

import jaxviz as jv
from jaxviz.flow._demo import make_train_step, mlp_params, toy_classification

MODELS = {
    # name: (hidden layers, width, batch)
    "deep narrow MLP (10x64, batch 256)": (10, 64, 256),
    "wide MLP (3x512, batch 256)": (3, 512, 256),
}


def _run(step, params, opt_state, steps, recorder=None, plain=None, every=1, validate_every=0):
    start = time.perf_counter()
    for i in range(steps):
        if i % every:
            params, opt_state, loss, _ = plain(params, opt_state)
            continue
        params, opt_state, loss, stats = step(params, opt_state)
        if recorder is not None:
            recorder.add(stats, step=i, loss=loss)
            if validate_every and i % validate_every == validate_every - 1:
                recorder.add_validation(loss=loss)
    jax.block_until_ready(params)
    if recorder is not None:
        recorder.flush()
    return (time.perf_counter() - start) / steps


def bench(depth: int, width: int, batch: int, steps: int, repeats: int) -> dict[str, float]:
    x, y = toy_classification(jax.random.key(0), n=batch)
    params = mlp_params(
        jax.random.key(1), [16] + [width] * depth + [4], weight_std=lambda n: np.sqrt(2 / n)
    )
    optimizer = optax.sgd(0.01)
    opt_state = optimizer.init(params)
    plain = make_train_step("relu", optimizer, x, y, record=False)
    recorded = make_train_step("relu", optimizer, x, y, record=True)
    for step in (plain, recorded):  # compile and warm up
        _run(step, params, opt_state, 5)
    times: dict[str, list[float]] = {
        "plain": [],
        "recording": [],
        "monitor": [],
        "every 10th": [],
        "4 runs": [],
    }
    finished = {}
    for name in ("a", "b", "c"):
        finished[name] = jv.Recorder()
        _run(recorded, params, opt_state, steps, finished[name], validate_every=50)
    for _ in range(repeats):  # interleaved, so drifts in machine load hit all three alike
        times["plain"].append(_run(plain, params, opt_state, steps))
        times["recording"].append(_run(recorded, params, opt_state, steps, jv.Recorder()))
        recorder = jv.Recorder()
        monitor = jv.FlowMonitor(recorder, interval_s=0.5)
        times["monitor"].append(_run(recorded, params, opt_state, steps, recorder))
        monitor.close()
        recorder = jv.Recorder()
        monitor = jv.FlowMonitor(recorder, interval_s=0.5)
        times["every 10th"].append(
            _run(recorded, params, opt_state, steps, recorder, plain, every=10)
        )
        monitor.close()
        with tempfile.TemporaryDirectory() as tmp:
            recorder = jv.Recorder(directory=Path(tmp) / "live", hparams={"lr": 0.01})
            monitor = jv.FlowMonitor(runs={"live": recorder, **finished}, interval_s=0.5)
            times["4 runs"].append(
                _run(recorded, params, opt_state, steps, recorder, validate_every=50)
            )
            monitor.close()
    return {name: statistics.median(values) for name, values in times.items()}


def push_times(depth: int, width: int, batch: int, repeats: int) -> dict[int, float]:
    """Seconds per FlowMonitor.update with 1 and 4 runs of 1000 recorded steps."""
    x, y = toy_classification(jax.random.key(0), n=batch)
    params = mlp_params(
        jax.random.key(1), [16] + [width] * depth + [4], weight_std=lambda n: np.sqrt(2 / n)
    )
    optimizer = optax.sgd(0.01)
    recorded = make_train_step("relu", optimizer, x, y, record=True)
    runs = {}
    for name in "abcd":
        runs[name] = jv.Recorder()
        _run(recorded, params, optimizer.init(params), 1000, runs[name], validate_every=50)
    out = {}
    for count in (1, 4):
        monitor = jv.FlowMonitor(runs={k: runs[k] for k in "abcd"[:count]}, interval_s=3600)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            monitor.update()
            samples.append(time.perf_counter() - start)
        monitor.close()
        out[count] = statistics.median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, {args.steps} steps x "
        f"{args.repeats} repeats\n"
    )
    header = (
        f"{'model':<38} {'plain ms/step':>14} {'recording':>16} {'+ monitor':>16} "
        f"{'every 10th':>16} {'4 runs':>16}"
    )
    print(header)
    print("-" * len(header))
    for name, (depth, width, batch) in MODELS.items():
        t = bench(depth, width, batch, args.steps, args.repeats)
        cell = lambda key: f"{1e3 * t[key]:.3f} ({t[key] / t['plain']:.2f}x)"  # noqa: E731
        print(
            f"{name:<38} {1e3 * t['plain']:>14.3f} {cell('recording'):>16} {cell('monitor'):>16} "
            f"{cell('every 10th'):>16} {cell('4 runs'):>16}"
        )
    print("\none monitor push (FlowMonitor.update), runs of 1000 steps:")
    for name, (depth, width, batch) in MODELS.items():
        t = push_times(depth, width, batch, args.repeats)
        print(f"{name:<38} 1 run {1e3 * t[1]:8.1f} ms   4 runs {1e3 * t[4]:8.1f} ms")


if __name__ == "__main__":
    main()
