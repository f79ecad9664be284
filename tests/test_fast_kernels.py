"""Each speed rule rewrites the equations it should, leaves the others alone, and computes what
XLA computes: tiling max pools and their gradients (ties included), narrow and few-input
convolutions, convolution layouts, loop bodies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz import _jaxpr
from jaxviz._rewrites import RULES, SPEED_RULES


def equations(jaxpr) -> list:
    """Every equation of `jaxpr`, those inside nested jits, loops and custom rules included."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for sub in _jaxpr.sub_jaxprs(eqn.params):
            found += equations(sub)
    return found


def matched(rule, fn, *args) -> list[str]:
    """The primitive names of the equations of `fn`'s program that `rule` matches."""
    eqns = equations(jax.make_jaxpr(fn)(*args).jaxpr)
    return [e.primitive.name for e in eqns if rule.matches(e, [v.aval for v in e.invars])]


def rewritten_by(fn, *names):
    return _jaxpr.rewrite(fn, [RULES[name] for name in names])


def test_the_registry_names_every_rule_once_with_its_reason():
    assert list(RULES) == [
        "layer_taps",
        "relu_rules",
        "tiled_max_pool",
        "max_pool_gradient",
        "narrow_convolution",
        "few_input_convolution",
        "convolution_layout",
        "loops",
    ]
    assert [rule.name for rule in SPEED_RULES] == list(RULES)[2:]
    assert all(rule.speed for rule in SPEED_RULES)
    assert not RULES["layer_taps"].speed and not RULES["relu_rules"].speed
    for rule in RULES.values():
        assert len(type(rule).__doc__.split()) > 30, rule  # says what, and why


# -- tiled_max_pool, max_pool_gradient --


def pooled_score(x):
    max_pooled = nnx.max_pool(jax.nn.relu(x), (2, 2), strides=(2, 2))
    min_pooled = jax.lax.reduce_window(x, jnp.inf, jax.lax.min, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    overlapping = nnx.max_pool(x, (3, 3), strides=(1, 1))  # not a tiling: left to XLA
    return (max_pooled**2).sum() + (min_pooled * x[:, ::2, ::2]).sum() + overlapping.sum()


def pools(x):
    tiled = nnx.max_pool(x, (2, 2), strides=(2, 2))
    smallest = jax.lax.reduce_window(x, jnp.inf, jax.lax.min, (1, 2, 3, 1), (1, 2, 3, 1), "VALID")
    overlapping = nnx.max_pool(x, (3, 3), strides=(1, 1))
    padded = nnx.max_pool(x, (2, 2), strides=(2, 2), padding=((0, 0), (1, 1)))
    uneven = nnx.max_pool(x[:, :7], (2, 2), strides=(2, 2))  # 7 rows: the windows skip the last
    return tiled, smallest, overlapping, padded, uneven


@pytest.fixture
def tied_input():
    x = jax.random.normal(jax.random.key(0), (3, 8, 6, 4))
    return x.at[:, :2, :4].set(0.0).at[:, 4:6, :2].set(1.5)  # whole windows of equal values


def test_tiled_max_pool_matches_only_pools_whose_windows_tile_the_input(tied_input):
    rule = RULES["tiled_max_pool"]
    assert matched(rule, pools, tied_input) == ["reduce_window_max", "reduce_window_min"]
    assert matched(rule, rewritten_by(pools, "tiled_max_pool"), tied_input) == []


def test_tiled_max_pool_gives_xlas_values(tied_input):
    for got, want in zip(
        rewritten_by(pools, "tiled_max_pool")(tied_input), pools(tied_input), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_max_pool_gradient_matches_only_tiling_windows(tied_input):
    rule = RULES["max_pool_gradient"]
    # three pools' gradients (max, min and overlapping max); the overlapping one is not a tiling
    eqns = equations(jax.make_jaxpr(jax.grad(pooled_score))(tied_input).jaxpr)
    assert [e.primitive.name for e in eqns].count("select_and_scatter_add") == 3
    assert matched(rule, jax.grad(pooled_score), tied_input) == ["select_and_scatter_add"] * 2


def test_max_pool_gradient_equals_jax_gradient_with_ties(tied_input):
    grad = jax.grad(pooled_score)
    np.testing.assert_array_equal(
        rewritten_by(grad, "max_pool_gradient")(tied_input), grad(tied_input)
    )


def test_max_pool_gradient_under_vmap(tied_input):
    batched = jax.vmap(jax.grad(pooled_score))
    xs = jnp.stack([tied_input, -tied_input])
    np.testing.assert_array_equal(rewritten_by(batched, "max_pool_gradient")(xs), batched(xs))


def test_max_pool_gradient_removes_the_scatter(tied_input):
    def scatters(fn):
        hlo = jax.jit(fn).lower(tied_input).compile().as_text()
        return sum(" scatter(" in line for line in hlo.splitlines())

    tiling_only = jax.grad(lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)).sum())
    assert scatters(tiling_only) >= 1
    assert scatters(rewritten_by(tiling_only, "max_pool_gradient")) == 0


