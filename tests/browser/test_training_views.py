"""The grown FlowMonitor with two runs (smoothing, log scale, the run table toggling a run, the
distributions view, a diagnosis link), the ConfusionView (a cell opens its examples, an example
its attribution) and the LandscapeView, in a real JupyterLab with a real kernel."""

import re

import nbformat
import numpy as np

CELLS = [
    """
import jax, optax
import jaxviz as jv
from jaxviz.flow._demo import deep_sigmoid, make_train_step, toy_classification

x, y = toy_classification(jax.random.key(0))

def train(lr, steps=120):
    params, act = deep_sigmoid(jax.random.key(1), depth=5)
    optimizer = optax.sgd(lr)
    opt_state = optimizer.init(params)
    step = make_train_step(act, optimizer, x, y)
    rec = jv.Recorder(hparams={"lr": lr, "depth": 5})
    for i in range(steps):
        params, opt_state, loss, stats = step(params, opt_state)
        rec.add(stats, loss=loss)
        if i % 20 == 19:
            rec.add_validation(loss=1.1 * float(loss))
    return rec

runs = {"lr 0.1": train(0.1), "lr 1.0": train(1.0)}
monitor = jv.FlowMonitor(runs=runs)
monitor
""",
    """
m, data = jv.zoo.load("digits-cnn")
view = jv.ConfusionView(m, data.x_test[:120], data.y_test[:120], class_names=data.class_names)
view
""",
    """
def xent(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

scape = jv.loss_landscape(m, xent, data.x_test[:64], data.y_test[:64], steps=9, span=0.6)
jv.LandscapeView(scape)
""",
]


def _changed(a, b) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).sum())


def _drawn(pixels) -> int:
    return int((pixels[..., 3] > 0).sum())


def test_monitor_confusion_and_landscape_in_jupyterlab(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook("lab", nb, name="training-views.ipynb")
    page.page.set_viewport_size({"width": 1500, "height": 2200})
    page.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

    root = page.widget("jaxviz-flow-monitor", timeout_ms=300_000)
    loss = root.locator("[data-role=metric-loss]")
    rows = root.locator("[data-role=run-table] tr[data-run]")
    assert rows.count() == 2
    assert "lr 1.0" in rows.nth(1).inner_text() and "0.1" in rows.nth(0).inner_text()
    page.screenshot("monitor-two-runs", root)
    both = page.canvas(loss)

    # smoothing: the slider redraws the curves in the browser and tells the kernel
    smoothing = root.locator("input[data-control=smoothing]")
    smoothing.focus()
    smoothing.press("End")
    smoothed = page.canvas(loss)
    assert _changed(smoothed, both) > 0
    assert float(page.kernel_eval("monitor.smoothing")) == 0.99

    # log scale
    root.locator("[data-control=scale] button[data-value=log]").click()
    assert page.kernel_eval("monitor.log_scale") == "True"
    log_pixels = page.canvas(loss)
    assert _changed(log_pixels, smoothed) > 0

    # the run table's checkbox hides a run on the charts
    root.locator("input[data-control=run-toggle][data-run='lr 1.0']").uncheck()
    one = page.canvas(loss)
    assert _changed(one, log_pixels) > 0
    assert page.kernel_eval("monitor.hidden") == "['lr 1.0']"
    page.screenshot("monitor-one-run-hidden", root)
    root.locator("input[data-control=run-toggle][data-run='lr 1.0']").check()

    # distributions over time: weights, gradients, activations of the chosen layer
    dist = root.locator("[data-role=distributions]")
    weights = page.canvas(dist)
    assert _drawn(weights) > 1000
    root.locator("[data-control=distribution] button[data-value=gradients]").click()
    assert _changed(page.canvas(dist), weights) > 0
    root.locator("select[data-control=layer]").select_option(index=3)
    page.screenshot("monitor-distributions", root)

    # clicking a run's name details it (the kernel sends its layers and histograms)
    before = page.canvas(root.locator("[data-role=history]"))
    root.locator("[data-control=run-focus][data-run='lr 1.0']").click()
    root.locator("[data-role=run-table] tr[data-run='lr 1.0'][aria-selected=true]").wait_for(
        timeout=120_000
    )
    assert page.kernel_eval("monitor.selected_run") == "'lr 1.0'"
    assert _changed(page.canvas(root.locator("[data-role=history]")), before) > 0

    # a diagnosis link takes the histograms to its layer and step
    links = root.locator("[data-role=diagnosis-link]")
    if links.count():
        link = links.first
        layer, step = link.get_attribute("data-layer"), int(link.get_attribute("data-step"))
        link.click()
        assert root.locator("select[data-control=layer]").input_value() == layer
        shown = int(page.kernel_eval("monitor.step"))
        assert shown == -1 or abs(shown - step) <= 20
    page.screenshot("monitor-focused-second-run", root)

    view = page.widget("jaxviz-confusion-view")
    cells = view.locator("[data-role=cell]")
    assert cells.count() == 100
    cell = view.locator("[data-role=cell][data-true='4'][data-pred='4']")
    cell.click()
    expected = page.kernel_eval("list(map(int, view.result.examples(4, 4)))")
    shown = [int(b.get_attribute("data-index")) for b in view.locator("[data-role=example]").all()]
    assert shown == eval(expected)[:24]  # noqa: S307 - our own kernel's list
    off = eval(page.kernel_eval("[int(v) for v in view.cell]"))  # noqa: S307
    assert off == [4, 4]
    first = view.locator("[data-role=example]").first
    first.click()
    page.page.wait_for_function(
        "el => el.textContent.startsWith('example #')",
        arg=view.locator("[data-role=detail-title]").element_handle(),
        timeout=60_000,
    )
    assert _drawn(page.canvas(view.locator("[data-role=attribution]"))) > 1000
    assert page.kernel_eval("view.index") == first.get_attribute("data-index")
    page.screenshot("confusion-view", view)

    scape = page.widget("jaxviz-landscape-view")
    assert _drawn(page.canvas(scape.locator("[data-role=landscape]"))) > 1000
    page.screenshot("landscape-view", scape)
    assert not page.widget_errors()
