"""The browser harness itself: a plain anywidget in JupyterLab 4 and Notebook 7."""

import nbformat
import numpy as np
import pytest

PROBE = '''
import anywidget, traitlets

class Probe(anywidget.AnyWidget):
    _esm = """
    export default { render({ model, el }) {
      el.classList.add("probe-root");
      const slider = Object.assign(
        document.createElement("input"), {type: "range", min: 0, max: 10});
      slider.dataset.control = "value";
      const canvas = Object.assign(document.createElement("canvas"), {width: 4, height: 4});
      canvas.dataset.role = "swatch";
      const draw = () => {
        slider.value = model.get("value");
        const ctx = canvas.getContext("2d");
        ctx.fillStyle = `rgb(${25 * model.get("value")}, 0, 0)`;
        ctx.fillRect(0, 0, 4, 4);
      };
      slider.addEventListener("input", () => {
        model.set("value", Number(slider.value));
        model.save_changes();
      });
      model.on("change:value", draw);
      draw();
      // Like jaxviz's isolateKeys: keep arrow keys from the notebook's shortcuts.
      window.addEventListener("keydown", (e) => {
        if (e.target === slider) e.stopImmediatePropagation();
      }, true);
      el.append(slider, canvas);
    } };
    """
    value = traitlets.Int(2).tag(sync=True)

probe = Probe()
probe
'''


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_harness_drives_a_widget_and_reads_python_state(open_notebook, app):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook(app, nb, name=f"probe-{app}.ipynb")
    page.run_all()
    root = page.widget("probe-root")
    swatch = root.locator("[data-role=swatch]")
    assert page.canvas(swatch)[0, 0, 0] == 50

    slider = root.locator("[data-control=value]")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    assert page.canvas(swatch)[0, 0, 0] == 100
    assert page.kernel_eval("probe.value") == "4"

    page.kernel_exec("probe.value = 7")
    page.page.wait_for_function(
        "el => el.value === '7'", arg=slider.element_handle(), timeout=10_000
    )
    assert page.canvas(swatch)[0, 0, 0] == 175
    page.screenshot(f"harness-{app}", root)
    assert not page.widget_errors()
    assert np.all(page.canvas(swatch)[..., 3] == 255)
