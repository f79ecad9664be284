"""The base of every jaxviz anywidget: kernel requests, result cache, inline errors, static twins.

A subclass names its bundle (``_esm``/``_css`` in jaxviz/static/), lists the traits whose change
needs the kernel in ``_compute_traits`` and implements ``_compute(state) -> {trait: value}``.
The front end (js/lib/sync.js) bumps ``_request_id`` with its changes; the widget computes (or
takes from its cache) and answers every request through ``_reply = {id, seq, error}``, with the
result traits in the same message. Errors become a readable message in the widget, which keeps
its last good result and stays usable.

Warm-up: once the front end has drawn the widget it says so (js/lib/sync.js, `announceRendered`),
and the widget starts a `Warmer`: a background thread that computes, into the same result cache,
the states its controls can reach next (`_warm_states`, most likely first), so that a first visit
answers like a later one. The thread never touches traits (only the caches, which are locked);
no warm-up task starts while a person's request is being served, and one runs at a time in the
process, for the widget used last first; a request for the state being warmed joins it rather
than repeating it; closing the widget stops its warm-up. Its errors are
logged (logger "jaxviz.widgets") and never reach the widget: a person who then asks for that
state computes it and sees the error as usual.
"""

from __future__ import annotations

import atexit
import base64
import io
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from .._compile_cache import compile_cache
from ._html import STATIC, page_html

log = logging.getLogger("jaxviz.widgets")


def static_asset(name: str) -> Path:
    """Path of a built front-end file in jaxviz/static/ (``npm run build`` writes them)."""
    return STATIC / name


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def readable_error(error: BaseException) -> str:
    """The message a person sees in the widget for an exception raised while computing."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ResultCache:
    """A bounded least-recently-used map whose values are computed once, across threads.

    `get_or_compute(key, compute)` returns the cached value, or waits for the thread already
    computing it, or computes it (outside the lock, so other keys are served meanwhile). A
    computation that raises stores nothing: the next caller computes again and sees the error.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                running = self._computing.get(key)
                if running is None:
                    done = self._computing[key] = threading.Event()
                    break
            running.wait()  # then take its value, or compute if it failed
        try:
            value = compute()
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._computing[key]
            done.set()


# Set in warm-up threads: code that would print (progress bars) keeps quiet there.
_background = threading.local()


def in_background() -> bool:
    """Whether the caller runs on a widget's warm-up thread."""
    return getattr(_background, "active", False)


