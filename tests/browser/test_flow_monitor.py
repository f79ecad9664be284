"""FlowMonitor in a real JupyterLab: it updates while a training loop runs in the kernel, and its
step slider switches the histograms without the (busy) kernel."""

import re

import nbformat
import numpy as np

STEPS = 700

SETUP = """
import time
import jax, optax
import jaxviz as jv
from jaxviz.flow._demo import deep_sigmoid, make_train_step, toy_classification

x, y = toy_classification(jax.random.key(0))
params, act = deep_sigmoid(jax.random.key(1), depth=6)
optimizer = optax.sgd(1.0)
opt_state = optimizer.init(params)
train_step = make_train_step(act, optimizer, x, y)
train_step(params, opt_state)  # compile before the loop starts
rec = jv.Recorder()
monitor = jv.FlowMonitor(rec, interval_s=0.25)
monitor
"""

LOOP = f"""
for i in range({STEPS}):
    params, opt_state, loss, stats = train_step(params, opt_state)
    rec.add(stats, loss=loss)
    time.sleep(0.02)
"""


def _last_step(root) -> int:
    match = re.match(r"step (\d+)", root.locator("[data-role=status]").inner_text())
    return int(match.group(1)) if match else -1


def _loop_running(page) -> bool:
    prompts = page.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    return any("*" in p for p in prompts[1:])


def test_monitor_updates_during_training_and_slider_moves(open_notebook):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(LOOP)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook("lab", nb, name="flow-monitor.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1700})  # the whole monitor in view
    page.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

    root = page.widget("jaxviz-flow-monitor")
    history = root.locator("[data-role=history]")
    weights = root.locator("[data-role=weight-histograms]")
    page.page.wait_for_function(
        "el => /^step (\\d+)/.test(el.textContent) && Number(el.textContent.match(/^step "
        "(\\d+)/)[1]) > 20",
        arg=root.locator("[data-role=status]").element_handle(),
        timeout=120_000,
    )
    first_step, first_pixels = _last_step(root), page.canvas(history)
    # Pushes arrive while the cell is still running (spaced by the monitor's own throttle, which
    # grows with the cost of a push on a loaded machine, so wait for them rather than a fixed time).
    page.page.wait_for_function(
        "([el, first]) => "
        "Number((el.textContent.match(/^step (\\d+)/) || [0, -1])[1]) > first + 20",
        arg=[root.locator("[data-role=status]").element_handle(), first_step],
        timeout=60_000,
    )
    assert _loop_running(page), "the loop finished too early to watch it"
    second_step, second_pixels = _last_step(root), page.canvas(history)
    assert second_step > first_step + 20
    assert np.abs(second_pixels.astype(int) - first_pixels.astype(int)).sum() > 0
    page.screenshot("flow-monitor-training", root)

    # Move the step slider back to the earliest histograms while the kernel is still busy.
    slider = root.locator("input[data-control=step]")
    latest_weights = page.canvas(weights)
    slider.focus()
    slider.press("Home")  # as a person would, from the keyboard
    readout = root.locator(".jv-slider:has(input[data-control=step]) .jv-readout").inner_text()
    assert readout == "0"
    assert np.abs(page.canvas(weights).astype(int) - latest_weights.astype(int)).sum() > 0
    assert _loop_running(page)
    page.page.wait_for_timeout(1000)  # more pushes arrive; the chosen step stays
    assert root.locator(".jv-slider:has(input[data-control=step]) .jv-readout").inner_text() == "0"
    page.screenshot("flow-monitor-slider", root)

    page.page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].every(p => "
        "!p.textContent.includes('*'))",
        timeout=240_000,
    )
    page.page.wait_for_function(
        f"el => el.textContent.startsWith('step {STEPS - 1} ')",
        arg=root.locator("[data-role=status]").element_handle(),
        timeout=30_000,
    )
    assert (
        page.kernel_eval("monitor.step") == "0"
    )  # the slider's choice reached Python after the loop
    assert page.kernel_eval("int(rec.steps[-1])") == str(STEPS - 1)
    diagnoses = root.locator("[data-role=diagnoses] li").all_inner_texts()
    assert any("Vanishing gradient" in d or "Saturated activations" in d for d in diagnoses)
    page.screenshot("flow-monitor-done", root)
    assert not page.widget_errors()
