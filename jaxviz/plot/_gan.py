"""The static twin of GANLab: the discriminator's surface with real and generated points and the
generator's gradient arrows, beside both losses over the steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import JaxvizFigure

REAL_COLOR = "#2f9e44"
FAKE_COLOR = "#7048e8"


def gan_lab_figure(
    data: np.ndarray,
    fake: np.ndarray,
    surface: np.ndarray,
    push: np.ndarray,
    bounds: Sequence[float],
    losses: np.ndarray,
    *,
    step: int,
    arrows: int = 120,
) -> JaxvizFigure:
    """Two panels: the 2-D view (``surface`` as a heat map over ``bounds``, real ``data`` in
    green, ``fake`` points in purple, ``push`` arrows on the first ``arrows`` fake points) and
    the losses (steps, 2) over the steps."""
    figure = JaxvizFigure(figsize=(10, 4.4), layout="constrained")
    view, curves = figure.subplots(1, 2, width_ratios=(1, 1.15))
    xmin, xmax, ymin, ymax = bounds
    image = view.imshow(surface, extent=(xmin, xmax, ymin, ymax), origin="upper", cmap="PRGn",
                        vmin=0, vmax=1, interpolation="bilinear")
    figure.colorbar(image, ax=view, shrink=0.8, label='discriminator: P("real")')
    shown = data[np.linspace(0, len(data) - 1, min(len(data), 1000)).astype(int)]
    view.scatter(*shown.T, s=4, color=REAL_COLOR, label="real", alpha=0.6)
    view.scatter(*fake.T, s=5, color=FAKE_COLOR, label="generated")
    if len(push):
        # arrows scaled together, to a tenth of the view at most: directions and relative sizes
        k = min(arrows, len(fake))
        longest = float(np.linalg.norm(push[:k], axis=1).max()) or 1.0
        scale = 0.1 * (xmax - xmin) / longest
        view.quiver(*fake[:k].T, *(scale * push[:k]).T, angles="xy", scale_units="xy", scale=1,
                    color="#343a40", width=0.003)
    view.set(xlim=(xmin, xmax), ylim=(ymin, ymax), aspect="equal",
             title=f"step {step}: real, generated, generator's gradient")
    view.legend(loc="upper right", fontsize=8)
    steps = np.arange(1, len(losses) + 1)
    if len(losses):
        curves.plot(steps, losses[:, 0], color="#e8590c", lw=1, label="discriminator loss")
        curves.plot(steps, losses[:, 1], color="#1971c2", lw=1, label="generator loss")
        curves.legend(fontsize=8)
    curves.set(xlabel="step", ylabel="loss", title="losses")
    return figure
