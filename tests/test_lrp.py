"""Layer-wise relevance propagation: closed forms, conservation, and zennit on shared weights."""

from __future__ import annotations

import importlib.util

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv
from benchmarks._twins import (
    TINY_CNN,
    TINY_INPUT,
    SpecCNN,
    random_inputs,
    to_nhwc,
    to_torch,
    torch_twin,
)
from jaxviz.explain._lrp import COMPOSITES, AlphaBeta, Epsilon, lrp

# The tiny twin with a batch norm after every layer but the last, and an average pool (zennit's
# Norm rule), so the canonizer and the pools are compared too.
BN_CNN = (
    ("conv", 8, 3),
    ("batchnorm",),
    ("relu",),
    ("conv", 8, 3),
    ("batchnorm",),
    ("relu",),
    ("avgpool", 2),
    ("flatten",),
    ("linear", 16),
    ("batchnorm",),
    ("relu",),
    ("linear", 5),
)
BOUNDS = (-3.0, 3.0)  # z-box's box: the inputs are standard normal


@pytest.fixture(scope="module")
def tiny():
    module = SpecCNN(TINY_CNN, TINY_INPUT, seed=0)
    return jv.wrap(module), module, random_inputs(4, TINY_INPUT)


@pytest.fixture(scope="module")
def unbiased():
    """The tiny CNN with zero biases: conserving rules then conserve relevance exactly."""
    return jv.wrap(SpecCNN(TINY_CNN, TINY_INPUT, seed=3, bias_scale=0.0)), random_inputs(
        4, TINY_INPUT, seed=4
    )


def _relu_mlp(bias: float):
    first, second = jax.random.split(jax.random.key(7))
    w1, w2 = jax.random.normal(first, (6, 8)) / 2.5, jax.random.normal(second, (8, 3)) / 3.0

    def fn(x):
        h = checkpoint_name(jax.nn.relu(x @ w1 + bias), "hidden")
        return h @ w2 + bias

    return jv.wrap(fn)


def _residual_mlp():
    """h = relu(x W1); r = relu(h W2) + h; logits = r W3, no biases: the skip and the branch
    both carry relevance into the sum."""
    keys = jax.random.split(jax.random.key(11), 3)
    w1, w2, w3 = (
        jax.random.normal(k, s) / np.sqrt(s[0]) for k, s in zip(keys, [(6, 8), (8, 8), (8, 3)])
    )

    def fn(x):
        h = checkpoint_name(jax.nn.relu(x @ w1), "stem")
        branch = checkpoint_name(jax.nn.relu(h @ w2), "branch")
        r = checkpoint_name(branch + h, "sum")
        return r @ w3

    return jv.wrap(fn), (w1, w2, w3)


# -- closed forms and invariants ------------------------------------------------------------------


