"""LRP (issue 15): jaxviz against zennit on the same CNN, weights, batch and composite.

The CIFAR-size twin CNN (benchmarks/_twins.py) in flax.nnx and PyTorch, 32 standard-normal
inputs, each explained for its predicted class with the score (logit x one-hot) as the output
relevance. Each composite is first checked to agree (max |difference| relative to the largest
relevance), then timed alternately in this one process after a warm-up call of each (jaxviz's
warm-up compiles); the table gives median seconds per batch and the speed-up.
"""

from __future__ import annotations

import statistics
import sys

import jax
import numpy as np

import jaxviz as jv
from benchmarks._timing import alternate_samples, use_all_cores_in_torch
from benchmarks._twins import (
    CIFAR_CNN,
    CIFAR_INPUT,
    SpecCNN,
    random_inputs,
    to_nhwc,
    to_torch,
    torch_twin,
)
from benchmarks._zennit import import_zennit
from jaxviz.explain._lrp import lrp  # jv.lrp once exported

BATCH = 32
REPEATS = 7
MIN_SAMPLE_S = 0.5
BOUNDS = (-3.0, 3.0)  # z-box's box for standard-normal inputs
TARGET_SPEEDUP = 1.5


def _composites(zennit):
    composites = zennit.composites
    return {
        "epsilon-plus-flat": composites.EpsilonPlusFlat,
        "epsilon-gamma-box": lambda: composites.EpsilonGammaBox(*BOUNDS),
        "epsilon-alpha2-beta1": composites.EpsilonAlpha2Beta1,
    }


def run() -> str:
    import torch

    zennit = import_zennit()
    cores = use_all_cores_in_torch()
    module = SpecCNN(CIFAR_CNN, CIFAR_INPUT, seed=0)
    torch_model = torch_twin(module, CIFAR_INPUT)
    model = jv.wrap(module)
    x = random_inputs(BATCH, CIFAR_INPUT)
    targets = np.asarray(model(x)).argmax(1)
    tx = to_torch(x)
    num_classes = CIFAR_CNN[-1][1]

    one_hot = torch.nn.functional.one_hot(torch.as_tensor(targets), num_classes)
    rows = []
    for name, make in _composites(zennit).items():

        def ours(name=name):
            return jax.block_until_ready(
                lrp(model, x, targets, composite=name, low=BOUNDS[0], high=BOUNDS[1])
            )

        # zennit's hooks stay registered over the timing, as in a loop over batches.
        with zennit.attribution.Gradient(model=torch_model, composite=make()) as attributor:

            def theirs(attributor=attributor):
                return attributor(tx.detach().requires_grad_(), lambda out: out * one_hot)[1]

            expected = to_nhwc(theirs())
            error = float(np.abs(np.asarray(ours()) - expected).max() / np.abs(expected).max())
            times = alternate_samples(
                {"jaxviz": ours, "zennit": theirs}, repeats=REPEATS, min_sample_s=MIN_SAMPLE_S
            )
        pairs = zip(times["jaxviz"], times["zennit"], strict=True)
        ratio = statistics.median(z / j for j, z in pairs)
        jaxviz_s, zennit_s = statistics.median(times["jaxviz"]), statistics.median(times["zennit"])
        rows.append((name, error, jaxviz_s, zennit_s, ratio))
        print(
            f"[lrp] {name}: jaxviz {jaxviz_s * 1e3:.1f} ms, zennit {zennit_s * 1e3:.1f} ms, "
            f"{ratio:.2f}x, relative difference {error:.1e}",
            file=sys.stderr,
        )

    below = [r[0] for r in rows if r[4] < TARGET_SPEEDUP]
    verdict = (
        f"every composite at least {TARGET_SPEEDUP}x zennit's speed"
        if not below
        else f"below the {TARGET_SPEEDUP}x target: {', '.join(below)}"
    )
    return "\n".join(
        [
            "## LRP: jaxviz vs zennit",
            "",
            f"CIFAR-size twin CNN (32x32x3, 4 conv + 2 max pools + 2 dense), batch {BATCH}, "
            f"predicted class, z-box bounds {BOUNDS}; PyTorch on {cores} threads. Alternating "
            f"runs, {REPEATS} repetitions of at least {MIN_SAMPLE_S} s after a warm-up; *speed-up* "
            "is the median of per-repetition ratios. *Difference*: max |jaxviz - zennit| / "
            "max |zennit|.",
            "",
            "| composite | difference | jaxviz (ms / batch) | zennit (ms / batch) | speed-up |",
            "|---|---|---|---|---|",
            *(
                f"| {n} | {e:.1e} | {j * 1e3:.1f} | {z * 1e3:.1f} | {r:.2f}x |"
                for n, e, j, z, r in rows
            ),
            "",
            f"Verdict: {verdict}.",
        ]
    )


if __name__ == "__main__":
    print(run())
