"""Validation at the public boundary: each error names the argument, the value seen and what is
allowed, so a user mistake never surfaces as an XLA traceback from deep inside a trace."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np


def check_input(model, x, argument: str = "x", *, integers: bool = False) -> np.ndarray:
    """`x` as a host array the model takes: floating (or, with `integers`, integer token ids),
    finite, batched, giving (batch, classes).

    Checks run in NumPy: eager device ops would compile a small program for every new shape."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{argument}: jaxviz functions compile themselves; call them on concrete arrays, not "
            "inside jax.jit / vmap / grad."
        )
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{argument}: expected an array, got {type(x).__name__}.") from err
    if integers and jnp.issubdtype(x.dtype, jnp.integer):
        pass
    elif not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{argument}: expected a floating-point array (float32, bfloat16, float16, float64), "
            f"got dtype {x.dtype}; convert it, e.g. x.astype('float32') (scaling images as the "
            "model was trained). For token ids, use the token methods (jv.token_attribution, "
            "jv.token_occlusion), which attribute at the embedding layer."
        )
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(
            f"{argument}: expected a batch with a leading example axis, got shape {x.shape}."
        )
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(finite.size - finite.sum())
        raise ValueError(
            f"{argument}: contains {bad} NaN or infinite value(s); explanations need finite inputs."
        )
    out = model_signature(model, x, argument)[1]
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(
            f"model: expected logits of shape (batch, classes) = ({x.shape[0]}, C) for {argument} "
            f"of shape {x.shape}, got shape {out.shape}. Wrap a function that returns one row of "
            "class scores per example."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"model: its output has dtype {out.dtype}, which is not differentiable; explanations "
            "need floating-point logits (return the scores before any argmax or rounding)."
        )
    return x


def model_signature(model, x, argument: str = "x"):
    try:
        return model.signature(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError) as err:
        raise TypeError(
            "model: it is not differentiable by JAX: it turns traced values into NumPy or Python "
            f"values ({type(err).__name__}). Write it with jax.numpy so jax.grad can follow it."
        ) from None
    except (TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{argument}: the model cannot take an input of shape {x.shape} and dtype {x.dtype}: "
            f"{first}"
        ) from None


def check_layers(names: Iterable[str], valid: Sequence[str], argument: str = "layer") -> None:
    for name in names:
        if name not in valid:
            raise ValueError(
                f"{argument}: unknown layer {name!r}; the model's layers are: "
                f"{', '.join(valid) or '(none)'}."
            )


def check_layer(
    model, x, layer, *, spatial: bool = False, method: str = ""
) -> jax.ShapeDtypeStruct:
    """The layer's output shape; with `spatial`, insist on (batch, *spatial, channels)."""
    if not isinstance(layer, str):
        raise TypeError(f"layer: expected a layer name (str), got {layer!r}; see model.layers.")
    shapes = model.layer_shapes(x)
    check_layers([layer], list(shapes))
    shape = shapes[layer]
    if spatial and len(shape.shape) < 3:
        with_space = [n for n, s in shapes.items() if len(s.shape) >= 3]
        raise ValueError(
            f"layer: {method} needs a layer with spatial axes (batch, ..., channels), but "
            f"{layer!r} has output shape {shape.shape}. Layers with spatial axes: "
            f"{', '.join(with_space) or '(none)'}."
        )
    return shape


def check_positive_int(argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{argument}: expected a positive integer, got {value!r}.")
    return int(value)


def check_batch_size(batch_size) -> int | None:
    return None if batch_size is None else check_positive_int("batch_size", batch_size)


def check_choice(argument: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(
            f"{argument}: expected one of {', '.join(map(repr, allowed))}, got {value!r}."
        )
    return value


def check_key(key, method: str) -> jax.Array:
    if key is None:
        raise TypeError(
            f"key: {method} draws random samples and needs a key, e.g. key=jax.random.key(0); the "
            "same key gives the same result."
        )
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"key: expected a jax.random.key(...), got {type(key).__name__} of shape {key.shape}."
    )


def check_baseline(baseline, x: np.ndarray, argument: str = "baseline") -> np.ndarray:
    """A baseline broadcast to `x`: a scalar, an array shaped like one example, or one per
    example."""
    baseline = np.asarray(baseline).astype(x.dtype)
    try:
        shape = np.broadcast_shapes(baseline.shape, x.shape)
    except ValueError:
        shape = None
    if shape != x.shape:
        raise ValueError(
            f"{argument}: shape {baseline.shape} does not broadcast to the input's shape "
            f"{x.shape}; use a scalar, an array shaped like one example {x.shape[1:]}, or one per "
            f"example {x.shape}."
        )
    if not np.isfinite(baseline).all():
        raise ValueError(f"{argument}: contains NaN or infinite values.")
    return np.broadcast_to(baseline, x.shape)
