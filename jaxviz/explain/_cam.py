"""Class activation maps: Grad-CAM, Grad-CAM++ and guided Grad-CAM."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._checks import check_batch_size, check_choice, check_layer
from . import _engine
from ._backprop import fix_predicted, per_class, pull_back
from ._relu_rules import GUIDED_RELU, check_reachable_relus, with_relu_rule
from ._targets import prepare

INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def gradcam(
    model,
    x,
    target=None,
    *,
    layer: str,
    plus_plus: bool = False,
    upsample: bool = True,
    interpolation: str = "bilinear",
    relu: bool = True,
    batch_size: int | None = None,
) -> jax.Array:
    """Grad-CAM (Selvaraju et al., 2017), or Grad-CAM++ (Chattopadhay et al., 2018).

    The layer's channels weighted by their spatially averaged gradient (Grad-CAM++: by positive
    gradients weighted with the closed-form second-order coefficients), summed over channels.

    Args:
      model, x, target, batch_size: as in `jaxviz.saliency`.
      layer: a layer whose output is (batch, *spatial, channels), e.g. a convolution.
      plus_plus: Grad-CAM++ instead of Grad-CAM.
      upsample: resize the map to the input's spatial size (x.shape[1:1 + spatial axes]);
        False gives the map at the layer's resolution (Captum's `LayerGradCam` output).
      interpolation: "bilinear" (default), "nearest" (what Captum's `LayerAttribution.interpolate`
        and `GuidedGradCam` use by default) or "bicubic", as in `jax.image.resize` (pixel
        centres). Upsampling by an integer factor, "bilinear" and "nearest" give exactly torch's
        `interpolate` (align_corners=False); for other factors "nearest" is torch's
        "nearest-exact". "bicubic" uses Keys' a = -0.5, torch's a = -0.75.
      relu: keep only positive evidence, as in the paper. Captum's `LayerGradCam` defaults to
        `relu_attributions=False`; pass relu=False to match it.

    Returns:
      float32 maps (batch, *spatial), or (batch, classes, *spatial) for target="all".
    """
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    x, target = prepare(model, x, target)
    _spatial_layer(model, x, layer, "gradcam")

    def build():
        def kernel(params, indices, x, classes):
            return cam_maps(model, params, x, target.mode, classes, layer, plus_plus, relu, upsample, interpolation)

        return kernel

    program = ("gradcam", layer, plus_plus, upsample, interpolation, relu, target.mode)
    return _engine.run(model, program, build, (x, target.classes), batch_size=check_batch_size(batch_size))


def guided_gradcam(
    model, x, target=None, *, layer: str, interpolation: str = "bilinear", batch_size: int | None = None
) -> jax.Array:
    """Guided Grad-CAM: guided backprop times the (positive) Grad-CAM map upsampled to the input,
    broadcast over the input's channels, as Captum's `GuidedGradCam` (which interpolates with
    "nearest" by default). Returns float32 attributions shaped like `x`."""
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    x, target = prepare(model, x, target)
    _spatial_layer(model, x, layer, "guided_gradcam")
    check_reachable_relus(model, x[:1], "guided_backprop")

    def build():
        def kernel(params, indices, x, classes):
            mode, classes = fix_predicted(target.mode, classes, model.apply(params, x))
            cams = cam_maps(model, params, x, mode, classes, layer, False, True, True, interpolation)
            logits, vjp = jax.vjp(with_relu_rule(model, params, GUIDED_RELU, "guided_gradcam"), x)
            guided = pull_back(vjp, logits, mode, classes)
            return guided * cams.reshape(cams.shape + (1,) * (guided.ndim - cams.ndim))

        return kernel

    program = ("guided_gradcam", layer, interpolation, target.mode)
    return _engine.run(model, program, build, (x, target.classes), batch_size=check_batch_size(batch_size))


def _spatial_layer(model, x, layer, method) -> jax.ShapeDtypeStruct:
    spec = check_layer(model, x, layer, spatial=True, method=method)
    spatial = len(spec.shape) - 2
    if x.ndim - 1 < spatial:
        raise ValueError(
            f"layer: {layer!r} has {spatial} spatial axes but x of shape {x.shape} has fewer; "
            "the map cannot be placed on the input."
        )
    return spec


def cam_maps(model, params, x, mode, classes, layer, plus_plus, relu, upsample, interpolation):
    """Inside a program: the class activation maps for a chunk, (batch, [classes,] *spatial)."""
    spec = model.layer_shapes(x)[layer]
    zeros = jnp.zeros(spec.shape, spec.dtype)

    def forward(delta):
        logits, activations = model.apply(params, x, {layer: delta})
        return logits, activations[layer]

    logits, vjp, activations = jax.vjp(forward, zeros, has_aux=True)
    grads = pull_back(vjp, logits, mode, classes)
    activations = per_class(activations.astype(jnp.float32), mode)
    spatial_axes = tuple(range(activations.ndim - len(spec.shape) + 1, activations.ndim - 1))
    if plus_plus:
        weights = _gradcam_plus_plus_weights(activations, grads, spatial_axes)
    else:
        weights = grads.mean(spatial_axes, keepdims=True)
    cams = (weights * activations).sum(-1)
    if relu:
        cams = jax.nn.relu(cams)
    if not upsample:
        return cams
    size = x.shape[1 : 1 + len(spatial_axes)]
    return jax.image.resize(cams, cams.shape[: cams.ndim - len(size)] + size, method=interpolation)


def _gradcam_plus_plus_weights(activations, grads, spatial_axes):
    # Closed-form alphas for an exponential of the score (Chattopadhay et al., eq. 19).
    g2, g3 = grads**2, grads**3
    denominator = 2 * g2 + activations.sum(spatial_axes, keepdims=True) * g3
    alphas = jnp.where(grads != 0, g2 / jnp.where(denominator != 0, denominator, 1.0), 0.0)
    return (alphas * jax.nn.relu(grads)).sum(spatial_axes, keepdims=True)
