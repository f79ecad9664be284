"""Sequences (issue 13): token integrated gradients against Captum's LayerIntegratedGradients on
the zoo's sentiment-transformer and its PyTorch twin (the same weights), and attention extraction
plus rollout at 2,048 tokens against the twin's forward pass with a NumPy rollout (the usual way
rollout is computed from a PyTorch model's attention, as in Abnar & Zuidema's code), timed
alternately in this one process.
"""

from __future__ import annotations

import os

import numpy as np
from flax import nnx

import jaxviz as jv
from benchmarks._timing import alternate_samples, use_all_cores_in_torch
from benchmarks._twins import torch_transformer
from jaxviz.zoo._models import TinyTransformer
from jaxviz.zoo._pretrained import restore_module

EXAMPLES = 32
STEPS = 50
LONG = 2048
REPEATS = 5


def measure_token_ig() -> dict:
    import captum.attr as ca
    import torch

    model, data = jv.zoo.load("sentiment-transformer")
    twin = torch_transformer(restore_module("sentiment-transformer"))
    tokens = np.array(data.x_test[:EXAMPLES], np.int32)
    targets = np.asarray(model(tokens)).argmax(-1)
    lig = ca.LayerIntegratedGradients(twin, twin.token_embed)
    inputs, target = torch.from_numpy(tokens).long(), torch.from_numpy(targets).long()
    results = {}

    def ours():
        results["jaxviz"] = jv.token_attribution(model, tokens, targets, steps=STEPS)
        results["jaxviz"].block_until_ready()

    def theirs():
        features = lig.attribute(
            inputs, baselines=torch.zeros_like(inputs), target=target, n_steps=STEPS
        )
        results["captum"] = features.detach().numpy().sum(-1)

    times = alternate_samples({"jaxviz": ours, "captum": theirs}, repeats=REPEATS)
    difference = np.abs(np.asarray(results["jaxviz"]) - results["captum"]).max()
    return dict(times=times, difference=float(difference), rate=EXAMPLES)


def _numpy_rollout(weights: list[np.ndarray]) -> np.ndarray:
    """Rollout from per-layer (batch, heads, query, key) weights: head mean, 0.5 A + 0.5 I,
    rows renormalized, multiplied from the first layer up."""
    rollout = None
    for layer in weights:
        mixed = 0.5 * layer.mean(1) + 0.5 * np.eye(layer.shape[-1], dtype=layer.dtype)
        mixed = mixed / mixed.sum(-1, keepdims=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout


def measure_long_attention() -> dict:
    import torch

    module = TinyTransformer(200, LONG, 2, readout=0, rngs=nnx.Rngs(0))
    model = jv.wrap(module)
    twin = torch_transformer(module)
    tokens = np.random.default_rng(0).integers(1, 200, (1, LONG)).astype(np.int32)
    inputs = torch.from_numpy(tokens).long()
    results = {}

    def ours():
        results["jaxviz"] = jv.attention_rollout(jv.attention(model, tokens))
        results["jaxviz"].block_until_ready()

    def theirs():
        with torch.no_grad():
            twin(inputs)
        results["torch"] = _numpy_rollout([b.attention.weights.numpy() for b in twin.blocks])

    times = alternate_samples({"jaxviz": ours, "torch": theirs}, repeats=REPEATS)
    difference = np.abs(np.asarray(results["jaxviz"]) - results["torch"]).max()
    return dict(times=times, difference=float(difference), rate=1)


def _row(name: str, result: dict, peer: str, note: str) -> str:
    times = result["times"]
    ours, theirs = np.median(times["jaxviz"]), np.median(times[peer])
    ratio = np.median(np.array(times[peer]) / np.array(times["jaxviz"]))
    return (
        f"| {name} | {ours * 1e3:,.1f} | {theirs * 1e3:,.1f} | **{ratio:.1f}x** | {note} "
        f"(max abs. difference {result['difference']:.1e}) |"
    )


def run() -> str:
    cores = use_all_cores_in_torch()
    token_ig, long_attention = measure_token_ig(), measure_long_attention()
    rows = "\n".join(
        [
            _row(
                f"token IG, {EXAMPLES} sentences, {STEPS} steps",
                token_ig,
                "captum",
                "Captum `LayerIntegratedGradients` at `token_embed`",
            ),
            _row(
                f"attention + rollout, 1 x {LONG} tokens",
                long_attention,
                "torch",
                "twin forward keeping its weights, NumPy rollout",
            ),
        ]
    )
    return f"""## Sequences: jaxviz vs Captum and a PyTorch twin (CPU)

Milliseconds per call, median of {REPEATS} alternating repetitions after one warm-up call each
(jaxviz's includes no compilation). Token integrated gradients: the zoo's sentiment-transformer
(2 pre-norm blocks, 4 heads, width 32) and its PyTorch twin with the same weights, {EXAMPLES}
test sentences, the predicted class, padding (id 0) as the baseline, {STEPS} Gauss-Legendre
steps on both sides, per-token sums. Long attention: the same architecture, untrained, with
{LONG} positions; jaxviz's `attention` (weights of every layer and head, captured from flax's
`MultiHeadAttention` without editing the model) then `attention_rollout`, against the twin's
forward pass keeping its weights and a NumPy rollout. {cores} CPU cores (torch given all of
them), shared with other jobs; {os.cpu_count()} visible.

| task | jaxviz (ms) | peer (ms) | peer / jaxviz | peer and check |
|---|---|---|---|---|
{rows}"""
