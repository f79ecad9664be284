"""JAX's persistent compilation cache, turned on for jaxviz's own programs.

A new Python process otherwise recompiles every explanation it runs (a few hundred ms each on a
CPU). jaxviz keeps its compiled programs in ``$XDG_CACHE_HOME/jaxviz/jax`` (``~/.cache/jaxviz/jax``)
so the second process loads them from disk instead. ``JAXVIZ_NO_COMPILE_CACHE=1`` turns it off.

JAX has one compilation cache per process, with a global directory, so jaxviz cannot give its
programs a cache of their own. It does the least surprising thing it can, once, the first time it
compiles (not at import):

- the user set ``jax_compilation_cache_dir`` (or ``JAX_COMPILATION_CACHE_DIR``): that cache is
  used as is, and jaxviz's programs are added to it;
- the user turned JAX's cache off (``jax_enable_compilation_cache=False``) or set
  ``JAXVIZ_NO_COMPILE_CACHE``: nothing changes;
- otherwise jaxviz points JAX at its own directory and raises the global minimum compile time to
  infinity, so the user's own programs are still never written to disk (as before); only while
  jaxviz runs its programs is that minimum lowered to zero. To use a cache of your own, set
  ``jax_compilation_cache_dir`` before the first jaxviz call.

JAX's public API sets these minimums for the whole process (``jax.config.update``), so while a
jaxviz call runs, a program the user compiles at the same moment in another thread may be cached
too; the minimums return to the user's values when the last jaxviz call ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_compilation_cache

DISABLE_ENV = "JAXVIZ_NO_COMPILE_CACHE"

_lock = threading.Lock()
_active: bool | None = None  # decided on first use: whether jaxviz's programs are cached
# The two minimums an entry must reach to be written, and what jaxviz's calls lower them to
# (-1: no size minimum, and JAX may not raise it for the file system).
_MINIMUMS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}
_running = 0  # jaxviz calls inside `compile_cache()`, over all threads
_saved: dict[str, object] = {}  # the minimums they replaced


def cache_dir() -> Path:
    """The directory jaxviz gives JAX for its compiled programs (XDG_CACHE_HOME respected)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxviz" / "jax"


def _disabled_by_env() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _turn_on() -> bool:
    # Read by name: these flags are registered at run time, so the type stubs do not list them.
    settings = jax.config.values
    if _disabled_by_env() or not settings["jax_enable_compilation_cache"]:
        return False
    if settings["jax_compilation_cache_dir"] is None:
        path = cache_dir()
        # The cache is trusted code: keep it writable by this user only.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", math.inf)
        # JAX decides once per process, at its first compile, whether a cache is used; the user
        # may have compiled before jaxviz did, so let it decide again now that there is one.
        jax_compilation_cache.reset_cache()
    return True


def _ensure_decided() -> bool:
    global _active
    with _lock:
        if _active is None:
            _active = _turn_on()
        return _active


@contextlib.contextmanager
def compile_cache() -> Iterator[None]:
    """Programs compiled inside this context go to the persistent cache, however small.

    Usable as a decorator too (``@compile_cache()``) on functions that call jitted programs.
    """
    if not _ensure_decided():
        yield
        return
    _lower_minimums()
    try:
        yield
    finally:
        _restore_minimums()


def _lower_minimums() -> None:
    global _running
    with _lock:
        if _running == 0:
            for name, value in _MINIMUMS.items():
                _saved[name] = getattr(jax.config, name)
                jax.config.update(name, value)
        _running += 1


def _restore_minimums() -> None:
    global _running
    with _lock:
        _running -= 1
        if _running == 0:
            for name, value in _saved.items():
                jax.config.update(name, value)
