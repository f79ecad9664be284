"""jv.Explorer in a real JupyterLab 4 and Notebook 7: notebooks/02_explorer.ipynb, run for real.

One notebook run per app (module-scoped), then each check drives the digits-cnn Explorer and
asserts both the canvas pixels and the kernel-side traits.
"""

import random
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from .explorer_helpers import (
    CLASS_CLICK_JS,
    attribution_is_drawn,
    canvas_hash,
    rapid_slider_moves,
    wait_idle,
    wait_result,
)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_explorer.ipynb"
HOSTILE = "<img src=x onerror=alert(1)>"
# Appended to the lesson for the test: a Grad-CAM Explorer on shapes (the lesson draws shapes
# statically), then a class name that would run script if it were markup.
SHAPES_CELL = """shapes_model, shapes = jv.zoo.load("shapes-cnn")
jv.Explorer(shapes_model, shapes.x_test[:16], labels=shapes.y_test[:16],
            class_names=shapes.class_names, method="gradcam")"""
HOSTILE_CELL = f"""hostile = jv.Explorer(
    model, digits.x_test[:3], class_names=[{HOSTILE!r}] * 10, method="saliency"
)
hostile"""
APPS = ["lab", "notebook"]


@pytest.fixture(scope="module", params=APPS)
def session(request, open_notebook):
    app = request.param
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The page writer has its own browser test (test_explorer_page.py); skip its slow cell here.
    nb.cells = [c for c in nb.cells if "to_html" not in c.source]
    nb.cells += [nbformat.v4.new_code_cell(SHAPES_CELL), nbformat.v4.new_code_cell(HOSTILE_CELL)]
    page = open_notebook(app, nb, name=f"02_explorer_{app}.ipynb")
    page.dialogs = []
    page.page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.run_all()
    assert not page.cell_errors(), page.cell_errors()
    roots = page.page.locator(".jaxviz-explorer")
    roots.nth(3).wait_for(state="visible", timeout=60_000)
    page.app = app
    page.digits = roots.nth(0)
    wait_idle(page.page, page.digits)
    return page


def shot(session, name, locator=None):
    return session.screenshot(f"explorer-{session.app}-{name}", locator)


def test_renders_every_explorer_of_the_lesson_and_one_on_shapes(session):
    roots = session.page.locator(".jaxviz-explorer")
    assert roots.count() == 4
    digits, cancer, shapes = roots.nth(0), roots.nth(1), roots.nth(2)
    assert attribution_is_drawn(session.canvas(digits.locator("[data-role=attribution]")))
    assert attribution_is_drawn(session.canvas(digits.locator("[data-role=input]")))
    assert digits.locator("[data-index]").count() == 24
    wait_result(session.page, shapes, method="gradcam")
    assert attribution_is_drawn(session.canvas(shapes.locator("[data-role=attribution]")))
    features = cancer.locator("[data-role=attribution] .jv-feature")
    assert features.count() == 11  # the top 10 features and "20 other features"
    assert re.search(r"\d+ other features", features.nth(10).inner_text())
    shot(session, "digits", digits)
    shot(session, "shapes", shapes)
    shot(session, "cancer", cancer)
    assert not session.widget_errors()


def test_a_class_click_redraws_in_the_browser_without_the_kernel(session):
    root = session.digits
    requests_before = session.kernel_eval("explorer._request_id")
    clicked = root.evaluate(CLASS_CLICK_JS)
    # Read in the same task as the click: no kernel message can have been handled in between.
    assert clicked["before"] != clicked["after"]
    assert clicked["shown"] == clicked["clicked"]
    session.page.wait_for_timeout(300)
    assert session.kernel_eval("explorer.target") == str(clicked["clicked"])  # the trait synced
    assert session.kernel_eval("explorer._request_id") == requests_before  # nothing recomputed
    root.locator("[data-control=class]").select_option("-1")  # back to the predicted class


def test_method_and_input_changes_reach_the_kernel_and_redraw(session):
    root, page = session.digits, session.page
    before = canvas_hash(root)
    root.locator("[data-control=method]").select_option("saliency")
    wait_result(page, root, method="saliency")
    assert canvas_hash(root) != before
    assert session.kernel_eval("explorer.method") == "'saliency'"

    before, input_before = canvas_hash(root), canvas_hash(root, "input")
    root.locator("[data-index='5']").click()
    wait_result(page, root, index=5)
    assert canvas_hash(root) != before and canvas_hash(root, "input") != input_before
    assert session.kernel_eval("explorer.index") == "5"

    slider = root.locator("[data-control=input]")  # the arrow keys move the input slider
    slider.focus()
    slider.press("ArrowRight")
    wait_result(page, root, index=6)
    assert session.kernel_eval("explorer.index") == "6"


