"""What the speed rewrites buy: the same jaxviz calls with `jaxviz.config.speed_rewrites` on and
off (issue 12, 3), timed alternately in this one process.

Each setting explains through its own wrapped copy of the model, so the two never share a
compiled program. The calls cover every rule: the CNNs' first layers have 3 and 1 input
channels (few-input convolution) and their input gradients 3 and 1 outputs (narrow
convolution); both max-pool 2x2 with stride 2 (tiling max pool, and its gradient); adaptive
integrated gradients runs its steps in a while loop (loops, convolution layout).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

import jaxviz as jv
from benchmarks import _twins as twins
from benchmarks._timing import alternate
from jaxviz._config import config

BATCH = 32
STEPS = 32
SETTINGS = {"on": True, "off": False}


def calls(x, target, layer) -> dict[str, Callable]:
    """{method: call(wrapped model) returning once its result is computed}."""
    key = jax.random.key(0)
    return {
        "saliency": lambda m: jv.saliency(m, x, target),
        "Grad-CAM": lambda m: jv.gradcam(m, x, target, layer=layer),
        "guided backprop": lambda m: jv.guided_backprop(m, x, target),
        f"IG {STEPS} steps, one example": lambda m: jv.integrated_gradients(
            m, x[:1], target[:1], steps=STEPS
        ),
        f"IG {STEPS} steps": lambda m: jv.integrated_gradients(m, x, target, steps=STEPS),
        "IG to tol=1e-3 (while loop)": lambda m: jv.integrated_gradients(
            m, x[:4], target[:4], tol=1e-3, max_steps=256
        ),
        "SmoothGrad 16 samples": lambda m: jv.smoothgrad(m, x, target, samples=16, key=key),
        "occlusion 4x4, stride 2": lambda m: jv.occlusion(m, x, target, window=4, stride=2),
    }


def under(setting, call, model):
    def timed():
        with config.override(speed_rewrites=setting):
            jax.block_until_ready(call(model))

    return timed


def time_case(module, x, layer) -> dict[str, dict[str, float]]:
    """{method: {"on": ms, "off": ms}} for one model, alternating on and off."""
    wrapped = {name: jv.wrap(module) for name in SETTINGS}
    target = np.asarray(wrapped["on"](x).argmax(1))
    methods = calls(x, target, layer)
    candidates = {
        f"{method}/{name}": under(setting, call, wrapped[name])
        for method, call in methods.items()
        for name, setting in SETTINGS.items()
    }
    seconds = alternate(candidates, repeats=5, min_sample_s=0.3)
    return {
        method: {name: seconds[f"{method}/{name}"] * 1e3 for name in SETTINGS} for method in methods
    }


def run() -> str:
    cases = {
        "cifar-cnn": (
            twins.SpecCNN(twins.CIFAR_CNN, twins.CIFAR_INPUT, seed=0),
            twins.CIFAR_INPUT,
            "conv4",
        ),
        "digits-cnn": (
            twins.SpecCNN(twins.DIGITS_CNN, twins.DIGITS_INPUT, seed=0),
            twins.DIGITS_INPUT,
            "conv2",
        ),
    }
    rows = []
    for case, (module, shape, layer) in cases.items():
        x = twins.random_inputs(BATCH, shape)
        for method, ms in time_case(module, x, layer).items():
            rows.append(
                f"| {case} | {method} | {ms['off']:.1f} | {ms['on']:.1f} "
                f"| **{ms['off'] / ms['on']:.2f}x** |"
            )
    return "\n".join(
        [
            "## What the speed rewrites buy",
            "",
            f"The same calls on {BATCH} examples (random weights and inputs) with",
            "`jaxviz.config.speed_rewrites` off (XLA's own kernels) and on (the default on a CPU),",
            "in ms, median of alternating runs. *speed-up*: the time off over the time on.",
            "",
            "| model | call | rewrites off (ms) | rewrites on (ms) | speed-up |",
            "|---|---|---:|---:|---:|",
            *rows,
        ]
    )
