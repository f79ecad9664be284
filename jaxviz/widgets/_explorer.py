"""jv.Explorer: inputs, classes, methods and layers of a model's explanations, in one widget.

Python computes, JS draws: for the chosen input and method, every class's attribution comes from
one compiled call (`target="all"`) and crosses once as a float32 buffer, so the class, sign,
colormap, opacity and clipping controls redraw in the browser with no kernel round trip. Inputs,
methods, layers and method options ask the kernel (see `_base.JaxvizWidget`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import traitlets

from .. import _display
from .._checks import check_choice, check_input
from .._deprecation import deprecated_arguments
from ..explain import (
    expected_gradients,
    gradcam,
    guided_backprop,
    guided_gradcam,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
from ..explain._coalition import grid_segments, kernel_shap, lime
from ..explain._lrp import COMPOSITES, lrp
from ._base import JaxvizWidget, ResultCache, static_asset
from ._payload import WIDGET_COLORMAPS, array_payload, colormap_catalog, image_payload
from ._trust import TrustPanel

KINDS = ("image", "vector", "sequence")
MAX_INPUTS = 256
_KEY_SEED = 0  # SmoothGrad and expected gradients draw from a fixed key: same view, same map


@dataclass(frozen=True)
class Method:
    """One explanation method as the Explorer offers it."""

    label: str
    about: str  # one sentence for someone who has never heard of it
    # (model, x1, options) -> (1, classes, ...) attributions. Typed Any: integrated gradients
    # is typed for every use (a pair with return_delta=True), not for the one here.
    run: Callable[..., Any]
    options: tuple[str, ...] = ()  # the Explorer options it reads (its cache key)
    # Its values add up to the output minus a base (Shapley values): vectors show a waterfall.
    additive: bool = False

    @property
    def needs_layer(self) -> bool:
        return "layer" in self.options


def _key():
    return jax.random.key(_KEY_SEED)


# -- model-agnostic and relevance methods (LIME, KernelSHAP, LRP) -------------------------------

# Images are split into a grid of about this many cells a side for LIME and KernelSHAP.
GRID_CELLS_PER_SIDE = 4
MASKERS = ("baseline", "background")
BACKGROUND_ROWS = 32  # KernelSHAP's background: at most this many of the Explorer's baselines


def _lime_maps(model, x, o):
    return lime(
        model, x, "all", key=_key(), samples=o["coalitions"], kernel_width=o["kernel_width"],
        distance=o["distance"], groups=o["groups"],
    ).attributions  # fmt: skip


def _kernel_shap_maps(model, x, o):
    # A missing group takes the value 0, or each background row's in turn.
    missing = {"background": o["background"]} if o["masker"] == "background" else {}
    return kernel_shap(
        model, x, "all", key=_key(), samples=o["coalitions"], groups=o["groups"], **missing
    ).attributions


AGNOSTIC_METHODS: dict[str, Method] = {
    "lime": Method(
        "LIME",
        "A weighted linear model fitted to the model's scores on random copies of the input "
        "with patches (or features) removed: each one's coefficient. The kernel width sets how "
        "close to the whole input the copies that count must be.",
        lambda m, x, o: _lime_maps(m, x, o),
        ("coalitions", "kernel_width"),
    ),
    "kernel_shap": Method(
        "KernelSHAP",
        "Shapley values estimated from random coalitions of patches (or features): each one's "
        "fair share of the score's change from the baseline (or background) to the input.",
        lambda m, x, o: _kernel_shap_maps(m, x, o),
        ("coalitions", "masker"),
        additive=True,
    ),
    "lrp": Method(
        "LRP",
        "Layer-wise relevance propagation: the score shared back layer by layer among the "
        "inputs that contributed, by the composite's rules.",
        lambda m, x, o: lrp(m, x, "all", composite=o["composite"], low=o["low"], high=o["high"]),
        ("composite",),
    ),
}


def _lime_defaults(kind: str, groups: int) -> tuple[str, float]:
    """LIME's distance and kernel width for an input kind: lime's image explainer's (cosine,
    0.25) for images, its tabular explainer's (l2, 0.75 sqrt(groups)) otherwise."""
    return ("cosine", 0.25) if kind == "image" else ("l2", round(0.75 * groups**0.5, 3))


