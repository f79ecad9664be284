"""Attention weights read from the user's model, head masking, head knock-out, and
gradient-weighted attention: each one compiled program over the batch (see `_tokens.forward`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_batch_size
from ..explain import _engine
from ..explain._backprop import fix_predicted, pull_back_each
from ..explain._targets import class_scores, resolve_target
from ._tokens import check_attention_layers, check_head_mask, check_tokens, forward, head_shape


def attention(
    model,
    tokens,
    *,
    layers: str | Sequence[str] | None = None,
    heads: int | Sequence[int] | None = None,
    head_mask=None,
    batch_size: int | None = None,
) -> jax.Array:
    """The attention weights of every attention layer, read from the model without editing it.

    Supported: flax.nnx `MultiHeadAttention` and flax.linen `MultiHeadDotProductAttention` with
    flax's default `attention_fn` (jaxviz's private copy of each module computes the weights in a
    visible step and reports them, see `jaxviz/_attention.py`), and plain functions that tag their
    weights `checkpoint_name(weights, "<layer>.attention_weights")`. The weights are those the
    module uses after its masks: positions a padding or causal mask removes get exactly 0.

    Args:
      model: a `jaxviz.wrap`ped model taking token ids.
      tokens: int token ids (batch, length).
      layers: attention layer names (see `attention_layers`), default all in forward order.
      heads: head indices to keep (an int or a sequence), default all.
      head_mask: optional (layers, heads) scales of each head's output (1 keeps a head, 0 knocks
        it out); later layers' weights then show its effect.
      batch_size: examples per compiled chunk.

    Returns:
      float32 (batch, layers, heads, queries, keys); each unmasked row sums to 1.
    """
    tokens = check_tokens(model, tokens)
    layers = check_attention_layers(model, tokens, layers)
    all_layers = check_attention_layers(model, tokens)
    shape = head_shape(model, tokens, all_layers)
    chosen = _check_heads(heads, shape[1])
    masked = head_mask is not None
    mask = (
        check_head_mask(model, tokens, all_layers, head_mask)
        if masked
        else np.ones(shape, np.float32)
    )

    def build():
        def kernel(params, mask, indices, tokens):
            _, captured = forward(
                model,
                params,
                tokens,
                capture=layers,
                head_mask=mask if masked else None,
                layers=all_layers,
            )
            weights = jnp.stack([captured[name].astype(jnp.float32) for name in layers], axis=1)
            return weights[:, :, jnp.asarray(chosen)]

        return kernel

    program = ("attention", layers, all_layers, chosen, masked)
    return _engine.run(
        model, program, build, (tokens,), shared=(mask,), batch_size=check_batch_size(batch_size)
    )


def _check_heads(heads: Any, count: int) -> tuple[int, ...]:
    if heads is None:
        return tuple(range(count))
    chosen: tuple | None = None  # stays None for a bool: an int to Python, not a head index
    if isinstance(heads, int | np.integer) and not isinstance(heads, bool):
        chosen = (heads,)
    elif not isinstance(heads, bool):
        try:
            chosen = tuple(heads)
        except TypeError:
            chosen = None
    if not chosen or not all(
        isinstance(h, int | np.integer) and not isinstance(h, bool) for h in chosen
    ):
        raise TypeError(f"heads: expected a head index (int) or a sequence of them, got {heads!r}.")
    bad = [int(h) for h in chosen if not 0 <= h < count]
    if bad:
        raise ValueError(
            f"heads: head {bad[0]} is out of range; the model's attention has {count} heads (0 "
            f"to {count - 1})."
        )
    return tuple(int(h) for h in chosen)


def logits_with_head_mask(model, tokens, head_mask, *, batch_size: int | None = None) -> jax.Array:
    """The model's logits with each attention head's output scaled by `head_mask`: head masking
    as an option of the call, no code edit (Michel et al., 2019, "Are Sixteen Heads Really Better
    than One?"). Masking head h of a layer equals zeroing its slice of that layer's output
    projection.

    Args:
      head_mask: (layers, heads), one scale per head of every attention layer (see
        `attention_layers`); all ones gives the model's own logits.

    Returns:
      float32 logits (batch, classes).
    """
    tokens = check_tokens(model, tokens)
    layers = check_attention_layers(model, tokens)
    mask = check_head_mask(model, tokens, layers, head_mask)

    def build():
        def kernel(params, mask, indices, tokens):
            return forward(model, params, tokens, head_mask=mask, layers=layers)[0].astype(
                jnp.float32
            )

        return kernel

    return _engine.run(
        model,
        ("logits_with_head_mask", layers),
        build,
        (tokens,),
        shared=(mask,),
        batch_size=check_batch_size(batch_size),
    )


def head_importance(model, tokens, target=None, *, batch_size: int | None = None) -> jax.Array:
    """How much each attention head matters: the drop of the target score when that one head is
    knocked out (its output zeroed; Michel et al., 2019). Every head's knock-out runs in one
    compiled, vmapped program.

    Returns:
      float32 (batch, layers, heads): score(model) - score(model without the head); or
      (batch, classes, layers, heads) for target="all".
    """
    tokens = check_tokens(model, tokens)
    target = resolve_target(target, tokens.shape[0], model.output_shape(tokens).shape[1])
    layers = check_attention_layers(model, tokens)
    shape = head_shape(model, tokens, layers)
    check_head_mask(model, tokens, layers, np.ones(shape))  # per-head outputs must be reachable

    def build():
        def kernel(params, indices, tokens, classes):
            ones = jnp.ones(shape, jnp.float32)
            logits = forward(model, params, tokens, head_mask=ones, layers=layers)[0]
            mode, classes = fix_predicted(target.mode, classes, logits)
            knockouts = 1.0 - jnp.eye(shape[0] * shape[1], dtype=jnp.float32).reshape((-1, *shape))

            def score(mask):
                masked = forward(model, params, tokens, head_mask=mask, layers=layers)[0]
                return class_scores(mode, classes, masked)

            drops = class_scores(mode, classes, logits)[None] - jax.vmap(score)(
                knockouts
            )  # (L*H, batch[, C])
            return jnp.moveaxis(drops, 0, -1).reshape(drops.shape[1:] + shape)

        return kernel

    return _engine.run(
        model,
        ("head_importance", layers, target.mode),
        build,
        (tokens, target.classes),
        batch_size=check_batch_size(batch_size),
        evaluations=shape[0] * shape[1] + 1,
    )


def gradient_weighted_attention(
    model, tokens, target=None, *, batch_size: int | None = None
) -> jax.Array:
    """Gradient-weighted attention relevance (Chefer, Gur and Wolf, 2021, "Generic
    Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers",
    ICCV; their rule for self-attention).

    Starting from R = I, each attention layer in forward order updates R <- R + mean_h[(dS/dA
    * A)^+] R, where A is the layer's attention weights and S the target score. Row q of R is
    how much each input token is relevant to position q's representation; the identity keeps
    each token's own part (subtract it, `R - I`, to see only what attention moved).

    Returns:
      float32 (batch, queries, keys), or (batch, classes, queries, keys) for target="all".
    """
    tokens = check_tokens(model, tokens)
    target = resolve_target(target, tokens.shape[0], model.output_shape(tokens).shape[1])
    layers = check_attention_layers(model, tokens)

    def build():
        def kernel(params, indices, tokens, classes):
            shapes = model.layer_shapes(tokens)  # of this chunk's (traced) tokens
            zeros = [
                jnp.zeros((tokens.shape[0],) + shapes[name].shape[1:], shapes[name].dtype)
                for name in layers
            ]

            def run(*deltas):
                return forward(
                    model,
                    params,
                    tokens,
                    capture=layers,
                    deltas=dict(zip(layers, deltas, strict=True)),
                )

            logits, vjp, weights = jax.vjp(run, *zeros, has_aux=True)
            mode, classes = fix_predicted(target.mode, classes, logits)
            grads = dict(
                zip(layers, pull_back_each(vjp, logits, mode, classes), strict=True)
            )  # (batch[, C], h, q, k)
            length = tokens.shape[1]
            relevance = jnp.broadcast_to(
                jnp.eye(length, dtype=jnp.float32), grads[layers[0]].shape[:-3] + (length, length)
            )
            for name in layers:
                weight = weights[name].astype(jnp.float32)
                weight = weight[:, None] if mode == "all" else weight
                mixed = jnp.maximum(grads[name] * weight, 0.0).mean(axis=-3)
                relevance = relevance + mixed @ relevance
            return relevance

        return kernel

    return _engine.run(
        model,
        ("gradient_weighted_attention", layers, target.mode),
        build,
        (tokens, target.classes),
        batch_size=check_batch_size(batch_size),
        evaluations=2,
    )
