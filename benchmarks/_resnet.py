"""ResNet-18 twins (He et al., 2016; torchvision's layout) in flax.nnx (NHWC) and PyTorch (NCHW),
with the same weights and batch-norm statistics, for the accelerator comparison (bench_gpu.py).

Random weights: the comparison times the same arithmetic in both frameworks, so trained weights
(which would have to be downloaded) add nothing. Batch norm runs on its running statistics
(evaluation mode), which are random too so that a layout mistake cannot hide behind identity
statistics. The twins' logits are compared before any timing.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (channels, stride of the stage's first block)
CLASSES = 1000


def _conv(cin, cout, kernel, stride, rngs):
    pad = kernel // 2
    return nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding=((pad, pad), (pad, pad)),
                    use_bias=False, rngs=rngs)


def _norm(channels, rngs):
    norm = nnx.BatchNorm(channels, use_running_average=True, rngs=rngs)
    key = rngs.params()
    norm.scale[...] = 1.0 + 0.1 * jax.random.normal(key, (channels,))
    norm.bias[...] = 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (channels,))
    norm.mean[...] = 0.1 * jax.random.normal(jax.random.fold_in(key, 2), (channels,))
    norm.var[...] = jnp.exp(0.2 * jax.random.normal(jax.random.fold_in(key, 3), (channels,)))
    return norm


class Block(nnx.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a strided 1x1 one where the shape
    changes)."""

    def __init__(self, cin, cout, stride, rngs):
        self.conv1, self.bn1 = _conv(cin, cout, 3, stride, rngs), _norm(cout, rngs)
        self.conv2, self.bn2 = _conv(cout, cout, 3, 1, rngs), _norm(cout, rngs)
        reshaped = stride != 1 or cin != cout
        self.down_conv = _conv(cin, cout, 1, stride, rngs) if reshaped else None
        self.down_bn = _norm(cout, rngs) if reshaped else None

    def __call__(self, x):
        h = nnx.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        shortcut = x if self.down_conv is None else self.down_bn(self.down_conv(x))
        return nnx.relu(h + shortcut)


class ResNet18(nnx.Module):
    def __init__(self, *, seed: int = 0):
        rngs = nnx.Rngs(seed)
        self.conv1, self.bn1 = _conv(3, 64, 7, 2, rngs), _norm(64, rngs)
        blocks, cin = [], 64
        for cout, stride in STAGES:
            blocks += [Block(cin, cout, stride, rngs), Block(cout, cout, 1, rngs)]
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nnx.List(blocks[i : i + 2]) for i in range(0, 8, 2)
        )
        self.fc = nnx.Linear(512, CLASSES, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn1(self.conv1(x)))
        x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in stage:
                x = block(x)
        return self.fc(x.mean(axis=(1, 2)))


def torch_twin(model: ResNet18) -> Any:
    """The same network in PyTorch (NCHW, evaluation mode), weights copied from `model`."""
    import torch
    from torch import nn

    def conv(flax_conv, stride):
        kernel = np.asarray(flax_conv.kernel[...])  # (kh, kw, in, out)
        out = nn.Conv2d(
            kernel.shape[2],
            kernel.shape[3],
            kernel.shape[0],
            stride,
            kernel.shape[0] // 2,
            bias=False,
        )
        out.weight.data = torch.tensor(np.transpose(kernel, (3, 2, 0, 1)).copy())
        return out

    def norm(flax_norm):
        out = nn.BatchNorm2d(flax_norm.scale.shape[0], eps=flax_norm.epsilon)
        for name, value in (("weight", flax_norm.scale), ("bias", flax_norm.bias),
                            ("running_mean", flax_norm.mean), ("running_var", flax_norm.var)):
            getattr(out, name).data = torch.tensor(np.asarray(value[...]).copy())
        return out

    class TorchBlock(nn.Module):
        def __init__(self, block: Block, stride: int):
            super().__init__()
            self.conv1, self.bn1 = conv(block.conv1, stride), norm(block.bn1)
            self.conv2, self.bn2 = conv(block.conv2, 1), norm(block.bn2)
            self.down = None
            if block.down_conv is not None:
                self.down = nn.Sequential(conv(block.down_conv, stride), norm(block.down_bn))
            self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # one module each, as Captum's hooks need

        def forward(self, x):
            h = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
            return self.relu2(h + (x if self.down is None else self.down(x)))

    class TorchResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1, self.relu = conv(model.conv1, 2), norm(model.bn1), nn.ReLU()
            self.pool = nn.MaxPool2d(3, 2, 1)
            stages = (model.layer1, model.layer2, model.layer3, model.layer4)
            for i, ((_, stride), stage) in enumerate(zip(STAGES, stages, strict=True)):
                setattr(
                    self,
                    f"layer{i + 1}",
                    nn.Sequential(TorchBlock(stage[0], stride), TorchBlock(stage[1], 1)),
                )
            self.fc = nn.Linear(512, CLASSES)
            self.fc.weight.data = torch.tensor(np.asarray(model.fc.kernel[...]).T.copy())
            self.fc.bias.data = torch.tensor(np.asarray(model.fc.bias[...]).copy())

        def forward(self, x):
            x = self.pool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean(dim=(2, 3)))

    return TorchResNet18().eval()
