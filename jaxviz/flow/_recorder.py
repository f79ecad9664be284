"""Host-side store of per-step ``FlowStats`` with bounded memory.

``Recorder.add`` keeps the device arrays it is given and fetches them to the host in batches
(every ``fetch_every`` steps, or when someone reads), so recording never blocks the train loop on
each step. Storage is a fixed set of preallocated numpy arrays with ``capacity`` rows: when they
fill up, the older half is thinned to every second row. The most recent ``capacity // 2`` steps are
always kept at full resolution, older ones at progressively coarser spacing (every 2nd, 4th, ...),
and memory never grows past ``capacity`` rows however many steps are recorded.

Given the model (``Recorder(model=m)``), the Recorder keeps the layers in the order the model calls
them, whatever order the statistics came in: the train step can call ``flow_stats(grads, params,
updates)`` without the model, and the monitor, the plots and ``diagnose`` still see forward order.
"""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from .._model import Model
from ._order import NOT_RUN, call_order, check_order_source
from ._runs import RunBatch, RunWriter, check_hparams, check_metrics
from ._stats import LAYER_FIELDS, FlowStats, fill_value, reorder

_ARRAY_FIELDS = (*LAYER_FIELDS, "dead_fraction", "saturated_fraction", "activation_hist")


class Recorder:
    """Keeps training statistics and scalar metrics for any number of steps in bounded memory.

    Args:
      capacity: rows kept at most (even, >= 8). Each row is one recorded step.
      fetch_every: steps buffered on the device before one batched transfer to the host.
      model: the wrapped model being trained (``jv.wrap(net, example=x)``): layers are kept in the
        order it calls them, read from it once it has run on an input (``example=``, any call or
        explanation; until then the statistics' own order stands). It overrides the order the
        statistics came with.
      order: instead of ``model``, layer names in forward order (for a plain pytree).
      hparams: the run's hyperparameters, ``{name: bool | int | float | str}``.
      directory: where to save the run as it goes (a new or empty directory; see
        ``jaxviz.flow.load_run`` and ``export_tensorboard``). Every flush appends to it, so a
        run killed mid-way keeps every step up to its last flush.

    >>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    >>> stats = jv.flow_stats(params, params)   # in a train loop: from each step's gradients
    >>> rec = Recorder(capacity=16, hparams={"lr": 0.1}, directory="runs/demo")
    >>> for step in range(200):
    ...     rec.add(stats, loss=1.0 / (step + 1))
    ...     if step % 100 == 99:
    ...         rec.add_validation(loss=2.0 / (step + 1))
    >>> len(rec.steps) <= 16, int(rec.steps[-1]), rec.field("grad_norm").shape
    (True, 199, (16, 1))
    >>> rec.validation["loss"][0]                 # the steps of the validation series
    array([ 99, 199])
    """

    def __init__(
        self,
        capacity: int = 1024,
        fetch_every: int = 32,
        *,
        model: Model | None = None,
        order: Sequence[str] | None = None,
        hparams: dict | None = None,
        directory=None,
    ):
        if not isinstance(capacity, int) or capacity < 8 or capacity % 2:
            raise ValueError(f"capacity: expected an even int >= 8, got {capacity!r}.")
        if not isinstance(fetch_every, int) or fetch_every < 1:
            raise ValueError(f"fetch_every: expected an int >= 1, got {fetch_every!r}.")
        check_order_source(model, order)
        self.capacity = capacity
        self.fetch_every = fetch_every
        self.model = model
        self._order = None if order is None else tuple(order)
        # layer permutation from the statistics' rows to the stored ones, once the order is known
        self._perm: np.ndarray | None = None
        self._arranged: FlowStats | None = None
        self.hparams = check_hparams(hparams)
        self._rows = 0  # rows flushed so far, over the whole run (thinning does not change it)
        self._validation: dict[str, tuple[list[int], list[float]]] = {}
        self._pending_validation: list[tuple[int, dict]] = []
        self._writer = None
        if directory is not None:
            self._writer = RunWriter(directory, self.hparams, batch_rows=fetch_every)
            atexit.register(_flush_at_exit, weakref.ref(self))
        self._pending: list[tuple[int, FlowStats | None, dict]] = []
        self._size = 0
        self._next_step = 0
        self._steps = np.zeros(capacity, np.int64)
        self._fields: dict[str, np.ndarray] = {}
        self._metrics: dict[str, np.ndarray] = {}
        self._meta: FlowStats | None = None
        # {metric: (step, value)} of the first NaN/inf seen; NaN in the table also means "not
        # given".
        self.first_nonfinite_metrics: dict[str, tuple[int, float]] = {}
        self._listeners: list[Callable[[Recorder], None]] = []
        self.version = 0  # bumps whenever stored data changes; lets viewers skip redundant work

    # ---- writing -------------------------------------------------------------------------
    def add(self, stats: FlowStats | None = None, *, step: int | None = None, **metrics) -> None:
        """Record one step: its ``FlowStats`` (from ``flow_stats``) and scalar metrics (loss=...).

        Arrays may still be on the device; nothing here waits for them.
        """
        if stats is not None and not isinstance(stats, FlowStats):
            raise TypeError(
                f"stats: expected the FlowStats from flow_stats(), got {type(stats).__name__}."
            )
        check_metrics(metrics)
        step = self._next_step if step is None else int(step)
        self._next_step = step + 1
        self._pending.append((step, stats, metrics))
        unwritten = 0 if self._writer is None else self._writer.buffered_rows
        if len(self._pending) + unwritten >= self.fetch_every:
            self.flush()
        for listener in self._listeners:
            listener(self)

    def add_validation(self, *, step: int | None = None, **metrics) -> None:
        """Record validation metrics (``loss=...``) evaluated at ``step`` (default: the step last
        added), e.g. every k training steps. They form their own series (``validation``)."""
        check_metrics(metrics)
        step = max(self._next_step - 1, 0) if step is None else int(step)
        self._pending_validation.append((step, metrics))
        for listener in self._listeners:
            listener(self)

    def flush(self) -> None:
        """Fetch buffered steps to the host and, with a ``directory``, append every fetched row
        to the run there (``add`` does this every ``fetch_every`` steps, and so does the end of
        the Python process)."""
        self._fetch()
        if self._writer is not None:
            self._writer.write()

    def _fetch(self) -> None:
        """Fetch buffered steps to the host: each field of all of them stacked on the device and
        copied in one transfer (per-step, per-field copies would cost more than a small step).
        Rows for the run directory wait in its writer until ``fetch_every`` of them are there,
        so a viewer reading often does not cut the run into many small files."""
        validation = self._flush_validation()
        if not self._pending:
            self._adopt_order()
            if validation:
                self._save(np.zeros(0, np.int64), np.zeros(0, bool), {}, {}, {}, validation)
            return
        pending, self._pending = self._pending, []
        steps = np.array([step for step, _, _ in pending], np.int64)
        rows = {}
        with_stats = [i for i, (_, stats, _) in enumerate(pending) if stats is not None]
        group = [stats for _, stats, _ in pending if stats is not None]
        for stats in group:
            self._check_meta(stats)
        metric_names = list(dict.fromkeys(name for _, _, metrics in pending for name in metrics))
        given = {name: np.array([name in m for _, _, m in pending]) for name in metric_names}
        values = {name: [m.get(name, np.nan) for _, _, m in pending] for name in metric_names}
        stacked, metrics = jax.device_get(_stack(group, values))
        self._adopt_order()
        if with_stats:
            for name in _ARRAY_FIELDS:
                value = getattr(stacked, name)
                if value is not None:
                    if self._perm is not None and name in LAYER_FIELDS:
                        value = value[:, self._perm]
                    column = np.full(
                        (len(pending), *value.shape[1:]), fill_value(value.dtype), value.dtype
                    )
                    column[with_stats] = value
                    rows[name] = column
        metrics = {name: np.asarray(v, np.float64) for name, v in metrics.items()}
        for name, column in metrics.items():
            bad = np.flatnonzero(given[name] & ~np.isfinite(column))
            if bad.size:
                self.first_nonfinite_metrics.setdefault(
                    name, (int(steps[bad[0]]), float(column[bad[0]]))
                )
        has_stats = np.zeros(len(pending), bool)
        has_stats[with_stats] = True
        self._save(steps, has_stats, rows, metrics, given, validation)
        self._store(steps, rows, metrics)
        self.version += 1

    def _flush_validation(self) -> list[tuple[int, dict[str, float]]]:
        """Buffered validation metrics, fetched and added to the ``validation`` series."""
        if not self._pending_validation:
            return []
        pending, self._pending_validation = self._pending_validation, []
        fetched = jax.device_get([metrics for _, metrics in pending])
        out = []
        for (step, _), metrics in zip(pending, fetched):
            values = {name: float(v) for name, v in metrics.items()}
            self._add_validation_values(step, values)
            out.append((step, values))
        self.version += 1
        return out

    def _add_validation_values(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            steps, series = self._validation.setdefault(name, ([], []))
            steps.append(int(step))
            series.append(value)

    def _save(self, steps, has_stats, rows, metrics, given, validation) -> None:
        """Append one flush to the run directory, if there is one."""
        if self._writer is None:
            return
        meta = self._current_meta()
        if meta is not None:
            self._writer.set_meta(meta)
        layers = meta.layers if meta is not None else ()
        self._writer.append(
            RunBatch(self._rows, steps, has_stats, layers, rows, metrics, given, validation)
        )
        self._rows += len(steps)

    def _restore(self, meta, steps, fields, metrics) -> None:
        """Fill an empty Recorder with a loaded run's rows (``load_run``)."""
        self._meta = meta
        self._store(steps, fields, metrics)
        self._next_step = int(steps[-1]) + 1 if len(steps) else 0
        self.version += 1

    def _store(
        self, steps: np.ndarray, rows: dict[str, np.ndarray], metrics: dict[str, np.ndarray]
    ) -> None:
        """Append a batch of rows, thinning whenever the store is full."""
        start = 0
        while start < len(steps):
            if self._size == self.capacity:
                self._thin()
            count = min(self.capacity - self._size, len(steps) - start)
            target = slice(self._size, self._size + count)
            source = slice(start, start + count)
            self._steps[target] = steps[source]
            for name, values in rows.items():
                self._column(self._fields, name, values.shape[1:], values.dtype)[target] = values[
                    source
                ]
            for name, values in metrics.items():
                self._column(self._metrics, name, (), np.float64)[target] = values[source]
            self._size += count
            start += count

    def _column(self, table: dict, name: str, shape: tuple, dtype) -> np.ndarray:
        if name not in table:
            table[name] = np.full((self.capacity, *shape), fill_value(dtype), dtype=dtype)
        return table[name]

    def _check_meta(self, stats: FlowStats) -> None:
        if self._meta is None:
            self._meta = stats
        elif (stats.layers, stats.activation_names) != (
            self._meta.layers,
            self._meta.activation_names,
        ):
            raise ValueError(
                f"stats: layers {stats.layers} / activations {stats.activation_names} differ from "
                f"the first recorded step's {self._meta.layers} / {self._meta.activation_names}; "
                "use one Recorder per model."
            )

    def _adopt_order(self) -> None:
        """Put the layers in the model's (or ``order``'s) forward order as soon as it is known:
        the rows stored so far are permuted once, later ones as they arrive."""
        if self._perm is not None or self._meta is None or (self.model is None and not self._order):
            return
        forward = self._order if self.model is None else call_order(self.model)
        if forward is None:
            return
        self._arranged, self._perm = reorder(self._meta, forward)
        for name in LAYER_FIELDS:
            if name in self._fields:
                self._fields[name] = self._fields[name][:, self._perm]
        if self._writer is not None:
            self._writer.set_meta(self._arranged)

    def _thin(self) -> None:
        half = self.capacity // 2
        keep = np.concatenate([np.arange(0, half, 2), np.arange(half, self.capacity)])
        for table in (self._fields, self._metrics):
            for name, column in table.items():
                column[: len(keep)] = column[keep]
        self._steps[: len(keep)] = self._steps[keep]
        self._size = len(keep)

    # ---- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        self._fetch()
        return self._size

    @property
    def steps(self) -> np.ndarray:
        """The recorded step numbers, oldest first."""
        self._fetch()
        return self._steps[: self._size].copy()

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers, as the rows of every per-layer field: forward order first (``meta``)."""
        meta = self.meta
        return meta.layers if meta else ()

    @property
    def meta(self) -> FlowStats | None:
        """The first recorded ``FlowStats`` for its static fields (layers, sizes, activations),
        with the layers in the forward order the Recorder knows (``ordered`` of them, and
        ``order_note`` saying why not the rest)."""
        self._fetch()
        return self._current_meta()

    def _current_meta(self) -> FlowStats | None:
        if self._arranged is not None:
            return self._arranged
        if self._meta is not None and self.model is not None and self._meta.ordered == 0:
            return replace(self._meta, order_note=NOT_RUN)
        return self._meta

    @property
    def validation(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Validation metrics by name: ``(steps, values)``, one entry per ``add_validation``."""
        self._fetch()
        return {
            name: (np.array(steps, np.int64), np.array(values, np.float64))
            for name, (steps, values) in self._validation.items()
        }

    def field(self, name: str) -> np.ndarray | None:
        """A stats field over the recorded steps, ``(steps, layers, ...)``; None if never given."""
        if name not in _ARRAY_FIELDS:
            raise ValueError(f"name: expected one of {_ARRAY_FIELDS}, got {name!r}.")
        self._fetch()
        column = self._fields.get(name)
        return None if column is None else column[: self._size]

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """Scalar metrics by name, aligned with ``steps`` (NaN where a step did not give one)."""
        self._fetch()
        return {name: column[: self._size] for name, column in self._metrics.items()}

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored rows' arrays (preallocated, so fixed once all fields exist)."""
        tables = (*self._fields.values(), *self._metrics.values(), self._steps)
        return int(sum(a.nbytes for a in tables))

    # ---- live viewers ----------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Recorder], None]) -> None:
        """Call ``listener(recorder)`` after every ``add`` (listeners throttle themselves)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Recorder], None]) -> None:
        self._listeners = [x for x in self._listeners if x is not listener]


@jax.jit
def _stack(stats: list, metrics: dict[str, list]):
    """Every buffered step's fields stacked in one compiled call (one transfer per field after)."""
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *stats) if stats else None
    return stacked, {
        name: jnp.stack([jnp.asarray(v, jnp.float32) for v in vs]) for name, vs in metrics.items()
    }


def _flush_at_exit(ref: weakref.ref) -> None:
    """Write a run's last rows when the process ends normally (a kill keeps the last flush)."""
    recorder = ref()
    if recorder is not None:
        recorder.flush()
