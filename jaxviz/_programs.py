"""The program cache: jaxviz's compiled programs, bounded and keyed by what they were built for.

A program is compiled for a method's static options *and* the abstract signature of its
arguments (shape, dtype, placement). Keying by both means a second input size gets a program of
its own instead of a kernel traced for the first one, and an older program stays valid when a
new shape arrives. The cache keeps the least recently used programs out once it holds
`capacity` of them, so a loop over many shapes cannot grow memory without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

import jax
import numpy as np

from . import _compile
from ._compile_cache import compile_cache

V = TypeVar("V")

# Programs kept per model. A widget reaches a few dozen (methods x layers x input sizes); each
# compiled program holds its executable (tens to hundreds of KB), so this stays small.
PROGRAMS_PER_MODEL = 64


class LRU(Generic[V]):
    """A mapping that forgets its least recently used entry past `capacity`."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity: expected a positive integer, got {capacity!r}.")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        # Widgets warm programs from a background thread while the kernel serves requests.
        self._lock = threading.RLock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The entry for `key`, made (and stored) on first use; marks it recently used."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            value = self._entries[key] = make()
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        with self._lock:
            return iter(list(self._entries))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class ProgramCache(LRU[Callable[..., Any]]):
    """A model's compiled programs, keyed by `(method key, argument signature, settings)`.

    `methods()` lists the method keys present, whatever signatures they were compiled for.
    """

    def __init__(self, capacity: int = PROGRAMS_PER_MODEL):
        super().__init__(capacity)

    def methods(self) -> set[Hashable]:
        return {key[0] for key in self}  # type: ignore[index]


def signature(values: Any) -> tuple:
    """The abstract signature of a pytree of arrays: its structure and each leaf's shape, dtype,
    weak type and sharding (a compiled program is specialised to all of them)."""
    leaves, tree = jax.tree.flatten(values)
    return (tree, *(_leaf_signature(leaf) for leaf in leaves))


def _leaf_signature(leaf: Any) -> tuple:
    if isinstance(leaf, jax.Array):
        return (leaf.shape, leaf.dtype, getattr(leaf, "weak_type", False), _placement(leaf))
    if isinstance(leaf, np.ndarray | np.generic):
        return (leaf.shape, leaf.dtype, False, None)
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return (leaf.shape, leaf.dtype, leaf.weak_type, None)
    # Python scalars enter a program as weakly typed values of their kind.
    return ((), type(leaf).__name__, True, None)


def _placement(leaf: jax.Array) -> Hashable:
    sharding = leaf.sharding
    return sharding if len(sharding.device_set) > 1 else None


def program_for(
    model,
    program: tuple[Hashable, ...],
    build: Callable[[], Callable[..., Any]],
    arguments: Any,
    *,
    devices: int = 1,
) -> Callable[..., Any]:
    """The model's compiled program for `program` (a method name and its static options) and
    arguments shaped like `arguments`, made by `_compile.jit(build())` on first use."""
    key = (program, signature(arguments), devices, _compile.settings_key())
    return model.programs.get(key, lambda: _compile.jit(build()))


def call(
    model, program: tuple[Hashable, ...], build: Callable[[], Callable[..., Any]], *args: Any
) -> Any:
    """Run a whole-batch program `build()(params, *args)` (the logits, an objective over the
    whole batch, a probe set, an optimization), compiled once per argument signature."""
    compiled = program_for(model, program, build, args)
    with compile_cache():
        return compiled(model.params, *args)
