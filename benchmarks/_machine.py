"""The "Machine" section of RESULTS.md: what the numbers were measured on."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_section() -> str:
    import jax

    devices = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    versions = ", ".join(f"{d} {version(d)}" for d in ("jax", "jaxlib", "flax", "torch", "captum"))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Machine",
            "",
            f"- {when}; CPU: {cpu_name()}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}",
            f"- JAX devices: {devices}",
            f"- {versions}",
            f"- PyTorch runs with `torch.set_num_threads({os.cpu_count()})` (threads = cores), "
            "the same cores XLA's CPU backend uses.",
        ]
    )
