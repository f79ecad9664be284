"""Profile: where integrated gradients spends its time in jaxviz and in Captum (issue 6, 2).

One example's 32-step integrated gradients on the CIFAR-size CNN is 32 forward and backward
passes through the network, one chunk of jaxviz's program and one batch of Captum's. This topic

1. splits that chunk's time by operation kind in both frameworks: XLA's trace of jaxviz's
   compiled program (each instruction mapped to convolution, matmul, pooling or elementwise
   through the optimized HLO) and torch.profiler's view of Captum's call;
2. times each convolution of the network alone, forward and input gradient, at the chunk's 32
   rows in both frameworks, alternating, to compare the convolution kernels themselves.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import jaxviz as jv
from benchmarks._timing import alternate, use_all_cores_in_torch
from benchmarks._twins import CIFAR_CNN, CIFAR_INPUT, SpecCNN, random_inputs, to_torch, torch_twin

STEPS = 32
KINDS = ("convolution", "matmul", "pooling", "elementwise and other")


def _kind_of_computation(body: str) -> str:
    if " convolution(" in body:
        return "convolution"
    if " dot(" in body:
        return "matmul"
    if re.search(r" (reduce-window|select-and-scatter|scatter)\(", body):
        return "pooling"
    return "elementwise and other"


def hlo_instruction_kinds(hlo_text: str) -> dict[str, str]:
    """{instruction name: kind} for the instructions of an optimized HLO module's programs."""
    computations = dict(re.findall(r"^%?([\w.-]+) [^\n]*\{\n(.*?)\n\}", hlo_text, re.S | re.M))
    kinds = {}
    for line in hlo_text.splitlines():
        match = re.match(r"\s*(?:ROOT )?%([\w.-]+) = .*?calls=%([\w.-]+)", line)
        if match:
            kinds[match.group(1)] = _kind_of_computation(computations.get(match.group(2), ""))
        else:
            match = re.match(r"\s*(?:ROOT )?%([\w.-]+) = ", line)
            if match:
                kinds.setdefault(match.group(1), _kind_of_computation(" " + line.split("=", 1)[1]))
    return kinds


def jaxviz_breakdown(model, x, target, calls: int = 5) -> dict[str, float]:
    """Milliseconds per call of jaxviz's IG chunk, by kind, from XLA's profiler trace."""
    wrapped = jv.wrap(model)

    def run():
        return jv.integrated_gradients(wrapped, x, target, steps=STEPS, batch_size=1).block_until_ready()

    run()
    (program,) = [p for key, p in wrapped.programs.items() if key[0] == "integrated_gradients"]
    args = (wrapped.params, np.arange(1, dtype=np.int32), x, jnp.zeros_like(x), np.asarray(target, np.int32))
    kinds = hlo_instruction_kinds(program.lower(*args).compile().as_text())
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(calls):
                run()
        (path,) = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)
        events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    totals = collections.Counter()
    for event in events:
        kind = kinds.get(event.get("name", ""))
        if event.get("ph") == "X" and kind is not None:
            totals[kind] += event["dur"] / 1e3 / calls
    return dict(totals)


TORCH_KINDS = (
    ("convolution", ("conv",)),
    ("matmul", ("addmm", "aten::mm", "matmul", "linear")),
    ("pooling", ("pool",)),
)


def _torch_kind(name: str) -> str:
    return next((kind for kind, marks in TORCH_KINDS if any(m in name for m in marks)), KINDS[-1])


def captum_breakdown(torch_model, tx, target, calls: int = 5) -> dict[str, float]:
    """Milliseconds per call of Captum's IG on one example, by kind (self time of each op)."""
    import captum.attr as ca
    import torch
    from torch.profiler import ProfilerActivity, profile

    ig = ca.IntegratedGradients(torch_model)
    run = lambda: ig.attribute(tx, target=torch.tensor(target), n_steps=STEPS)  # noqa: E731
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            run()
    totals = collections.Counter()
    for op in prof.key_averages():
        if op.key.startswith("aten::") or op.key.startswith("mkldnn"):
            totals[_torch_kind(op.key)] += op.self_cpu_time_total / 1e3 / calls
    return dict(totals)


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


