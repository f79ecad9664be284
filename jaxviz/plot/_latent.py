"""Static twins of the latent-space tools: grids of decoded images, encoded datasets, codebook
usage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure, SubFigure

from ._common import bare, figure_and_axes
from ._layers import class_colors


def _displayable(image: np.ndarray, low: float, high: float) -> tuple[np.ndarray, str | None]:
    """An image for imshow: (h, w) or (h, w, 1) in gray, (h, w, 3) in color, in [0, 1]. Values
    are kept when the grid's range [low, high] lies about within [0, 1] (decoders of [0, 1]
    images), else the grid's range is mapped to [0, 1], one scale for every cell so that
    brightness compares across them."""
    image = np.asarray(image, np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 1:
        side = int(np.sqrt(image.size))
        image = image.reshape(side, -1) if side * side == image.size else image[None]
    if low < -0.1 or high > 1.1:
        image = (image - low) / max(high - low, 1e-12)
    return np.clip(image, 0.0, 1.0), ("gray_r" if image.ndim == 2 else None)


def plot_image_grid(
    images, *, row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
    spacing: float = 0.1, size: float = 0.6, title: str | None = None,
) -> Figure | SubFigure:
    """A (rows, cols, *image) array of images drawn as one mosaic, `spacing` (a share of an
    image's side) apart, labelled along its rows and columns."""
    images = np.asarray(images)
    rows, cols = images.shape[:2]
    low, high = float(images.min()), float(images.max())
    tiles = [[_displayable(images[r, c], low, high) for c in range(cols)] for r in range(rows)]
    cmap = tiles[0][0][1]
    height, width = tiles[0][0][0].shape[:2]
    gap = int(round(spacing * max(height, width)))
    channels = () if cmap else (3,)
    mosaic = np.ones((rows * (height + gap) - gap, cols * (width + gap) - gap, *channels),
                     np.float32)
    if cmap:  # gray_r: white gaps are zeros
        mosaic[:] = 0.0
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + gap), c * (width + gap)
            mosaic[top : top + height, left : left + width] = tiles[r][c][0]
    figure, ax = figure_and_axes(None, (max(cols * size, 2.0), max(rows * size, 1.0) + 0.4))
    ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    bare(ax)
    if row_labels is not None:
        ax.set_yticks([r * (height + gap) + height / 2 - 0.5 for r in range(rows)], row_labels,
                      fontsize=8)
    if col_labels is not None:
        ax.set_xticks([c * (width + gap) + width / 2 - 0.5 for c in range(cols)], col_labels,
                      fontsize=8)
        ax.xaxis.tick_top()
    ax.tick_params(length=0)
    if title:
        ax.set_title(title)
    return figure


def plot_embedding(points, labels=None, *, ax=None, title: str | None = None):
    """Encoded examples as 2-D points, colored by class."""
    points = np.asarray(points)
    figure, ax = figure_and_axes(ax, (4.5, 4.0))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, color="0.3")
    else:
        labels = np.asarray(labels)
        colors = class_colors(int(labels.max()) + 1)
        for label in np.unique(labels):
            keep = labels == label
            ax.scatter(points[keep, 0], points[keep, 1], s=6, color=colors[label],
                       label=str(label))
        ax.legend(fontsize=7, markerscale=2, loc="best", frameon=False)
    ax.set_title(title or "encoded dataset")
    return figure


def plot_codebook_usage(counts, perplexity: float, *, ax=None):
    """Positions per code as bars, dead codes marked in red."""
    counts = np.asarray(counts)
    figure, ax = figure_and_axes(ax, (6.0, 2.5))
    dead = counts == 0
    ax.bar(np.arange(len(counts)), counts, color=np.where(dead, "tab:red", "tab:blue"))
    for code in np.flatnonzero(dead):
        ax.text(float(code), 0, "x", ha="center", va="bottom", color="tab:red", fontsize=8)
    ax.set_xlabel("code")
    ax.set_ylabel("positions")
    ax.set_title(f"codebook usage: perplexity {perplexity:.1f} of {len(counts)}, "
                 f"{int(dead.sum())} dead")
    return figure
