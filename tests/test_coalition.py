"""Coalition methods (LIME, KernelSHAP, Shapley values): closed forms on a linear model,
efficiency, brute-force Shapley values, agreement with shap and Captum on shared weights,
reproducibility by key, chunking, feature groups and clear errors."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.explain._coalition import (
    grid_segments,
    kernel_shap,
    lime,
    lime_coalitions,
    shapley_kernel_coalitions,
    shapley_values,
    superpixels,
    token_spans,
)

FEATURES = 8
# The tests share a few compiled programs (these options, target="all"): compiling dominates.
SAMPLES = 64
RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(FEATURES, 16)).astype(np.float32)
B1 = RNG.normal(size=16).astype(np.float32)
W2 = RNG.normal(size=(16, 3)).astype(np.float32)


def mlp_numpy(x):
    """A nonlinear 8-feature, 3-class model (tanh MLP) in NumPy; `mlp` is its JAX twin."""
    return np.tanh(x @ W1 + B1) @ W2


@pytest.fixture(scope="module")
def mlp():
    return jv.wrap(
        lambda x: jnp.tanh(x @ W1 + B1) @ W2, example=np.zeros((1, FEATURES), np.float32)
    )


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, FEATURES)).astype(np.float32)
    background = rng.normal(size=(12, FEATURES)).astype(np.float32)
    return x, background


def brute_force_shapley(value, count: int) -> np.ndarray:
    """Shapley values from the definition, one coalition at a time, in float64."""
    phi = np.zeros(count)
    for i in range(count):
        others = [j for j in range(count) if j != i]
        for size in range(count):
            weight = math.factorial(size) * math.factorial(count - size - 1) / math.factorial(count)
            for subset in itertools.combinations(others, size):
                phi[i] += weight * (value(set(subset) | {i}) - value(set(subset)))
    return phi


def masked_value(model_fn, x, background, groups=None):
    """A coalition's value: the mean model output over background rows, present groups from x."""
    groups = np.arange(x.size).reshape(x.shape) if groups is None else groups

    def value(coalition):
        present = np.isin(groups, list(coalition))
        return np.mean(model_fn(np.where(present, x, background).astype(np.float32)), axis=0)

    return value


# -- closed forms and invariants ---------------------------------------------------------------


def test_linear_model_shapley_values_are_weight_times_centred_input(linear, getkey):
    model, w, b = linear
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 7)).astype(np.float32)
    background = rng.normal(size=(30, 7)).astype(np.float32)
    expected = np.asarray(w)[:, 2] * (x - background.mean(0))
    exact = shapley_values(model, x, 2, background=background)
    sampled = kernel_shap(model, x, 2, background=background, key=getkey(), samples=64)
    orders = shapley_values(
        model, x, 2, background=background, estimator="permutation", key=getkey()
    )
    for result in (exact, sampled, orders):
        np.testing.assert_allclose(result.values, expected, atol=1e-5)
        np.testing.assert_allclose(
            result.base, (background @ np.asarray(w) + np.asarray(b))[:, 2].mean(), atol=1e-5
        )
    np.testing.assert_allclose(sampled.stderr, 0.0, atol=1e-5)  # additive model: no residual
    np.testing.assert_array_equal(exact.attributions, exact.values)  # one feature per group


def test_efficiency_on_a_nonlinear_model(mlp, tabular, getkey):
    x, background = tabular
    at_x = mlp_numpy(x)
    base = mlp_numpy(background).mean(0)
    results = [
        shapley_values(mlp, x, "all", background=background),
        kernel_shap(mlp, x, "all", background=background, key=getkey(), samples=SAMPLES),
        shapley_values(mlp, x, "all", background=background, estimator="permutation", key=getkey()),
    ]
    for result in results:
        assert result.values.shape == (3, 3, FEATURES)
        np.testing.assert_allclose(result.base, np.broadcast_to(base, (3, 3)), atol=1e-5)
        np.testing.assert_allclose(result.values.sum(-1), at_x - base, atol=1e-5)


def test_exact_enumeration_equals_brute_force(mlp, tabular):
    x, background = tabular
    result = shapley_values(mlp, x, "all", background=background)
    for row in range(len(x)):
        value = masked_value(lambda a: mlp_numpy(a)[:, 1], x[row], background)
        np.testing.assert_allclose(
            result.values[row, 1], brute_force_shapley(value, FEATURES), atol=1e-5
        )


