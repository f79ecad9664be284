"""A dependency-free progress bar for long chunked runs, in terminals and notebooks alike.

It writes one carriage-returned line to stderr: a terminal redraws it in place and so does
Jupyter's stream output, so no widget (and no extra package) is needed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_WIDTH = 30
# Runs shorter than this never print: a bar that flashes for a fraction of a second is noise.
_QUIET_SECONDS = 1.0


def progress(items: Iterable[T], total: int, label: str, *, enabled: bool = True) -> Iterator[T]:
    """Yields `items`, drawing `label [#####     ] done/total` once the run has lasted a second."""
    start = time.perf_counter()
    drawn = False
    for done, item in enumerate(items, start=1):
        yield item
        if enabled and (drawn or time.perf_counter() - start > _QUIET_SECONDS):
            _draw(label, done, total, time.perf_counter() - start)
            drawn = True
    if drawn:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _draw(label: str, done: int, total: int, elapsed: float) -> None:
    filled = round(_WIDTH * done / max(total, 1))
    bar = "#" * filled + " " * (_WIDTH - filled)
    sys.stderr.write(f"\r{label} [{bar}] {done}/{total} ({elapsed:.1f}s)")
    sys.stderr.flush()
