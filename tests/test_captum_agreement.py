"""jaxviz gives Captum's numbers: one CNN with the same weights in flax.nnx and PyTorch.

The twins (benchmarks/_twins.py) compute the same logits to ~5e-7. Every method Captum shares
with jaxviz runs on both with the same inputs, targets and options, and must agree to float32
precision. Intended differences are tested as exactly what they are:

- riemann_trapezoid: Captum's weights sum to (n-1)/n; jaxviz integrates correctly.
- SmoothGrad's `noise` is a fraction of each example's value range; Captum's `stdevs` is absolute.

The errors reached (max |jaxviz - Captum| and that over max |Captum|) are written per method to
tests/artifacts/captum_agreement/.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

import captum.attr as ca  # noqa: E402
from captum.attr._utils.approximation_methods import approximation_parameters  # noqa: E402

import jaxviz as jv  # noqa: E402
from benchmarks._twins import TINY_CNN, TINY_INPUT, make_twins, random_inputs, to_nhwc, to_torch  # noqa: E402

# Captum announces the ReLU hooks it sets for guided backprop / deconvolution on every call.
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")

TARGETS = np.array([0, 1, 2, 3, 4, 2])
ARTIFACTS = Path(__file__).parent / "artifacts" / "captum_agreement"


@pytest.fixture(scope="module")
def twins():
    flax_model, torch_model = make_twins(TINY_CNN, TINY_INPUT, seed=3)
    return jv.wrap(flax_model), torch_model


@pytest.fixture(scope="module")
def x():
    return random_inputs(len(TARGETS), TINY_INPUT)


@pytest.fixture(scope="module")
def tx(x):
    return to_torch(x)


@pytest.fixture(scope="module")
def ttargets():
    return torch.tensor(TARGETS)


def agree(name: str, ours, theirs, *, tol: float = 2e-6) -> None:
    """Assert max |ours - theirs| <= tol * max |theirs| and record the errors reached."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, (name, ours.shape, theirs.shape)
    scale = np.abs(theirs).max()
    assert scale > 0, f"{name}: Captum's attributions are all zero; the comparison would be empty"
    abs_err = float(np.abs(ours - theirs).max())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    record = {
        "method": name,
        "max_abs_err": abs_err,
        "max_rel_err": abs_err / scale,
        "scale": float(scale),
    }
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(record))
    assert abs_err <= tol * scale, record


def test_twins_compute_the_same_logits(twins, x, tx):
    model, torch_model = twins
    agree("logits", model(x), torch_model(tx).detach())


# -- gradients -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, captum_abs", [("grad", False), ("abs", True)])
def test_saliency(twins, x, tx, ttargets, mode, captum_abs):
    model, torch_model = twins
    theirs = ca.Saliency(torch_model).attribute(
        tx.clone().requires_grad_(), target=ttargets, abs=captum_abs
    )
    agree(f"saliency_{mode}", jv.saliency(model, x, TARGETS, mode=mode), to_nhwc(theirs))


def test_input_x_gradient(twins, x, tx, ttargets):
    model, torch_model = twins
    theirs = ca.InputXGradient(torch_model).attribute(tx.clone().requires_grad_(), target=ttargets)
    agree("input_x_gradient", jv.saliency(model, x, TARGETS, mode="grad_x_input"), to_nhwc(theirs))


def test_predicted_class_target_is_captums_argmax(twins, x, tx):
    model, torch_model = twins
    predicted = torch_model(tx).argmax(1)
    theirs = ca.Saliency(torch_model).attribute(
        tx.clone().requires_grad_(), target=predicted, abs=False
    )
    agree("saliency_predicted", jv.saliency(model, x), to_nhwc(theirs))


@pytest.mark.parametrize(
    "method", ["riemann_left", "riemann_right", "riemann_middle", "gausslegendre"]
)
@pytest.mark.parametrize("baseline", ["zero", "per_example"])
def test_integrated_gradients(twins, x, tx, ttargets, method, baseline):
    model, torch_model = twins
    base = 0.0 if baseline == "zero" else 0.5 * random_inputs(len(TARGETS), TINY_INPUT, seed=7)
    tbase = 0.0 if baseline == "zero" else to_torch(base)
    theirs = ca.IntegratedGradients(torch_model).attribute(
        tx, baselines=tbase, target=ttargets, n_steps=24, method=method
    )
    ours = jv.integrated_gradients(model, x, TARGETS, baseline=base, steps=24, quadrature=method)
    agree(f"integrated_gradients_{method}_{baseline}", ours, to_nhwc(theirs))


