"""Each method against a closed form, an invariant, or a hand-written reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.explain._quadrature import RULES, path_rule

# -- closed forms on a linear model f(x) = x @ w + b -----------------------------------------------


def test_linear_saliency_is_the_weight_column(linear):
    m, w, _ = linear
    x = jax.random.normal(jax.random.key(0), (3, 7))
    np.testing.assert_allclose(jv.saliency(m, x, target=2), jnp.broadcast_to(w[:, 2], (3, 7)))
    np.testing.assert_allclose(
        jv.saliency(m, x, target=2, mode="abs"), jnp.abs(jnp.broadcast_to(w[:, 2], (3, 7)))
    )
    np.testing.assert_allclose(
        jv.saliency(m, x, target=1, mode="grad_x_input"), x * w[:, 1], rtol=1e-6
    )
    every = jv.saliency(m, x, target="all")
    assert every.shape == (3, 4, 7)
    np.testing.assert_allclose(every, jnp.broadcast_to(w.T, (3, 4, 7)))


@pytest.mark.parametrize("method", RULES)
def test_linear_integrated_gradients_is_exact(linear, method):
    m, w, _ = linear
    x = jax.random.normal(jax.random.key(1), (3, 7))
    baselines = [0.0, jnp.linspace(-1, 1, 7), jax.random.normal(jax.random.key(2), (3, 7))]
    for baseline in baselines:
        attr = jv.integrated_gradients(
            m, x, target=3, baseline=baseline, steps=8, quadrature=method
        )
        np.testing.assert_allclose(attr, (x - baseline) * w[:, 3], rtol=1e-5, atol=1e-6)


def test_quadrature_weights_sum_to_one_and_integrate_polynomials():
    for method in RULES:
        alphas, weights = path_rule(method, 16)
        assert alphas.shape == weights.shape == (16,)
        assert abs(weights.sum() - 1) < 1e-12
        assert np.all((alphas >= 0) & (alphas <= 1))
    alphas, weights = path_rule("gausslegendre", 4)
    assert abs(np.dot(weights, alphas**7) - 1 / 8) < 1e-12  # exact up to degree 2n - 1
    alphas, weights = path_rule("riemann_trapezoid", 3)
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.25])


def test_path_rules_are_remembered_read_only():
    alphas, weights = path_rule("gausslegendre", 48)
    assert path_rule("gausslegendre", 48)[0] is alphas
    with pytest.raises(ValueError):
        weights[0] = 1.0


def test_linear_smoothgrad_kinds(linear):
    m, w, _ = linear
    x = jax.random.normal(jax.random.key(3), (2, 7))
    key = jax.random.key(0)
    np.testing.assert_allclose(
        jv.smoothgrad(m, x, target=0, key=key), jnp.broadcast_to(w[:, 0], (2, 7)), rtol=1e-5
    )
    np.testing.assert_allclose(
        jv.smoothgrad(m, x, target=0, key=key, kind="square"),
        jnp.broadcast_to(w[:, 0] ** 2, (2, 7)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(jv.smoothgrad(m, x, target=0, key=key, kind="var"), 0.0, atol=1e-6)


def test_linear_expected_gradients_with_one_reference(linear):
    m, w, _ = linear
    x = jax.random.normal(jax.random.key(4), (3, 7))
    reference = jnp.linspace(-1, 1, 7)[None]
    attr = jv.expected_gradients(
        m, x, target=1, baselines=reference, key=jax.random.key(0), samples=5
    )
    np.testing.assert_allclose(attr, (x - reference) * w[:, 1], rtol=1e-5, atol=1e-6)


def test_linear_occlusion_single_feature_windows(linear):
    m, w, _ = linear
    x = jax.random.normal(jax.random.key(5), (2, 7))
    np.testing.assert_allclose(
        jv.occlusion(m, x, target=2, window=1), x * w[:, 2], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        jv.occlusion(m, x, target=2, window=1, value=1.0), (x - 1) * w[:, 2], rtol=1e-5, atol=1e-6
    )


def test_occlusion_averages_over_the_windows_that_cover_a_feature(linear):
    m, w, _ = linear
    x = np.asarray(jax.random.normal(jax.random.key(6), (2, 7)))
    contribution = x * np.asarray(w[:, 0])
    starts = range(0, 7 - 3 + 1, 2)  # window 3, stride 2: windows at 0, 2, 4
    total, count = np.zeros_like(x), np.zeros(7)
    for s in starts:
        total[:, s : s + 3] += contribution[:, s : s + 3].sum(1, keepdims=True)
        count[s : s + 3] += 1
    np.testing.assert_allclose(
        jv.occlusion(m, x, target=0, window=3, stride=2), total / count, rtol=1e-5, atol=1e-5
    )


# -- invariants and references on the ReLU CNN -----------------------------------------------------


def test_completeness_within_one_percent_at_64_steps(cnn, images):
    baseline = jnp.zeros_like(images)
    for method in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
        attr, delta = jv.integrated_gradients(
            cnn, images, target="all", steps=64, quadrature=method, return_delta=True
        )
        gap = cnn(images) - cnn(baseline)
        np.testing.assert_allclose(attr.sum((2, 3, 4)) - gap, delta, rtol=1e-4, atol=1e-4)
        relative = np.abs(delta) / np.abs(gap)
        assert np.median(relative) < 0.01, (method, np.median(relative))


def test_integrated_gradients_converges_to_a_fine_reference(cnn, images):
    """64 Gauss-Legendre steps against a 4096-step midpoint sum of jax.grad along the path."""
    x, target = images[:2], jnp.array([1, 3])
    alphas = (np.arange(4096) + 0.5) / 4096

    def score(point, t):
        return cnn.apply(cnn.params, point[None])[0, t]

    grads = jax.vmap(lambda a: jax.vmap(jax.grad(score))(a * x, target))(jnp.asarray(alphas))
    reference = x * grads.mean(0)
    attr = jv.integrated_gradients(cnn, x, target=target, steps=64)
    assert np.abs(attr - reference).max() < 0.03 * np.abs(reference).max()


def test_saliency_matches_finite_differences():
    """On a smooth model (no ReLU kinks for the difference to straddle)."""
    rng = np.random.default_rng(1)
    w1 = jnp.asarray(rng.normal(size=(48, 16)) * 0.3, jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    m = jv.wrap(lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2)
    x = jax.random.normal(jax.random.key(7), (3, 4, 4, 3))
    direction = jax.random.normal(jax.random.key(8), x.shape)
    grad = jv.saliency(m, x, target=2)
    eps = 1e-2
    numeric = (m(x + eps * direction)[:, 2] - m(x - eps * direction)[:, 2]) / (2 * eps)
    np.testing.assert_allclose((grad * direction).sum((1, 2, 3)), numeric, rtol=1e-3, atol=1e-3)


def test_targets_none_int_array_and_all_agree(cnn, images):
    every = jv.saliency(cnn, images, target="all")
    predicted = jnp.argmax(cnn(images), axis=1)
    np.testing.assert_allclose(jv.saliency(cnn, images), every[jnp.arange(6), predicted], rtol=1e-6)
    np.testing.assert_allclose(jv.saliency(cnn, images, target=3), every[:, 3], rtol=1e-6)
    chosen = jnp.array([0, 1, 2, 3, 4, 0])
    np.testing.assert_allclose(
        jv.saliency(cnn, images, target=chosen), every[jnp.arange(6), chosen], rtol=1e-6
    )


def test_predicted_target_is_followed_along_the_path(cnn, images):
    predicted = jnp.argmax(cnn(images), axis=1)
    np.testing.assert_allclose(
        jv.integrated_gradients(cnn, images, steps=16),
        jv.integrated_gradients(cnn, images, target=predicted, steps=16),
    )


def test_smoothgrad_is_deterministic_under_a_key_and_varies_with_it(cnn, images):
    a = jv.smoothgrad(cnn, images, key=jax.random.key(0), samples=8)
    b = jv.smoothgrad(cnn, images, key=jax.random.key(0), samples=8)
    c = jv.smoothgrad(cnn, images, key=jax.random.key(1), samples=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(
        jv.smoothgrad(cnn, images, key=jax.random.key(0), noise=0.0),
        jv.saliency(cnn, images),
        rtol=1e-5,
        atol=1e-6,
    )


def test_smoothgrad_var_is_square_minus_squared_mean(cnn, images):
    kw = dict(target=2, key=jax.random.key(3), samples=16)
    mean, square, var = (
        jv.smoothgrad(cnn, images, kind=k, **kw) for k in ("smooth", "square", "var")
    )
    np.testing.assert_allclose(var, square - mean**2, atol=1e-5)


def test_expected_gradients_is_complete_in_expectation(cnn, images):
    references = jax.random.normal(jax.random.key(8), (4,) + images.shape[1:]) * 0.5
    attr = jv.expected_gradients(
        cnn, images[:2], target=1, baselines=references, samples=4000, key=jax.random.key(0)
    )
    expected_gap = cnn(images[:2])[:, 1] - cnn(references)[:, 1].mean()
    np.testing.assert_allclose(attr.sum((1, 2, 3)), expected_gap, rtol=0.05, atol=0.05)


def _manual_cam(m, x, layer, target):
    """Grad-CAM by hand: activations and their gradients from plain jax.grad."""
    shape = m.layer_shapes(x)[layer].shape

    def score(delta):
        logits, acts = m.apply(m.params, x, {layer: delta})
        return logits[jnp.arange(x.shape[0]), target].sum(), acts[layer]

    grads, acts = jax.grad(score, has_aux=True)(jnp.zeros(shape))
    return acts, grads


def test_gradcam_by_hand(cnn, images):
    target = jnp.array([0, 1, 2, 3, 4, 0])
    acts, grads = _manual_cam(cnn, images, "conv2", target)
    weights = grads.mean((1, 2), keepdims=True)
    expected = jax.nn.relu((weights * acts).sum(-1))
    np.testing.assert_allclose(
        jv.gradcam(cnn, images, target=target, layer="conv2", upsample=False),
        expected,
        rtol=1e-5,
        atol=1e-6,
    )
    raw = jv.gradcam(cnn, images, target=target, layer="conv2", upsample=False, relu=False)
    np.testing.assert_allclose(raw, (weights * acts).sum(-1), rtol=1e-5, atol=1e-6)


def test_gradcam_plus_plus_by_hand(cnn, images):
    target = jnp.array([4, 3, 2, 1, 0, 1])
    acts, g = _manual_cam(cnn, images, "conv1", target)
    denominator = 2 * g**2 + acts.sum((1, 2), keepdims=True) * g**3
    alphas = np.where(g != 0, g**2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alphas * np.maximum(g, 0)).sum((1, 2), keepdims=True)
    expected = np.maximum((weights * acts).sum(-1), 0)
    got = jv.gradcam(cnn, images, target=target, layer="conv1", plus_plus=True, upsample=False)
    # The weights divide by 2g^2 + sum(A) g^3, which nearly cancels for some units: float32
    # rounding (the engine's first convolution sums in another order than XLA's) shows there.
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_gradcam_upsamples_to_the_input_and_stacks_classes(cnn, images):
    small = jv.gradcam(cnn, images, target="all", layer="conv2", upsample=False)
    big = jv.gradcam(cnn, images, target="all", layer="conv2", interpolation="nearest")
    assert (
        small.shape == big.shape == (6, 5, 8, 8)
    )  # same resolution: nearest resizing is the identity
    np.testing.assert_allclose(small, big, rtol=1e-6)
    np.testing.assert_allclose(
        jv.gradcam(cnn, images, target=2, layer="conv2"), big[:, 2], rtol=1e-5, atol=1e-6
    )


def _mlp_and_weights():
    rng = np.random.default_rng(0)
    w1 = jnp.asarray(rng.normal(size=(5, 6)), jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    return (lambda x: jax.nn.relu(x @ w1) @ w2), w1, w2


def test_guided_backprop_and_deconvnet_by_hand():
    fn, w1, w2 = _mlp_and_weights()
    m = jv.wrap(fn)
    x = jax.random.normal(jax.random.key(9), (4, 5))
    upstream = jnp.broadcast_to(w2[:, 1], (4, 6))  # d score / d relu output
    active = (x @ w1) > 0
    guided = (jnp.where(active & (upstream > 0), upstream, 0)) @ w1.T
    deconv = jnp.maximum(upstream, 0) @ w1.T
    plain = jnp.where(active, upstream, 0) @ w1.T
    np.testing.assert_allclose(jv.guided_backprop(m, x, target=1), guided, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jv.deconvnet(m, x, target=1), deconv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jv.saliency(m, x, target=1), plain, rtol=1e-5, atol=1e-6)
    assert not np.allclose(guided, plain)


def test_guided_backprop_reaches_relus_in_every_model_kind(cnn_models, images):
    results = [
        jv.guided_backprop(cnn_models[k], images, target=2) for k in ("nnx", "linen", "function")
    ]
    for other in results[1:]:
        np.testing.assert_allclose(results[0], other, rtol=1e-4, atol=1e-6)
    assert not np.allclose(results[0], jv.saliency(cnn_models["nnx"], images, target=2))


def test_guided_gradcam_is_guided_backprop_times_the_upsampled_cam(cnn, images):
    gb = jv.guided_backprop(cnn, images, target=3)
    cam = jv.gradcam(cnn, images, target=3, layer="conv2")
    np.testing.assert_allclose(
        jv.guided_gradcam(cnn, images, target=3, layer="conv2"),
        gb * cam[..., None],
        rtol=1e-5,
        atol=1e-7,
    )


def test_relu_inside_scan_or_remat_is_refused():
    w = jnp.eye(3)

    def scanned(x):
        def body(h, _):
            return jax.nn.relu(h @ w), None

        return jax.lax.scan(body, x, None, length=2)[0]

    def remat(x):
        return jax.checkpoint(lambda h: jax.nn.relu(h @ w))(x)

    for fn, construct in ((scanned, "scan"), (remat, "remat")):
        with pytest.raises(ValueError, match=construct):
            jv.guided_backprop(jv.wrap(fn), jnp.ones((2, 3)))


def test_a_model_without_relu_is_refused_by_guided_methods(linear):
    m, _, _ = linear
    with pytest.raises(ValueError, match="applies none"):
        jv.deconvnet(m, jnp.ones((1, 7)))


# -- layer methods ---------------------------------------------------------------------------------


def test_activations_match_the_forward_pass(cnn_models, images, weights):
    for m in cnn_models.values():
        acts = jv.activations(m, images)
        assert list(acts) == ["conv1", "conv2", "dense"]
        np.testing.assert_allclose(acts["dense"], m(images), rtol=1e-5, atol=1e-6)
    single = jv.activations(cnn_models["nnx"], images, "conv1")
    assert single.shape == (6, 8, 8, 6)


def test_layer_integrated_gradients_closed_form_after_a_linear_layer():
    """Past the tapped layer the model is linear, so the attribution is (a(x) - a(b)) * w2."""
    from jax.ad_checkpoint import checkpoint_name

    fn0, w1, w2 = _mlp_and_weights()
    def fn(x):
        return checkpoint_name(jax.nn.relu(x @ w1), "hidden") @ w2

    m = jv.wrap(fn)
    x = jax.random.normal(jax.random.key(10), (3, 5))
    hidden = jax.nn.relu(x @ w1)
    attr, delta = jv.layer_integrated_gradients(
        m, x, target=2, layer="hidden", steps=4, return_delta=True
    )
    np.testing.assert_allclose(attr, hidden * w2[:, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(delta, 0.0, atol=1e-5)


def test_layer_integrated_gradients_completeness_on_the_cnn(cnn, images):
    for layer in ("conv1", "conv2"):
        attr, delta = jv.layer_integrated_gradients(
            cnn, images, target="all", layer=layer, steps=64, return_delta=True
        )
        gap = cnn(images) - cnn(jnp.zeros_like(images))
        assert attr.shape == (6, 5) + cnn.layer_shapes(images)[layer].shape[1:]
        assert np.median(np.abs(delta) / np.abs(gap)) < 0.01


def test_layer_conductance_sums_to_the_score_change(cnn, images):
    cond = jv.layer_conductance(cnn, images, target=1, layer="conv2", steps=128)
    gap = cnn(images)[:, 1] - cnn(jnp.zeros_like(images))[:, 1]
    assert np.median(np.abs(cond.sum((1, 2, 3)) - gap) / np.abs(gap)) < 0.02


def test_layer_conductance_by_hand(cnn, images):
    steps = 3
    alphas, _ = path_rule("riemann_right", steps + 1)
    x = images[:2]

    def layer_and_grad(point):
        def score(delta):
            logits, acts = cnn.apply(cnn.params, point, {"conv1": delta})
            return logits[:, 0].sum(), acts["conv1"]

        return jax.grad(score, has_aux=True)(jnp.zeros((2, 8, 8, 6)))

    evaluations = [layer_and_grad(a * x) for a in alphas]
    expected = sum(
        g * (a_next - a) for (g, a), (_, a_next) in zip(evaluations[:-1], evaluations[1:])
    )
    got = jv.layer_conductance(
        cnn, x, target=0, layer="conv1", steps=steps, quadrature="riemann_right"
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_neuron_gradient_by_hand(cnn, images):
    def unit(x):
        return cnn.apply(cnn.params, x, {"conv2": jnp.zeros((6, 8, 8, 8))})[1]["conv2"][
            :, 2, 5, 7
        ].sum()

    np.testing.assert_allclose(
        jv.neuron_gradient(cnn, images, layer="conv2", neuron=(2, 5, 7)),
        jax.grad(unit)(images),
        rtol=1e-5,
        atol=1e-7,
    )
    dense = jv.neuron_gradient(cnn, images, layer="dense", neuron=3)
    np.testing.assert_allclose(dense, jv.saliency(cnn, images, target=3), rtol=1e-5, atol=1e-7)


def test_every_method_agrees_across_model_kinds(cnn_models, images):
    calls = {
        "ig": lambda m: jv.integrated_gradients(m, images, target=1, steps=8),
        "gradcam": lambda m: jv.gradcam(m, images, target=1, layer="conv1", plus_plus=True),
        "occlusion": lambda m: jv.occlusion(m, images, target=1, window=3, stride=2),
        "lig": lambda m: jv.layer_integrated_gradients(m, images, target=1, layer="conv2", steps=8),
    }
    for name, call in calls.items():
        reference = call(cnn_models["function"])
        for kind in ("nnx", "linen"):
            np.testing.assert_allclose(
                call(cnn_models[kind]), reference, rtol=1e-4, atol=1e-5, err_msg=f"{name} {kind}"
            )
