"""Every user mistake gets an error naming the argument, the value seen and what is allowed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv


def test_input_of_the_wrong_shape_for_the_model(cnn):
    with pytest.raises(
        ValueError, match=r"x: the model cannot take an input of shape \(2, 8, 8, 5\)"
    ):
        jv.saliency(cnn, jnp.ones((2, 8, 8, 5)))
    with pytest.raises(ValueError, match=r"x: the model cannot take an input of shape \(8, 8, 3\)"):
        jv.saliency(cnn, jnp.ones((8, 8, 3)))  # a single example without its batch axis


def test_non_float_input(cnn):
    with pytest.raises(TypeError, match="x: expected a floating-point array .* got dtype uint8"):
        jv.integrated_gradients(cnn, np.zeros((1, 8, 8, 3), np.uint8))


def test_nan_or_inf_in_the_input(cnn, images):
    bad = np.array(images)
    bad[0, 1, 2, 0], bad[1, 0, 0, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match="x: contains 2 NaN or infinite"):
        jv.saliency(cnn, bad)


def test_target_out_of_range_or_of_the_wrong_length(cnn, images):
    with pytest.raises(
        ValueError, match=r"target: class 5 is out of range; the model has 5 classes \(0 to 4\)"
    ):
        jv.saliency(cnn, images, target=5)
    with pytest.raises(ValueError, match=r"target: class -1 is out of range"):
        jv.saliency(cnn, images, target=jnp.array([0, 1, 2, 3, 4, -1]))
    with pytest.raises(
        ValueError, match=r"target: expected one class per example \(6 of them\), got shape \(4,\)"
    ):
        jv.saliency(cnn, images, target=[0, 1, 2, 3])
    with pytest.raises(
        ValueError, match="target: expected None, an int, an int array or 'all', got 'every'"
    ):
        jv.saliency(cnn, images, target="every")
    with pytest.raises(TypeError, match="target: expected integer class indices"):
        jv.saliency(cnn, images, target=1.5)


def test_unknown_layer_lists_the_valid_ones(cnn, images):
    with pytest.raises(
        ValueError,
        match="layer: unknown layer 'conv9'; the model's layers are: conv1, conv2, dense",
    ):
        jv.gradcam(cnn, images, layer="conv9")
    with pytest.raises(ValueError, match="layers: unknown layer 'pool'"):
        jv.activations(cnn, images, ["conv1", "pool"])


def test_layer_method_on_a_layer_without_spatial_axes(cnn, images):
    with pytest.raises(
        ValueError,
        match=r"gradcam needs a layer with spatial axes .* 'dense' has output shape \(6, 5\). "
        r"Layers with spatial axes: conv1, conv2",
    ):
        jv.gradcam(cnn, images, layer="dense")


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_steps_and_batch_size_below_one_or_not_integers(cnn, images, value):
    with pytest.raises(ValueError, match=f"steps: expected a positive integer, got {value!r}"):
        jv.integrated_gradients(cnn, images, steps=value)
    with pytest.raises(ValueError, match=f"batch_size: expected a positive integer, got {value!r}"):
        jv.saliency(cnn, images, batch_size=value)


def test_baseline_that_does_not_broadcast(cnn, images):
    with pytest.raises(
        ValueError,
        match=r"baseline: shape \(5, 3\) does not broadcast to the input.s shape \(6, 8, 8, 3\)",
    ):
        jv.integrated_gradients(cnn, images, baseline=jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"baseline: shape \(4, 8, 8, 3\) does not broadcast"):
        jv.layer_integrated_gradients(cnn, images, layer="conv1", baseline=jnp.zeros((4, 8, 8, 3)))


def test_model_output_that_is_not_batch_by_classes():
    with pytest.raises(
        ValueError,
        match=r"model: expected logits of shape \(batch, classes\) = \(3, C\) .* got shape \(3,\)",
    ):
        jv.saliency(jv.wrap(lambda x: x.sum(1)), jnp.ones((3, 4)))
    with pytest.raises(ValueError, match=r"got shape \(1, 4\)"):
        jv.saliency(jv.wrap(lambda x: x.sum(0, keepdims=True)), jnp.ones((3, 4)))


def test_model_that_is_not_differentiable():
    with pytest.raises(
        TypeError, match="model: its output has dtype int32, which is not differentiable"
    ):
        jv.saliency(jv.wrap(lambda x: jnp.round(x).astype(jnp.int32)), jnp.ones((3, 4)))
    with pytest.raises(
        TypeError, match="model: it is not differentiable by JAX: it turns traced values into NumPy"
    ):
        jv.saliency(jv.wrap(lambda x: jnp.asarray(np.asarray(x) * 2)), jnp.ones((3, 4)))


def test_random_methods_without_a_key(cnn, images):
    with pytest.raises(
        TypeError,
        match=r"key: smoothgrad draws random samples and needs a key, "
        r"e\.g\. key=jax\.random\.key\(0\)",
    ):
        jv.smoothgrad(cnn, images)
    with pytest.raises(TypeError, match="key: expected_gradients draws random samples"):
        jv.expected_gradients(cnn, images, baselines=images)
    legacy = jax.random.PRNGKey(0)  # raw uint32 keys are accepted too
    assert jv.smoothgrad(cnn, images, key=legacy, samples=2).shape == images.shape


def test_unknown_options_name_the_allowed_values(cnn, images):
    with pytest.raises(
        ValueError, match="quadrature: expected one of 'riemann_left', .* got 'simpson'"
    ):
        jv.integrated_gradients(cnn, images, quadrature="simpson")
    with pytest.raises(
        ValueError, match="mode: expected one of 'grad', 'abs', 'grad_x_input', got 'gradient'"
    ):
        jv.saliency(cnn, images, mode="gradient")
    with pytest.raises(ValueError, match="kind: expected one of"):
        jv.smoothgrad(cnn, images, kind="mean", key=jax.random.key(0))
    with pytest.raises(ValueError, match="neuron: expected a tuple of 3 ints"):
        jv.neuron_gradient(cnn, images, layer="conv2", neuron=4)
    with pytest.raises(ValueError, match="window: expected a positive int"):
        jv.occlusion(cnn, images, window=0)
    with pytest.raises(
        ValueError, match=r"baselines: expected a set of references shaped \(references, 8, 8, 3\)"
    ):
        jv.expected_gradients(cnn, images, baselines=jnp.zeros((8, 8, 3)), key=jax.random.key(0))


def test_wrap_errors():
    import flax.linen as nn

    with pytest.raises(TypeError, match="variables: a flax.linen module needs its variables"):
        jv.wrap(nn.Dense(3))
    with pytest.raises(
        TypeError,
        match="model: expected a flax.nnx.Module, a flax.linen.Module or a function, got int",
    ):
        jv.wrap(3)


def test_calling_inside_a_trace_is_refused(cnn, images):
    with pytest.raises(TypeError, match="x: jaxviz functions compile themselves"):
        jax.jit(lambda x: jv.saliency(cnn, x))(images)
