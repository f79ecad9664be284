"""Trust views: the metrics scorecard (`Scorecard`), the deletion/insertion scrubber
(`DeletionScrubber`), the randomization cascade (`RandomizationView`), and the Explorer's trust
panel (`TrustPanel`, a mixin).

The first three are computed in Python once and sent whole: sorting the table, dragging along a
curve (every frame of the perturbed input is precomputed) and switching the example all happen
in the browser, with no kernel round trip.
"""

from __future__ import annotations

import threading
from typing import Any

import jax
import numpy as np
import traitlets

from ..metrics import _inputs
from ..metrics._complexity import sparseness
from ..metrics._faithfulness import deletion, insertion, perturbed_inputs
from ..plot._trust import VERDICT_WORDS
from ._base import JaxvizWidget, readable_error, static_asset
from ._payload import array_payload, colormap_lut, image_payload

MAX_SCRUBBER_EXAMPLES = 16


class _ClientSide(JaxvizWidget):
    """Everything is sent up front; no control asks the kernel."""

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}


def _cell(result) -> dict[str, Any]:
    from ..metrics._scorecard import _verdict

    def finite(v):
        return None if v is None or not np.isfinite(v) else float(v)

    verdict = _verdict(result)
    return {
        "score": float(result.score),
        "ci": [float(v) for v in result.ci],
        "baseline": finite(result.baseline),
        "difference_ci": None if result.difference_ci is None else [
            float(v) for v in result.difference_ci
        ],
        "verdict": verdict,
        "verdict_text": VERDICT_WORDS[verdict],
    }


class Scorecard(_ClientSide):
    """A method x metric table (a `jaxviz.metrics.Scorecard`): each cell the mean score,
    coloured by its comparison with random attributions (green: significantly better, red:
    worse, grey: not different or no baseline); hovering a cell shows its 95% CI, the random
    baseline and the paired difference's CI; clicking a metric's header sorts the methods by
    it, best first.

    Args:
      card: the result of `jaxviz.metrics.scorecard`.
      sort_by: a metric to sort by at first, or "" for the methods' own order.
    """

    _esm = static_asset("scorecard.js")
    _css = static_asset("scorecard.css")

    table = traitlets.Dict().tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)

    def __init__(self, card, *, sort_by: str = "", **kwargs: Any) -> None:
        if sort_by and sort_by not in card.metrics:
            raise ValueError(
                f"sort_by: unknown metric {sort_by!r}; expected one of {', '.join(card.metrics)}."
            )
        self.card = card
        table = {
            "methods": list(card.methods),
            "metrics": [
                {"name": name, "higher_is_better": bool(up)}
                for name, up in zip(card.metrics, card.higher_is_better, strict=True)
            ],
            "cells": [[_cell(card.results[m][k]) for k in card.metrics] for m in card.methods],
        }
        super().__init__(table=table, sort_by=sort_by, **kwargs)

    def plot(self):
        return self.card.plot(sort_by=self.sort_by or None)