def test_lrp_zero_is_gradient_times_input_with_biases(tiny):
    model, _, x = tiny
    expected = jv.saliency(model, x, mode="grad_x_input")
    np.testing.assert_allclose(lrp(model, x, composite="zero"), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bias", [0.0, 0.3])
def test_lrp_zero_is_gradient_times_input_on_a_plain_function(bias):
    model = _relu_mlp(bias)
    x = jax.random.normal(jax.random.key(0), (5, 6))
    expected = jv.saliency(model, x, target=2, mode="grad_x_input")
    np.testing.assert_allclose(lrp(model, x, 2, composite="zero"), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "composite", ["zero", "epsilon-plus-flat", "epsilon-plus", "epsilon-gamma-box"]
)
def test_zero_biases_conserve_the_output(unbiased, composite):
    model, x = unbiased
    result = lrp(model, x, composite=composite, low=BOUNDS[0], high=BOUNDS[1], return_layers=True)
    logits = np.asarray(model(x))
    np.testing.assert_allclose(
        np.asarray(result.attribution).sum((1, 2, 3)), logits.max(1), atol=1e-5
    )
    for name, total in result.layers.items():
        np.testing.assert_allclose(total, logits.max(1), atol=1e-5, err_msg=name)


def test_epsilon_tends_to_gradient_times_input(tiny):
    model, _, x = tiny
    expected = np.asarray(jv.saliency(model, x, mode="grad_x_input"))
    errors = []
    for eps in (1e-2, 1e-4, 1e-6, 1e-8):
        rule = Epsilon(eps)
        attr = np.asarray(lrp(model, x, composite="zero", rules={"conv": rule, "dense": rule}))
        errors.append(np.abs(attr - expected).max() / np.abs(expected).max())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[0] > 1e-1 and errors[-1] < 1e-5, errors


def test_residual_sum_splits_relevance_without_doubling():
    model, (w1, w2, w3) = _residual_mlp()
    x = jax.random.normal(jax.random.key(1), (6, 6))
    logits = np.asarray(model(x))
    targets = logits.argmax(1)
    h = jax.nn.relu(x @ w1)
    branch = jax.nn.relu(h @ w2)
    # The last layer's LRP-0 / epsilon share of each summand: its value times its weight.
    branch_share = np.asarray((branch * w3[:, targets].T).sum(1))
    skip_share = logits.max(1) - branch_share
    assert np.abs(skip_share).min() > 0.05 * np.abs(logits.max(1)).max()  # doubling would show
    for composite in ("zero", "epsilon-plus-flat"):
        result = lrp(model, x, composite=composite, return_layers=True)
        np.testing.assert_allclose(
            result.layers["sum"], logits.max(1), atol=1e-5, err_msg=composite
        )
        np.testing.assert_allclose(
            result.layers["branch"], branch_share, atol=1e-5, err_msg=composite
        )
        # The stem gets the skip's share and the branch's back, not the sum's twice over.
        np.testing.assert_allclose(
            result.layers["stem"], logits.max(1), atol=1e-5, err_msg=composite
        )
        np.testing.assert_allclose(
            result.layers["input"], logits.max(1), atol=1e-5, err_msg=composite
        )


def test_layer_totals_are_layer_gradient_times_activation(tiny):
    """With LRP-0 a layer's total relevance is its activation times its gradient, summed: an
    independent computation through `model.apply`'s taps (biases make it differ per layer)."""
    model, _, x = tiny
    targets = np.asarray(model(x)).argmax(1)
    result = lrp(model, x, targets, composite="zero", return_layers=True)
    shapes = model.layer_shapes(x)
    zeros = {n: jnp.zeros(s.shape, s.dtype) for n, s in shapes.items()}

    def score(taps):
        logits, acts = model.apply(model.params, x, taps)
        return logits[jnp.arange(len(x)), targets].sum(), acts

    grads, acts = jax.grad(score, has_aux=True)(zeros)
    assert list(result.layers) == ["input", *shapes, "output"]
    totals = []
    for name in shapes:
        expected = (acts[name] * grads[name]).reshape(len(x), -1).sum(1)
        np.testing.assert_allclose(
            result.layers[name], expected, rtol=1e-4, atol=1e-6, err_msg=name
        )
        totals.append(np.asarray(expected))
    assert (
        np.ptp(np.stack(totals), axis=0).max() > 1e-3
    )  # the biases absorb relevance layer by layer


def test_flat_reaches_the_input_through_a_normalization():
    """Relevance passes position by position through `(x - mean) / std` inside the model, so
    flat on the first layer gives the same input relevance as on pre-normalized inputs."""
    first, second = jax.random.split(jax.random.key(3))
    w1, w2 = jax.random.normal(first, (6, 8)) / 2.5, jax.random.normal(second, (8, 3)) / 3.0
    mean, std = jnp.linspace(-1.0, 1.0, 6), jnp.linspace(0.5, 2.0, 6)

    def net(h):
        return jax.nn.relu(h @ w1 + 0.1) @ w2

    x = jax.random.normal(jax.random.key(4), (5, 6))
    normalizing = jv.wrap(lambda x: net((x - mean) / std))
    ours = lrp(normalizing, x, 1, composite="epsilon-plus-flat")
    expected = lrp(jv.wrap(net), (x - mean) / std, 1, composite="epsilon-plus-flat")
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours, np.repeat(np.asarray(ours)[:, :1], 6, axis=1), rtol=1e-5)


