"""jaxviz.metrics: closed forms from the definitions, agreement with Captum and Quantus on shared
weights and perturbations, Adebayo et al.'s sanity check and the localisation of Grad-CAM on
shapes-cnn, and the errors."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
import torch

import jaxviz as jv
from benchmarks._twins import TINY_CNN, TINY_INPUT, make_twins, random_inputs, to_torch
from benchmarks._zennit import import_quantus
from jaxviz import metrics
from jaxviz.metrics import _inputs, _robustness
from jaxviz.metrics._faithfulness import noisy_linear_imputation
from jaxviz.metrics._similarity import spearman, ssim

FEATURES, CLASSES = 7, 4


def exact_ig(model, x, target):
    return jv.integrated_gradients(model, x, target, steps=4)


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(1).normal(size=(6, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def mlp_weights():
    rng = np.random.default_rng(2)
    return rng.normal(size=(FEATURES, 16)).astype(np.float32), rng.normal(
        size=(16, CLASSES)
    ).astype(np.float32)


@pytest.fixture(scope="module")
def mlp(mlp_weights):
    """A tanh MLP in JAX and the same weights in torch (for Captum)."""
    w1, w2 = mlp_weights
    model = jv.wrap(lambda x: jnp.tanh(x @ w1) @ w2)
    t1, t2 = torch.from_numpy(w1), torch.from_numpy(w2)
    return model, lambda x: torch.tanh(x @ t1) @ t2


# -- closed forms ---------------------------------------------------------------------------------


def test_linear_gradient_has_zero_infidelity_and_sensitivity(linear, inputs):
    model, _, _ = linear
    key = jax.random.key(0)
    for normalize in (False, True):
        result = metrics.infidelity(model, inputs, 2, jv.saliency, normalize=normalize, key=key)
        np.testing.assert_allclose(result.values, 0.0, atol=1e-9)
        assert result.baseline > 1e-2  # a shuffled gradient is not faithful
    for metric in (metrics.max_sensitivity, metrics.avg_sensitivity):
        assert np.all(metric(model, inputs, 2, jv.saliency, key=key).values == 0.0)
    lipschitz = metrics.local_lipschitz(model, inputs, 2, jv.saliency, samples=4, key=key)
    assert np.all(lipschitz.values == 0.0)


def test_completeness_gap_is_zero_for_exact_integrated_gradients(linear, inputs):
    model, _, _ = linear
    assert metrics.completeness_gap(model, inputs, 1, exact_ig).score < 1e-5
    # On f(x) = sum((x A)^2), Gauss-Legendre integrates IG's linear path gradient exactly, while
    # gradient x input sums to 2 f(x) (Euler, degree 2): its gap is f(x) - f(0) = f(x).
    a = np.random.default_rng(3).normal(size=(FEATURES, CLASSES)).astype(np.float32)
    quadratic = jv.wrap(lambda x: (x @ a) ** 2)
    ig = metrics.completeness_gap(quadratic, inputs, 0, exact_ig)
    assert ig.score < 1e-4
    gxi = metrics.completeness_gap(
        quadratic, inputs, 0, functools.partial(jv.saliency, mode="grad_x_input")
    )
    np.testing.assert_allclose(gxi.values, (inputs @ a)[:, 0] ** 2, rtol=1e-4)


def test_sparseness_and_entropy_of_one_hot_and_uniform_maps(linear, inputs):
    model, _, _ = linear
    one_hot = np.eye(FEATURES, dtype=np.float32)[[0, 3, 6, 1, 2, 5]] * np.arange(1, 7)[:, None]
    uniform = np.full(inputs.shape, -0.5, np.float32)
    random = np.random.default_rng(4).normal(size=inputs.shape)
    gini = metrics.sparseness(model, inputs, None, one_hot)
    np.testing.assert_allclose(gini.values, (FEATURES - 1) / FEATURES, rtol=1e-6)
    assert np.all(gini.values > metrics.sparseness(model, inputs, None, random).values)
    np.testing.assert_allclose(
        metrics.sparseness(model, inputs, None, uniform).values, 0.0, atol=1e-6
    )
    np.testing.assert_allclose(metrics.entropy(model, inputs, None, one_hot).values, 0.0, atol=1e-6)
    np.testing.assert_allclose(
        metrics.entropy(model, inputs, None, uniform).values, np.log(FEATURES), rtol=1e-6
    )


def test_deletion_of_the_exact_attribution_is_below_every_random_order(linear, inputs):
    """On a linear model, removing the features with the largest w_i x_i first lowers the logit
    most at every step, so no order has a smaller area."""
    model, w, b = linear
    exact = np.asarray(w)[:, 1] * inputs
    ours = metrics.deletion(model, inputs, 1, exact, output="logit", random_orders=0)
    np.testing.assert_allclose(
        ours.curves[:, 0], inputs @ np.asarray(w)[:, 1] + 1 * np.asarray(b)[1], rtol=1e-5
    )
    np.testing.assert_allclose(ours.curves[:, -1], np.asarray(b)[1], rtol=1e-5)  # all replaced by 0
    rng = np.random.default_rng(5)
    for _ in range(8):
        shuffled = rng.permuted(exact, axis=1)
        other = metrics.deletion(model, inputs, 1, shuffled, output="logit", random_orders=0)
        assert np.all(ours.values <= other.values + 1e-5)
    with_baseline = metrics.deletion(
        model, inputs, 1, exact, output="logit", random_orders=8, key=jax.random.key(0)
    )
    assert with_baseline.beats_baseline() and np.all(
        with_baseline.values <= with_baseline.baseline_values + 1e-5
    )
    inserted = metrics.insertion(
        model, inputs, 1, exact, output="logit", replacement=0.0, random_orders=0
    )
    np.testing.assert_allclose(inserted.curves[:, [0, -1]], ours.curves[:, [-1, 0]], rtol=1e-5)
    assert np.all(inserted.values >= ours.values)
    default = metrics.insertion(model, inputs, 1, exact, output="logit", random_orders=0)
    np.testing.assert_array_equal(default.values, inserted.values)  # non-images start from 0


def test_same_key_same_numbers_whatever_the_chunking(linear, inputs):
    model, w, _ = linear
    attribution = np.asarray(w)[:, 1] * inputs
    key = jax.random.key(7)
    whole = metrics.faithfulness_correlation(
        model, inputs, 1, attribution, subset_size=3, samples=8, key=key
    )
    chunked = metrics.faithfulness_correlation(
        model, inputs, 1, attribution, subset_size=3, samples=8, key=key, batch_size=4
    )
    np.testing.assert_array_equal(whole.values, chunked.values)
    assert whole.ci == chunked.ci
    # On a linear model the drops are exactly the subsets' sums: correlation 1.
    np.testing.assert_allclose(whole.values, 1.0, atol=1e-5)


def test_non_sensitivity_counts_the_features_attribution_and_model_disagree_on(inputs):
    w = np.random.default_rng(12).normal(size=(FEATURES, CLASSES)).astype(np.float32)
    w[[0, 3], 2] = 0.0  # the class-2 logit ignores features 0 and 3
    model = jv.wrap(lambda x: x @ w)
    exact = w[:, 2] * inputs
    np.testing.assert_allclose(metrics.non_sensitivity(model, inputs, 2, exact).values, 0.0)
    uniform = np.ones_like(inputs)  # relevance on the 2 ignored features
    np.testing.assert_allclose(
        metrics.non_sensitivity(model, inputs, 2, uniform).values, 2 / FEATURES
    )


def test_road_removes_the_top_share_and_imputes_it(cnn, images):
    """A linear image model, no noise: ROAD's output at 25% is the model at the image whose top
    quarter of pixels (relevance summed over channels) is imputed."""
    weights = np.random.default_rng(13).normal(size=images.shape[1:]).astype(np.float32)
    model = jv.wrap(
        lambda x: jnp.stack(
            [(x * weights).sum(axis=(1, 2, 3)), -(x * weights).sum(axis=(1, 2, 3))], 1
        )
    )
    x = np.asarray(images)
    attribution = np.random.default_rng(14).normal(size=x.shape).astype(np.float32)
    result = metrics.road(
        model, x, 0, attribution, percentages=(0.25,), noise=0.0, output="logit", random_orders=0
    )
    relevance = attribution.sum(axis=-1).reshape(len(x), -1)
    top = np.argsort(-relevance, axis=1, kind="stable")[:, : round(0.25 * relevance.shape[1])]
    removed = np.zeros_like(relevance, bool)
    np.put_along_axis(removed, top, True, axis=1)
    filled = np.asarray(
        noisy_linear_imputation(jnp.asarray(x), jnp.asarray(removed.reshape(x.shape[:3])), 0.0)
    )
    np.testing.assert_allclose(
        result.curves[:, 0], (filled * weights).sum(axis=(1, 2, 3)), rtol=1e-4, atol=1e-4
    )


# -- agreement with Captum ------------------------------------------------------------------------


def captum_saliency(torch_model):
    def explain(inputs, target):
        # Captum passes the unperturbed inputs as a tuple and expects a tuple back.
        rows = (inputs[0] if isinstance(inputs, tuple) else inputs).clone().requires_grad_(True)
        with torch.enable_grad():  # Captum calls explanations under no_grad
            out = torch_model(rows)
            out[torch.arange(len(rows)), torch.as_tensor(target)].sum().backward()
        return (rows.grad,) if isinstance(inputs, tuple) else rows.grad

    return explain


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_matches_captum(mlp, inputs, normalize):
    from captum.metrics import infidelity

    model, torch_model = mlp
    samples, noise, key = 12, 0.3, jax.random.key(3)
    target = np.array([0, 1, 2, 3, 0, 1])
    attribution = np.random.default_rng(6).normal(size=inputs.shape).astype(np.float32)
    ours = metrics.infidelity(
        model,
        inputs,
        target,
        attribution,
        noise=noise,
        samples=samples,
        normalize=normalize,
        key=key,
    )
    # The same perturbations as the program draws (its first split of the key, per example).
    noise_key = jax.random.split(key)[0]
    drawn = _inputs.perturbations(
        noise_key, jnp.arange(len(inputs)), samples, inputs.shape[1:], "gaussian", noise
    )
    rows = torch.from_numpy(np.array(drawn).reshape(-1, FEATURES))

    def perturb(expanded):
        return rows, expanded - rows

    theirs = infidelity(
        torch_model,
        perturb,
        torch.from_numpy(inputs),
        torch.from_numpy(attribution),
        target=torch.from_numpy(target),
        n_perturb_samples=samples,
        normalize=normalize,
    )
    np.testing.assert_allclose(ours.values, theirs.numpy(), rtol=2e-4, atol=1e-6)


def test_max_sensitivity_matches_captum(mlp, inputs):
    from captum.metrics import sensitivity_max

    model, torch_model = mlp
    samples, radius, key = 10, 0.05, jax.random.key(4)
    target = np.array([3, 2, 1, 0, 3, 2])
    ours = metrics.max_sensitivity(
        model, inputs, target, jv.saliency, radius=radius, samples=samples, key=key
    )
    drawn = _robustness.perturbation_draws(
        key, len(inputs), samples, inputs.shape[1:], "uniform", radius
    )
    rows = torch.from_numpy(drawn.reshape(-1, FEATURES))

    def perturb(expanded, radius):
        return expanded + rows

    theirs = sensitivity_max(
        captum_saliency(torch_model),
        torch.from_numpy(inputs),
        perturb_func=perturb,
        perturb_radius=radius,
        n_perturb_samples=samples,
        target=torch.from_numpy(target),
    )
    np.testing.assert_allclose(ours.values, theirs.numpy(), rtol=1e-4)
    absolute = metrics.max_sensitivity(
        model, inputs, target, jv.saliency, radius=radius, samples=samples, key=key, relative=False
    )
    norms = np.linalg.norm(np.asarray(jv.saliency(model, inputs, target)), axis=1)
    np.testing.assert_allclose(absolute.values, theirs.numpy() * norms, rtol=1e-4)


# -- agreement with Quantus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def quantus():
    """Quantus imports zennit, which needs torchvision's ResNet block names at import time
    (benchmarks/_zennit.py stands in for them; no metric here touches them)."""
    return import_quantus()


@pytest.fixture(scope="module")
def maps_and_masks(images):
    rng = np.random.default_rng(8)
    maps = rng.normal(size=images.shape[:3]).astype(np.float32)
    masks = rng.random(images.shape[:3]) > 0.6
    masks[:, 0, 0] = True  # no empty mask
    return maps, masks


def run_quantus(metric, maps, masks=None):
    """Quantus on (batch, 1, height, width) maps, its localisation layout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(
            metric(
                model=None,
                x_batch=maps[:, None].copy(),
                y_batch=np.zeros(len(maps), int),
                a_batch=maps[:, None].copy(),
                s_batch=None if masks is None else masks[:, None].astype(float),
            )
        )


