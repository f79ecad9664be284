"""The method contract: every batched computation in jaxviz runs through `run` (or `call`).

A method declares four pieces and nothing else:

- its **validation**, at its public boundary (`jaxviz._checks`): user arguments become host
  arrays and static options, with errors that name the argument;
- its **program key**: the method's name and its static options (never shapes, never data);
- its **kernel**, from `build()`: `kernel(params, *shared, indices, *chunk) -> outputs` for a
  chunk of examples, written with the shared pieces (the target selector in `_targets`, the
  backward pass in `_backprop`, path rules in `_quadrature`, layer taps via `model.apply`).
  Shape-dependent values are derived inside the kernel from the traced arrays
  (`model.layer_shapes(x)` works on a traced `x`), so a kernel is correct for any input size;
- its **arrays**: per-example ones (inputs, classes, baselines) and shared ones (keys,
  reference sets).

The engine owns the rest: the chunk size, padding the tail, sharding each chunk over every
visible device, stitching the results (or folding them into a carry), progress, and the program
cache (`jaxviz._programs`): one compiled program per (program key, argument signature, jaxviz's
compile settings), least recently used ones dropped past a bound. Inputs, targets, baselines
and keys are arguments, so new values never recompile; a new input shape compiles once.
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
from .._programs import call as call
from .._programs import program_for
from .._progress import progress

Kernel = Callable[..., Any]


def run(
    model,
    program: tuple[Hashable, ...],
    build: Callable[[], Kernel],
    per_example: tuple[Any, ...],
    *,
    shared: tuple[Any, ...] = (),
    batch_size: int | None = None,
    evaluations: int = 1,
    example: Any = None,
    fold: Any = None,
    label: str | None = None,
) -> Any:
    """Apply the kernel `build()` returns to every example, in chunks.

    Args:
      model: the wrapped model; its `params` are the kernel's first argument.
      program: the method's name and static options.
      build: returns the kernel. Without `fold`: `kernel(params, *shared, indices, *chunk)`
        returns a pytree of (chunk, ...) outputs, stitched over the batch. With `fold`:
        `kernel(params, carry, *shared, indices, *chunk)` returns the next carry, chunks in
        order. `indices` are the examples' positions in the whole batch (for per-example
        random keys, so results do not depend on the chunking); padding rows have index -1.
      per_example: arrays with a leading example axis, all of the same length.
      shared: arguments common to every example.
      batch_size: examples per chunk; None picks it (see `chunk_size`).
      evaluations: model inputs one example runs through the model (path points, noise
        samples, occluded copies); with `example` (one model input per example, default
        `per_example[0]`) it sizes the default CPU chunk.
      fold: the initial carry of a reduction over chunks (e.g. a running top-k).
      label: show a progress bar with this label when the run lasts over a second.
    """
    total = len(per_example[0])
    devices = jax.devices()
    example = per_example[0] if example is None else example
    chunk = chunk_size(model, example, total, batch_size, evaluations, len(devices))
    padded = -(-total // chunk) * chunk
    place = _placer(devices)
    leading = () if fold is None else (fold,)
    chunk_shapes = tuple(jax.ShapeDtypeStruct((chunk, *np.shape(a)[1:]), _dtype(a)) for a in per_example)
    compiled = program_for(model, program, build, (*leading, *shared, chunk_shapes), devices=len(devices))
    if fold is None and padded == total == chunk:
        # One whole chunk: nothing to cut, pad or stitch, so the inputs and results stay on the
        # device (a host round trip costs more than the program for small models).
        with compile_cache():
            return compiled(model.params, *shared, place(np.arange(total, dtype=np.int32)), *map(place, per_example))
    # Chunks are cut on the host: slicing device arrays would compile one tiny program per offset.
    indices = np.where(np.arange(padded) < total, np.arange(padded), -1).astype(np.int32)
    per_example = tuple(_pad(np.asarray(a), padded) for a in per_example)
    starts = range(0, padded, chunk)
    if label is not None:
        starts = progress(starts, len(starts), label)
    carry, outputs = fold, []
    with compile_cache():
        for start in starts:
            window = (place(indices[start : start + chunk]), *(place(a[start : start + chunk]) for a in per_example))
            if fold is None:
                outputs.append(compiled(model.params, *shared, *window))
            else:
                carry = compiled(model.params, carry, *shared, *window)
    if fold is not None:
        return carry
    return jax.tree.map(lambda *parts: jax.device_put(np.concatenate([np.asarray(p) for p in parts])[:total]), *outputs)


def _dtype(array: Any):
    return array.dtype if hasattr(array, "dtype") else np.asarray(array).dtype


def chunk_size(model, example: Any, total: int, batch_size: int | None, evaluations: int, devices: int) -> int:
    """Examples per chunk: `batch_size` (at most the batch), or by default on a CPU the most
    examples (a power of two) whose inputs and layer outputs fit `CPU_VALUES_PER_CHUNK`, and on
    an accelerator the whole batch; rounded up to a multiple of the device count."""
    if batch_size is None and _compile.on_cpu():
        batch_size = _cpu_batch_size(evaluations * _values_per_input(model, example))
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
