"""The warm-up in a real JupyterLab with a fresh kernel: once the Explorer and the LayerExplorer
have been drawn, their first method switches and their first channel detail are served from
what the background computed, with no computation in the kernel."""

import json

import nbformat
import pytest

from .explorer_helpers import attribution_is_drawn, wait_idle, wait_result

SETUP = """
import numpy as np
import jaxviz as jv
m, data = jv.zoo.load("digits-cnn")
x, y = data.x_test, data.y_test
"""
EXPLORER = """
explorer = jv.Explorer(m, x[:12], labels=y[:12], class_names=data.class_names,
                       method="integrated_gradients")
explorer
"""
# The layer explorer warms only its likeliest channel here (both requests of its detail): the
# test checks the path, not how far a busy machine gets.
LAYERS = """
layers = jv.LayerExplorer(m, x[:8], labels=y[:8], class_names=data.class_names,
                          dataset=x[:300], k=6, feature_steps=64)
layers._warmer.limit = 2
layers
"""
WAIT_S = 600


@pytest.fixture(scope="module")
def page(open_notebook):
    cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, EXPLORER, LAYERS)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    page = open_notebook("lab", nb, name="warm.ipynb")
    page.run_all(timeout_ms=600_000)
    assert not page.cell_errors(), page.cell_errors()
    return page


def served(page, name):
    return json.loads(page.kernel_eval(f"__import__('json').dumps({name}._served)")[1:-1])


def wait_for_warm_up(page, name):
    """Waits (in the kernel) until the widget's warm-up has nothing left to do."""
    assert page.kernel_eval(f"{name}._warming") == "True"  # the front end said it was drawn
    done = page.kernel_eval(f"{name}._warmer.wait_idle({WAIT_S})", timeout=WAIT_S + 30)
    assert done == "True"
    assert page.kernel_eval(f"{name}._warmer.failed") == "0"


def test_first_method_switches_after_the_warm_up_need_no_computation(page):
    root = page.widget("jaxviz-explorer")
    wait_idle(page.page, root)
    wait_for_warm_up(page, "explorer")
    before = served(page, "explorer")
    methods = root.locator("[data-control=method] option").evaluate_all(
        "options => options.map(o => o.value)")
    assert len(methods) == 13  # the ten gradient and CAM methods, LIME, KernelSHAP, LRP
    for method in methods:
        if method == "integrated_gradients":
            continue
        root.locator("[data-control=method]").select_option(method)
        wait_result(page.page, root, method=method)
        assert attribution_is_drawn(page.canvas(root.locator("[data-role=attribution]")))
        if method == "guided_gradcam":
            page.screenshot("warm-explorer-guided-gradcam", root)
    after = served(page, "explorer")
    assert after["computed"] == before["computed"]  # every first visit came from the cache
    assert after["cached"] - before["cached"] == len(methods) - 1
    assert not page.widget_errors()


def test_the_first_channel_detail_after_the_warm_up_needs_no_computation(page):
    root = page.widget("jaxviz-layers")
    wait_for_warm_up(page, "layers")
    before = served(page, "layers")
    brightest = int(page.kernel_eval(
        "int(np.asarray(jv.activations(m, x[:8], layers='conv1'))[0].max(axis=(0, 1)).argmax())"))
    root.locator(f".jv-layers-cell[data-channel='{brightest}']").click()
    detail = root.locator("[data-role=detail]")
    # The feature visualization computed ahead comes with the examples, in the one reply.
    detail.locator("canvas[data-role=feature-visualization]").wait_for(timeout=60_000)
    assert detail.locator("canvas[data-role=top-example]").count() == 6
    assert page.kernel_eval("layers.channel") == str(brightest)
    assert page.kernel_eval("layers.with_feature") == "False"  # no second request was needed
    after = served(page, "layers")
    assert after == {"cached": before["cached"] + 1, "computed": before["computed"]}
    detail.scroll_into_view_if_needed()
    page.screenshot("warm-layers-detail", root)
    assert not page.widget_errors()
