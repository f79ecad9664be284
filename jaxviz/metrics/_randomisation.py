"""Randomisation sanity checks: an explanation that survives destroying what the model learnt
(or asking about another class) does not explain the model."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_layers
from . import _inputs
from ._result import MetricResult, RandomizationResult, host_rng, summarize
from ._similarity import spearman, ssim

SIMILARITIES = ("ssim", "spearman")


def model_randomization(
    model,
    x,
    target,
    method,
    *,
    cascading: bool = True,
    layers=None,
    absolute: bool = True,
    key=None,
) -> RandomizationResult:
    """Model parameter randomization test (Adebayo et al., 2018, "Sanity checks for saliency
    maps"): re-initialise the model's layers and compare each new explanation with the
    trained model's, by Spearman rank correlation and by SSIM. An explanation that depends on
    the learnt weights decorrelates; Adebayo et al. found gradients do, guided backprop barely.

    Cascading (default): the top layer first, then each step also re-initialises the next layer
    down. Independent (`cascading=False`): one layer at a time, the others trained. A layer's
    parameters (`model.layer_params(layer)`) are redrawn from a zero-mean normal with the
    standard deviation of the trained values of each array (a stand-in for its initializer,
    which a wrapped model does not keep: the activations keep their scale; an all-constant
    array, e.g. zero biases, becomes zeros).

    Maps are compared as position maps (an image attribution summed over its channels), of
    the absolute values with `absolute=True` (Adebayo et al.'s main figures; they report both).
    SSIM needs 2-D maps of at least 7 x 7 (images); for other inputs `ssim` is empty.

    On the zoo's shapes-cnn (tests/test_metrics.py), signed maps show Adebayo et al.'s result:
    the gradient's rank correlation falls to about 0 from the first step, guided backprop's
    stays above 0.5 for the top three layers. Magnitude maps separate them less there: the
    model's first step is |x - mean colour|, so the gradient's magnitude keeps the shape's
    outline whatever the weights (rank correlation about 0.5 for both).

    Args:
      model: a `jaxviz.wrap`ped model with parameters.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class of the trained model), an int, or one int per example;
        the randomized models' explanations follow the same classes.
      method: the explanation, called as `method(model, x, classes)`, e.g. `jv.saliency`.
      cascading: accumulate the randomization from the top down, or one layer at a time.
      layers: the layers to randomize, in that order; default every layer with parameters,
        from the output back to the input.
      absolute: compare the magnitudes of the maps.
      key: a `jax.random.key` for the new weights and the bootstraps.
    """
    x, classes = _inputs.followed_classes(model, x, target, metric="model_randomization")
    method = _inputs.needs_method(method, "model_randomization")
    sample_key, resample_key = _inputs.sampling_keys(key, "model_randomization")
    layers = _randomized_layers(model, layers)
    original = _inputs.check_attribution(
        _inputs.call_method(method, model, x, classes), x, argument="method"
    )
    reference = _position_map(original, x, absolute)
    params = model.params
    maps, correlations, similarities = [], [], []
    for step, layer in enumerate(layers):
        start = params if cascading else model.params
        params = _redrawn(model, start, layer, host_rng(sample_key, step))
        attribution = _inputs.call_method(method, _with_params(model, params), x, classes)
        maps.append(attribution)
        compared = _position_map(attribution, x, absolute)
        correlations.append(
            summarize(
                "rank_correlation",
                spearman(_flat(reference), _flat(compared)),
                resample_key,
                higher_is_better=False,
            )
        )
        if _ssim_applies(reference):
            similarities.append(
                summarize("ssim", ssim(reference, compared), resample_key, higher_is_better=False)
            )
    return RandomizationResult(
        layers=tuple(layers),
        cascading=cascading,
        rank_correlation=tuple(correlations),
        ssim=tuple(similarities),
        attributions=np.stack(maps),
        original=original,
    )


def random_logit(
    model, x, target, method, *, similarity: str = "ssim", absolute: bool = False, key=None
) -> MetricResult:
    """Random logit test (Sixt et al., 2020; Quantus's `RandomLogit`): the similarity between the
    explanation of the followed class and that of a class drawn uniformly among the others. A
    class-sensitive explanation differs: lower is better.

    Args:
      model, x, target, method, absolute: as in `model_randomization`.
      similarity: "ssim" (Quantus's default; images of at least 7 x 7) or "spearman".
      key: a `jax.random.key` for the other classes and the bootstrap.
    """
    check_choice("similarity", similarity, SIMILARITIES)
    x, classes = _inputs.followed_classes(model, x, target, metric="random_logit")
    method = _inputs.needs_method(method, "random_logit")
    num_classes = np.asarray(model.output_shape(x).shape)[1]
    if num_classes < 2:
        raise ValueError("model: random_logit needs at least 2 classes to pick another one.")
    sample_key, resample_key = _inputs.sampling_keys(key, "random_logit")
    shift = host_rng(sample_key).integers(1, num_classes, size=len(x))
    others = ((classes + shift) % num_classes).astype(np.int32)
    followed = _position_map(_inputs.call_method(method, model, x, classes), x, absolute)
    other = _position_map(_inputs.call_method(method, model, x, others), x, absolute)
    if similarity == "ssim":
        if not _ssim_applies(followed):
            raise ValueError(
                f"similarity: 'ssim' needs images of at least 7 x 7; x has shape {x.shape}. "
                "Use 'spearman'."
            )
        values = ssim(followed, other)
    else:
        values = spearman(_flat(followed), _flat(other))
    return summarize("random_logit", values, resample_key, higher_is_better=False)


def _randomized_layers(model, layers) -> list[str]:
    owning = [name for name in model.layers if jax.tree.leaves(model.layer_params(name))]
    if not owning:
        raise ValueError(
            "model: it has no layers with parameters (model.layer_params) to randomize."
        )
    if layers is None:
        return owning[::-1]
    layers = [layers] if isinstance(layers, str) else list(layers)
    check_layers(layers, owning, argument="layers")
    return layers


def _redrawn(model, params, layer: str, rng: np.random.Generator):
    """`params` with the arrays of `layer` redrawn from N(0, std of each array^2)."""
    owned = {id(leaf) for leaf in jax.tree.leaves(model.layer_params(layer, params))}
    leaves, structure = jax.tree.flatten(params)
    fresh = [
        jnp.asarray(rng.normal(0.0, float(np.std(leaf)), leaf.shape), leaf.dtype)
        if id(leaf) in owned
        else leaf
        for leaf in leaves
    ]
    return jax.tree.unflatten(structure, fresh)


def _with_params(model, params):
    """The model with other weights: its compiled programs are shared (weights are arguments)."""
    twin = copy.copy(model)
    twin.params = params
    return twin


def _position_map(attribution, x, absolute: bool) -> np.ndarray:
    attribution = np.abs(attribution) if absolute else attribution
    return np.asarray(_inputs.position_map(attribution, x), np.float32)


def _flat(maps: np.ndarray) -> np.ndarray:
    return maps.reshape(len(maps), -1)


def _ssim_applies(maps: np.ndarray) -> bool:
    return maps.ndim == 3 and min(maps.shape[1:]) >= 7
