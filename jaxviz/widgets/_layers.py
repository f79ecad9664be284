"""The layer widgets: `LayerExplorer` (a network layer by layer, channel by channel) and
`Projector` (each layer's representation of a dataset in 2D).

Everything a slider reaches (every layer's activations for every shown input, every layer's
projection) is computed once and sent as binary buffers, so the layer and input sliders never
wait for the kernel. Only a channel's detail (its top dataset examples, their back-projections,
its feature visualization) is computed on request, when a channel is clicked, or ahead of the
click, in the background, for the channels likeliest to be clicked (see `_base.Warmer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import numpy as np
import traitlets

from .. import _display, _layer_display
from .._checks import check_choice, check_input, check_positive_int
from .._deprecation import deprecated_arguments
from ..explain._features import (
    channel_backprojection,
    peak_patches,
    receptive_field,
    top_activating,
)
from ..explain._featurevis import feature_visualization
from ..explain._layers import activations
from ..explain._projection import kmeans, layer_embeddings, tsne, unit_spread
from ._base import JaxvizWidget, ResultCache, in_background, static_asset
from ._payload import array_payload, colormap_lut, image_payload

# Colormaps by the sign of what is shown, as in the static plots (`_display.DEFAULT_COLORMAPS`).
_SIGNED_CMAP = _display.DEFAULT_COLORMAPS["all"]
_UNSIGNED_CMAP = _display.DEFAULT_COLORMAPS["absolute"]
# The projector clusters each layer in its top principal components: one shape for every layer
# (one compiled k-means) and little lost, as the dropped components hold the least variance.
_CLUSTER_COMPONENTS = 32


def _is_image_batch(x: Any) -> bool:
    """(n, H, W) or (n, H, W, 1 or 3): inputs the widgets can draw."""
    return x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3))


def _class_names(class_names: Sequence[str] | None, count: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(count)]
    names = [str(name) for name in class_names]
    if len(names) < count:
        raise ValueError(f"class_names: expected at least {count} names (one per class), got "
                         f"{len(names)}.")
    return names


def _labels(labels: Any, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"labels: expected one non-negative integer class per example, shape "
                         f"({n},), got shape {labels.shape} and dtype {labels.dtype}.")
    return labels.astype(np.int64)


def layer_payload(activation: np.ndarray) -> dict[str, Any]:
    """One layer's activations for every shown input, with how to color them.

    `limits` (one per input) and `sign` follow `_layer_display` (shared color scale for all
    channels of the layer, signed layers on a diverging map), as in `jv.plot.activation_grid`.
    """
    activation = np.asarray(activation, np.float32)
    sign = _layer_display.activation_sign(activation)
    limits = np.array([_layer_display.activation_scale(a, sign) for a in activation], np.float32)
    stats = [_layer_display.channel_statistics(a) for a in activation]
    table = np.stack([np.stack([s["mean"], s["max"], s["min"], s["active"]], axis=-1)
                      for s in stats])
    return {
        "activations": array_payload(activation),
        "spatial": _layer_display.is_spatial(activation.shape[1:]),
        "sign": sign,
        "limits": array_payload(limits),
        "stats": array_payload(table),  # (inputs, channels, [mean, max, min, active fraction])
    }


class LayerExplorer(JaxvizWidget):
    """Walk through a network layer by layer: every channel's activation map for the chosen input,
    and, for a clicked channel, its map over the input, the dataset examples that excite it most
    (with the receptive-field patch around each peak and its deconvnet back-projection) and its
    feature visualization.

    Args:
        model: a wrapped model (`jv.wrap`).
        x: the inputs to browse with the input slider (a few dozen at most).
        labels: their classes, shown beside each input.
        class_names: a name per class.
        dataset: where the top examples are searched (default `x`).
        layers: which of `model.layers` to show (default all).
        k: top examples per channel.
        feature_steps: optimization steps of the feature visualization (0: none).
        key: the feature visualization's random key (default `jax.random.key(0)`).
        warm: once shown, compute channel details (feature visualizations included) in the
            background, the shown layer's brightest channels first, so that a first click answers
            as fast as a return; False computes only on click.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> explorer = jv.LayerExplorer(m, data.x_test[:16], data.y_test[:16], dataset=data.x_test)
    >>> explorer.layer_names
    ['conv1', 'conv2', 'fc1', 'fc2']
    >>> explorer.channel = 3          # what a click on channel 3 asks for
    >>> explorer.detail["top_indices"] == jv.top_activating(
    ...     m, data.x_test, layer="conv1", k=9).indices[3].tolist()
    True
    """

    _esm = static_asset("layers.js")
    _css = static_asset("layers.css")
    # The detail comes in two requests: the top examples first (seconds), then, asked for by the
    # front end as soon as those are drawn, the feature visualization (an optimization).
    _compute_traits = ("layer", "channel", "with_feature")

    layer = traitlets.Unicode("").tag(sync=True)
    channel = traitlets.Int(-1).tag(sync=True)
    with_feature = traitlets.Bool(False).tag(sync=True)
    input_index = traitlets.Int(0).tag(sync=True)
    layer_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    layer_data = traitlets.Dict().tag(sync=True)
    inputs = traitlets.Dict().tag(sync=True)
    captions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    luts = traitlets.Dict().tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)

    @deprecated_arguments(renamed={"m": "model"})
    def __init__(self, model: Any, x: Any, labels: Any = None, *,
                 class_names: Sequence[str] | None = None,
                 dataset: Any = None, layers: Sequence[str] | None = None, k: int = 9,
                 feature_steps: int = 192, key: jax.Array | None = None,
                 warm: bool = True) -> None:
        m = model
        x = check_input(m, x)
        if not _is_image_batch(x):
            raise ValueError(
                f"x: the LayerExplorer shows image inputs, (n, height, width) or (n, height, "
                f"width, 1 or 3), got shape {x.shape}; for tabular inputs use jv.Projector or "
                "jv.activations.")
        self._model = m
        self._dataset = x if dataset is None else check_input(m, dataset, "dataset")
        self._k = min(check_positive_int("k", k), self._dataset.shape[0])
        self._feature_steps = int(feature_steps)
        self._key = jax.random.key(0) if key is None else key
        acts = activations(m, x, layers=None if layers is None else list(layers))
        names = list(acts)
        logits = np.asarray(m(x))
        probabilities = np.asarray(jax.nn.softmax(logits, axis=-1))
        labels = _labels(labels, x.shape[0])
        classes = _class_names(class_names, logits.shape[-1])
        captions = []
        for i in range(x.shape[0]):
            guess = int(probabilities[i].argmax())
            text = f"predicted {classes[guess]} ({probabilities[i, guess]:.0%})"
            captions.append(f"label {classes[labels[i]]}, {text}" if labels is not None else text)
        self._activations = {name: np.asarray(a) for name, a in acts.items()}
        # Per layer (top examples, receptive field) and per channel (examples, feature): the parts
        # of a detail, shared by its two requests (with and without the feature visualization).
        self._parts = ResultCache(2 * self._cache_size)
        super().__init__(
            warm=warm,
            layer=names[0],
            layer_names=names,
            layer_data={name: layer_payload(a) for name, a in self._activations.items()},
            inputs=image_payload(x),
            captions=captions,
            luts={"all": array_payload(colormap_lut(_SIGNED_CMAP), "uint8"),
                  "absolute": array_payload(colormap_lut(_UNSIGNED_CMAP), "uint8")},
        )
        self.refresh()

    # -- the channel detail, on request ------------------------------------------------------

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        layer, channel = state["layer"], state["channel"]
        if layer not in self._activations:
            raise ValueError(f"layer: unknown layer {layer!r}; shown layers: "
                             f"{list(self._activations)}.")
        if channel < 0:
            return {"detail": {}}
        count = self._activations[layer].shape[-1]
        if channel >= count:
            raise ValueError(f"channel: layer {layer!r} has {count} channels, got {channel}.")
        return {"detail": self._channel_detail(layer, channel, state["with_feature"])}

    def _top_examples(self, layer: str, reduce: str = "max"):
        """The layer's top examples by peak ("max"), or the single best by mean ("mean", what the
        feature visualization maximizes), over the dataset; computed once per layer."""
        k = self._k if reduce == "max" else 1
        return self._parts.get_or_compute(("top", layer, reduce), lambda: top_activating(
            self._model, self._dataset, layer=layer, k=k, reduce=reduce,
            show_progress=not in_background()))

    def _has_feature(self) -> bool:
        return self._feature_steps > 0 and self._dataset.ndim == 4

    def _channel_detail(self, layer: str, channel: int, with_feature: bool) -> dict[str, Any]:
        detail = dict(self._parts.get_or_compute(("examples", layer, channel),
                                                 partial(self._examples, layer, channel)))
        if not self._has_feature():
            return detail
        feature = ("feature", layer, channel)
        # A feature visualization computed ahead comes with the examples: one round trip.
        if with_feature or feature in self._parts:
            detail.update(self._parts.get_or_compute(feature,
                                                     partial(self._feature, layer, channel)))
        else:
            detail["feature_pending"] = True
        return detail

    def _examples(self, layer: str, channel: int) -> dict[str, Any]:
        """The channel's top dataset examples, their receptive-field patches, back-projections."""
        m, data = self._model, self._dataset
        top = self._top_examples(layer)
        indices = np.asarray(top.indices[channel])
        examples = data[indices]
        detail: dict[str, Any] = {
            "layer": layer,
            "channel": channel,
            "top_images": image_payload(examples),
            "top_indices": indices.tolist(),
            "top_values": np.asarray(top.values[channel]).tolist(),
        }
        if self._activations[layer].ndim == 4 and data.ndim == 4:
            field = self._parts.get_or_compute(("field", layer), lambda: receptive_field(
                m, layer=layer, input_shape=tuple(data.shape[1:])))
            patches = peak_patches(data, top._replace(indices=top.indices[channel:channel + 1],
                                                      peaks=top.peaks[channel:channel + 1]), field)
            detail["patches"] = image_payload(patches[0])
            detail["field"] = list(field.size)
        try:
            back = channel_backprojection(m, examples, layer=layer, channel=channel)
            detail["backprojections"] = array_payload(np.asarray(back).sum(axis=-1))
        except ValueError:  # a model without reachable ReLUs has no deconvnet: leave it out
            pass
        return detail

    def _feature(self, layer: str, channel: int) -> dict[str, Any]:
        """The channel's feature visualization, beside the best dataset example's objective."""
        vis = feature_visualization(self._model, shape=tuple(self._dataset.shape[1:]),
                                    layer=layer, targets=[channel], steps=self._feature_steps,
                                    key=jax.random.fold_in(self._key, channel))
        best = self._top_examples(layer, "mean")
        return {"feature": image_payload(vis.images),
                "feature_objective": float(vis.objective[0]),
                "dataset_objective": float(best.values[channel, 0])}

    def _warm_states(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Channel details, feature visualization included: first the likeliest channel of the
        shown layer, then of each other layer (which compiles that layer's programs), then the
        shown layer's other channels, likeliest first, then the other layers'."""
        names = list(self._activations)
        here = names.index(state["layer"])
        layers = [*names[here:], *reversed(names[:here])]  # the slider's next moves first
        ranked = {name: self._likely_channels(name, self.input_index) for name in layers}
        order = [(name, ranked[name][0]) for name in layers]
        order += [(name, c) for name in layers for c in ranked[name][1:]]
        return [{"layer": name, "channel": int(c), "with_feature": with_feature}
                for name, c in order for with_feature in (True, False)]

    def _likely_channels(self, layer: str, input_index: int) -> np.ndarray:
        """The layer's channels, brightest first for the shown input: those a person clicks."""
        values = self._activations[layer][input_index]
        peaks = values.reshape(-1, values.shape[-1]).max(axis=0)
        return np.argsort(-peaks, kind="stable")

    # -- static twin -----------------------------------------------------------------------------

    def plot(self):
        """The current layer's activation grid for the current input (the static twin)."""
        from ..plot._layers import activation_grid

        values = self._activations[self.layer][self.input_index]
        return activation_grid(values, title=f"{self.layer}: {self.captions[self.input_index]}")

    def _static_states(self) -> list[dict[str, Any]]:
        return [{"layer": name, "channel": -1, "with_feature": False}
                for name in self.layer_names]


class Projector(JaxvizWidget):
    """Each layer's representation of a dataset projected to 2D, colored by class (or by k-means
    cluster), with a slider over layers: the classes separate with depth. Hovering a point shows
    its input.

    Args:
        model: a wrapped model.
        x: the dataset (a few hundred to a few thousand examples).
        labels: their classes (colors the points).
        class_names: a name per class.
        layers: which of `model.layers` to project (default all, and the logits).
        projection: "pca" (JAX, default) or "tsne" (scikit-learn; slower).
        clusters: k of the k-means clustering of each layer (default: the number of classes),
            run on the layer's top 32 principal components.
        key: the clustering's random key.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> projector = jv.Projector(m, data.x_test[:300], data.y_test[:300],
    ...                          class_names=data.class_names)
    >>> projector.layer_names          # the inputs, every layer, and the model's output
    ['input', 'conv1', 'conv2', 'fc1', 'fc2', 'logits']
    """

    _esm = static_asset("projector.js")
    _css = static_asset("projector.css")

    layer = traitlets.Unicode("").tag(sync=True)
    color_by = traitlets.Unicode("class").tag(sync=True)
    layer_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    points = traitlets.Dict().tag(sync=True)
    labels = traitlets.Dict().tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.Dict().tag(sync=True)
    clusters = traitlets.Dict().tag(sync=True)
    prototypes = traitlets.Dict().tag(sync=True)
    thumbnails = traitlets.Dict().tag(sync=True)
    projection = traitlets.Unicode("pca").tag(sync=True)

    @deprecated_arguments(renamed={"m": "model", "method": "projection"})
    def __init__(self, model: Any, x: Any, labels: Any = None, *,
                 class_names: Sequence[str] | None = None, layers: Sequence[str] | None = None,
                 projection: str = "pca", clusters: int | None = None,
                 key: jax.Array | None = None) -> None:
        from ..plot._layers import class_colors

        x = check_input(model, x)
        n = x.shape[0]
        labels = _labels(labels, n)
        check_choice("projection", projection, ("pca", "tsne"))
        embedded = layer_embeddings(model, x, layers=layers, components=_CLUSTER_COMPONENTS)
        names = list(embedded)
        projections = {name: unit_spread(points if projection == "pca" else tsne(points))
                       for name, points in embedded.items()}
        classes = int(labels.max()) + 1 if labels is not None else 1
        class_list = _class_names(class_names, classes)
        k = check_positive_int("clusters", clusters if clusters is not None else
                               max(len(class_list), 2))
        key = jax.random.key(0) if key is None else key
        groups = [kmeans(embedded[name], k=min(k, n), key=key) for name in names]
        self._projections = projections
        self._labels = labels
        self._class_list = class_list
        colors = np.rint(np.asarray(class_colors(max(len(class_list), k))) * 255).astype(np.uint8)
        super().__init__(
            layer=names[0],
            layer_names=names,
            projection=projection,
            points=array_payload(np.stack([projections[name] for name in names])),
            labels=array_payload(np.zeros(n) if labels is None else labels, "float32"),
            class_names=class_list,
            colors=array_payload(colors, "uint8"),
            clusters=array_payload(np.stack([np.asarray(g.labels) for g in groups]), "float32"),
            prototypes=array_payload(np.stack([np.asarray(g.prototypes) for g in groups]),
                                     "float32"),
            # Tabular inputs have no picture: the hover then names the example only.
            thumbnails=image_payload(x) if _is_image_batch(x) else {},
        )

    def plot(self):
        """Every layer's projection as small multiples (the static twin)."""
        from ..plot._layers import layer_projections as plot_projections

        return plot_projections(self._projections, self._labels, class_names=self._class_list)
