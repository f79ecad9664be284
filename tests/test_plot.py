"""jv.plot draws what _display computes: the arrays inside the figures are checked by hand."""

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import jaxviz as jv
from jaxviz import _display


def drawn(ax, index=-1):
    """The array an axes' image was drawn from."""
    return np.ma.getdata(ax.images[index].get_array())


def tick_labels(colorbar):
    colorbar.ax.figure.canvas.draw()
    axis = colorbar.ax.yaxis if colorbar.orientation == "vertical" else colorbar.ax.xaxis
    return [label.get_text() for label in axis.get_ticklabels()]


@pytest.fixture
def standardized():
    raw = np.random.default_rng(0).uniform(0, 1, size=(6, 5, 3))
    return jnp.asarray((raw - 0.45) / 0.22, dtype=jnp.float32)


def test_standardized_input_is_drawn_as_its_display_normalization(standardized):
    figure = jv.plot.image(standardized, title="input")
    np.testing.assert_array_equal(drawn(figure.axes[0]), _display.display_image(standardized))
    assert drawn(figure.axes[0]).min() == 0 and drawn(figure.axes[0]).max() == 1


def test_blended_heat_map_draws_the_gray_input_under_the_scaled_map(standardized):
    attribution = np.zeros((6, 5, 3))
    attribution[0, 0] = [1.0, 1.0, 2.0]  # channel sum 4
    attribution[1, 1] = [-1.0, 0.0, -1.0]  # channel sum -2
    figure = jv.plot.attribution(standardized, attribution, sign="all", clip_percentile=100)
    ax = figure.axes[0]
    gray = _display.to_grayscale(_display.display_image(standardized))
    np.testing.assert_allclose(drawn(ax, 0), gray)
    expected = np.zeros((6, 5))
    expected[0, 0], expected[1, 1] = 1.0, -0.5  # divided by max |sum| = 4
    np.testing.assert_allclose(drawn(ax, 1), expected)
    heat = ax.images[1]
    assert heat.get_clim() == (-1, 1) and heat.get_cmap().name == "RdBu_r"
    assert heat.get_alpha() == 0.5


@pytest.mark.parametrize(
    "sign, cmap, row",
    [
        ("all", "RdBu_r", [0.25, -0.5, 1.0, 0.0]),
        ("positive", "Reds", [0.25, 0.0, 1.0, 0.0]),
        ("negative", "Blues", [0.0, 1.0, 0.0, 0.0]),  # only -2 is negative: it is its own max
        ("absolute", "viridis", [0.25, 0.5, 1.0, 0.0]),
    ],
)
def test_heat_map_sign_filters_colormaps_and_ranges(sign, cmap, row):
    attribution = np.array([[1.0, -2.0, 4.0, 0.0]])
    figure = jv.plot.attribution(
        None, attribution, style="heat_map", sign=sign, clip_percentile=100
    )
    heat = figure.axes[0].images[0]
    np.testing.assert_allclose(drawn(figure.axes[0]), [row])
    assert heat.get_cmap().name == cmap
    assert heat.get_clim() == ((-1, 1) if sign == "all" else (0, 1))


def test_outlier_clipping_saturates_and_labels_the_colorbar_in_attribution_units():
    attribution = np.array([[1.0, 2.0, 3.0, 100.0]])
    # 50th percentile of [1, 2, 3, 100] = 2.5: 3 and 100 saturate.
    figure = jv.plot.attribution(None, attribution, style="heat_map", clip_percentile=50)
    np.testing.assert_allclose(drawn(figure.axes[0]), [[0.4, 0.8, 1.0, 1.0]])
    colorbar = figure.axes[0].images[0].colorbar
    assert colorbar.extend == "max"
    assert tick_labels(colorbar) == ["0", "1.2", "2.5"]