def test_explanations_keep_plain_gradients_through_max_pools(cnn, images):
    # conftest's CNN max-pools after a ReLU, so windows of zeros (ties) occur.
    def score(x):
        return cnn.apply(cnn.params, x)[:, 3].sum()

    np.testing.assert_allclose(
        jv.saliency(cnn, images, target=3), jax.grad(score)(images), rtol=1e-5, atol=1e-6
    )


# -- narrow_convolution, few_input_convolution --

LAYOUTS = [
    (("NHWC", "HWIO", "NHWC"), (1, 1), "SAME", (1, 1), 3),
    (("NHWC", "HWIO", "NHWC"), (2, 1), "VALID", (1, 1), 1),
    (("NHWC", "HWIO", "NHWC"), (2, 2), ((2, 0), (1, 3)), (2, 1), 4),
    (("NCHW", "OIHW", "NCHW"), (1, 2), "SAME", (1, 2), 2),
    (("NWC", "WIO", "NWC"), (3,), "SAME", (2,), 3),
]


def convolution_case(layout, strides, padding, dilation, channels, outputs, seed=1):
    """A convolution in `layout` and its operands."""
    spatial = len(strides)
    keys = jax.random.split(jax.random.key(seed), 2)
    canonical_x = jax.random.normal(keys[0], (2, *(11, 9)[:spatial], channels))  # N, spatial..., C
    canonical_w = jax.random.normal(
        keys[1], (3, 2)[:spatial] + (channels, outputs)
    )  # taps..., I, O
    x = canonical_x if layout[0].endswith("C") else jnp.moveaxis(canonical_x, -1, 1)
    w = canonical_w if layout[1].endswith("O") else jnp.moveaxis(canonical_w, (-1, -2), (0, 1))

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=layout
        )

    return conv, x, w


@pytest.mark.parametrize(("layout", "strides", "padding", "dilation", "narrow"), LAYOUTS)
@pytest.mark.parametrize(
    ("rule", "side"), [("narrow_convolution", "outputs"), ("few_input_convolution", "inputs")]
)
def test_narrow_convolutions_equal_xla(layout, strides, padding, dilation, narrow, rule, side):
    """Few output channels (an input gradient) or few input channels (a first layer)."""
    channels, outputs = (5, narrow) if side == "outputs" else (narrow, 9)
    conv, x, w = convolution_case(layout, strides, padding, dilation, channels, outputs)
    assert matched(RULES[rule], conv, x, w) == ["conv_general_dilated"]
    rewritten = rewritten_by(conv, rule)
    assert "conv_general_dilated" not in str(jax.make_jaxpr(rewritten)(x, w))
    np.testing.assert_allclose(rewritten(x, w), conv(x, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("rule", "side"), [("narrow_convolution", "outputs"), ("few_input_convolution", "inputs")]
)
def test_narrow_convolutions_match_one_side_only(rule, side):
    # 5 channels in, 3 out: a narrow convolution, not a few-input one; and the other way round
    narrow_out = convolution_case(*LAYOUTS[0][:4], channels=5, outputs=3)
    few_in = convolution_case(*LAYOUTS[0][:4], channels=3, outputs=5)
    assert bool(matched(RULES[rule], *narrow_out)) == (side == "outputs")
    assert bool(matched(RULES[rule], *few_in)) == (side == "inputs")


@pytest.mark.parametrize(
    ("rule", "inputs", "outputs"), [("narrow_convolution", 6, 3), ("few_input_convolution", 3, 8)]
)
def test_narrow_convolutions_keep_the_accumulation_dtype(rule, inputs, outputs):
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

    got = rewritten_by(conv, rule)(x, w)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, conv(x, w), rtol=1e-2, atol=1e-2)


def wide_grouped_and_dilated(x):
    dn = ("NHWC", "HWIO", "NHWC")
    wide = jax.random.normal(jax.random.key(3), (3, 3, 6, 8))
    grouped = jax.random.normal(jax.random.key(4), (3, 3, 3, 4))
    narrow = jax.random.normal(jax.random.key(7), (3, 3, 6, 2))
    a = jax.lax.conv_general_dilated(x, wide, (1, 1), "SAME", dimension_numbers=dn)
    b = jax.lax.conv_general_dilated(
        x, grouped, (1, 1), "SAME", dimension_numbers=dn, feature_group_count=2
    )
    c = jax.lax.conv_general_dilated(
        x, narrow, (1, 1), ((1, 1), (1, 1)), lhs_dilation=(2, 2), dimension_numbers=dn
    )
    return a.sum() + b.sum() + c.sum()


@pytest.mark.parametrize("rule", ["narrow_convolution", "few_input_convolution"])
def test_wide_grouped_and_input_dilated_convolutions_are_left_to_xla(rule):
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, 6))
    assert matched(RULES[rule], wide_grouped_and_dilated, x) == []


