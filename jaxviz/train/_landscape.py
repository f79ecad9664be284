"""Loss landscapes: the loss on a line or a plane through parameter space (Li et al. 2018).

Li, Xu, Taylor, Studer and Goldstein, "Visualizing the Loss Landscape of Neural Nets",
NeurIPS 2018. A random direction ``d`` (same structure as the parameters) is *filter
normalized*: each filter ``d_i`` of each layer is rescaled to the norm of the matching filter of
the weights, ``d_i <- d_i / ||d_i|| * ||theta_i||``, so that a step of 1 along ``d`` moves every
filter by its own size and networks of different scale compare. In Flax a kernel's last axis
indexes its filters (a Dense kernel ``(in, out)``: one filter per output unit; a Conv kernel
``(h, w, in, out)``: one per output channel), so a filter's norm is taken over every other axis.
One-dimensional parameters (biases, normalization scales) get a zero direction, as in the paper's
experiments (its code's ``ignore="biasbn"``); ``one_dimensional="weights"`` instead uses the
parameters themselves as their direction (its code's other branch).

Every point of a slice is evaluated by one compiled program that ``vmap``s the loss over the
grid of coordinates (``lax.map`` in chunks of ``batch_size`` points, so a large grid stays within
memory), cached in the model's program cache like every jaxviz method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._callables import lift
from .._checks import check_key
from .._programs import call

Loss = Callable[[jax.Array, jax.Array], jax.Array]


@dataclass(frozen=True)
class LossLandscape:
    """The loss on a slice of parameter space.

    Attributes:
      coordinates: one array per axis of the slice (1 or 2): the step sizes along each direction
        (for ``loss_line``, ``t`` with 0 at ``start`` and 1 at ``end``).
      loss: the loss at every point, ``(len(coordinates[0]),)`` or ``(n0, n1)``.
      centre_loss: the loss at the centre (the parameters, or ``start``).
      directions: the directions (parameter pytrees), after filter normalization.
      kind: "random" (filter-normalized random directions), "given" or "line".
      axis_labels: a label per axis for plots.
    """

    coordinates: tuple[np.ndarray, ...]
    loss: np.ndarray
    centre_loss: float
    directions: tuple[Any, ...]
    kind: str
    axis_labels: tuple[str, ...]

    def plot(self, *, ax=None):
        """A line (1-D) or filled contours with the centre marked (2-D)."""
        from ..plot._training import loss_landscape

        return loss_landscape(self, ax=ax)


def filter_normalize(direction, params, *, one_dimensional: Literal["zero", "weights"] = "zero"):
    """Li et al.'s filter normalization of ``direction`` against ``params`` (see the module
    docstring): each filter (a kernel's slice along its last axis) rescaled to the norm of the
    matching filter of ``params``; 1-D leaves zeroed (``"zero"``) or set to ``params``
    (``"weights"``)."""
    if one_dimensional not in ("zero", "weights"):
        raise ValueError(f"one_dimensional: expected 'zero' or 'weights', got {one_dimensional!r}.")
    check_structure("direction", direction, params)

    def leaf(d, p):
        d, p = jnp.asarray(d, jnp.float32), jnp.asarray(p, jnp.float32)
        if p.ndim <= 1:
            return p if one_dimensional == "weights" else jnp.zeros_like(p)
        axes = tuple(range(p.ndim - 1))
        d_norm = jnp.sqrt(jnp.sum(d * d, axis=axes, keepdims=True))
        p_norm = jnp.sqrt(jnp.sum(p * p, axis=axes, keepdims=True))
        return d / jnp.maximum(d_norm, 1e-12) * p_norm

    return jax.tree.map(leaf, direction, params)


def check_structure(argument: str, tree, params) -> None:
    """``tree`` has the leaves (by path) and leaf shapes of ``params``, or a ValueError says
    which leaf differs."""
    want = _leaf_paths(params)
    got = _leaf_paths(tree)
    if list(want) != list(got) or jax.tree.structure(tree) != jax.tree.structure(params):
        missing = [p for p in want if p not in got][:3]
        extra = [p for p in got if p not in want][:3]
        raise ValueError(
            f"{argument}: expected a pytree structured like the model's params ({len(want)} "
            f"leaves), got {len(got)} leaves; missing {missing or 'none'}, unexpected "
            f"{extra or 'none'} (build it with jax.tree.map over model.params)."
        )
    for path, shape in want.items():
        if got[path] != shape:
            raise ValueError(
                f"{argument}{path}: expected shape {shape} like the params, got {got[path]}."
            )


def _leaf_paths(tree) -> dict[str, tuple[int, ...]]:
    return {
        jax.tree_util.keystr(path): tuple(np.shape(leaf))
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    }


def random_directions(
    params, count: int, key, *, one_dimensional: Literal["zero", "weights"] = "zero"
) -> tuple[Any, ...]:
    """``count`` filter-normalized Gaussian directions for ``params``."""
    leaves, treedef = jax.tree.flatten(params)
    out = []
    for k in jax.random.split(key, count):
        keys = jax.random.split(k, len(leaves))
        noise = [jax.random.normal(kk, jnp.shape(p), jnp.float32) for kk, p in zip(keys, leaves)]
        out.append(
            filter_normalize(
                jax.tree.unflatten(treedef, noise), params, one_dimensional=one_dimensional
            )
        )
    return tuple(out)


def _check_loss(loss) -> None:
    if not callable(loss):
        raise TypeError(
            f"loss: expected a function loss(logits, y) -> scalar, got {type(loss).__name__}."
        )


def _grid(span: float, steps: int, argument: str = "steps") -> np.ndarray:
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"{argument}: expected an int >= 2, got {steps!r}.")
    if not (isinstance(span, int | float) and span > 0):
        raise ValueError(f"span: expected a positive number, got {span!r}.")
    return np.linspace(-span, span, steps, dtype=np.float32)


def _build(rebuild, model, batch_size: int):
    def kernel(params, loss_arrays, centre, directions, points, x, y):
        loss = rebuild(loss_arrays)

        def at(point):
            moved = jax.tree.map(
                lambda c, *ds: (
                    c + jnp.asarray(sum(point[i] * d for i, d in enumerate(ds)), c.dtype)
                ),
                centre,
                *directions,
            )
            return loss(model.apply(moved, x), y)

        return jax.lax.map(at, points, batch_size=batch_size)

    return kernel


def _evaluate(model, loss, centre, directions, points, x, y, batch_size):
    """The loss at ``centre + sum_i points[:, i] * directions[i]`` for every row of ``points``:
    one program (the grid chunked by ``lax.map``), keyed by the loss function's code (``lift``),
    so a fresh lambda of the same code reuses it and reads its current arrays."""
    lifted = lift(loss)
    program = ("loss_landscape", lifted.key, len(directions), batch_size)
    values = call(
        model,
        program,
        lambda: _build(lifted.rebuild, model, batch_size),
        lifted.arrays,
        centre,
        tuple(directions),
        jnp.asarray(points, jnp.float32),
        x,
        y,
    )
    return np.asarray(values, np.float64)


def loss_landscape(
    model,
    loss: Loss,
    x,
    y,
    *,
    directions: int | tuple[Any, ...] = 2,
    span: float = 1.0,
    steps: int = 21,
    key=None,
    one_dimensional: Literal["zero", "weights"] = "zero",
    normalize: bool = True,
    batch_size: int = 64,
) -> LossLandscape:
    """The loss around the model's parameters along 1 or 2 directions (Li et al. 2018).

    Args:
      model: a wrapped model (``jv.wrap``); the centre is ``model.params``.
      loss: ``loss(logits, y) -> scalar`` (e.g. mean cross-entropy); a fresh lambda of the same
        code reuses the compiled program.
      x: the inputs the loss is measured on.
      y: the targets, passed to ``loss`` as they are.
      directions: 1 or 2 random filter-normalized directions, or a tuple of 1 or 2 pytrees
        structured like ``model.params`` (filter normalized too unless ``normalize=False``).
      span: coordinates run from ``-span`` to ``span`` along each direction.
      steps: points per axis.
      key: ``jax.random.key`` for random directions (default ``key(0)``).
      one_dimensional: what 1-D parameters' directions are: "zero" (the paper) or "weights".
      normalize: filter-normalize given directions.
      batch_size: grid points evaluated at once inside the program.

    Returns:
      A ``LossLandscape``; ``loss[steps // 2]`` (1-D) or ``loss[steps // 2, steps // 2]`` (2-D)
      is the loss at the parameters themselves.
    """
    _check_loss(loss)
    params = model.params
    if isinstance(directions, int) and not isinstance(directions, bool):
        if directions not in (1, 2):
            raise ValueError(
                f"directions: expected 1 or 2 (or a tuple of pytrees), got {directions}."
            )
        key = check_key(jax.random.key(0) if key is None else key, "loss_landscape")
        dirs = random_directions(params, directions, key, one_dimensional=one_dimensional)
        kind = "random"
    elif isinstance(directions, tuple | list) and len(directions) in (1, 2):
        for i, d in enumerate(directions):
            check_structure(f"directions[{i}]", d, params)
        dirs = tuple(
            filter_normalize(d, params, one_dimensional=one_dimensional) if normalize else d
            for d in directions
        )
        kind = "given"
    else:
        raise ValueError(
            "directions: expected 1, 2 or a tuple of 1 or 2 pytrees shaped like model.params, got "
            f"{type(directions).__name__} {directions!r:.60}."
        )
    axis = _grid(span, steps)
    if len(dirs) == 1:
        points = axis[:, None]
    else:
        a, b = np.meshgrid(axis, axis, indexing="ij")
        points = np.stack([a.ravel(), b.ravel()], axis=1)
    values = _evaluate(model, loss, params, dirs, points, x, y, batch_size)
    shape = (steps,) * len(dirs)
    surface = values.reshape(shape)
    return LossLandscape(
        coordinates=(axis,) * len(dirs),
        loss=surface,
        centre_loss=float(surface[(steps // 2,) * len(dirs)]),
        directions=dirs,
        kind=kind,
        axis_labels=tuple(f"direction {i + 1} (filter-normalized)" for i in range(len(dirs))),
    )


def loss_line(
    model,
    loss: Loss,
    x,
    y,
    *,
    start,
    end,
    steps: int = 21,
    margin: float = 0.25,
    batch_size: int = 64,
) -> LossLandscape:
    """The loss on the line through two checkpoints, ``(1 - t) * start + t * end``, for ``t``
    from ``-margin`` to ``1 + margin`` (Goodfellow et al. 2015's linear interpolation).

    Args:
      model: a wrapped model; ``start`` and ``end`` are parameters structured like its params.
      loss: ``loss(logits, y) -> scalar``.
      x: inputs.
      y: targets.
      start: the first checkpoint (t = 0), e.g. the parameters at initialization.
      end: the second (t = 1), e.g. the trained parameters.
      steps: points from ``start`` to ``end``, both included.
      margin: how far past either checkpoint the line goes, in units of their distance.
      batch_size: points evaluated at once inside the program.
    """
    _check_loss(loss)
    check_structure("start", start, model.params)
    check_structure("end", end, model.params)
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps: expected an int >= 2, got {steps!r}.")
    if not (isinstance(margin, int | float) and margin >= 0):
        raise ValueError(f"margin: expected a number >= 0, got {margin!r}.")
    # the grid holds t = 0 and t = 1 exactly, and as many equal steps past them as margin asks
    extra = round(margin * (steps - 1))
    t = (np.arange(-extra, steps + extra) / (steps - 1)).astype(np.float32)
    direction = jax.tree.map(lambda a, b: jnp.asarray(b) - jnp.asarray(a), start, end)
    values = _evaluate(model, loss, start, (direction,), t[:, None], x, y, batch_size)
    return LossLandscape(
        coordinates=(t,),
        loss=values,
        centre_loss=float(values[extra]),
        directions=(direction,),
        kind="line",
        axis_labels=("t (0: start, 1: end)",),
    )
