"""LIME, KernelSHAP and LRP in jv.Explorer, in a real JupyterLab 4 and Notebook 7: each method
shows only its own options, changing LIME's kernel width or LRP's composite redraws the map
(pixels and traits checked), and a tabular model's KernelSHAP view is a waterfall from the base
to the model's output."""

import nbformat
import pytest

from .explorer_helpers import (
    CANVAS_HASH_JS,
    attribution_is_drawn,
    canvas_hash,
    wait_idle,
    wait_result,
)

CELLS = [
    "import jaxviz as jv\n"
    'model, digits = jv.zoo.load("digits-cnn")\n'
    "explorer = jv.Explorer(model, digits.x_test[:6], digits.y_test[:6],\n"
    '                       class_names=digits.class_names, method="lime", warm=False)\n'
    "explorer",
    'cancer_model, cancer = jv.zoo.load("cancer-mlp")\n'
    "tabular = jv.Explorer(cancer_model, cancer.x_test[:6], cancer.y_test[:6],\n"
    "                      class_names=cancer.class_names, feature_names=cancer.feature_names,\n"
    '                      method="kernel_shap", warm=False)\n'
    "tabular",
]
OPTIONS = ("coalitions", "kernel_width", "masker", "composite", "steps", "samples", "window")


@pytest.fixture(scope="module", params=["lab", "notebook"])
def session(request, open_notebook):
    app = request.param
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook(app, nb, name=f"explorer_agnostic_{app}.ipynb")
    page.run_all()
    assert not page.cell_errors(), page.cell_errors()
    roots = page.page.locator(".jaxviz-explorer")
    roots.nth(1).wait_for(state="visible", timeout=120_000)
    page.app = app
    page.digits, page.tabular = roots.nth(0), roots.nth(1)
    wait_idle(page.page, page.digits)
    wait_idle(page.page, page.tabular)
    return page


def wait_redrawn(page, root, before: int) -> None:
    """Waits until the Explorer is idle with an attribution canvas other than `before`."""
    page.wait_for_function(
        f"([root, before]) => root.dataset.busy !== 'true' && ({CANVAS_HASH_JS})(root, "
        "'attribution') !== before",
        arg=[root.element_handle(), before],
        timeout=120_000,
    )


def visible_options(root) -> set[str]:
    return {o for o in OPTIONS if root.locator(f"[data-control={o}]").first.is_visible()}


def shot(session, name, locator):
    return session.screenshot(f"explorer-agnostic-{session.app}-{name}", locator)


def test_lime_kernel_width_changes_the_map(session):
    root, page = session.digits, session.page
    wait_result(page, root, method="lime")
    assert visible_options(root) == {"coalitions", "kernel_width"}
    assert session.kernel_eval("explorer.kernel_width") == "0.25"  # lime's image default
    before = canvas_hash(root)
    assert attribution_is_drawn(session.canvas(root.locator("[data-role=attribution]")))
    shot(session, "lime-0.25", root)
    # A narrow kernel weighs only coalitions close to the whole input: with 16 cells, almost
    # none of the 256 drawn, so the ridge surrogate shrinks its coefficients towards 0.
    width = root.locator("[data-control=kernel_width]")
    width.fill("0.05")
    width.dispatch_event("change")
    wait_redrawn(page, root, before)
    assert session.kernel_eval("explorer.kernel_width") == "0.05"
    shot(session, "lime-0.05", root)


def test_lrp_composite_switch_redraws(session):
    root, page = session.digits, session.page
    root.locator("[data-control=method]").select_option("lrp")
    wait_result(page, root, method="lrp")
    assert visible_options(root) == {"composite"}
    before = canvas_hash(root)
    shot(session, "lrp-epsilon-plus-flat", root)
    root.locator("[data-control=composite]").select_option("zero")
    wait_redrawn(page, root, before)
    assert session.kernel_eval("explorer.composite") == "'zero'"
    shot(session, "lrp-zero", root)


def test_kernel_shap_options_and_tabular_waterfall(session):
    root, page = session.tabular, session.page
    wait_result(page, root, method="kernel_shap")
    assert visible_options(root) == {"coalitions", "masker"}
    chart = root.locator("[data-role=waterfall]")
    chart.wait_for(state="visible", timeout=60_000)
    rows = chart.locator(".jv-waterfall-row")
    assert rows.count() == 13  # f(x), the top 10 features, "20 other features", the base
    assert rows.nth(0).inner_text().startswith("f(x) = ")
    assert "20 other features" in rows.nth(11).inner_text()
    output = float(chart.get_attribute("data-output"))
    logit = float(session.kernel_eval("float(tabular._logits[0, tabular.shown_class()])"))
    assert output == pytest.approx(logit, abs=1e-5)
    # The base is E f(background) = f(x) - sum of the values: with the zero baseline, f(0).
    base = float(chart.get_attribute("data-base"))
    zero = session.kernel_eval(
        "float(cancer_model(cancer.x_test[:1] * 0)[0, tabular.shown_class()])"
    )
    assert base == pytest.approx(float(zero), abs=1e-3)
    shot(session, "waterfall-baseline", root)
    root.locator("[data-control=masker] [data-value=background]").click()
    wait_idle(page, root)
    assert session.kernel_eval("tabular.masker") == "'background'"
    page.wait_for_function(
        "([c, b]) => c.dataset.base !== b", arg=[chart.element_handle(), str(base)]
    )
    shot(session, "waterfall-background", root)
    assert not session.widget_errors()