class DeletionScrubber(_ClientSide):
    """Deletion and insertion curves (Petsiuk et al., 2018) of an attribution, with the input as
    the model saw it at each point: drag along the curve (or use the slider, arrow keys) to see
    the input with that share removed (deletion) or inserted (insertion) and the followed
    class's probability. Every frame is computed once and sent with the curves.

    Args:
      model: a `jaxviz.wrap`ped image model.
      x: a few images (at most 16), (batch, height, width, channels).
      target: None (the predicted class), an int, or one int per example.
      attribution: an array shaped like `x` (or without its channel axis), or a method called as
        `method(model, x, classes)`.
      steps: points along each curve, minus one.
      region: square units of `region` pixels removed together.
      replacement: what deletion puts in (insertion starts from a blurred image, as RISE).
      random_orders: random orders for the dashed baseline curve.
      class_names: names of the classes, for the caption.
      key: a `jax.random.key` for the random orders.
    """

    _esm = static_asset("scrubber.js")
    _css = static_asset("scrubber.css")

    data = traitlets.Dict().tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    position = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        model,
        x,
        target=None,
        *,
        attribution,
        steps: int = 32,
        region: int = 1,
        replacement="blur",
        random_orders: int = 4,
        class_names=None,
        key=None,
        **kwargs: Any,
    ) -> None:
        x, classes = _inputs.followed_classes(model, x, target, metric="DeletionScrubber")
        if not _inputs.is_image(x):
            raise ValueError(
                f"x: the scrubber shows images (batch, height, width, channels), got {x.shape}."
            )
        if len(x) > MAX_SCRUBBER_EXAMPLES:
            raise ValueError(
                f"x: the scrubber sends every frame of every example; pass at most "
                f"{MAX_SCRUBBER_EXAMPLES} examples, got {len(x)} (e.g. x[:8])."
            )
        if callable(attribution):
            attribution = _inputs.call_method(attribution, model, x, classes)
        attribution = _inputs.check_attribution(attribution, x)
        key = jax.random.key(0) if key is None else key
        options = {"steps": steps, "region": region, "random_orders": random_orders, "key": key}
        results = {
            "deletion": deletion(model, x, classes, attribution, replacement=replacement,
                                 **options),
            "insertion": insertion(model, x, classes, attribution, **options),
        }
        fractions = results["deletion"].fractions
        self.results = results
        self.frames = {
            "deletion": perturbed_inputs(
                x, attribution, fractions=fractions, region=region, replacement=replacement
            ),
            "insertion": perturbed_inputs(
                x, attribution, fractions=fractions, region=region, insert=True, replacement=None
            ),
        }
        names = None if class_names is None else [str(n) for n in class_names]
        data = {
            "fractions": array_payload(fractions),
            "classes": [int(c) for c in classes],
            "class_names": names,
            "kinds": list(results),
            "curves": {k: array_payload(r.curves) for k, r in results.items()},
            "baselines": {k: array_payload(r.baseline_curves) for k, r in results.items()},
            "areas": {k: [float(v) for v in r.values] for k, r in results.items()},
            "baseline_areas": {
                k: None if r.baseline_values is None else [float(v) for v in r.baseline_values]
                for k, r in results.items()
            },
            "frames": {
                k: image_payload(f.reshape((-1,) + x.shape[1:])) for k, f in self.frames.items()
            },
            "points": len(fractions),
        }
        super().__init__(data=data, **kwargs)

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        count = len(self.data["classes"]) if self.data else 1
        if not 0 <= proposal["value"] < count:
            raise traitlets.TraitError(f"index: expected an example in [0, {count - 1}].")
        return proposal["value"]

    @traitlets.validate("position")
    def _valid_position(self, proposal):
        points = self.data["points"] if self.data else 1
        if not 0 <= proposal["value"] < points:
            raise traitlets.TraitError(f"position: expected a point in [0, {points - 1}].")
        return proposal["value"]

    def plot(self):
        from ..plot._trust import scrubber

        i, results = self.index, self.results
        return scrubber(
            results["deletion"].fractions,
            {k: r.curves[i] for k, r in results.items()},
            {k: r.baseline_curves[i] if r.baseline_curves.size else None
             for k, r in results.items()},
            {k: float(r.values[i]) for k, r in results.items()},
            {k: f[i] for k, f in self.frames.items()},
            self.position,
            title=f"example {i}, class {self.data['classes'][i]}",
        )


