"""wrap(): the three model kinds give the same numbers, layers and taps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv

KINDS = ("nnx", "linen", "function")


def test_three_kinds_give_the_same_logits(cnn_models, images):
    reference = cnn_models["function"](images)
    for kind in KINDS:
        assert cnn_models[kind].kind == kind
        np.testing.assert_allclose(cnn_models[kind](images), reference, rtol=1e-5, atol=1e-5)


def test_layers_in_forward_order_with_shapes(cnn_models, images):
    for kind in KINDS:
        m = cnn_models[kind]
        shapes = m.layer_shapes(images)
        assert m.layers == ("conv1", "conv2", "dense")
        assert [s.shape for s in shapes.values()] == [(6, 8, 8, 6), (6, 8, 8, 8), (6, 5)]


def test_forward_order_is_call_order_not_definition_order():
    class Reversed(nnx.Module):
        def __init__(self, rngs):
            self.late = nnx.Linear(4, 3, rngs=rngs)
            self.early = nnx.Linear(5, 4, rngs=rngs)

        def __call__(self, x):
            return self.late(nnx.relu(self.early(x)))

    m = jv.wrap(Reversed(nnx.Rngs(0)))
    assert m.layers == ("late", "early")  # definition order before any input
    m(jnp.ones((2, 5)))
    assert m.layers == ("early", "late")


def test_plain_function_needs_an_input_to_know_its_layers():
    m = jv.wrap(lambda x: checkpoint_name(x * 2.0, "double") @ jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="example=x"):
        m.layers
    m(jnp.ones((1, 3)))
    assert m.layers == ("double",)


def test_taps_give_activations_and_layer_gradients_under_jit_and_vmap(cnn_models, images, weights):
    conv1 = (
        jax.lax.conv_general_dilated(
            images,
            weights["conv1"]["kernel"],
            (1, 1),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        + weights["conv1"]["bias"]
    )
    for kind in KINDS:
        m = cnn_models[kind]

        @jax.jit
        def tapped(params, x):
            zeros = jnp.zeros((x.shape[0], 8, 8, 6))
            return m.apply(params, x, {"conv1": zeros})[1]["conv1"]

        np.testing.assert_allclose(tapped(m.params, images), conv1, rtol=1e-5, atol=1e-5)
        per_example = jax.vmap(lambda x: tapped(m.params, x[None])[0])(images)
        np.testing.assert_allclose(per_example, conv1, rtol=1e-5, atol=1e-5)


def test_gradient_through_a_tap_matches_finite_differences(cnn_models, images):
    """d(score)/d(delta at conv2) by the tap, against a central difference on one unit."""
    index = (0, 3, 4, 5)
    for kind in KINDS:
        m = cnn_models[kind]

        def score(delta):
            return m.apply(m.params, images, {"conv2": delta})[0][:, 2].sum()

        zeros = jnp.zeros((6, 8, 8, 8))
        grad = jax.grad(score)(zeros)[index]
        eps = 1e-2
        bump = zeros.at[index].set(eps)
        numeric = (score(bump) - score(-bump)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=1e-4)


def test_nonzero_delta_replaces_the_layer_output(cnn_models, images):
    m = cnn_models["linen"]
    acts = jv.activations(m, images, "conv2")
    replacement = jnp.zeros_like(acts)
    logits, _ = m.apply(m.params, images, {"conv2": replacement - acts})
    # conv2 output all zeros: relu(0) = 0, pooled zeros, logits are the dense bias
    np.testing.assert_allclose(
        logits, jnp.broadcast_to(m.params["dense"]["bias"], logits.shape), atol=1e-5
    )


def test_layer_params_and_gradients_by_layer(cnn_models, weights):
    for kind in ("nnx", "linen"):
        m = cnn_models[kind]
        np.testing.assert_array_equal(m.layer_params("conv2")["kernel"], weights["conv2"]["kernel"])
        assert m.layer_params("not-a-layer") == {}
    assert cnn_models["function"].layer_params("conv1") == {}


def test_wrap_does_not_change_the_users_module():
    net = nnx.Sequential(nnx.Linear(3, 3, rngs=nnx.Rngs(0)), nnx.Dropout(0.9, rngs=nnx.Rngs(1)))
    m = jv.wrap(net)
    x = jnp.ones((4, 3))
    np.testing.assert_array_equal(m(x), m(x))  # evaluation mode: dropout is off
    assert net.layers[1].deterministic is False


def test_nested_nnx_modules_in_lists_are_tappable():
    class Stack(nnx.Module):
        def __init__(self, rngs):
            self.blocks = nnx.List([nnx.Linear(4, 4, rngs=rngs) for _ in range(2)])
            self.head = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            for block in self.blocks:
                x = nnx.relu(block(x))
            return self.head(x)

    m = jv.wrap(Stack(nnx.Rngs(0)), example=jnp.ones((1, 4)))
    assert m.layers == ("blocks.0", "blocks.1", "head")
    assert jv.activations(m, jnp.ones((2, 4)), "blocks.1").shape == (2, 4)


def test_linen_call_kwargs_and_batch_norm_statistics():
    import flax.linen as nn

    class WithNorm(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = nn.BatchNorm(use_running_average=not train, name="norm")(x)
            return nn.Dense(2, name="head")(x)

    module = WithNorm()
    variables = module.init(jax.random.key(0), jnp.ones((2, 3)), train=False)
    m = jv.wrap(module, variables, call_kwargs={"train": False})
    x = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(m(x), module.apply(variables, x, train=False), rtol=1e-6)
    assert m.layers == ("norm", "head")
