"""The display logic shared by plots and widgets: numbers checked by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxviz import _display as display


def test_uint8_image_is_divided_by_255():
    image = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    np.testing.assert_allclose(display.display_image(image), [[0, 0.2], [0.4, 1.0]], rtol=1e-6)


def test_unit_range_image_is_shown_as_is():
    # A dark image stays dark: no stretching of inputs already in [0, 1].
    image = np.random.default_rng(0).uniform(0.1, 0.4, size=(5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(display.display_image(image), image)


def test_standardized_image_keeps_its_contrast():
    rng = np.random.default_rng(1)
    raw = rng.uniform(0, 1, size=(8, 8, 3)).astype(np.float32)
    standardized = (raw - raw.mean()) / raw.std()  # negatives, values beyond 1
    shown = display.display_image(standardized)
    # Affine in the input: the same picture as the raw image rescaled by its own min/max.
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(shown, expected, atol=1e-5)
    assert shown.min() == 0 and shown.max() == 1
    # Nothing clipped: only the one darkest and the one brightest value sit at the ends.
    assert (shown == 0).sum() == 1 and (shown == 1).sum() == 1


def test_imagenet_normalized_image_keeps_channel_relations():
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    raw = np.random.default_rng(2).uniform(0, 1, size=(4, 4, 3)).astype(np.float32)
    shown = display.display_image((raw - mean) / std)
    # One transform for all channels: the red-minus-green difference keeps its sign per pixel.
    normalized = (raw - mean) / std
    assert np.array_equal(
        np.sign(shown[..., 0] - shown[..., 1]), np.sign(normalized[..., 0] - normalized[..., 1])
    )


def test_float_0_to_16_digits_use_the_full_range():
    digits = np.array([[0.0, 8.0], [4.0, 16.0]])
    np.testing.assert_allclose(display.display_image(digits), [[0, 0.5], [0.25, 1]])


def test_grayscale_channel_axis_is_dropped_and_jax_bfloat16_accepted():
    image = jnp.array([[[0.0], [0.5]], [[0.25], [1.0]]], dtype=jnp.bfloat16)
    shown = display.display_image(image)
    assert shown.shape == (2, 2) and shown.dtype == np.float32
    np.testing.assert_allclose(shown, [[0, 0.5], [0.25, 1]])


def test_constant_image_outside_unit_range_is_mid_gray():
    np.testing.assert_array_equal(display.display_image(np.full((2, 3), -2.0)), 0.5)


def test_to_grayscale_uses_luma_weights():
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    np.testing.assert_allclose(display.to_grayscale(rgb), [[0.299, 0.587, 0.114]], rtol=1e-6)


@pytest.mark.parametrize(
    "shape, hint",
    [((1, 8, 8, 3), "image[0]"), ((3, 16, 16), "channels-first"), ((8, 8, 4), "(H, W, 3)")],
)
def test_image_shape_errors_name_the_shape_and_the_fix(shape, hint):
    with pytest.raises(ValueError, match="image: expected one image") as error:
        display.display_image(np.zeros(shape))
    assert str(shape) in str(error.value) and hint in str(error.value)


def test_non_finite_and_non_numeric_images_are_refused():
    with pytest.raises(ValueError, match=r"image: contains 1 NaN or infinite value\(s\) of 4"):
        display.display_image(np.array([[0.0, np.nan], [0.5, 1.0]]))
    with pytest.raises(TypeError, match="expected real numbers.*<U1"):
        display.display_image(np.array([["a", "b"]]))


def test_channel_reductions():
    attribution = np.array([3.0, -4.0])
    assert display.reduce_channels(attribution, "sum") == pytest.approx(-1.0)
    assert display.reduce_channels(attribution, "abs_sum") == pytest.approx(7.0)
    assert display.reduce_channels(attribution, "l2") == pytest.approx(5.0)
    with pytest.raises(
        ValueError, match=r"channel_reduction: expected one of 'sum', 'abs_sum', 'l2', got 'mean'"
    ):
        display.reduce_channels(attribution, "mean")


def test_attribution_map_checks_shape_against_the_image():
    assert display.attribution_map(np.ones((4, 5, 3)), image_size=(4, 5)).shape == (4, 5)
    with pytest.raises(
        ValueError, match=r"spatial size \(2, 2\) does not match the image's \(4, 5\)"
    ):
        display.attribution_map(np.ones((2, 2)), image_size=(4, 5))
    with pytest.raises(ValueError, match=r"got shape \(1, 4, 5, 3\).*attribution\[0\]"):
        display.attribution_map(np.ones((1, 4, 5, 3)))


def test_sign_filters():
    values = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(display.signed_part(values, "all"), values)
    np.testing.assert_array_equal(display.signed_part(values, "positive"), [0, 0, 0, 1, 3])
    np.testing.assert_array_equal(display.signed_part(values, "negative"), [2, 1, 0, 0, 0])
    np.testing.assert_array_equal(display.signed_part(values, "absolute"), [2, 1, 0, 1, 3])
    with pytest.raises(ValueError, match=r"sign: expected one of .*'all', got 'absolute_value'"):
        display.signed_part(values, "absolute_value")


def test_scale_is_the_percentile_of_the_shown_nonzero_magnitudes():
    values = np.array([0.0, 0.0, -4.0, 1.0, 2.0, 3.0])
    # positive part, zeros left out: [1, 2, 3]; 75th percentile = 2 + 0.5 * (3 - 2)
    assert display.attribution_scale(values, sign="positive", clip_percentile=75) == 2.5
    # magnitudes [1, 2, 3, 4]; 75th percentile: position 2.25 -> 3 + 0.25 * (4 - 3)
    assert display.attribution_scale(values, sign="absolute", clip_percentile=75) == 3.25
    assert display.attribution_scale(values, sign="all", clip_percentile=75) == 3.25
    assert display.attribution_scale(values, sign="negative", clip_percentile=99) == 4.0
    assert display.attribution_scale(values, sign="all", clip_percentile=100) == 4.0
    assert display.attribution_scale(np.zeros(3), sign="all") == 0.0


def test_normalize_clips_outliers_to_the_sign_range():
    values = np.array([-4.0, -1.0, 0.0, 1.0, 3.0])
    np.testing.assert_allclose(
        display.normalize_attribution(values, sign="all", scale=2.0), [-1, -0.5, 0, 0.5, 1]
    )
    np.testing.assert_allclose(
        display.normalize_attribution(values, sign="negative", scale=2.0), [1, 0.5, 0, 0, 0]
    )
    np.testing.assert_array_equal(display.normalize_attribution(values, sign="all", scale=0.0), 0)


def test_pair_style_grayscale_agrees_when_no_zeros():
    # PAIR saliency's VisualizeImageGrayscale: abs-sum channels, scale by the 99th percentile.
    attribution = np.random.default_rng(3).normal(size=(16, 16, 3))
    reduced = display.attribution_map(attribution, reduction="abs_sum")
    scale = display.attribution_scale(reduced, sign="absolute", clip_percentile=99)
    ours = display.normalize_attribution(reduced, sign="absolute", scale=scale)
    image_2d = np.abs(attribution).sum(axis=2)
    pair = np.clip(image_2d / np.percentile(image_2d, 99), 0, 1)
    np.testing.assert_allclose(ours, pair, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 101, "99", True, float("nan")])
def test_clip_percentile_validation(bad):
    with pytest.raises(ValueError, match=r"clip_percentile: expected a number in \(0, 100\].*got"):
        display.attribution_scale(np.ones(3), clip_percentile=bad)


def test_unsigned_reduction_refuses_signed_views():
    display.check_sign_for_reduction("absolute", "l2")
    with pytest.raises(ValueError, match=r"sign: 'all' needs signed values.*'l2'"):
        display.check_sign_for_reduction("all", "l2")