def test_integrated_gradients_all_classes_stack_captums_per_class(twins, x, tx):
    model, torch_model = twins
    ours = jv.integrated_gradients(model, x, "all", steps=16)
    ig = ca.IntegratedGradients(torch_model)
    theirs = np.stack([to_nhwc(ig.attribute(tx, target=c, n_steps=16)) for c in range(5)], axis=1)
    agree("integrated_gradients_all_classes", ours, theirs)


def test_captums_trapezoid_weights_sum_to_n_minus_1_over_n():
    steps = 24
    step_sizes, alphas = approximation_parameters("riemann_trapezoid")
    np.testing.assert_allclose(sum(step_sizes(steps)), (steps - 1) / steps, rtol=1e-12)
    np.testing.assert_allclose(alphas(steps), np.linspace(0, 1, steps), atol=1e-7)


def test_trapezoid_is_captums_rescaled_to_integrate_correctly(twins, x, tx, ttargets):
    # The same nodes (linspace(0, 1, n)); Captum's weights are jaxviz's times (n-1)/n.
    model, torch_model = twins
    steps = 24
    ours = jv.integrated_gradients(model, x, TARGETS, steps=steps, quadrature="riemann_trapezoid")
    theirs = ca.IntegratedGradients(torch_model).attribute(
        tx, target=ttargets, n_steps=steps, method="riemann_trapezoid"
    )
    agree(
        "integrated_gradients_riemann_trapezoid_rescaled",
        ours,
        to_nhwc(theirs) * steps / (steps - 1),
    )


def test_trapezoid_matches_a_direct_trapezoid_rule(twins, x, tx, ttargets):
    # Reference: gradients at linspace(0, 1, n) in torch, weights 1/(n-1) halved at both ends.
    model, torch_model = twins
    steps = 24
    weights = np.full(steps, 1 / (steps - 1))
    weights[[0, -1]] /= 2
    total = torch.zeros_like(tx)
    for alpha, weight in zip(np.linspace(0, 1, steps), weights):
        point = (float(alpha) * tx).requires_grad_()
        score = torch_model(point).gather(1, ttargets[:, None]).sum()
        total += weight * torch.autograd.grad(score, point)[0]
    ours = jv.integrated_gradients(model, x, TARGETS, steps=steps, quadrature="riemann_trapezoid")
    agree("integrated_gradients_riemann_trapezoid_direct", ours, to_nhwc(total * tx))


# -- NoiseTunnel -----------------------------------------------------------------------------------

NOISE_KINDS = [("smooth", "smoothgrad"), ("square", "smoothgrad_sq"), ("var", "vargrad")]


def smoothgrad_sigmas(x, noise):
    """jaxviz's per-example standard deviation: `noise` times the example's value range."""
    flat = np.asarray(x).reshape(len(x), -1)
    return noise * (flat.max(1) - flat.min(1))


@pytest.mark.parametrize("kind, nt_type", NOISE_KINDS)
def test_noise_tunnel_with_identical_noise(twins, x, tx, ttargets, monkeypatch, kind, nt_type):
    # jaxviz draws example i's noise from fold_in(key, i) (its documented contract); feed Captum
    # exactly those draws, in its (example-major, NCHW) layout.
    model, torch_model = twins
    samples, noise, key = 8, 0.2, jax.random.key(42)
    draws = np.stack(
        [
            np.asarray(jax.random.normal(jax.random.fold_in(key, i), (samples, *TINY_INPUT)))
            for i in range(len(TARGETS))
        ]
    )
    scaled = draws * smoothgrad_sigmas(x, noise)[:, None, None, None, None]
    fixed_noise = to_torch(scaled.reshape(-1, *TINY_INPUT))

    def add_fixed_noise(inputs, stdev, nt_samples_partition):
        assert nt_samples_partition == samples
        return inputs.repeat_interleave(samples, dim=0) + fixed_noise

    monkeypatch.setattr(ca.NoiseTunnel, "_add_noise_to_input", staticmethod(add_fixed_noise))
    theirs = ca.NoiseTunnel(ca.Saliency(torch_model)).attribute(
        tx, nt_type=nt_type, nt_samples=samples, stdevs=1.0, target=ttargets, abs=False
    )
    ours = jv.smoothgrad(model, x, TARGETS, samples=samples, noise=noise, kind=kind, key=key)
    agree(f"noise_tunnel_{nt_type}_identical_noise", ours, to_nhwc(theirs))


