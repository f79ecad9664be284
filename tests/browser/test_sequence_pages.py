"""The sequence views' to_html pages: offline, no kernel, the controls work from what is stored
(RNNView's per-example lengths and time slider, TokenView's examples, classes and methods)."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv


def _open(browser, path):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, errors


@pytest.fixture(scope="module")
def data():
    return jv.zoo.dataset("sentiment-toy")


def test_rnn_page_cuts_padding_per_example(browser, data, tmp_path, artifacts):
    model, _ = jv.zoo.load("sentiment-lstm")
    view = jv.RNNView(model, data.x_test[:4], vocabulary=data.vocabulary, warm=False)
    page, errors = _open(browser, view.to_html(tmp_path / "rnn.html"))
    root = page.locator(".jaxviz-rnn")
    root.wait_for(state="visible", timeout=15_000)
    lengths = view.lengths.tolist()
    assert root.get_attribute("data-step") == str(lengths[0] - 1)  # the last real step
    step = root.locator("[data-control=step]")
    assert step.get_attribute("max") == str(lengths[0] - 1)
    index = root.locator("[data-control=index]")
    index.focus()
    for _ in range(3):
        index.press("ArrowRight")
    page.wait_for_function("el => el.dataset.index === '3'", arg=root.element_handle())
    assert step.get_attribute("max") == str(lengths[3] - 1)  # a shorter sentence
    assert root.get_attribute("data-step") == str(lengths[3] - 1)
    assert "padding after step" in root.locator("[data-role=caption]").inner_text()
    step.focus()
    step.press("Home")
    page.wait_for_function("el => el.dataset.step === '0'", arg=root.element_handle())
    root.locator("[data-control=state]").select_option("cell")
    page.wait_for_function("el => el.dataset.state === 'cell'", arg=root.element_handle())
    root.screenshot(path=str(artifacts / "rnn-page.png"))
    assert not errors


def test_rnn_page_of_a_linear_cell(browser, tmp_path):
    def cell(h, x):
        h = 0.5 * h + x
        return h, h

    inputs = np.ones((1, 12, 2), np.float32)
    view = jv.RNNView(cell, inputs, carry=jnp.zeros((1, 2)), warm=False)
    page, errors = _open(browser, view.to_html(tmp_path / "linear.html"))
    root = page.locator(".jaxviz-rnn")
    root.wait_for(state="visible", timeout=15_000)
    assert root.get_attribute("data-step") == "11"
    assert "(4.88e-4× the last step's)" in root.locator("[data-role=caption]").inner_text()
    assert not errors  # 0.5 ** 11 = 4.88e-4: the closed form, as the caption prints it
