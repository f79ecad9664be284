"""A training run on disk, in open formats, written as it goes; and its TensorBoard export.

A run directory holds:

* ``manifest.json``: ``{"format": "jaxviz-run", "version": 1, "hparams": {...}, "layers": [...],
  ...}``, the run's static description (rewritten atomically when the layers become known);
* ``scalars.jsonl``: one JSON object per line, ``{"split": "train", "step": 12, "row": 12,
  "loss": 0.31}`` for each recorded step (``row`` counts ``Recorder.add`` calls) and
  ``{"split": "validation", "step": 100, "loss": 0.4}`` for each validation; NaN and infinities
  are written as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (JSON has no number for them);
* ``stats/000000.npz`` ...: per-layer statistics of the rows of one write (``first_row``,
  ``steps``, ``has_stats``, ``layers`` in the order of this chunk's columns, and the ``FlowStats``
  fields), plain arrays read with ``allow_pickle=False``.

Rows are written in batches of about ``fetch_every`` (by ``Recorder.add``), at every explicit
``Recorder.flush()``, and at the end of the process: the statistics chunk first (written to a
temporary name and renamed, so it is whole or absent), then the scalar lines, flushed to the
operating system. A process killed at any moment leaves a run that loads with every step up to its
last write; a line cut short by the kill is dropped, and so are chunk rows no line vouches for.

``export_tensorboard`` writes TensorBoard's event-file format itself (TFRecord framing around
``Event`` protocol buffers, encoded here by hand: scalars and histograms need a handful of
fields), so the core needs neither TensorFlow nor tensorboard.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ._stats import (
    ACTIVATION_KINDS,
    BINS_PER_DECADE,
    HIST_MAX_EXP,
    HIST_MIN_EXP,
    LAYER_FIELDS,
    FlowStats,
    fill_value,
    histogram_edges,
)

if TYPE_CHECKING:
    from ._recorder import Recorder

FORMAT = "jaxviz-run"
VERSION = 1
MANIFEST = "manifest.json"
SCALARS = "scalars.jsonl"
STATS = "stats"
# JSON-lines keys of their own, and the TensorBoard tag prefixes of the export: a metric cannot
# take these names.
RESERVED_KEYS = ("split", "step", "row")
RESERVED_PREFIXES = (
    "validation/",
    "grad_norm/",
    "param_norm/",
    "update_ratio/",
    "gradients/",
    "weights/",
    "activations/",
    "_hparams_/",
)
SPLITS = ("train", "validation")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# -- writing ----------------------------------------------------------------------------------


def check_hparams(hparams) -> dict:
    """Hyperparameters as a JSON object of scalars: ``{name: bool | int | float | str}``."""
    if hparams is None:
        return {}
    if not isinstance(hparams, Mapping):
        raise TypeError(f"hparams: expected a dict {{name: value}}, got {type(hparams).__name__}.")
    out = {}
    for name, value in hparams.items():
        if not isinstance(name, str):
            raise TypeError(f"hparams: names must be strings, got {name!r}.")
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, bool | int | float | str):
            raise TypeError(
                f"hparams[{name!r}]: expected a bool, int, float or str, got "
                f"{type(value).__name__} {value!r:.60}."
            )
        out[name] = value
    return out


def check_metrics(metrics: dict, argument: str = "metrics") -> None:
    """Metric names that the run format and the TensorBoard export can keep apart, and scalar
    values (a metric is one number per step)."""
    for name, value in metrics.items():
        if name in RESERVED_KEYS or name.startswith(RESERVED_PREFIXES):
            raise ValueError(
                f"{argument}: the name {name!r} is reserved (keys {RESERVED_KEYS} and the prefixes "
                f"{RESERVED_PREFIXES} are the run format's own); rename the metric."
            )
        if np.ndim(value) != 0:
            raise ValueError(
                f"{argument}[{name!r}]: expected one number per step, got shape "
                f"{np.shape(value)}; reduce it (e.g. .mean()) before recording."
            )


def _json_number(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _write_atomic(path: Path, write) -> None:
    """Write through ``write(file)`` to a temporary name, then rename: whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


