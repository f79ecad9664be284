"""Plain-word diagnoses of training problems from recorded statistics.

Each rule looks at the recent window of a ``Recorder`` (median over the last ``window`` rows, so a
single noisy step does not fire it) and, when it fires, names the layer, gives the numbers that
show it, and says what usually helps. Thresholds are module constants, deliberately loose (about
two orders of magnitude) so a healthy network stays quiet.

Depth rules (vanishing / exploding compared with the later layers) run only over the layers whose
forward order is known (``FlowStats.ordered``; see ``_order``): where it is not, ``diagnose`` says
so in an "order_unknown" note, and only when the layers' gradients differ enough that some order
would have produced a finding. The other rules (NaN/inf, growth over time, update ratios, dead
and saturated units) compare a layer with itself or a fixed band and always run.

Parameter gradients are not the back-propagated signal itself: in a deep *linear* network with a
large initialization the signal grows by the same gain g per layer backwards as the activations
do forwards, and the weight gradient of layer k (input activation times back-propagated
gradient) is about g**(n-1) for every k (Glorot & Bengio 2010, section 4.2.1). There the
explosion shows over time, as the first steps' gradients grow until they overflow, which the
growth rule reports; ``jv.gradient_flow`` shows the layer-output gradients themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._model import Model
from ._order import HOW_TO_GIVE, NO_ORDER, forward_order
from ._recorder import Recorder
from ._stats import LAYER_FIELDS, FlowStats, reorder

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

    kind: str  # a key of _TITLES
    layer: str
    step: int
    evidence: str
    suggestion: str
    severity: str = "warning"  # "error" | "warning" | "info" (a note on what was not judged)

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
    "order_unknown": "depth comparison skipped",
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


def diagnose(
    source: Recorder | FlowStats,
    *,
    model: Model | None = None,
    order: Sequence[str] | None = None,
    window: int = 20,
) -> list[Diagnosis]:
    """Diagnose vanishing/exploding gradients, NaN/inf, dead ReLUs, saturation and update ratios.

    Vanishing and exploding along depth compare each layer with the layers after it, so they need
    the forward order: from ``model``/``order`` here, else the one the Recorder or ``flow_stats``
    knew (given the model). Layers whose order is unknown are not compared, and an
    "order_unknown" note says so when their gradients differ by more than ``DEPTH_RATIO``.

    Args:
      source: a ``Recorder`` (uses its recent ``window`` steps) or a single step's ``FlowStats``.
      model: the wrapped model the statistics are of (it must have run on an input): its call
        order replaces the one the statistics came with.
      order: instead of ``model``, layer names in forward order.
      window: how many of the most recent recorded steps to summarize (median).

    Returns:
      A list of ``Diagnosis`` (errors first), empty when nothing looks wrong.
    """
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window: expected an int >= 1, got {window!r}.")
    forward = forward_order(model, order)
    rec = _as_recorder(source)
    meta = rec.meta
    if meta is None:
        return []
    perm = None
    if forward is not None:
        meta, perm = reorder(meta, forward)

    def field(name: str) -> np.ndarray | None:
        values = rec.field(name)
        return (
            values[:, perm]
            if values is not None and perm is not None and name in LAYER_FIELDS
            else values
        )

    steps = rec.steps
    last = int(steps[-1])
    counts, grad_norm = field("nonfinite"), field("grad_norm")
    assert counts is not None and grad_norm is not None  # every FlowStats has them
    found = _nonfinite(counts, meta, steps) + _metric_nonfinite(rec)
    rms = _window_median(grad_norm, window) / np.sqrt(np.maximum(meta.sizes, 1))
    found += _depth(meta, rms, last)
    found += _order_unknown(meta, rms, last)
    found += _growth(meta, grad_norm, steps, window)
    ratio = field("update_ratio")
    if ratio is not None:
        found += _update_ratio(meta, _window_median(ratio, window), last)
    dead, saturated = rec.field("dead_fraction"), rec.field("saturated_fraction")
    if dead is not None and saturated is not None:
        found += _activations(
            meta, _window_median(dead, window), _window_median(saturated, window), last
        )
    kinds = list(_TITLES)
    return sorted(found, key=lambda d: (d.severity != "error", kinds.index(d.kind)))


def _order_unknown(meta: FlowStats, rms: np.ndarray, step: int) -> list[Diagnosis]:
    """A note when a layer of unknown place differs from another by more than DEPTH_RATIO: some
    order of the layers would then have made it vanishing or exploding."""
    unplaced = np.arange(meta.ordered if meta.ordered > 1 else 0, len(meta.layers))
    judged = np.isfinite(rms) & (rms > 0)  # an exactly-zero gradient has no place on this scale
    if not judged.any():
        return []
    low, high = rms[judged].min(), rms[judged].max()
    spread = [i for i in unplaced if judged[i] and max(high / rms[i], rms[i] / low) > DEPTH_RATIO]
    if not spread:
        return []
    smallest, largest = int(np.argmin(np.where(judged, rms, np.inf))), int(np.nanargmax(rms))
    return [
        Diagnosis(
            "order_unknown",
            ", ".join(meta.layers[i] for i in spread),
            step,
            f"gradient per parameter (RMS) spans {_times(high / low)} across layers (smallest "
            f"{meta.layers[smallest]} {_fmt(low)}, largest {meta.layers[largest]} {_fmt(high)}), "
            f"but {meta.order_note or NO_ORDER}, so vanishing cannot be told from exploding",
            HOW_TO_GIVE,
            "info",
        )
    ]


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


def _nonfinite(counts: np.ndarray, meta: FlowStats, steps: np.ndarray) -> list[Diagnosis]:
    out = []
    for j, layer in enumerate(meta.layers):
        hits = np.flatnonzero(counts[:, j] > 0)
        if hits.size:
            first = hits[0]
            out.append(
                Diagnosis(
                    "nonfinite",
                    layer,
                    int(steps[first]),
                    f"{int(counts[first, j])} of {meta.sizes[j]} gradient values were NaN/inf "
                    f"at step {int(steps[first])} (and in {hits.size} recorded step(s) in all)",
                    "lower the learning rate, clip gradients (optax.clip_by_global_norm), and look "
                    "for log(0), division by zero or overflow in the loss (compute it from logits)",
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
    """Vanishing / exploding along the layers in known forward order (the first ``ordered``)."""
    rms = rms[: meta.ordered]
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
    """A layer's gradient norm growing GROWTH_RATIO-fold over time: from the first window to the
    last, or, when it overflowed, from the first step to the last finite one before it did."""
    out = []
    early = _window_median(grad_norm[:window], window)
    late = _window_median(grad_norm, window)
    for j, layer in enumerate(meta.layers):
        series = grad_norm[:, j]
        overflow = np.flatnonzero(~np.isfinite(series))
        if overflow.size and overflow[0] >= 2:  # diverged: single steps, the growth is no noise
            before = overflow[0] - 1
            first, peak = float(series[0]), float(series[before])
            evidence = (
                f"gradient norm grew {_times(peak / max(first, 1e-300))} from step "
                f"{int(steps[0])} ({_fmt(first)}) to step {int(steps[before])} ({_fmt(peak)}), "
                f"then overflowed to NaN/inf at step {int(steps[overflow[0]])}"
            )
        elif len(series) >= 2 * window:
            first, peak = early[j], late[j]
            evidence = (
                f"gradient norm grew {_times(peak / max(first, 1e-300))}, from {_fmt(first)} "
                f"(steps {int(steps[0])}-{int(steps[window - 1])}) to {_fmt(peak)} "
                f"(last {window} steps)"
            )
        else:
            continue
        if first > 0 and peak > GROWTH_RATIO * first:
            out.append(
                Diagnosis(
                    "exploding",
                    layer,
                    int(steps[-1]),
                    evidence,
                    "use a smaller initialization scale, lower the learning rate, clip gradients "
                    "(optax.clip_by_global_norm), or add normalization layers",
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