def _coalition_groups(kind: str, example_shape: tuple[int, ...]):
    """Feature groups for LIME and KernelSHAP: a grid over images, one per position for
    sequences, one per feature for vectors (None)."""
    if kind == "image":
        cell = max(1, -(-min(example_shape[:2]) // GRID_CELLS_PER_SIDE))
        return grid_segments(example_shape[:2], cell)
    if kind == "sequence" and len(example_shape) == 2:
        return np.arange(example_shape[0], dtype=np.int32)
    return None


METHODS: dict[str, Method] = {
    "saliency": Method(
        "Saliency",
        "The gradient: how much a tiny change of each input value moves the class score.",
        lambda m, x, o: saliency(m, x, "all"),
    ),
    "grad_x_input": Method(
        "Gradient × input",
        "The gradient times the input: each value's first-order contribution to the score.",
        lambda m, x, o: saliency(m, x, "all", mode="grad_x_input"),
    ),
    "integrated_gradients": Method(
        "Integrated gradients",
        "Gradients averaged along a straight path from a blank baseline to the input, times the "
        "difference: the contributions add up to the score's change from the baseline.",
        lambda m, x, o: integrated_gradients(m, x, "all", steps=o["steps"]),
        ("steps",),
    ),
    "smoothgrad": Method(
        "SmoothGrad",
        "Gradients averaged over noisy copies of the input, which removes speckle.",
        lambda m, x, o: smoothgrad(m, x, "all", samples=o["samples"], noise=o["noise"], key=_key()),
        ("samples", "noise"),
    ),
    "expected_gradients": Method(
        "Expected gradients",
        "Integrated gradients averaged over baselines drawn from the other inputs.",
        lambda m, x, o: expected_gradients(
            m, x, "all", baselines=o["baselines"], samples=o["samples"], key=_key()
        ),
        ("samples",),
    ),
    "gradcam": Method(
        "Grad-CAM",
        "A convolution layer's feature maps weighted by how much the class score depends on "
        "them: a coarse map of where the evidence is.",
        lambda m, x, o: gradcam(m, x, "all", layer=o["layer"]),
        ("layer",),
    ),
    "gradcam_plus_plus": Method(
        "Grad-CAM++",
        "Grad-CAM with weights that give several instances of a class their share.",
        lambda m, x, o: gradcam(m, x, "all", layer=o["layer"], plus_plus=True),
        ("layer",),
    ),
    "guided_backprop": Method(
        "Guided backprop",
        "The gradient, where every ReLU passes back only positive signals: sharp edges.",
        lambda m, x, o: guided_backprop(m, x, "all"),
    ),
    "guided_gradcam": Method(
        "Guided Grad-CAM",
        "Guided backprop's sharp detail, kept only where Grad-CAM finds the class.",
        lambda m, x, o: guided_gradcam(m, x, "all", layer=o["layer"]),
        ("layer",),
    ),
    "occlusion": Method(
        "Occlusion",
        "Cover a window of the input and see how much the class score drops.",
        lambda m, x, o: occlusion(m, x, "all", window=o["window"], stride=max(1, o["window"] // 2)),
        ("window",),
    ),
    **AGNOSTIC_METHODS,
}
COMPARE_DEFAULT = ("saliency", "integrated_gradients", "smoothgrad", "gradcam", "occlusion")


def _choice(argument: str, value, allowed):
    try:
        return check_choice(argument, value, tuple(allowed))
    except ValueError as error:
        raise traitlets.TraitError(str(error)) from None


def _in_range(argument: str, value, low, high):
    if not low <= value <= high:
        message = f"{argument}: expected a value in [{low}, {high}], got {value!r}."
        raise traitlets.TraitError(message)
    return value


def _input_kind(x: np.ndarray, kind: str, tokens) -> str:
    check_choice("kind", kind, ("auto", *KINDS))
    if kind != "auto":
        return kind
    if tokens is not None and x.ndim in (2, 3):
        return "sequence"
    return {2: "vector", 3: "image", 4: "image"}.get(x.ndim, "sequence")


def _names(argument: str, names: Sequence[Any] | None, count: int, default: str) -> list[str]:
    if names is None:
        return [f"{default} {i}" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ValueError(f"{argument}: expected {count} names, got {len(names)}.")
    return names


def _spatial_layers(model, x1: np.ndarray) -> list[str]:
    """Layers whose output has the input's spatial axes (batch, *spatial, channels): where a
    class activation map can be drawn over the input."""
    return [
        name
        for name, spec in model.layer_shapes(x1).items()
        if len(spec.shape) == x1.ndim
        and len(spec.shape) >= 3
        and all(d > 1 for d in spec.shape[1:-1])
    ]


class Explorer(TrustPanel, JaxvizWidget):
    """Explanations of a model's predictions with sliders over inputs, classes, methods, layers.

    Args:
      model: a `jv.wrap`-ped model.
      x: a batch of inputs: images (N, H, W[, C]) channels last in any normalization, vectors
        (N, features), or sequences (N, positions[, features]).
      labels: the true class of each input (shown beside the prediction), or None.
      class_names: one name per class (shown as text), default "class 0", ...
      feature_names: for vectors, one name per feature.
      tokens: for sequences, one string per position (shared) or one list per input.
      kind: "auto" (from x's shape and `tokens`), "image", "vector" or "sequence".
      method: the first method shown (see `Explorer.methods`).
      baselines: expected gradients' reference set, default `x` itself.
      warm: once shown, compute in the background what the controls reach in one move (every
        method at this input and the next ones, the other layers), so a first visit answers as
        fast as a return; False computes only on request.

    Every control is also a trait (`index`, `method`, `layer`, `target` (-1: the predicted
    class), `steps`, `samples`, `noise`, `window`, `sign`, `alpha`, `cmap`, `clip`, `compare`,
    `scale`; LIME's and KernelSHAP's `coalitions`, LIME's `kernel_width`, KernelSHAP's `masker`
    ("baseline": a missing patch or feature is 0; "background": it takes each of the first 32
    `baselines` rows in turn), LRP's `composite`), so code can drive the widget and read what a
    person chose. LIME and KernelSHAP group an image's pixels in a 4 x 4 grid of cells.

    >>> m, data = jv.zoo.load("digits-cnn")
    >>> explorer = jv.Explorer(m, data.x_test[:16], data.y_test[:16],
    ...                        class_names=data.class_names, method="saliency")
    >>> explorer.index, explorer.target = 2, 7      # what the input slider and class menu set
    >>> explorer.shown_class()
    7
    """

    _esm = static_asset("explorer.js")
    _css = static_asset("explorer.css")

    index = traitlets.Int(0).tag(sync=True)
    method = traitlets.Unicode("integrated_gradients").tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    steps = traitlets.Int(32).tag(sync=True)
    samples = traitlets.Int(16).tag(sync=True)
    noise = traitlets.Float(0.15).tag(sync=True)
    window = traitlets.Int(2).tag(sync=True)
    compare = traitlets.Bool(False).tag(sync=True)
    # LIME's and KernelSHAP's coalitions, LIME's kernel width (0: the input kind's default),
    # what KernelSHAP puts in place of a missing feature, LRP's composite.
    coalitions = traitlets.Int(256).tag(sync=True)
    kernel_width = traitlets.Float(0.0).tag(sync=True)
    masker = traitlets.Unicode("baseline").tag(sync=True)
    composite = traitlets.Unicode("epsilon-plus-flat").tag(sync=True)
    # Browser-only view state (synced so Python reads what a person chose, never recomputed):
    target = traitlets.Int(-1).tag(sync=True)
    sign = traitlets.Unicode("all").tag(sync=True)
    alpha = traitlets.Float(0.6).tag(sync=True)
    cmap = traitlets.Unicode("auto").tag(sync=True)
    clip = traitlets.Float(_display.DEFAULT_CLIP_PERCENTILE).tag(sync=True)
    scale = traitlets.Unicode("per_method").tag(sync=True)

    _setup = traitlets.Dict().tag(sync=True)
    _inputs = traitlets.Dict().tag(sync=True)
    _result = traitlets.Dict().tag(sync=True)

    _compute_traits = (
        "index", "method", "layer", "steps", "samples", "noise", "window", "compare",
        "coalitions", "kernel_width", "masker", "composite",
    )  # fmt: skip

    # Choices the browser cannot draw are refused when set (the controls never offer them);
    # numeric method options go to the core, whose errors show inside the widget.
    @traitlets.validate("index")
    def _valid_index(self, proposal):
        return _in_range("index", proposal["value"], 0, self._x.shape[0] - 1)

    @traitlets.validate("target")
    def _valid_target(self, proposal):
        return _in_range("target", proposal["value"], -1, len(self._class_names) - 1)

    @traitlets.validate("method")
    def _valid_method(self, proposal):
        return _choice("method", proposal["value"], self._methods)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal):
        return _choice("layer", proposal["value"], self._layers or [""])

    @traitlets.validate("masker")
    def _valid_masker(self, proposal):
        return _choice("masker", proposal["value"], MASKERS)

    @traitlets.validate("composite")
    def _valid_composite(self, proposal):
        return _choice("composite", proposal["value"], COMPOSITES)

    @traitlets.validate("sign")
    def _valid_sign(self, proposal):
        return _choice("sign", proposal["value"], _display.SIGNS)

    @traitlets.validate("cmap")
    def _valid_cmap(self, proposal):
        return _choice("cmap", proposal["value"], ["auto", *WIDGET_COLORMAPS])

    @traitlets.validate("scale")
    def _valid_scale(self, proposal):
        return _choice("scale", proposal["value"], ["per_method", "shared"])

    @traitlets.validate("alpha")
    def _valid_alpha(self, proposal):
        return _in_range("alpha", proposal["value"], 0.0, 1.0)

    @traitlets.validate("clip")
    def _valid_clip(self, proposal):
        try:
            return _display.check_clip_percentile(proposal["value"])
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None

    @deprecated_arguments(positional=("class_names",))
    def __init__(
        self,
        model,
        x,
        labels=None,
        *,
        class_names: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        tokens=None,
        kind: str = "auto",
        method: str = "integrated_gradients",
        baselines=None,
        warm: bool = True,
        **traits: Any,
    ) -> None:
        x = check_input(model, x)
        if x.shape[0] > MAX_INPUTS:
            raise ValueError(
                f"x: the Explorer holds at most {MAX_INPUTS} inputs, got {x.shape[0]}; pass a "
                f"slice, e.g. x[:{MAX_INPUTS}]."
            )
        self._model = model
        self._x = x
        host = np.asarray(x)
        self._kind = _input_kind(host, kind, tokens)
        self._logits = np.asarray(model(x), np.float32)
        probs = np.asarray(jax.nn.softmax(self._logits, axis=-1))
        self._probs = probs
        n, classes = probs.shape
        self._class_names = _names("class_names", class_names, classes, "class")
        self._labels = None if labels is None else [int(v) for v in np.asarray(labels).reshape(-1)]
        if self._labels is not None and len(self._labels) != n:
            raise ValueError(
                f"labels: expected one label per input ({n}), got {len(self._labels)}."
            )
        self._baselines = x if baselines is None else baselines
        self._layers = _spatial_layers(model, x[:1]) if self._kind != "vector" else []
        self._methods = [
            name for name, spec in METHODS.items() if self._layers or not spec.needs_layer
        ]
        check_choice("method", method, self._methods)
        self._maps = ResultCache(self._cache_size)
        self._groups = _coalition_groups(self._kind, host.shape[1:])
        self._distance, default_width = _lime_defaults(self._kind, self._group_count(host))
        defaults = {
            "kernel_width": default_width,
            "method": method,
            "layer": self._layers[-1] if self._layers else "",
            "window": max(
                1, min(host.shape[1:3] if self._kind == "image" else host.shape[1:2]) // 4
            ),
        }
        super().__init__(warm=warm, **{**defaults, **traits})
        self._setup = self._setup_payload()
        self._compare_methods = list(self._setup["compare_methods"])
        self._inputs = self._inputs_payload(host, feature_names, tokens)
        self.refresh()

    # -- what the browser gets once ------------------------------------------------------------

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods this model and input kind offer."""
        return tuple(self._methods)

    def _setup_payload(self) -> dict[str, Any]:
        return {
            "kind": self._kind,
            "class_names": self._class_names,
            "labels": self._labels,
            "probs": array_payload(self._probs),
            "methods": [
                {
                    "value": name,
                    "label": METHODS[name].label,
                    "about": METHODS[name].about,
                    "options": list(METHODS[name].options),
                    "needs_layer": METHODS[name].needs_layer,
                    "additive": METHODS[name].additive,
                }
                for name in self._methods
            ],
            "compare_methods": [m for m in COMPARE_DEFAULT if m in self._methods],
            "layers": self._layers,
            "colormaps": colormap_catalog(),
            "logits": array_payload(self._logits),
            "composites": list(COMPOSITES),
        }

    def _inputs_payload(self, host: np.ndarray, feature_names, tokens) -> dict[str, Any]:
        n = host.shape[0]
        if self._kind == "image":
            shown = (_display.display_image(image, name="x") for image in host)
            gray = np.stack([_display.to_grayscale(image) for image in shown])
            return {"images": image_payload(host), "gray": array_payload(gray * 255, "uint8")}
        if self._kind == "vector":
            return {
                "values": array_payload(host),
                "feature_names": _names("feature_names", feature_names, host.shape[1], "feature"),
            }
        positions = host.shape[1]
        if tokens is None:
            rows = [[str(p) for p in range(positions)]] * n
        elif tokens and isinstance(tokens[0], str):
            rows = [_names("tokens", tokens, positions, "")] * n
        else:
            if len(tokens) != n:
                raise ValueError(f"tokens: expected one list per input ({n}), got {len(tokens)}.")
            rows = [_names(f"tokens[{i}]", t, positions, "") for i, t in enumerate(tokens)]
        return {"tokens": rows}

    # -- what the kernel computes on request --------------------------------------------------

    def _options(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "steps": state["steps"],
            "samples": state["samples"],
            "noise": state["noise"],
            "window": state["window"],
            "layer": state["layer"],
            "baselines": self._baselines,
            **self._agnostic_options(state),
        }

    def _group_count(self, host: np.ndarray) -> int:
        if self._groups is None:
            return int(np.prod(host.shape[1:]))
        return int(np.unique(self._groups).size)

    def _agnostic_options(self, state: dict[str, Any]) -> dict[str, Any]:
        """LIME's, KernelSHAP's and LRP's options: the groups, KernelSHAP's background (the
        first BACKGROUND_ROWS baselines), and z-box's bounds (the inputs' range)."""
        return {
            "coalitions": state["coalitions"],
            "kernel_width": state["kernel_width"],
            "masker": state["masker"],
            "composite": state["composite"],
            "groups": self._groups,
            "distance": self._distance,
            "background": np.asarray(self._baselines)[:BACKGROUND_ROWS],
            "low": float(np.min(self._x)),
            "high": float(np.max(self._x)),
        }

    def attribution_maps(self, index: int, method: str, **options: Any) -> np.ndarray:
        """Every class's display map for input `index` and `method`: (classes, H, W) for
        images (channels summed), (classes, features) or (classes, positions). Cached.

        Options not given (`steps`, `layer`, ...) are the widget's current ones."""
        return self._maps_for(index, method, {**self._options(self._state()), **options})

    def _maps_for(self, index: int, method: str, options: dict[str, Any]) -> np.ndarray:
        """`attribution_maps` with every option given: reads no trait (the warm-up calls it)."""
        check_choice("method", method, self._methods)
        if not 0 <= index < self._x.shape[0]:
            raise ValueError(
                f"index: expected an input in [0, {self._x.shape[0] - 1}], got {index}."
            )
        spec = METHODS[method]
        if spec.needs_layer:
            check_choice("layer", options["layer"], self._layers)
        key = (index, method, *(options[o] for o in spec.options))
        return self._maps.get_or_compute(key, lambda: self._display_maps(
            np.asarray(spec.run(self._model, self._x[index : index + 1], options))[0]))

    def _display_maps(self, raw: np.ndarray) -> np.ndarray:
        """(classes, ...) raw attributions to the maps the browser draws."""
        if self._kind == "image":
            example = self._x.shape[1:]
            spatial = example[:2]
            return np.stack(
                [
                    _display.attribution_map(a, image_size=spatial) if a.shape != spatial else a
                    for a in raw
                ]
            ).astype(np.float32)
        if self._kind == "sequence" and raw.ndim == 3:
            return _display.reduce_channels(raw).astype(np.float32)
        return raw.astype(np.float32)

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        options = self._options(state)
        maps = self._maps_for(state["index"], state["method"], options)
        result = {"index": state["index"], "method": state["method"], "maps": array_payload(maps)}
        if state["compare"]:
            result["compare"] = {
                m: array_payload(self._maps_for(state["index"], m, options))
                for m in self._compare_methods
            }
        return {"_result": result}

    def _warm_states(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Every method at this input, then at the next input, then the layer methods at the
        other layers, then every method at the previous input: what the method, input and
        layer controls reach in one move, likeliest first."""
        index, count = state["index"], self._x.shape[0]
        others = [m for m in self._methods if m != state["method"]]
        every = [state["method"], *others]
        near = [i for i in (index + 1, index - 1) if 0 <= i < count]  # the slider's next moves
        layer_methods = [m for m in self._methods if METHODS[m].needs_layer]
        other_layers = [name for name in self._layers if name != state["layer"]]
        return [
            *({"method": m} for m in others),
            *({"index": i, "method": m} for i in near[:1] for m in every),
            *({"method": m, "layer": name} for name in other_layers for m in layer_methods),
            *({"index": i, "method": m} for i in near[1:] for m in every),
        ]

    def to_html(self, path, *, inputs=None, methods=None, states=None):
        """Writes a self-contained page (no kernel, no network) of this Explorer.

        In the page, the class, sign, colormap, opacity and clipping controls work everywhere;
        the input and method controls work for the `inputs` and `methods` stored (each pair is
        computed now, at the current options).

        Args:
          path: the ``.html`` file to write.
          inputs: indices of the inputs to store, default the first 8.
          methods: method names to store, default every method the Explorer offers.
          states: instead of `inputs` and `methods`, the exact widget states to store (trait
            values, as every jaxviz widget's `to_html` takes them).

        Returns:
          The path written.
        """
        if states is not None:
            return super().to_html(path, states=states)
        inputs = range(min(self._x.shape[0], 8)) if inputs is None else inputs
        methods = self._methods if methods is None else methods
        for method in methods:
            check_choice("methods", method, self._methods)
        states = [{"index": int(i), "method": m, "compare": False} for i in inputs for m in methods]
        return super().to_html(path, states=[self._state(), *states])

    # -- the static twin ------------------------------------------------------------------------

    def shown_class(self) -> int:
        """The class whose attribution is shown: `target`, or the prediction when it is -1."""
        return self.shown_class_of(self.index)

    def shown_class_of(self, index: int) -> int:
        return self.target if self.target >= 0 else int(np.argmax(self._probs[index]))

    def plot(self):
        """The current view as a matplotlib figure (what the PNG in the mimebundle shows)."""
        from ._explorer_plot import explorer_figure

        return explorer_figure(self)
