"""The registry the contract test runs: every public method, called the way a user would.

A method that a later change adds registers here (one entry), and `tests/test_contract.py`
then checks it on one fully convolutional model at two input resolutions and two batch sizes,
chunked and unchunked, on 1 and 4 devices, for shapes, values against per-example calls, and
that only the first call of each input signature compiles.

Each entry is `Case(call, per_example=...)`: `call(model, x, target, **engine)` returns the
method's result for inputs `x` and per-example classes `target`; `engine` holds `batch_size`
where the method takes one. `per_example` says whether results are a function of each example
alone (so a batch equals its examples one at a time); `keyed` methods draw noise per example
position, so only their chunking is compared; `batched` is False for computations over the whole
set (an objective summed over the batch, a dataset's top examples, a probe set).

Methods on token ids (jaxviz.sequence) register in `TOKEN_METHODS` and run the same contract on
a small NNX transformer at two sequence lengths (`TOKENS`, a `Domain` like `IMAGES`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxviz as jv

CLASSES = 4
CHANNELS = 3
RESOLUTIONS = (8, 12)
BATCHES = (3, 5)


class FullyConvolutional(nnx.Module):
    """conv - relu - conv - relu - 2x2 max pool - global average pool - dense: any input size."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(CHANNELS, 6, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(6, 8, (3, 3), rngs=rngs)
        self.head = nnx.Linear(8, CLASSES, rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.conv1(x))
        h = nnx.relu(self.conv2(h))
        h = nnx.max_pool(h, (2, 2), (2, 2))
        return self.head(h.mean(axis=(1, 2)))


def model() -> jv.Model:
    return jv.wrap(FullyConvolutional(nnx.Rngs(0)))


def inputs(resolution: int, batch: int, seed: int = 0) -> np.ndarray:
    shape = (batch, resolution, resolution, CHANNELS)
    return np.asarray(jax.random.normal(jax.random.key(seed), shape), np.float32)


@dataclass(frozen=True)
class Case:
    call: Callable[..., Any]
    per_example: bool = True
    keyed: bool = False
    batched: bool = True


KEY = jax.random.key(7)


def _labels_loss(logits, labels):
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1).mean()


