"""ModelView's graph in a real JupyterLab with a real kernel: a ResNet-like NNX model (fold and
unfold a block, click a node, read its statistics) and the zoo's digits CNN."""

import time

import nbformat
import numpy as np
import pytest

SETUP = """
import jax, jax.numpy as jnp
from flax import nnx
import jaxviz as jv

class Block(nnx.Module):
    def __init__(self, c, rngs):
        self.conv1 = nnx.Conv(c, c, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(c, c, (3, 3), rngs=rngs)
    def __call__(self, x):
        return nnx.relu(x + self.conv2(nnx.relu(self.conv1(x))))

class ResNet(nnx.Module):
    def __init__(self, rngs):
        self.stem = nnx.Conv(1, 8, (3, 3), rngs=rngs)
        self.blocks = nnx.List([Block(8, rngs) for _ in range(2)])
        self.head = nnx.Linear(8, 10, rngs=rngs)
    def __call__(self, x):
        h = nnx.relu(self.stem(x))
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean(axis=(1, 2)))

m = jv.wrap(ResNet(nnx.Rngs(0)))
x = jax.random.normal(jax.random.key(1), (16, 8, 8, 1))
"""
RESNET = "view = jv.ModelView(m, x)\nview"
DIGITS = """
digits, data = jv.zoo.load("digits-cnn")
digits_view = jv.ModelView(digits, data.x_test[:64])
digits_view
"""


@pytest.fixture(scope="module")
def page(open_notebook):
    cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, RESNET, DIGITS)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook("lab", nb, name="model-graph.ipynb")
    page.page.set_viewport_size({"width": 1400, "height": 1400})
    page.run_all(timeout_ms=300_000)
    return page


def _wait_for_kernel(page, expression, expected, timeout=60.0):
    deadline = time.monotonic() + timeout
    while (value := page.kernel_eval(expression)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value == expected


def _stats(panel, role) -> dict[str, str]:
    cells = panel.locator(f"[data-role={role}] > span").all_inner_texts()
    return dict(zip(cells[::2], cells[1::2], strict=True))


def test_resnet_graph_folds_unfolds_and_shows_a_nodes_statistics(page):
    root = page.widget("jaxviz-model-view")
    node = lambda node_id: root.locator(f"g[data-role=node][data-node='{node_id}']")  # noqa: E731
    graph = root.locator("svg[data-role=graph]")
    # the skip connection: an edge from the stem's relu around the block's convs into its add
    skip = graph.locator("g[data-role=edge][data-source='/relu'][data-target='blocks.0/add']")
    assert skip.count() == 1 and "16×8×8×8" in skip.text_content()
    assert node("blocks.0.conv1").count() == 1 and node("blocks.1/add").count() == 1
    assert "584 params" in node("blocks.0.conv1").text_content()
    page.screenshot("model-graph-resnet", root)

    root.locator("[data-control=toggle][data-node='blocks.0']").click()
    node("blocks.0").wait_for()
    assert node("blocks.0.conv1").count() == 0 and "1,168 params" in node("blocks.0").text_content()
    assert graph.locator("g[data-role=edge][data-target='blocks.0']").count() == 1
    _wait_for_kernel(page, "view.collapsed", "['blocks.0']")
    page.screenshot("model-graph-resnet-folded", root)
    node("blocks.0").locator("[data-control=toggle]").click()
    node("blocks.0.conv1").wait_for()
    _wait_for_kernel(page, "view.collapsed", "[]")

    panel = root.locator("[data-role=node-panel]")
    before = page.canvas(panel.locator("[data-role=node-activation]"))
    node("blocks.1.conv2").click()
    assert panel.locator("[data-role=node-name]").inner_text() == "blocks.1.conv2"
    _wait_for_kernel(page, "view.selected", "'blocks.1.conv2'")
    shown = _stats(panel, "node-stats")
    for key, attr in (("mean", "mean"), ("std", "std"), ("max", "max")):
        want = float(page.kernel_eval(f"view.model_graph.node('blocks.1.conv2').activation.{attr}"))
        assert float(shown[key]) == pytest.approx(want, rel=6e-3, abs=1e-3)  # 3 digits shown
    want = float(page.kernel_eval("float(jnp.mean(jv.activations(m, x)['blocks.1.conv2']))"))
    assert float(shown["mean"]) == pytest.approx(want, rel=6e-3, abs=1e-3)
    weights = _stats(panel, "weight-stats")
    kernel_max = float(
        page.kernel_eval(
            "float(max(jnp.max(v) for v in jax.tree.leaves(m.layer_params('blocks.1.conv2'))))"
        )
    )
    assert float(weights["max"]) == pytest.approx(kernel_max, rel=6e-3)
    after = page.canvas(panel.locator("[data-role=node-activation]"))
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0
    node("blocks.1/add").click()  # an operation: statistics, no weights
    assert panel.locator("[data-role=no-weights]").count() == 1
    page.screenshot("model-graph-resnet-add", root)

    root.locator("[data-control=mode][data-mode=table]").click()
    rows = root.locator("tr[data-control=layer]")
    assert rows.count() == int(page.kernel_eval("len(m.layers)"))
    assert graph.is_hidden()
    _wait_for_kernel(page, "view.mode", "'table'")
    root.locator("[data-control=mode][data-mode=graph]").click()
    assert not page.widget_errors()


def test_digits_cnn_graph_reads_top_to_bottom(page):
    root = page.widget("jaxviz-model-view", index=1)
    names = root.locator("g[data-role=node]").evaluate_all(
        "els => els.map(e => [e.dataset.node, e.getBBox().y])"
    )
    order = [n for n, _ in sorted(names, key=lambda p: p[1])]
    assert order == [
        "input",
        "conv1",
        "/relu",
        "conv2",
        "/relu_1",
        "/max pool",
        "/reshape",
        "fc1",
        "/relu_2",
        "fc2",
        "output",
    ]
    edge = root.locator("g[data-role=edge][data-source='/reshape'][data-target='fc1']")
    assert "64×512" in edge.text_content()
    page.screenshot("model-graph-digits", root)
    assert not page.widget_errors()
