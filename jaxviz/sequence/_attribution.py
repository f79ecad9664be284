"""Token attribution: gradient methods at the embedding layer, reduced to one number per token,
and token occlusion.

Token ids are not differentiable, so the gradient methods differentiate the output of the
embedding layer instead (through a zero delta added there, as `layer_integrated_gradients` does)
and reduce each token's vector of attributions to a number: its sum (signed; for integrated
gradients the token's share of the completeness sum) or its L2 norm (unsigned magnitude).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_batch_size, check_choice, check_key, check_positive_int
from ..explain import _engine
from ..explain._backprop import fix_predicted, per_class, per_sample, pull_back, rows_of
from ..explain._quadrature import RULES, path_rule
from ..explain._targets import class_scores, resolve_target
from ._tokens import (
    check_baseline_tokens,
    check_embedding_layer,
    check_tokens,
    forward,
    vocabulary_size,
)

TOKEN_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad")
REDUCTIONS = ("sum", "l2")


def token_attribution(
    model,
    tokens,
    target=None,
    *,
    method: str = "integrated_gradients",
    layer: str | None = None,
    reduce: str = "sum",
    baseline=0,
    steps: int = 64,
    quadrature: str = "gausslegendre",
    samples: int = 32,
    noise: float = 0.15,
    key=None,
    batch_size: int | None = None,
) -> jax.Array:
    """Attribution of the target score to each token, computed at the embedding layer.

    Methods (each is the input method of the same name, applied to the embedding layer's output
    e instead of the input):
      - "saliency": the gradient dS/de (Simonyan et al., 2014);
      - "input_x_gradient": e * dS/de (Shrikumar et al., 2016);
      - "integrated_gradients": layer integrated gradients (Sundararajan et al., 2017; Captum's
        `LayerIntegratedGradients` on the embedding): e moves on the straight path from the
        embedding of the `baseline` tokens to e, the rest of the network seeing `tokens`;
      - "smoothgrad": dS/de averaged over `samples` copies of e with Gaussian noise whose
        standard deviation is `noise` times each example's embedding range (Smilkov et al., 2017).

    Args:
      model: a `jaxviz.wrap`ped model taking token ids.
      tokens: int token ids (batch, length).
      target: None (predicted class), an int, one int per example, or "all".
      method: one of the methods above.
      layer: the embedding layer; default the model's first flax `Embed` layer (the token
        embedding). Position embeddings added after it are part of the rest of the network.
      reduce: "sum" over the embedding features (signed; integrated gradients' token scores then
        sum to f(tokens) - f(baseline)) or "l2" (the norm of each token's attribution vector).
      baseline: for integrated gradients, the reference token ids: one id (default 0, usually the
        padding token) for every position, one sequence, or one per example.
      steps, quadrature: the integrated-gradients path rule (see `jv.integrated_gradients`).
      samples, noise, key: SmoothGrad's noisy copies; `key` is a `jax.random.key`.
      batch_size: examples per compiled chunk.

    Returns:
      float32 (batch, length), or (batch, classes, length) for target="all".
    """
    check_choice("method", method, TOKEN_METHODS)
    check_choice("reduce", reduce, REDUCTIONS)
    check_choice("quadrature", quadrature, RULES)
    tokens = check_tokens(model, tokens)
    target = resolve_target(target, tokens.shape[0], model.output_shape(tokens).shape[1])
    layer = check_embedding_layer(model, tokens, layer)
    baseline = check_baseline_tokens(baseline, tokens, vocabulary_size(model, tokens))
    steps = check_positive_int("steps", steps)
    samples = check_positive_int("samples", samples)
    if method == "smoothgrad":
        key = check_key(key, "token_attribution with method='smoothgrad'")
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(
                f"noise: expected a non-negative fraction of the embedding range, got {noise!r}."
            )
    else:
        key = jax.random.key(0)  # unused; keeps one kernel signature
    alphas, weights = (
        path_rule(quadrature, steps)
        if method == "integrated_gradients"
        else (np.ones(1), np.ones(1))
    )
    if method == "smoothgrad":
        alphas, weights = np.ones(samples), np.full(samples, 1.0 / samples)

    def build():
        def kernel(params, key, indices, tokens, baseline, classes):
            spec = model.layer_shapes(tokens)[layer]  # of this chunk's (traced) tokens
            zeros = jnp.zeros((tokens.shape[0],) + spec.shape[1:], spec.dtype)
            logits, captured = forward(
                model, params, tokens, capture=(layer,), deltas={layer: zeros}
            )
            mode, classes = fix_predicted(target.mode, classes, logits)
            end = captured[layer].astype(jnp.float32)
            if method == "integrated_gradients":
                start = forward(model, params, baseline, capture=(layer,), deltas={layer: zeros})[
                    1
                ][layer]
                start = start.astype(jnp.float32)
                path = jnp.asarray(alphas, jnp.float32).reshape(1, -1, 1, 1)
                offsets = start[:, None] + path * (end - start)[:, None] - end[:, None]
                scale = per_class(end - start, mode)
            elif method == "smoothgrad":
                spread = (end.max(axis=(1, 2)) - end.min(axis=(1, 2))).reshape(-1, 1, 1, 1)
                draws = jax.vmap(
                    lambda i: jax.random.normal(
                        jax.random.fold_in(key, i), (samples,) + end.shape[1:]
                    )
                )(indices)
                offsets, scale = noise * spread * draws, 1.0
            else:
                offsets = jnp.zeros_like(end)[:, None]
                scale = per_class(end, mode) if method == "input_x_gradient" else 1.0
            count = offsets.shape[1]
            repeated = jnp.repeat(tokens, count, axis=0)

            def run(delta):
                return forward(model, params, repeated, deltas={layer: delta})[0]

            rows_logits, vjp = jax.vjp(run, rows_of(offsets).astype(spec.dtype))
            grads = per_sample(
                pull_back(vjp, rows_logits, mode, jnp.repeat(classes, count)), tokens.shape[0]
            )
            attr = scale * jnp.tensordot(jnp.asarray(weights, jnp.float32), grads, axes=(0, 1))
            return attr.sum(-1) if reduce == "sum" else jnp.sqrt((attr**2).sum(-1))

        return kernel

    program = (
        "token_attribution",
        method,
        layer,
        reduce,
        quadrature,
        len(alphas),
        float(noise),
        target.mode,
    )
    return _engine.run(
        model,
        program,
        build,
        (tokens, baseline, target.classes),
        shared=(key,),
        batch_size=check_batch_size(batch_size),
        evaluations=len(alphas) + 2,
    )


def token_occlusion(
    model, tokens, target=None, *, replacement=0, batch_size: int | None = None
) -> jax.Array:
    """Occlusion of tokens: each token's attribution is the drop of the target score when that
    one token is replaced by `replacement` (a token id, default 0, usually the padding token).
    All positions run in one compiled, vmapped program.

    Returns:
      float32 (batch, length), or (batch, classes, length) for target="all".
    """
    tokens = check_tokens(model, tokens)
    target = resolve_target(target, tokens.shape[0], model.output_shape(tokens).shape[1])
    replacement = check_baseline_tokens(replacement, tokens, vocabulary_size(model, tokens))

    def build():
        def kernel(params, indices, tokens, replacement, classes):
            logits = model.apply(params, tokens)
            mode, classes = fix_predicted(target.mode, classes, logits)
            scores = class_scores(mode, classes, logits)
            positions = jnp.eye(tokens.shape[1], dtype=bool)

            def drop(position):
                covered = jnp.where(position[None], replacement, tokens)
                return scores - class_scores(mode, classes, model.apply(params, covered))

            return jnp.moveaxis(jax.vmap(drop)(positions), 0, -1)

        return kernel

    return _engine.run(
        model,
        ("token_occlusion", target.mode),
        build,
        (tokens, replacement, target.classes),
        batch_size=check_batch_size(batch_size),
        evaluations=tokens.shape[1] + 1,
    )
