"""`Autoencoder`: any encoder/decoder pair as one object jaxviz can explore.

Each side (encoder, decoder) is reduced to a pure function `side(params, value)` with its own
weights, so every tool compiles one program per (tool, static options, input signature) in the
object's program cache (`jaxviz._programs`) and passes the weights as arguments:

- a `flax.nnx.Module`: split once into (graph, params, rest), merged inside the program, in
  evaluation mode on a copy (the module you pass is not changed);
- a function `fn(params, value)` together with `params=` (the Linen way: `module.apply`);
- a plain batched function `fn(value)` (its weights are constants of the program).

The encoder returns the latent (batch, *latent_shape), or for a VAE the pair
(mean, log_variance), each (batch, *latent_shape). The decoder takes latents (batch,
*latent_shape). A vector-quantized autoencoder also has a `codebook` (codes, code_size): its
encoder returns (batch, *positions, code_size) vectors, each snapped to its nearest code before
decoding (van den Oord et al. 2017, "Neural Discrete Representation Learning").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import _compile
from .._checks import check_key
from .._programs import ProgramCache
from ..explain import _engine

Side = Callable[[Any, jax.Array], Any]


class Autoencoder:
    """An encoder and a decoder that jaxviz's latent tools (`jv.latent_plane`,
    `jv.interpolate`, `jv.codebook_usage`, ...) can drive.

    Args:
      encode: a `flax.nnx.Module`, a function `encode(params, x)` (with `params`), or a batched
        function `encode(x)`. It returns latents (batch, *latent_shape), or for a VAE the pair
        `(mean, log_variance)` of that shape; for a VQ autoencoder, the vectors (batch,
        *positions, code_size) before quantization.
      decode: the same kinds; `decode(z)` takes latents (batch, *latent_shape) (for a VQ
        autoencoder: quantized vectors) and returns the reconstruction.
      params: the weights both functions take as their first argument (a Linen variables dict,
        or a pair of them); only when `encode` / `decode` are functions of `(params, value)`.
      latent_shape: the shape of one latent (an int for a flat latent). Found from `example`
        when not given; one of the two is needed.
      example: a batch of inputs, to find the latent shape and check the encoder's output.
      codebook: (codes, code_size) code vectors for a vector-quantized autoencoder (an array or
        an `nnx.Param`).

    Attributes:
      latent_shape: shape of one latent; `latent_size` is its number of values.
      variational: whether the encoder returns (mean, log_variance).
      params: the weights as one pytree `{"encode", "decode", "codebook"}`, passed to every
        program as an argument.

    >>> import jax.numpy as jnp, jaxviz as jv
    >>> w = jnp.arange(6.0).reshape(2, 3)
    >>> ae = jv.Autoencoder(lambda x: x @ w.T, lambda z: z @ w, latent_shape=2)
    >>> ae.decode(jnp.ones((1, 2))).tolist()
    [[3.0, 5.0, 7.0]]
    """

    def __init__(
        self,
        encode: Any,
        decode: Any,
        *,
        params: Any = None,
        latent_shape: int | tuple[int, ...] | None = None,
        example: Any = None,
        codebook: Any = None,
    ):
        encode_fn, encode_params = _as_side(encode, params, "encode")
        decode_fn, decode_params = _as_side(decode, params, "decode")
        self._encode = encode_fn
        self._decode = decode_fn
        self._encoder_module = encode if _is_nnx(encode) else None
        self.params = {
            "encode": encode_params,
            "decode": decode_params,
            "codebook": None if codebook is None else _as_codebook(codebook),
        }
        self.programs = ProgramCache()
        self.variational = False
        self.input_shape: tuple[int, ...] | None = None
        shape = _latent_shape(latent_shape)
        if example is not None:
            shape = self._check_encoder(example, shape)
        if shape is None:
            raise TypeError(
                "latent_shape: not given and no example to find it from; pass latent_shape=d "
                "(or a tuple) or example=x (a batch of inputs)."
            )
        self.latent_shape: tuple[int, ...] = shape
        self._check_decoder()

    # -- structure --------------------------------------------------------------------------------

    @property
    def latent_size(self) -> int:
        """Values in one latent (the product of `latent_shape`)."""
        return math.prod(self.latent_shape)

    @property
    def codebook(self) -> jax.Array | None:
        """(codes, code_size) code vectors of a VQ autoencoder, else None."""
        return self.params["codebook"]

    def require_codebook(self, method: str) -> jax.Array:
        """The codebook, or an error saying that `method` needs a VQ autoencoder."""
        codebook = self.params["codebook"]
        if codebook is None:
            raise ValueError(
                f"model: {method} needs a vector-quantized autoencoder; build it with "
                "jv.Autoencoder(encode, decode, codebook=...)."
            )
        return codebook

    @property
    def quantized(self) -> bool:
        return self.params["codebook"] is not None

    def __repr__(self) -> str:
        kind = "vq" if self.quantized else "variational" if self.variational else "plain"
        return f"jaxviz.Autoencoder({kind}, latent_shape={self.latent_shape})"

    # -- computing --------------------------------------------------------------------------------

    def encode(self, x, *, key: jax.Array | None = None, batch_size: int | None = None):
        """Latents (n, *latent_shape) of a batch of inputs: the mean for a VAE, or with `key`
        a sample `mean + exp(log_variance / 2) * noise` (noise drawn per example, so the same
        key gives the same samples at any batch size). For a VQ autoencoder, the encoder's
        vectors before quantization (see `jv.vq_codes` for the codes)."""
        x = self.check_inputs(x)
        if key is None:
            return _engine.run(
                self, ("latent.encode",), self._encode_kernel, (x,),
                batch_size=self._batch(x, batch_size),
            )
        if not self.variational:
            raise ValueError(
                "key: only a VAE (an encoder returning (mean, log_variance)) samples latents; "
                "this encoder returns one latent, so leave key=None."
            )
        return _engine.run(
            self, ("latent.encode_sample",), self._sample_kernel, (x,),
            shared=(check_key(key, "encode"),), batch_size=self._batch(x, batch_size),
        )

    def decode(self, z, *, batch_size: int | None = None) -> jax.Array:
        """Reconstructions of latents `z` (n, *latent_shape), batched and compiled once per
        shape. For a VQ autoencoder, `z` are vectors the decoder takes (quantized ones, see
        `jv.latent.quantize`)."""
        z = check_latents(self, z)
        return _engine.run(
            self, ("latent.decode",), self._decode_kernel, (z,),
            batch_size=self._batch(z, batch_size),
        )

    def __call__(self, x) -> jax.Array:
        """The reconstructions of a batch `x` (`reconstruct`): the autoencoder's forward pass."""
        return self.reconstruct(x)

    def reconstruct(self, x, *, batch_size: int | None = None) -> jax.Array:
        """decode(encode(x)) (through the codebook for a VQ autoencoder), in one program."""
        x = self.check_inputs(x)
        return _engine.run(
            self, ("latent.reconstruct",), self._reconstruct_kernel, (x,),
            batch_size=self._batch(x, batch_size),
        )

    @property
    def encoder(self):
        """The encoder as a `jv.Model` whose "logits" are the flat latents (a VAE's mean; a VQ
        autoencoder's vectors before quantization), so `jv.Projector`, `jv.activations` and
        the other layer tools take it. An nnx encoder keeps its layers (`encoder.<name>`)."""
        from .._model import wrap

        if self._encoder_module is not None:
            return wrap(_FlatLatents(self._encoder_module, self.variational))

        def latents(x):
            z = self._encode(self.params["encode"], x)
            return (z[0] if self.variational else z).reshape(x.shape[0], -1)

        return wrap(latents)

    # -- kernels (built once per program; `params` arrive as arguments) --------------------------

    def _encode_kernel(self):
        def kernel(params, indices, x):
            del indices
            return self._mean(params, x)

        return kernel

    def _sample_kernel(self):
        def kernel(params, key, indices, x):
            mean, log_variance = self._encode(params["encode"], x)
            keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)
            noise = jax.vmap(lambda k: jax.random.normal(k, mean.shape[1:], mean.dtype))(keys)
            return mean + jnp.exp(0.5 * log_variance) * noise

        return kernel

    def _decode_kernel(self):
        def kernel(params, indices, z):
            del indices
            return self._decode(params["decode"], z)

        return kernel

    def _reconstruct_kernel(self):
        from ._vq import nearest_codes

        def kernel(params, indices, x):
            del indices
            z = self._mean(params, x)
            if params["codebook"] is not None:
                z = params["codebook"][nearest_codes(z, params["codebook"])]
            return self._decode(params["decode"], z)

        return kernel

    def _mean(self, params, x):
        z = self._encode(params["encode"], x)
        return z[0] if self.variational else z

    # -- validation -------------------------------------------------------------------------------

    def check_inputs(self, x, argument: str = "x") -> np.ndarray:
        """`x` as a finite floating host array with a batch axis, shaped as the encoder takes."""
        x = _host_array(x, argument)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"{argument}: expected a floating-point array, got dtype {x.dtype}; convert it, "
                "e.g. x.astype('float32')."
            )
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(
                f"{argument}: expected a batch with a leading example axis, got shape {x.shape}."
            )
        _check_finite(x, argument, "inputs")
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            raise ValueError(
                f"{argument}: expected inputs of shape (n, "
                f"{', '.join(map(str, self.input_shape))}) like the example, got shape {x.shape}."
            )
        if self.input_shape is None:
            self._check_encoder(x, self.latent_shape)
        return x

    def _check_encoder(self, x, given: tuple[int, ...] | None) -> tuple[int, ...]:
        """Check the encoder's output on `x` and record the input shape and whether it is a
        VAE; returns the latent shape (which must be `given`, where given)."""
        x = _host_array(x, "example")
        spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
        out = _eval_shape(self._encode, self.params["encode"], spec, "encode", x.shape)
        variational = isinstance(out, tuple | list)
        if variational:
            if len(out) != 2 or not all(isinstance(o, jax.ShapeDtypeStruct) for o in out) or (
                out[0].shape != out[1].shape
            ):
                raise ValueError(
                    f"encode: expected latents (batch, ...) or a pair (mean, log_variance) of "
                    f"one shape, got {_describe(out)} for inputs of shape {x.shape}."
                )
            out = out[0]
        elif not isinstance(out, jax.ShapeDtypeStruct):
            raise ValueError(
                f"encode: expected latents (batch, ...) or a pair (mean, log_variance) of one "
                f"shape, got {_describe(out)} for inputs of shape {x.shape}."
            )
        if out.ndim < 2 or out.shape[0] != x.shape[0]:
            raise ValueError(
                f"encode: expected latents with the batch axis first, ({x.shape[0]}, ...), got "
                f"shape {out.shape} for inputs of shape {x.shape}."
            )
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise TypeError(f"encode: expected floating-point latents, got dtype {out.dtype}.")
        latent = tuple(out.shape[1:])
        if given is not None and latent != given:
            raise ValueError(
                f"latent_shape: given as {given}, but the encoder returns latents of "
                f"shape {latent} per example; pass latent_shape={latent} or leave it out."
            )
        codebook = self.params["codebook"]
        if codebook is not None and latent[-1] != codebook.shape[1]:
            raise ValueError(
                f"codebook: its codes have size {codebook.shape[1]}, but the encoder's vectors "
                f"have size {latent[-1]} (latent shape {latent}); they must match."
            )
        self.variational = variational
        self.input_shape = tuple(x.shape[1:])
        return latent

    def _check_decoder(self) -> None:
        spec = jax.ShapeDtypeStruct((1, *self.latent_shape), jnp.float32)
        try:
            out = jax.eval_shape(self._decode, self.params["decode"], spec)
        except Exception as err:  # noqa: BLE001 - any failure here is a shape mismatch to report
            raise ValueError(
                f"decode: it cannot take latents of shape (batch, "
                f"{', '.join(map(str, self.latent_shape))}) (latent_shape={self.latent_shape}): "
                f"{_first_line(err)}. The decoder's input must have the latent's size."
            ) from None
        if not isinstance(out, jax.ShapeDtypeStruct) or out.shape[:1] != (1,):
            raise ValueError(
                f"decode: expected one reconstruction per latent, (batch, ...), got "
                f"{_describe(out)} for latents of shape {(1, *self.latent_shape)}."
            )
        if self.input_shape is not None and tuple(out.shape[1:]) != self.input_shape:
            raise ValueError(
                f"decode: it returns reconstructions of shape {tuple(out.shape[1:])} per "
                f"latent, but the inputs have shape {self.input_shape}."
            )
        self.output_shape = tuple(out.shape[1:])

    def _batch(self, values: np.ndarray, batch_size: int | None) -> int | None:
        """Chunk size: `batch_size`, or on a CPU as many examples as keep one chunk's inputs
        and outputs within the engine's CPU budget (the whole batch on an accelerator)."""
        if batch_size is not None or not _compile.on_cpu():
            return batch_size
        each = math.prod(values.shape[1:]) + self.latent_size + math.prod(self.output_shape)
        return _engine._cpu_batch_size(each)


