"""Twin CNNs: one network with the same weights in flax.nnx (NHWC) and PyTorch (NCHW).

The Captum agreement test and the throughput benchmark both build their models here, so the
two frameworks always run the same arithmetic. A network is a spec, a tuple of steps:

    ("conv", out_channels, kernel)   3x3-style convolution, SAME padding, stride 1, with bias
    ("maxpool", k) / ("avgpool", k)  k x k pooling, stride k
    ("relu",)                        nnx.relu / torch.nn.ReLU (one module each, as Captum's
                                     guided backprop needs)
    ("flatten",)
    ("linear", out_features)
    ("batchnorm",)                   evaluation-mode batch norm after a conv or linear, with
                                     random running statistics, scale and offset

Layers are named conv1, ..., fc1, ..., bn1, ... in both frameworks, so `m.layers` names in
jaxviz and `getattr(torch_model, name)` in Captum point at the same layer.

torch is imported lazily: importing this module needs only JAX and Flax.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Spec = tuple[tuple[Any, ...], ...]

# Small enough for exact agreement tests: 12x12x3 -> 5 classes. Max pooling comes before its
# ReLU so that no pooling window is all zeros (ties), where argmax routing would be arbitrary.
TINY_CNN: Spec = (
    ("conv", 8, 3),
    ("maxpool", 2),
    ("relu",),
    ("conv", 16, 3),
    ("relu",),
    ("avgpool", 2),
    ("flatten",),
    ("linear", 32),
    ("relu",),
    ("linear", 5),
)
TINY_INPUT = (12, 12, 3)

# About CIFAR size: 32x32x3 -> 10 classes, four 3x3 convolutions (~0.6 M parameters).
CIFAR_CNN: Spec = (
    ("conv", 32, 3),
    ("relu",),
    ("conv", 32, 3),
    ("relu",),
    ("maxpool", 2),
    ("conv", 64, 3),
    ("relu",),
    ("conv", 64, 3),
    ("relu",),
    ("maxpool", 2),
    ("flatten",),
    ("linear", 128),
    ("relu",),
    ("linear", 10),
)
CIFAR_INPUT = (32, 32, 3)


# The zoo's digits-cnn (jaxviz/zoo/_models.py DigitsCNN): 8x8x1 -> 10 classes.
DIGITS_CNN: Spec = (
    ("conv", 16, 3),
    ("relu",),
    ("conv", 32, 3),
    ("relu",),
    ("maxpool", 2),
    ("flatten",),
    ("linear", 64),
    ("relu",),
    ("linear", 10),
)
DIGITS_INPUT = (8, 8, 1)


def layer_names(spec: Spec) -> list[str | None]:
    """The name of each step's module (conv1, fc1, ...; None for steps without weights)."""
    prefixes = {"conv": "conv", "linear": "fc", "batchnorm": "bn"}
    counts = dict.fromkeys(prefixes, 0)
    names: list[str | None] = []
    for step in spec:
        kind = step[0]
        if kind in counts:
            counts[kind] += 1
            names.append(f"{prefixes[kind]}{counts[kind]}")
        else:
            names.append(None)
    return names


class SpecCNN(nnx.Module):
    """The flax.nnx side of a twin: NHWC input, logits out."""

    def __init__(
        self,
        spec: Spec,
        input_shape: tuple[int, int, int],
        *,
        seed: int = 0,
        bias_scale: float = 0.1,
    ):
        rngs = nnx.Rngs(seed)
        self.spec = spec
        self.names = layer_names(spec)
        height, width, channels = input_shape
        flat = None
        for step, name in zip(spec, self.names):
            kind = step[0]
            if kind == "conv":
                layer = nnx.Conv(channels, step[1], (step[2], step[2]), padding="SAME", rngs=rngs)
                channels = step[1]
            elif kind in ("maxpool", "avgpool"):
                height, width = height // step[1], width // step[1]
            elif kind == "flatten":
                flat = height * width * channels
            elif kind == "linear":
                layer = nnx.Linear(flat, step[1], rngs=rngs)
                flat = step[1]
            elif kind == "batchnorm":
                setattr(self, name, _random_batch_norm(flat or channels, rngs))
                continue
            if name is not None:
                # Non-zero biases: zero biases hide layout and broadcasting mistakes.
                layer.bias[...] = bias_scale * jax.random.normal(rngs.params(), layer.bias.shape)
                setattr(self, name, layer)

    def __call__(self, x: jax.Array) -> jax.Array:
        for step, name in zip(self.spec, self.names):
            kind = step[0]
            if name is not None:
                x = getattr(self, name)(x)
            elif kind == "relu":
                x = nnx.relu(x)
            elif kind == "maxpool":
                x = nnx.max_pool(x, (step[1], step[1]), strides=(step[1], step[1]))
            elif kind == "avgpool":
                x = nnx.avg_pool(x, (step[1], step[1]), strides=(step[1], step[1]))
            elif kind == "flatten":
                x = x.reshape(x.shape[0], -1)
        return x


