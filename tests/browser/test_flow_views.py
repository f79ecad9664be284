"""GradientFlowView, ModelView and FunctionExplorer in a real JupyterLab with a real kernel."""

import re

import nbformat
import numpy as np

CELLS = [
    """
import jax, jax.numpy as jnp
from flax import nnx
import jaxviz as jv

class Net(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(16 if i == 0 else 32, 32, rngs=rngs) for i in range(6)])
        self.out = nnx.Linear(32, 4, rngs=rngs)
    def __call__(self, x):
        for layer in self.layers:
            x = jax.nn.sigmoid(layer(x))
        return self.out(x)

m = jv.wrap(Net(nnx.Rngs(0)))
x = jax.random.normal(jax.random.key(1), (64, 16))
flow = jv.gradient_flow(m, x)
jv.GradientFlowView(flow)
""",
    "view = jv.ModelView(m, x)\nview",
    "explorer = jv.FunctionExplorer('sigmoid')\nexplorer",
]


def _changed(a, b) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).sum())


def test_flow_views_render_and_respond(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook("lab", nb, name="flow-views.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1600})
    # Run all from the menu; each widget showing up means its cell ran (run_all's wait also looks
    # at the other notebooks this JupyterLab workspace keeps open).
    page.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

    flow_root = page.widget("jaxviz-gradient-flow")
    chart = page.canvas(flow_root.locator("[data-role=gradient-flow]"))
    assert (chart[..., 3] > 0).sum() > 1000  # something is drawn
    flagged = int(page.kernel_eval("sum(f == 'vanishing' for f in flow.flags)"))
    assert (
        flagged > 0
        and f"{flagged} layer(s) flagged" in flow_root.locator("[data-role=summary]").inner_text()
    )
    page.screenshot("gradient-flow-view", flow_root)

    view = page.widget("jaxviz-model-view")
    view.locator("[data-control=mode][data-mode=table]").click()  # the graph is the first tab
    rows = view.locator("tr[data-control=layer]")
    assert rows.count() == 7 and rows.nth(0).get_attribute("aria-selected") == "true"
    before_hist = page.canvas(view.locator("[data-role=activation-histogram]"))
    before_stats = view.locator("[data-role=stats]").inner_text()
    rows.nth(3).click()
    assert rows.nth(3).get_attribute("aria-selected") == "true"
    assert view.locator("[data-role=stats]").inner_text() != before_stats
    assert _changed(page.canvas(view.locator("[data-role=activation-histogram]")), before_hist) > 0
    assert page.kernel_eval("view.layer") == "'layers.3'"
    page.screenshot("model-view", view)

    explorer = page.widget("jaxviz-function-explorer")
    canvas = explorer.locator("[data-role=function]")
    sigmoid = page.canvas(canvas)
    explorer.locator("select[data-control=function]").select_option("elu")
    elu = page.canvas(canvas)
    assert _changed(elu, sigmoid) > 0
    param = explorer.locator("input[data-control=param]")
    param.focus()
    param.press("Home")
    param.press("ArrowRight")  # the second value of alpha's grid
    assert _changed(page.canvas(canvas), elu) > 0
    assert page.kernel_eval("(explorer.function, explorer.param)") == "('elu', 0.4)"
    page.screenshot("function-explorer", explorer)
    assert not page.widget_errors()
