"""LayerExplorer and Projector in a real JupyterLab with a real kernel, on the zoo's digits-cnn."""

import json
import time

import nbformat
import numpy as np
import pytest

SETUP = """
import numpy as np
import jaxviz as jv
from jaxviz import _display, _layer_display
from jaxviz.widgets._payload import colormap_lut
m, data = jv.zoo.load("digits-cnn")
x, y = data.x_test, data.y_test
"""
EXPLORER = """
explorer = jv.LayerExplorer(m, x[:8], labels=y[:8], class_names=data.class_names,
                            dataset=x[:300], k=6, feature_steps=64)
explorer
"""
PROJECTOR = """
projector = jv.Projector(m, x[:300], y[:300], class_names=data.class_names)
projector
"""
# The colour the explorer must draw at the centre of each cell of `conv2` for input 2: the value
# from jv.activations, scaled as _layer_display decides and looked up in the same colormap.
EXPECTED_COLORS = """
def expected_colors(layer, input_index):
    values = np.asarray(jv.activations(m, x[:8], layers=layer))[input_index]
    sign = _layer_display.activation_sign(np.asarray(jv.activations(m, x[:8], layers=layer)))
    scale = _layer_display.activation_scale(values, sign)
    shown = _display.normalize_attribution(values, sign=sign, scale=scale)
    t = (shown + 1) / 2 if sign == "all" else shown
    lut = colormap_lut(_display.DEFAULT_COLORMAPS[sign])
    return lut[np.clip(np.rint(t * 255), 0, 255).astype(int)][..., :3].tolist()
"""


@pytest.fixture(scope="module")
def page(open_notebook):
    cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, EXPECTED_COLORS, EXPLORER, PROJECTOR)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    page = open_notebook("lab", nb, name="layers.ipynb")
    page.run_all(timeout_ms=600_000)
    return page


def _press(slider, *keys):
    """Moves a slider with the keyboard, as a person would."""
    slider.focus()
    for key in keys:
        slider.press(key)


def _wait_for_kernel(page, expression, expected, timeout=60.0):
    """Waits until `expression` in the kernel reprs as `expected`: the browser's change reaches
    the kernel over the widget's comm, which another client's request can overtake."""
    deadline = time.monotonic() + timeout
    while (value := page.kernel_eval(expression)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value == expected


def _cell_centres(page, cells, size):
    """RGB at the centre of every map pixel of each channel canvas: (channels, h, w, 3)."""
    out = []
    for i in range(cells.count()):
        pixels = page.canvas(cells.nth(i))
        step = pixels.shape[0] // size
        out.append(pixels[step // 2::step, step // 2::step, :3])
    return np.stack(out)


def test_layer_explorer_draws_the_activations_and_opens_a_channel(page):
    root = page.widget("jaxviz-layers")
    channels = root.locator("[data-role=channels] canvas[data-role=channel]")
    assert channels.count() == 16  # conv1 has 16 channels
    page.screenshot("layers-explorer-conv1", root)

    layer = root.locator("[data-control=layer]")
    _press(layer, "ArrowRight")
    page.page.wait_for_function(
        "el => el.querySelectorAll('[data-role=channels] canvas').length === 32",
        arg=root.element_handle(), timeout=10_000)
    _wait_for_kernel(page, "explorer.layer", "'conv2'")

    _press(root.locator("[data-control=input]"), "ArrowRight", "ArrowRight")
    _wait_for_kernel(page, "explorer.input_index", "2")
    drawn = _cell_centres(page, channels, 8)
    # expected_colors gives (h, w, channels, 3); the canvases are one per channel.
    expected = np.array(json.loads(
        page.kernel_eval("__import__('json').dumps(expected_colors('conv2', 2))")[1:-1]))
    expected = expected.transpose(2, 0, 1, 3)
    assert drawn.shape == expected.shape
    assert np.abs(drawn.astype(int) - expected).max() <= 1
    page.screenshot("layers-explorer-conv2", root)

    started = time.perf_counter()
    root.locator(".jv-layers-cell").nth(5).click()
    detail = root.locator("[data-role=detail]")
    detail.locator("canvas[data-role=feature-visualization]").wait_for(timeout=300_000)
    seconds = time.perf_counter() - started
    assert detail.locator("canvas[data-role=top-example]").count() == 6
    assert detail.locator("canvas[data-role=patch]").count() == 6
    assert detail.locator("canvas[data-role=backprojection]").count() == 6
    assert detail.locator("canvas[data-role=channel-overlay]").count() == 1
    assert detail.locator("canvas[data-role=channel-map]").count() == 1
    _wait_for_kernel(page, "explorer.channel", "5")
    top = json.loads(page.kernel_eval("__import__('json').dumps(explorer.detail['top_indices'])")[1:-1])
    expected_top = json.loads(page.kernel_eval(
        "__import__('json').dumps(np.asarray(jv.top_activating(m, x[:300], layer='conv2', k=6)"
        ".indices[5]).tolist())")[1:-1])
    assert top == expected_top
    overlay = page.canvas(detail.locator("canvas[data-role=channel-overlay]"))
    assert overlay[..., :3].std() > 5  # a map over a digit, not a blank
    detail.scroll_into_view_if_needed()
    page.screenshot("layers-explorer-detail", detail)
    (page.artifacts / "layers-timing.json").write_text(json.dumps({"detail_seconds": seconds}))

    _press(layer, "ArrowRight")  # a dense layer: one heat strip of neurons, the detail closed
    page.page.wait_for_function(
        "el => el.querySelector('[data-role=detail]').hidden", arg=root.element_handle(),
        timeout=10_000)
    assert root.locator("canvas[data-role=channel]").count() == 1
    page.screenshot("layers-explorer-dense", root)
    assert not page.widget_errors()


def test_projector_moves_through_layers(page):
    root = page.widget("jaxviz-projector")
    canvas = root.locator("canvas[data-role=projection]")
    first = page.canvas(canvas)
    assert root.locator("[data-role=title]").inner_text().startswith("input:")
    page.screenshot("projector-input", root)

    layer = root.locator("[data-control=layer]")
    _press(layer, "End")
    page.page.wait_for_timeout(600)  # the points glide to their new places
    _wait_for_kernel(page, "projector.layer", "'logits'")
    moved = page.canvas(canvas)
    assert np.abs(moved.astype(int) - first.astype(int)).sum() > 0
    assert root.locator("[data-role=title]").inner_text().startswith("logits:")
    page.screenshot("projector-logits", root)

    box = canvas.bounding_box()
    # Hover the drawn point nearest the canvas centre: its input appears beside the plot.
    alpha = moved[..., 3]
    rows, cols = np.nonzero(alpha > 200)
    scale = box["width"] / moved.shape[1]
    pick = np.argmin((rows - moved.shape[0] / 2) ** 2 + (cols - moved.shape[1] / 2) ** 2)
    page.page.mouse.move(box["x"] + cols[pick] * scale, box["y"] + rows[pick] * scale)
    root.locator("[data-role=hover]", has_text="example #").wait_for(timeout=5_000)
    assert page.canvas(root.locator("canvas[data-role=thumbnail]"))[..., 3].max() == 255

    root.locator("[data-control=color] button", has_text="k-means").click()
    assert root.locator("canvas[data-role=prototype]").count() == 10
    _wait_for_kernel(page, "projector.color_by", "'cluster'")
    page.screenshot("projector-clusters", root)
    assert not page.widget_errors()
