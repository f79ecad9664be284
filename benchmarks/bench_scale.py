"""Scale (issue 6 item 5): integrated gradients over up to 10,000 inputs with batch_size set.

Every run is a fresh subprocess that resets its peak resident memory on start (a child started
by fork and exec inherits its parent's ru_maxrss, and the runner holds PyTorch and other
topics' models), so the peak it reports (VmHWM) is its own. Memory
should stay flat as the number of inputs grows (fixed-shape chunks; only the inputs and the
attributions themselves grow), time should grow linearly, and the 10,000-input run sharded over
4 forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count=4) should give the same
attributions as on one device.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (1250, 2500, 5000, 10_000)
BATCH_SIZE = 64
STEPS = 16
ROOT = Path(__file__).resolve().parents[1]


def reset_peak_rss() -> None:
    """Start the process's peak-RSS count (VmHWM) afresh from its current RSS (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
        / 1024
    )


def child(inputs: int, out: str) -> None:
    """One run: build the model, warm the program up on one chunk, time the whole batch."""
    reset_peak_rss()
    import jax

    import jaxviz as jv
    from benchmarks._twins import TINY_CNN, TINY_INPUT, make_twins, random_inputs

    flax_model, _ = make_twins(TINY_CNN, TINY_INPUT)
    model = jv.wrap(flax_model)
    x = random_inputs(inputs, TINY_INPUT)
    jax.block_until_ready(
        jv.integrated_gradients(model, x[:BATCH_SIZE], 0, steps=STEPS, batch_size=BATCH_SIZE)
    )
    before = peak_rss_mib()
    start = time.perf_counter()
    attr = jax.block_until_ready(
        jv.integrated_gradients(model, x, 0, steps=STEPS, batch_size=BATCH_SIZE)
    )
    seconds = time.perf_counter() - start
    np.save(out, np.asarray(attr))
    print(json.dumps({
        "seconds": seconds,
        "peak_before_mb": before,
        "peak_mb": peak_rss_mib(),
        "devices": jax.device_count(),
    }))


def measure(inputs: int, out: Path, devices: int = 1) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        JAXVIZ_NO_COMPILE_CACHE="1",
    )
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_scale", str(inputs), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scale run with {inputs} inputs failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        runs = {n: measure(n, Path(tmp) / f"{n}.npy") for n in SIZES}
        sharded = measure(SIZES[-1], Path(tmp) / "sharded.npy", devices=4)
        one, four = np.load(Path(tmp) / f"{SIZES[-1]}.npy"), np.load(Path(tmp) / "sharded.npy")
    data_mb = {n: 2 * n * 12 * 12 * 3 * 4 / 2**20 for n in SIZES}  # inputs + attributions, float32
    rows = [
        f"| {n:,} | 1 | {r['seconds']:.2f} | {r['seconds'] / n * 1e6:.0f} | "
        f"{r['peak_before_mb']:.0f} | {r['peak_mb']:.0f} | {data_mb[n]:.1f} |"
        for n, r in runs.items()
    ]
    rows.append(
        f"| {SIZES[-1]:,} | {sharded['devices']} | {sharded['seconds']:.2f} "
        f"| {sharded['seconds'] / SIZES[-1] * 1e6:.0f} | {sharded['peak_before_mb']:.0f} "
        f"| {sharded['peak_mb']:.0f} | {data_mb[SIZES[-1]]:.1f} |"
    )
    identical = "bit-identical" if one.tobytes() == four.tobytes() else (
        f"not bit-identical: max |difference| {np.abs(one - four).max():.2e} "
        f"(max |attribution| {np.abs(one).max():.2e})")
    return "\n".join([
        "## Scale: integrated gradients over 10,000 inputs",
        "",
        f"Tiny twin CNN (12x12x3 -> 5), {STEPS}-step Gauss-Legendre, batch_size={BATCH_SIZE}, "
        "one fresh process per row (persistent cache off); the program is compiled on one chunk "
        "first, so *seconds* is the run alone. *Peak before* is the process's peak RSS after "
        "that warm-up; *peak* after the whole run; *data* is the inputs plus the attributions.",
        "",
        "| inputs | devices | seconds | us / input | peak before (MiB) | peak (MiB) | data (MiB) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Sharded over 4 forced host devices vs one device, 10,000 inputs: {identical}.",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one scale run (used by run())")
    parser.add_argument("inputs", type=int)
    parser.add_argument("out")
    arguments = parser.parse_args()
    child(arguments.inputs, arguments.out)
