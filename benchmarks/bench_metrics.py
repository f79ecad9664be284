"""Metrics (issue 16): jaxviz.metrics against Quantus and Captum, the same metric, settings,
weights, inputs and attributions, timed in one process.

A CIFAR-size CNN (`_twins.CIFAR_CNN`, 32x32x3 -> 10 classes) in flax.nnx and its PyTorch twin;
16 random images, each explained for its predicted class by the gradient (computed once by
jaxviz and handed to every library, channels summed where a metric takes a map). jaxviz is
timed warm (compiled; its first call, with compilation, is given beside it); Quantus and Captum
as they run, after one warm-up call. The runs alternate (`_timing.alternate`).

The settings match per row: deletion is Quantus's PixelFlipping (12 steps of 256 values of
the map repeated over the channels: Quantus counts channel values but asks that a step divide
height x width, so no whole number of pixels fits; jaxviz removes 1024 / 12 pixels a step,
the same model evaluations; "black", softmax; Quantus's "black" is each image's minimum,
which jaxviz is given as its replacement); faithfulness correlation 64 subsets
of 16 set to "black" (pixels in jaxviz, channel values in Quantus: the same number of model
evaluations); max-sensitivity 10 uniform draws of radius 0.02 re-explained with the gradient
(relative Frobenius norm); the local Lipschitz estimate 10 Gaussian neighbours of std 0.1; ROAD
9 percentages (10%..90%) of noisy linear imputation (on a 1-channel twin: see `road_case`); the
randomization test cascading over the 6 layers with Spearman correlation; infidelity is
Captum's with 32 Gaussian perturbations of std 0.1 (Quantus's Infidelity perturbs
differently). jaxviz draws no random baseline here (random_orders=0), as the others have none.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import jax
import numpy as np

import jaxviz as jv
from benchmarks._timing import alternate, use_all_cores_in_torch
from benchmarks._twins import CIFAR_CNN, CIFAR_INPUT, make_twins, random_inputs, to_torch
from benchmarks._zennit import import_quantus
from jaxviz import metrics

EXAMPLES = 16
GRAY_INPUT = (32, 32, 1)
TARGET_SPEEDUP = 10.0


def torch_saliency(model, inputs, targets, **_):
    """The gradient of the target logit, as Quantus's explain_func (NCHW numpy in and out)."""
    import torch

    rows = torch.as_tensor(np.asarray(inputs, np.float32)).requires_grad_(True)
    with torch.enable_grad():
        out = model(rows)
        out[torch.arange(len(rows)), torch.as_tensor(np.asarray(targets))].sum().backward()
    return np.ascontiguousarray(rows.grad.numpy())  # the conv's backward may leave it strided


def jax_gradient(model, x, target):
    return jv.saliency(model, x, target)


def blocked(fn):
    def call():
        return jax.block_until_ready(jax.tree.map(np.asarray, fn()))

    return call


def quiet(fn):
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return call