def test_localisation_matches_quantus(quantus, cnn, images, maps_and_masks):
    maps, masks = maps_and_masks
    pairs = [
        (metrics.relevance_rank, {}, quantus.RelevanceRankAccuracy(disable_warnings=True)),
        (
            metrics.top_k_intersection,
            {"k": 10},
            quantus.TopKIntersection(k=10, disable_warnings=True),
        ),
        (
            metrics.top_k_intersection,
            {"k": 10, "concept_influence": True},
            quantus.TopKIntersection(k=10, concept_influence=True, disable_warnings=True),
        ),
        (
            metrics.relevance_mass,
            {"positive": False},
            quantus.RelevanceMassAccuracy(disable_warnings=True),
        ),
    ]
    for ours, options, theirs in pairs:
        np.testing.assert_allclose(
            ours(cnn, images, 0, maps, masks=masks, **options).values,
            run_quantus(theirs, maps, masks),
            rtol=1e-5,
        )
    # Arras et al. score positive relevance; Quantus sums the signed map. They differ on signed
    # maps and agree on non-negative ones.
    signed = metrics.relevance_mass(cnn, images, 0, maps, masks=masks).values
    assert np.abs(signed - run_quantus(pairs[-1][2], maps, masks)).max() > 0.05
    positive = metrics.relevance_mass(cnn, images, 0, np.abs(maps), masks=masks).values
    np.testing.assert_allclose(positive, run_quantus(pairs[-1][2], np.abs(maps), masks), rtol=1e-5)