def _random_batch_norm(features: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
    """A batch norm in evaluation mode with statistics far from the identity's."""
    norm = nnx.BatchNorm(features, use_running_average=True, rngs=rngs)
    normal = lambda: jax.random.normal(rngs.params(), (features,))  # noqa: E731
    norm.mean[...] = 0.2 * normal()
    norm.var[...] = jnp.exp(0.3 * normal())
    norm.scale[...] = 1.0 + 0.3 * normal()
    norm.bias[...] = 0.1 * normal()
    return norm


def torch_twin(model: nnx.Module, input_shape: tuple[int, int, int], spec: Spec | None = None):
    """A torch.nn.Sequential (NCHW) computing the same logits as `model` (NHWC).

    `model` is a SpecCNN, or any nnx module whose layers are attributes named as `layer_names`
    gives for `spec` (e.g. the zoo's DigitsCNN with DIGITS_CNN).

    Conv kernels go HWIO -> OIHW. The first Linear after the flatten sees features in
    (channel, height, width) order in torch but (height, width, channel) order in flax, so its
    input rows are permuted; later Linears are plain transposes.
    """
    import torch
    from torch import nn

    spec = model.spec if spec is None else spec
    height, width, channels = input_shape
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    spatial_before_flatten = None
    linear_seen = None  # the features of the last Linear: a batch norm after it is 1-d
    for i, (step, name) in enumerate(zip(spec, layer_names(spec))):
        kind = step[0]
        if kind == "conv":
            flax_conv = getattr(model, name)
            conv = nn.Conv2d(channels, step[1], step[2], padding="same")
            conv.weight.data = _tensor(np.transpose(flax_conv.kernel[...], (3, 2, 0, 1)))
            conv.bias.data = _tensor(flax_conv.bias[...])
            modules[name] = conv
            channels = step[1]
        elif kind == "batchnorm":
            flax_norm = getattr(model, name)
            one_d = linear_seen is not None
            norm_type = nn.BatchNorm1d if one_d else nn.BatchNorm2d
            norm = norm_type(linear_seen if one_d else channels, eps=flax_norm.epsilon)
            norm.running_mean.data = _tensor(flax_norm.mean[...])
            norm.running_var.data = _tensor(flax_norm.var[...])
            norm.weight.data = _tensor(flax_norm.scale[...])
            norm.bias.data = _tensor(flax_norm.bias[...])
            modules[name] = norm
        elif kind == "maxpool":
            modules[f"pool{i}"] = nn.MaxPool2d(step[1])
            height, width = height // step[1], width // step[1]
        elif kind == "avgpool":
            modules[f"pool{i}"] = nn.AvgPool2d(step[1])
            height, width = height // step[1], width // step[1]
        elif kind == "relu":
            modules[f"relu{i}"] = nn.ReLU()
        elif kind == "flatten":
            modules["flatten"] = nn.Flatten()
            spatial_before_flatten = (height, width, channels)
        elif kind == "linear":
            kernel = np.asarray(getattr(model, name).kernel[...])  # (in, out)
            if spatial_before_flatten is not None:
                h, w, c = spatial_before_flatten
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                spatial_before_flatten = None
            linear = nn.Linear(kernel.shape[0], kernel.shape[1])
            linear.weight.data = _tensor(kernel.T)
            linear.bias.data = _tensor(getattr(model, name).bias[...])
            modules[name] = linear
            linear_seen = kernel.shape[1]
    with torch.no_grad():
        return nn.Sequential(modules).eval()


def _tensor(array):
    import torch

    return torch.tensor(np.asarray(array, dtype=np.float32))  # a copy: JAX buffers are read-only


def to_torch(x_nhwc) -> Any:
    """An NHWC array (or a (batch, features) one) as a float32 torch tensor in NCHW."""
    x = np.asarray(x_nhwc, dtype=np.float32)
    return _tensor(np.transpose(x, (0, 3, 1, 2)) if x.ndim == 4 else x)


def to_nhwc(t) -> np.ndarray:
    """A torch tensor in NCHW (or (batch, features)) as a NumPy array in NHWC."""
    x = t.detach().cpu().numpy()
    return np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x


def make_twins(
    spec: Spec = TINY_CNN, input_shape: tuple[int, int, int] = TINY_INPUT, *, seed: int = 0
):
    """(flax.nnx model, its torch twin), same weights."""
    model = SpecCNN(spec, input_shape, seed=seed)
    return model, torch_twin(model, input_shape)


def random_inputs(n: int, input_shape: tuple[int, int, int], *, seed: int = 1) -> jax.Array:
    """n standard-normal NHWC images."""
    return jax.random.normal(jax.random.key(seed), (n, *input_shape), jnp.float32)


def torch_transformer(module: Any) -> Any:
    """A PyTorch copy of a zoo ``TinyTransformer`` (jaxviz/zoo/_models.py) with its weights.

    The arithmetic follows flax's: pre-norm blocks with ``LayerNorm(eps=1e-6)``, attention as
    ``nnx.MultiHeadAttention`` computes it (per-head query/key/value projections with biases,
    queries scaled by 1/sqrt(head size), masked scores set to the float32 minimum, softmax, an
    output projection over heads), a ReLU MLP, the head on the readout position. Its
    ``token_embed`` is the layer Captum's ``LayerIntegratedGradients`` attributes to; after a
    call, each block's ``attention.weights`` holds its (batch, heads, query, key) weights.
    """
    import torch

    def tensor(value) -> torch.Tensor:
        return torch.from_numpy(np.array(value[...], np.float32))

    def linear(layer) -> torch.nn.Linear:
        kernel, bias = tensor(layer.kernel), tensor(layer.bias)
        copy = torch.nn.Linear(*kernel.shape)
        copy.weight.data, copy.bias.data = kernel.T.contiguous(), bias
        return copy

    def norm(layer) -> torch.nn.LayerNorm:
        copy = torch.nn.LayerNorm(layer.scale.shape[0], eps=layer.epsilon)
        copy.weight.data, copy.bias.data = tensor(layer.scale), tensor(layer.bias)
        return copy

    def embedding(layer) -> torch.nn.Embedding:
        return torch.nn.Embedding.from_pretrained(tensor(layer.embedding), freeze=False)

    class Attention(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.projections = torch.nn.ParameterList(
                torch.nn.Parameter(tensor(getattr(layer, name).kernel))  # (dim, heads, size)
                for name in ("query", "key", "value")
            )
            self.biases = torch.nn.ParameterList(
                torch.nn.Parameter(tensor(getattr(layer, name).bias))  # (heads, size)
                for name in ("query", "key", "value")
            )
            self.out = torch.nn.Parameter(tensor(layer.out.kernel))  # (heads, size, dim)
            self.out_bias = torch.nn.Parameter(tensor(layer.out.bias))

        def forward(self, x, mask):
            q, k, v = (
                torch.einsum("bld,dhe->blhe", x, w) + b
                for w, b in zip(self.projections, self.biases)
            )
            q = q / np.sqrt(q.shape[-1])
            scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
            scores = torch.where(mask, scores, torch.finfo(torch.float32).min)
            self.weights = scores.softmax(-1)  # kept for attention read-outs (no copy)
            heads = torch.einsum("bhqk,bkhe->bqhe", self.weights, v)
            return torch.einsum("bqhe,hed->bqd", heads, self.out) + self.out_bias

    class Block(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.norm1, self.norm2 = norm(block.norm1), norm(block.norm2)
            self.attention = Attention(block.attention)
            self.mlp_in, self.mlp_out = linear(block.mlp_in), linear(block.mlp_out)

        def forward(self, x, mask):
            x = x + self.attention(self.norm1(x), mask)
            return x + self.mlp_out(torch.relu(self.mlp_in(self.norm2(x))))

    class Transformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embed = embedding(module.token_embed)
            self.position_embed = embedding(module.position_embed)
            self.blocks = torch.nn.ModuleList(Block(block) for block in module.blocks)
            self.norm, self.head = norm(module.norm), linear(module.head)

        def forward(self, tokens):
            length = tokens.shape[1]
            x = self.token_embed(tokens) + self.position_embed(torch.arange(length))
            mask = (tokens != module.pad_id)[:, None, None, :]
            if module.causal:
                mask = mask & torch.ones(length, length, dtype=torch.bool).tril()
            for block in self.blocks:
                x = block(x, mask)
            return self.head(self.norm(x[:, module.readout]))

    return Transformer().eval()
