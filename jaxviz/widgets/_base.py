"""The base of every jaxviz anywidget: kernel requests, result cache, inline errors, static twins.

A subclass names its bundle (``_esm``/``_css`` in jaxviz/static/), lists the traits whose change
needs the kernel in ``_compute_traits`` and implements ``_compute(state) -> {trait: value}``.
The front end (js/lib/sync.js) bumps ``_request_id`` with its changes; the widget computes (or
takes from its cache) and answers every request through ``_reply = {id, seq, error}``, with the
result traits in the same message. Errors become a readable message in the widget, which keeps
its last good result and stays usable.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from ._html import STATIC, page_html


def static_asset(name: str) -> Path:
    """Path of a built front-end file in jaxviz/static/ (``npm run build`` writes them)."""
    return STATIC / name


def readable_error(error: BaseException) -> str:
    """The message a person sees in the widget for an exception raised while computing."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class JaxvizWidget(anywidget.AnyWidget):
    """Shared machinery of jaxviz widgets (see the module docstring for what subclasses set)."""

    _request_id = traitlets.Int(0).tag(sync=True)
    _reply = traitlets.Dict({"id": 0, "seq": 0, "error": None}).tag(sync=True)

    _esm: ClassVar[Path]  # the built front end, set by each widget (`static_asset(...)`)
    _compute_traits: ClassVar[tuple[str, ...]] = ()
    _cache_size: ClassVar[int] = 64
    _png_dpi: ClassVar[int] = 96

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._seq = 0
        self.observe(self._on_request, names=[*self._compute_traits, "_request_id"])

    # -- subclass interface -------------------------------------------------------------------

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        """Result trait values for ``state`` (the compute traits' values). Raise to report."""
        raise NotImplementedError

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
        key = tuple(sorted(state.items()))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result = self._compute(state)
        self._cache[key] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def refresh(self) -> None:
        """Computes (or takes from the cache) the current state's results and sends them."""
        try:
            result, error = self._results(self._state()), None
        except Exception as exc:  # shown in the widget, which keeps its last good result
            result, error = {}, readable_error(exc)
        self._seq += 1
        with self.hold_sync():
            for name, value in result.items():
                setattr(self, name, value)
            self._reply = {"id": self._request_id, "seq": self._seq, "error": error}

    def _on_request(self, change: dict[str, Any]) -> None:
        self.refresh()

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
