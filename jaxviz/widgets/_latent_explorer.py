"""LatentExplorer: walk an autoencoder's latent space.

The encoded dataset is drawn as a scatter (the latents themselves for a 2-D latent, their PCA
projection otherwise) over a grid of decoded latents on the same plane: the grid is decoded once
(one batched program) and sent, so hovering shows the decoding under the cursor with no kernel
round trip. A slider per latent dimension sets one latent exactly (decoded in the kernel: one
image), and clicking two examples decodes the interpolation strip between their latents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from ..latent import Autoencoder, encode_dataset, interpolate, latent_plane
from ._base import JaxvizWidget, static_asset
from ._payload import array_payload, colormap_lut

MAX_SLIDERS = 16


def _class_colors(classes: int) -> np.ndarray:
    """uint8 RGBA (classes, 4): tab10 (tab20 beyond 10 classes)."""
    name = "tab10" if classes <= 10 else "tab20"
    lut = colormap_lut(name)
    count = 10 if name == "tab10" else 20
    return lut[(np.arange(classes) % count) * 255 // max(count - 1, 1)]


def shown_images(images: np.ndarray, output_ndim: int) -> np.ndarray:
    """Decoded outputs (..., *output_shape) as the browser draws them, (..., H, W, C): an
    (H, W, C) output as is, (H, W) with C = 1, a flat vector (d,) as a one-row image."""
    if output_ndim == 3:
        return images
    if output_ndim == 2:
        return images[..., None]
    if output_ndim == 1:
        return images[..., None, :, None]
    raise ValueError(f"model: the decoder's output must be an image (H, W[, C]) or a "
                     f"vector per example to be drawn, got {output_ndim} axes.")


class LatentExplorer(JaxvizWidget):
    """Explore an autoencoder's latent space: a decoded plane under the encoded data, a slider
    per latent dimension, and an interpolation strip between two picked inputs.

    Args:
      model: a :class:`jaxviz.Autoencoder` (plain or variational; for a VQ autoencoder use
        :class:`CodebookView`).
      data: inputs (n, ...) to encode and draw (up to ``max_points`` of them).
      labels: (n,) integer classes to color the points by, or None.
      class_names: a name per class for the legend.
      steps: decoded grid points per side of the plane.
      strip: latents in the interpolation strip (both ends included).
      path: the strip's path, ``"linear"`` or ``"spherical"``.
      max_points: most examples drawn.

    Traits a person (or a test) sets: ``latent`` (one value per dimension, the sliders) and
    ``pair`` (two example indices, the strip's ends).
    """

    _esm = static_asset("latent_explorer.js")
    _css = static_asset("latent_explorer.css")
    _compute_traits = ("latent", "pair")

    points = traitlets.Dict().tag(sync=True)
    labels = traitlets.Dict().tag(sync=True)
    colors = traitlets.Dict().tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    plane = traitlets.Dict().tag(sync=True)
    axes = traitlets.Dict().tag(sync=True)
    center = traitlets.Dict().tag(sync=True)
    span = traitlets.Float(3.0).tag(sync=True)
    value_range = traitlets.List(traitlets.Float()).tag(sync=True)
    slider_ranges = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    projection = traitlets.Unicode().tag(sync=True)
    latent = traitlets.List(traitlets.Float()).tag(sync=True)
    pair = traitlets.List(traitlets.Int()).tag(sync=True)
    preview = traitlets.Dict().tag(sync=True)
    strip = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        model: Autoencoder,
        data: Any,
        *,
        labels: Any = None,
        class_names: Any = None,
        steps: int = 20,
        strip: int = 8,
        path: str = "linear",
        max_points: int = 2000,
        **kwargs: Any,
    ):
        if not isinstance(model, Autoencoder):
            raise TypeError(
                f"model: expected a jaxviz.Autoencoder (jv.Autoencoder(encode, decode, "
                f"...)), got {type(model).__name__}."
            )
        if model.quantized:
            raise ValueError("model: a vector-quantized autoencoder's latents are codes; "
                             "use jv.CodebookView for it.")
        x = model.check_inputs(data, "data")
        keep = np.linspace(0, len(x) - 1, min(len(x), max_points)).astype(int)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"labels: expected one integer class per example ({len(x)}), "
                                 f"got shape {labels.shape} and dtype {labels.dtype}.")
            labels = labels[keep]
        x = x[keep]
        self.autoencoder = model
        self.x = x
        self._ndim = len(model.output_shape)
        self.strip_steps = strip
        self.path = path
        embedding = encode_dataset(model, x, labels)
        self.embedding = embedding
        points = np.asarray(embedding.points, np.float32)
        span = float(np.abs(points).max()) * 1.1 or 1.0
        plane = latent_plane(model, embedding.center, directions=embedding.axes,
                             span=span, steps=steps)
        images = np.asarray(plane.images, np.float32)
        flat = np.asarray(embedding.latents, np.float32).reshape(len(x), -1)
        lo, hi = np.percentile(flat, 1, axis=0), np.percentile(flat, 99, axis=0)
        pad = 0.25 * np.maximum(hi - lo, 1e-3)
        classes = 0 if labels is None else int(labels.max()) + 1
        names = list(class_names) if class_names is not None else [str(c) for c in range(classes)]
        start = flat.mean(0) if embedding.center is None else embedding.center
        super().__init__(
            points=array_payload(points),
            labels=array_payload(np.full(len(x), -1.0) if labels is None else labels),
            colors=array_payload(_class_colors(max(classes, 1)), "uint8"),
            class_names=names,
            plane=array_payload(shown_images(images, self._ndim)),
            axes=array_payload(embedding.axes),
            center=array_payload(embedding.center),
            span=span,
            value_range=[float(images.min()), float(images.max())],
            slider_ranges=[[float(a), float(b)] for a, b in zip(lo - pad, hi + pad, strict=True)],
            projection=embedding.projection,
            latent=[float(v) for v in start],
            pair=[0, min(1, len(x) - 1)],
            **kwargs,
        )
        self.plane_latents = np.asarray(plane.latents, np.float32)
        self.refresh()

    def _state(self) -> dict[str, Any]:
        # lists as tuples: the state is a cache key
        return {"latent": tuple(self.latent), "pair": tuple(self.pair)}

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        latent = np.asarray(state["latent"], np.float32)
        if latent.shape != (self.autoencoder.latent_size,):
            raise ValueError(f"latent: expected {self.autoencoder.latent_size} values, got "
                             f"{latent.shape[0]}.")
        if not np.isfinite(latent).all():
            raise ValueError("latent: expected finite values, got NaN or inf.")
        a, b = state["pair"]
        for i in (a, b):
            if not 0 <= i < len(self.x):
                raise ValueError(f"pair: example index {i} out of range [0, {len(self.x)}).")
        z = latent.reshape(1, *self.autoencoder.latent_shape)
        preview = np.asarray(self.autoencoder.decode(z), np.float32)[0]
        ends = np.asarray(self.embedding.latents)[[a, b]]
        strip = interpolate(self.autoencoder, ends[0], ends[1], steps=self.strip_steps,
                            path=self.path)
        strip_images = np.asarray(strip.images, np.float32)
        return {"preview": array_payload(shown_images(preview, self._ndim)),
                "strip": array_payload(shown_images(strip_images, self._ndim))}

    def preview_array(self) -> np.ndarray:
        """The decoded current latent, as sent (float32)."""
        from ._payload import payload_array

        return payload_array(self.preview)

    def plot(self):
        from ..plot._latent_views import latent_explorer_figure
        from ._payload import payload_array

        return latent_explorer_figure(
            np.asarray(self.embedding.points), self.embedding.labels,
            payload_array(self.plane), self.span, payload_array(self.preview),
            payload_array(self.strip), tuple(self.value_range), tuple(self.pair),
        )
