"""Arrays and colormaps as binary payloads for the widgets' front ends.

An array crosses to the browser as ``{"buffer": memoryview, "dtype": "float32" | "uint8",
"shape": [...]}``: ipywidgets sends the memoryview as a binary buffer beside the JSON state, and
js/lib/ndarray.js rebuilds it as a typed array. Never JSON lists, never base64.
"""

from __future__ import annotations

from typing import Any, Literal

import matplotlib
import numpy as np

PayloadDtype = Literal["float32", "uint8"]
_DTYPES: dict[str, type[np.generic]] = {"float32": np.float32, "uint8": np.uint8}

# Colormaps the widgets offer, colorblind-safe ones first. The front end learns from
# `diverging` which ones have a meaningful middle (zero sits there).
DIVERGING_COLORMAPS = ("RdBu_r", "PuOr_r", "coolwarm", "BrBG")
SEQUENTIAL_COLORMAPS = ("viridis", "cividis", "magma", "inferno", "gray")
DEFAULT_DIVERGING = "RdBu_r"
DEFAULT_SEQUENTIAL = "magma"


def array_payload(array: Any, dtype: PayloadDtype = "float32") -> dict[str, Any]:
    """A NumPy or JAX array as a binary payload of the given dtype.

    Args:
      array: anything ``np.asarray`` accepts (a ``jax.Array`` is copied to host once).
      dtype: ``"float32"`` or ``"uint8"``; uint8 values must already lie in [0, 255].

    Returns:
      ``{"buffer": memoryview, "dtype": dtype, "shape": [int, ...]}``.

    >>> array_payload(np.ones((2, 3)))["shape"]
    [2, 3]
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    host = np.asarray(array)
    if dtype == "uint8" and host.dtype != np.uint8:
        if host.size and (np.nanmin(host) < 0 or np.nanmax(host) > 255):
            raise ValueError(
                f"array_payload(dtype='uint8') needs values in [0, 255], got range "
                f"[{np.nanmin(host)}, {np.nanmax(host)}]"
            )
        host = np.rint(host)
    data = np.ascontiguousarray(host, dtype=_DTYPES[dtype])
    # flat view: memoryview cannot cast a multi-axis view with a zero-length axis (empty arrays)
    return {"buffer": memoryview(data.reshape(-1)).cast("B"), "dtype": dtype, "shape": list(data.shape)}


def payload_array(payload: dict[str, Any]) -> np.ndarray:
    """The inverse of ``array_payload`` (used by tests and the static-page writer)."""
    return np.frombuffer(bytes(payload["buffer"]), dtype=_DTYPES[payload["dtype"]]).reshape(
        payload["shape"]
    )


def colormap_lut(name: str) -> np.ndarray:
    """matplotlib's colormap ``name`` sampled at 256 points, as uint8 RGBA of shape (256, 4)."""
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"cmap must be a matplotlib colormap name, got {name!r}; e.g. one of "
            f"{list(DIVERGING_COLORMAPS + SEQUENTIAL_COLORMAPS)}"
        ) from None
    return cmap(np.linspace(0.0, 1.0, 256), bytes=True)


def colormap_catalog(names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """LUT payloads for the widgets' colormap menu: ``{"names", "diverging", "luts"}``."""
    names = tuple(names or DIVERGING_COLORMAPS + SEQUENTIAL_COLORMAPS)
    return {
        "names": list(names),
        "diverging": [n for n in names if n.removesuffix("_r") in _DIVERGING_BASES],
        "luts": {n: array_payload(colormap_lut(n), "uint8") for n in names},
    }


_DIVERGING_BASES = {
    "RdBu", "PuOr", "coolwarm", "BrBG", "bwr", "seismic", "PiYG", "PRGn", "RdGy", "RdYlBu",
    "RdYlGn", "Spectral", "berlin", "managua", "vanimo",
}  # fmt: skip
