import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxviz.flow import (
    HIST_BINS,
    HIST_SAMPLE,
    Recorder,
    diagnose,
    flow_stats,
    group_layers,
    histogram_edges,
)
from jaxviz.flow._demo import deep_sigmoid, healthy_relu, make_train_step, toy_classification


def _params():
    k = jax.random.split(jax.random.key(0), 3)
    return {
        "dense_0": {"kernel": jax.random.normal(k[0], (5, 4)), "bias": jnp.full(4, 0.5)},
        "dense_2": {"kernel": jax.random.normal(k[1], (4, 3)), "bias": jnp.zeros(3)},
        "dense_10": {"kernel": jax.random.normal(k[2], (3, 2)), "bias": jnp.zeros(2)},
    }


def test_layers_group_linen_nnx_and_plain_trees():
    linen = {"params": {"Dense_10": {"kernel": 1.0, "bias": 2.0}, "Dense_2": {"kernel": 3.0}}}
    assert group_layers(linen).names == ("Dense_2", "Dense_10")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.encoder = nnx.Linear(2, 3, rngs=rngs)
            self.blocks = nnx.List([nnx.Linear(3, 3, rngs=rngs) for _ in range(11)])
            self.head = nnx.Linear(3, 1, rngs=rngs)

    state = nnx.state(Net(nnx.Rngs(0)), nnx.Param)
    groups = group_layers(state, order=["encoder"])
    assert groups.names[:3] == ("encoder", "blocks.0", "blocks.1")
    assert groups.names[-2:] == ("blocks.10", "head")
    assert all(len(ix) == 2 for ix in groups.leaf_indices)  # kernel + bias

    assert group_layers([(1.0, 2.0), (3.0, 4.0)]).names == ("0", "1")
    assert group_layers({"w1": 1.0, "b1": 2.0}).names == ("b1", "w1")


def test_order_puts_named_layers_first_and_leaves_follow_tree_flatten():
    params = _params()
    groups = group_layers(params, order=["dense_10", "dense_0"])
    assert groups.names == ("dense_10", "dense_0", "dense_2")
    leaves = jax.tree_util.tree_leaves(params)
    assert [leaves[i].shape for i in groups.leaf_indices[0]] == [(2,), (3, 2)]


def test_stats_match_hand_computed_norms_and_ratios():
    params = _params()
    grads = jax.tree.map(lambda p: 0.1 * p + 1.0, params)
    updates = jax.tree.map(lambda g: -0.01 * g, grads)
    s = jax.jit(flow_stats)(grads, params, updates)
    assert s.layers == ("dense_0", "dense_2", "dense_10")
    assert s.sizes == (24, 15, 8)
    for j, name in enumerate(s.layers):
        flat = lambda t: np.concatenate([np.ravel(v) for v in t[name].values()])  # noqa: E731
        g, p = flat(grads), flat(params)
        np.testing.assert_allclose(s.grad_norm[j], np.linalg.norm(g), rtol=1e-5)
        np.testing.assert_allclose(s.param_norm[j], np.linalg.norm(p), rtol=1e-5)
        np.testing.assert_allclose(
            s.update_ratio[j], 0.01 * np.linalg.norm(g) / np.linalg.norm(p), rtol=1e-5
        )
        assert int(s.grad_hist[j].sum()) == g.size
    assert s.dead_fraction is None and s.saturated_fraction is None