@pytest.fixture(scope="module")
def cnn():
    from conftest import cnn_function, cnn_weights

    return jv.wrap(cnn_function(cnn_weights()), example=np.zeros((1, 8, 8, 3), np.float32))


@pytest.fixture(scope="module")
def images():
    return np.asarray(jax.random.normal(jax.random.key(42), (2, 8, 8, 3)))


def test_image_groups_equal_brute_force_over_grid_cells(cnn, images):
    cells = grid_segments((8, 8), 4)  # 4 cells, each over all channels
    x = np.asarray(images[:2])
    baseline = 0.1
    result = shapley_values(cnn, x, 3, groups=cells, baseline=baseline)
    assert result.values.shape == (2, 4) and result.attributions.shape == x.shape
    groups = np.broadcast_to(cells[..., None], x.shape[1:])
    for row in range(2):
        value = masked_value(
            lambda a: np.asarray(cnn(a))[:, 3],
            x[row],
            np.full((1,) + x.shape[1:], baseline),
            groups,
        )
        np.testing.assert_allclose(result.values[row], brute_force_shapley(value, 4), atol=1e-5)
        np.testing.assert_array_equal(
            result.attributions[row], np.asarray(result.values[row])[groups]
        )


def assert_standard_error_matches_spread(explain, exact, keys: int = 40):
    """Over many keys, the estimates centre on the exact values and spread as their standard
    errors say (on average over the examples, classes and features)."""
    runs = [explain(jax.random.key(seed)) for seed in range(keys)]
    draws = np.stack([r.values for r in runs])
    ratio = np.stack([r.stderr for r in runs]).mean() / draws.std(0, ddof=1).mean()
    assert 0.75 < ratio < 1.33, ratio
    np.testing.assert_allclose(
        draws.mean(0), exact.values, atol=4 * draws.std(0).max() / math.sqrt(keys)
    )


def test_permutation_standard_error_matches_the_spread_over_keys(mlp, tabular):
    x, background = tabular
    exact = shapley_values(mlp, x, "all", background=background)
    assert_standard_error_matches_spread(
        lambda key: shapley_values(
            mlp, x, "all", background=background, estimator="permutation", key=key
        ),
        exact,
    )


def test_kernel_shap_standard_error_matches_the_spread_over_keys(mlp, tabular):
    x, background = tabular
    exact = shapley_values(mlp, x, "all", background=background)
    assert_standard_error_matches_spread(
        lambda key: kernel_shap(mlp, x, "all", background=background, key=key, samples=SAMPLES),
        exact,
    )


def test_lime_fits_a_linear_model_exactly(linear, getkey):
    model, w, b = linear
    x = np.random.default_rng(3).normal(size=(2, 7)).astype(np.float32)
    result = lime(model, x, 1, key=getkey(), samples=300, alpha=0.0, baseline=0.5)
    # With no penalty the surrogate is the model itself: coefficient w_i (x_i - baseline_i).
    np.testing.assert_allclose(result.coefficients, np.asarray(w)[:, 1] * (x - 0.5), atol=1e-4)
    np.testing.assert_allclose(
        result.intercept, 0.5 * np.asarray(w)[:, 1].sum() + float(b[1]), atol=1e-4
    )
    np.testing.assert_allclose(result.r2, 1.0, atol=1e-5)


def test_lime_r2_falls_when_the_model_is_not_additive(mlp, tabular, getkey):
    x, background = tabular
    nonlinear = lime(mlp, x, "all", key=getkey(), samples=2 * SAMPLES, background=background)
    assert ((np.asarray(nonlinear.r2) > 0) & (np.asarray(nonlinear.r2) < 0.999)).all()


