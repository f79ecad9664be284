"""How layer activations look, decided once for the static plots and the layer widgets.

numpy only (no matplotlib, no jax import), like `_display`, whose scaling it reuses.
"""

from __future__ import annotations

import math

import numpy as np

from . import _display

# The brightest 0.5% of a layer's values saturate, so one hot unit does not wash out the rest.
ACTIVATION_CLIP_PERCENTILE = 99.5


def activation_sign(values: np.ndarray) -> str:
    """"all" (signed, diverging around 0) if any value is negative, else "absolute" (a ramp
    from 0): post-ReLU layers get the ramp, pre-activation layers keep their sign."""
    return "all" if float(np.min(values)) < 0 else "absolute"


def activation_scale(values: np.ndarray, sign: str) -> float:
    """The magnitude that gets full color, shared by every channel of the layer shown, so the
    channels can be compared with one another."""
    return _display.attribution_scale(values, sign=sign, clip_percentile=ACTIVATION_CLIP_PERCENTILE)


def normalized_activation(values: np.ndarray) -> tuple[np.ndarray, str, float]:
    """`values` scaled for display: in [-1, 1] ("all") or [0, 1] ("absolute"), with sign, scale."""
    values = np.asarray(values, np.float32)
    sign = activation_sign(values)
    scale = activation_scale(values, sign)
    return _display.normalize_attribution(values, sign=sign, scale=scale), sign, scale


def channel_statistics(activation: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of one example's activation (..., channels): each (channels,)."""
    flat = np.asarray(activation, np.float32).reshape(-1, activation.shape[-1])
    return {
        "mean": flat.mean(axis=0),
        "max": flat.max(axis=0),
        "min": flat.min(axis=0),
        "active": (flat > 0).mean(axis=0),
    }


def grid_columns(count: int, *, aspect: float = 1.6) -> int:
    """Columns of a grid of `count` square cells that comes out about `aspect` times wider than
    tall."""
    return max(1, min(count, math.ceil(math.sqrt(count * aspect))))


def is_spatial(activation_shape: tuple[int, ...]) -> bool:
    """Whether one example's activation (without batch axis) is a map per channel (H, W, C)."""
    return len(activation_shape) == 3
