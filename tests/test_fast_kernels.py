"""The engine's kernel rewrites compute what JAX computes: max-pool gradients (ties included)
and narrow convolutions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz import _jaxpr


def pooled_score(x):
    max_pooled = nnx.max_pool(jax.nn.relu(x), (2, 2), strides=(2, 2))
    min_pooled = jax.lax.reduce_window(x, jnp.inf, jax.lax.min, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    overlapping = nnx.max_pool(x, (3, 3), strides=(1, 1))  # not a tiling: left to XLA
    return (max_pooled**2).sum() + (min_pooled * x[:, ::2, ::2]).sum() + overlapping.sum()


@pytest.fixture
def tied_input():
    x = jax.random.normal(jax.random.key(0), (3, 8, 6, 4))
    return x.at[:, :2, :4].set(0.0).at[:, 4:6, :2].set(1.5)  # whole windows of equal values


def test_rewritten_gradient_equals_jax_gradient_with_ties(tied_input):
    grad = jax.grad(pooled_score)
    np.testing.assert_array_equal(
        _jaxpr.with_fast_kernels(grad, _jaxpr.FastKernels())(tied_input), grad(tied_input)
    )


def test_rewritten_gradient_under_vmap(tied_input):
    batched = jax.vmap(jax.grad(pooled_score))
    xs = jnp.stack([tied_input, -tied_input])
    np.testing.assert_array_equal(
        _jaxpr.with_fast_kernels(batched, _jaxpr.FastKernels())(xs), batched(xs)
    )


def test_rewrite_removes_the_scatter(tied_input):
    def scatters(fn):
        hlo = jax.jit(fn).lower(tied_input).compile().as_text()
        return sum(" scatter(" in line for line in hlo.splitlines())

    tiling_only = jax.grad(lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)).sum())
    assert scatters(tiling_only) >= 1
    assert scatters(_jaxpr.with_fast_kernels(tiling_only, _jaxpr.FastKernels())) == 0


def test_tiling_pools_become_slice_maxima_with_the_same_values(tied_input):
    def pools(x):
        tiled = nnx.max_pool(x, (2, 2), strides=(2, 2))
        smallest = jax.lax.reduce_window(
            x, jnp.inf, jax.lax.min, (1, 2, 3, 1), (1, 2, 3, 1), "VALID"
        )
        return tiled, smallest, nnx.max_pool(x, (3, 3), strides=(1, 1))  # overlapping: left to XLA

    rewritten = _jaxpr.with_fast_kernels(pools, _jaxpr.FastKernels())
    jaxpr = str(jax.make_jaxpr(rewritten)(tied_input))
    assert jaxpr.count("reduce_window_max") == 1 and "reduce_window_min" not in jaxpr
    for got, want in zip(rewritten(tied_input), pools(tied_input), strict=True):
        np.testing.assert_array_equal(got, want)


def test_explanations_keep_plain_gradients_through_max_pools(cnn, images):
    # conftest's CNN max-pools after a ReLU, so windows of zeros (ties) occur.
    def score(x):
        return cnn.apply(cnn.params, x)[:, 3].sum()

    np.testing.assert_allclose(
        jv.saliency(cnn, images, target=3), jax.grad(score)(images), rtol=1e-5, atol=1e-6
    )


NARROW = _jaxpr.FastKernels(max_pools=False, narrow_convolutions=True)


@pytest.mark.parametrize(
    ("layout", "strides", "padding", "dilation", "narrow"),
    [
        (("NHWC", "HWIO", "NHWC"), (1, 1), "SAME", (1, 1), 3),
        (("NHWC", "HWIO", "NHWC"), (2, 1), "VALID", (1, 1), 1),
        (("NHWC", "HWIO", "NHWC"), (2, 2), ((2, 0), (1, 3)), (2, 1), 4),
        (("NCHW", "OIHW", "NCHW"), (1, 2), "SAME", (1, 2), 2),
        (("NWC", "WIO", "NWC"), (3,), "SAME", (2,), 3),
    ],
)
@pytest.mark.parametrize("side", ["outputs", "inputs"])
def test_narrow_convolution_equals_xla(layout, strides, padding, dilation, narrow, side):
    """Few output channels (an input gradient) or few input channels (a first layer)."""
    spatial = len(strides)
    keys = jax.random.split(jax.random.key(1), 2)
    channels, outputs = (5, narrow) if side == "outputs" else (narrow, 9)
    size = (11, 9)[:spatial]
    canonical_x = jax.random.normal(keys[0], (2, *size, channels))  # N, spatial..., C
    canonical_w = jax.random.normal(
        keys[1], ((3, 2)[:spatial]) + (channels, outputs)
    )  # taps..., I, O
    x = canonical_x if layout[0].endswith("C") else jnp.moveaxis(canonical_x, -1, 1)
    w = canonical_w if layout[1].endswith("O") else jnp.moveaxis(canonical_w, (-1, -2), (0, 1))

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=layout
        )

    rewritten = _jaxpr.with_fast_kernels(conv, NARROW)
    assert "conv_general_dilated" not in str(jax.make_jaxpr(rewritten)(x, w))
    np.testing.assert_allclose(rewritten(x, w), conv(x, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("inputs", "outputs"), [(6, 3), (3, 8)])
def test_narrow_convolution_keeps_the_accumulation_dtype(inputs, outputs):
    x = jax.random.normal(jax.random.key(5), (2, 7, 7, inputs)).astype(jnp.bfloat16)
    w = jax.random.normal(jax.random.key(6), (3, 3, inputs, outputs)).astype(jnp.bfloat16)

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x,
            w,
            (1, 1),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            preferred_element_type=jnp.float32,
        )

    got = _jaxpr.with_fast_kernels(conv, NARROW)(x, w)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, conv(x, w), rtol=1e-2, atol=1e-2)


def test_wide_and_grouped_convolutions_are_left_to_xla():
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, 6))
    wide = jax.random.normal(jax.random.key(3), (3, 3, 6, 8))
    grouped = jax.random.normal(jax.random.key(4), (3, 3, 3, 4))

    def convs(x):
        dn = ("NHWC", "HWIO", "NHWC")
        a = jax.lax.conv_general_dilated(x, wide, (1, 1), "SAME", dimension_numbers=dn)
        b = jax.lax.conv_general_dilated(
            x, grouped, (1, 1), "SAME", dimension_numbers=dn, feature_group_count=2
        )
        return a.sum() + b.sum()

    assert (
        str(jax.make_jaxpr(_jaxpr.with_fast_kernels(convs, NARROW))(x)).count(
            "conv_general_dilated"
        )
        == 2
    )


def test_the_first_layers_input_gradient_skips_xlas_convolution(cnn, images):
    """conftest's CNN takes 3-channel images: its input gradient is a 3-output convolution,
    which the rewrite computes as a matrix product; the results stay those of jax.grad."""

    def score(x):
        return cnn.apply(cnn.params, x)[:, 1].sum()

    rewritten = _jaxpr.with_fast_kernels(jax.grad(score), NARROW)
    narrow = [
        e for e in jax.make_jaxpr(jax.grad(score))(images).eqns if _jaxpr._is_narrow_convolution(e)
    ]
    assert narrow, "the CNN's input gradient should hold a narrow convolution"
    assert not any(_jaxpr._is_narrow_convolution(e) for e in jax.make_jaxpr(rewritten)(images).eqns)
    np.testing.assert_allclose(rewritten(images), jax.grad(score)(images), rtol=1e-5, atol=1e-6)


CPU_KERNELS = _jaxpr.FastKernels.for_cpu()


def _conv_layouts(fn, *args) -> set[str]:
    """The dim_labels of every convolution XLA compiled for `fn`."""
    hlo = jax.jit(fn).lower(*args).compile().as_text()
    return {
        line.split("dim_labels=")[1].split(",")[0]
        for line in hlo.splitlines()
        if " convolution(" in line
    }


def _score(weights, x):
    for w in weights:
        x = jax.nn.relu(
            jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
        )
    return x.sum()


@pytest.mark.parametrize("loop", ["fori_loop", "scan", "while_loop", "cond"])
def test_convolutions_inside_loops_take_xlas_fast_layout(loop):
    """Inside a loop body, XLA:CPU leaves an input gradient's convolution with its (out, in)
    kernel layout, which it runs as a loop 25x slower; the rewrite enters loop bodies and gives
    every convolution the (batch, *spatial, C) x (*spatial, in, out) layout, same values."""
    keys = jax.random.split(jax.random.key(8), 3)
    weights = [jax.random.normal(k, (8, 8, 3, 3)) * 0.2 for k in keys[:2]]
    x = jax.random.normal(keys[2], (2, 8, 6, 6))
    grad = jax.grad(_score, argnums=1)

    def looped(weights, x):
        def body(i, total):
            return total + grad(weights, x * (i + 1.0))

        zero = jnp.zeros_like(x)
        if loop == "fori_loop":
            return jax.lax.fori_loop(0, 3, body, zero)
        if loop == "scan":
            return jax.lax.scan(lambda total, i: (body(i, total), None), zero, jnp.arange(3.0))[0]
        if loop == "while_loop":
            return jax.lax.while_loop(
                lambda c: c[0] < 3, lambda c: (c[0] + 1, body(c[0], c[1])), (0, zero)
            )[1]
        return jax.lax.cond(x.sum() > 0, lambda: body(0, zero), lambda: body(1, zero))

    rewritten = _jaxpr.with_fast_kernels(looped, CPU_KERNELS)
    assert _conv_layouts(rewritten, weights, x) == {"b01f_01io->b01f"}
    np.testing.assert_allclose(
        jax.jit(rewritten)(weights, x), jax.jit(looped)(weights, x), rtol=1e-5, atol=1e-5
    )
