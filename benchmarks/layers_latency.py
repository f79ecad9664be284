"""In-browser latency of jv.LayerExplorer's channel detail on digits-cnn, in a real JupyterLab.

Two phases, each in a fresh kernel: "cold" (`warm=False`) and "warm" (the default: once drawn,
the widget computes channel details, feature visualizations included, in the background, the
shown layer's brightest channels first). In each, the explorer is shown, left alone for
`--settle` seconds (10), and then channels are clicked, each for the first time:
  the shown layer's (conv1) brightest channel for the shown input, then its 8th brightest;
  then, the layer slider moved to conv2, its brightest channel.
For each click, inside the page with performance.now(), up to the animation frame after it is
drawn: the top examples (with receptive fields and back-projections), and the feature
visualization (192 Adam steps). Aim: the whole detail in < 1 s.

    PYTHONPATH=. python benchmarks/layers_latency.py [--out results.json] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.explorer_latency import (  # noqa: E402
    SETTLED_JS,
    Notebooks,
    machine,
    settle,
    summary,
    warm_status,
)

CELL = """import jaxviz as jv
m, data = jv.zoo.load("digits-cnn")
x, y = data.x_test, data.y_test
explorer = jv.LayerExplorer(m, x[:8], labels=y[:8], class_names=data.class_names,
                            dataset=x[:300], k=6, warm={warm})
explorer"""

# Clicks a channel's cell; resolves with the milliseconds until its top examples, then its
# feature visualization, are on screen.
TIMED_CLICK_JS = "async (root, channel) => {" + SETTLED_JS + """
  const detail = root.querySelector('[data-role=detail]');
  const has = (role) => () => detail.querySelector(`canvas[data-role=${role}]`) !== null;
  const t0 = performance.now();
  root.querySelector(`.jv-layers-cell[data-channel="${channel}"]`).click();
  await until(detail, has('top-example'));
  await frame();
  const examples = performance.now() - t0;
  await until(detail, has('feature-visualization'));
  await frame();
  return {examples, feature: performance.now() - t0};
}"""

# Channels of the shown layer by their cell's peak activation for the shown input, brightest
# first (the grid labels each cell "max <value>").
BRIGHTEST_JS = """root => [...root.querySelectorAll('.jv-layers-cell')]
  .map(cell => ({channel: Number(cell.dataset.channel),
                 peak: Number(cell.querySelector('.jv-layers-cell-label:last-child')
                              .textContent.replace('max ', ''))}))
  .sort((a, b) => b.peak - a.peak).map(c => c.channel)"""


def layers_phase(notebooks: Notebooks, warm: bool, settle_s: float) -> dict:
    page, root = notebooks.show(f"layers_{'warm' if warm else 'cold'}.ipynb",
                                CELL.format(warm=warm), "jaxviz-layers")
    shown = time.perf_counter()
    settle(page, settle_s - (time.perf_counter() - shown))
    before = warm_status(page, "explorer")
    clicks = []

    def click(rank: int) -> None:
        channel = root.evaluate(BRIGHTEST_JS)[rank]
        times = root.evaluate(TIMED_CLICK_JS, channel)
        layer = page.kernel_eval("explorer.layer")[1:-1]
        clicks.append({"layer": layer, "channel": channel, "brightness_rank": rank,
                       "examples_ms": round(times["examples"], 1),
                       "detail_ms": round(times["feature"], 1)})

    click(0)
    click(7)
    slider = root.locator("[data-control=layer]")
    slider.focus()
    slider.press("ArrowRight")
    page.page.wait_for_function(
        "el => el.querySelectorAll('[data-role=channels] canvas').length === 32",
        arg=root.element_handle(), timeout=60_000)
    click(0)
    after = warm_status(page, "explorer")
    page.close()
    return {
        "clicks": clicks,
        "detail_with_feature": summary([c["detail_ms"] for c in clicks]),
        "examples": summary([c["examples_ms"] for c in clicks]),
        "warm_up_when_measured": before,
        "served_by_the_clicks": {k: after["served"][k] - before["served"][k]
                                 for k in before["served"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "layers_latency.json"
    )
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds the widget is shown before the first click")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        notebooks = Notebooks(p)
        try:
            phases = {mode: layers_phase(notebooks, mode == "warm", args.settle)
                      for mode in ("cold", "warm")}
        finally:
            notebooks.close()
    results = {
        "model": "digits-cnn (8x8x1), LayerExplorer(x[:8], dataset=x[:300], k=6), "
                 "feature visualization 192 steps",
        "machine": machine(),
        "settle_s": args.settle,
        **phases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
