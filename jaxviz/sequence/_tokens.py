"""Token inputs: validation of token ids, the embedding layer, and one forward pass with
attention taps (weights captured, deltas added, heads masked) that every sequence method shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.core
import numpy as np

from .._attention import HEADS, WEIGHTS
from .._checks import check_input, check_layers


def check_tokens(model, tokens, argument: str = "tokens") -> np.ndarray:
    """`tokens` as a host int32 array (batch, length) of ids the model's vocabulary holds."""
    if isinstance(tokens, jax.core.Tracer):
        raise TypeError(
            f"{argument}: jaxviz functions compile themselves; call them on concrete arrays."
        )
    try:
        tokens = np.asarray(tokens)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{argument}: expected an array of token ids, got {type(tokens).__name__}."
        ) from err
    if tokens.dtype == bool or not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(
            f"{argument}: expected integer token ids (batch, length), got dtype {tokens.dtype}. "
            "Pass the ids the model's embedding looks up (e.g. tokens.astype('int32')), not "
            "embeddings."
        )
    if tokens.ndim != 2 or 0 in tokens.shape:
        raise ValueError(
            f"{argument}: expected token ids shaped (batch, length), got shape {tokens.shape}."
        )
    tokens = check_input(model, tokens.astype(np.int32), argument, integers=True)
    size = vocabulary_size(model, tokens)
    if size is not None:
        bad = tokens[(tokens < 0) | (tokens >= size)]
        if bad.size:
            raise ValueError(
                f"{argument}: token id {int(bad[0])} is outside the vocabulary; the model's "
                "embedding "
                f"has {size} tokens (ids 0 to {size - 1})."
            )
    return tokens


def token_embeddings(model, tokens: np.ndarray) -> list[str]:
    """The model's flax `Embed` layers that output one vector per token (batch, length,
    features), in forward order: the token embedding first (a position embedding looked up
    with `arange(length)` has no batch axis and is left out)."""
    shapes = model.layer_shapes(tokens)
    return [
        name
        for name, spec in shapes.items()
        if model.layer_types.get(name) == "Embed"
        and spec.shape[:2] == tokens.shape
        and len(spec.shape) == 3
    ]


def vocabulary_size(model, tokens: np.ndarray) -> int | None:
    """The number of rows of the model's token embedding table, if it has a flax `Embed`."""
    for name in token_embeddings(model, tokens):
        table = model.layer_params(name)
        try:
            table = table["embedding"]
        except (KeyError, TypeError):
            continue
        return int(np.shape(jax.tree.leaves(table)[0])[0])
    return None


def check_embedding_layer(model, tokens: np.ndarray, layer: str | None) -> str:
    """The layer whose output the token methods differentiate: `layer`, or the token `Embed`."""
    shapes = model.layer_shapes(tokens)
    if layer is None:
        found = token_embeddings(model, tokens)
        if not found:
            raise ValueError(
                "layer: the model has no flax Embed layer to attribute at; pass layer= the name of "
                "the layer that outputs the token embeddings. The model's layers: "
                f"{', '.join(shapes)}."
            )
        layer = found[0]
    if not isinstance(layer, str):
        raise TypeError(f"layer: expected a layer name (str), got {layer!r}; see model.layers.")
    check_layers([layer], list(shapes))
    shape = shapes[layer].shape
    if shape[:2] != tokens.shape or len(shape) != 3:
        raise ValueError(
            f"layer: {layer!r} outputs shape {shape}, not one vector per token (batch, length, "
            "features) "
            f"= {tokens.shape + ('features',)}; pass the token embedding layer."
        )
    return layer


def check_baseline_tokens(baseline, tokens: np.ndarray, size: int | None) -> np.ndarray:
    """A baseline of token ids: one id for every position, one sequence, or one per example."""
    baseline = np.asarray(baseline)
    if baseline.dtype == bool or not np.issubdtype(baseline.dtype, np.integer):
        raise TypeError(
            "baseline: expected a token id (int) or an int array of ids, got dtype "
            f"{baseline.dtype}."
        )
    try:
        baseline = np.broadcast_to(baseline, tokens.shape)
    except ValueError:
        raise ValueError(
            f"baseline: shape {baseline.shape} does not broadcast to the tokens' shape "
            f"{tokens.shape}."
        ) from None
    if size is not None and ((baseline < 0) | (baseline >= size)).any():
        raise ValueError(
            f"baseline: token ids must lie in 0 to {size - 1} (the model's vocabulary)."
        )
    return np.ascontiguousarray(baseline, np.int32)