class RandomizationView(_ClientSide):
    """The randomization cascade (Adebayo et al., 2018) of a `RandomizationResult`: the trained
    model's map and the map after each randomization step, side by side for one example (a
    select switches examples in the browser), and the rank correlation and SSIM per step with
    their 95% CIs.

    Args:
      result: from `jaxviz.metrics.model_randomization`.
      x: the inputs (optional), shown before the maps.
    """

    _esm = static_asset("randomization.js")
    _css = static_asset("randomization.css")

    data = traitlets.Dict().tag(sync=True)
    example = traitlets.Int(0).tag(sync=True)

    def __init__(self, result, *, x=None, **kwargs: Any) -> None:
        self.result = result
        self._x = None if x is None else np.asarray(x)
        maps = np.concatenate([result.original[None], result.attributions])
        if maps.ndim == 5:  # (steps, batch, height, width, channels): magnitude per position
            maps = np.abs(maps).sum(axis=-1)
        elif maps.ndim != 4:
            raise ValueError(
                "result: the cascade view draws image maps; this result's maps have shape "
                f"{result.original.shape}."
            )
        maps = np.abs(maps)
        peak = maps.max(axis=(2, 3), keepdims=True)
        shown = maps / np.where(peak > 0, peak, 1.0)

        def series(results):
            return [{"score": r.score, "ci": [float(v) for v in r.ci]} for r in results]

        data = {
            "layers": list(result.layers),
            "cascading": bool(result.cascading),
            "maps": array_payload(shown.transpose(1, 0, 2, 3)),  # (batch, 1 + steps, H, W)
            "rank_correlation": series(result.rank_correlation),
            "ssim": series(result.ssim),
            "lut": array_payload(colormap_lut("viridis"), "uint8"),
            "images": None if self._x is None else image_payload(self._x),
        }
        super().__init__(data=data, **kwargs)

    def plot(self):
        return self.result.plot(example=self.example, x=self._x)


# -- the Explorer's trust panel -----------------------------------------------------------------


def trust_scores(model, x1, target: int, attribution, *, key=None) -> dict[str, Any]:
    """The trust panel's scores of one example's attribution: deletion and insertion areas
    (with the mean area of 8 random orders of the same pixels) and the sparseness (Gini) of
    the map. One example has no confidence interval; the panel compares with random orders."""
    key = jax.random.key(0) if key is None else key
    options = {"steps": 16, "random_orders": 8, "key": key}
    results = {
        "deletion": deletion(model, x1, target, attribution, replacement=0.0, **options),
        "insertion": insertion(model, x1, target, attribution, **options),
        "sparseness": sparseness(model, x1, target, attribution),
    }
    return {
        name: {
            "score": float(r.score),
            "baseline": None if r.baseline is None else float(r.baseline),
            "higher_is_better": bool(r.higher_is_better),
        }
        for name, r in results.items()
    }


class TrustPanel(traitlets.HasTraits):
    """Mixin for the Explorer: scores the shown attribution on demand (the panel's "score"
    button sends `{"event": "trust", ...}`), on a thread of its own so the kernel and the
    widget stay responsive, and answers through the `_trust` trait. Needs the Explorer's
    `_model`, `_x`, `attribution_maps`, `shown_class_of` and `_kind`."""

    _trust = traitlets.Dict({}).tag(sync=True)

    def _on_frontend_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "trust":
            self.score_trust(int(content["index"]), str(content["method"]), wait=False)
            return
        super()._on_frontend_message(widget, content, buffers)  # type: ignore[misc]

    def score_trust(self, index: int, method: str, *, wait: bool = True) -> dict[str, Any]:
        """Scores input `index`'s map of `method` (the shown class) and sends the panel its
        scores; with `wait=False` it returns at once and scores on a thread."""
        request = {"index": index, "method": method}
        self._trust = {**request, "status": "computing"}
        answer: dict[str, Any] = {}

        def work() -> None:
            try:
                if self._kind != "image":  # type: ignore[attr-defined]
                    raise ValueError("the trust panel scores image attributions.")
                target = self.shown_class_of(index)  # type: ignore[attr-defined]
                maps = self.attribution_maps(index, method)  # type: ignore[attr-defined]
                x1 = self._x[index : index + 1]  # type: ignore[attr-defined]
                scores = trust_scores(self._model, x1, target, maps[target][None])  # type: ignore[attr-defined]
                answer.update({**request, "status": "done", "target": target, "scores": scores})
            except Exception as error:  # shown in the panel
                answer.update({**request, "status": "error", "error": readable_error(error)})
            self._trust = answer

        if wait:
            work()
        else:
            threading.Thread(target=work, name="jaxviz-trust", daemon=True).start()
        return answer
