"""Static twins of the latent-space widgets: LatentExplorer."""

from __future__ import annotations

import numpy as np

from ._common import JaxvizFigure


def _image(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """(H, W, C) with C in {1, 3} -> what imshow takes, scaled to [0, 1] over value_range."""
    lo, hi = value_range
    scaled = np.clip((images - lo) / ((hi - lo) or 1.0), 0, 1)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def mosaic(grid: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W, C) -> one (rows*H, cols*W, C) image."""
    rows, cols, height, width, channels = grid.shape
    return grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, channels)


def latent_explorer_figure(points, labels, plane, span, preview, strip, value_range, pair):
    """The decoded plane with the encoded points over it, the current latent's decoding, and the
    interpolation strip between the two picked examples (ringed on the plane)."""
    figure = JaxvizFigure(figsize=(11, 5.4), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=(4, 1.1))
    view, current = top.subplots(1, 2, width_ratios=(3, 1))
    gray = "gray" if plane.shape[-1] == 1 else None
    view.imshow(_image(mosaic(plane), value_range), extent=(-span, span, -span, span),
                cmap=gray, alpha=0.55)
    colors = None if labels is None else np.asarray(labels)
    view.scatter(*np.asarray(points).T, s=6, c=colors, cmap="tab10" if colors is not None else None,
                 vmin=0, vmax=9)
    for i, name in zip(pair, ("A", "B"), strict=True):
        view.scatter(*points[i], s=90, facecolors="none", edgecolors="black", linewidths=1.5)
        view.annotate(name, points[i], xytext=(5, 5), textcoords="offset points")
    view.set(xlim=(-span, span), ylim=(-span, span), aspect="equal",
             title="encoded data over the decoded latent plane")
    current.imshow(_image(preview, value_range), cmap=gray)
    current.set_title("current latent, decoded")
    current.axis("off")
    axes = bottom.subplots(1, len(strip))
    for k, (ax, image) in enumerate(zip(np.atleast_1d(axes), strip, strict=True)):
        ax.imshow(_image(image, value_range), cmap=gray)
        ax.axis("off")
        ax.set_title("A" if k == 0 else "B" if k == len(strip) - 1 else "", fontsize=9)
    bottom.suptitle("interpolation A -> B", fontsize=10)
    return figure
