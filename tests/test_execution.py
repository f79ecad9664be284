"""Execution: chunked = whole batch = per example, no recompiles for new data, sharding, bf16."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
from compiles import compiles
from flax import nnx

import jaxviz as jv
from jaxviz.explain import _engine


def test_chunked_equals_whole_batch_equals_per_example(cnn, images):
    key = jax.random.key(5)
    calls = {
        "ig": lambda x, **kw: jv.integrated_gradients(cnn, x, target=2, steps=16, **kw),
        "smoothgrad": lambda x, **kw: jv.smoothgrad(cnn, x, target=2, samples=4, key=key, **kw),
        "gradcam": lambda x, **kw: jv.gradcam(cnn, x, target="all", layer="conv2", **kw),
        "occlusion": lambda x, **kw: jv.occlusion(cnn, x, target=2, window=4, stride=4, **kw),
    }
    for name, call in calls.items():
        whole = call(images)
        np.testing.assert_allclose(call(images, batch_size=4), whole, rtol=1e-5, atol=1e-5, err_msg=name)
        if name != "smoothgrad":  # noise is keyed by the example's position in the batch
            single = jnp.concatenate([call(images[i : i + 1]) for i in range(len(images))])
            np.testing.assert_allclose(single, whole, rtol=1e-5, atol=1e-5, err_msg=name)


def test_new_targets_inputs_and_baselines_never_recompile(cnn, images):
    def run(x, target, baseline):
        return jv.integrated_gradients(cnn, x, target=target, baseline=baseline, steps=8, batch_size=4)

    inputs = [images * 2, images + 1, images[::-1], images * 3]
    targets = [jnp.array([4, 3, 2, 1, 0, 0]), jnp.arange(6) % 5]
    baselines = [jnp.full(images.shape[1:], -0.2, jnp.float32), jnp.ones(images.shape[1:], jnp.float32)]
    run(images, 1, 0.0)
    run(images, targets[1], baselines[1])  # warm the other call paths
    jv.gradcam(cnn, images, target=1, layer="conv2")
    before = compiles.count
    run(inputs[0], 3, 0.5)
    run(inputs[1], targets[0], baselines[0])
    run(inputs[2], 0, 0.1)
    gradcam_first = compiles.count
    jv.gradcam(cnn, inputs[3], target=4, layer="conv2")
    after_gradcam = compiles.count
    assert before == gradcam_first, f"{gradcam_first - before} recompilations for new data"
    assert gradcam_first == after_gradcam, "gradcam recompiled for a new target"


def test_a_new_batch_size_reuses_the_chunk_program(cnn, images):
    smaller = [images[:4], images[:3]]
    jv.saliency(cnn, images, target=1, batch_size=2)
    jv.saliency(cnn, images[:5], target=1, batch_size=2)  # warm the eager padding for odd sizes
    before = compiles.count
    for x in smaller:  # padded into the same chunks
        jv.saliency(cnn, x, target=1, batch_size=2)
    assert compiles.count == before


def test_on_a_cpu_the_default_chunk_is_sized_by_its_activations(cnn, images):
    """Without a batch_size, a CPU chunk holds at most CPU_VALUES_PER_CHUNK values of inputs and
    layer outputs. With more path points than that per example, IG runs one example per chunk,
    so every batch size reuses one program (a chunk of the whole batch would compile per size);
    saliency fits the whole batch in one chunk."""
    assert jax.devices()[0].platform == "cpu"
    per_input = int(np.prod(images.shape[1:])) + sum(
        int(np.prod(s.shape[1:])) for s in cnn.layer_shapes(images).values()
    )
    steps = _engine.CPU_VALUES_PER_CHUNK // per_input  # with the input's own pass: over the budget
    whole = jv.integrated_gradients(cnn, images, target=1, steps=steps, batch_size=len(images))
    np.testing.assert_allclose(jv.integrated_gradients(cnn, images, target=1, steps=steps), whole, rtol=1e-5, atol=1e-6)
    batches = [np.asarray(images[:n]) for n in (1, 3, 5)]  # slicing a jax array compiles too
    before = compiles.count
    for batch in batches:
        jv.integrated_gradients(cnn, batch, target=1, steps=steps)
    assert compiles.count == before
    jv.saliency(cnn, images, target=1)
    assert ("saliency", "given") in cnn.programs.methods()
    before = compiles.count
    jv.saliency(cnn, batches[2], target=1)  # a whole-batch chunk: a new size compiles
    assert compiles.count > before


SHARDED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import jax, jax.numpy as jnp, numpy as np
    import jaxviz as jv
    from conftest import cnn_weights, nnx_cnn
    assert jax.device_count() == 4, jax.devices()
    m = jv.wrap(nnx_cnn(cnn_weights()))
    x = jax.random.normal(jax.random.key(42), (6, 8, 8, 3))
    out = dict(
        ig=jv.integrated_gradients(m, x, target="all", steps=16, batch_size=3),
        smoothgrad=jv.smoothgrad(m, x, samples=4, key=jax.random.key(5)),
        gradcam=jv.gradcam(m, x, layer="conv2"),
    )
    np.savez({path!r}, **{{k: np.asarray(v) for k, v in out.items()}})
    """
)


