"""The confusion matrix of a classifier, with per-class precision and recall, and the examples
behind each cell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import check_input


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true class, predicted class) pairs.

    Attributes:
      counts: ``(classes, classes)``, ``counts[t, p]`` examples of class ``t`` predicted as ``p``.
      labels: the true class of each example.
      predictions: the predicted class (argmax of the logits) of each example.
      class_names: one name per class.
    """

    counts: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    class_names: tuple[str, ...]

    @property
    def precision(self) -> np.ndarray:
        """Per class: of the examples predicted as it, the share that are it (NaN if none)."""
        predicted = self.counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(predicted > 0, np.diag(self.counts) / predicted, np.nan)

    @property
    def recall(self) -> np.ndarray:
        """Per class: of its examples, the share predicted as it (NaN if it has none)."""
        actual = self.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(actual > 0, np.diag(self.counts) / actual, np.nan)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.counts) / max(1, self.counts.sum()))

    def examples(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the examples of class ``true`` predicted as ``predicted``."""
        classes = len(self.class_names)
        for argument, value in (("true", true), ("predicted", predicted)):
            if not (isinstance(value, int | np.integer) and 0 <= value < classes):
                raise ValueError(f"{argument}: expected a class in [0, {classes}), got {value!r}.")
        return np.flatnonzero((self.labels == true) & (self.predictions == predicted))

    def misclassified(self) -> np.ndarray:
        """Indices of every example whose prediction is not its label."""
        return np.flatnonzero(self.labels != self.predictions)

    def plot(self, *, ax=None, normalize: bool = False):
        """The matrix as a heat map with counts in the cells, precision and recall beside it."""
        from ..plot._training import confusion_matrix

        return confusion_matrix(self, ax=ax, normalize=normalize)


def confusion_matrix(
    model, x, y, *, class_names: Sequence[str] | None = None, num_classes: int | None = None
) -> ConfusionMatrix:
    """The confusion matrix of ``model``'s predictions (argmax of its logits) on ``x``.

    Args:
      model: a wrapped classifier (``jv.wrap``), logits ``(batch, classes)``.
      x: inputs.
      y: the true class of each input, integers ``(batch,)``.
      class_names: one name per class (default "0", "1", ...).
      num_classes: the number of classes (default: the logits' last axis).

    Returns:
      A ``ConfusionMatrix``: ``.counts``, ``.precision``, ``.recall``, ``.examples(t, p)``.
    """
    x = check_input(model, x)
    labels = np.asarray(y)
    if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"y: expected one integer class per input, shape ({x.shape[0]},), got "
            f"{labels.dtype} of shape {labels.shape}."
        )
    logits = np.asarray(model(x))
    if logits.ndim != 2:
        raise ValueError(
            f"model: expected logits of shape (batch, classes), got shape {logits.shape}."
        )
    classes = logits.shape[1] if num_classes is None else num_classes
    if not isinstance(classes, int) or classes < logits.shape[1]:
        raise ValueError(
            f"num_classes: expected an int >= the logits' {logits.shape[1]} classes, got "
            f"{num_classes!r}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"y: expected classes in [0, {classes}), got values from {labels.min()} to "
            f"{labels.max()}."
        )
    names = tuple(str(c) for c in range(classes)) if class_names is None else tuple(class_names)
    if len(names) != classes:
        raise ValueError(f"class_names: expected {classes} names, got {len(names)}.")
    predictions = logits.argmax(axis=1)
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return ConfusionMatrix(counts, labels.astype(np.int64), predictions, names)
