"""Widgets of the views after training: the confusion matrix (its cells open the examples, each
example's attribution one click away) and the loss landscape."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from .._checks import check_choice
from ..train._confusion import ConfusionMatrix, confusion_matrix
from ..train._landscape import LossLandscape
from ._base import JaxvizWidget, static_asset
from ._explorer import MAX_INPUTS, METHODS, Explorer
from ._payload import array_payload, colormap_lut

# Methods that need no layer choice: one click on an example shows its map.
ATTRIBUTION_METHODS = ("saliency", "grad_x_input", "integrated_gradients", "smoothgrad")


def _thumbnails(x: np.ndarray) -> dict[str, Any] | None:
    """Images (N, H, W[, C]) as uint8 RGB thumbnails, each scaled to its own range; None for
    inputs that are not images."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        return None
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    hi = x.max(axis=(1, 2, 3), keepdims=True)
    scaled = (x - lo) / np.maximum(hi - lo, 1e-12)
    rgb = np.repeat(scaled, 3, axis=-1) if x.shape[-1] == 1 else scaled
    return array_payload(np.rint(255 * rgb), "uint8")


class ConfusionView(JaxvizWidget):
    """The confusion matrix with per-class precision and recall; click a cell to see its
    examples, click an example to see its attribution for the predicted class (computed by the
    Explorer's machinery; ``.explorer(true, predicted)`` opens the cell in a full Explorer).

    Args:
      model: a wrapped classifier.
      x: inputs (images are shown as thumbnails, other inputs by index).
      y: the true class of each input.
      class_names: one name per class.
      method: the attribution shown for an example: one of ``ATTRIBUTION_METHODS``.

    Traits: ``cell`` ([true, predicted], set by a click), ``index`` (the example shown, -1 for
    none) and ``method``.
    """

    _esm = static_asset("confusion_view.js")
    _css = static_asset("confusion_view.css")
    _compute_traits = ("index", "method")

    matrix = traitlets.Dict().tag(sync=True)
    images = traitlets.Dict(allow_none=True).tag(sync=True)
    luts = traitlets.Dict().tag(sync=True)
    cell = traitlets.List(traitlets.Int(), default_value=[-1, -1]).tag(sync=True)
    index = traitlets.Int(-1).tag(sync=True)
    method = traitlets.Unicode("saliency").tag(sync=True)
    _result = traitlets.Dict().tag(sync=True)

    def __init__(self, model, x, y, *, class_names=None, method: str = "saliency", **kwargs):
        check_choice("method", method, ATTRIBUTION_METHODS)
        result = confusion_matrix(model, x, y, class_names=class_names)
        host = np.asarray(x)
        self._model, self._x, self._cm = model, host, result
        misclassified = result.misclassified()
        cell = [-1, -1]
        if misclassified.size:  # open on the cell with the most confusions
            off = result.counts * (1 - np.eye(len(result.class_names), dtype=np.int64))
            cell = [int(v) for v in np.unravel_index(off.argmax(), off.shape)]
        super().__init__(
            matrix=_matrix_payload(result),
            images=_thumbnails(host),
            luts={"RdBu_r": array_payload(colormap_lut("RdBu_r"), "uint8")},
            cell=cell,
            method=method,
            **kwargs,
        )
        self._explorers: dict[int, Explorer] = {}

    @property
    def result(self) -> ConfusionMatrix:
        return self._cm

    def examples(self) -> np.ndarray:
        """Indices of the examples in the selected cell."""
        t, p = self.cell
        return self._cm.examples(t, p) if t >= 0 else np.zeros(0, np.int64)

    def attribution(self, index: int, method: str | None = None) -> np.ndarray:
        """Example ``index``'s attribution map for its predicted class (``(H, W)`` for images,
        channels summed as the Explorer shows them)."""
        method = self.method if method is None else method
        check_choice("method", method, ATTRIBUTION_METHODS)
        if not 0 <= index < self._x.shape[0]:
            raise ValueError(f"index: expected an example in [0, {self._x.shape[0]}), got {index}.")
        block = index // MAX_INPUTS
        if block not in self._explorers:  # the Explorer holds MAX_INPUTS inputs: one per block
            part = slice(block * MAX_INPUTS, (block + 1) * MAX_INPUTS)
            self._explorers[block] = Explorer(
                self._model,
                self._x[part],
                self._cm.labels[part],
                class_names=list(self._cm.class_names),
                method=method,
                warm=False,
            )
        maps = self._explorers[block].attribution_maps(index % MAX_INPUTS, method)
        return maps[int(self._cm.predictions[index])]

    def explorer(self, true: int, predicted: int) -> Explorer:
        """A full Explorer over the examples of one cell (at most the first 256)."""
        chosen = self._cm.examples(true, predicted)[:MAX_INPUTS]
        if not chosen.size:
            raise ValueError(f"true, predicted: the cell ({true}, {predicted}) has no examples.")
        return Explorer(
            self._model,
            self._x[chosen],
            self._cm.labels[chosen],
            class_names=list(self._cm.class_names),
            method=self.method,
        )

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        index = state["index"]
        if index < 0:
            return {"_result": {}}
        attribution = np.asarray(self.attribution(index, state["method"]), np.float32)
        return {
            "_result": {
                "index": index,
                "method": state["method"],
                "label": METHODS[state["method"]].label,
                "predicted": int(self._cm.predictions[index]),
                "map": array_payload(attribution),
            }
        }

    def plot(self):
        """The confusion matrix, and the selected cell's first examples with their maps."""
        from ..plot._training import confusion_view

        index = self.index if self.index >= 0 else None
        return confusion_view(self._cm, self._x, self.examples(), index, self)


def _matrix_payload(cm: ConfusionMatrix) -> dict[str, Any]:
    def finite(values):
        return [None if not np.isfinite(v) else float(v) for v in values]

    return {
        "counts": array_payload(cm.counts),
        "class_names": list(cm.class_names),
        "precision": finite(cm.precision),
        "recall": finite(cm.recall),
        "accuracy": cm.accuracy,
        "labels": array_payload(cm.labels),
        "predictions": array_payload(cm.predictions),
    }


class LandscapeView(JaxvizWidget):
    """A loss landscape (``jv.loss_landscape`` / ``jv.loss_line``): a 2-D slice as a heat map
    with contour-like level colouring and the centre marked, a 1-D slice as a curve; hover for
    the loss at a point. Everything is computed up front, so it needs no kernel."""

    _esm = static_asset("landscape_view.js")
    _css = static_asset("landscape_view.css")

    landscape = traitlets.Dict().tag(sync=True)
    luts = traitlets.Dict().tag(sync=True)

    def __init__(self, landscape: LossLandscape, **kwargs):
        if not isinstance(landscape, LossLandscape):
            raise TypeError(
                "landscape: expected the result of jv.loss_landscape or jv.loss_line, got "
                f"{type(landscape).__name__}."
            )
        super().__init__(
            landscape={
                "kind": landscape.kind,
                "coordinates": [array_payload(c) for c in landscape.coordinates],
                "loss": array_payload(landscape.loss.astype(np.float32)),
                "centre_loss": landscape.centre_loss,
                "axis_labels": list(landscape.axis_labels),
            },
            luts={"viridis": array_payload(colormap_lut("viridis"), "uint8")},
            warm=False,
            **kwargs,
        )
        self._landscape = landscape

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}

    def plot(self):
        return self._landscape.plot()