class RunWriter:
    """Appends a ``Recorder``'s rows to a run directory (see the module docstring), in batches
    of at least ``batch_rows`` rows unless told to ``write`` now."""

    def __init__(self, directory, hparams: dict, *, batch_rows: int = 1):
        path = Path(directory)
        if (path / MANIFEST).exists():
            raise ValueError(
                f"directory: {str(path)!r} already holds a run; record each run in a directory of "
                "its own (load this one with jaxviz.flow.load_run)."
            )
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ValueError(
                f"directory: {str(path)!r} exists and is not an empty directory; pass a new or "
                "empty directory for the run."
            )
        (path / STATS).mkdir(parents=True, exist_ok=True)
        self.path = path
        self.chunks = 0
        self.batch_rows = batch_rows
        self._buffer: list[RunBatch] = []
        self.manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.time(),
            "hparams": hparams,
            "layers": [],
            "ordered": 0,
            "order_note": "",
            "sizes": [],
            "activation_names": [],
            "activation_kinds": [],
            "histogram": {
                "min_exp": HIST_MIN_EXP,
                "max_exp": HIST_MAX_EXP,
                "bins_per_decade": BINS_PER_DECADE,
            },
        }
        self._write_manifest()

    def set_meta(self, meta: FlowStats) -> None:
        """Record the layers (in the order the Recorder now keeps them) and activations."""
        update = {
            "layers": list(meta.layers),
            "ordered": meta.ordered,
            "order_note": meta.order_note,
            "sizes": list(meta.sizes),
            "activation_names": list(meta.activation_names),
            "activation_kinds": list(meta.activation_kinds),
        }
        if any(self.manifest[k] != v for k, v in update.items()):
            self.manifest.update(update)
            self._write_manifest()

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=1).encode()
        _write_atomic(self.path / MANIFEST, lambda f: f.write(text))

    def append(self, batch: RunBatch) -> None:
        """Buffer one fetch's rows; write once ``batch_rows`` rows are waiting."""
        layers = {b.layers for b in self._buffer if b.has_stats.any()}
        if batch.has_stats.any() and layers and layers != {batch.layers}:
            self.write()  # the layer order changed: one chunk holds one order
        self._buffer.append(batch)
        if self.buffered_rows >= self.batch_rows:
            self.write()

    @property
    def buffered_rows(self) -> int:
        """Rows waiting to be written."""
        return sum(len(b.steps) for b in self._buffer)

    def write(self) -> None:
        """Write the buffered rows: a statistics chunk (if any row had stats), then the scalar
        lines, flushed to the operating system."""
        if not self._buffer:
            return
        batches, self._buffer = self._buffer, []
        first_row = batches[0].first_row
        steps = np.concatenate([b.steps for b in batches])
        has_stats = np.concatenate([b.has_stats for b in batches])
        layers = next((b.layers for b in batches if b.has_stats.any()), ())
        fields = _concatenate([(len(b.steps), b.fields) for b in batches])
        metrics = _concatenate([(len(b.steps), b.metrics) for b in batches])
        given = _concatenate([(len(b.steps), b.given) for b in batches])
        validation = [v for b in batches for v in b.validation]
        if has_stats.any():
            arrays: dict[str, Any] = dict(
                first_row=np.array(first_row, np.int64),
                steps=steps,
                has_stats=has_stats,
                layers=np.array(layers, dtype=str),
                **fields,
            )
            chunk = self.path / STATS / f"{self.chunks:06d}.npz"
            _write_atomic(chunk, lambda f: np.savez(f, **arrays))
            self.chunks += 1
        lines = []
        for i, step in enumerate(steps):
            line = {"split": "train", "step": int(step), "row": first_row + i}
            line.update(
                {name: _json_number(metrics[name][i]) for name in metrics if given[name][i]}
            )
            lines.append(json.dumps(line))
        for step, values in validation:
            line = {"split": "validation", "step": int(step)}
            line.update({name: _json_number(v) for name, v in values.items()})
            lines.append(json.dumps(line))
        with open(self.path / SCALARS, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()


class RunBatch(NamedTuple):
    """The rows of one Recorder fetch, as they go to disk."""

    first_row: int
    steps: np.ndarray
    has_stats: np.ndarray
    layers: tuple[str, ...]
    fields: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    given: dict[str, np.ndarray]
    validation: list[tuple[int, dict[str, float]]]


def _concatenate(parts: list[tuple[int, dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """Columns of consecutive batches joined; a batch without a column gets its fill value
    (NaN, 0, or False for a "given" mask)."""
    templates = {name: values for _, columns in parts for name, values in columns.items()}
    return {
        name: np.concatenate(
            [
                columns[name]
                if name in columns
                else np.full((n, *t.shape[1:]), fill_value(t.dtype), t.dtype)
                for n, columns in parts
            ]
        )
        for name, t in templates.items()
    }


# -- reading ----------------------------------------------------------------------------------


def _not_a_run(path: Path, why: str) -> ValueError:
    return ValueError(
        f"directory: {str(path)!r} is not a jaxviz run ({why}); a run directory is written by "
        "jv.Recorder(directory=...) and holds manifest.json, scalars.jsonl and stats/."
    )


def _read_manifest(path: Path) -> dict:
    if not path.is_dir():
        raise _not_a_run(path, "no such directory")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _not_a_run(path, f"no {MANIFEST}") from None
    except json.JSONDecodeError as err:
        raise _not_a_run(path, f"{MANIFEST} is not JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_a_run(path, f"{MANIFEST} does not say format {FORMAT!r}")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"directory: {str(path)!r} is a run of format version {manifest.get('version')!r}; "
            f"this jaxviz reads version {VERSION}."
        )
    return manifest


def _read_scalars(path: Path) -> tuple[list[dict], list[dict]]:
    """Train and validation lines, in order; a last line cut short by a crash is dropped."""
    file = path / SCALARS
    if not file.exists():
        return [], []
    text = file.read_text(encoding="utf-8")
    complete = text.split("\n")[:-1]  # a whole line ends with "\n"; a cut-short tail does not
    train, validation = [], []
    for number, line in enumerate(complete, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}: line {number} is not JSON ({err}): {line[:80]!r}") from None
        if entry.get("split") not in SPLITS or not isinstance(entry.get("step"), int):
            raise ValueError(
                f"{file}: line {number} has no split in {SPLITS} and integer step: {line[:80]!r}"
            )
        (train if entry["split"] == "train" else validation).append(entry)
    for row, entry in enumerate(train):
        if entry.get("row") != row:
            raise ValueError(
                f"{file}: train line for step {entry['step']} says row {entry.get('row')}, "
                f"expected {row}: lines are missing or out of order."
            )
    return train, validation


def _metric_values(entry: dict) -> dict[str, float]:
    out = {}
    for name, value in entry.items():
        if name in RESERVED_KEYS:
            continue
        out[name] = _NONFINITE[value] if isinstance(value, str) else float(value)
    return out


def _read_chunk(file: Path, layers: list[str], rows: int) -> tuple[int, dict[str, np.ndarray]]:
    """A statistics chunk's first row and its fields, layers put in the manifest's order and
    cut to the ``rows`` rows the scalar lines vouch for."""
    with np.load(file, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    first, steps = int(arrays.pop("first_row")), arrays.pop("steps")
    has_stats, chunk_layers = arrays.pop("has_stats"), [str(n) for n in arrays.pop("layers")]
    for name, values in arrays.items():
        if len(values) != len(steps):
            raise ValueError(
                f"{file}: series {name!r} has {len(values)} rows but steps has {len(steps)}; "
                "every field of a chunk has one row per step."
            )
    if sorted(chunk_layers) != sorted(layers):
        raise ValueError(f"{file}: layers {chunk_layers} differ from the manifest's {layers}.")
    perm = [chunk_layers.index(n) for n in layers]
    keep = max(0, min(len(steps), rows - first))
    fields = {
        name: (values[:, perm] if name in LAYER_FIELDS else values)[:keep]
        for name, values in arrays.items()
    }
    fields["_steps"], fields["_has_stats"] = steps[:keep], has_stats[:keep]
    return first, fields


def _meta_from(manifest: dict) -> FlowStats | None:
    layers = tuple(manifest["layers"])
    if not layers:
        return None
    kinds = tuple(manifest["activation_kinds"])
    if any(k not in ACTIVATION_KINDS for k in kinds):
        raise ValueError(f"{MANIFEST}: activation kinds {kinds} are not all in {ACTIVATION_KINDS}.")
    empty: Any = np.zeros(len(layers), np.float32)  # only the static fields are read
    return FlowStats(
        grad_norm=empty,
        param_norm=empty,
        nonfinite=empty,
        grad_hist=empty,
        param_hist=empty,
        layers=layers,
        ordered=int(manifest["ordered"]),
        order_note=str(manifest["order_note"]),
        sizes=tuple(int(s) for s in manifest["sizes"]),
        activation_names=tuple(manifest["activation_names"]),
        activation_kinds=kinds,
    )


def load_run(directory) -> Recorder:
    """Load a run directory written by ``jv.Recorder(directory=...)`` into a new ``Recorder``.

    Every recorded row comes back (the capacity is made large enough), with its metrics,
    validation series, hyperparameters and per-layer statistics, so ``diagnose``, the plots and
    the monitor work on it as on the live one. A run cut short by a crash loads up to its last
    flush.

    Args:
      directory: the run's directory.

    Returns:
      A ``Recorder`` holding the run (it does not write to the directory).
    """
    from ._recorder import Recorder

    path = Path(directory)
    manifest = _read_manifest(path)
    train, validation = _read_scalars(path)
    rows = len(train)
    rec = Recorder(capacity=max(8, rows + rows % 2), hparams=manifest.get("hparams") or {})
    meta = _meta_from(manifest)
    steps = np.array([entry["step"] for entry in train], np.int64)
    fields: dict[str, np.ndarray] = {}
    for file in sorted((path / STATS).glob("*.npz")):
        first, chunk = _read_chunk(file, list(manifest["layers"]), rows)
        n = len(chunk.pop("_steps"))
        has = chunk.pop("_has_stats")
        for name, values in chunk.items():
            if name not in fields:
                fill = np.nan if np.issubdtype(values.dtype, np.floating) else 0
                fields[name] = np.full((rows, *values.shape[1:]), fill, values.dtype)
            fields[name][first : first + n][has] = values[has]
    metrics: dict[str, np.ndarray] = {}
    for row, entry in enumerate(train):
        for name, value in _metric_values(entry).items():
            metrics.setdefault(name, np.full(rows, np.nan))[row] = value
            if not math.isfinite(value):
                rec.first_nonfinite_metrics.setdefault(name, (entry["step"], value))
    rec._restore(meta if fields else None, steps, fields, metrics)  # no chunk: no statistics
    for entry in validation:
        rec._add_validation_values(entry["step"], _metric_values(entry))
    return rec


# -- TensorBoard ----------------------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord uses."""
    c = 0xFFFFFFFF
    for byte in data:
        c = _CRC_TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + data
        + struct.pack("<I", _masked_crc(data))
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def _double_field(number: int, x: float) -> bytes:
    return _field(number, 1) + struct.pack("<d", x)


def _event(wall_time: float, step: int, *, file_version: str = "", summary: bytes = b"") -> bytes:
    """An ``Event``: wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5."""
    out = _double_field(1, wall_time) + _field(2, 0) + _varint(step)
    if file_version:
        out += _bytes_field(3, file_version.encode())
    if summary:
        out += _bytes_field(5, summary)
    return out


def _scalar_value(tag: str, x: float) -> bytes:
    """A ``Summary.Value`` with tag = 1 and simple_value = 2 (float)."""
    return _bytes_field(1, tag.encode()) + _field(2, 5) + struct.pack("<f", x)


def _histogram_value(tag: str, counts: np.ndarray, limits: np.ndarray, lo: float, hi: float):
    """A ``Summary.Value`` with histo = 5: a ``HistogramProto`` (min 1, max 2, num 3, sum 4,
    sum_squares 5, packed bucket_limit 6 and bucket 7). Values are known only by bin, so sum and
    sum_squares are taken at the bins' centres."""
    counts = counts.astype(np.float64)
    centres = np.concatenate([[lo], (limits[:-1] + limits[1:]) / 2])[: len(counts)]
    histo = (
        _double_field(1, lo)
        + _double_field(2, hi)
        + _double_field(3, float(counts.sum()))
        + _double_field(4, float((counts * centres).sum()))
        + _double_field(5, float((counts * centres**2).sum()))
        + _bytes_field(6, struct.pack(f"<{len(limits)}d", *limits))
        + _bytes_field(7, struct.pack(f"<{len(counts)}d", *counts))
    )
    return _bytes_field(1, tag.encode()) + _bytes_field(5, histo)


def _hparams_value(hparams: dict) -> bytes:
    """The ``Summary.Value`` TensorBoard's HParams dashboard reads a run's hyperparameters from:
    tag ``_hparams_/session_start_info``, metadata = 9 with ``plugin_data`` = 1 (``plugin_name``
    = 1 "hparams", ``content`` = 2: an ``HParamsPluginData`` with version = 1 and
    ``session_start_info`` = 3, whose ``hparams`` = 1 map holds ``google.protobuf.Value``s:
    number_value = 2, string_value = 3, bool_value = 4), and an empty float tensor = 8 (dtype = 1
    DT_FLOAT, tensor_shape = 2) as the plugin writes it."""
    entries = b""
    for name, value in hparams.items():
        if isinstance(value, bool):
            encoded = _field(4, 0) + _varint(int(value))
        elif isinstance(value, int | float):
            encoded = _double_field(2, float(value))
        else:
            encoded = _bytes_field(3, str(value).encode())
        entries += _bytes_field(1, _bytes_field(1, name.encode()) + _bytes_field(2, encoded))
    content = _field(1, 0) + _varint(0) + _bytes_field(3, entries)
    plugin_data = _bytes_field(1, b"hparams") + _bytes_field(2, content)
    metadata = _bytes_field(1, plugin_data)
    tensor = _field(1, 0) + _varint(1) + _bytes_field(2, b"")
    return (
        _bytes_field(1, b"_hparams_/session_start_info")
        + _bytes_field(8, tensor)
        + _bytes_field(9, metadata)
    )


def _summary(values: list[bytes]) -> bytes:
    return b"".join(_bytes_field(1, v) for v in values)


def export_tensorboard(source, logdir, *, max_histogram_steps: int = 100) -> Path:
    """Write a run as a TensorBoard event file, so ``tensorboard --logdir`` shows it.

    Tags: each training metric by its name (NaN values are left out: in a Recorder's table NaN
    also means "not given"), validation metrics as ``validation/<name>``,
    ``grad_norm/<layer>``, ``param_norm/<layer>`` and ``update_ratio/<layer>`` as scalars, and
    ``gradients/<layer>`` / ``weights/<layer>`` / ``activations/<name>`` histograms on jaxviz's
    fixed signed log-magnitude bins (``histogram_edges``; each bucket's limit is its right edge)
    at up to ``max_histogram_steps`` steps spread evenly over the run, the last one included
    (TFRecord's CRC-32C is computed in Python here, about 1 s per 10 MB of histograms). The
    hyperparameters go to TensorBoard's HParams dashboard (its ``session_start_info``), so runs
    exported into sibling directories of one logdir form its table.

    Args:
      source: a ``Recorder`` or a run directory.
      logdir: the directory to write the event file into (created if needed).
      max_histogram_steps: how many steps get histograms (scalars are written at every step).

    Returns:
      The event file's path.
    """
    from ._recorder import Recorder

    if not isinstance(max_histogram_steps, int) or max_histogram_steps < 1:
        raise ValueError(f"max_histogram_steps: expected an int >= 1, got {max_histogram_steps!r}.")
    rec = source if isinstance(source, Recorder) else load_run(source)
    out = Path(logdir)
    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    file = out / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.jaxviz"
    steps, meta = rec.steps, rec.meta
    per_step: dict[int, list[bytes]] = {}

    def put(step, value):
        per_step.setdefault(int(step), []).append(value)

    for name, values in rec.metrics.items():
        for step, x in zip(steps, values):
            if not np.isnan(x):
                put(step, _scalar_value(name, float(x)))
    for name, (v_steps, values) in rec.validation.items():
        for step, x in zip(v_steps, values):
            put(step, _scalar_value(f"validation/{name}", float(x)))
    if meta is not None:
        edges = histogram_edges()
        limits, lo, hi = edges[1:], float(edges[0]), float(edges[-1])
        for field in ("grad_norm", "param_norm", "update_ratio"):
            values = rec.field(field)
            if values is None:
                continue
            for i, step in enumerate(steps):
                for j, layer in enumerate(meta.layers):
                    if np.isfinite(values[i, j]):
                        put(step, _scalar_value(f"{field}/{layer}", float(values[i, j])))
        spread = np.linspace(0, len(steps) - 1, min(max_histogram_steps, len(steps)))
        histograms = (
            ("grad_hist", "gradients", meta.layers),
            ("param_hist", "weights", meta.layers),
            ("activation_hist", "activations", meta.activation_names),
        )
        for field, tag, names in histograms:
            counts = rec.field(field)
            if counts is None:
                continue
            for i in np.unique(np.round(spread).astype(int)):
                step = steps[i]
                for j, layer in enumerate(names):
                    if counts[i, j].sum() > 0:
                        put(step, _histogram_value(f"{tag}/{layer}", counts[i, j], limits, lo, hi))
    with open(file, "wb") as f:
        f.write(tfrecord(_event(now, 0, file_version="brain.Event:2")))
        if rec.hparams:
            f.write(tfrecord(_event(now, 0, summary=_summary([_hparams_value(rec.hparams)]))))
        for step in sorted(per_step):
            f.write(tfrecord(_event(now, step, summary=_summary(per_step[step]))))
    return file