class _FlatLatents(nnx.Module):
    """An nnx encoder whose output is the flat latent (the mean of a VAE's pair)."""

    def __init__(self, encoder: nnx.Module, variational: bool):
        self.encoder = encoder
        self.variational = variational

    def __call__(self, x: jax.Array) -> jax.Array:
        z = self.encoder(x)
        return (z[0] if self.variational else z).reshape(x.shape[0], -1)


def _as_side(side: Any, params: Any, argument: str) -> tuple[Side, Any]:
    """One side of the pair as `fn(params, value)` and the params it takes."""
    if _is_nnx(side):
        if params is not None:
            raise TypeError(
                f"params: {argument} is an nnx.Module, which holds its own weights; pass params "
                "only with functions of (params, value)."
            )
        copy = nnx.merge(*nnx.split(side))
        copy.eval()
        graphdef, weights, rest = nnx.split(copy, nnx.Param, ...)
        return (lambda p, v: nnx.merge(graphdef, p, rest)(v)), weights
    if _is_linen(side):
        raise TypeError(
            f"{argument}: a flax.linen module needs its variables: pass "
            f"{argument}=module.apply with params=variables (or a lambda p, v: ... using both)."
        )
    if not callable(side):
        raise TypeError(
            f"{argument}: expected a flax.nnx.Module or a function, got {type(side).__name__}."
        )
    if params is None:
        return (lambda p, v: side(v)), ()
    return side, params


