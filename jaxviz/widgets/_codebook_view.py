"""CodebookView: how a vector-quantized autoencoder uses its codebook.

Everything is computed once and sent (usage, each code's decoded image and typical inputs, the
code maps of the shown inputs), so clicking a code or moving the input slider needs no kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from ..latent import Autoencoder, code_atlas, codebook_usage
from ._base import JaxvizWidget, static_asset
from ._latent_explorer import shown_images
from ._payload import array_payload, colormap_lut


class CodebookView(JaxvizWidget):
    """A VQ autoencoder's codebook: usage per code (dead codes marked), an input's code map,
    and for a clicked code its decoded image and the inputs that use it most.

    Args:
      model: a vector-quantized :class:`jaxviz.Autoencoder` (built with ``codebook=``).
      data: inputs (n, ...) to measure usage on.
      k: typical inputs per code.
      max_inputs: inputs offered by the input slider (their images and code maps are sent).

    Traits a person (or a test) sets: ``code`` (the selected code) and ``input`` (the input
    whose code map is shown).
    """

    _esm = static_asset("codebook_view.js")
    _css = static_asset("codebook_view.css")

    counts = traitlets.Dict().tag(sync=True)
    dead = traitlets.List(traitlets.Int()).tag(sync=True)
    perplexity = traitlets.Float().tag(sync=True)
    code_images = traitlets.Dict().tag(sync=True)
    examples = traitlets.Dict().tag(sync=True)
    inputs = traitlets.Dict().tag(sync=True)
    reconstructions = traitlets.Dict().tag(sync=True)
    code_maps = traitlets.Dict().tag(sync=True)
    value_range = traitlets.List(traitlets.Float()).tag(sync=True)
    lut = traitlets.Dict().tag(sync=True)
    code = traitlets.Int(0).tag(sync=True)
    input = traitlets.Int(0).tag(sync=True)

    def __init__(self, model: Autoencoder, data: Any, *, k: int = 6, max_inputs: int = 64,
                 **kwargs: Any):
        if not isinstance(model, Autoencoder) or not model.quantized:
            raise TypeError(
                "model: expected a vector-quantized jaxviz.Autoencoder (jv.Autoencoder(encode, "
                f"decode, codebook=...)), got {model!r}."
            )
        x = model.check_inputs(data, "data")
        usage = codebook_usage(model, x)
        atlas = code_atlas(model, x, k=k)
        ndim = len(model.output_shape)
        shown = np.arange(min(len(x), max_inputs))
        # the typical inputs travel once: the union of every code's examples and the shown ones
        used = np.unique(np.concatenate([shown, atlas.examples[atlas.examples >= 0]]))
        local = np.full(len(x), -1, np.int32)
        local[used] = np.arange(len(used))
        examples = np.where(atlas.examples >= 0, local[np.maximum(atlas.examples, 0)], -1)
        inputs = shown_images(x[used], len(x.shape) - 1)
        code_images = shown_images(np.asarray(atlas.images, np.float32), ndim)
        reconstructions = shown_images(np.asarray(model.reconstruct(x[shown]), np.float32), ndim)
        maps = np.asarray(usage.codes)[shown].reshape(len(shown), *usage.codes.shape[1:])
        if maps.ndim != 3:
            maps = maps.reshape(len(shown), 1, -1)  # a 1-D code sequence as one row
        values = np.concatenate([inputs.ravel(), code_images.ravel()])
        self.vqvae, self.x, self.usage, self.atlas = model, x, usage, atlas
        self.shown = shown
        super().__init__(
            counts=array_payload(usage.counts.astype(np.float32)),
            dead=[int(c) for c in usage.dead],
            perplexity=float(usage.perplexity),
            code_images=array_payload(code_images),
            examples=array_payload(examples.astype(np.float32)),
            inputs=array_payload(inputs),
            reconstructions=array_payload(reconstructions),
            code_maps=array_payload(maps.astype(np.float32)),
            value_range=[float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5))],
            lut=array_payload(colormap_lut("tab20"), "uint8"),
            code=int(np.argmax(usage.counts)),
            warm=False,
            **kwargs,
        )
        self.input_index = local[shown]  # where each shown input sits in `inputs`

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}

    def plot(self):
        from ..plot._latent_views import codebook_figure

        return codebook_figure(self.usage, self.atlas, self.x, self.code, self.input,
                               tuple(self.value_range))