class _Shared:
    """What every warmer of the process shares, under `changed`: one warm-up task runs at a
    time (a notebook may show many widgets), none while any widget serves a request nor just
    after, and the warmer scheduled last (the widget a person used last) goes first."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.serving = 0
        self.last_served = -math.inf
        self.busy = False  # a warm-up task is running
        self.clock = 0  # stamps of `Warmer.schedule` calls


_shared = _Shared()


class Warmer:
    """Runs a prioritized list of tasks on a background thread, one task at a time.

    `schedule(tasks)` replaces the tasks not yet started (the first is the most urgent; at most
    `limit` are kept) and starts the thread if none runs; the thread ends when the list is done.
    No task starts while a `serving()` block of any warmer is open, nor within `quiet_s` seconds
    after one closes (a person's requests go first, and a burst of them, a slider moved, is not
    slowed by warm-ups between them; a task already running finishes); nor while another
    warmer's task runs, and the warmer scheduled last goes first. `stop()` drops the pending
    tasks for good. A task's exception is logged and counted in `failed`, never raised: warming
    is a courtesy.

    The thread runs at the process's own OS priority on purpose: a person's request may wait
    for the task in flight (when it computes the very state asked for), and a niced thread would
    make that wait long on a busy machine.
    """

    def __init__(self, limit: int = 32, name: str = "jaxviz-warm", quiet_s: float = 0.25) -> None:
        self.limit = limit
        self.name = name
        self.quiet_s = quiet_s
        self.completed = 0
        self.failed = 0
        self._pending: deque[Callable[[], Any]] = deque()
        self._stamp = 0
        self._running = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        _WARMERS.add(self)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def schedule(self, tasks: Iterable[Callable[[], Any]]) -> None:
        """Replaces the pending tasks by `tasks` (most urgent first)."""
        with _shared.changed:
            if self._stopped:
                return
            self._pending = deque(islice(tasks, self.limit))
            _shared.clock += 1
            self._stamp = _shared.clock
            if self._pending and self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            _shared.changed.notify_all()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """While open, no warm-up task starts (in this process)."""
        with _shared.changed:
            _shared.serving += 1
        try:
            yield
        finally:
            with _shared.changed:
                _shared.serving -= 1
                _shared.last_served = time.monotonic()
                _shared.changed.notify_all()

    def stop(self) -> None:
        """Drops the pending tasks; the thread ends after the task in flight, if any."""
        with _shared.changed:
            self._stopped = True
            self._pending.clear()
            _shared.changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Waits until no task is pending or running; False if `timeout` ran out first."""
        with _shared.changed:
            return _shared.changed.wait_for(lambda: not self._running and not self._pending,
                                            timeout)

    def _wait_left(self) -> float:
        """Seconds until this warmer may start its next task (0: now; inf: until notified)."""
        if _shared.busy or _shared.serving:
            return math.inf
        if any(w._stamp > self._stamp and w._pending and not w._stopped for w in _WARMERS):
            return math.inf
        return max(0.0, _shared.last_served + self.quiet_s - time.monotonic())

    def _next(self) -> Callable[[], Any] | None:
        with _shared.changed:
            while not self._stopped and self._pending and (wait := self._wait_left()) > 0:
                _shared.changed.wait(None if wait == math.inf else wait)
            if self._stopped or not self._pending:
                self._thread = None
                _shared.changed.notify_all()
                return None
            self._running = _shared.busy = True
            return self._pending.popleft()

    def _work(self) -> None:
        _background.active = True
        while (task := self._next()) is not None:
            try:
                task()
            except Exception:  # noqa: BLE001 - a failed warm-up only means no head start
                log.debug("warm-up task %r failed", task, exc_info=True)
                self.failed += 1
            with _shared.changed:
                self._running = _shared.busy = False
                self.completed += 1
                _shared.changed.notify_all()


_WARMERS: weakref.WeakSet[Warmer] = weakref.WeakSet()


@atexit.register
def _stop_warmers() -> None:
    """Lets no warm-up thread run into the interpreter's shutdown in the middle of XLA."""
    warmers = list(_WARMERS)
    for warmer in warmers:
        warmer.stop()
    for warmer in warmers:
        thread = warmer._thread
        if thread is not None:
            thread.join(timeout=5)


def _state_key(state: dict[str, Any]) -> tuple:
    return tuple(sorted(state.items()))


