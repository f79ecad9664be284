"""The jv.plot options the lessons need on a projector: attributions over the input at an
opacity that follows their strength, crisp pixels, coarse maps as blocks, outlines, colorbars
with units, and every class in one grid with its probability."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import jaxviz as jv

RNG = np.random.default_rng(0)
DIGIT = RNG.uniform(0, 1, size=(8, 8, 1)).astype(np.float32)


def signed_map():
    values = np.zeros((8, 8), np.float32)
    values[2, 3], values[5, 5], values[6, 1] = 4.0, -2.0, 1.0
    return values


def colorbar_label(figure):
    return next(ax for ax in figure.axes if ax.get_label() == "<colorbar>").get_ylabel() or next(
        ax for ax in figure.axes if ax.get_label() == "<colorbar>").get_xlabel()


def test_overlay_opacity_follows_the_attribution_and_zero_shows_the_input():
    values = signed_map()
    figure = jv.plot.attribution(DIGIT, values, style="overlay", sign="all", clip_percentile=100)
    under, over = figure.axes[0].images
    opacity = np.asarray(over.get_alpha())
    # alpha (default 0.9) times |value| / max|value|: 0 where the map is 0, 0.9 at the maximum.
    np.testing.assert_allclose(opacity, 0.9 * np.abs(values) / 4.0, rtol=1e-6)
    assert opacity[0, 0] == 0 and opacity[2, 3] == pytest.approx(0.9)
    # The input underneath, in gray, lifted off black so dark colours stay visible.
    gray = np.ma.getdata(under.get_array())
    assert gray.min() >= 0.3 - 1e-6 and gray.max() <= 0.85 + 1e-6


def test_alpha_defaults_per_style_and_is_checked():
    blended = jv.plot.attribution(DIGIT, signed_map(), style="blended_heat_map", sign="all")
    assert blended.axes[0].images[1].get_alpha() == 0.5
    with pytest.raises(ValueError, match=r"alpha: expected a number in \[0, 1\] or None"):
        jv.plot.attribution(DIGIT, signed_map(), style="overlay", alpha=2)


@pytest.mark.parametrize("style", ["heat_map", "blended_heat_map", "overlay", "masked_image"])
def test_pixels_are_crisp(style):
    sign = "positive" if style == "masked_image" else "all"
    figure = jv.plot.attribution(DIGIT, signed_map(), style=style, sign=sign)
    assert {image.get_interpolation() for image in figure.axes[0].images} == {"nearest"}
    grid = jv.plot.grid(DIGIT[None], {"m": signed_map()[None]}, style=style, sign=sign)
    assert all(image.get_interpolation() == "nearest" for ax in grid.axes for image in ax.images)
    assert jv.plot.image(DIGIT).axes[0].images[0].get_interpolation() == "nearest"


def test_colorbar_label_says_the_units():
    figure = jv.plot.attribution(DIGIT, signed_map(), sign="all", units="logit units")
    assert colorbar_label(figure) == "attribution (logit units)"
    figure = jv.plot.attribution(DIGIT, signed_map(), sign="absolute")
    assert colorbar_label(figure) == "|attribution|"
    grid = jv.plot.grid(DIGIT[None], {"m": signed_map()[None]}, units="probability")
    assert colorbar_label(grid) == "|attribution| (probability)"
    with pytest.raises(TypeError, match="units: expected a string"):
        jv.plot.attribution(DIGIT, signed_map(), units=3)


def test_a_coarse_map_is_drawn_as_blocks_over_the_whole_input():
    coarse = np.arange(16, dtype=np.float32).reshape(4, 4)
    figure = jv.plot.attribution(DIGIT, coarse, style="overlay", sign="positive")
    over = figure.axes[0].images[1]
    assert over.get_array().shape == (4, 4)
    assert over.get_extent() == [-0.5, 7.5, 7.5, -0.5]  # the input's 8x8 pixels
    masked = jv.plot.attribution(DIGIT, coarse, style="masked_image", sign="positive")
    assert masked.axes[0].images[0].get_array().shape[:2] == (8, 8)
    with pytest.raises(ValueError, match=r"attribution: spatial size \(3, 3\) neither matches"):
        jv.plot.attribution(DIGIT, np.ones((3, 3)))


def test_outline_draws_the_mask_edge_and_checks_its_shape():
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    figure = jv.plot.attribution(DIGIT, signed_map(), style="overlay", outline=mask)
    paths = [p for c in figure.axes[0].collections for p in c.get_paths()]
    vertices = np.concatenate([p.vertices for p in paths])
    # The 0.5 contour of a 4x4 block at rows/columns 2..5 runs between pixels 1.5 and 5.5.
    assert vertices.min() == pytest.approx(1.5) and vertices.max() == pytest.approx(5.5)
    grid = jv.plot.grid(DIGIT[None], {"m": signed_map()[None]}, outlines=mask[None])
    assert grid.axes[1].collections
    with pytest.raises(ValueError, match=r"outline: expected a mask shaped like the image"):
        jv.plot.attribution(DIGIT, signed_map(), outline=np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"outlines: expected one mask per example"):
        jv.plot.grid(DIGIT[None], {"m": signed_map()[None]}, outlines=mask)


def test_per_class_titles_probabilities_marks_and_shares_one_scale():
    maps = np.stack([signed_map() * (c + 1) for c in range(10)])
    probs = np.full(10, 0.02, np.float32)
    probs[7] = 0.82
    figure = jv.plot.per_class(DIGIT, maps, probabilities=probs, label=3, units="logit units",
                               class_names=[f"d{c}" for c in range(10)], clip_percentile=100)
    cells = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    titles = [ax.get_title() for ax in cells]
    assert titles[7] == "d7: p=0.82\n(predicted)" and titles[3] == "d3: p=0.02\n(true)"
    assert cells[7].title.get_color() == "tab:red"  # predicted but not the true class
    assert cells[7].title.get_fontweight() == "bold"
    # One scale for all classes: class 9's map is 10x class 0's, so its opacity is 10x too.
    opacity = [np.asarray(ax.images[1].get_alpha()) for ax in cells]
    np.testing.assert_allclose(opacity[0] * 10, opacity[9], rtol=1e-6)
    assert colorbar_label(figure) == "attribution (logit units)"


def test_per_class_errors_name_the_argument():
    maps = np.stack([signed_map()] * 3)
    with pytest.raises(ValueError, match=r"probabilities: expected one per class, shape \(3,\)"):
        jv.plot.per_class(DIGIT, maps, probabilities=np.ones(4) / 4)
    with pytest.raises(ValueError, match=r"class_names: expected one name per class \(3\)"):
        jv.plot.per_class(DIGIT, maps, class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"label: expected a class in \[0, 3\), got 5"):
        jv.plot.per_class(DIGIT, maps, label=5)
    with pytest.raises(ValueError, match=r"attributions: expected one map per class"):
        jv.plot.per_class(DIGIT, maps[None, None])
