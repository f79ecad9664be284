"""The trust views in a real JupyterLab with a real kernel: the scorecard (colours, hover, sort),
the deletion scrubber (a drag redraws the frame in the same task, no kernel), the randomization
cascade, and the Explorer's trust panel (scores arrive on demand)."""

import time

import nbformat

CELLS = [
    """
import functools, jax, numpy as np
import jaxviz as jv
model, data = jv.zoo.load("shapes-cnn")
x, y, masks = data.x_test[:4], data.y_test[:4], data.masks_test[:4]
card = jv.metrics.scorecard(
    model, x, y, masks=masks, key=jax.random.key(0),
    methods={"gradient": jv.saliency, "Grad-CAM": functools.partial(jv.gradcam, layer="conv4"),
             "guided backprop": jv.guided_backprop},
    options={"deletion": {"steps": 8, "random_orders": 2},
             "insertion": {"steps": 8, "random_orders": 2}})
table = jv.Scorecard(card)
table
""",
    """
scrubber = jv.DeletionScrubber(model, x, y, attribution=jv.integrated_gradients, steps=16,
                               class_names=data.class_names, key=jax.random.key(0))
scrubber
""",
    """
cascade = jv.metrics.model_randomization(model, x[:3], y[:3], jv.saliency, absolute=False,
                                         key=jax.random.key(0))
cascade.widget(x=x[:3])
""",
    """
explorer = jv.Explorer(model, x, y, class_names=data.class_names, method="gradcam", warm=False)
explorer
""",
]

# Drags along the scrubber's chart and reads the deletion frame in the same task: a change
# there cannot come from the kernel.
DRAG_JS = """root => {
  const chart = root.querySelector('[data-role="curve"]');
  const frame = root.querySelector('[data-role="frame-deletion"]');
  const read = () => {
    const d = frame.getContext('2d').getImageData(0, 0, frame.width, frame.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) >>> 0;
    return h;
  };
  const box = chart.getBoundingClientRect();
  const at = (share) => ({clientX: box.left + 52 + share * (box.width - 64),
                          clientY: box.top + box.height / 2, pointerId: 1, bubbles: true});
  const before = read();
  chart.dispatchEvent(new PointerEvent('pointerdown', at(0.1)));
  const first = read();
  chart.dispatchEvent(new PointerEvent('pointermove', at(0.5)));
  const second = read();
  chart.dispatchEvent(new PointerEvent('pointerup', at(0.5)));
  return {before, first, second,
          caption: root.querySelector('[data-role="caption-deletion"]').textContent};
}"""


def kernel_sees(page, expression: str, expected: str, timeout_s: float = 20.0) -> None:
    """Waits until the kernel's repr of `expression` is `expected` (a trait set in the browser
    reaches the kernel in a comm message, a moment later)."""
    deadline = time.monotonic() + timeout_s
    while (got := page.kernel_eval(expression)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert got == expected, f"{expression}: {got} != {expected}"


def test_trust_views(open_notebook):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    page = open_notebook("lab", nb, name="trust-views.ipynb")
    page.page.set_viewport_size({"width": 1300, "height": 1800})
    page.run_all(timeout_ms=400_000)
    assert not page.cell_errors()

    # -- the scorecard: colours from the verdicts, the CI on hover, sorting by a metric
    card = page.widget("jaxviz-scorecard")
    cells = card.locator("td[data-role=cell]")
    assert cells.count() == 3 * 5
    verdicts = eval(page.kernel_eval("card.verdicts.tolist()"))  # noqa: S307 - our own kernel
    for i, method in enumerate(("gradient", "Grad-CAM", "guided backprop")):
        row = card.locator(f"tr[data-method='{method}'] td")
        for j in range(5):
            expected = {1: "jv-better", -1: "jv-worse", 0: "jv-neutral"}[verdicts[i][j]]
            assert expected in row.nth(j).get_attribute("class")
    mass = card.locator("tr[data-method='Grad-CAM'] td[data-metric=relevance_mass]")
    mass.hover()
    tip = card.locator("[role=tooltip]")
    assert "95% CI [" in tip.inner_text() and "random attributions:" in tip.inner_text()
    colours = tip.evaluate("t => [getComputedStyle(t).color, getComputedStyle(t).backgroundColor]")
    assert colours[0] != colours[1]  # readable: the text is not the colour of its box
    page.screenshot("trust-scorecard-hover", card)
    card.locator("th[data-control=sort][data-metric=relevance_mass]").click()
    first = card.locator("tbody tr").first.get_attribute("data-method")
    assert first == eval(page.kernel_eval("card.ranking('relevance_mass')[0]"))  # noqa: S307
    kernel_sees(page, "table.sort_by", "'relevance_mass'")
    card.locator("th[data-control=sort][data-metric=deletion]").click()
    assert card.locator("tbody tr").first.get_attribute("data-method") == eval(
        page.kernel_eval("card.ranking('deletion')[0]")  # noqa: S307
    )
    page.screenshot("trust-scorecard-sorted", card)

    # -- the scrubber: dragging picks precomputed frames in the browser
    scrub = page.widget("jaxviz-scrubber")
    scrub.scroll_into_view_if_needed()
    drag = scrub.evaluate(DRAG_JS)
    assert drag["before"] != drag["first"] != drag["second"]
    assert drag["caption"].startswith("50% removed")
    kernel_sees(page, "scrubber.position", "8")  # the trait followed the drag
    page.screenshot("trust-scrubber", scrub)
    scrub.locator("select[data-control=index]").select_option("2")
    kernel_sees(page, "scrubber.index", "2")
    page.screenshot("trust-scrubber-example-2", scrub)

    # -- the randomization cascade: input, trained map and one map per layer
    cascade = page.widget("jaxviz-randomization")
    assert cascade.locator("[data-role=cascade] canvas").count() == 1 + 1 + 5
    before = page.canvas(cascade.locator("[data-role=map-0]"))
    cascade.locator("select[data-control=example]").select_option("1")
    after = page.canvas(cascade.locator("[data-role=map-0]"))
    assert (before != after).any()
    page.screenshot("trust-randomization", cascade)

    # -- the Explorer's trust panel: scores on demand
    explorer = page.widget("jaxviz-explorer")
    explorer.scroll_into_view_if_needed()
    explorer.locator("[data-control=trust]").click()
    explorer.locator("[data-role=trust] tr[data-metric=deletion]").wait_for(timeout=120_000)
    assert explorer.locator("[data-role=trust] tr[data-metric]").count() == 3
    assert page.kernel_eval("explorer._trust['status']") == "'done'"
    score = float(page.kernel_eval("explorer._trust['scores']['deletion']['score']"))
    shown = explorer.locator("[data-role=trust] tr[data-metric=deletion] td").nth(1).inner_text()
    assert abs(float(shown) - score) < 1e-2 * max(1.0, abs(score))
    page.screenshot("trust-explorer-panel", explorer)
    assert not page.widget_errors()
