"""Latent-plane decoding (issue 14): images per second of `jv.latent_plane` on the zoo's
digits-vae (2-D latent, MLP decoder, 8x8 digits), against the loops a user would write.

    python -m benchmarks --only latent --out -      # or: python benchmarks/bench_latent.py

Candidates, on the same grid of latents and the same weights, timed alternately:

  jv.latent_plane    builds the steps x steps grid on the host and decodes it in one compiled
                     program from the autoencoder's cache (what a widget calls on a new centre);
  model.decode       the same grid already built, through the engine (chunks on a CPU);
  naive jit          `jax.jit` of the decoder over the whole grid at once (the floor: no
                     validation, no chunking);
  per-image loop     a jitted decoder called once per latent, batch 1 (a notebook's loop).

`python benchmarks/bench_latent.py` also writes benchmarks/results/latent_decoding.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jaxviz as jv  # noqa: E402
from benchmarks._timing import alternate  # noqa: E402
from jaxviz.zoo._pretrained import restore_module  # noqa: E402

GRIDS = (16, 32, 64)
REPEATS = 5


def measure(steps: int) -> dict[str, float]:
    """Seconds per decoded plane of steps x steps images, per candidate."""
    module = restore_module("digits-vae")
    ae = jv.latent.Autoencoder(module.encoder, module.decoder, latent_shape=2)
    grid = np.asarray(jv.latent_plane(ae, steps=steps).latents).reshape(-1, 2)
    graphdef, state = nnx.split(module.decoder)
    whole = jax.jit(lambda s, z: nnx.merge(graphdef, s)(z))
    one = jax.jit(lambda s, z: nnx.merge(graphdef, s)(z))

    def per_image():
        out = [one(state, z[None]) for z in grid]
        return jax.block_until_ready(out)

    candidates = {
        "jv.latent_plane": lambda: jax.block_until_ready(jv.latent_plane(ae, steps=steps).images),
        "model.decode": lambda: jax.block_until_ready(ae.decode(grid)),
        "naive jit": lambda: jax.block_until_ready(whole(state, grid)),
        "per-image loop": per_image,
    }
    return alternate(candidates, repeats=REPEATS, warmup=1, min_sample_s=0.2)


def run() -> str:
    lines = [
        "## Latent-plane decoding",
        "",
        "digits-vae (2-D latent, MLP decoder 2-64-128-64, 8x8 images) on "
        f"{jax.devices()[0].platform} (load average {os.getloadavg()[0]:.1f} at the start); "
        f"images per second, median of {REPEATS} alternating rounds (higher is better); in "
        "brackets the speed-up over the per-image loop.",
        "",
        "| grid | images | jv.latent_plane | model.decode | naive jit | per-image loop |",
        "|---|---|---|---|---|---|",
    ]
    for steps in GRIDS:
        seconds = measure(steps)
        images = steps * steps
        loop = seconds["per-image loop"]
        cells = [
            f"{images / s:,.0f} ({loop / s:.0f}x)" if name != "per-image loop"
            else f"{images / s:,.0f}"
            for name, s in seconds.items()
        ]
        lines.append(f"| {steps}x{steps} | {images} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section = run()
    print(section)
    out = Path(__file__).resolve().parent / "results" / "latent_decoding.md"
    out.write_text(f"`python benchmarks/bench_latent.py` ({jax.__version__})\n\n{section}")
