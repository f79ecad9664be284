"""Explorer.to_html pages: self-contained, offline, controls served by the in-page model."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

import jaxviz as jv

from .explorer_helpers import CLASS_CLICK_JS, canvas_hash, wait_result

HOSTILE = "<img src=x onerror=alert(1)>"


class SmallCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 4, (3, 3), rngs=rngs)
        self.head = nnx.Linear(4 * 8 * 8, 3, rngs=rngs)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.conv(x)).reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    model = jv.wrap(SmallCNN(nnx.Rngs(0)))
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1))
    explorer = jv.Explorer(model, x, class_names=["zero", HOSTILE, "two"], method="saliency")
    path = tmp_path_factory.mktemp("page") / "explorer.html"
    return explorer.to_html(path, inputs=[0, 1], methods=["saliency", "gradcam"])


def test_the_page_works_offline_without_a_kernel(browser, page_file, artifacts):
    context = browser.new_context(viewport={"width": 1100, "height": 800}, offline=True)
    page = context.new_page()
    errors, requests, dialogs = [], [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(page_file.as_uri())
    root = page.locator(".jaxviz-explorer")
    root.wait_for(state="visible", timeout=15_000)

    clicked = root.evaluate(CLASS_CLICK_JS)
    assert clicked["before"] != clicked["after"] and clicked["shown"] == clicked["clicked"]

    before = canvas_hash(root)
    root.locator("[data-control=method]").select_option("gradcam")
    wait_result(page, root, method="gradcam", timeout_ms=10_000)
    assert canvas_hash(root) != before
    root.locator("[data-index='1']").click()
    wait_result(page, root, index=1, timeout_ms=10_000)

    root.locator("[data-index='3']").click()  # not stored in the page
    error = root.locator("[data-role=error]")
    error.wait_for(state="visible", timeout=10_000)
    assert "stores only some results" in error.inner_text()

    assert HOSTILE in root.locator("[data-control=class]").inner_text()
    assert root.locator("img").count() == 0 and not dialogs
    assert not errors
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
    page.screenshot(path=str(artifacts / "explorer-static-page.png"))
    context.close()


def test_sequence_and_vector_pages_show_tokens_and_features_as_text(browser, tmp_path, artifacts):
    weights = jax.random.normal(jax.random.key(5), (5 * 3, 2))
    x = jax.random.normal(jax.random.key(6), (3, 5, 3))
    seq = jv.wrap(lambda v: jnp.tanh(v.reshape(v.shape[0], -1)) @ weights, example=x)
    tokens = ["the", "cat", HOSTILE, "on", "mats"]
    features = jax.random.normal(jax.random.key(7), (3, 4))
    vec = jv.wrap(lambda v: jnp.tanh(v) @ weights[:4], example=features)
    names = ["age", HOSTILE, "height", "weight"]
    pages = {
        "sequence": jv.Explorer(seq, x, tokens=tokens, class_names=["no", "yes"]),
        "vector": jv.Explorer(vec, features, feature_names=names, class_names=["no", "yes"]),
    }
    context = browser.new_context(viewport={"width": 1000, "height": 600}, offline=True)
    page = context.new_page()
    for kind, explorer in pages.items():
        page.goto(explorer.to_html(tmp_path / f"{kind}.html", inputs=[0]).as_uri())
        view = page.locator(f".jaxviz-explorer [data-role=attribution].jv-{kind}-view")
        view.wait_for(state="visible", timeout=15_000)
        assert HOSTILE in view.inner_text()
        assert page.locator(".jaxviz-explorer img").count() == 0
        if kind == "sequence":
            assert view.locator(".jv-token").all_inner_texts() == tokens
        else:
            assert view.locator(".jv-feature").count() == 4
        page.screenshot(path=str(artifacts / f"explorer-static-{kind}.png"))
    context.close()