def _is_nnx(value: Any) -> bool:
    return isinstance(value, nnx.Module)


def _is_linen(value: Any) -> bool:
    import flax.linen as nn

    return isinstance(value, nn.Module)


def _as_codebook(codebook: Any) -> jax.Array:
    value = getattr(codebook, "value", codebook)
    value = jnp.asarray(value)
    if value.ndim != 2 or value.shape[0] < 1 or not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(
            f"codebook: expected a floating (codes, code_size) array, got shape {value.shape} "
            f"and dtype {value.dtype}."
        )
    if not bool(jnp.isfinite(value).all()):
        raise ValueError("codebook: contains NaN or infinite values.")
    return value


def _latent_shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    shape = (value,) if isinstance(value, int | np.integer) else tuple(value)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1
                        for s in shape):
        raise ValueError(
            f"latent_shape: expected a positive int or a tuple of them, got {value!r}."
        )
    return tuple(int(s) for s in shape)


def _host_array(x: Any, argument: str) -> np.ndarray:
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{argument}: jaxviz functions compile themselves; call them on concrete arrays, not "
            "inside jax.jit / vmap / grad."
        )
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{argument}: expected an array, got {type(x).__name__}.") from err


def _check_finite(values: np.ndarray, argument: str, what: str) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{argument}: contains {int(finite.size - finite.sum())} NaN or infinite value(s) "
            f"(the first at index {tuple(int(i) for i in bad)}); {what} must be finite."
        )


