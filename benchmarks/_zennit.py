"""Importing zennit (and Quantus, which imports zennit) beside a PyTorch that torchvision does
not import with.

zennit's `__init__` imports `zennit.torchvision`, whose ResNet and VGG canonizers take
`Bottleneck` and `BasicBlock` from `torchvision.models.resnet` at import time. jaxviz's
comparisons need none of those canonizers, so when torchvision does not import, two empty
`torch.nn.Module` subclasses stand in for those names during zennit's import, and the stand-in
modules are removed from `sys.modules` again afterwards (nothing else ever sees them).
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

_STAND_INS = ("torchvision", "torchvision.models", "torchvision.models.resnet")


def import_zennit():
    """The `zennit` package with its attribution, canonizers, composites and rules loaded."""
    try:
        import torchvision  # noqa: F401

        stubs = {}
    except Exception:  # not installed, or built for another torch
        stubs = _torchvision_stand_ins()
    saved = {name: sys.modules.pop(name, None) for name in stubs}
    sys.modules.update(stubs)
    try:
        zennit = importlib.import_module("zennit")
        for sub in ("attribution", "canonizers", "composites", "rules"):
            importlib.import_module(f"zennit.{sub}")
    finally:
        for name in stubs:
            del sys.modules[name]
            if saved[name] is not None:
                sys.modules[name] = saved[name]
    return zennit


def import_quantus():
    """The `quantus` package: zennit first (see `import_zennit`), so Quantus's own import of it
    finds it loaded; Quantus's import-time warnings are silenced."""
    import_zennit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module("quantus")


def _torchvision_stand_ins() -> dict[str, types.ModuleType]:
    import torch

    root, models, resnet = (types.ModuleType(name) for name in _STAND_INS)
    resnet.Bottleneck = type("Bottleneck", (torch.nn.Module,), {})
    resnet.BasicBlock = type("BasicBlock", (torch.nn.Module,), {})
    root.models, models.resnet = models, resnet
    return dict(zip(_STAND_INS, (root, models, resnet), strict=True))


def relevance(zennit, torch_model, inputs, targets, composite, num_classes: int):
    """zennit's input relevance (a torch tensor) with the explained score, logit x one-hot, as
    the output relevance (jaxviz's convention: the total relevance is the score)."""
    import torch

    inputs = inputs.detach().clone().requires_grad_()
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(targets), num_classes)
    with zennit.attribution.Gradient(model=torch_model, composite=composite) as attributor:
        _, result = attributor(inputs, lambda out: out * one_hot)
    return result