METHODS: dict[str, Case] = {
    "logits": Case(lambda m, x, t, **kw: m(x)),
    "saliency": Case(lambda m, x, t, **kw: jv.saliency(m, x, t, **kw)),
    "saliency_abs": Case(lambda m, x, t, **kw: jv.saliency(m, x, t, mode="abs", **kw)),
    "grad_x_input": Case(lambda m, x, t, **kw: jv.saliency(m, x, t, mode="grad_x_input", **kw)),
    "saliency_all": Case(lambda m, x, t, **kw: jv.saliency(m, x, "all", **kw)),
    "integrated_gradients": Case(
        lambda m, x, t, **kw: jv.integrated_gradients(m, x, t, steps=8, return_delta=True, **kw)
    ),
    "integrated_gradients_predicted": Case(
        lambda m, x, t, **kw: jv.integrated_gradients(m, x, steps=6, **kw)
    ),
    "integrated_gradients_adaptive": Case(
        lambda m, x, t, **kw: jv.integrated_gradients(m, x, t, tol=1e-2, max_steps=64, **kw)
    ),
    "smoothgrad": Case(
        lambda m, x, t, **kw: jv.smoothgrad(m, x, t, samples=4, key=KEY, **kw), keyed=True
    ),
    "vargrad": Case(
        lambda m, x, t, **kw: jv.smoothgrad(m, x, t, samples=4, kind="var", key=KEY, **kw),
        keyed=True,
    ),
    "expected_gradients": Case(
        lambda m, x, t, **kw: jv.expected_gradients(
            m, x, t, baselines=x[:2] * 0.5, samples=4, key=KEY, **kw
        ),
        keyed=True,
    ),
    "gradcam": Case(lambda m, x, t, **kw: jv.gradcam(m, x, t, layer="conv2", **kw)),
    "gradcam_plus_plus_layer_resolution": Case(
        lambda m, x, t, **kw: jv.gradcam(
            m, x, t, layer="conv1", plus_plus=True, upsample=False, **kw
        )
    ),
    "guided_gradcam": Case(lambda m, x, t, **kw: jv.guided_gradcam(m, x, t, layer="conv2", **kw)),
    "guided_backprop": Case(lambda m, x, t, **kw: jv.guided_backprop(m, x, t, **kw)),
    "deconvnet": Case(lambda m, x, t, **kw: jv.deconvnet(m, x, t, **kw)),
    "lrp": Case(lambda m, x, t, **kw: jv.lrp(m, x, t, **kw)),
    "lrp_layers": Case(
        lambda m, x, t, **kw: jv.lrp(
            m, x, t, composite="epsilon-gamma-box", low=-3.0, high=3.0, return_layers=True, **kw
        )
    ),
    "occlusion": Case(lambda m, x, t, **kw: jv.occlusion(m, x, t, window=4, stride=2, **kw)),
    "lime": Case(
        lambda m, x, t, **kw: jv.lime(m, x, t, key=KEY, samples=16, groups=_cells(x), **kw),
        keyed=True,
    ),
    "kernel_shap": Case(
        lambda m, x, t, **kw: jv.kernel_shap(
            m, x, t, key=KEY, samples=24, groups=_cells(x), background=x[:2] * 0.5, **kw
        ),
        keyed=True,
    ),
    "shapley_values": Case(
        lambda m, x, t, **kw: jv.shapley_values(m, x, t, groups=_cells(x), baseline=0.1, **kw)
    ),
    "shapley_values_permutation": Case(
        lambda m, x, t, **kw: jv.shapley_values(
            m,
            x,
            t,
            estimator="permutation",
            permutations=4,
            key=KEY,
            groups=_cells(x),
            background=x[:2],
            **kw,
        ),
        keyed=True,
    ),
    "activations": Case(lambda m, x, t, **kw: jv.activations(m, x, **kw)),
    "layer_integrated_gradients": Case(
        lambda m, x, t, **kw: jv.layer_integrated_gradients(m, x, t, layer="conv1", steps=6, **kw)
    ),
    "layer_conductance": Case(
        lambda m, x, t, **kw: jv.layer_conductance(m, x, t, layer="conv2", steps=6, **kw)
    ),
    "neuron_gradient": Case(
        lambda m, x, t, **kw: jv.neuron_gradient(m, x, layer="conv2", neuron=(2, 3, 1), **kw)
    ),
    "channel_backprojection": Case(
        lambda m, x, t, **kw: jv.channel_backprojection(m, x, layer="conv2", channel=t, **kw)
    ),
    "gradient_flow": Case(
        lambda m, x, t, **kw: _flow(jv.gradient_flow(m, x, t)), per_example=False, batched=False
    ),
    "gradient_flow_loss": Case(
        lambda m, x, t, **kw: _flow(
            jv.gradient_flow(m, x, loss=lambda z: _labels_loss(z, jnp.asarray(t)))
        ),
        per_example=False,
        batched=False,
    ),
    "gradient_flow_labels": Case(
        lambda m, x, t, **kw: _flow(jv.gradient_flow(m, x, loss=_labels_loss, labels=t)),
        per_example=False,
        batched=False,
    ),
    "top_activating": Case(
        lambda m, x, t, **kw: jv.top_activating(
            m, x, layer="conv2", k=2, batch_size=2, show_progress=False
        ),
        per_example=False,
        batched=False,
    ),
    "receptive_field": Case(
        lambda m, x, t, **kw: np.asarray(
            jv.receptive_field(m, layer="conv2", input_shape=x.shape[1:], samples=2)
        ),
        per_example=False,
        batched=False,
    ),
    "feature_visualization": Case(
        lambda m, x, t, **kw: jv.feature_visualization(
            m, shape=x.shape[1:], layer="conv2", targets=t % 8, steps=3, key=KEY
        ),
        per_example=False,
        batched=False,
    ),
    # Metrics that run through the engine: per-example values and curves (their bootstrap CIs
    # summarize the batch, so they are left out). The attribution is the input itself (a
    # fixed map), and random orders are off so each example's values stand alone.
    "metric_deletion": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.deletion(m, x, t, x, steps=4, random_orders=0, **kw)
        )
    ),
    "metric_deletion_random_orders": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.deletion(m, x, t, x, steps=4, random_orders=2, key=KEY, **kw)
        ),
        keyed=True,
    ),
    "metric_insertion_blur_regions": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.insertion(m, x, t, x[..., 0], steps=3, region=2, random_orders=0, **kw)
        )
    ),
    "metric_road": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.road(m, x, t, x, percentages=(0.25, 0.5), noise=0.0, random_orders=0,
                            output="logit", **kw)
        )
    ),
    "metric_faithfulness_correlation": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.faithfulness_correlation(m, x, t, x, subset_size=4, samples=6, key=KEY,
                                                **kw)
        ),
        keyed=True,
    ),
    "metric_infidelity": Case(
        lambda m, x, t, **kw: _metric(
            jv.metrics.infidelity(m, x, t, x, samples=6, normalize=True, key=KEY, **kw)
        ),
        keyed=True,
    ),
    "metric_completeness_gap": Case(
        lambda m, x, t, **kw: _metric(jv.metrics.completeness_gap(m, x, t, x, **kw))
    ),
    "metric_non_sensitivity": Case(
        lambda m, x, t, **kw: _metric(jv.metrics.non_sensitivity(m, x, t, x, region=4, **kw))
    ),
    "loss_landscape": Case(
        lambda m, x, t, **kw: jv.loss_landscape(
            m, _labels_loss, x, jnp.asarray(t), directions=2, steps=3, key=KEY
        ).loss,
        per_example=False,
        batched=False,
    ),
    "confusion_matrix": Case(
        lambda m, x, t, **kw: jv.confusion_matrix(m, x, np.asarray(t)).counts,
        per_example=False,
        batched=False,
    ),
}

