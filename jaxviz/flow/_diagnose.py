"""Plain-word diagnoses of training problems from recorded statistics.

Each rule looks at the recent window of a ``Recorder`` (median over the last ``window`` rows, so a
single noisy step does not fire it) and, when it fires, names the layer, gives the numbers that
show it, and says what usually helps. Thresholds are module constants, deliberately loose (about
two orders of magnitude) so a healthy network stays quiet.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._recorder import Recorder
from ._stats import FlowStats

# Along depth: a layer whose gradient RMS (per parameter) is this many times smaller than the
# largest layer's downstream of it is "vanishing"; this many times larger, "exploding".
DEPTH_RATIO = 100.0
# Over time: a layer's gradient norm growing this many times from the first window to the last.
GROWTH_RATIO = 100.0
# Update/parameter ratio: Karpathy's rule of thumb is that ||update|| / ||param|| should be around
# 1e-3 per step (CS231n notes, "Neural Networks Part 3: ratio of weights:updates"). Flag two orders
# of magnitude off: below 1e-5 the layer is barely learning, above 1e-1 it is overwritten each step.
UPDATE_RATIO_LOW = 1e-5
UPDATE_RATIO_HIGH = 1e-1
DEAD_FRACTION_LIMIT = 0.25
SATURATED_FRACTION_LIMIT = 0.25


@dataclass(frozen=True)
class Diagnosis:
    """One finding: which problem, where, the evidence, and what to try."""

    kind: (
        str  # "nonfinite" | "vanishing" | "exploding" | "dead_relu" | "saturated" | "update_ratio"
    )
    layer: str
    step: int
    evidence: str
    suggestion: str
    severity: str = "warning"  # "warning" | "error"

    @property
    def title(self) -> str:
        return _TITLES[self.kind]

    def __str__(self) -> str:
        return f"{self.layer}: {self.title}. {self.evidence}. Try: {self.suggestion}."


# Kinds in the order a person should look at them: broken first, then the flow, then the units.
_TITLES = {
    "nonfinite": "NaN or inf in the gradient",
    "exploding": "exploding gradient",
    "vanishing": "vanishing gradient",
    "dead_relu": "dead ReLUs",
    "saturated": "saturated activations",
    "update_ratio_low": "updates too small to learn",
    "update_ratio_high": "updates too large",
}


def depth_flags(grad_rms: np.ndarray) -> list[str | None]:
    """Per layer (forward order): "vanishing", "exploding" or None, comparing each layer's gradient
    RMS with the largest / smallest RMS among the layers after it (closer to the output)."""
    rms = np.asarray(grad_rms, np.float64)
    flags: list[str | None] = [None] * len(rms)
    for i in range(len(rms) - 1):
        later = rms[i + 1 :]
        later = later[np.isfinite(later)]
        if not np.isfinite(rms[i]) or later.size == 0:
            continue
        if later.max() > 0 and rms[i] * DEPTH_RATIO < later.max():
            flags[i] = "vanishing"
        elif later.min() > 0 and rms[i] > DEPTH_RATIO * later.min() and rms[i] > later.max():
            flags[i] = "exploding"
    return flags


def _fmt(x: float) -> str:
    return f"{x:.2g}"


def _times(x: float) -> str:
    """A ratio as people say it: "1,100x", "35x", "2.5x"."""
    return f"{x:,.0f}x" if x >= 10 else f"{x:.2g}x"


def _window_median(a: np.ndarray, window: int) -> np.ndarray:
    recent = a[-window:]
    with warnings.catch_warnings():  # an all-NaN column (e.g. a NaN layer) has no median: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(np.isfinite(recent), recent, np.nan), axis=0)


def _as_recorder(source) -> Recorder:
    if isinstance(source, Recorder):
        return source
    if isinstance(source, FlowStats):
        rec = Recorder(capacity=8, fetch_every=1)
        rec.add(source)
        return rec
    raise TypeError(f"source: expected a Recorder or FlowStats, got {type(source).__name__}.")


def diagnose(source: Recorder | FlowStats, *, window: int = 20) -> list[Diagnosis]:
    """Diagnose vanishing/exploding gradients, NaN/inf, dead ReLUs, saturation and update ratios.

    Args:
      source: a ``Recorder`` (uses its recent ``window`` steps) or a single step's ``FlowStats``.
      window: how many of the most recent recorded steps to summarize (median).

    Returns:
      A list of ``Diagnosis`` (errors first), empty when nothing looks wrong.
    """
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window: expected an int >= 1, got {window!r}.")
    rec = _as_recorder(source)
    meta = rec.meta
    if meta is None:
        return []
    steps = rec.steps
    last = int(steps[-1])
    found = _nonfinite(rec, meta, steps) + _metric_nonfinite(rec)
    grad_norm = rec.field("grad_norm")
    assert grad_norm is not None, "every FlowStats holds grad_norm"
    rms = _window_median(grad_norm, window) / np.sqrt(np.maximum(meta.sizes, 1))
    found += _depth(meta, rms, last)
    found += _growth(meta, grad_norm, steps, window)
    ratio = rec.field("update_ratio")
    if ratio is not None:
        found += _update_ratio(meta, _window_median(ratio, window), last)
    dead, saturated = rec.field("dead_fraction"), rec.field("saturated_fraction")
    if dead is not None and saturated is not None:
        found += _activations(
            meta, _window_median(dead, window), _window_median(saturated, window), last
        )
    kinds = list(_TITLES)
    return sorted(found, key=lambda d: (d.severity != "error", kinds.index(d.kind)))


@dataclass(frozen=True)
class DiagnosisGroup:
    """Diagnoses of one kind, across layers (the same advice applies to all of them)."""

    kind: str
    title: str
    severity: str
    layers: tuple[str, ...]
    evidence: tuple[str, ...]
    suggestion: str

    def __str__(self) -> str:
        shown = ", ".join(self.layers[:4]) + (
            f" (+{len(self.layers) - 4} more)" if len(self.layers) > 4 else ""
        )
        first = (
            f"{self.layers[0]}: {self.evidence[0]}" if len(self.layers) > 1 else self.evidence[0]
        )
        return f"{self.title.capitalize()} in {shown}. {first}. Try: {self.suggestion}."


def group_diagnoses(found: list[Diagnosis]) -> list[DiagnosisGroup]:
    """One entry per kind (in ``diagnose``'s order), listing the layers it was found in."""
    groups: dict[str, list[Diagnosis]] = {}
    for d in found:
        groups.setdefault(d.kind, []).append(d)
    return [
        DiagnosisGroup(
            kind,
            ds[0].title,
            ds[0].severity,
            tuple(d.layer for d in ds),
            tuple(d.evidence for d in ds),
            ds[0].suggestion,
        )
        for kind, ds in groups.items()
    ]


def _nonfinite(rec: Recorder, meta: FlowStats, steps: np.ndarray) -> list[Diagnosis]:
    out = []
    counts = rec.field("nonfinite")
    assert counts is not None, "every FlowStats holds nonfinite"
    for j, layer in enumerate(meta.layers):
        hits = np.flatnonzero(counts[:, j] > 0)
        if hits.size:
            first = hits[0]
            out.append(
                Diagnosis(
                    "nonfinite",
                    layer,
                    int(steps[first]),
                    f"{int(counts[first, j])} of {meta.sizes[j]} gradient values were NaN/inf at "
                    f"step {int(steps[first])} (and in {hits.size} recorded step(s) in all)",
                    "lower the learning rate, clip gradients (optax.clip_by_global_norm), and "
                    "look for log(0), division by zero or overflow in the loss (compute it from "
                    "logits)",
                    "error",
                )
            )
    return out


def _metric_nonfinite(rec: Recorder) -> list[Diagnosis]:
    return [
        Diagnosis(
            "nonfinite",
            f"metric {name!r}",
            step,
            f"{name} became {value} at step {step}",
            "lower the learning rate, clip gradients, and compute the loss from logits",
            "error",
        )
        for name, (step, value) in rec.first_nonfinite_metrics.items()
    ]


def _depth(meta: FlowStats, rms: np.ndarray, step: int) -> list[Diagnosis]:
    out = []
    downstream_max = [
        np.nanmax(rms[i + 1 :]) if i + 1 < len(rms) else np.nan for i in range(len(rms))
    ]
    for j, flag in enumerate(depth_flags(rms)):
        layer = meta.layers[j]
        if flag == "vanishing":
            evidence = (
                f"gradient per parameter (RMS) is {_fmt(rms[j])}, "
                f"{_times(downstream_max[j] / max(rms[j], 1e-300))} smaller than in a later layer "
                f"({_fmt(downstream_max[j])})"
            )
            if rms[j] == 0:
                evidence = "the gradient is exactly zero: this layer does not affect the loss"
            out.append(
                Diagnosis(
                    "vanishing",
                    layer,
                    step,
                    evidence,
                    "use ReLU-family activations instead of sigmoid/tanh, He/Glorot "
                    "initialization, normalization layers (LayerNorm/BatchNorm), residual "
                    "connections, or fewer layers",
                )
            )
        elif flag == "exploding":
            out.append(
                Diagnosis(
                    "exploding",
                    layer,
                    step,
                    f"gradient per parameter (RMS) is {_fmt(rms[j])}, over {DEPTH_RATIO:.0f}x the "
                    f"later layers' ({_fmt(np.nanmin(rms[j + 1 :]))})",
                    "use a smaller initialization scale, normalization layers, gradient clipping "
                    "(optax.clip_by_global_norm), or a lower learning rate",
                )
            )
    return out


def _growth(
    meta: FlowStats, grad_norm: np.ndarray, steps: np.ndarray, window: int
) -> list[Diagnosis]:
    if len(grad_norm) < 2 * window:
        return []
    early, late = _window_median(grad_norm[:window], window), _window_median(grad_norm, window)
    out = []
    for j, layer in enumerate(meta.layers):
        if early[j] > 0 and late[j] > GROWTH_RATIO * early[j]:
            out.append(
                Diagnosis(
                    "exploding",
                    layer,
                    int(steps[-1]),
                    f"gradient norm grew {_times(late[j] / early[j])}, from {_fmt(early[j])} "
                    f"(steps {int(steps[0])}-{int(steps[window - 1])}) to {_fmt(late[j])} (last "
                    f"{window} steps)",
                    "lower the learning rate, clip gradients (optax.clip_by_global_norm), or add "
                    "normalization layers",
                )
            )
    return out


def _update_ratio(meta: FlowStats, ratio: np.ndarray, step: int) -> list[Diagnosis]:
    out = []
    for j, layer in enumerate(meta.layers):
        r = ratio[j]
        if not np.isfinite(r) or meta.sizes[j] == 0:
            continue
        if r < UPDATE_RATIO_LOW:
            out.append(
                Diagnosis(
                    "update_ratio_low",
                    layer,
                    step,
                    f"each step changes the weights by {_fmt(r)} of their size (rule of thumb: "
                    "~1e-3)",
                    "raise the learning rate, or fix the vanishing gradient that feeds this layer",
                )
            )
        elif r > UPDATE_RATIO_HIGH:
            out.append(
                Diagnosis(
                    "update_ratio_high",
                    layer,
                    step,
                    f"each step changes the weights by {_fmt(r)} of their size (rule of thumb: "
                    "~1e-3)",
                    "lower the learning rate or clip gradients",
                )
            )
    return out


def _activations(
    meta: FlowStats, dead: np.ndarray, saturated: np.ndarray, step: int
) -> list[Diagnosis]:
    out = []
    for j, (name, kind) in enumerate(zip(meta.activation_names, meta.activation_kinds)):
        if kind == "relu" and dead[j] > DEAD_FRACTION_LIMIT:
            out.append(
                Diagnosis(
                    "dead_relu",
                    name,
                    step,
                    f"{dead[j]:.0%} of its units output 0 for every example in the batch",
                    "lower the learning rate, use He initialization, LeakyReLU/GELU, or check for "
                    "large negative biases",
                )
            )
        if kind in ("sigmoid", "tanh") and saturated[j] > SATURATED_FRACTION_LIMIT:
            out.append(
                Diagnosis(
                    "saturated",
                    name,
                    step,
                    f"{saturated[j]:.0%} of its {kind} outputs sit where the slope is under a "
                    "tenth of its peak, so little gradient passes",
                    "normalize the inputs, use Glorot initialization or normalization layers, or "
                    "switch to a ReLU-family activation",
                )
            )
    return out