def cases(quantus, model, torch_model, x, targets, saliency):
    """{metric: {library: zero-argument call}}, the same settings in every library."""
    import torch
    from captum.metrics import infidelity, sensitivity_max

    key = jax.random.key(0)
    x_nchw = to_torch(x).numpy()
    grads_nchw = np.transpose(saliency, (0, 3, 1, 2))
    maps = saliency.sum(axis=-1)
    maps_nchw = maps[:, None]
    black = x.min(axis=(1, 2, 3), keepdims=True)  # Quantus's perturb_baseline="black"
    masks = np.zeros(maps.shape, bool)
    masks[:, 8:24, 8:24] = True
    masks_nchw = masks[:, None].astype(float)

    def q(metric, a_batch, **call):
        def run():
            return metric(
                model=torch_model, x_batch=x_nchw, y_batch=targets, a_batch=a_batch.copy(), **call
            )

        return quiet(run)

    flip = quantus.PixelFlipping(
        features_in_step=256, perturb_baseline="black", disable_warnings=True, normalise=False
    )
    correlation = quantus.FaithfulnessCorrelation(
        nr_runs=64,
        subset_size=16,
        perturb_baseline="black",
        normalise=False,
        return_aggregate=False,
        disable_warnings=True,
    )
    sensitivity = quantus.MaxSensitivity(
        nr_samples=10,
        lower_bound=0.02,
        norm_numerator=quantus.norm_func.fro_norm,
        norm_denominator=quantus.norm_func.fro_norm,
        similarity_func=quantus.similarity_func.difference,
        disable_warnings=True,
    )
    lipschitz = quantus.LocalLipschitzEstimate(
        nr_samples=10, perturb_std=0.1, normalise=False, disable_warnings=True
    )
    road = quantus.ROAD(
        percentages=list(range(10, 100, 10)), noise=0.01, disable_warnings=True, normalise=False
    )
    mprt = quantus.MPRT(
        similarity_func=quantus.similarity_func.correlation_spearman,
        layer_order="top_down",
        abs=True,
        normalise=False,
        disable_warnings=True,
    )
    rank = quantus.RelevanceRankAccuracy(disable_warnings=True)
    gini = quantus.Sparseness(normalise=False, disable_warnings=True)
    t_x, t_targets = torch.from_numpy(x_nchw), torch.from_numpy(np.asarray(targets))
    t_grads = torch.from_numpy(grads_nchw.copy())
    t_noise = torch.from_numpy(
        np.random.default_rng(0).normal(0, 0.1, (len(x) * 32, *x_nchw.shape[1:])).astype(np.float32)
    )

    def captum_perturb(inputs):
        return t_noise, inputs - t_noise

    def captum_explain(inputs, target):
        rows = inputs[0] if isinstance(inputs, tuple) else inputs
        grads = torch.from_numpy(torch_saliency(torch_model, rows.numpy(), target.numpy()))
        return (grads,) if isinstance(inputs, tuple) else grads

    return {
        "deletion (pixel flipping)": {
            "jaxviz": lambda: (
                metrics.deletion(
                    model,
                    x,
                    targets,
                    maps,
                    steps=12,
                    replacement=black,
                    random_orders=0,
                    output="probability",
                ).values
            ),
            "Quantus": q(flip, np.repeat(maps_nchw, 3, axis=1), softmax=True),
        },
        "faithfulness correlation": {
            "jaxviz": lambda: (
                metrics.faithfulness_correlation(
                    model, x, targets, maps, subset_size=16, samples=64, replacement=black, key=key
                ).values
            ),
            "Quantus": q(correlation, maps_nchw),
        },
        "infidelity": {
            "jaxviz": lambda: (
                metrics.infidelity(
                    model, x, targets, saliency, samples=32, noise=0.1, key=key
                ).values
            ),
            "Captum": lambda: infidelity(
                torch_model, captum_perturb, t_x, t_grads, target=t_targets, n_perturb_samples=32
            ),
        },
        "max-sensitivity": {
            "jaxviz": lambda: (
                metrics.max_sensitivity(model, x, targets, jax_gradient, samples=10, key=key).values
            ),
            "Quantus": q(sensitivity, grads_nchw, explain_func=torch_saliency),
            "Captum": lambda: sensitivity_max(
                captum_explain, t_x, perturb_radius=0.02, n_perturb_samples=10, target=t_targets
            ),
        },
        "local Lipschitz estimate": {
            "jaxviz": lambda: (
                metrics.local_lipschitz(model, x, targets, jax_gradient, samples=10, key=key).values
            ),
            "Quantus": q(lipschitz, grads_nchw, explain_func=torch_saliency),
        },
        "ROAD (1 channel)": road_case(quantus, road),
        "randomization (cascading)": {
            "jaxviz": lambda: (
                metrics.model_randomization(model, x, targets, jax_gradient, key=key).scores
            ),
            "Quantus": q(mprt, grads_nchw, explain_func=torch_saliency),
        },
        "relevance rank accuracy": {
            "jaxviz": lambda: metrics.relevance_rank(model, x, targets, maps, masks=masks).values,
            "Quantus": q(rank, maps_nchw, s_batch=masks_nchw),
        },
        "sparseness": {
            "jaxviz": lambda: metrics.sparseness(model, x, targets, saliency).values,
            "Quantus": q(gini, grads_nchw),
        },
    }