def test_sharded_over_four_devices_equals_one_device(cnn, images, tmp_path):
    path = tmp_path / "sharded.npz"
    script = SHARDED.format(tests=os.path.dirname(__file__), path=str(path))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=600)
    sharded = np.load(path)
    np.testing.assert_allclose(sharded["ig"], jv.integrated_gradients(cnn, images, target="all", steps=16), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded["smoothgrad"], jv.smoothgrad(cnn, images, samples=4, key=jax.random.key(5)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded["gradcam"], jv.gradcam(cnn, images, layer="conv2"), rtol=1e-5, atol=1e-6)


def test_bfloat16_models_and_inputs_accumulate_in_float32(images):
    from conftest import NnxCNN, cnn_weights, nnx_cnn

    weights = cnn_weights()
    reference = jv.wrap(nnx_cnn(weights))
    half = NnxCNN(nnx.Rngs(0))
    for name, layer in weights.items():
        getattr(half, name).kernel = nnx.Param(layer["kernel"].astype(jnp.bfloat16))
        getattr(half, name).bias = nnx.Param(layer["bias"].astype(jnp.bfloat16))
    m = jv.wrap(half)
    x = images.astype(jnp.bfloat16)
    assert m(x).dtype == jnp.bfloat16
    attr, delta = jv.integrated_gradients(m, x, target=1, steps=32, return_delta=True)
    assert attr.dtype == jnp.float32 and delta.dtype == jnp.float32
    expected = jv.integrated_gradients(reference, images, target=1, steps=32)
    assert np.abs(attr - expected).max() < 0.05 * np.abs(expected).max()
    gap = m(x)[:, 1].astype(jnp.float32) - m(jnp.zeros_like(x))[:, 1].astype(jnp.float32)
    assert np.median(np.abs(delta) / np.abs(gap)) < 0.05
    for method in (jv.saliency, jv.guided_backprop):
        assert method(m, x).dtype == jnp.float32
    assert jv.gradcam(m, x, layer="conv2").dtype == jnp.float32


def test_samples_in_groups_equal_all_samples_at_once(cnn, images, monkeypatch):
    """A path or noise set longer than a CPU chunk runs in groups one after another (a scan);
    the result is the same sum, padded last group included (16 steps in groups of 3)."""
    key = jax.random.key(9)
    baselines = jax.random.normal(jax.random.key(10), (4, *images.shape[1:]))
    calls = {
        "ig": lambda: jv.integrated_gradients(cnn, images, target=1, steps=16, return_delta=True),
        "ig all": lambda: jv.integrated_gradients(cnn, images, target="all", steps=5, method="riemann_trapezoid"),
        **{
            f"smoothgrad {kind}": lambda kind=kind: jv.smoothgrad(cnn, images, samples=16, kind=kind, key=key)
            for kind in ("smooth", "square", "var")
        },
        "expected": lambda: jv.expected_gradients(cnn, images, baselines=baselines, samples=16, key=key),
    }
    at_once = {name: call() for name, call in calls.items()}
    monkeypatch.setattr(_engine, "samples_per_group", lambda model, x, samples: min(samples, 3))
    for name, call in calls.items():
        # atol: IG's delta is a difference of sums of O(1) attributions
        for got, want in zip(jax.tree.leaves(call()), jax.tree.leaves(at_once[name]), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_on_a_cpu_a_long_path_is_cut_into_equal_groups_that_fit_a_chunk(cnn, images):
    per_input = _engine._values_per_input(cnn, images)
    rows = _engine.CPU_VALUES_PER_CHUNK // per_input
    assert _engine.samples_per_group(cnn, images, rows) == rows
    assert _engine.samples_per_group(cnn, images, rows + 1) == -(-(rows + 1) // 2)
    assert _engine.samples_per_group(cnn, images, 5 * rows - 3) == -(-(5 * rows - 3) // 5)
