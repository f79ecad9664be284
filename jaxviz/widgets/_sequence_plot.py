"""Static twins of the sequence views (the PNG in their mimebundles): matplotlib figures drawn
from the same arrays the widgets send."""

from __future__ import annotations

import numpy as np

from ._sequence import DIVERGING, SEQUENTIAL, TOKEN_METHODS

_TICKS_UP_TO = 40  # token names on the axes of maps up to this many tokens


def _token_ticks(ax, words) -> None:
    if len(words) <= _TICKS_UP_TO:
        ax.set_xticks(range(len(words)), words, rotation=90, fontsize=6)
        ax.set_yticks(range(len(words)), words, fontsize=6)
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def attention_figure(view):
    """The model view: one map per layer and head, then the extra rows (rollout, flow,
    gradient-weighted), each on its own colour scale, with colorbars."""
    import matplotlib.pyplot as plt

    result = view._result
    words = result["words"]
    weights, extras, _, _ = view._entries(result["index"])
    labels = [row["label"] for row in result["rows"]]
    layers = len(view._layer_names)
    # one figure row per attention layer (a map per head), then one row of the extras
    rows = [[(f"head {c}", maps) for c, maps in enumerate(weights[i])] for i in range(layers)]
    if view._extras:
        rows.append([(labels[layers + j], extras[name][0]) for j, name in enumerate(view._extras)])
    columns = max(len(r) for r in rows)
    cell = 2.1 if len(words) <= _TICKS_UP_TO else 1.6
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(cell * columns + 1.0, cell * len(rows) + 0.6), squeeze=False
    )
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(row):
                ax.axis("off")
                continue
            title, values = row[c]
            signed = bool((values < 0).any())
            top = float(np.abs(values).max()) or 1.0
            image = ax.imshow(
                values,
                cmap=DIVERGING if signed else SEQUENTIAL,
                vmin=-top if signed else 0.0,
                vmax=top,
                interpolation="nearest",
            )
            _token_ticks(ax, words)
            ax.set_title(title, fontsize=8)
            if c == 0 and r < layers:
                ax.set_ylabel(labels[r], fontsize=8)
            bar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=6)
    figure.suptitle(
        f"attention, example {result['index']} (rows: queries, columns: keys)", fontsize=10
    )
    figure.tight_layout()
    return figure


def _token_row(ax, words, values, scale, cmap, *, evidence=None) -> None:
    """Words left to right, each on its colour (or outlined when it is evidence)."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    x = 0.0
    step = 1.0 / max(len(words), 1)
    for i, word in enumerate(words):
        if evidence is not None:
            style = dict(
                facecolor="#ffd43b" if evidence[i] else "white",
                edgecolor="#212529" if evidence[i] else "#ced4da",
                boxstyle="round,pad=0.3",
            )
            color = "#212529"
        else:
            t = 0.5 + 0.5 * (values[i] / scale if scale > 0 else 0.0)
            rgba = cmap(np.clip(t, 0, 1))
            luma = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            style = dict(facecolor=rgba, edgecolor="none", boxstyle="round,pad=0.3")
            color = "#111111" if luma > 0.55 else "white"
        ax.text(
            x + step / 2,
            0.5,
            word,
            ha="center",
            va="center",
            fontsize=8,
            color=color,
            bbox=style,
            family="monospace",
        )
        x += step


def tokens_figure(view):
    """One row of coloured tokens per method (each on its own symmetric scale, labelled in the
    row title), then the evidence row."""
    import matplotlib
    import matplotlib.pyplot as plt

    result = view._result
    words = result["words"]
    maps = view.attributions(result["index"])
    shown = view.shown_class()
    methods = view.methods if view.method == "all" else (view.method,)
    has_evidence = result["evidence"] is not None
    count = len(methods) + has_evidence
    figure, axes = plt.subplots(
        count, 1, figsize=(max(8.0, 0.75 * len(words)), 0.8 * count + 0.5), squeeze=False
    )
    cmap = matplotlib.colormaps[DIVERGING]
    for ax, method in zip(axes[:, 0], methods, strict=False):
        values = maps[method][shown]
        scale = float(np.abs(values).max())
        _token_row(ax, words, values, scale, cmap)
        ax.set_title(
            f"{TOKEN_METHODS[method][0]}: ±{scale:.3g} at full colour\n{TOKEN_METHODS[method][1]}",
            fontsize=7,
            loc="left",
        )
    if has_evidence:
        _token_row(axes[-1, 0], words, None, 0.0, cmap, evidence=result["evidence"])
        axes[-1, 0].set_title("evidence (ground truth)", fontsize=8, loc="left")
    name = view._class_names[shown]
    probability = view._probs[result["index"], shown]
    figure.suptitle(
        f"example {result['index']}: attribution to class {name!r} "
        f"(p = {probability:.2f}); red raises the score, blue lowers it",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def rnn_figure(view):
    """The shown state (units x time) and ||dh_T/dh_t|| over time."""
    import matplotlib.pyplot as plt

    index = view.index
    time = int(view.lengths[index])  # trailing padding cut off
    values = view._kinds[view.state][index, :time].T  # (units, time)
    norms = view.gradient_norms[index, :time]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.35 * time + 2), 5.2), height_ratios=(3, 2), sharex=True
    )
    signed = bool((values < 0).any())
    scale = float(np.abs(values).max()) or 1.0
    image = top.imshow(
        values,
        aspect="auto",
        cmap=DIVERGING if signed else SEQUENTIAL,
        vmin=-scale if signed else 0.0,
        vmax=scale,
        interpolation="nearest",
    )
    top.axvline(min(view.step, time - 1), color="#212529", linewidth=1)
    top.set_ylabel("unit")
    top.set_title(f"{view.state} state over time, example {index}", fontsize=9)
    figure.colorbar(image, cax=top.inset_axes((1.01, 0.0, 0.015, 1.0)))  # keeps x aligned
    bottom.plot(range(time), norms, marker="o", markersize=3, color="#1971c2")
    if view.log and (norms > 0).all():
        bottom.set_yscale("log")
    bottom.set_ylabel(f"‖dh_T/dh_t‖ ({view._norm})")
    bottom.set_xlabel("time step t")
    words = view._words[index] if view._words else None
    if words and time <= 60:
        bottom.set_xticks(range(time), words[:time], rotation=90, fontsize=7)
    for side in ("top", "right"):
        bottom.spines[side].set_visible(False)
    figure.tight_layout()
    return figure