def test_every_class_at_once_matches_one_class_at_a_time(tiny):
    model, _, x = tiny
    every = lrp(
        model, x, "all", composite="epsilon-gamma-box", low=-3.0, high=3.0, return_layers=True
    )
    assert every.attribution.shape == (4, 5, *TINY_INPUT)
    one = lrp(model, x, 3, composite="epsilon-gamma-box", low=-3.0, high=3.0, return_layers=True)
    np.testing.assert_allclose(every.attribution[:, 3], one.attribution, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(every.layers["fc1"][:, 3], one.layers["fc1"], rtol=1e-5, atol=1e-8)


def test_chunks_do_not_change_the_result(tiny):
    model, _, x = tiny
    np.testing.assert_array_equal(lrp(model, x, batch_size=3), lrp(model, x, batch_size=4))


def test_every_model_kind_gives_the_same_relevance(cnn_models, images):
    """The same CNN as an NNX module, a Linen module and a plain function with checkpoint_name
    tags: the same units, names and rules are found in each, so the same relevance comes out."""
    rules = {"conv2": "gamma", "dense": "epsilon"}
    results = {
        kind: lrp(model, images, 2, composite="epsilon-plus-flat", rules=rules, return_layers=True)
        for kind, model in cnn_models.items()
    }
    reference = results["nnx"]
    assert list(reference.layers) == ["input", "conv1", "conv2", "dense", "output"]
    for kind in ("linen", "function"):
        np.testing.assert_allclose(
            results[kind].attribution, reference.attribution, rtol=1e-4, atol=1e-7
        )
        for name, total in reference.layers.items():
            np.testing.assert_allclose(results[kind].layers[name], total, rtol=1e-4, atol=1e-6)


def test_linen_layers_take_rules_by_name():
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(8, use_bias=False)(x))
            x = nn.relu(nn.Dense(8, use_bias=False)(x))
            return nn.Dense(3, use_bias=False)(x)

    x = jax.random.normal(jax.random.key(2), (4, 6))
    module = MLP()
    model = jv.wrap(module, module.init(jax.random.key(0), x))
    logits = np.asarray(model(x))
    plain = lrp(model, x, composite="zero")
    np.testing.assert_allclose(
        plain, jv.saliency(model, x, mode="grad_x_input"), rtol=1e-5, atol=1e-7
    )
    # Flat on the first layer spreads relevance evenly over the inputs, whatever their values.
    flat = np.asarray(lrp(model, x, composite="zero", rules={"Dense_0": "flat"}))
    np.testing.assert_allclose(flat, np.repeat(flat[:, :1], 6, axis=1), rtol=1e-5)
    np.testing.assert_allclose(flat.sum(1), logits.max(1), atol=1e-5)


# -- agreement with zennit on shared weights ------------------------------------------------------


@pytest.fixture(scope="module")
def zennit():
    """zennit, imported with stand-ins for the torchvision names it takes at import time
    (benchmarks/_zennit.py: torchvision does not import beside this torch)."""
    pytest.importorskip("torch")
    if importlib.util.find_spec("zennit") is None:
        pytest.skip("zennit is not installed")
    from benchmarks._zennit import import_zennit

    return import_zennit()


def _zennit_composite(zennit, name, canonizers):
    composites = zennit.composites
    return {
        "epsilon-plus-flat": lambda: composites.EpsilonPlusFlat(canonizers=canonizers),
        "epsilon-gamma-box": lambda: composites.EpsilonGammaBox(*BOUNDS, canonizers=canonizers),
        "epsilon-alpha2-beta1": lambda: composites.EpsilonAlpha2Beta1(canonizers=canonizers),
        "epsilon-alpha2-beta1-flat": lambda: composites.EpsilonAlpha2Beta1Flat(
            canonizers=canonizers
        ),
        "epsilon-plus": lambda: composites.EpsilonPlus(canonizers=canonizers),
    }[name]()


def _zennit_relevance(zennit, torch_model, x, targets, composite):
    from benchmarks._zennit import relevance

    return to_nhwc(relevance(zennit, torch_model, to_torch(x), np.asarray(targets), composite, 5))


@pytest.mark.parametrize("spec", ["tiny", "batch-norm"])
@pytest.mark.parametrize("composite", [c for c in COMPOSITES if c != "zero"])
def test_composites_agree_with_zennit(zennit, composite, spec):
    layers = TINY_CNN if spec == "tiny" else BN_CNN
    module = SpecCNN(layers, TINY_INPUT, seed=5)
    if spec == "batch-norm":
        # Negative scales flip the merged weights' signs, which z+, gamma and z-box must follow.
        module.bn1.scale[...] = module.bn1.scale[...] * jnp.array([1.0, -1.0] * 4)
    torch_model = torch_twin(module, TINY_INPUT)
    model, x = jv.wrap(module), random_inputs(4, TINY_INPUT, seed=6)
    targets = np.asarray(model(x)).argmax(1)
    canonizers = [zennit.canonizers.SequentialMergeBatchNorm()] if spec == "batch-norm" else None
    expected = _zennit_relevance(
        zennit, torch_model, x, targets, _zennit_composite(zennit, composite, canonizers)
    )
    ours = np.asarray(lrp(model, x, targets, composite=composite, low=BOUNDS[0], high=BOUNDS[1]))
    np.testing.assert_allclose(ours, expected, atol=1e-5 * np.abs(expected).max(), rtol=1e-4)


