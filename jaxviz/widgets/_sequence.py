"""Views of sequence models: `AttentionView`, `TokenView` and `RNNView`.

Python computes, JS draws (js/widgets/attention.js, tokens.js, rnn.js). What a control can
reach cheaply is sent once: every layer's and head's attention of the shown example with
rollout, flow and gradient-weighted relevance beside them, every method's attribution for
every class, every example's RNN states. Only the example index asks the kernel.

Long inputs stay usable because no view sends a (length x length) map per head blindly: up to
`FULL_LENGTH` tokens the maps go as they are; beyond it the browser gets, per head, each
query's `top_k` strongest keys (exact, for the hover lines) and the map block-averaged to at
most `DETAIL_SIZE` (for the opened map) and `THUMB_SIZE` (for the grid) cells a side.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, cast

import jax
import numpy as np
import traitlets

from .._checks import check_choice, check_positive_int
from .._model import Model
from ..sequence import (
    RNNStates,
    attention,
    attention_flow,
    attention_layers,
    attention_rollout,
    gradient_weighted_attention,
    rnn_states,
    state_gradient_norms,
    token_attribution,
    token_occlusion,
)
from ..sequence._rnn import NORMS, _check_cell_inputs
from ..sequence._tokens import check_tokens
from ._base import JaxvizWidget, static_asset
from ._payload import array_payload, colormap_lut

FULL_LENGTH = 256  # up to this many tokens every map is sent whole
THUMB_SIZE = 64  # the model view's small maps, cells a side at most
DETAIL_SIZE = 256  # the opened map, cells a side at most
FLOW_LENGTH = 40  # attention flow solves length^2 max-flow problems on the host: short inputs only
MAX_EXAMPLES = 256
GATE_ORDER = ("input", "forget", "reset", "update", "candidate", "output")  # LSTM, GRU order
PAD = "<pad>"
SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"  # colour-blind safe (see jaxviz._display)


# -- tokens and words -------------------------------------------------------------------------


def _token_batch(model, tokens) -> np.ndarray:
    """(length,) or (batch, length) token ids as checked int32 (batch, length)."""
    array = np.asarray(tokens)[None] if np.ndim(tokens) == 1 else tokens
    array = check_tokens(model, array)
    if array.shape[0] > MAX_EXAMPLES:
        raise ValueError(
            f"tokens: a view holds at most {MAX_EXAMPLES} examples, got {array.shape[0]}; pass a "
            f"slice, e.g. tokens[:{MAX_EXAMPLES}]."
        )
    return array


def check_vocabulary(vocabulary, tokens: np.ndarray) -> tuple[str, ...] | None:
    """`vocabulary` (one word per token id) as a tuple of str, or None."""
    if vocabulary is None:
        return None
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence):
        raise TypeError(
            "vocabulary: expected a sequence of words, one per token id (e.g. "
            f"data.vocabulary), got {type(vocabulary).__name__}."
        )
    words = tuple(str(w) for w in vocabulary)
    top = int(tokens.max())
    if top >= len(words):
        raise ValueError(
            f"vocabulary: has {len(words)} words, but the tokens hold id {top}; pass the "
            "vocabulary the tokens were made with."
        )
    return words


def words_of(ids: np.ndarray, vocabulary: tuple[str, ...] | None) -> list[str]:
    return [vocabulary[int(t)] if vocabulary else str(int(t)) for t in ids]


def shown_length(words: Sequence[str]) -> int:
    """How many tokens a view shows: trailing padding (the word "<pad>") is left out."""
    n = len(words)
    while n > 1 and words[n - 1] == PAD:
        n -= 1
    return n


def _names(argument: str, names, count: int, default: str) -> list[str]:
    if names is None:
        return [f"{default} {i}" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ValueError(f"{argument}: expected {count} names, got {len(names)}.")
    return names


def _check_target(target, classes: int) -> int | None:
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise TypeError(
            f"target: expected None (the predicted class) or a class index, got {target!r}."
        )
    if not 0 <= target < classes:
        raise ValueError(
            f"target: class {target} is out of range; the model has {classes} classes."
        )
    return int(target)


def _in_range(argument: str, value, low, high):
    if not low <= value <= high:
        raise traitlets.TraitError(
            f"{argument}: expected a value in [{low}, {high}], got {value!r}."
        )
    return value


# -- attention payloads -----------------------------------------------------------------------


def downsample(maps: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Block means of the last two axes (tokens x tokens) so that each side has at most `size`
    cells; returns the maps and the block (tokens per cell). A ragged last block averages the
    tokens it has."""
    length = maps.shape[-1]
    block = max(1, math.ceil(length / size))
    if block == 1:
        return maps.astype(np.float32), 1
    cells = math.ceil(length / block)
    padded = np.full(maps.shape[:-2] + (cells * block, cells * block), np.nan, np.float32)
    padded[..., :length, :length] = maps
    blocks = padded.reshape(maps.shape[:-2] + (cells, block, cells, block))
    return np.nanmean(blocks, axis=(-3, -1)).astype(np.float32), block