def test_negative_colorbar_reads_negative_values_and_no_minus_zero():
    figure = jv.plot.attribution(
        None, np.array([[-4.0, 1.0]]), style="heat_map", sign="negative", clip_percentile=100
    )
    colorbar = figure.axes[0].images[0].colorbar
    assert tick_labels(colorbar) == ["0", "-2", "-4"]
    assert colorbar.extend == "neither"


def test_masked_image_zeroes_low_attribution_pixels():
    image = np.full((2, 2, 3), 204, np.uint8)  # 0.8 on display
    attribution = np.array([[0.0, 1.0], [2.0, 4.0]])
    figure = jv.plot.attribution(
        image, attribution, style="masked_image", clip_percentile=100, colorbar=True
    )
    expected = 0.8 * np.array([[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(drawn(figure.axes[0]), np.repeat(expected[..., None], 3, -1))
    assert len(figure.axes) == 1  # a mask has no colorbar


def test_alpha_scaling_puts_the_map_in_the_alpha_channel():
    image = np.array([[0.0, 0.5], [1.0, 0.25]])  # grayscale, drawn as RGB
    attribution = np.array([[0.0, -1.0], [2.0, 4.0]])
    figure = jv.plot.attribution(
        image, attribution, style="alpha_scaling", sign="positive", clip_percentile=100
    )
    rgba = drawn(figure.axes[0])
    np.testing.assert_allclose(rgba[..., 3], [[0.0, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(rgba[..., 0], image)


def test_draws_into_a_given_axes_and_never_touches_pyplot():
    plt.close("all")
    figure = Figure()
    ax = figure.add_subplot()
    assert jv.plot.attribution(np.zeros((3, 3)), np.ones((3, 3)), ax=ax) is figure
    jv.plot.grid(np.zeros((1, 3, 3)), {"a": np.ones((1, 3, 3))})
    jv.plot.feature_bars(np.ones(3))
    jv.plot.sequence(np.ones(3), ["a", "b", "c"])
    assert plt.get_fignums() == []


def test_grid_shared_scale_uses_one_vmax_across_methods():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 4, 4, 1))
    small = rng.uniform(0.1, 1.0, size=(2, 4, 4))
    large = 10 * small
    attributions = {"small": small, "large": large}
    shared = jv.plot.grid(images, attributions, scale="shared", clip_percentile=100)
    axes = np.array(shared.axes[:6]).reshape(2, 3)
    vmax = large.max()
    for row in range(2):
        np.testing.assert_allclose(drawn(axes[row, 1]), small[row] / vmax, rtol=1e-6)
        np.testing.assert_allclose(drawn(axes[row, 2]), large[row] / vmax, rtol=1e-6)
    assert len(shared.axes) == 7  # 2 x 3 cells and one colorbar

    per_method = jv.plot.grid(images, attributions, clip_percentile=100)
    axes = np.array(per_method.axes[:6]).reshape(2, 3)
    for row in range(2):
        np.testing.assert_allclose(drawn(axes[row, 1]), small[row] / small.max(), rtol=1e-6)
        np.testing.assert_allclose(drawn(axes[row, 2]), large[row] / large.max(), rtol=1e-6)
    assert len(per_method.axes) == 8  # one colorbar per method


def test_grid_first_column_is_the_input_with_titles_and_row_labels(standardized):
    images = jnp.stack([standardized, -standardized])
    figure = jv.plot.grid(
        images, {"IG": np.ones((2, 6, 5, 3))}, row_labels=["cat", "dog"], title="compare"
    )
    axes = np.array(figure.axes[:4]).reshape(2, 2)
    np.testing.assert_array_equal(drawn(axes[1, 0]), _display.display_image(-standardized))
    assert [axes[0, 0].get_title(), axes[0, 1].get_title()] == ["input", "IG"]
    assert [axes[0, 0].get_ylabel(), axes[1, 0].get_ylabel()] == ["cat", "dog"]
    assert figure.get_suptitle() == "compare"


def test_grid_errors_name_the_method_and_shape():
    images = np.zeros((2, 4, 4, 3))
    with pytest.raises(
        ValueError, match=r"attributions\['IG'\].*N=2.*\(2, 10, 4, 4, 3\).*attr\[:, 3\]"
    ):
        jv.plot.grid(images, {"IG": np.zeros((2, 10, 4, 4, 3))})
    with pytest.raises(
        ValueError, match=r"spatial size \(3, 3\) neither matches the image's \(4, 4\)"
    ):  # a (2, 2) map would be drawn as 2x2 blocks (Grad-CAM's own grid); (3, 3) cannot be
        jv.plot.grid(images, {"IG": np.zeros((2, 3, 3))})
    with pytest.raises(TypeError, match="attributions: expected a non-empty mapping"):
        jv.plot.grid(images, [np.zeros((2, 4, 4))])
    with pytest.raises(
        ValueError, match=r"scale: expected one of 'shared', 'per_method', got 'global'"
    ):
        jv.plot.grid(images, {"IG": np.zeros((2, 4, 4))}, scale="global")
    with pytest.raises(
        ValueError, match=r"row_labels: expected one label per example \(2\), got 1"
    ):
        jv.plot.grid(images, {"IG": np.zeros((2, 4, 4))}, row_labels=["a"])


def test_feature_bars_are_sorted_by_magnitude_with_the_rest_summed():
    attribution = jnp.array([0.5, -3.0, 2.0, 0.1, -1.0])
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    names = ["a", "b", "c", "d", "e"]
    figure = jv.plot.feature_bars(attribution, values, feature_names=names, top_k=3)
    ax = figure.axes[0]
    bars = sorted(ax.patches, key=lambda bar: bar.get_y())  # top of the chart first
    np.testing.assert_allclose([bar.get_width() for bar in bars], [-3.0, 2.0, -1.0, 0.6])
    figure.canvas.draw()
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == ["b = 2", "c = 3", "e = 5", "2 other features"]
    assert ax.yaxis_inverted()
    signed = plt.get_cmap("RdBu_r")
    assert matplotlib.colors.same_color(bars[0].get_facecolor(), signed(0.15))  # negative: blue
    assert matplotlib.colors.same_color(bars[1].get_facecolor(), signed(0.85))  # positive: red
    assert matplotlib.colors.same_color(bars[3].get_facecolor(), "0.7")
    assert [text.get_text() for text in ax.texts] == ["-3", "+2", "-1", "+0.6"]


def test_feature_bars_without_top_k_add_up_to_the_total():
    attribution = np.random.default_rng(2).normal(size=7)
    ax = jv.plot.feature_bars(attribution, top_k=None).axes[0]
    widths = [bar.get_width() for bar in sorted(ax.patches, key=lambda bar: bar.get_y())]
    assert len(widths) == 7 and np.isclose(sum(widths), attribution.sum())
    assert np.all(np.diff(np.abs(widths)) <= 0)


def test_feature_bars_errors():
    with pytest.raises(ValueError, match=r"got shape \(1, 3\).*attr\[0\]"):
        jv.plot.feature_bars(np.zeros((1, 3)))
    with pytest.raises(
        ValueError, match=r"feature_names: expected one entry per position \(3\), got 1 entries"
    ):
        jv.plot.feature_bars(np.zeros(3), feature_names=["a"])
    with pytest.raises(ValueError, match=r"top_k: expected a positive integer, got 0"):
        jv.plot.feature_bars(np.zeros(3), top_k=0)
    with pytest.raises(
        ValueError, match=r"values: expected the shape of attribution \(3,\), got shape \(4,\)"
    ):
        jv.plot.feature_bars(np.zeros(3), np.zeros(4))


def test_sequence_wraps_cells_and_writes_tokens():
    attribution = np.array([[1.0, 1.0], [-4.0, 0.0], [2.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    tokens = ["a", "b", "c", "d", "averyveryverylongtoken"]
    figure = jv.plot.sequence(attribution, tokens, per_row=3, clip_percentile=100)
    ax = figure.axes[0]
    cells = ax.images[0].get_array()
    assert cells.shape == (2, 3)
    np.testing.assert_allclose(cells.data.ravel()[:5], [0.5, -1.0, 0.5, 0.25, 0.0])
    assert cells.mask.ravel().tolist() == [False] * 5 + [True]  # padding is blank
    assert [text.get_text() for text in ax.texts] == ["a", "b", "c", "d", "averyvery…"]
    assert ax.texts[1].get_color() == "white"  # on the darkest blue


def test_sequence_errors():
    with pytest.raises(
        ValueError, match=r"tokens: expected one entry per position \(3\), got 2 entries"
    ):
        jv.plot.sequence(np.zeros(3), ["a", "b"])
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        jv.plot.sequence(np.zeros((2, 3, 4)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"style": "contour"}, r"style: expected one of 'heat_map', .*, got 'contour'"),
        ({"style": "masked_image", "sign": "all"}, r"sign: style='masked_image' needs one"),
        ({"sign": "all", "channel_reduction": "l2"}, r"sign: 'all' needs signed values"),
        ({"cmap": "not_a_map"}, r"cmap: expected a matplotlib colormap .*got 'not_a_map'"),
        ({"alpha": 1.5}, r"alpha: expected a number in \[0, 1\] or None .*, got 1.5"),
        ({"clip_percentile": 0}, r"clip_percentile: expected .* got 0"),
    ],
)
def test_attribution_option_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jv.plot.attribution(np.zeros((3, 3)), np.ones((3, 3)), **kwargs)


def test_attribution_shape_errors():
    with pytest.raises(
        ValueError, match=r"image: None, but style='blended_heat_map' draws the input"
    ):
        jv.plot.attribution(None, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"got shape \(1, 3, 3, 1\).*attribution\[0\]"):
        jv.plot.attribution(np.zeros((3, 3)), np.ones((1, 3, 3, 1)))
    with pytest.raises(ValueError, match=r"image: expected one image.*\(3, 8, 8\).*channels-first"):
        jv.plot.attribution(np.zeros((3, 8, 8)), np.ones((8, 8)))
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes or None, got str"):
        jv.plot.attribution(np.zeros((3, 3)), np.ones((3, 3)), ax="left")


def test_figures_show_themselves_in_notebooks_as_png():
    # Without pyplot, a notebook can only show the figure through its own _repr_png_.
    figure = jv.plot.feature_bars(np.array([1.0, -2.0]))
    assert isinstance(figure, Figure)
    png = figure._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


def test_the_core_outputs_plot_as_they_are():
    # A tiny NNX CNN: input methods give (N, H, W, C) jax arrays, Grad-CAM (N, H, W).
    from flax import nnx

    class Tiny(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(1, 4, (3, 3), rngs=rngs)
            self.head = nnx.Linear(4 * 36, 3, rngs=rngs)

        def __call__(self, x):
            h = nnx.relu(self.conv(x))
            return self.head(h.reshape(h.shape[0], -1))

    model = jv.wrap(Tiny(nnx.Rngs(0)))
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 6, 6, 1)), jnp.float32)
    attributions = {
        "saliency": jv.saliency(model, x),
        "Grad-CAM": jv.gradcam(model, x, layer="conv"),
    }
    figure = jv.plot.grid(x, attributions, sign="all", clip_percentile=100)
    axes = np.array(figure.axes[:6]).reshape(2, 3)
    for column, values in enumerate(attributions.values(), start=1):
        maps = np.asarray(values).reshape(2, 6, 6)
        np.testing.assert_allclose(drawn(axes[1, column]), maps[1] / np.abs(maps).max(), rtol=1e-5)


def test_sequence_without_tokens_labels_rows_by_their_start_position():
    ax = jv.plot.sequence(np.arange(50.0), per_row=20).axes[0]
    ax.figure.canvas.draw()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0", "20", "40"]
    assert ax.images[0].get_array().shape == (3, 20)