def test_complexity_matches_quantus(quantus, cnn, images, maps_and_masks):
    maps, _ = maps_and_masks
    entropy = quantus.Complexity(normalise=False, disable_warnings=True)
    np.testing.assert_allclose(
        metrics.entropy(cnn, images, 0, maps).values, run_quantus(entropy, maps), rtol=1e-5
    )
    # Quantus's Sparseness adds 1e-7 to the magnitudes before the Gini index.
    gini = quantus.Sparseness(normalise=False, disable_warnings=True)
    np.testing.assert_allclose(
        metrics.sparseness(cnn, images, 0, maps).values, run_quantus(gini, maps), rtol=1e-5
    )
    one_hot = np.zeros_like(maps)
    one_hot[:, 3, 4] = 1.0
    n = one_hot[0].size
    theirs = run_quantus(gini, one_hot)
    np.testing.assert_allclose(
        metrics.sparseness(cnn, images, 0, one_hot).values, (n - 1) / n, rtol=1e-6
    )
    np.testing.assert_allclose(theirs, (n - 1) / n - n * 1e-7, rtol=1e-5)


def test_deletion_curve_matches_quantus_pixel_flipping(quantus):
    """Quantus's PixelFlipping is the deletion curve without its first point (nothing removed),
    its "black" replacement each image's minimum. It counts channel values (the map is repeated
    over the 3 channels) but asks that a step divide height x width: 16 pixels a step is
    features_in_step=48 (144 pixels, 9 steps)."""
    flax_model, torch_model = make_twins(TINY_CNN, TINY_INPUT)
    model, x = jv.wrap(flax_model), np.asarray(random_inputs(4, TINY_INPUT))
    targets = np.asarray(model(x)).argmax(axis=1)
    maps = np.random.default_rng(15).normal(size=x.shape[:3]).astype(np.float32)
    ours = metrics.deletion(
        model,
        x,
        targets,
        maps,
        steps=9,
        replacement=x.min(axis=(1, 2, 3), keepdims=True),
        random_orders=0,
    )
    flip = quantus.PixelFlipping(features_in_step=48, normalise=False, disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = flip(
            model=torch_model.eval(),
            x_batch=to_torch(x).numpy(),
            y_batch=targets,
            a_batch=np.repeat(maps[:, None], 3, axis=1),
            softmax=True,
        )
    np.testing.assert_allclose(ours.curves[:, 1:], np.asarray(theirs), rtol=1e-4, atol=1e-6)


def test_imputation_matches_quantus_and_keeps_a_linear_ramp(quantus):
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    ramp = (np.arange(12)[:, None] * 0.5 + np.arange(12)[None, :] * -0.25)[None, :, :, None].astype(
        np.float32
    )
    removed = np.zeros((1, 12, 12), bool)
    removed[0, 3:8, 2:9] = True  # interior: every removed pixel has all 8 neighbours
    filled = np.asarray(noisy_linear_imputation(jnp.asarray(ramp), jnp.asarray(removed), 0.0))
    np.testing.assert_allclose(filled, ramp, atol=1e-4)
    image = (
        np.random.default_rng(9).normal(size=(2, 10, 10)).astype(np.float32)
    )  # channels first for Quantus
    holes = np.random.default_rng(10).random((10, 10)) < 0.4
    ours = noisy_linear_imputation(
        jnp.asarray(image.transpose(1, 2, 0)[None]), jnp.asarray(holes[None]), 0.0
    )
    expected = theirs(image.copy(), np.flatnonzero(holes.ravel()), noise=0.0)
    np.testing.assert_allclose(np.asarray(ours)[0].transpose(2, 0, 1), expected, atol=1e-4)


def test_similarities_match_scipy_and_skimage():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(11)
    a = np.round(rng.normal(size=(3, 12, 10)), 1).astype(np.float32)  # rounded: ties
    b = (a + rng.normal(size=a.shape)).astype(np.float32)
    ours = np.asarray(spearman(a.reshape(3, -1), b.reshape(3, -1)))
    np.testing.assert_allclose(
        ours, [scipy.stats.spearmanr(p.ravel(), q.ravel())[0] for p, q in zip(a, b)], rtol=1e-5
    )
    data_range = [max(p.max(), q.max()) - min(p.min(), q.min()) for p, q in zip(a, b)]
    expected = [structural_similarity(p, q, data_range=r) for p, q, r in zip(a, b, data_range)]
    np.testing.assert_allclose(np.asarray(ssim(a, b)), expected, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ssim(a, a)), 1.0, rtol=1e-6)