def top_keys(maps: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `k` strongest keys, strongest first: (indices, weights), both (..., queries,
    k). Ties keep the earlier key."""
    k = min(k, maps.shape[-1])
    order = np.argsort(-maps, axis=-1, kind="stable")[..., :k]
    return order, np.take_along_axis(maps, order, axis=-1)


def entry_payload(
    label: str, kind: str, maps: np.ndarray, *, about: str, top_k: int, heads: Sequence[str]
) -> dict[str, Any]:
    """One row of the view ("layer"): (heads, tokens, tokens) maps as the browser gets them."""
    maps = np.asarray(maps, np.float32)
    signed = bool((maps < 0).any())
    thumbs, thumb_block = downsample(maps, THUMB_SIZE)
    out: dict[str, Any] = {
        "label": label,
        "kind": kind,
        "about": about,
        "heads": list(heads),
        "signed": signed,
        "scale": float(np.abs(maps).max()) if maps.size else 0.0,
        "thumbs": array_payload(thumbs),
        "thumb_block": thumb_block,
    }
    if maps.shape[-1] <= FULL_LENGTH:
        out["maps"] = array_payload(maps)
    else:
        detail, detail_block = downsample(maps, DETAIL_SIZE)
        index, weight = top_keys(maps, top_k)
        out.update(
            detail=array_payload(detail),
            detail_block=detail_block,
            top_index=array_payload(index.astype(np.float32)),  # exact below 2**24
            top_weight=array_payload(weight),
        )
    return out


ABOUT = {
    "attention": "the weights each head's queries (rows) give the keys (columns); rows sum to 1.",
    "rollout": "attention rollout (Abnar & Zuidema 2020): the product over layers of the "
    "head-averaged attention with the residual term, 0.5 A + 0.5 I; rows sum to 1.",
    "flow": "attention flow (Abnar & Zuidema 2020): the max-flow from each top position to each "
    "input token through the layers' attention graph, rows normalized to sum to 1.",
    "relevance": "gradient-weighted attention relevance (Chefer et al. 2021) minus the identity: "
    "what attention moved into each position, weighted by the gradient of the target score.",
}


class _TokenExamples:
    """What every view over a batch of token sequences shares: the `index` it accepts, the
    neighbours it warms next (the example slider's likely moves), the first examples for a
    static page."""

    _tokens: np.ndarray

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        return _in_range("index", proposal["value"], 0, self._tokens.shape[0] - 1)

    def _warm_states(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"index": i}
            for i in (state["index"] + 1, state["index"] - 1)
            if 0 <= i < self._tokens.shape[0]
        ]

    def _static_states(self) -> list[dict[str, Any]]:
        return [{"index": i} for i in range(min(self._tokens.shape[0], 8))]


class AttentionView(_TokenExamples, JaxvizWidget):
    """Attention of a transformer, bertviz-like: a head view and a model view.

    The head view draws, for the chosen layer and heads, lines from each query token (left) to
    the keys it attends to (right), one colour per head, opacity the weight; hover a token to
    see only its lines. The model view is the grid of every layer's and head's attention map;
    click one to open it large. Attention rollout, attention flow (short inputs) and
    gradient-weighted relevance are offered as extra rows ("layers") after the model's own.

    Long inputs: beyond 256 tokens, hover lines show each query's `top_k` strongest keys
    (exactly) and the maps are block-averaged (the caption says how many tokens a cell holds);
    trailing padding (the word "<pad>") is not shown.

    Args:
      model: a `jv.wrap`-ped model taking token ids.
      tokens: int token ids, (length,) or (batch, length); `index` picks the example shown.
      vocabulary: the word of each token id (e.g. `data.vocabulary`), default the ids.
      layers: attention layers to show (see `jv.attention_layers`), default all.
      target: the class whose gradient weighs the relevance row; None: the predicted class.
      rollout, flow, relevance: whether to add those rows; `flow=None` adds it for inputs up to
        40 tokens (it solves tokens^2 max-flow problems on the host).
      top_k: keys per query sent for long inputs.
      class_names: one name per class, for the captions.

    Every control is a trait: `index` (example), `view` ("head" or "model"), `layer` (row),
    `heads` (shown in the head view), `query` (-1: none pinned), `opened` ([row, head] or []).
    """

    _esm = static_asset("attention.js")
    _css = static_asset("attention.css")

    index = traitlets.Int(0).tag(sync=True)
    view = traitlets.Unicode("head").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    heads = traitlets.List(traitlets.Int()).tag(sync=True)
    query = traitlets.Int(-1).tag(sync=True)
    opened = traitlets.List(traitlets.Int()).tag(sync=True)

    _setup = traitlets.Dict().tag(sync=True)
    _result = traitlets.Dict().tag(sync=True)
    _compute_traits = ("index",)

    @traitlets.validate("view")
    def _valid_view(self, proposal):
        try:
            return check_choice("view", proposal["value"], ("head", "model"))
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None

    def __init__(
        self,
        model,
        tokens,
        *,
        vocabulary: Sequence[str] | None = None,
        layers: str | Sequence[str] | None = None,
        target: int | None = None,
        rollout: bool = True,
        flow: bool | None = None,
        relevance: bool = True,
        top_k: int = 16,
        class_names: Sequence[str] | None = None,
        warm: bool = True,
        **traits: Any,
    ) -> None:
        self._model = model
        self._tokens = _token_batch(model, tokens)
        self._vocabulary = check_vocabulary(vocabulary, self._tokens)
        self._layers = layers
        first = attention(model, self._tokens[:1], layers=layers)  # validates layers too
        self._layer_names = (
            list(attention_layers(model, self._tokens[:1]))
            if layers is None
            else [layers]
            if isinstance(layers, str)
            else list(layers)
        )
        classes = int(model.output_shape(self._tokens[:1]).shape[1])
        self._target = _check_target(target, classes)
        self._class_names = _names("class_names", class_names, classes, "class")
        self._top_k = check_positive_int("top_k", top_k)
        length = self._tokens.shape[1]
        if flow and length > FLOW_LENGTH:
            raise ValueError(
                f"flow: attention flow solves tokens^2 max-flow problems on the host; it is "
                f"offered up to {FLOW_LENGTH} tokens, these have {length}. Pass flow=None."
            )
        self._extras = tuple(
            name
            for name, on in (
                ("rollout", rollout),
                ("flow", length <= FLOW_LENGTH if flow is None else flow),
                ("relevance", relevance),
            )
            if on
        )
        self._heads_count = int(first.shape[2])
        super().__init__(warm=warm, **{"heads": list(range(self._heads_count)), **traits})
        self._setup = {
            "examples": int(self._tokens.shape[0]),
            "layers": self._layer_names,
            "extras": list(self._extras),
            "luts": {
                "sequential": array_payload(colormap_lut(SEQUENTIAL), "uint8"),
                "diverging": array_payload(colormap_lut(DIVERGING), "uint8"),
            },
            "full_length": FULL_LENGTH,
        }
        self.refresh()

    def weights(self, index: int) -> np.ndarray:
        """The shown example's attention, (layers, heads, tokens, tokens), padding cut off."""
        return self._entries(index)[0]

    def _entries(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray], list[str], int]:
        """(attention, {extra: (1, n, n)}, words, predicted class) for one example."""
        ids = self._tokens[index : index + 1]
        words = words_of(ids[0], self._vocabulary)
        n = shown_length(words)
        full = np.asarray(attention(self._model, ids, layers=self._layers))
        # rollout and flow run through every layer, whichever the view shows
        every = full if self._layers is None else np.asarray(attention(self._model, ids))
        logits = np.asarray(self._model(ids))
        predicted = int(np.argmax(logits[0]))
        extras = {}
        for name in self._extras:
            if name == "rollout":
                extras[name] = np.asarray(attention_rollout(every))[:, :n, :n]
            elif name == "flow":
                extras[name] = attention_flow(every)[:, :n, :n]
            else:
                target = predicted if self._target is None else self._target
                relevance = np.array(gradient_weighted_attention(self._model, ids, target))
                extras[name] = (relevance - np.eye(relevance.shape[-1]))[:, :n, :n]
        return full[0, :, :, :n, :n], extras, words[:n], predicted

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        index = state["index"]
        weights, extras, words, predicted = self._entries(index)
        heads = [f"head {h}" for h in range(weights.shape[1])]
        rows = [
            entry_payload(
                name.removesuffix(".attention_weights"),
                "attention",
                weights[i],
                about=ABOUT["attention"],
                top_k=self._top_k,
                heads=heads,
            )
            for i, name in enumerate(self._layer_names)
        ]
        target = predicted if self._target is None else self._target
        labels = {
            "rollout": "rollout",
            "flow": "flow",
            "relevance": f"gradient-weighted ({self._class_names[target]})",
        }
        rows += [
            entry_payload(
                labels[name],
                name,
                extras[name],
                about=ABOUT[name],
                top_k=self._top_k,
                heads=["fused"],
            )
            for name in self._extras
        ]
        return {
            "_result": {
                "index": index,
                "words": words,
                "length": len(words),
                "predicted": self._class_names[predicted],
                "rows": rows,
            }
        }

    def plot(self):
        """The model view of the shown example (every layer's and head's map, and the extra
        rows) as a matplotlib figure."""
        from ._sequence_plot import attention_figure

        return attention_figure(self)


# -- token attribution --------------------------------------------------------------------------

TOKEN_METHODS = {
    "integrated_gradients": (
        "Integrated gradients",
        "the class score's change from the all-padding baseline, split over the tokens (sums "
        "to f(x) - f(baseline))",
    ),
    "input_x_gradient": ("Input × gradient", "embedding times its gradient, summed per token"),
    "saliency": ("Saliency", "gradient of the score w.r.t. the embedding, summed per token"),
    "smoothgrad": ("SmoothGrad", "gradient averaged over noisy embeddings, summed per token"),
    "occlusion": (
        "Occlusion",
        "drop of the class score when the token is replaced by the padding id",
    ),
}
DEFAULT_TOKEN_METHODS = ("integrated_gradients", "input_x_gradient", "occlusion")


def token_maps(model, ids: np.ndarray, method: str, *, steps: int = 64) -> np.ndarray:
    """Every class's attribution of one example: float32 (classes, length)."""
    if method == "occlusion":
        out = token_occlusion(model, ids, "all")
    elif method == "smoothgrad":
        out = token_attribution(model, ids, "all", method=method, key=jax.random.key(0))
    else:
        out = token_attribution(model, ids, "all", method=method, steps=steps)
    return np.asarray(out, np.float32)[0]


def _check_methods(methods) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError(f"methods: expected at least one of {', '.join(TOKEN_METHODS)}.")
    for m in methods:
        check_choice("methods", m, tuple(TOKEN_METHODS))
    return tuple(dict.fromkeys(methods))


def _check_evidence(evidence, tokens: np.ndarray) -> np.ndarray | None:
    if evidence is None:
        return None
    mask = np.asarray(evidence)
    if mask.ndim == 1:
        mask = mask[None]
    if mask.shape != tokens.shape:
        raise ValueError(
            f"evidence: expected a bool mask shaped like the tokens {tokens.shape}, got shape "
            f"{np.asarray(evidence).shape}."
        )
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError("evidence: expected a bool mask (True on the evidence tokens).")
    return mask.astype(bool)


class TokenView(_TokenExamples, JaxvizWidget):
    """Token attribution as coloured tokens: one row per method, red for tokens that raise the
    class score and blue for those that lower it (RdBu, colour-blind safe, white at 0), each
    row with its colorbar in score units; the ground-truth evidence beside them when known.

    Every method's attribution for every class is computed in one call per method when an
    example is first shown, so the class and method controls switch in the browser.

    Args:
      model: a `jv.wrap`-ped model taking token ids.
      tokens: int token ids, (length,) or (batch, length); `index` picks the example shown.
      methods: among "integrated_gradients", "input_x_gradient", "saliency", "smoothgrad"
        (`jv.token_attribution` at the embedding, summed per token) and "occlusion"
        (`jv.token_occlusion`).
      target: the class shown first; None: each example's predicted class.
      evidence: bool mask like `tokens`, True on the tokens the label depends on (e.g.
        `data.masks_test`), drawn as a row under the attributions.
      vocabulary: the word of each token id (e.g. `data.vocabulary`), default the ids.
      labels, class_names: true classes and class names, for the captions.

    Traits: `index`, `target` (-1: predicted), `method` ("all" or one method).
    """

    _esm = static_asset("tokens.js")
    _css = static_asset("tokens.css")

    index = traitlets.Int(0).tag(sync=True)
    target = traitlets.Int(-1).tag(sync=True)
    method = traitlets.Unicode("all").tag(sync=True)

    _setup = traitlets.Dict().tag(sync=True)
    _result = traitlets.Dict().tag(sync=True)
    _compute_traits = ("index",)

    @traitlets.validate("target")
    def _valid_target(self, proposal):
        return _in_range("target", proposal["value"], -1, len(self._class_names) - 1)

    @traitlets.validate("method")
    def _valid_method(self, proposal):
        try:
            return check_choice("method", proposal["value"], ("all", *self._methods))
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None

    def __init__(
        self,
        model,
        tokens,
        *,
        methods: Sequence[str] = DEFAULT_TOKEN_METHODS,
        target: int | None = None,
        evidence=None,
        vocabulary: Sequence[str] | None = None,
        labels=None,
        class_names: Sequence[str] | None = None,
        warm: bool = True,
        **traits: Any,
    ) -> None:
        self._model = model
        self._tokens = _token_batch(model, tokens)
        self._methods = _check_methods(methods)
        self._vocabulary = check_vocabulary(vocabulary, self._tokens)
        self._evidence = _check_evidence(evidence, self._tokens)
        logits = np.asarray(model(self._tokens), np.float32)
        self._probs = np.asarray(jax.nn.softmax(logits, axis=-1))
        classes = logits.shape[1]
        self._class_names = _names("class_names", class_names, classes, "class")
        target = _check_target(target, classes)
        self._labels = None if labels is None else [int(v) for v in np.asarray(labels).reshape(-1)]
        if self._labels is not None and len(self._labels) != self._tokens.shape[0]:
            raise ValueError(
                f"labels: expected one label per example ({self._tokens.shape[0]}), got "
                f"{len(self._labels)}."
            )
        super().__init__(warm=warm, **{"target": -1 if target is None else target, **traits})
        self._setup = {
            "examples": int(self._tokens.shape[0]),
            "class_names": self._class_names,
            "labels": self._labels,
            "probs": array_payload(self._probs),
            "methods": [
                {"value": m, "label": TOKEN_METHODS[m][0], "units": TOKEN_METHODS[m][1]}
                for m in self._methods
            ],
            "lut": array_payload(colormap_lut(DIVERGING), "uint8"),
        }
        self.refresh()

    @property
    def methods(self) -> tuple[str, ...]:
        return self._methods

    def attributions(self, index: int) -> dict[str, np.ndarray]:
        """{method: (classes, shown tokens)} for example `index` (what the view draws)."""
        return self._maps(index)[0]

    def _maps(self, index: int) -> tuple[dict[str, np.ndarray], list[str]]:
        ids = self._tokens[index : index + 1]
        words = words_of(ids[0], self._vocabulary)
        n = shown_length(words)
        return {m: token_maps(self._model, ids, m)[:, :n] for m in self._methods}, words[:n]

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        index = state["index"]
        maps, words = self._maps(index)
        evidence = (
            None
            if self._evidence is None
            else [bool(e) for e in self._evidence[index, : len(words)]]
        )
        return {
            "_result": {
                "index": index,
                "words": words,
                "evidence": evidence,
                "maps": {m: array_payload(a) for m, a in maps.items()},
            }
        }

    def shown_class(self) -> int:
        """The class drawn: `target`, or the shown example's prediction when it is -1."""
        return self.target if self.target >= 0 else int(np.argmax(self._probs[self.index]))

    def plot(self):
        """The shown example's coloured tokens for every method, and its evidence, as a
        matplotlib figure."""
        from ._sequence_plot import tokens_figure

        return tokens_figure(self)


# -- recurrent states ---------------------------------------------------------------------------


def _nnx_module_of(model: Model):
    """The flax.nnx module behind a `jv.wrap`-ped nnx model (with its wrapped weights), else
    None. `_model._wrap_nnx` keeps the module split inside its forward function."""
    if model.kind != "nnx":
        return None
    from flax import nnx

    found = inspect.getclosurevars(model._forward).nonlocals
    if "graphdef" not in found or "rest" not in found:
        return None
    return nnx.merge(found["graphdef"], model.params, found["rest"])


def _find_rnn(module) -> tuple[Any, Any]:
    """(token embedding, recurrent cell) found inside an nnx module (the first of each)."""
    from flax import nnx

    embed = cell = None
    root = _nnx_module_of(module) if isinstance(module, Model) else module
    if not isinstance(root, nnx.Module):
        return None, None
    for _, node in nnx.iter_graph(root):
        if embed is None and isinstance(node, nnx.Embed):
            embed = node
        if cell is None and isinstance(node, nnx.Module) and hasattr(node, "initialize_carry"):
            cell = node
    return embed, cell


def _states_by_length(cell, features, carry, lengths, norm):
    """`rnn_states` and `state_gradient_norms` of each example over its first `lengths[i]`
    steps (one call per distinct length), NaN after them."""
    batch, time = features.shape[:2]
    if all(n == time for n in lengths):
        states = rnn_states(cell, features, carry=carry)
        norms = state_gradient_norms(cell, features, carry=carry, norm=norm)
        return states, np.asarray(norms, np.float32)
    parts = {}
    for n in sorted(set(lengths)):
        chosen = np.flatnonzero(np.asarray(lengths) == n)
        part = features[chosen, :n]
        parts[n] = (chosen, rnn_states(cell, part), state_gradient_norms(cell, part, norm=norm))

    def assemble(pick):
        first = pick(next(iter(parts.values())))
        if first is None:
            return None
        out = np.full((batch, time) + np.shape(first)[2:], np.nan, np.float32)
        for n, part in parts.items():
            out[part[0], :n] = np.asarray(pick(part))
        return out

    gates = parts[lengths[0]][1].gates
    # Host arrays, NaN past each example's length, in RNNStates' fields (typed for device arrays).
    states = RNNStates(
        cast(Any, assemble(lambda p: p[1].hidden)),
        cast(Any, assemble(lambda p: p[1].cell)),
        None
        if gates is None
        else {g: cast(Any, assemble(lambda p, g=g: p[1].gates[g])) for g in gates},
    )
    return states, assemble(lambda p: p[2])


class RNNView(JaxvizWidget):
    """A recurrent network's states over time: the hidden state (and the LSTM's cell state and
    gates, where the cell has them) as a units x time heat map with a time slider, and the
    curve of ||dh_T/dh_t||, how much the final state still depends on the state at step t
    (vanishing gradients through time when it falls off; log scale by default).

    Args:
      cell_or_model: a recurrent cell (flax.nnx LSTM/GRU/Simple cell, or a function
        `cell(carry, x) -> (carry, y)`) reading float `inputs` (batch, time, features); or an
        nnx model (or its `jv.wrap`) holding an `nnx.Embed` and such a cell, reading int token
        ids (batch, time), which are embedded with its first `Embed`.
      inputs: as above; (time, ...) for one example works too.
      carry: the initial carry (default the cell's `initialize_carry`).
      vocabulary: the word of each token id, to label the time axis.
      norm: "spectral" or "frobenius", for ||dh_T/dh_t|| (see `jv.state_gradient_norms`).

    Traits: `index` (example), `step` (time slider), `state` ("hidden", "cell" or a gate),
    `log` (the gradient curve's scale).
    """

    _esm = static_asset("rnn.js")
    _css = static_asset("rnn.css")

    index = traitlets.Int(0).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    state = traitlets.Unicode("hidden").tag(sync=True)
    log = traitlets.Bool(True).tag(sync=True)
    _data = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        cell_or_model,
        inputs,
        *,
        carry=None,
        vocabulary: Sequence[str] | None = None,
        norm: str = "spectral",
        warm: bool = True,
        **traits: Any,
    ) -> None:
        check_choice("norm", norm, NORMS)
        words = None
        array = np.asarray(inputs)
        if np.issubdtype(array.dtype, np.integer) and array.dtype != bool:
            embed, cell = _find_rnn(cell_or_model)
            if embed is None or cell is None:
                raise TypeError(
                    "cell_or_model: token ids need a flax.nnx model holding an nnx.Embed and a "
                    "recurrent cell (with initialize_carry); for a bare cell, pass float inputs "
                    "(batch, time, features), e.g. the embeddings."
                )
            if array.ndim == 1:
                array = array[None]
            if array.ndim != 2:
                raise ValueError(
                    f"inputs: expected token ids (batch, time), got shape {array.shape}."
                )
            size = int(embed.num_embeddings)
            if ((array < 0) | (array >= size)).any():
                bad = int(array[(array < 0) | (array >= size)][0])
                raise ValueError(
                    f"inputs: token id {bad} is outside the vocabulary; the embedding has {size} "
                    f"tokens (ids 0 to {size - 1})."
                )
            vocab = check_vocabulary(vocabulary, array)
            words = [words_of(row, vocab) for row in array]
            features = np.asarray(embed(array), np.float32)
        else:
            features = array[None] if array.ndim == 2 else array
            cell, features, carry = _check_cell_inputs(cell_or_model, features, carry)
        if features.shape[0] > MAX_EXAMPLES:
            raise ValueError(
                f"inputs: a view holds at most {MAX_EXAMPLES} examples, got {features.shape[0]}."
            )
        batch, time = features.shape[:2]
        # Trailing padding is cut per example (the model reads the last real step), so h_T is
        # the state the model uses; steps past an example's length are NaN (drawn blank).
        lengths = (
            [shown_length(w) for w in words]
            if words is not None and carry is None
            else [time] * batch
        )
        self.lengths = np.asarray(lengths)
        self.states, self.gradient_norms = _states_by_length(cell, features, carry, lengths, norm)
        self._words = words
        self._norm = norm
        kinds = {"hidden": self.states.hidden}
        if self.states.cell is not None:
            kinds["cell"] = self.states.cell
        gates = self.states.gates or {}
        # the cell's equation order (jax returns the dict sorted)
        kinds.update(
            {g: gates[g] for g in sorted(gates, key=lambda g: (GATE_ORDER + (g,)).index(g))}
        )
        self._kinds = {k: np.asarray(v, np.float32) for k, v in kinds.items()}
        self._shape = features.shape[:2]
        super().__init__(warm=warm, **{"step": lengths[0] - 1, **traits})
        self._data = {
            "examples": int(features.shape[0]),
            "time": int(time),
            "lengths": [int(n) for n in lengths],
            "units": int(self.states.hidden.shape[-1]),
            "words": words,
            "norm": norm,
            "states": {k: array_payload(v) for k, v in self._kinds.items()},
            "signed": {k: bool(np.nanmin(v) < 0) for k, v in self._kinds.items()},
            "gradient_norms": array_payload(self.gradient_norms),
            "luts": {
                "sequential": array_payload(colormap_lut(SEQUENTIAL), "uint8"),
                "diverging": array_payload(colormap_lut(DIVERGING), "uint8"),
            },
        }

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        return _in_range("index", proposal["value"], 0, self._shape[0] - 1)

    @traitlets.validate("step")
    def _valid_step(self, proposal):
        return _in_range("step", proposal["value"], 0, self._shape[1] - 1)

    @traitlets.validate("state")
    def _valid_state(self, proposal):
        try:
            return check_choice("state", proposal["value"], tuple(self._kinds))
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}

    def plot(self):
        """The shown example's states (units x time) and ||dh_T/dh_t|| as a matplotlib figure."""
        from ._sequence_plot import rnn_figure

        return rnn_figure(self)