class JaxvizWidget(anywidget.AnyWidget):
    """Shared machinery of jaxviz widgets (see the module docstring for what subclasses set)."""

    _request_id = traitlets.Int(0).tag(sync=True)
    _reply = traitlets.Dict({"id": 0, "seq": 0, "error": None}).tag(sync=True)

    _esm: ClassVar[Path]  # the built front end, set by each widget (`static_asset(...)`)
    _compute_traits: ClassVar[tuple[str, ...]] = ()
    _cache_size: ClassVar[int] = 64
    _warm_limit: ClassVar[int] = 32  # states warmed ahead at most (well within the cache)
    _png_dpi: ClassVar[int] = 96

    def __init__(self, *, warm: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache = ResultCache(self._cache_size)
        self._seq = 0
        # Requests served from the cache and computed (joining a warm-up computation counts as
        # computed): what the warm-up is for, and what the tests and benchmarks read.
        self._served = {"cached": 0, "computed": 0}
        self._answered: tuple | None = None
        self._warmer = Warmer(self._warm_limit, f"jaxviz-warm-{type(self).__name__}") if warm \
            else None
        self._warming = False
        self.observe(self._on_request, names=[*self._compute_traits, "_request_id"])
        self.on_msg(self._on_frontend_message)

    # -- subclass interface -------------------------------------------------------------------

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        """Result trait values for ``state`` (the compute traits' values). Raise to report."""
        raise NotImplementedError

    def _warm_states(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """States (or partial states, over `state`) to compute ahead, most likely first.

        Called on the kernel's thread, so it may read traits; the computations then run on the
        warm-up thread, so `_compute` must read only its `state` and the widget's own data.
        """
        return []

    def _static_states(self) -> list[dict[str, Any]]:
        """Compute-trait states whose results ``to_html`` stores (default: the current one)."""
        return [self._state()]

    def plot(self):  # noqa: ANN201 - matplotlib is imported lazily by subclasses
        """The matplotlib figure of the current view (the static twin)."""
        raise NotImplementedError

    # -- requests -------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._compute_traits}

    def _results(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._cache.get_or_compute(_state_key(state), partial(self._compute_cached, state))

    def _compute_cached(self, state: dict[str, Any]) -> dict[str, Any]:
        # Whatever a widget compiles goes to jaxviz's persistent compile cache, so that the next
        # kernel loads it from disk (the setting is per thread: the warm-up's included).
        with compile_cache():
            return self._compute(state)

    def refresh(self) -> None:
        """Computes (or takes from the cache) the current state's results and sends them."""
        state = self._state()
        request = (_state_key(state), self._request_id)
        if request == self._answered:
            # The front end changes compute traits and `_request_id` in one message, which calls
            # this once per trait: one answer is enough.
            return
        self._answered = request
        self._served["cached" if request[0] in self._cache else "computed"] += 1
        with self._warmer.serving() if self._warmer is not None else _nothing():
            try:
                result, error = self._results(state), None
            except Exception as exc:  # shown in the widget, which keeps its last good result
                result, error = {}, readable_error(exc)
            self._seq += 1
            with self.hold_sync():
                for name, value in result.items():
                    setattr(self, name, value)
                self._reply = {"id": self._request_id, "seq": self._seq, "error": error}
        self._warm_ahead(state)

    def _on_request(self, change: dict[str, Any]) -> None:
        self.refresh()

    # -- warm-up ----------------------------------------------------------------------------------

    def _start_warming(self) -> None:
        """Starts computing, in the background, what the controls can reach from here (the front
        end calls it once the widget is drawn; a widget made with ``warm=False`` never warms)."""
        self._warming = self._warmer is not None
        self._warm_ahead(self._state())

    def _warm_ahead(self, state: dict[str, Any]) -> None:
        if not self._warming or self._warmer is None:
            return
        try:
            states = [{**state, **s} for s in self._warm_states(state)]
        except Exception:  # noqa: BLE001 - planning is a courtesy too
            log.debug("planning the warm-up failed", exc_info=True)
            return
        self._warmer.schedule(partial(self._results, s) for s in states)

    def _on_frontend_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "rendered":
            self._start_warming()

    def close(self) -> None:
        warmer = getattr(self, "_warmer", None)  # None too when __init__ failed early
        if warmer is not None:
            warmer.stop()
        super().close()

    # -- static twins ---------------------------------------------------------------------------

    def to_png(self) -> bytes:
        """PNG bytes of ``plot()``."""
        import matplotlib.pyplot as plt

        figure = self.plot()
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=self._png_dpi, bbox_inches="tight")
        finally:
            plt.close(figure)
        return buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        try:  # the picture is a courtesy for saved notebooks; it must never break the display
            data["image/png"] = base64.b64encode(self.to_png()).decode("ascii")
        except Exception:  # noqa: BLE001
            pass
        return data, metadata

    def to_html(self, path: str | Path, *, states: Iterable[dict[str, Any]] | None = None) -> Path:
        """Writes a self-contained page (no kernel, no network) showing this widget.

        Args:
          path: the ``.html`` file to write.
          states: compute-trait states to store (default: the widget's own choice, e.g. every
            input and method for the Explorer); the page's controls work for these.

        Returns:
          The path written.
        """
        stored = []
        for state in self._static_states() if states is None else states:
            full = {**self._state(), **state}
            try:
                stored.append({"state": full, "result": self._results(full)})
            except Exception:  # noqa: BLE001 - a state that fails is just not stored
                continue
        text = page_html(
            title=type(self).__name__,
            esm=str(self._esm),
            css=str(getattr(self, "_css", "")),
            state={k: v for k, v in self.get_state().items() if k not in ("_esm", "_css")},
            stored=stored,
            compute_traits=self._compute_traits,
        )
        out = Path(path)
        out.write_text(text, encoding="utf-8")
        return out
