"""LatentExplorer in a real JupyterLab: hovering the plane decodes from the grid sent (no kernel),
a slider moves the preview, clicking two points sets the interpolation strip's ends."""

import nbformat
import numpy as np

# A linear autoencoder on the zoo's digits: the first 3 principal components (decoding is exact
# and cheap, so the test watches the widget, not a network).
SETUP = """
import numpy as np, jax.numpy as jnp
import jaxviz as jv
data = jv.zoo.dataset("digits")
x = data.x_test[:300]
flat = x.reshape(len(x), -1)
mean = flat.mean(0)
w = np.linalg.svd(flat - mean, full_matrices=False)[2][:3].astype(np.float32)
ae = jv.Autoencoder(lambda v: (v.reshape(v.shape[0], -1) - mean) @ w.T,
                    lambda z: (z @ w + mean).reshape(z.shape[0], 8, 8, 1), latent_shape=3)
explorer = jv.LatentExplorer(ae, x, labels=data.y_test[:300], steps=15)
explorer
"""


def test_latent_explorer_hover_sliders_and_strip(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    page = open_notebook("lab", nb, name="latent-explorer.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1100})
    page.run_all()
    root = page.widget("jaxviz-latent-explorer")
    plane = root.locator("[data-role=plane]")
    preview = root.locator("[data-role=preview]")
    page.page.wait_for_timeout(1000)
    resting = page.canvas(preview)

    # hover: two places on the plane show two different decodings, without a kernel request
    requests = page.kernel_eval("explorer._request_id")
    box = plane.bounding_box()
    plane.hover(position={"x": box["width"] * 0.2, "y": box["height"] * 0.2})
    upper_left = page.canvas(preview)
    plane.hover(position={"x": box["width"] * 0.8, "y": box["height"] * 0.75})
    lower_right = page.canvas(preview)
    assert np.abs(upper_left.astype(int) - lower_right.astype(int)).sum() > 0
    assert page.kernel_eval("explorer._request_id") == requests
    # the preview under the cursor is the grid's decoding at the nearest grid point
    grid_check = (
        "(lambda p, i, j: bool(np.allclose(p[i, j, ..., 0], "
        "np.asarray(ae.decode(explorer.plane_latents[i, j]))[0, ..., 0], atol=1e-5)))"
        "(jv.widgets._payload.payload_array(explorer.plane), 11, 11)"
    )
    assert page.kernel_eval(grid_check) == "True"
    page.screenshot("latent-explorer-hover", root)
    page.page.mouse.move(5, 5)  # leave the plane: the preview shows the sliders' latent again
    page.page.wait_for_timeout(300)
    assert np.array_equal(page.canvas(preview), resting)

    # a slider moves the preview (decoded in the kernel)
    slider = root.locator("input[data-control=dim-0]")
    before = float(page.kernel_eval("explorer.latent[0]"))
    slider.focus()
    for _ in range(25):
        slider.press("ArrowRight")
    page.page.wait_for_timeout(1500)
    assert float(page.kernel_eval("explorer.latent[0]")) > before
    assert np.abs(page.canvas(preview).astype(int) - resting.astype(int)).sum() > 0
    page.screenshot("latent-explorer-slider", root)

    # click two points: they become the strip's ends A and B
    points = np.array(eval(page.kernel_eval(
        "jv.widgets._payload.payload_array(explorer.points).tolist()")))
    span = float(page.kernel_eval("explorer.span"))
    pixel = lambda p: {"x": (p[0] + span) / (2 * span) * 380, "y": (span - p[1]) / (2 * span) * 380}  # noqa: E731
    strip_before = root.locator("[data-role=strip] canvas").nth(0).screenshot()
    # two points far apart on the plane, each clear of its neighbours (a click picks the nearest)
    a, b = int(points[:, 0].argmin()), int(points[:, 0].argmax())
    plane.click(position=pixel(points[a]))
    plane.click(position=pixel(points[b]))
    page.page.wait_for_timeout(1500)
    assert page.kernel_eval("explorer.pair") == f"[{a}, {b}]"
    assert root.locator("[data-role=strip] canvas").nth(0).screenshot() != strip_before
    page.screenshot("latent-explorer-strip", root)
    assert not page.widget_errors()
