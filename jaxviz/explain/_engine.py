"""Execution: one compiled program per method and static options, run over fixed-shape chunks.

A method supplies `kernel(params, chunk...) -> outputs` for a chunk of examples. The engine pads
the batch to whole chunks (repeating the last example), shards each chunk over every visible
device, and stitches the results. Programs are cached on the model by (method, static options),
and inputs, targets, baselines and keys are arguments, so changing them never recompiles.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import _jaxpr
from .._compile_cache import compile_cache

Kernel = Callable[..., Any]


def run(
    model,
    program: tuple[Hashable, ...],
    build: Callable[[], Kernel],
    per_example: tuple[jax.Array, ...],
    *,
    shared: tuple[Any, ...] = (),
    batch_size: int | None = None,
) -> Any:
    """Apply the kernel `build()` returns to every example, chunked.

    The kernel is called as `kernel(params, *shared, indices, *per_example_chunk)`, where
    `indices` are the examples' positions in the whole batch (for per-example random keys, so
    results do not depend on the chunking) and `shared` holds arguments common to all examples.
    """
    compiled = model.programs.get(program)
    if compiled is None:
        compiled = model.programs[program] = jax.jit(_jaxpr.with_fast_pool_gradients(build()))
    total = per_example[0].shape[0]
    devices = jax.devices()
    chunk = _chunk_size(total, batch_size, len(devices))
    padded = -(-total // chunk) * chunk
    # Chunks are cut on the host: slicing device arrays would compile one tiny program per offset.
    indices = np.arange(padded, dtype=np.int32)
    per_example = tuple(_pad(np.asarray(a), padded) for a in per_example)
    place = _placer(devices)
    with compile_cache():
        outputs = [
            compiled(
                model.params,
                *shared,
                place(indices[start : start + chunk]),
                *(place(a[start : start + chunk]) for a in per_example),
            )
            for start in range(0, padded, chunk)
        ]
    return jax.tree.map(lambda *parts: jax.device_put(np.concatenate([np.asarray(p) for p in parts])[:total]), *outputs)


def _chunk_size(total: int, batch_size: int | None, devices: int) -> int:
    chunk = total if batch_size is None else min(batch_size, total)
    return -(-chunk // devices) * devices


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    missing = size - array.shape[0]
    if missing == 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])


def _placer(devices) -> Callable[[np.ndarray], jax.Array]:
    if len(devices) == 1:
        return jax.device_put
    batch = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))
    return lambda a: jax.device_put(a, batch)