# Methods that take `batch_size` (the others run their whole input at once, or chunk it
# themselves with a fixed batch_size, as top_activating does).
CHUNKED = {
    name
    for name in METHODS
    if name
    not in {
        "logits",
        "gradient_flow",
        "gradient_flow_loss",
        "gradient_flow_labels",
        "top_activating",
        "receptive_field",
        "feature_visualization",
        "loss_landscape",
        "confusion_matrix",
    }
}


VOCAB, MAX_LENGTH, WIDTH = 13, 16, 8


class TokenClassifier(nnx.Module):
    """Token + learned position embeddings, two 2-head self-attention layers with a padding
    mask (id 0), a dense head on the first token: any length up to MAX_LENGTH."""

    def __init__(self, rngs: nnx.Rngs):
        self.embed = nnx.Embed(VOCAB, WIDTH, rngs=rngs)
        self.position = nnx.Param(0.3 * jax.random.normal(jax.random.key(1), (MAX_LENGTH, WIDTH)))
        self.layers = nnx.List(
            [nnx.MultiHeadAttention(2, WIDTH, decode=False, rngs=rngs) for _ in range(2)]
        )
        self.head = nnx.Linear(WIDTH, CLASSES, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens) + self.position[...][: tokens.shape[1]]
        mask = (tokens != 0)[:, None, None, :]
        for layer in self.layers:
            x = x + layer(x, mask=mask)
        return self.head(x[:, 0])


def token_model() -> jv.Model:
    return jv.wrap(TokenClassifier(nnx.Rngs(0)))


def token_inputs(length: int, batch: int, seed: int = 0) -> np.ndarray:
    """Token ids in 1..VOCAB-1, each row padded with zeros after a random length >= 2."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, VOCAB, (batch, length)).astype(np.int32)
    ends = rng.integers(2, length + 1, batch)
    tokens[np.arange(length)[None, :] >= ends[:, None]] = 0
    return tokens


TOKEN_METHODS: dict[str, Case] = {
    "attention": Case(lambda m, x, t, **kw: jv.attention(m, x, **kw)),
    "head_importance": Case(lambda m, x, t, **kw: jv.head_importance(m, x, t, **kw)),
    "gradient_weighted_attention": Case(
        lambda m, x, t, **kw: jv.gradient_weighted_attention(m, x, t, **kw)
    ),
    "token_integrated_gradients": Case(
        lambda m, x, t, **kw: jv.token_attribution(m, x, t, steps=8, **kw)
    ),
    "token_integrated_gradients_all_l2": Case(
        lambda m, x, t, **kw: jv.token_attribution(m, x, "all", steps=4, reduce="l2", **kw)
    ),
    "token_saliency": Case(
        lambda m, x, t, **kw: jv.token_attribution(m, x, t, method="saliency", **kw)
    ),
    "token_smoothgrad": Case(
        lambda m, x, t, **kw: jv.token_attribution(
            m, x, t, method="smoothgrad", samples=4, key=KEY, **kw
        ),
        keyed=True,
    ),
    "token_occlusion": Case(lambda m, x, t, **kw: jv.token_occlusion(m, x, t, **kw)),
}


@dataclass(frozen=True)
class Domain:
    """One kind of input the contract runs on: its model, inputs, sizes and methods."""

    model: Callable[[], jv.Model]
    inputs: Callable[..., np.ndarray]
    sizes: tuple[int, int]
    methods: dict[str, Case]
    chunked: set[str]


IMAGES = Domain(model, inputs, RESOLUTIONS, METHODS, CHUNKED)
TOKENS = Domain(token_model, token_inputs, (6, 9), TOKEN_METHODS, set(TOKEN_METHODS))
DOMAINS = {"images": IMAGES, "tokens": TOKENS}


def _cells(x) -> np.ndarray:
    """A grid of 4x4-pixel cells over x's images (4 groups at 8x8, 9 at 12x12)."""
    return jv.grid_segments(x.shape[1:3], 4)


def _metric(result) -> dict[str, np.ndarray]:
    """A metric's per-example arrays: its values, and its curves where it has them."""
    out = {"values": np.asarray(result.values, np.float32)}
    if hasattr(result, "curves"):
        out["curves"] = np.asarray(result.curves, np.float32)
    return out


def _flow(flow) -> dict[str, np.ndarray]:
    return {"output_grad_norm": flow.output_grad_norm, "param_grad_norm": flow.param_grad_norm}


def targets(batch: int, shift: int = 0) -> np.ndarray:
    return ((np.arange(batch) + shift) % CLASSES).astype(np.int32)


def leaves(result: Any) -> list[np.ndarray]:
    """The result's numeric arrays (a result type's names and labels left out)."""
    return [np.asarray(leaf) for leaf in jax.tree.leaves(result) if not isinstance(leaf, str)]
