"""The method contract: every registered method (tests/contract_methods.py), on one fully
convolutional model at two input resolutions (token methods: a small transformer at two lengths)
and two batch sizes, chunked and unchunked, on 1 and 4 devices: shapes, values against
per-example calls, and no compilation after the first call of each input signature. Also the
program cache's bound and functions passed as options."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from compiles import compiles
from contract_methods import BATCHES, DOMAINS, inputs, leaves, targets

import jaxviz as jv
from jaxviz import _callables
from jaxviz._programs import PROGRAMS_PER_MODEL

# Methods whose result (its first leaf) is shaped like the input.
LIKE_INPUT = {
    "saliency",
    "saliency_abs",
    "grad_x_input",
    "integrated_gradients",
    "integrated_gradients_predicted",
    "integrated_gradients_adaptive",
    "smoothgrad",
    "vargrad",
    "expected_gradients",
    "guided_gradcam",
    "guided_backprop",
    "deconvnet",
    "occlusion",
    "neuron_gradient",
    "channel_backprojection",
    "lime",
    "kernel_shap",
    "shapley_values",
    "shapley_values_permutation",
    "token_integrated_gradients",
    "token_saliency",
    "token_smoothgrad",
    "token_occlusion",
}


@pytest.fixture(scope="module")
def models():
    return {name: domain.model() for name, domain in DOMAINS.items()}


@pytest.fixture(scope="module")
def m(models):
    return models["images"]


def assert_same(got, want, what):
    got, want = leaves(got), leaves(want)
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * scale, err_msg=what)


def check_no_compile(call, what):
    before = compiles.count
    call()
    assert compiles.count == before, (
        f"{what}: {compiles.count - before} compilation(s) for a seen signature"
    )


CASES = [(domain, name) for domain, d in DOMAINS.items() for name in sorted(d.methods)]


@pytest.mark.parametrize(("domain", "name"), CASES)
def test_method_contract(domain, name, models):
    d, m = DOMAINS[domain], models[domain]
    case = d.methods[name]
    firsts = {}
    for size in d.sizes:
        for batch in BATCHES:
            x, t = d.inputs(size, batch), targets(batch)
            where = f"{name} at size {size}, batch {batch}"
            whole = firsts[size, batch] = case.call(m, x, t)
            if case.batched:
                assert all(leaf.shape[0] == batch for leaf in leaves(whole)), where
            if name in LIKE_INPUT:
                assert leaves(whole)[0].shape == x.shape, where
            if case.per_example and not case.keyed:
                singles = [case.call(m, x[i : i + 1], t[i : i + 1]) for i in range(batch)]
                assert_same(
                    jax.tree.map(lambda *p: np.concatenate(p), *singles),
                    whole,
                    where + ", per example",
                )
            if name in d.chunked:
                assert_same(case.call(m, x, t, batch_size=2), whole, where + ", chunks of 2")
            # New values and targets, the same signature: nothing compiles.
            other_x, other_t = d.inputs(size, batch, seed=1), targets(batch, shift=1)
            check_no_compile(lambda: case.call(m, other_x, other_t), where)
            if name in d.chunked:
                check_no_compile(
                    lambda: case.call(m, other_x, other_t, batch_size=2), where + ", chunks of 2"
                )
    # The first size's programs still work, unchanged, after the second's were compiled.
    x, t = d.inputs(d.sizes[0], BATCHES[0]), targets(BATCHES[0])
    check_no_compile(
        lambda: assert_same(case.call(m, x, t), firsts[d.sizes[0], BATCHES[0]], name), name
    )


SHARDED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from contract_methods import DOMAINS, leaves, targets
    assert jax.device_count() == 4, jax.devices()
    out = {{}}
    for domain, d in DOMAINS.items():
        m = d.model()
        x, t = d.inputs(d.sizes[1], 5), targets(5)
        for name, case in d.methods.items():
            for i, leaf in enumerate(leaves(case.call(m, x, t))):
                out[f"{{domain}}/{{name}}/{{i}}"] = leaf
            if name in d.chunked:
                for i, leaf in enumerate(leaves(case.call(m, x, t, batch_size=2))):
                    out[f"{{domain}}/{{name}}/chunked/{{i}}"] = leaf
    np.savez({path!r}, **out)
    """
)


