"""jaxviz's settings, `jaxviz.config`.

jaxviz rewrites its own compiled programs (never the user's) where XLA runs an operation slowly:
tiling max pools and their gradients, narrow convolutions, convolution layouts inside loops. The
rewrites compute the same values (to float rounding), and each one is a named rule with a
docstring that says what it replaces and what it measured (`jaxviz.config.rewrite_rules()`).
They can be switched off, to compare with XLA's own kernels or to rule them out when a result
looks wrong::

    import jaxviz as jv

    jv.config.speed_rewrites = False                   # from now on, in every thread
    with jv.config.override(speed_rewrites=False):     # inside the block, in this thread
        plain = jv.saliency(model, x)
    with jv.config.override(speed_rewrites={"tiled_max_pool", "max_pool_gradient"}):
        pools_only = jv.saliency(model, x)

Programs are compiled once per setting: switching back and forth reuses them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Literal, TypeAlias

from . import _rewrites

SpeedRewrites: TypeAlias = Literal["auto"] | bool | frozenset[str]


def _check_speed_rewrites(value: object) -> SpeedRewrites:
    """`value` as a setting of `speed_rewrites`, or a ValueError naming what is allowed."""
    allowed = (
        f'"auto", True, False or a collection of rule names from {list(_rewrites.SPEED_RULE_NAMES)}'
    )
    if isinstance(value, bool) or (isinstance(value, str) and value == "auto"):
        return value  # type: ignore[return-value]
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"speed_rewrites: got {value!r}; allowed: {allowed}")
    names = frozenset(value)
    unknown = sorted(map(repr, names - set(_rewrites.SPEED_RULE_NAMES)))
    if unknown:
        raise ValueError(
            f"speed_rewrites: got unknown rule name(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    return names


class Config:
    """jaxviz's settings. The one instance is `jaxviz.config`.

    Attributes:
      speed_rewrites: which speed rules rewrite jaxviz's programs.
        "auto" (the default): all of them on a CPU, where each was measured, and none on a GPU
        or TPU, where they have not been measured yet. True: all of them on any backend.
        False: none; programs are XLA's own. A collection of rule names (see
        `rewrite_rules()`): those. Setting it applies to every thread; `override` changes it
        for one block of one thread. It is read each time a program runs, so a change applies
        to the next call, which compiles once for the new setting.
    """

    def __init__(self) -> None:
        self._speed_rewrites: SpeedRewrites = "auto"
        self._local = threading.local()  # this thread's overrides: {setting name: value}

    @property
    def speed_rewrites(self) -> SpeedRewrites:
        overrides = getattr(self._local, "overrides", {})
        return overrides.get("speed_rewrites", self._speed_rewrites)

    @speed_rewrites.setter
    def speed_rewrites(self, value: object) -> None:
        self._speed_rewrites = _check_speed_rewrites(value)

    @contextlib.contextmanager
    def override(self, *, speed_rewrites: object) -> Iterator[None]:
        """Change settings inside a `with` block, in this thread only (others keep theirs);
        they are restored on leaving it, however it is left.

        Example:
          >>> import jaxviz as jv
          >>> with jv.config.override(speed_rewrites=False):
          ...     jv.config.speed_rewrites
          False
          >>> jv.config.speed_rewrites
          'auto'
        """
        value = _check_speed_rewrites(speed_rewrites)
        outer = getattr(self._local, "overrides", {})
        self._local.overrides = {**outer, "speed_rewrites": value}
        try:
            yield
        finally:
            self._local.overrides = outer

    @staticmethod
    def rewrite_rules() -> dict[str, str]:
        """{name: what the rule rewrites and why} for every rewrite rule jaxviz applies: the
        speed rules `speed_rewrites` chooses from, and the rules methods ask for themselves
        (`layer_taps`, `relu_rules`), which are never switched off."""
        return {name: (type(rule).__doc__ or "").strip() for name, rule in _rewrites.RULES.items()}

    def __repr__(self) -> str:
        return f"jaxviz.config(speed_rewrites={self.speed_rewrites!r})"


config = Config()