def test_smoothgrad_in_expectation_with_captums_own_noise(twins, x, tx, ttargets):
    # Independent noise on each side: the means differ by sampling error only. Bound every
    # feature's difference by 5 standard errors (the gradients' variance from VarGrad).
    model, torch_model = twins
    samples, noise = 2048, 0.2
    sigmas = smoothgrad_sigmas(x, noise)
    tunnel = ca.NoiseTunnel(ca.Saliency(torch_model))
    torch.manual_seed(0)
    theirs = np.concatenate(
        [
            to_nhwc(
                tunnel.attribute(
                    tx[i : i + 1],
                    nt_type="smoothgrad",
                    nt_samples=samples,
                    nt_samples_batch_size=512,
                    stdevs=float(sigmas[i]),
                    target=int(TARGETS[i]),
                    abs=False,
                )
            )
            for i in range(len(TARGETS))
        ]
    )
    options = dict(samples=samples, noise=noise, key=jax.random.key(3), batch_size=2)
    ours = np.asarray(jv.smoothgrad(model, x, TARGETS, **options))
    variance = np.asarray(jv.smoothgrad(model, x, TARGETS, kind="var", **options))
    standard_error = np.sqrt(2 * variance / samples) + 1e-7
    z = np.abs(ours - theirs) / standard_error
    assert z.max() < 5.5, f"max z-score {z.max():.2f}"
    assert np.abs(ours).max() > 10 * standard_error.max()  # the test has power: signal >> noise
    record = {
        "method": "noise_tunnel_smoothgrad_in_expectation",
        "max_z": float(z.max()),
        "max_abs_err": float(np.abs(ours - theirs).max()),
        "max_rel_err": float(np.abs(ours - theirs).max() / np.abs(theirs).max()),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "noise_tunnel_smoothgrad_in_expectation.json").write_text(json.dumps(record))


# -- modified backward rules and CAMs --------------------------------------------------------------


@pytest.mark.parametrize(
    "ours_fn, captum_cls",
    [(jv.guided_backprop, ca.GuidedBackprop), (jv.deconvnet, ca.Deconvolution)],
)
def test_modified_relu_backward(twins, x, tx, ttargets, ours_fn, captum_cls):
    model, torch_model = twins
    theirs = captum_cls(torch_model).attribute(tx.clone().requires_grad_(), target=ttargets)
    agree(ours_fn.__name__, ours_fn(model, x, TARGETS), to_nhwc(theirs))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_guided_gradcam(twins, x, tx, ttargets, interpolation):
    model, torch_model = twins
    theirs = ca.GuidedGradCam(torch_model, torch_model.conv2).attribute(
        tx.clone().requires_grad_(), target=ttargets, interpolate_mode=interpolation
    )
    ours = jv.guided_gradcam(model, x, TARGETS, layer="conv2", interpolation=interpolation)
    agree(f"guided_gradcam_{interpolation}", ours, to_nhwc(theirs))


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
@pytest.mark.parametrize("relu", [False, True])
def test_layer_gradcam_at_layer_resolution(twins, x, tx, ttargets, layer, relu):
    model, torch_model = twins
    theirs = ca.LayerGradCam(torch_model, getattr(torch_model, layer)).attribute(
        tx, target=ttargets, relu_attributions=relu
    )
    ours = jv.gradcam(model, x, TARGETS, layer=layer, upsample=False, relu=relu)
    agree(f"layer_gradcam_{layer}_relu_{relu}", ours, theirs.detach().numpy()[:, 0])


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_layer_gradcam_upsampled_like_layer_attribution_interpolate(
    twins, x, tx, ttargets, interpolation
):
    # jax.image.resize and torch's interpolate (align_corners=False) agree when upsampling by an
    # integer factor, as here (6x6 -> 12x12). For non-integer factors jaxviz's "nearest" samples
    # pixel centres, like torch's "nearest-exact", where torch's "nearest" floors. "bicubic" is
    # left out: jax.image.resize uses Keys' a = -0.5, torch a = -0.75 (documented in jv.gradcam).
    model, torch_model = twins
    cam = ca.LayerGradCam(torch_model, torch_model.conv2).attribute(
        tx, target=ttargets, relu_attributions=True
    )
    theirs = ca.LayerAttribution.interpolate(cam, TINY_INPUT[:2], interpolate_mode=interpolation)
    ours = jv.gradcam(model, x, TARGETS, layer="conv2", interpolation=interpolation)
    agree(f"layer_gradcam_upsampled_{interpolation}", ours, theirs.detach().numpy()[:, 0])