# -- attention layers and the tapped forward pass -------------------------------------------------


def attention_layers(model, tokens) -> tuple[str, ...]:
    """The names of the model's attention weights in forward order: flax attention modules'
    `<module>.attention_weights`, and a plain function's `checkpoint_name` tags that end in
    `attention_weights`."""
    return tuple(name for name in model.layer_shapes(tokens) if name.endswith(WEIGHTS))


def check_attention_layers(model, tokens, layers: Sequence[str] | None = None) -> tuple[str, ...]:
    found = attention_layers(model, tokens)
    if not found:
        raise ValueError(
            "model: it has no attention weights jaxviz can read. Supported: flax.nnx "
            "MultiHeadAttention and flax.linen MultiHeadDotProductAttention with the default "
            "attention_fn, and plain functions that tag their weights (batch, heads, queries, "
            "keys) "
            'with checkpoint_name(weights, "<layer>.attention_weights").'
        )
    if layers is None:
        return found
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    check_layers(layers, found, argument="layers")
    return layers


def heads_of(layer: str) -> str:
    """The per-head output tap that goes with an attention-weights tap."""
    return layer[: -len(WEIGHTS)] + HEADS


def head_shape(model, tokens, layers: Sequence[str]) -> tuple[int, int]:
    """(layers, heads) of the model's attention, checked equal across layers."""
    shapes = model.layer_shapes(tokens)
    heads = {shapes[name].shape[1] for name in layers}
    if len(heads) != 1:
        raise ValueError(
            f"model: its attention layers have different numbers of heads {sorted(heads)}."
        )
    for name in layers:
        spec = shapes[name].shape
        if len(spec) != 4 or spec[0] != tokens.shape[0]:
            raise ValueError(
                f"model: attention weights {name!r} have shape {spec}, not (batch, heads, "
                "queries, keys)."
            )
    return len(layers), heads.pop()


def check_head_mask(model, tokens, layers: Sequence[str], head_mask) -> np.ndarray:
    """A float32 (layers, heads) mask the model's per-head outputs can be scaled by."""
    expected = head_shape(model, tokens, layers)
    mask = np.asarray(head_mask)
    if not (
        np.issubdtype(mask.dtype, np.floating)
        or np.issubdtype(mask.dtype, np.integer)
        or mask.dtype == bool
    ):
        raise TypeError(f"head_mask: expected numbers, got dtype {mask.dtype}.")
    if mask.shape != expected:
        raise ValueError(
            f"head_mask: expected shape (layers, heads) = {expected} for the attention layers "
            f"{', '.join(layers)}, got shape {mask.shape}."
        )
    if not np.isfinite(mask).all():
        raise ValueError("head_mask: contains NaN or infinite values.")
    shapes = model.layer_shapes(tokens)
    missing = [heads_of(name) for name in layers if heads_of(name) not in shapes]
    if missing:
        raise ValueError(
            "head_mask: the model reports no per-head outputs "
            f"{', '.join(map(repr, missing))}; a plain "
            'function must tag them too, checkpoint_name(heads, "<layer>.heads") with heads shaped '
            "(batch, queries, heads, head_dim), before its output projection."
        )
    return mask.astype(np.float32)


def forward(
    model,
    params,
    tokens: jax.Array,
    *,
    capture: Sequence[str] = (),
    deltas: Mapping[str, jax.Array] | None = None,
    head_mask: jax.Array | None = None,
    layers: Sequence[str] = (),
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Logits and the `capture`d layer values (after any delta), inside a program.

    `deltas` are added to the named layers' outputs (zero deltas make gradients with respect to
    those layers); `head_mask` (len(layers), heads) scales each head's output of the attention
    `layers` before the output projection.
    """
    deltas = dict(deltas or {})
    scales = {heads_of(name): i for i, name in enumerate(layers)} if head_mask is not None else {}
    captured: dict[str, jax.Array] = {}
    seen: set[str] = set()

    def hook(name, value):
        if name in seen:  # a layer called twice is tapped at its first call
            return value
        seen.add(name)
        if name in deltas:
            value = value + deltas[name].astype(value.dtype)
        if head_mask is not None and name in scales:
            value = value * head_mask[scales[name]].astype(value.dtype)[None, None, :, None]
        if name in capture:
            captured[name] = value
        return value

    logits = model._forward(params, tokens, hook)
    return logits, captured
