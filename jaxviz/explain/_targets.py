"""The target selector: which class's score each explanation follows.

`target` is None (the predicted class), an int, one int per example, or "all" (every class,
stacked on axis 1). The mode is static (it shapes the program); the class indices are data, so
changing them never recompiles.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_input


class Target(NamedTuple):
    mode: str  # "given" | "predicted" | "all"
    classes: np.ndarray  # int32 (batch,), used in "given" mode


def resolve_target(target, batch: int, num_classes: int) -> Target:
    """Validate `target` against a batch of `batch` examples and `num_classes` classes."""
    placeholder = np.zeros((batch,), np.int32)
    if target is None:
        return Target("predicted", placeholder)
    if isinstance(target, str):
        if target != "all":
            raise ValueError(
                f"target: expected None, an int, an int array or 'all', got {target!r}."
            )
        return Target("all", placeholder)
    classes = np.asarray(target)
    if not np.issubdtype(classes.dtype, np.integer):
        raise TypeError(
            f"target: expected integer class indices, got dtype {classes.dtype} ({target!r})."
        )
    if classes.ndim == 0:
        classes = np.full((batch,), classes)
    if classes.shape != (batch,):
        raise ValueError(
            f"target: expected one class per example ({batch} of them), got shape {classes.shape}."
        )
    bad = classes[(classes < 0) | (classes >= num_classes)]
    if bad.size:
        raise ValueError(
            f"target: class {int(bad[0])} is out of range; the model has {num_classes} classes "
            f"(0 to {num_classes - 1})."
        )
    return Target("given", classes.astype(np.int32))


def chosen_classes(mode: str, classes: jax.Array, logits: jax.Array) -> jax.Array:
    """Inside a program: the class per example for "given" and "predicted" modes."""
    return jnp.argmax(logits, axis=-1).astype(jnp.int32) if mode == "predicted" else classes


def cotangents(mode: str, classes: jax.Array, num_classes: int, dtype) -> jax.Array:
    """One-hot seeds for the backward pass: (batch, classes), or (classes, batch, classes) for
    "all"."""
    if mode == "all":
        eye = jnp.eye(num_classes, dtype=dtype)
        return jnp.broadcast_to(eye[:, None, :], (num_classes, classes.shape[0], num_classes))
    return jax.nn.one_hot(classes, num_classes, dtype=dtype)


def class_scores(mode: str, classes: jax.Array, logits: jax.Array) -> jax.Array:
    """The followed score per example (batch,), or every class (batch, classes) for "all"."""
    logits = logits.astype(jnp.float32)
    if mode == "all":
        return logits
    return jnp.take_along_axis(logits, classes[:, None], axis=1)[:, 0]


def prepare(model, x, target) -> tuple[np.ndarray, Target]:
    """Validate the input and the target together: the checked `x` and its `Target`."""
    x = check_input(model, x)
    return x, resolve_target(target, x.shape[0], model.output_shape(x).shape[1])