# -- occlusion -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window, stride, value, captum_window, captum_stride",
    [
        (3, 1, 0.0, (3, 3, 3), (3, 1, 1)),
        (4, 2, 0.5, (3, 4, 4), (3, 2, 2)),
        # (12 - 5) is not a multiple of 3: the last window hangs over the edge, clipped.
        (5, 3, -1.0, (3, 5, 5), (3, 3, 3)),
        ((4, 3, 1), (2, 3, 1), 0.0, (1, 4, 3), (1, 2, 3)),
    ],
)
def test_occlusion(twins, x, tx, ttargets, window, stride, value, captum_window, captum_stride):
    model, torch_model = twins
    theirs = ca.Occlusion(torch_model).attribute(
        tx,
        sliding_window_shapes=captum_window,
        strides=captum_stride,
        baselines=value,
        target=ttargets,
        perturbations_per_eval=64,
    )
    ours = jv.occlusion(model, x, TARGETS, window=window, stride=stride, value=value)
    # Drops are differences of two logits (~1), so float32 error scales with the logits.
    agree(f"occlusion_w{captum_window}_s{captum_stride}_v{value}", ours, to_nhwc(theirs), tol=1e-5)


# -- layers and neurons ----------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1", "fc2"])
def test_layer_activation(twins, x, tx, layer):
    model, torch_model = twins
    theirs = ca.LayerActivation(torch_model, getattr(torch_model, layer)).attribute(tx)
    agree(f"layer_activation_{layer}", jv.activations(model, x, layer), to_nhwc(theirs))


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle"])
def test_layer_integrated_gradients(twins, x, tx, ttargets, layer, method):
    model, torch_model = twins
    base = 0.3 * random_inputs(len(TARGETS), TINY_INPUT, seed=11)
    theirs = ca.LayerIntegratedGradients(torch_model, getattr(torch_model, layer)).attribute(
        tx, baselines=to_torch(base), target=ttargets, n_steps=24, method=method
    )
    ours = jv.layer_integrated_gradients(
        model, x, TARGETS, layer=layer, baseline=base, steps=24, quadrature=method
    )
    agree(f"layer_integrated_gradients_{layer}_{method}", ours, to_nhwc(theirs))


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_layer_conductance(twins, x, tx, ttargets, layer, method):
    model, torch_model = twins
    theirs = ca.LayerConductance(torch_model, getattr(torch_model, layer)).attribute(
        tx, target=ttargets, n_steps=24, method=method
    )
    ours = jv.layer_conductance(model, x, TARGETS, layer=layer, steps=24, quadrature=method)
    agree(f"layer_conductance_{layer}_{method}", ours, to_nhwc(theirs))


@pytest.mark.parametrize(
    "layer, neuron, captum_neuron", [("conv2", (2, 4, 5), (5, 2, 4)), ("fc1", 7, 7)]
)
def test_neuron_gradient(twins, x, tx, layer, neuron, captum_neuron):
    model, torch_model = twins
    theirs = ca.NeuronGradient(torch_model, getattr(torch_model, layer)).attribute(
        tx.clone().requires_grad_(), neuron_selector=captum_neuron
    )
    ours = jv.neuron_gradient(model, x, layer=layer, neuron=neuron)
    agree(f"neuron_gradient_{layer}", ours, to_nhwc(theirs))
