"""The model's structure layer by layer, and each layer's activation statistics for a batch."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from .._checks import check_input
from ..explain import activations

ACTIVATION_BINS = 40


@dataclass(frozen=True)
class LayerRow:
    """One layer: what it is and what it outputs for the batch.

    ``param_count`` of a module that contains other layers includes theirs. ``histogram`` counts
    the layer's output values in ``ACTIVATION_BINS`` equal bins between ``min`` and ``max``.
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    dtype: str
    param_count: int
    param_dtype: str
    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float
    histogram: np.ndarray


def model_summary(model, x) -> list[LayerRow]:
    """Every layer of a ``jaxviz.wrap``ped model in forward order, with activation statistics
    for the batch ``x`` (one compiled forward pass)."""
    x = check_input(model, x)
    shapes = model.layer_shapes(x)
    acts = jax.device_get(activations(model, x))
    rows = []
    for name, spec in shapes.items():
        leaves = jax.tree_util.tree_leaves(model.layer_params(name))
        a = np.asarray(acts[name], np.float32)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        counts = np.histogram(finite, bins=ACTIVATION_BINS, range=(lo, hi if hi > lo else lo + 1))[
            0
        ]
        rows.append(
            LayerRow(
                name=name,
                type=model.layer_types.get(
                    name, "named value" if model.kind == "function" else "?"
                ),
                output_shape=tuple(spec.shape),
                dtype=str(spec.dtype),
                param_count=int(sum(np.size(p) for p in leaves)),
                param_dtype=", ".join(sorted({str(p.dtype) for p in leaves})) or "-",
                mean=float(finite.mean()) if finite.size else float("nan"),
                std=float(finite.std()) if finite.size else float("nan"),
                min=lo,
                max=hi,
                zero_fraction=float(np.mean(a == 0)),
                histogram=counts,
            )
        )
    return rows