def conv_rows(rows: int) -> list[str]:
    """One table row per conv: forward and input-gradient time in XLA and PyTorch (oneDNN)."""
    import torch
    import torch.nn.functional as F

    lines = []
    for name, cin, cout, side in conv_shapes(CIFAR_CNN, CIFAR_INPUT):
        x = jax.random.normal(jax.random.key(0), (rows, side, side, cin))
        w = jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
        g = jax.random.normal(jax.random.key(2), (rows, side, side, cout))

        def conv(x, w):
            return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

        forward = jax.jit(conv)
        input_grad = jax.jit(lambda g, w: jax.vjp(lambda x: conv(x, w), x)[1](g)[0])
        tx, tw = to_torch(x), torch.tensor(np.asarray(w).transpose(3, 2, 0, 1).copy())
        tg = to_torch(g)
        with torch.no_grad():
            seconds = alternate(
                {
                    "xla forward": lambda: forward(x, w).block_until_ready(),
                    "torch forward": lambda: F.conv2d(tx, tw, padding=1),
                    "xla input gradient": lambda: input_grad(g, w).block_until_ready(),
                    # what autograd runs for the input gradient of a conv
                    "torch input gradient": lambda: torch.ops.aten.convolution_backward(
                        tg, tx, tw, None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1, (True, False, False)
                    ),
                },
                repeats=5,
                min_sample_s=0.2,
            )
        ms = {k: v * 1e3 for k, v in seconds.items()}
        lines.append(
            f"| {name} | {cin} -> {cout} at {side}x{side} | {ms['xla forward']:.2f} | {ms['torch forward']:.2f} "
            f"| **{ms['torch forward'] / ms['xla forward']:.2f}x** | {ms['xla input gradient']:.2f} "
            f"| {ms['torch input gradient']:.2f} | **{ms['torch input gradient'] / ms['xla input gradient']:.2f}x** |"
        )
    return lines


def breakdown_table(ours: dict[str, float], theirs: dict[str, float]) -> list[str]:
    lines = ["| operations | jaxviz ms | share | Captum ms | share |", "|---|---:|---:|---:|---:|"]
    total_ours, total_theirs = sum(ours.values()), sum(theirs.values())
    for kind in KINDS:
        a, b = ours.get(kind, 0.0), theirs.get(kind, 0.0)
        lines.append(f"| {kind} | {a:.1f} | {a / total_ours:.0%} | {b:.1f} | {b / total_theirs:.0%} |")
    lines.append(f"| **all** | **{total_ours:.1f}** | | **{total_theirs:.1f}** | |")
    return lines


def run() -> str:
    import torch

    cores = use_all_cores_in_torch()
    model = SpecCNN(CIFAR_CNN, CIFAR_INPUT, seed=0)
    torch_model = torch_twin(model, CIFAR_INPUT)
    x = random_inputs(1, CIFAR_INPUT)
    target = np.asarray(jv.wrap(model)(x).argmax(1))
    ours = jaxviz_breakdown(model, x, target)
    theirs = captum_breakdown(torch_model, to_torch(x), target)
    convs = conv_rows(STEPS)
    del torch
    return "\n".join(
        [
            "## Where the time goes: one example's integrated gradients, profiled",
            "",
            f"cifar-cnn, {STEPS} Gauss-Legendre steps on one example: {STEPS} forward and backward passes in",
            "one batch, in jaxviz (one compiled chunk) and in Captum. Time by operation kind,",
            "per call: jaxviz's from XLA's profiler trace (each instruction classified through",
            "the optimized HLO), Captum's from torch.profiler (self time of each aten op).",
            f"PyTorch on {cores} threads. Kernels running on both cores at once can make the",
            "summed time exceed the wall time, so compare shares.",
            "",
            *breakdown_table(ours, theirs),
            "",
            f"Each convolution of the network alone, at the chunk's {STEPS} rows, milliseconds (median of",
            "alternating runs); *speed* is PyTorch's time over XLA's (above 1: XLA faster).",
            "",
            "| layer | shape | XLA fwd | PyTorch fwd | speed | XLA input grad | PyTorch input grad | speed |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
            *convs,
        ]
    )
