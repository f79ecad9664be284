"""The Explorer's static twin: its current view drawn with jv.plot (PNG in the mimebundle)."""

from __future__ import annotations

import numpy as np

from .. import plot
from ..plot._common import JaxvizFigure
from ._explorer import METHODS
from ._payload import payload_array

_TOP_K = 5


def _prediction_bars(ax, explorer, index: int, shown: int) -> None:
    probs = explorer._probs[index]
    top = np.argsort(probs)[::-1][:_TOP_K]
    names = explorer._class_names
    label = None if explorer._labels is None else explorer._labels[index]
    colors = ["#1971c2" if c == shown else "#adb5bd" for c in top]
    ax.barh(range(len(top)), probs[top], color=colors, height=0.6)
    ax.set_yticks(range(len(top)), [names[c] + (" (true)" if c == label else "") for c in top])
    ax.set_ylim(max(len(top), _TOP_K) - 0.5, -0.5)  # top down; two classes get thin bars too
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.set_title("prediction")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _label(explorer, method: str) -> str:
    return next(m["label"] for m in explorer._setup["methods"] if m["value"] == method)


def explorer_figure(explorer):
    """What the widget shows: the input, the shown class's attribution and the top predictions,
    or the methods side by side in compare mode. Drawn from the last result the widget
    received, so a failed request (shown as an error in the widget) leaves the picture as is."""
    result = explorer._result
    index, method = result["index"], result["method"]
    shown = explorer.shown_class_of(index)
    maps = payload_array(result["maps"])[shown]
    x = np.asarray(explorer._x[index])
    cmap = None if explorer.cmap == "auto" else explorer.cmap
    title = f"{_label(explorer, method)}: {explorer._class_names[shown]}"
    if "compare" in result and explorer._kind == "image":
        attributions = {
            _label(explorer, m): payload_array(p)[shown][None] for m, p in result["compare"].items()
        }
        return plot.grid(
            x[None], attributions, sign=explorer.sign, scale=explorer.scale,
            clip_percentile=explorer.clip, cmap=cmap,
            title=f"attributions for {explorer._class_names[shown]}",
        )  # fmt: skip
    figure = JaxvizFigure(figsize=(10.5, 3.2), layout="constrained")
    if explorer._kind == "image":
        left, middle, right = figure.subplots(1, 3, width_ratios=[1, 1.25, 1.1])
        plot.image(x, title=f"input {index}", ax=left)
        # "overlay": opacity follows the attribution, so weak pixels let the input through and
        # strong ones stay saturated on a projector (a uniform blend washes the colours out);
        # its strongest pixels get the widget's opacity raised by half.
        plot.attribution(
            x, maps, style="overlay", sign=explorer.sign, clip_percentile=explorer.clip,
            cmap=cmap, alpha=min(1.0, 1.5 * explorer.alpha), title=title, ax=middle,
        )  # fmt: skip
    elif explorer._kind == "vector":
        middle, right = figure.subplots(1, 2, width_ratios=[2, 1])
        names = explorer._inputs["feature_names"]
        if METHODS[method].additive:  # Shapley values: from the base to the output
            base = explorer._logits[index, shown] - maps.sum()
            plot.waterfall(maps, base, features=x, feature_names=names, title=title, ax=middle)
        else:
            plot.feature_bars(maps, x, feature_names=names, title=title, ax=middle)
    else:
        middle, right = figure.subplots(1, 2, width_ratios=[2.5, 1])
        plot.sequence(
            maps, explorer._inputs["tokens"][index], sign=explorer.sign,
            clip_percentile=explorer.clip, cmap=cmap, title=title, ax=middle,
        )  # fmt: skip
    _prediction_bars(right, explorer, index, shown)
    return figure
