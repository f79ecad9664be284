"""Execution: one compiled program per method and static options, run over fixed-shape chunks.

A method supplies `kernel(params, chunk...) -> outputs` for a chunk of examples. The engine pads
the batch to whole chunks (repeating the last example), shards each chunk over every visible
device, and stitches the results. Programs are cached on the model by (method, static options),
and inputs, targets, baselines and keys are arguments, so changing them never recompiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import _compile
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
    evaluations: int = 1,
) -> Any:
    """Apply the kernel `build()` returns to every example, chunked.

    The kernel is called as `kernel(params, *shared, indices, *per_example_chunk)`, where
    `indices` are the examples' positions in the whole batch (for per-example random keys, so
    results do not depend on the chunking) and `shared` holds arguments common to all examples.
    `evaluations` is how many inputs per example the kernel runs through the model (path points,
    noise samples, occluded copies); without a `batch_size`, it and the size of one input
    (`per_example[0]`) and its activations size the chunks.
    """
    compiled = model.programs.get(program)
    if compiled is None:
        compiled = model.programs[program] = _compile.jit(build())
    total = per_example[0].shape[0]
    devices = jax.devices()
    if batch_size is None and _compile.on_cpu():
        batch_size = _cpu_batch_size(evaluations * _values_per_input(model, per_example[0]))
    chunk = _chunk_size(total, batch_size, len(devices))
    padded = -(-total // chunk) * chunk
    place = _placer(devices)
    if padded == total == chunk:
        # One whole chunk: nothing to cut, pad or stitch, so the inputs and results stay on the
        # device (a host round trip costs more than the program for small models).
        with compile_cache():
            return compiled(
                model.params, *shared, place(np.arange(total, dtype=np.int32)), *map(place, per_example)
            )
    # Chunks are cut on the host: slicing device arrays would compile one tiny program per offset.
    indices = np.arange(padded, dtype=np.int32)
    per_example = tuple(_pad(np.asarray(a), padded) for a in per_example)
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


# Without a batch_size, a CPU runs chunks whose inputs and layer outputs hold at most this many
# values (16 MiB of float32), which measured fastest there (benchmarks/RESULTS.md): the
# activations stay in cache. On a CIFAR-size CNN that is one example of 32-step integrated
# gradients (1.6x faster than 32 examples at once) or 32 examples of saliency; on 8x8 digits,
# 16 examples of occlusion (twice as fast as 32). Chunks are a power of two of examples, so
# batches of the usual sizes split into whole chunks with no padding to compute. Accelerators
# want the whole batch.
CPU_VALUES_PER_CHUNK = 1 << 22


def samples_per_group(model, x, samples: int) -> int:
    """How many of each example's `samples` model evaluations (path points, noisy copies) a
    program runs at once: all of them, but on a CPU no more than a default chunk holds; then
    the samples run in equal groups one after another (`_backprop.sum_over_groups`). On a
    CIFAR-size CNN, 64 steps of integrated gradients in two groups of 32 ran 1.5x faster than
    all 64 at once."""
    if not _compile.on_cpu():
        return samples
    groups = -(-samples // _fitting(_values_per_input(model, x)))
    return -(-samples // groups)


def _cpu_batch_size(values_per_example: int) -> int:
    """The most examples, a power of two, whose values fit in CPU_VALUES_PER_CHUNK."""
    fits = _fitting(values_per_example)
    return 1 << (fits.bit_length() - 1)


def _fitting(values_each: int) -> int:
    """How many items of `values_each` values fit in CPU_VALUES_PER_CHUNK (at least one)."""
    return max(1, CPU_VALUES_PER_CHUNK // values_each)


def _values_per_input(model, x) -> int:
    """How many values one input and its layer outputs hold, as the model's trace says."""
    layers, _ = model.signature(x)
    return math.prod(x.shape[1:]) + sum(math.prod(s.shape[1:]) for s in layers.values())


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    missing = size - array.shape[0]
    if missing == 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])


def _placer(devices) -> Callable[[np.ndarray], Any]:
    if len(devices) == 1:
        # The compiled program takes host arrays itself, 10 us against 70 us for a device_put.
        return lambda a: a
    batch = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))
    return lambda a: jax.device_put(a, batch)