# -- agreement with the peers on shared weights --------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    """cancer-mlp's weights over the first 10 breast-cancer features, the other 20 held at 0 (the
    standardized mean), as a NumPy function (for shap) and a wrapped JAX twin."""
    from jaxviz.zoo._pretrained import restore_module

    net = restore_module("cancer-mlp")
    layers = [
        (np.asarray(d.kernel[...]), np.asarray(d.bias[...])) for d in (net.fc1, net.fc2, net.fc3)
    ]
    kept = 10

    def forward(x, xp):
        x = xp.concatenate([x, xp.zeros((x.shape[0], 30 - kept), x.dtype)], axis=1)
        for depth, (kernel, bias) in enumerate(layers):
            x = x @ kernel + bias
            x = xp.maximum(x, 0) if depth < 2 else x
        return x

    data = jv.zoo.dataset("breast-cancer")
    model = jv.wrap(lambda x: forward(x, jnp), example=np.zeros((1, kept), np.float32))
    return (
        model,
        lambda x: forward(np.asarray(x, np.float32), np),
        data.x_test[:4, :kept],
        data.x_train[:25, :kept],
    )


def test_exact_shapley_values_agree_with_shaps_exact_explainer(cancer):
    shap = pytest.importorskip("shap")
    model, numpy_model, x, background = cancer
    masker = shap.maskers.Independent(background, max_samples=len(background))
    theirs = shap.ExactExplainer(numpy_model, masker)(x)
    ours = shapley_values(model, x, "all", background=background)
    np.testing.assert_allclose(ours.values, np.moveaxis(theirs.values, 2, 1), atol=1e-5)
    np.testing.assert_allclose(ours.base, theirs.base_values, atol=1e-5)


def _torch_mlp():
    torch = pytest.importorskip("torch")
    w1, b1, w2 = (torch.tensor(a) for a in (W1, B1, W2))
    return lambda t: torch.tanh(t @ w1 + b1) @ w2


def test_lime_agrees_with_captum_on_identical_coalitions_and_weights(mlp, getkey):
    torch = pytest.importorskip("torch")
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import Lime

    x, baseline = RNG.normal(size=(2, FEATURES)).astype(np.float32)
    x, baseline = x[None], baseline[None]
    key, samples, width = getkey(), 2 * SAMPLES, 0.75 * math.sqrt(FEATURES)
    ours = lime(mlp, x, "all", key=key, samples=samples, background=baseline)
    coalitions = np.asarray(lime_coalitions(jax.random.fold_in(key, 0), samples, FEATURES))

    def replay(_, **__):
        yield from (torch.tensor(z[None].astype(np.int64)) for z in coalitions)

    def weight(_, __, z, **___):  # our kernel on the l2 distance of the binary coalition
        return math.exp(-(FEATURES - float(z.sum())) / (2 * width**2))

    captum = Lime(
        _torch_mlp(),
        interpretable_model=SkLearnRidge(alpha=1.0),
        similarity_func=weight,
        perturb_func=replay,
    )
    theirs = captum.attribute(
        torch.tensor(x), baselines=torch.tensor(baseline), target=2, n_samples=samples
    )
    np.testing.assert_allclose(ours.attributions[:, 2], theirs.numpy(), atol=1e-5)


def test_kernel_shap_agrees_with_captum_on_identical_coalitions(mlp, getkey):
    """Captum's KernelShap fits an unconstrained regression with the empty and the whole
    coalitions weighted 1e6 (a soft efficiency constraint); fed our coalitions after those two,
    it lands on our exactly constrained values."""
    torch = pytest.importorskip("torch")
    from captum.attr import KernelShap

    x, baseline = RNG.normal(size=(2, FEATURES)).astype(np.float32)
    x, baseline = x[None], baseline[None]
    key, samples = getkey(), SAMPLES
    ours = kernel_shap(mlp, x, "all", key=key, samples=samples, background=baseline)
    coalitions = np.asarray(
        shapley_kernel_coalitions(jax.random.fold_in(key, 0), samples // 2, FEATURES)
    )

    def replay(_, **__):
        yield torch.ones(1, FEATURES, dtype=torch.long)
        yield torch.zeros(1, FEATURES, dtype=torch.long)
        yield from (torch.tensor(z[None].astype(np.int64)) for z in coalitions)

    captum = KernelShap(_torch_mlp())
    captum.perturb_func = replay
    theirs = captum.attribute(
        torch.tensor(x), baselines=torch.tensor(baseline), target=0, n_samples=samples + 2
    )
    np.testing.assert_allclose(ours.values[:, 0], theirs.numpy(), atol=2e-5)


# -- reproducibility and chunking ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["lime", "kernel_shap", "permutation"])
def test_same_key_same_numbers_different_keys_differ(mlp, tabular, method):
    x, background = tabular

    def run(seed):
        key = jax.random.key(seed)
        if method == "lime":
            return lime(
                mlp, x, "all", key=key, samples=2 * SAMPLES, background=background
            ).attributions
        if method == "kernel_shap":
            return kernel_shap(
                mlp, x, "all", key=key, samples=SAMPLES, background=background
            ).values
        return shapley_values(
            mlp, x, "all", key=key, estimator="permutation", background=background
        ).values

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_chunked_equals_unchunked(mlp, tabular, getkey):
    x, background = tabular
    key = getkey()
    for method in (
        lambda **o: (
            lime(
                mlp, x, "all", key=key, samples=2 * SAMPLES, background=background, **o
            ).coefficients
        ),
        lambda **o: (
            kernel_shap(mlp, x, "all", key=key, samples=SAMPLES, background=background, **o).values
        ),
        lambda **o: shapley_values(mlp, x, "all", background=background, **o).values,
    ):
        np.testing.assert_allclose(method(batch_size=1), method(), atol=1e-6)


def test_new_inputs_targets_and_backgrounds_do_not_recompile(mlp, tabular, getkey):
    from compiles import compiles

    x, background = tabular
    first = kernel_shap(mlp, x, 0, key=getkey(), samples=SAMPLES, background=background)
    before = compiles.count
    second = kernel_shap(
        mlp, x + 1, [1, 2, 0], key=getkey(), samples=SAMPLES, background=background + 1
    )
    assert compiles.count == before
    assert not np.allclose(first.values, second.values)


def test_default_target_follows_the_predicted_class(mlp, tabular, getkey):
    x, background = tabular
    key = getkey()
    predicted = kernel_shap(mlp, x, None, key=key, samples=SAMPLES, background=background)
    given = kernel_shap(
        mlp, x, mlp_numpy(x).argmax(1), key=key, samples=SAMPLES, background=background
    )
    np.testing.assert_allclose(predicted.values, given.values, atol=1e-6)
    np.testing.assert_allclose(predicted.base, given.base, atol=1e-6)


def test_steps_of_coalitions_stay_within_an_accelerators_budget(cnn, images, monkeypatch):
    from jaxviz.explain import _coalition, _engine

    monkeypatch.setattr(_coalition._compile, "on_cpu", lambda: False)
    x = np.repeat(images, 4, axis=0)  # 8 examples
    per_row = _engine._values_per_input(cnn, x)
    for batch_size in (None, 2):
        step = _coalition._coalitions_per_step(cnn, x, 1 << 16, 100, batch_size)
        examples = batch_size or len(x)
        assert step * 100 * per_row * examples <= _coalition.ACCELERATOR_VALUES_PER_STEP
        assert (step + 1) * 100 * per_row * examples > _coalition.ACCELERATOR_VALUES_PER_STEP / 2
    assert _coalition._coalitions_per_step(cnn, x, 64, 1, None) == 64  # small: all at once


# -- feature groups ------------------------------------------------------------------------------


def test_groups_helpers():
    np.testing.assert_array_equal(
        grid_segments((3, 4), 2), [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    )
    np.testing.assert_array_equal(token_spans(6, [(1, 3), (4, 6)]), [2, 0, 0, 3, 1, 1])
    with pytest.raises(ValueError, match="overlaps"):
        token_spans(6, [(1, 3), (2, 4)])
    pytest.importorskip("skimage")
    quadrants = np.zeros((2, 16, 16, 3))
    quadrants[:, :8, :8], quadrants[:, :8, 8:], quadrants[:, 8:, :8], quadrants[:, 8:, 8:] = (
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        1,
    )
    np.testing.assert_array_equal(
        superpixels(quadrants, n_segments=4), np.stack([grid_segments((16, 16), 8)] * 2)
    )
    labels = superpixels(255 * quadrants, algorithm="quickshift")
    assert labels.shape == (2, 16, 16) and len(np.unique(labels[0])) == 4


def test_token_spans_group_whole_embeddings(getkey):
    """A sequence model over (tokens, embedding): a span is present or missing with all of its
    tokens' embeddings; exact values match brute force, and LIME runs on the same groups."""
    w = np.random.default_rng(4).normal(size=(4, 2)).astype(np.float32)

    def sequence_numpy(x):
        return np.tanh(x @ w).prod(axis=1)

    model = jv.wrap(lambda x: jnp.tanh(x @ w).prod(axis=1), example=np.zeros((1, 6, 4), np.float32))
    x = np.random.default_rng(5).normal(size=(2, 6, 4)).astype(np.float32)
    spans = token_spans(6, [(0, 2), (3, 6)])  # groups: tokens 0-1, 3-5, and 2 alone
    result = shapley_values(model, x, 1, groups=spans, baseline=0.0)
    groups = np.broadcast_to(spans[:, None], x.shape[1:])
    for row in range(2):
        value = masked_value(lambda a: sequence_numpy(a)[:, 1], x[row], np.zeros((1, 6, 4)), groups)
        np.testing.assert_allclose(result.values[row], brute_force_shapley(value, 3), atol=1e-5)
    fitted = lime(model, x, 1, key=getkey(), samples=SAMPLES, groups=spans)
    assert fitted.coefficients.shape == (2, 3) and fitted.attributions.shape == x.shape
    np.testing.assert_array_equal(
        fitted.attributions[0], np.asarray(fitted.coefficients[0])[groups]
    )