def test_every_method_on_four_devices_equals_one_device(models, tmp_path):
    path = tmp_path / "sharded.npz"
    script = SHARDED.format(tests=os.path.dirname(__file__), path=str(path))
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=900)
    sharded = np.load(path)
    for domain, d in DOMAINS.items():
        x, t = d.inputs(d.sizes[1], 5), targets(5)
        for name, case in d.methods.items():
            for i, want in enumerate(leaves(case.call(models[domain], x, t))):
                key = f"{domain}/{name}"
                assert_same(sharded[f"{key}/{i}"], want, f"{name} on 4 devices")
                if name in d.chunked:
                    assert_same(
                        sharded[f"{key}/chunked/{i}"], want, f"{name} on 4 devices, chunks of 2"
                    )


def test_the_program_cache_stays_bounded_over_a_thousand_shapes():
    m = jv.wrap(lambda x: jnp.tanh(x).sum(axis=1, keepdims=True) * jnp.arange(1.0, 4.0))
    rng = np.random.default_rng(0)
    for batch, features in zip(rng.integers(1, 40, 1000), rng.integers(1, 4, 1000), strict=True):
        jv.saliency(m, np.ones((batch, features), np.float32), target=1, batch_size=64)
        assert len(m.programs) <= PROGRAMS_PER_MODEL
    assert len(m._traced) <= PROGRAMS_PER_MODEL
    # The most recent signature is still served without compiling.
    check_no_compile(
        lambda: jv.saliency(m, np.ones((batch, features), np.float32), target=0), "last shape"
    )


def test_a_loss_written_as_a_fresh_lambda_compiles_once_and_reads_current_labels(m):
    x = inputs(8, 6)
    labels = [jnp.asarray(targets(6)), jnp.asarray(targets(6, shift=2))]

    def flow(y):
        loss = lambda z: optax.softmax_cross_entropy_with_integer_labels(z, y).mean()  # noqa: E731
        return jv.gradient_flow(m, x, loss=loss).output_grad_norm

    first = flow(labels[0])
    before = compiles.count
    second = flow(labels[1])
    again = flow(labels[0])
    assert compiles.count == before, "a fresh lambda of the same code recompiled"
    np.testing.assert_array_equal(again, first)
    assert not np.allclose(second, first), "the second call used the first call's labels"
    by_labels = jv.gradient_flow(
        m,
        x,
        loss=lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean(),
        labels=labels[1],
    ).output_grad_norm
    np.testing.assert_allclose(by_labels, second, rtol=1e-6)


GLOBAL_SCALE = jnp.float32(2.0)


def test_lift_keys_functions_by_code_and_lifts_the_arrays_they_reach():
    def make(weights, power):
        return lambda z: (z * weights * GLOBAL_SCALE) ** power

    a, b = make(jnp.ones(3), 2), make(jnp.full(3, 5.0), 2)
    la, lb = _callables.lift(a), _callables.lift(b)
    assert la.key == lb.key  # same code, same non-array values, same array shapes
    assert _callables.lift(make(jnp.ones(3), 3)).key != la.key  # a Python constant differs
    assert _callables.lift(make(jnp.ones(4), 2)).key != la.key  # an array's shape differs
    assert len(la.arrays) == 2  # the closed-over weights and the global scale
    z = jnp.arange(3.0)
    np.testing.assert_allclose(la.rebuild(lb.arrays)(z), b(z))
    traced = jax.jit(lambda arrays: la.rebuild(arrays)(z))(lb.arrays)
    np.testing.assert_allclose(traced, b(z))
    with pytest.raises(ValueError, match="expected 2 arrays"):
        la.rebuild(())
