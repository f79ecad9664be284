"""GPU (issue 6, item 6): jaxviz vs Captum on ResNet-18 at 224x224 on an accelerator.

The rest of `python -m benchmarks` measures the CPU (the runner pins JAX to it). This topic runs
in a child process that sees the accelerator, with both frameworks on the same GPU, the same
ResNet-18 weights and batch-norm statistics (benchmarks/_resnet.py), the same batch and
settings, alternating calls after a warm-up as on the CPU. JAX does not preallocate GPU memory
there, so PyTorch has room too. Without a GPU visible to both JAX and PyTorch it reports why
and measures nothing.

    python -m benchmarks --only gpu --out -     # on a machine with an NVIDIA GPU
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BATCH = 32
SIDE = 224
REPEATS = 5
SMOOTHGRAD_NOISE = 0.15
OCCLUSION_WINDOW, OCCLUSION_STRIDE = 32, 16
CAM_LAYER = ("layer4.1", "layer4")  # the last block's output, in jaxviz's and in torch's names


def measure(*, device: str = "cuda", batch: int = BATCH, side: int = SIDE, repeats: int = REPEATS,
            min_sample_s: float = 0.5) -> dict:
    """In the child: images per second of each method in both frameworks, or why not.
    (`device="cpu"` runs the same comparison on the CPU, small, as the tests do.)"""
    import jax
    import numpy as np
    import torch

    if device == "cuda" and (jax.default_backend() != "gpu" or not torch.cuda.is_available()):
        return {
            "skipped": f"JAX's backend is {jax.default_backend()!r}, torch.cuda.is_available() is "
            f"{torch.cuda.is_available()} (torch {torch.__version__})"
        }
    import captum.attr as ca

    import jaxviz as jv
    from benchmarks._resnet import ResNet18, torch_twin
    from benchmarks._timing import alternate

    model = ResNet18(seed=0)
    wrapped = jv.wrap(model)
    torch_model = torch_twin(model).to(device)
    x = jax.random.normal(jax.random.key(1), (batch, side, side, 3), jax.numpy.float32)
    tx = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2).copy(), device=device)
    logits = np.asarray(wrapped(x))
    with torch.no_grad():
        gap = float(np.abs(logits - torch_model(tx).cpu().numpy()).max())
    assert gap < 1e-2 * np.abs(logits).max(), f"the ResNet-18 twins' logits differ by {gap}"
    targets = logits.argmax(1)
    ttargets = torch.tensor(targets, device=device)
    spread = float(np.mean(np.ptp(np.asarray(x).reshape(batch, -1), axis=1)))

    def synced(call):
        def run():
            call()
            if device == "cuda":
                torch.cuda.synchronize()

        return run

    pairs = {
        "saliency": (
            lambda: jv.saliency(wrapped, x, targets),
            lambda: ca.Saliency(torch_model).attribute(tx, target=ttargets, abs=False),
        ),
        "IG 32 steps": (
            lambda: jv.integrated_gradients(wrapped, x, targets, steps=32),
            lambda: ca.IntegratedGradients(torch_model).attribute(tx, target=ttargets, n_steps=32),
        ),
        "SmoothGrad 32": (
            lambda: jv.smoothgrad(
                wrapped, x, targets, samples=32, noise=SMOOTHGRAD_NOISE, key=jax.random.key(0)
            ),
            lambda: ca.NoiseTunnel(ca.Saliency(torch_model)).attribute(
                tx,
                nt_type="smoothgrad",
                nt_samples=32,
                stdevs=SMOOTHGRAD_NOISE * spread,
                target=ttargets,
                abs=False,
            ),
        ),
        "Grad-CAM": (
            lambda: jv.gradcam(wrapped, x, targets, layer=CAM_LAYER[0]),
            lambda: ca.LayerAttribution.interpolate(
                ca.LayerGradCam(torch_model, torch_model.layer4).attribute(
                    tx, target=ttargets, relu_attributions=True
                ),
                (side, side),
                interpolate_mode="bilinear",
            ),
        ),
        "occlusion": (
            lambda: jv.occlusion(
                wrapped, x, targets, window=OCCLUSION_WINDOW, stride=OCCLUSION_STRIDE
            ),
            lambda: ca.Occlusion(torch_model).attribute(
                tx,
                sliding_window_shapes=(3, OCCLUSION_WINDOW, OCCLUSION_WINDOW),
                strides=(3, OCCLUSION_STRIDE, OCCLUSION_STRIDE),
                target=ttargets,
                perturbations_per_eval=64,
            ),
        ),
    }
    rows = []
    for method, (ours, theirs) in pairs.items():
        seconds = alternate(
            {"jaxviz": lambda ours=ours: jax.block_until_ready(ours()), "captum": synced(theirs)},
            repeats=repeats, warmup=1, min_sample_s=min_sample_s,
        )
        rows.append(
            {
                "method": method,
                "jaxviz": batch / seconds["jaxviz"],
                "captum": batch / seconds["captum"],
            }
        )
        print(f"[gpu] {method}: {rows[-1]}", file=sys.stderr, flush=True)
    torch_device = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    return {
        "device": f"{jax.devices()[0].device_kind} (torch: {torch_device})",
        "versions": (
            f"jax {jax.__version__}, torch {torch.__version__}, "
            f"captum {getattr(ca, '__version__', '?')}"
        ),
        "rows": rows,
    }


def run() -> str:
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    env.update(
        XLA_PYTHON_CLIENT_PREALLOCATE="false",
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        ),
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_gpu"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the GPU measurement failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    header = (
        f"## GPU: ResNet-18 at {SIDE}x{SIDE}, batch {BATCH}\n\n"
        "Random-weight ResNet-18 twins (torchvision's layout, batch norm in evaluation mode) in "
        "flax.nnx and PyTorch on the same GPU, one process, alternating calls after a warm-up; "
        "jaxviz with its defaults (the whole batch at once on an accelerator), Captum with its "
        f"defaults (occlusion: `perturbations_per_eval=64`). Grad-CAM at the last block "
        f"(`{CAM_LAYER[0]}` / `{CAM_LAYER[1]}`), occlusion window {OCCLUSION_WINDOW}, stride "
        f"{OCCLUSION_STRIDE}, SmoothGrad noise {SMOOTHGRAD_NOISE} of the value range."
    )
    if "skipped" in found:
        return (f"{header}\n\nNot measured on this machine: {found['skipped']}. Run "
                "`python -m benchmarks --only gpu --out -` where an NVIDIA GPU is visible to both.")
    lines = [f"Device: {found['device']}; {found['versions']}.", "",
             "| method | jaxviz img/s | Captum img/s | jaxviz / Captum |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['method']} | {r['jaxviz']:.1f} | {r['captum']:.1f} | "
        f"**{r['jaxviz'] / r['captum']:.2f}x** |"
        for r in found["rows"]
    ]
    return header + "\n\n" + "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(measure()))