# -- shapes-cnn -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes():
    model, data = jv.zoo.load("shapes-cnn")
    return model, data.x_test[:8], data.y_test[:8], data.masks_test[:8]


def test_integrated_gradients_deletes_better_than_random_on_shapes(shapes):
    model, x, y, _ = shapes
    ig = functools.partial(jv.integrated_gradients, steps=16)
    result = metrics.deletion(
        model, x, y, ig, replacement="blur", steps=8, random_orders=2, key=jax.random.key(0)
    )
    assert result.ci[1] < result.baseline and result.beats_baseline()
    assert result.curves.shape == (8, 9) and result.fractions[[0, -1]].tolist() == [0.0, 1.0]


def test_gradcam_relevance_mass_inside_the_masks_beats_random(shapes):
    model, x, y, masks = shapes
    cam = functools.partial(jv.gradcam, layer="conv4")
    result = metrics.relevance_mass(model, x, y, cam, masks=masks)
    np.testing.assert_allclose(result.baseline_values, masks.mean(axis=(1, 2)))
    assert result.beats_baseline() and result.ci[0] > result.baseline


def test_cascading_randomization_sanity_check(shapes):
    """Adebayo et al. (2018): re-initialising the layers from the top destroys the gradient's
    map, while guided backprop's stays correlated with the trained model's. Signed maps: the
    magnitude of this model's gradient keeps the image's outline even with random weights (its
    first step is |x - mean colour|), which keeps both magnitude maps at about 0.4-0.5."""
    model, x, y, _ = shapes
    key = jax.random.key(0)
    gradient = metrics.model_randomization(
        model, x[:6], y[:6], jv.saliency, absolute=False, key=key
    )
    guided = metrics.model_randomization(
        model, x[:6], y[:6], jv.guided_backprop, absolute=False, key=key
    )
    assert gradient.layers == guided.layers == ("fc", "conv4", "conv3", "conv2", "conv1")
    assert np.all(np.abs(gradient.scores) < 0.3)
    assert np.all(guided.scores[:3] > 0.5) and np.all(guided.scores > gradient.scores + 0.2)
    assert len(gradient.ssim) == 5 and gradient.attributions.shape == (5, 6, 32, 32, 3)
    alone = metrics.model_randomization(
        model, x[:6], y[:6], jv.saliency, cascading=False, layers=["fc"], key=key
    )
    np.testing.assert_array_equal(alone.attributions[0], gradient.attributions[0])


