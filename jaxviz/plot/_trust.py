"""Static twins of the trust views: the method x metric scorecard, the deletion/insertion
scrubber at one position, and the randomization cascade."""

from __future__ import annotations

import numpy as np

from .. import _display
from ._common import JaxvizFigure, bare

# A cell's colour by its verdict against the random baseline: better, not different, worse.
VERDICT_COLORS = {1: "#b2dfb8", 0: "#eceff1", -1: "#f5b7b1"}
VERDICT_WORDS = {1: "beats random", 0: "not different from random / no baseline", -1: "worse"}


def scorecard(card, *, sort_by: str | None = None, digits: int = 3):
    """The scorecard as a table: each cell the mean score and its 95% CI, coloured green where
    the method beats random attributions significantly, red where it is worse, grey otherwise;
    the header gives each metric's direction and its random baseline (averaged over methods).

    Args:
      card: a `jaxviz.metrics.Scorecard`.
      sort_by: a metric to order the methods by (best first), or None for their own order.
      digits: significant digits shown.
    """
    methods = card.ranking(sort_by) if sort_by is not None else card.methods
    rows = [card.methods.index(m) for m in methods]
    scores, ci, verdicts = card.scores[rows], card.ci[rows], card.verdicts[rows]
    baselines = np.nanmean(np.where(np.isnan(card.baselines), np.inf, card.baselines), axis=0)
    header = [
        f"{name}\n{'↑' if up else '↓'} better"
        + (f"\nrandom {baselines[j]:.{digits}g}" if np.isfinite(baselines[j]) else "")
        for j, (name, up) in enumerate(zip(card.metrics, card.higher_is_better, strict=True))
    ]
    text = [
        [f"{scores[i, j]:.{digits}g}\n[{ci[i, j, 0]:.{digits}g}, {ci[i, j, 1]:.{digits}g}]"
         for j in range(len(card.metrics))]
        for i in range(len(methods))
    ]
    colours = [[VERDICT_COLORS[int(v)] for v in row] for row in verdicts]
    width = 1.6 + 1.45 * len(card.metrics)
    figure = JaxvizFigure(figsize=(width, 0.9 + 0.55 * len(methods)), layout="constrained")
    ax = figure.add_subplot()
    ax.axis("off")
    table = ax.table(
        cellText=text,
        cellColours=colours,
        rowLabels=list(methods),
        colLabels=header,
        cellLoc="center",
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 2.6)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * 1.3)
    ax.set_title(
        "green: beats random attributions (95% CI of the paired difference), red: worse",
        fontsize=8,
    )
    return figure


def scrubber(
    fractions: np.ndarray,
    curves: dict[str, np.ndarray],
    baselines: dict[str, np.ndarray | None],
    areas: dict[str, float],
    frames: dict[str, np.ndarray],
    position: int,
    *,
    title: str = "",
):
    """A deletion/insertion curve with the input at one position of it (the scrubber's twin).

    Args:
      fractions: the shares removed or inserted, (points,).
      curves, baselines: per kind ("deletion", "insertion"), the followed class's probability
        along the attribution's order and along random orders, (points,).
      areas: per kind, the area under the curve.
      frames: per kind, the input at each point, (points, height, width, channels).
      position: the point shown.
    """
    kinds = list(curves)
    figure = JaxvizFigure(figsize=(4.2 + 2.0 * len(kinds), 2.8), layout="constrained")
    grid = figure.add_gridspec(1, 1 + len(kinds), width_ratios=[2.1] + [1.0] * len(kinds))
    ax = figure.add_subplot(grid[0, 0])
    colours = {"deletion": "#c92a2a", "insertion": "#1971c2"}
    for kind in kinds:
        colour = colours.get(kind, "#495057")
        label = f"{kind} (AUC {areas[kind]:.3f})"
        ax.plot(fractions, curves[kind], color=colour, lw=2, label=label)
        random = baselines.get(kind)
        if random is not None and len(random):
            ax.plot(fractions, random, color=colour, lw=1, ls="--", label="random order")
    ax.axvline(fractions[position], color="#868e96", ls=":")
    ax.set_xlabel("share of the input removed / inserted")
    ax.set_ylabel("class probability")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="center right")
    if title:
        ax.set_title(title, fontsize=9)
    for k, kind in enumerate(kinds):
        image_ax = figure.add_subplot(grid[0, 1 + k])
        image_ax.imshow(_display.display_image(frames[kind][position], name="frames"))
        bare(image_ax)
        image_ax.set_title(
            f"{kind}: {fractions[position]:.0%}\np = {curves[kind][position]:.3f}", fontsize=8
        )
    return figure


def randomization(result, *, example: int = 0, x=None, cmap: str | None = None):
    """The randomization cascade (Adebayo et al., 2018): the trained model's map, then the map
    after each randomization step, for one example; below, the mean rank correlation (and SSIM)
    with the original map per step, with 95% CIs.

    Args:
      result: a `jaxviz.metrics.RandomizationResult`.
      example: which example's maps to show.
      x: the inputs (optional), to show the image first.
      cmap: a matplotlib colormap for the maps (default: the absolute-map default).
    """
    from ._common import colormap

    steps = len(result.layers)
    maps = [result.original[example]] + [a[example] for a in result.attributions]
    maps = [np.abs(m).sum(axis=-1) if m.ndim == 3 else np.abs(m) for m in maps]
    columns = steps + 1 + (x is not None)
    figure = JaxvizFigure(figsize=(1.35 * columns + 0.4, 4.1), layout="constrained")
    grid = figure.add_gridspec(2, columns, height_ratios=[1.0, 1.35])
    names = (["input"] if x is not None else []) + ["trained"] + [
        ("+ " if result.cascading and i else "") + layer for i, layer in enumerate(result.layers)
    ]
    images = ([_display.display_image(np.asarray(x)[example], name="x")] if x is not None else [])
    for k, name in enumerate(names):
        ax = figure.add_subplot(grid[0, k])
        if k < len(images):
            ax.imshow(images[k])
        else:
            shown = maps[k - len(images)]
            ax.imshow(shown / max(float(shown.max()), 1e-12), cmap=colormap("absolute", cmap))
        bare(ax)
        ax.set_title(name, fontsize=8)
    figure.suptitle(
        "each map's magnitude, scaled to its maximum; below, its similarity to the trained map",
        fontsize=9,
    )
    ax = figure.add_subplot(grid[1, :])
    positions = np.arange(1, steps + 1)
    for label, series, colour in (
        ("Spearman rank correlation", result.rank_correlation, "#1971c2"),
        ("SSIM", result.ssim, "#e8590c"),
    ):
        if not series:
            continue
        means = np.array([r.score for r in series])
        low, high = np.array([r.ci for r in series]).T
        ax.plot(positions, means, "o-", color=colour, label=label)
        ax.fill_between(positions, low, high, color=colour, alpha=0.2, lw=0)
    ax.axhline(0.0, color="#868e96", lw=0.8)
    ax.set_xticks(positions, result.layers)
    ax.set_xlabel("randomized from the top down" if result.cascading else "layer randomized alone")
    ax.set_ylabel("similarity to the trained map")
    ax.set_ylim(min(-0.2, ax.get_ylim()[0]), 1.02)
    ax.legend(fontsize=8)
    return figure