def road_case(quantus, road):
    """ROAD on a 1-channel twin: Quantus 0.6.0's ROAD ranks the attribution broadcast to every
    channel (indices up to channels x pixels) but imputes by pixel index, so it fails on RGB
    inputs (IndexError); with one channel the two agree."""
    flax_model, torch_model = make_twins(CIFAR_CNN, GRAY_INPUT)
    torch_model.eval()
    model = jv.wrap(flax_model)
    x = np.asarray(random_inputs(EXAMPLES, GRAY_INPUT))
    targets = np.asarray(model(x)).argmax(axis=1).astype(np.int64)
    maps = np.asarray(jv.saliency(model, x, targets)).sum(axis=-1)
    x_nchw, key = to_torch(x).numpy(), jax.random.key(0)

    def quantus_road():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return road(
                model=torch_model, x_batch=x_nchw, y_batch=targets, a_batch=maps[:, None].copy()
            )

    return {
        "jaxviz": lambda: metrics.road(model, x, targets, maps, random_orders=0, key=key).values,
        "Quantus": quantus_road,
    }


def run() -> str:
    cores = use_all_cores_in_torch()
    quantus = import_quantus()
    flax_model, torch_model = make_twins(CIFAR_CNN, CIFAR_INPUT)
    torch_model.eval()
    model = jv.wrap(flax_model)
    x = np.asarray(random_inputs(EXAMPLES, CIFAR_INPUT))
    targets = np.asarray(model(x)).argmax(axis=1).astype(np.int64)
    saliency = np.asarray(jv.saliency(model, x, targets))
    rows, speedups = [], []
    for name, candidates in cases(quantus, model, torch_model, x, targets, saliency).items():
        start = time.perf_counter()
        blocked(candidates["jaxviz"])()
        first = time.perf_counter() - start
        timed = alternate(
            {lib: blocked(call) for lib, call in candidates.items()}, repeats=2, warmup=1
        )
        ours = timed["jaxviz"]
        cells = []
        for lib in ("Quantus", "Captum"):
            if lib in timed:
                ratio = timed[lib] / ours
                cells.append(f"{timed[lib] * 1e3:.0f} ms ({ratio:.1f}x)")
                if lib == "Quantus":
                    speedups.append(ratio)
            else:
                cells.append("-")
        rows.append(f"| {name} | {ours * 1e3:.1f} ms | {first:.1f} s | {' | '.join(cells)} |")
        print(f"[metrics] {rows[-1]}", file=sys.stderr)
    geometric = float(np.exp(np.mean(np.log(speedups))))
    verdict = "met" if min(speedups) >= TARGET_SPEEDUP else "missed on some rows"
    return "\n".join(
        [
            "## Metrics against Quantus and Captum",
            "",
            (__doc__ or "").split("\n\n", 1)[1].strip(),
            "",
            f"{EXAMPLES} examples, CPU, torch threads: {cores}, load average "
            f"{os.getloadavg()[0]:.1f}. Median time per call of the whole batch; in brackets, how "
            "many times longer the peer takes.",
            "",
            "| metric | jaxviz (warm) | jaxviz first call | Quantus | Captum |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Against Quantus: {min(speedups):.1f}x to {max(speedups):.1f}x, geometric mean "
            f"{geometric:.1f}x (aim >= {TARGET_SPEEDUP:g}x on every row: {verdict}).",
        ]
    )


if __name__ == "__main__":
    print(run())
