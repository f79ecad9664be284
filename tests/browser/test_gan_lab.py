"""GANLab in a real JupyterLab: play trains on the kernel's background thread and the view
advances, pause stops it, step takes exactly one step, the learning-rate slider reaches Python.
(That the default settings reach the zoo's mode coverage is tested in tests/test_gan.py, on the
same widget code path: a browser run of 2000 steps would only make this test slow.)"""

import re

import nbformat
import numpy as np

SETUP = """
import jaxviz as jv
lab = jv.GANLab(interval_s=0.1)
lab
"""


def _step(root) -> int:
    match = re.match(r"step (\d+)", root.locator("[data-role=status]").inner_text())
    return int(match.group(1)) if match else -1


def test_gan_lab_plays_pauses_steps_and_takes_a_learning_rate(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    page = open_notebook("lab", nb, name="gan-lab.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1100})
    page.run_all()
    root = page.widget("jaxviz-gan-lab")
    view = root.locator("[data-role=view]")
    page.page.wait_for_function("el => el.dataset.step === '0'", arg=root.element_handle(),
                                timeout=120_000)
    before = page.canvas(view)
    page.screenshot("gan-lab-start", root)

    play = root.locator("[data-control=play]")
    assert play.inner_text() == "play"
    play.click()
    page.page.wait_for_function("el => Number(el.dataset.step) >= 300", arg=root.element_handle(),
                                timeout=180_000)
    first = _step(root)
    page.page.wait_for_timeout(1500)
    assert _step(root) > first  # frames keep arriving while it plays
    assert page.kernel_eval("lab.playing") == "True"
    after = page.canvas(view)
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0
    page.screenshot("gan-lab-playing", root)

    assert play.inner_text() == "pause"
    play.click()
    page.kernel_eval("lab.pause()")  # waits for the chunk in flight
    paused = int(page.kernel_eval("lab.steps"))
    page.page.wait_for_function(f"el => el.dataset.step === '{paused}'",
                                arg=root.element_handle(), timeout=30_000)
    page.page.wait_for_timeout(800)
    assert int(page.kernel_eval("lab.steps")) == paused and _step(root) == paused

    root.locator("[data-control=step]").click()
    page.page.wait_for_function(f"el => el.dataset.step === '{paused + 1}'",
                                arg=root.element_handle(), timeout=60_000)
    assert int(page.kernel_eval("lab.steps")) == paused + 1

    slider = root.locator("input[data-control=learning-rate]")
    slider.focus()
    slider.press("ArrowRight")  # log10 step of 0.25: 1e-3 -> 1.78e-3
    page.page.wait_for_timeout(500)
    assert float(page.kernel_eval("lab.learning_rate")) == 0.00178
    assert root.locator(".jv-slider .jv-readout").inner_text() == "0.00178"
    page.kernel_exec("lab.learning_rate = 0.01")  # and back from Python to the slider
    page.page.wait_for_function("el => el.value === '-2'", arg=slider.element_handle(),
                                timeout=30_000)
    page.screenshot("gan-lab-paused", root)
    assert not page.widget_errors()
