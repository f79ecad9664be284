"""Functions given as options (a loss, an objective), keyed by what they compute.

A user writes `loss=lambda z: cross_entropy(z, y).mean()` and passes a fresh lambda on every
call. Keyed by identity, each one would compile a new program; keyed by nothing, a program would
keep the `y` it was traced with. `lift` does neither: it keys a function by its code and by the
non-array values it reaches (closure cells, defaults and the globals its code names, followed
into the functions among them), and lifts the arrays it reaches out as arguments. A fresh
lambda of the same code over arrays of the same shapes reuses the program, and new array values
are used, never stale ones.

Objects that are neither arrays, hashable values nor plain functions (a module instance, a
jitted function) are keyed by identity, held alive by the key so an id is never reused: a program
traced through them behaves as `jax.jit` does with values it closes over.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import numpy as np

# How deep `lift` follows functions that a function reaches; deeper ones are keyed by identity.
_DEPTH = 4


class Lifted(NamedTuple):
    """A function split into a hashable `key`, the `arrays` it reaches, and `rebuild(arrays)`,
    which returns the same function reading those arrays from its argument (inside a trace:
    tracers) instead of the values it was given."""

    key: Hashable
    arrays: tuple[Any, ...]
    rebuild: Callable[[tuple[Any, ...]], Callable[..., Any]]


class _Identity:
    """Keys an unhashable object by identity while holding it (so its id stays unique)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


def lift(fn: Callable[..., Any]) -> Lifted:
    """Split `fn` into a key, the arrays it reaches and a rebuilder (see the module docstring)."""
    arrays: list[Any] = []
    home = getattr(fn.func if isinstance(fn, functools.partial) else fn, "__module__", None)
    key, rebuild = _lift(fn, arrays, _DEPTH, home)
    count = len(arrays)

    def rebuilt(values: tuple[Any, ...]) -> Callable[..., Any]:
        if len(values) != count:
            raise ValueError(f"expected {count} arrays, got {len(values)}")
        return rebuild(iter(values))

    return Lifted(key, tuple(arrays), rebuilt)


def _is_array(value: Any) -> bool:
    return isinstance(value, jax.Array | np.ndarray) and not isinstance(value, jax.core.Tracer)


def _lift_value(value: Any, arrays: list[Any], depth: int, home: str | None):
    """(key, rebuild(values iterator) -> value) for one value a function reaches. Functions
    defined where the root function was (the user's notebook or module) are followed; library
    functions do not change, so they are keyed as they are."""
    if _is_array(value):
        arrays.append(value)
        return ("array", np.shape(value), str(value.dtype)), lambda values: next(values)
    followed = isinstance(value, functools.partial) or (
        isinstance(value, types.FunctionType) and value.__module__ == home
    )
    if depth > 0 and followed:
        return _lift(value, arrays, depth - 1, home)
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__), lambda values: value
    try:
        hash(value)
    except TypeError:
        return _Identity(value), lambda values: value
    # A hashable value compared by equality: 2 == 2.0, but they trace to different dtypes.
    return (type(value), value), lambda values: value


def _lift_many(items, arrays, depth, home):
    lifted = [_lift_value(item, arrays, depth, home) for item in items]
    keys = tuple(key for key, _ in lifted)

    def rebuild(values):
        return [rebuild_one(values) for _, rebuild_one in lifted]

    return keys, rebuild


def _lift(fn: Any, arrays: list[Any], depth: int, home: str | None):
    if isinstance(fn, functools.partial):
        inner_key, inner = _lift_value(fn.func, arrays, depth, home)
        args_key, args = _lift_many(fn.args, arrays, depth, home)
        names = sorted(fn.keywords)
        kwargs_key, kwargs = _lift_many([fn.keywords[n] for n in names], arrays, depth, home)
        key = ("partial", inner_key, args_key, tuple(names), kwargs_key)
        return key, lambda values: functools.partial(
            inner(values), *args(values), **dict(zip(names, kwargs(values), strict=True))
        )
    if not isinstance(fn, types.FunctionType):
        return _lift_value(fn, arrays, 0, home)
    code = fn.__code__
    cells = [cell.cell_contents for cell in fn.__closure__ or ()]
    cells_key, cells_rebuild = _lift_many(cells, arrays, depth, home)
    defaults = fn.__defaults__ or ()
    defaults_key, defaults_rebuild = _lift_many(defaults, arrays, depth, home)
    names = [name for name in _global_names(code) if name in fn.__globals__]
    globals_key, globals_rebuild = _lift_many([fn.__globals__[n] for n in names], arrays, depth, home)
    key = ("function", code, cells_key, defaults_key, tuple(names), globals_key)

    def rebuild(values):
        cells = tuple(types.CellType(v) for v in cells_rebuild(values))
        defaults = tuple(defaults_rebuild(values)) or None
        namespace = dict(fn.__globals__)
        namespace.update(zip(names, globals_rebuild(values), strict=True))
        new = types.FunctionType(code, namespace, fn.__name__, defaults, cells or None)
        new.__kwdefaults__ = fn.__kwdefaults__
        return new

    return key, rebuild


def _global_names(code: types.CodeType) -> list[str]:
    """The names `code` may read as globals (attribute names included, harmlessly), nested code
    objects (comprehensions, inner lambdas) too, in a stable order."""
    names = dict.fromkeys(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(dict.fromkeys(_global_names(const)))
    return list(names)
