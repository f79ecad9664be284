"""Group the leaves of a parameter pytree into layers, in forward order.

A layer is the module that owns a parameter: the leaf's path without its last key (the parameter's
own name, ``kernel``/``bias``/...). This one rule covers the three shapes parameters come in:

* Linen variables ``{"params": {"Dense_0": {"kernel", "bias"}}}``: the ``params`` collection key is
  dropped, giving layer ``Dense_0``;
* NNX state ``State({"layers": {0: {"kernel": Param}}})``: the trailing ``.value`` attribute of
  each Variable is dropped, giving layer ``layers.0``;
* plain optax pytrees: ``{"w1": ..., "b1": ...}`` (leaves straight under the root) make one layer
  per leaf (``w1``, ``b1``); ``[(w, b), (w, b)]`` makes layers ``0`` and ``1``.

Forward order is not in the tree: ``jax.tree_util`` (and so every optax update) rebuilds dicts
with sorted keys, and NNX state is sorted by name. Layers therefore come in natural order
(``layers.2`` before ``layers.10``, ``Dense_2`` before ``Dense_10``), which is forward order for
auto-named Linen modules and numbered lists; pass ``order`` (e.g. the wrapped model's ``m.layers``)
to fix the order of named layers. Layers not named in ``order`` follow in natural order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import jax

# Keys that carry no layer identity: Linen's top-level collection and NNX's Variable payload.
_COLLECTION_KEYS = ("params",)
_VARIABLE_ATTRS = ("value", "raw_value")


@dataclass(frozen=True)
class LayerGroups:
    """Which leaves (by index in ``jax.tree_util.tree_leaves`` order) make up each layer."""

    names: tuple[str, ...]
    leaf_indices: tuple[tuple[int, ...], ...]


def _key_str(key) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _strip(path: tuple[str, ...]) -> tuple[str, ...]:
    if path and path[-1] in _VARIABLE_ATTRS:
        path = path[:-1]
    if len(path) > 1 and path[0] in _COLLECTION_KEYS:
        path = path[1:]
    return path


def layer_of(path: tuple[str, ...]) -> str:
    """The layer name for one leaf path (already converted to strings)."""
    path = _strip(path)
    owner = path[:-1] if len(path) > 1 else path
    return ".".join(owner)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def group_layers(tree, order: Sequence[str] | None = None) -> LayerGroups:
    """Group ``tree``'s leaves into layers, in forward order (see the module docstring).

    Args:
      tree: a parameter pytree (Linen variables, NNX state, or any optax params pytree).
      order: layer names in forward order, e.g. ``m.layers``; names absent from the tree are
        ignored, layers absent from ``order`` follow in natural order.

    Returns:
      ``LayerGroups``: layer names and, per layer, the indices of its leaves in
      ``jax.tree_util.tree_leaves(tree)``.
    """
    paths = [tuple(_key_str(k) for k in p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]
    if not paths:
        raise ValueError("tree: no array leaves found; pass the parameter pytree (e.g. params).")
    members: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        members.setdefault(layer_of(p), []).append(i)

    rank = {n: i for i, n in enumerate(order or ()) if n in members}
    names = sorted(members, key=lambda n: (rank.get(n, len(rank)), _natural_key(n)))
    return LayerGroups(tuple(names), tuple(tuple(members[n]) for n in names))