def test_rules_by_name_agree_with_zennit_name_maps(zennit, tiny):
    model, module, x = tiny
    targets = np.asarray(model(x)).argmax(1)
    rules = zennit.rules
    # zennit's base layer map gives its pools and activations the rules jaxviz's formulation has.
    composite = zennit.composites.NameLayerMapComposite(
        name_map=[
            (("conv1",), rules.Flat()),
            (("conv2",), rules.Gamma(gamma=0.5)),
            (("fc1",), rules.AlphaBeta(alpha=1, beta=0)),
            (("fc2",), rules.Epsilon(epsilon=0.01)),
        ],
        layer_map=zennit.composites.layer_map_base(),
    )
    from jaxviz.explain._lrp import Gamma

    ours = lrp(
        model,
        x,
        targets,
        composite="zero",
        rules={"conv1": "flat", "conv2": Gamma(0.5), "fc1": AlphaBeta(1, 0), "fc2": Epsilon(0.01)},
    )
    expected = _zennit_relevance(zennit, torch_twin(module, TINY_INPUT), x, targets, composite)
    np.testing.assert_allclose(ours, expected, atol=1e-5 * np.abs(expected).max(), rtol=1e-4)


def test_per_channel_bounds_agree_with_zennit(zennit, tiny):
    import torch

    model, module, x = tiny
    targets = np.asarray(model(x)).argmax(1)
    low, high = (-2.0, -3.0, -2.5), (2.5, 3.0, 2.0)
    channels = lambda v: torch.tensor(v).reshape(1, 3, 1, 1)  # noqa: E731
    composite = zennit.composites.EpsilonGammaBox(low=channels(low), high=channels(high))
    expected = _zennit_relevance(zennit, torch_twin(module, TINY_INPUT), x, targets, composite)
    ours = lrp(model, x, targets, composite="epsilon-gamma-box", low=low, high=high)
    np.testing.assert_allclose(ours, expected, atol=1e-5 * np.abs(expected).max(), rtol=1e-4)


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_rule_lists_the_rules(tiny):
    model, _, x = tiny
    with pytest.raises(
        ValueError, match=r"rules\['conv2'\]: expected one of 'zero', 'epsilon'.*got 'gama'"
    ):
        lrp(model, x, rules={"conv2": "gama"})


def test_rule_for_a_missing_layer_lists_the_layers(tiny):
    model, _, x = tiny
    with pytest.raises(ValueError, match=r"rules: unknown layer 'conv9'.*conv1, conv2, fc1, fc2"):
        lrp(model, x, rules={"conv9": "epsilon"})


def test_rule_for_a_layer_without_weights_says_so():
    model = jv.wrap(SpecCNN(BN_CNN, TINY_INPUT))
    x = random_inputs(2, TINY_INPUT)
    with pytest.raises(ValueError, match=r"layer 'bn1' holds no dense or convolution.*conv1"):
        lrp(model, x, rules={"bn1": "epsilon"})


def test_unknown_composite_lists_the_composites(tiny):
    model, _, x = tiny
    with pytest.raises(
        ValueError,
        match=r"composite: expected one of 'epsilon-plus-flat', 'epsilon-gamma-box'.*"
        r"got 'epsilon_plus_flat'",
    ):
        lrp(model, x, composite="epsilon_plus_flat")


def test_z_box_needs_bounds(tiny):
    model, _, x = tiny
    with pytest.raises(
        ValueError, match="z-box rule needs the input's bounds: pass low= and high="
    ):
        lrp(model, x, composite="epsilon-gamma-box")


def test_flat_on_a_hidden_layer_is_refused(tiny):
    model, _, x = tiny
    with pytest.raises(
        ValueError,
        match="flat and z-box rules apply only to a layer that reads the model input.*conv2",
    ):
        lrp(model, x, rules={"conv2": "flat"})


def test_alpha_beta_must_conserve():
    with pytest.raises(ValueError, match=r"alpha - beta = 1.*alpha=2, beta=2"):
        AlphaBeta(2, 2)