def test_histogram_bins_agree_with_numpy_on_the_documented_edges():
    edges = histogram_edges()
    assert len(edges) == HIST_BINS + 1 and np.all(np.diff(edges) > 0)
    rng = np.random.default_rng(0)
    # Values strictly inside bins (away from edges, where float32 log10 could round either way).
    centres = np.sqrt(np.abs(edges[1:] * edges[:-1])) * np.sign(edges[1:] + edges[:-1])
    centres[HIST_BINS // 2] = 0.0
    values = rng.choice(centres, size=500)
    s = flow_stats({"a": jnp.asarray(values)}, {"a": jnp.asarray(values)})
    expected = np.histogram(
        values, bins=np.concatenate([edges[: HIST_BINS // 2 + 1], edges[HIST_BINS // 2 + 1 :]])
    )[0]
    np.testing.assert_array_equal(s.grad_hist[0], expected)
    # Out-of-range magnitudes clamp to the outer bins; NaN/inf are counted apart, not binned.
    s = flow_stats({"a": jnp.array([1e9, -1e9, 1e-20, jnp.nan, jnp.inf])}, {"a": jnp.ones(5)})
    hist = np.asarray(s.grad_hist[0])
    assert hist[-1] == 1 and hist[0] == 1 and hist[HIST_BINS // 2] == 1 and hist.sum() == 3
    assert int(s.nonfinite[0]) == 2


def test_large_layers_are_histogrammed_from_a_fixed_sample():
    rng = np.random.default_rng(1)
    big = jnp.asarray(rng.normal(size=(300, 100)), jnp.float32)  # 30,000 values > HIST_SAMPLE
    s1 = jax.jit(flow_stats)({"a": big}, {"a": big})
    assert int(s1.grad_hist[0].sum()) == HIST_SAMPLE
    np.testing.assert_allclose(s1.grad_norm[0], np.linalg.norm(np.asarray(big)), rtol=1e-5)  # exact
    # the sample's share per bin follows the whole layer's closely
    whole = np.histogram(np.asarray(big).ravel(), bins=histogram_edges())[0] / big.size
    assert np.abs(np.asarray(s1.grad_hist[0]) / HIST_SAMPLE - whole).max() < 0.02
    # the same positions every step: the negated layer gives exactly the mirrored histogram
    s2 = jax.jit(flow_stats)({"a": -big}, {"a": big})
    np.testing.assert_array_equal(np.asarray(s2.grad_hist[0]), np.asarray(s1.grad_hist[0])[::-1])


def test_dead_and_saturated_fractions():
    relu = jnp.array([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]])  # units 0 and 2 dead
    sig = jnp.array([[0.01, 0.5], [0.99, 0.5]])  # 2 of 4 values where sigmoid' < 0.025
    tanh = jnp.array([[0.99, -0.1, 0.0, -0.97]])  # |a| > 0.9487 for 2 of 4
    p = {"w": jnp.ones(2)}
    s = flow_stats(
        p, p, activations={"r": ("relu", relu), "s": ("sigmoid", sig), "t": ("tanh", tanh)}
    )
    np.testing.assert_allclose(s.dead_fraction, [0.5, 0.0, 0.25])
    np.testing.assert_allclose(s.saturated_fraction, [0.0, 0.5, 0.5])
    assert s.activation_kinds == ("relu", "sigmoid", "tanh")


def test_bad_inputs_name_the_argument():
    p = _params()
    with pytest.raises(ValueError, match="activations\\['h'\\]"):
        flow_stats(p, p, activations={"h": ("softmax", jnp.ones((2, 2)))})
    with pytest.raises(ValueError, match="grads"):
        flow_stats({"a": 1.0}, p)
    with pytest.raises(ValueError, match="updates"):
        flow_stats(p, p, {"a": 1.0})
    with pytest.raises(ValueError, match="capacity"):
        Recorder(capacity=7)


HOST_PRIMITIVES = ("callback", "debug_print", "outfeed", "infeed")


def _primitive_names(jaxpr) -> set[str]:
    """Every primitive in a jaxpr, including those nested in jit/cond/scan sub-jaxprs."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    names |= _primitive_names(inner)
    return names


def _host_primitives(fn, *args) -> set[str]:
    names = _primitive_names(jax.make_jaxpr(fn)(*args).jaxpr)
    return {n for n in names if any(h in n for h in HOST_PRIMITIVES)}


def test_train_step_with_stats_has_no_host_callbacks():
    x, y = toy_classification(jax.random.key(0), n=32)
    params, act = healthy_relu(jax.random.key(1), depth=2, width=8)
    opt = optax.adam(1e-3)
    step = make_train_step(act, opt, x, y)
    names = _primitive_names(jax.make_jaxpr(step)(params, opt.init(params)).jaxpr)
    assert "dot_general" in names and "sqrt" in names  # the walk does see the step and the stats
    assert _host_primitives(step, params, opt.init(params)) == set()

    # the check can fail: a step that talks to the host is caught, however deeply nested
    def chatty(p):
        jax.debug.print("{}", p["dense_0"]["bias"])
        return jax.pure_callback(np.sin, p["dense_0"]["bias"], p["dense_0"]["bias"])

    assert _host_primitives(jax.jit(chatty), params) == {"debug_print", "pure_callback"}


def _cheap_stats(i):
    return flow_stats({"a": jnp.full(2, float(i))}, {"a": jnp.ones(2)})


def test_recorder_memory_is_bounded_over_100k_steps():
    template = jax.device_get(_cheap_stats(1))
    rec = Recorder(capacity=256, fetch_every=64)
    sizes = []
    for i in range(100_000):
        rec.add(template, loss=float(i))
        if i in (300, 99_999):
            sizes.append((len(rec), rec.nbytes))
    (len_early, bytes_early), (len_late, bytes_late) = sizes
    assert bytes_early == bytes_late and len_early <= 256 and len_late <= 256
    steps = rec.steps
    assert steps[-1] == 99_999 and steps[0] == 0 and np.all(np.diff(steps) > 0)
    # the recent half is at full resolution, older rows progressively sparser
    assert np.all(np.diff(steps[-128:]) == 1)
    gaps = np.diff(steps[:128])
    assert gaps[0] > 100 and gaps[0] >= gaps[-1]
    np.testing.assert_array_equal(rec.metrics["loss"], steps)  # metrics stay aligned with steps


def test_recorder_batches_device_fetches_and_keeps_fields_aligned():
    rec = Recorder(capacity=16, fetch_every=4)
    for i in range(3):
        rec.add(_cheap_stats(i), step=10 * i, loss=i)
    assert len(rec._pending) == 3  # nothing fetched yet
    np.testing.assert_array_equal(rec.steps, [0, 10, 20])
    np.testing.assert_allclose(rec.field("grad_norm")[:, 0], np.sqrt(2) * np.arange(3))
    assert rec.field("update_ratio") is None
    with pytest.raises(ValueError, match="stats"):
        rec.add(flow_stats({"b": jnp.ones(2)}, {"b": jnp.ones(2)}))
        rec.flush()


def _train(net, steps, lr):
    x, y = toy_classification(jax.random.key(0))
    params, act = net(jax.random.key(1))
    opt = optax.sgd(lr)
    step, state, rec = make_train_step(act, opt, x, y), opt.init(params), Recorder()
    for _ in range(steps):
        params, state, loss, stats = step(params, state)
        rec.add(stats, loss=loss)
    return rec


def test_diagnostics_fire_on_deep_sigmoid_net():
    found = diagnose(_train(deep_sigmoid, 200, lr=0.5))
    kinds = {(d.kind, d.layer) for d in found}
    assert ("vanishing", "dense_0") in kinds
    assert any(k == "saturated" for k, _ in kinds)
    text = str(next(d for d in found if d.kind == "vanishing"))
    assert (
        text.startswith("dense_0: vanishing gradient.")
        and "smaller than" in text
        and "Try:" in text
    )


def test_diagnostics_quiet_on_healthy_relu_net():
    assert diagnose(_train(healthy_relu, 200, lr=0.1)) == []


def test_diagnostics_nonfinite_dead_relu_and_update_ratio():
    p = {"dense_0": {"kernel": jnp.ones((2, 2))}, "dense_1": {"kernel": jnp.ones((2, 2))}}
    g = {
        "dense_0": {"kernel": jnp.array([[jnp.nan, 1.0], [1.0, 1.0]])},
        "dense_1": {"kernel": jnp.ones((2, 2))},
    }
    u = jax.tree.map(lambda a: 1e-8 * jnp.ones_like(a), p)
    dead = jnp.array([[0.0, 0.0, 0.0, 1.0]])
    rec = Recorder(capacity=8)
    rec.add(flow_stats(g, p, u, activations={"h": ("relu", dead)}), step=7, loss=jnp.inf)
    found = diagnose(rec)
    assert [d.severity for d in found[:2]] == ["error", "error"]
    by_kind = {d.kind: d for d in found if not d.layer.startswith("metric")}
    assert by_kind["nonfinite"].layer == "dense_0"
    assert "1 of 4 gradient values were NaN/inf at step 7" in by_kind["nonfinite"].evidence
    assert "75% of its units" in by_kind["dead_relu"].evidence
    assert by_kind["update_ratio_low"].layer in ("dense_0", "dense_1")
    assert any("loss became inf" in d.evidence for d in found)
