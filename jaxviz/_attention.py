"""Attention internals as taps: a Flax attention module's weights and per-head outputs.

An attention module's weights never leave it: flax's `MultiHeadAttention` (nnx) and
`MultiHeadDotProductAttention` (linen) hand query, key and value to their `attention_fn` and
get back the heads' outputs, which the output projection mixes. On jaxviz's private copy of the
module (never the user's), that `attention_fn` is swapped for one that computes the same thing in
two visible steps and reports both to the model's hook (`_model.py`):

- `<module>.attention_weights`: (batch, heads, queries, keys), after the mask and the softmax;
- `<module>.heads`: (batch, queries, heads, head_dim), the weighted values before the output
  projection (scaling a head's slice here is masking that head).

The hook returns the values the module goes on with, so the taps support gradients (a zero
delta added to the weights) and replacements (a head mask) like every other layer. This is
more robust than catching a softmax in the traced program: it names the module, keeps the
heads apart and needs nothing from the user. It applies only where the module uses flax's own
`dot_product_attention` (the default); a custom `attention_fn` is left alone, and a plain
function reports its weights itself with `checkpoint_name(weights, "...attention_weights")`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import jax.numpy as jnp

WEIGHTS = "attention_weights"
HEADS = "heads"


def _tapped(name: str, hook, weights_fn: Callable, signature: inspect.Signature) -> Callable:
    """An `attention_fn` computing flax's dot-product attention through `hook`."""
    accepted = set(inspect.signature(weights_fn).parameters)

    def attention_fn(query, key, value, **kwargs):
        kwargs.pop("module", None)  # weights are reported here, not sown
        weights = weights_fn(query, key, **{k: v for k, v in kwargs.items() if k in accepted})
        weights = hook(f"{name}.{WEIGHTS}", weights)
        heads = jnp.einsum(
            "...hqk,...khd->...qhd",
            weights,
            value.astype(weights.dtype),
            precision=kwargs.get("precision"),
        )
        return hook(f"{name}.{HEADS}", heads)

    attention_fn.__signature__ = signature  # linen passes only the keyword arguments it sees here
    return attention_fn


def tap_nnx_attention(module, name: str, hook) -> None:
    """Route a (merged, private) `nnx.MultiHeadAttention`'s attention through `hook`."""
    from flax import nnx
    from flax.nnx.nn import attention

    if (
        isinstance(module, nnx.MultiHeadAttention)
        and module.attention_fn is attention.dot_product_attention
    ):
        module.attention_fn = _tapped(
            name,
            hook,
            attention.dot_product_attention_weights,
            inspect.signature(attention.dot_product_attention),
        )


@contextlib.contextmanager
def tap_linen_attention(module, name: str, hook) -> Iterator[None]:
    """While a bound linen `MultiHeadDotProductAttention` runs, route its attention through "
    "`hook`."""
    import flax.linen as nn
    from flax.linen import attention

    tapped = isinstance(module, nn.MultiHeadDotProductAttention) and (
        module.attention_fn is attention.dot_product_attention
    )
    if not tapped:
        yield
        return
    original = module.attention_fn
    fn = _tapped(name, hook, attention.dot_product_attention_weights, inspect.signature(original))
    object.__setattr__(
        module, "attention_fn", fn
    )  # the bound clone of this apply, not the user's module
    try:
        yield
    finally:
        object.__setattr__(module, "attention_fn", original)