def test_the_layer_control_works_for_gradcam(session):
    root, page = session.digits, session.page
    layer = root.locator("[data-control=layer]")
    root.locator("[data-control=method]").select_option("integrated_gradients")
    wait_result(page, root, method="integrated_gradients")
    assert not layer.is_visible()  # only layer methods show it
    root.locator("[data-control=method]").select_option("gradcam")
    wait_result(page, root, method="gradcam")
    assert layer.is_visible()
    layers = layer.locator("option").all_inner_texts()
    assert len(layers) >= 2
    other = next(name for name in layers if name != layer.input_value())
    before = canvas_hash(root)
    layer.select_option(other)
    wait_idle(page, root)
    assert session.kernel_eval("explorer.layer") == repr(other)
    assert canvas_hash(root) != before
    shot(session, "gradcam-layer", root)


def test_a_bad_option_shows_an_inline_error_and_the_widget_keeps_working(session):
    root, page = session.digits, session.page
    root.locator("[data-control=method]").select_option("smoothgrad")
    wait_result(page, root, method="smoothgrad")
    noise = root.locator("[data-control=noise]")
    noise.fill("-1")
    noise.dispatch_event("change")
    error = root.locator("[data-role=error]")
    error.wait_for(state="visible", timeout=60_000)
    assert "noise" in error.inner_text() and "-1" in error.inner_text()
    shot(session, "error", root)

    clicked = root.evaluate(CLASS_CLICK_JS)  # still answers in the browser
    assert clicked["before"] != clicked["after"]
    noise.fill("0.2")
    noise.dispatch_event("change")
    wait_idle(page, root)
    assert not error.is_visible()
    assert session.kernel_eval("explorer.noise") == "0.2"
    root.locator("[data-control=class]").select_option("-1")


def test_fifty_rapid_slider_moves_end_on_the_last_one(session):
    root, page = session.digits, session.page
    root.locator("[data-control=method]").select_option("saliency")
    wait_result(page, root, method="saliency")
    seq_before = int(session.kernel_eval("explorer._reply['seq']"))
    moves = [random.Random(0).randrange(24) for _ in range(49)] + [17]
    rapid_slider_moves(root, moves)
    wait_result(page, root, index=17)
    assert session.kernel_eval("explorer.index") == "17"
    assert root.locator("[data-control=input]").input_value() == "17"
    final = session.canvas(root.locator("[data-role=attribution]"))
    # Latest wins: the burst cost a handful of computations, not fifty.
    assert int(session.kernel_eval("explorer._reply['seq']")) - seq_before < 10
    # What is shown is input 17's own view, as reached directly.
    root.locator("[data-index='2']").click()
    wait_result(page, root, index=2)
    root.locator("[data-index='17']").click()
    wait_result(page, root, index=17)
    np.testing.assert_array_equal(session.canvas(root.locator("[data-role=attribution]")), final)


def test_compare_mode_shows_methods_side_by_side(session):
    root, page = session.digits, session.page
    root.locator("[data-control=compare] [data-value=compare]").click()
    page.wait_for_selector(".jaxviz-explorer [data-role=compare-gradcam]", timeout=120_000)
    wait_idle(page, root)
    cells = root.locator("[data-role=compare] canvas")
    assert cells.count() == 5
    for i in range(5):
        assert attribution_is_drawn(session.canvas(cells.nth(i)))
    per_method = canvas_hash(root, "compare-saliency")
    root.locator("[data-control=scale] [data-value=shared]").click()
    assert canvas_hash(root, "compare-saliency") != per_method
    shot(session, "compare", root)
    root.locator("[data-control=compare] [data-value=single]").click()
    wait_idle(page, root)


def test_class_names_are_shown_as_text(session):
    root = session.page.locator(".jaxviz-explorer").nth(3)
    assert root.locator("img").count() == 0
    assert HOSTILE in root.locator("[data-role=predictions]").inner_text()
    assert HOSTILE in root.locator("[data-control=class]").inner_text()
    assert not session.dialogs
    shot(session, "hostile-names", root)


def test_follows_the_dark_theme(session):
    if session.app != "lab":
        pytest.skip("the theme menu is JupyterLab's; Notebook 7 shares its CSS variables")
    page = session.page
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Theme")).hover()
    page.get_by_role("menuitem", name="JupyterLab Dark", exact=True).click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    background = session.digits.evaluate(
        "el => getComputedStyle(el).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    assert sum(background) / 3 < 80, background
    shot(session, "dark", session.digits)
