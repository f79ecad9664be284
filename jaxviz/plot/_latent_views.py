"""Static twins of the latent-space widgets: LatentExplorer."""

from __future__ import annotations

import numpy as np

from ._common import JaxvizFigure


def _image(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """(H, W, C) with C in {1, 3} -> what imshow takes, scaled to [0, 1] over value_range."""
    lo, hi = value_range
    scaled = np.clip((images - lo) / ((hi - lo) or 1.0), 0, 1)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def mosaic(grid: np.ndarray, gap: int = 1) -> np.ndarray:
    """(rows, cols, H, W, C) -> one (rows*(H+gap), cols*(W+gap), C) image, tiles separated by
    ``gap`` NaN pixels (drawn as the background: digits fill their height, so touching tiles
    would read as stripes)."""
    grid = np.pad(grid.astype(np.float32), ((0, 0), (0, 0), (0, gap), (0, gap), (0, 0)),
                  constant_values=np.nan)
    rows, cols, height, width, channels = grid.shape
    return grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, channels)


def latent_explorer_figure(points, labels, plane, span, preview, strip, value_range, pair):
    """The decoded plane with the encoded points over it, the current latent's decoding, and the
    interpolation strip between the two picked examples (ringed on the plane)."""
    figure = JaxvizFigure(figsize=(11, 7.5), layout="constrained")
    top, bottom = np.asarray(figure.subfigures(2, 1, height_ratios=(5, 1.1))).ravel()
    view, current = top.subplots(1, 2, width_ratios=(3, 1))
    gray = "gray" if plane.shape[-1] == 1 else None
    # grid point (i, j) decodes (xs[j], ys[i]) with xs, ys spanning [-span, span]: its tile is
    # centred there
    half = span / (len(plane) - 1)
    view.imshow(_image(mosaic(plane), value_range), cmap=gray, interpolation="nearest",
                extent=(-span - half, span + half, -span - half, span + half))
    colors = None if labels is None else np.asarray(labels)
    view.scatter(*np.asarray(points).T, s=14, c=colors, vmin=0, vmax=9, edgecolors="white",
                 cmap="tab10" if colors is not None else None, linewidths=0.5)
    for i, name in zip(pair, ("A", "B"), strict=True):
        view.scatter(*points[i], s=110, facecolors="none", edgecolors="#e8590c", linewidths=2)
        view.annotate(name, points[i], xytext=(6, 6), textcoords="offset points", color="#e8590c",
                      fontweight="bold")
    view.set(xlim=(-span - half, span + half), ylim=(-span - half, span + half), aspect="equal",
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


def codebook_figure(usage, atlas, x, code, index, value_range):
    """Usage per code (dead codes marked), input ``index`` with its code map, and ``code``'s
    decoded image beside the inputs that use it most."""
    figure = JaxvizFigure(figsize=(11, 4.6), layout="constrained")
    top, bottom = np.asarray(figure.subfigures(2, 1, height_ratios=(1.3, 1))).ravel()
    bars = top.subplots()
    counts = np.asarray(usage.counts)
    colors = ["#c92a2a" if c in set(usage.dead.tolist()) else "#1971c2" for c in range(len(counts))]
    colors[code] = "#e8590c"
    bars.bar(np.arange(len(counts)), counts, color=colors)
    for c in usage.dead:
        bars.annotate("dead", (c, 0), ha="center", va="bottom", color="#c92a2a", fontsize=7)
    bars.set(xlabel="code", ylabel="positions using it",
             title=f"codebook usage: perplexity {usage.perplexity:.1f} of {len(counts)} codes, "
                   f"{len(usage.dead)} dead (selected: code {code}, orange)")
    shown = [x[index], None, atlas.images[code]]
    examples = [e for e in atlas.examples[code] if e >= 0]
    axes = bottom.subplots(1, 3 + max(len(examples), 1))
    gray = "gray" if np.asarray(x).shape[-1] == 1 else None
    axes[0].imshow(_image(np.asarray(shown[0]), value_range), cmap=gray)
    axes[0].set_title(f"input {index}", fontsize=9)
    code_map = np.asarray(usage.codes[index]).reshape(np.asarray(usage.codes[index]).shape[0], -1)
    axes[1].imshow(code_map % 20, cmap="tab20", vmin=0, vmax=19)
    for (r, c), value in np.ndenumerate(code_map):
        axes[1].text(c, r, str(value), ha="center", va="center", fontsize=8,
                     fontweight="bold" if value == code else "normal")
    axes[1].set_title("its code map", fontsize=9)
    axes[2].imshow(_image(np.asarray(shown[2], np.float32), value_range), cmap=gray)
    axes[2].set_title(f"code {code}, decoded", fontsize=9)
    for ax, e in zip(axes[3:], examples, strict=False):
        ax.imshow(_image(np.asarray(x[e]), value_range), cmap=gray)
        ax.set_title(f"uses it: #{e}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    return figure