# -- errors ---------------------------------------------------------------------------------------


def test_errors(cnn, images, linear, inputs):
    model, _, _ = linear
    maps = np.zeros(images.shape[:3], np.float32)
    with pytest.raises(ValueError, match=r"masks: shape \(6, 4, 4\) does not match"):
        metrics.pointing_game(cnn, images, 0, maps, masks=np.ones((6, 4, 4), bool))
    with pytest.raises(
        ValueError, match=r"attribution: shape \(6, 8, 3\) does not match the input x of shape"
    ):
        metrics.sparseness(cnn, images, 0, np.zeros((6, 8, 3)))
    with pytest.raises(
        ValueError, match="target: class 9 is out of range; the model has 4 classes"
    ):
        metrics.deletion(model, inputs, 9, jv.saliency)
    with pytest.raises(
        ValueError, match="target: deletion follows one class per example; got 'all'"
    ):
        metrics.deletion(model, inputs, "all", jv.saliency)
    with pytest.raises(ValueError, match="samples: expected a positive integer, got 0"):
        metrics.infidelity(model, inputs, 0, jv.saliency, samples=0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="samples: expected a positive integer, got 0"):
        metrics.max_sensitivity(model, inputs, 0, jv.saliency, samples=0, key=jax.random.key(0))
    with pytest.raises(
        ValueError,
        match=r"replacement: shape \(3,\) does not broadcast to the input's shape \(6, 7\)",
    ):
        metrics.deletion(model, inputs, 0, jv.saliency, replacement=np.zeros(3), random_orders=0)
    with pytest.raises(
        TypeError, match="attribution: max_sensitivity explains perturbed inputs or models again"
    ):
        metrics.max_sensitivity(model, inputs, 0, np.zeros(inputs.shape), key=jax.random.key(0))
    with pytest.raises(TypeError, match="key: infidelity draws random samples and needs a key"):
        metrics.infidelity(model, inputs, 0, jv.saliency)
    with pytest.raises(ValueError, match="masks: the mask of example 0 is empty"):
        metrics.relevance_rank(cnn, images, 0, maps, masks=np.zeros(images.shape[:3], bool))
    with pytest.raises(ValueError, match="layers: unknown layer 'fc'"):
        metrics.model_randomization(
            cnn, images, 0, jv.saliency, layers=["fc"], key=jax.random.key(0)
        )