def check_latents(ae: Autoencoder, z: Any, argument: str = "z") -> np.ndarray:
    """`z` as a finite float32 host batch of latents (n, *latent_shape); one latent
    (*latent_shape) becomes a batch of one."""
    z = _host_array(z, argument)
    if not (np.issubdtype(z.dtype, np.floating) or np.issubdtype(z.dtype, np.integer)):
        raise TypeError(f"{argument}: expected a floating-point array, got dtype {z.dtype}.")
    z = z.astype(np.float32)
    if z.shape == ae.latent_shape:
        z = z[None]
    if z.shape[1:] != ae.latent_shape or z.shape[0] == 0:
        raise ValueError(
            f"{argument}: expected latents of shape (n, {', '.join(map(str, ae.latent_shape))}) "
            f"or one latent {ae.latent_shape}, got shape {z.shape}."
        )
    _check_finite(z, argument, "latents")
    return z


def _eval_shape(fn: Side, params: Any, spec: jax.ShapeDtypeStruct, argument: str, shape):
    try:
        return jax.eval_shape(fn, params, spec)
    except Exception as err:  # noqa: BLE001 - the user's function failed: say so, briefly
        raise ValueError(
            f"{argument}: it cannot take inputs of shape {shape}: {_first_line(err)}"
        ) from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _describe(value: Any) -> str:
    if isinstance(value, jax.ShapeDtypeStruct):
        return f"an array of shape {value.shape}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}: [{', '.join(map(_describe, value))}]"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return type(value).__name__
