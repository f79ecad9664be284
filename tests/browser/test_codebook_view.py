"""CodebookView in a real JupyterLab on the zoo's digits-vqvae: clicking a usage bar or a cell of
the code map selects that code (its decoded image and typical inputs change, no kernel needed),
and the choice reaches Python."""

import nbformat
import numpy as np

SETUP = """
import jaxviz as jv
vqvae, data = jv.zoo.load("digits-vqvae")
view = jv.CodebookView(vqvae, data.x_test, k=6)
view
"""


def test_codebook_view_click_a_code(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    page = open_notebook("lab", nb, name="codebook-view.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1100})
    page.run_all()
    root = page.widget("jaxviz-codebook-view")
    page.page.wait_for_timeout(800)
    image = root.locator("[data-role=code-image]")
    title = root.locator("[data-role=code-title]")
    first = int(page.kernel_eval("view.code"))
    assert title.inner_text().startswith(f"code {first}:")
    before = page.canvas(image)

    codes = int(page.kernel_eval("len(view.dead) + int((jv.widgets._payload.payload_array("
                                 "view.counts) > 0).sum())"))
    bars = root.locator("[data-role=usage]")
    box = bars.bounding_box()
    target = (first + 5) % codes
    bars.click(position={"x": (target + 0.5) * box["width"] / codes, "y": box["height"] / 2})
    page.page.wait_for_timeout(500)
    assert title.inner_text().startswith(f"code {target}:")
    assert np.abs(page.canvas(image).astype(int) - before.astype(int)).sum() > 0
    assert int(page.kernel_eval("view.code")) == target
    page.screenshot("codebook-view-bar", root)

    # a cell of the input's code map selects the code written in it
    code_map = root.locator("[data-role=code-map]")
    cell_code = int(page.kernel_eval("int(view.usage.codes[0].reshape(-1)[5])"))  # row 1, col 1
    cbox = code_map.bounding_box()
    code_map.click(position={"x": 1.5 * cbox["width"] / 4, "y": 1.5 * cbox["height"] / 4})
    page.page.wait_for_timeout(500)
    assert int(page.kernel_eval("view.code")) == cell_code
    assert title.inner_text().startswith(f"code {cell_code}:")
    assert root.locator("[data-role=examples] canvas").count() >= 1
    page.screenshot("codebook-view-map", root)
    assert not page.widget_errors()
