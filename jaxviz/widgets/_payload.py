"""Arrays and colormaps as binary payloads for the widgets' front ends.

An array crosses to the browser as ``{"buffer": memoryview, "dtype": "float32" | "uint8",
"shape": [...]}``: ipywidgets sends the memoryview as a binary buffer beside the JSON state, and
js/lib/ndarray.js rebuilds it as a typed array. Never JSON lists, never base64.
"""

from __future__ import annotations

from typing import Any, Literal

import matplotlib
import numpy as np

from .._display import DEFAULT_COLORMAPS

PayloadDtype = Literal["float32", "uint8"]
_DTYPES: dict[str, type[np.generic]] = {"float32": np.float32, "uint8": np.uint8}

# Colormaps the widgets offer: the colorblind-safe default for each sign first (one place:
# jaxviz._display), then a few other perceptually uniform or diverging choices.
WIDGET_COLORMAPS = tuple(
    dict.fromkeys([*DEFAULT_COLORMAPS.values(), "PuOr_r", "coolwarm", "cividis", "magma", "gray"])
)


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
    return {
        "buffer": data.reshape(-1).data.cast("B"),
        "dtype": dtype,
        "shape": list(data.shape),
    }


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
            f"cmap: expected a matplotlib colormap name, e.g. one of {list(WIDGET_COLORMAPS)}, "
            f"got {name!r}."
        ) from None
    return cmap(np.linspace(0.0, 1.0, 256), bytes=True)


def colormap_catalog(names: tuple[str, ...] = WIDGET_COLORMAPS) -> dict[str, Any]:
    """LUT payloads for a widget's colormap menu: ``{"names", "defaults", "luts"}``, where
    ``defaults`` maps each sign to its default colormap."""
    names = tuple(dict.fromkeys([*names, *DEFAULT_COLORMAPS.values()]))
    return {
        "names": list(names),
        "defaults": dict(DEFAULT_COLORMAPS),
        "luts": {n: array_payload(colormap_lut(n), "uint8") for n in names},
    }


def image_payload(images: Any) -> dict[str, Any]:
    """A batch of input images as the browser draws them: uint8 RGBA (n, H, W, 4), each image
    shown as `_display.display_image` decides (the look of the static plots)."""
    from .. import _display

    shown = [_display.display_image(image, name="x") for image in np.asarray(images)]
    rgb = np.stack([s if s.ndim == 3 else np.repeat(s[..., None], 3, -1) for s in shown])
    alpha = np.ones(rgb.shape[:-1] + (1,), np.float32)
    return array_payload(np.concatenate([rgb, alpha], -1) * 255, "uint8")