def test_the_first_layers_input_gradient_skips_xlas_convolution(cnn, images):
    """conftest's CNN takes 3-channel images: its input gradient is a 3-output convolution,
    which the rule computes as a matrix product; the results stay those of jax.grad."""

    def score(x):
        return cnn.apply(cnn.params, x)[:, 1].sum()

    rule = RULES["narrow_convolution"]
    rewritten = rewritten_by(jax.grad(score), "narrow_convolution")
    assert matched(rule, jax.grad(score), images), (
        "the CNN's input gradient should hold a narrow convolution"
    )
    assert matched(rule, rewritten, images) == []
    np.testing.assert_allclose(rewritten(images), jax.grad(score)(images), rtol=1e-5, atol=1e-6)


# -- convolution_layout --


def conv_layouts(fn, *args) -> set[str]:
    """The dim_labels of every convolution XLA compiled for `fn`."""
    hlo = jax.jit(fn).lower(*args).compile().as_text()
    return {
        line.split("dim_labels=")[1].split(",")[0]
        for line in hlo.splitlines()
        if " convolution(" in line
    }


@pytest.mark.parametrize(("case", "groups"), [(3, 1), (3, 2), (0, 1), (4, 2)])
def test_convolution_layout_equals_xla(case, groups):
    layout, strides, padding, dilation, _ = LAYOUTS[case]
    conv, x, w = convolution_case(
        layout, strides, padding, dilation, channels=6 // groups, outputs=8
    )
    x = jnp.concatenate([x] * groups, axis=layout[0].index("C"))  # (in / groups) per group of w

    def grouped(x, w):
        return jax.lax.conv_general_dilated(
            x,
            w,
            strides,
            padding,
            rhs_dilation=dilation,
            dimension_numbers=layout,
            feature_group_count=groups,
        )

    in_canonical_layout = layout in (("NHWC", "HWIO", "NHWC"), ("NWC", "WIO", "NWC"))
    rule = RULES["convolution_layout"]
    assert matched(rule, grouped, x, w) == ([] if in_canonical_layout else ["conv_general_dilated"])
    rewritten = rewritten_by(grouped, "convolution_layout")
    assert matched(rule, rewritten, x, w) == []
    np.testing.assert_allclose(rewritten(x, w), grouped(x, w), rtol=1e-5, atol=1e-5)


def _score(weights, x):
    for w in weights:
        x = jax.nn.relu(
            jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
        )
    return x.sum()


LOOPS = ["fori_loop", "scan", "while_loop", "cond"]
# a fori_loop with static bounds is a scan
PRIMITIVE = {"fori_loop": "scan", "scan": "scan", "while_loop": "while", "cond": "cond"}


def looped_gradients(loop: str):
    """The input gradient of a 2-conv NCHW network, summed over a loop of kind `loop`."""
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

    keys = jax.random.split(jax.random.key(8), 3)
    weights = [jax.random.normal(k, (8, 8, 3, 3)) * 0.2 for k in keys[:2]]
    return looped, weights, jax.random.normal(keys[2], (2, 8, 6, 6))


# -- loops --


@pytest.mark.parametrize("loop", LOOPS)
def test_loops_match_loop_constructs_only(loop):
    looped, weights, x = looped_gradients(loop)
    assert matched(RULES["loops"], looped, weights, x) == [PRIMITIVE[loop]]
    assert matched(RULES["loops"], jax.grad(_score, argnums=1), weights, x) == []


@pytest.mark.parametrize("loop", LOOPS)
def test_convolutions_inside_loops_take_xlas_fast_layout(loop):
    """Inside a loop body, XLA:CPU leaves an input gradient's convolution with its (out, in)
    kernel layout, which it runs as a loop 25x slower; with `loops`, `convolution_layout`
    reaches loop bodies and gives every convolution the (batch, *spatial, C) x
    (*spatial, in, out) layout, same values. Without `loops` it stops at the loop."""
    looped, weights, x = looped_gradients(loop)
    rewritten = rewritten_by(looped, "convolution_layout", "loops")
    assert conv_layouts(rewritten, weights, x) == {"b01f_01io->b01f"}
    assert conv_layouts(rewritten_by(looped, "convolution_layout"), weights, x) != {
        "b01f_01io->b01f"
    }
    want = jax.jit(looped)(weights, x)
    np.testing.assert_allclose(jax.jit(rewritten)(weights, x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        jax.jit(rewritten_by(looped, "loops"))(weights, x), want, rtol=1e-6, atol=1e-6
    )


# -- all of them together --


def test_every_speed_rule_at_once_equals_xla_on_the_cnn_gradient(cnn, images):
    def grads(x):
        return jax.grad(lambda x: cnn.apply(cnn.params, x)[:, 2].sum())(x)

    rewritten = _jaxpr.rewrite(grads, SPEED_RULES)
    np.testing.assert_allclose(
        jax.jit(rewritten)(images), jax.jit(grads)(images), rtol=1e-5, atol=1e-6
    )
