"""Robustness: does the explanation stay put when the input barely moves?

The method explains every perturbed copy of every example in one call (its own compiled,
chunked program), with the class followed at the unperturbed input.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_positive_int
from . import _inputs
from ._result import MetricResult, host_rng, summarize


def max_sensitivity(
    model,
    x,
    target,
    method,
    *,
    radius: float = 0.02,
    samples: int = 10,
    relative: bool = True,
    key=None,
) -> MetricResult:
    """Max-sensitivity (Yeh et al., 2019): `max ||Phi(x + d) - Phi(x)||` over perturbations `d`
    drawn uniformly from the L-infinity ball of `radius`, estimated with `samples` draws, with
    the Frobenius norm over all features. Lower is better; a linear model's gradient scores 0.

    With `relative=True` (default) each distance is divided by `||Phi(x)||` (1 if that is 0),
    as Captum's `sensitivity_max` (its default `perturb_func` draws the same uniform noise of
    `perturb_radius` = 0.02) and Quantus's `MaxSensitivity` do; Yeh et al.'s definition is the
    absolute distance, `relative=False`.

    Args:
      model: a `jaxviz.wrap`ped model.
      x: a batch of inputs (batch, ...).
      target: None (the predicted class), an int, or one int per example.
      method: the explanation, called as `method(model, x, classes)`, e.g. `jv.saliency`.
      radius: the perturbation's bound per feature.
      samples: perturbations per example (Captum's `n_perturb_samples`).
      relative: divide by the norm of the unperturbed explanation.
      key: a `jax.random.key` for the perturbations and the bootstrap.
    """
    distances, resample_key = _sensitivities(
        "max_sensitivity", model, x, target, method, radius, samples, relative, key, "uniform"
    )
    return summarize("max_sensitivity", distances.max(axis=1), resample_key, higher_is_better=False)


def avg_sensitivity(
    model,
    x,
    target,
    method,
    *,
    radius: float = 0.02,
    samples: int = 10,
    relative: bool = True,
    key=None,
) -> MetricResult:
    """Average sensitivity (Yeh et al., 2019): the mean instead of the maximum of
    `max_sensitivity`'s distances (Quantus's `AvgSensitivity`). Lower is better.

    Args: as `max_sensitivity`.
    """
    distances, resample_key = _sensitivities(
        "avg_sensitivity", model, x, target, method, radius, samples, relative, key, "uniform"
    )
    return summarize(
        "avg_sensitivity", distances.mean(axis=1), resample_key, higher_is_better=False
    )


def local_lipschitz(
    model, x, target, method, *, noise: float = 0.1, samples: int = 32, key=None
) -> MetricResult:
    """Local Lipschitz estimate (Alvarez-Melis and Jaakkola, 2018):
    `max ||Phi(x) - Phi(x')|| / ||x - x'||` over `samples` neighbours `x' = x + N(0, noise^2)`
    (Quantus's `LocalLipschitzEstimate` samples the same Gaussian neighbourhood; the paper
    searches it by optimization, which can only find a larger maximum). Euclidean norms over
    all features. Lower is better.

    Args:
      model, x, target, method, key: as in `max_sensitivity`.
      noise: the neighbours' standard deviation per feature.
      samples: neighbours per example.
    """
    noise = _inputs.check_scale("noise", noise)
    samples = check_positive_int("samples", samples)
    x, classes = _inputs.followed_classes(model, x, target, metric="local_lipschitz")
    method = _inputs.needs_method(method, "local_lipschitz")
    sample_key, resample_key = _inputs.sampling_keys(key, "local_lipschitz")
    shift = perturbation_draws(sample_key, len(x), samples, x.shape[1:], "gaussian", noise)
    at_x, nearby = _explain_nearby(model, x, classes, method, shift)
    ratios = np.asarray(_distances(at_x, nearby, False)) / np.asarray(_norms(shift))
    return summarize("local_lipschitz", ratios.max(axis=1), resample_key, higher_is_better=False)


def _sensitivities(name, model, x, target, method, radius, samples, relative, key, kind):
    """Each example's distances (batch, samples) between its explanation and its neighbours'."""
    radius = _inputs.check_scale("radius", radius)
    samples = check_positive_int("samples", samples)
    check_choice("kind", kind, _inputs.PERTURBATIONS)
    x, classes = _inputs.followed_classes(model, x, target, metric=name)
    method = _inputs.needs_method(method, name)
    sample_key, resample_key = _inputs.sampling_keys(key, name)
    shift = perturbation_draws(sample_key, len(x), samples, x.shape[1:], kind, radius)
    at_x, nearby = _explain_nearby(model, x, classes, method, shift)
    return np.asarray(_distances(at_x, nearby, relative)), resample_key


def _explain_nearby(model, x, classes, method, shift):
    """The explanation at x (batch, ...) and at each shifted copy (batch, samples, ...)."""
    at_x = _inputs.check_attribution(
        _inputs.call_method(method, model, x, classes), x, argument="method"
    )
    rows = (x[:, None] + np.asarray(shift)).astype(x.dtype)
    samples = rows.shape[1]
    flat = rows.reshape((-1,) + x.shape[1:])
    nearby = _inputs.call_method(method, model, flat, np.repeat(classes, samples))
    return at_x, nearby.reshape((len(x), samples) + at_x.shape[1:])


def perturbation_draws(key, batch: int, samples: int, shape, kind: str, scale: float) -> np.ndarray:
    """(batch, samples, *shape) float32 perturbations drawn on the host from the key's bits:
    uniform in [-scale, scale], or Gaussian with standard deviation `scale`."""
    rng = host_rng(key, 1)
    size = (batch, samples, *shape)
    if kind == "uniform":
        return rng.uniform(-scale, scale, size).astype(np.float32)
    return rng.normal(0.0, scale, size).astype(np.float32)


@functools.partial(jax.jit, static_argnames="relative")
def _distances(at_x, nearby, relative):
    """||nearby - at_x||_F per (example, sample), divided by ||at_x||_F (or 1 if 0) if relative."""
    flat = at_x.reshape(at_x.shape[0], 1, -1)
    distance = jnp.linalg.norm(nearby.reshape(nearby.shape[:2] + (-1,)) - flat, axis=-1)
    if not relative:
        return distance
    norm = jnp.linalg.norm(flat, axis=-1)
    return distance / jnp.where(norm == 0, 1.0, norm)


@jax.jit
def _norms(shift):
    return jnp.linalg.norm(shift.reshape(shift.shape[:2] + (-1,)), axis=-1)
