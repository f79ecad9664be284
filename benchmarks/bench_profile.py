"""Profile: where integrated gradients spends its time in jaxviz and in Captum (issue 6, 2).

One example's 32-step integrated gradients on the CIFAR-size CNN is 32 forward and backward
passes through the network: one chunk of jaxviz's program and one batch of Captum's. This topic
times each convolution of the network alone, forward and input gradient, at the chunk's 32 rows
in XLA (with its defaults, and as jaxviz compiles its programs) and in PyTorch, alternating, and
sets their sum against each framework's whole call for one example. (XLA's profiler trace does
not help here: XLA's own convolutions run as asynchronous tasks on its thread pool, so the
trace shows their launch, not their work.)
"""

from __future__ import annotations

import jax
import numpy as np

import jaxviz as jv
from benchmarks._timing import alternate, use_all_cores_in_torch
from benchmarks._twins import CIFAR_CNN, CIFAR_INPUT, SpecCNN, random_inputs, to_torch, torch_twin
from jaxviz import _jaxpr
from jaxviz._compile import compiler_options

STEPS = 32
JAXVIZ_KERNELS = _jaxpr.FastKernels(narrow_convolutions=True)  # what the engine uses on a CPU


def conv_shapes(spec, input_shape) -> list[tuple[str, int, int, int]]:
    """(name, in channels, out channels, side) of each conv in a twin spec."""
    side, channels, convs = input_shape[0], input_shape[2], []
    for step in spec:
        if step[0] == "conv":
            convs.append((f"conv{len(convs) + 1}", channels, step[1], side))
            channels = step[1]
        elif step[0] in ("maxpool", "avgpool"):
            side //= step[1]
    return convs


def conv_rows(rows: int) -> tuple[list[str], dict[str, float]]:
    """One table row per conv (forward and input-gradient milliseconds in XLA and PyTorch),
    and each framework's total over the network's convolutions, forward and input gradient."""
    import torch
    import torch.nn.functional as F

    lines, totals = [], {"jaxviz": 0.0, "torch": 0.0}
    for name, cin, cout, side in conv_shapes(CIFAR_CNN, CIFAR_INPUT):
        x = jax.random.normal(jax.random.key(0), (rows, side, side, cin))
        w = jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
        g = jax.random.normal(jax.random.key(2), (rows, side, side, cout))

        def conv(x, w):
            return jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        def input_gradient(g, w):
            return jax.vjp(lambda x: conv(x, w), x)[1](g)[0]

        # as jaxviz compiles its programs, and with XLA's defaults (YNNPACK convolutions)
        forward, input_grad = (
            jax.jit(
                _jaxpr.with_fast_kernels(f, JAXVIZ_KERNELS), compiler_options=compiler_options()
            )
            for f in (conv, input_gradient)
        )
        default_forward, default_input_grad = jax.jit(conv), jax.jit(input_gradient)
        tx, tw = to_torch(x), torch.tensor(np.asarray(w).transpose(3, 2, 0, 1).copy())
        tg = to_torch(g)
        with torch.no_grad():
            seconds = alternate(
                {
                    "xla forward": lambda: forward(x, w).block_until_ready(),
                    "default forward": lambda: default_forward(x, w).block_until_ready(),
                    "default input gradient": lambda: default_input_grad(g, w).block_until_ready(),
                    "torch forward": lambda: F.conv2d(tx, tw, padding=1),
                    "xla input gradient": lambda: input_grad(g, w).block_until_ready(),
                    # what autograd runs for the input gradient of a conv
                    "torch input gradient": lambda: torch.ops.aten.convolution_backward(
                        tg,
                        tx,
                        tw,
                        None,
                        (1, 1),
                        (1, 1),
                        (1, 1),
                        False,
                        (0, 0),
                        1,
                        (True, False, False),
                    ),
                },
                repeats=5,
                min_sample_s=0.2,
            )
        ms = {k: v * 1e3 for k, v in seconds.items()}
        totals["jaxviz"] += ms["xla forward"] + ms["xla input gradient"]
        totals["torch"] += ms["torch forward"] + ms["torch input gradient"]
        cells = [
            f"{ms[f'default {op}']:.2f} | {ms[f'xla {op}']:.2f} | {ms[f'torch {op}']:.2f} "
            f"| **{ms[f'torch {op}'] / ms[f'xla {op}']:.2f}x**"
            for op in ("forward", "input gradient")
        ]
        lines.append(f"| {name} | {cin} -> {cout} at {side}x{side} | {' | '.join(cells)} |")
    return lines, totals


def whole_calls(model, torch_model) -> dict[str, float]:
    """Milliseconds of one example's 32-step integrated gradients in jaxviz and in Captum."""
    import captum.attr as ca
    import torch

    x = random_inputs(1, CIFAR_INPUT)
    wrapped = jv.wrap(model)
    target = np.asarray(wrapped(x).argmax(1))
    ig = ca.IntegratedGradients(torch_model)
    tx, ttarget = to_torch(x), torch.tensor(target)
    seconds = alternate(
        {
            "jaxviz": lambda: jv.integrated_gradients(
                wrapped, x, target, steps=STEPS
            ).block_until_ready(),
            "torch": lambda: ig.attribute(tx, target=ttarget, n_steps=STEPS),
        },
        repeats=5,
        min_sample_s=0.3,
    )
    return {k: v * 1e3 for k, v in seconds.items()}


def run() -> str:
    cores = use_all_cores_in_torch()
    model = SpecCNN(CIFAR_CNN, CIFAR_INPUT, seed=0)
    whole = whole_calls(model, torch_twin(model, CIFAR_INPUT))
    convs, conv_ms = conv_rows(STEPS)
    split = [
        f"| {label} | {whole[k]:.1f} | {conv_ms[k]:.1f} ({conv_ms[k] / whole[k]:.0%}) "
        f"| {whole[k] - conv_ms[k]:.1f} |"
        for label, k in (("jaxviz", "jaxviz"), ("Captum (PyTorch)", "torch"))
    ]
    return "\n".join(
        [
            "## Where the time goes: one example's integrated gradients, profiled",
            "",
            f"cifar-cnn, {STEPS} Gauss-Legendre steps on one example ({STEPS} forward and backward passes",
            f"in one batch), PyTorch on {cores} threads. First each convolution of the network alone at",
            f"those {STEPS} rows, in milliseconds (median of alternating runs): XLA with its defaults",
            "(YNNPACK convolutions, which run on one core), XLA as jaxviz compiles its programs (its",
            "own convolutions, on every core; those with at most 4 output channels, here conv1's",
            "input gradient, as a matrix product and shifted sums) and PyTorch (oneDNN). *speed* is",
            "PyTorch's time over jaxviz's (above 1: jaxviz faster).",
            "",
            "| layer | shape | XLA default fwd | jaxviz fwd | PyTorch fwd | speed "
            "| XLA default input grad | jaxviz input grad | PyTorch input grad | speed |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *convs,
            "",
            "Then the whole call for one example against the sum of those convolutions (forward and",
            "input gradient of every layer): the rest is pooling, ReLUs, dense layers, the path",
            "arithmetic and, for Captum, per-operation dispatch from Python.",
            "",
            "| framework | whole call (ms) | its convolutions (ms) | everything else (ms) |",
            "|---|---:|---:|---:|",
            *split,
        ]
    )