def test_per_example_segmentation_with_any_labels(mlp, tabular):
    """Labels are renumbered per example in sorted order; a group an example lacks gets 0."""
    x, background = tabular
    labels = np.array(
        [[5, 5, 7, 7, 9, 9, 11, 11], [0, 0, 0, 0, 1, 1, 1, 1], [3, 3, 3, 3, 3, 3, 3, 3]]
    )
    result = shapley_values(mlp, x, "all", groups=labels, background=background)
    assert result.values.shape == (3, 3, 4)
    np.testing.assert_allclose(result.values[1, :, 2:], 0.0, atol=1e-6)
    np.testing.assert_allclose(result.values[2, :, 1:], 0.0, atol=1e-6)
    paired = np.arange(FEATURES) // 2
    value = masked_value(lambda a: mlp_numpy(a)[:, 0], x[0], background, paired)
    np.testing.assert_allclose(result.values[0, 0], brute_force_shapley(value, 4), atol=1e-5)
    np.testing.assert_array_equal(
        result.attributions[0, 0], np.asarray(result.values[0, 0])[paired]
    )


# -- errors ----------------------------------------------------------------------------------------


def test_clear_errors(mlp, cnn, images, tabular, getkey):
    x, background = tabular
    with pytest.raises(ValueError, match=r"groups: shape \(4, 4\) does not match the input"):
        shapley_values(cnn, images[:1], groups=np.zeros((4, 4), np.int32))
    with pytest.raises(TypeError, match="groups: expected integer labels"):
        shapley_values(mlp, x, groups=np.zeros(FEATURES))
    with pytest.raises(ValueError, match=r"background: is empty \(0 rows\)"):
        kernel_shap(mlp, x, key=getkey(), background=background[:0])
    with pytest.raises(ValueError, match="background: expected rows shaped like the examples"):
        kernel_shap(mlp, x, key=getkey(), background=background[:, :3])
    with pytest.raises(ValueError, match="give one of them"):
        lime(mlp, x, key=getkey(), baseline=0.0, background=background)
    with pytest.raises(
        ValueError, match=r"2\^192 = .* estimator='permutation'.*kernel_shap.*fewer groups"
    ):
        shapley_values(cnn, images[:1], estimator="exact")
    with pytest.raises(ValueError, match="kernel_width: expected a positive number, got -1.0"):
        lime(mlp, x, key=getkey(), kernel_width=-1.0)
    with pytest.raises(
        ValueError, match="samples: kernel_shap needs at least 2 x groups = 16 coalitions to fit 8"
    ):
        kernel_shap(mlp, x, key=getkey(), samples=10)
    with pytest.raises(TypeError, match="key: lime draws random samples"):
        lime(mlp, x)
    with pytest.raises(TypeError, match="key: shapley_values with estimator='permutation'"):
        shapley_values(mlp, x, estimator="permutation")
    with pytest.raises(ValueError, match="estimator: expected one of"):
        shapley_values(mlp, x, estimator="sampled")
