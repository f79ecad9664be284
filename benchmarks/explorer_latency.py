"""In-browser latency of jv.Explorer on digits-cnn, in a real JupyterLab with a real kernel.

Two phases, each in a fresh kernel: "cold" (`warm=False`: nothing is computed before it is asked
for) and "warm" (the default: once drawn, the widget computes in the background what its
controls reach). In each, the Explorer is shown, left alone for `--settle` seconds (10), and then
measured, inside the page with performance.now(), up to the animation frame after the new view
is drawn (what a person sees):
  first switch    choose each method in turn, once, on the first input: its first visit
  return switch   then each again: a visited view, from the kernel's cache (the floor)
  class switch    click on a prediction bar -> attribution canvas redrawn (no kernel involved)
  input change    click on a new input's thumbnail -> its attribution drawn (kernel computes)
  method change   then one other method on that input (a new (input, method) pair)
Aims: first switch and kernel requests < 150 ms (median and 90th percentile), class < 16 ms.

    PYTHONPATH=. python benchmarks/explorer_latency.py [--out results.json] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, JupyterServer  # noqa: E402
from tests.browser.explorer_helpers import CLASS_CLICK_JS, wait_idle  # noqa: E402
from tests.browser.notebook_page import NotebookPage  # noqa: E402

INPUTS = 40
CELL = """import jaxviz as jv
model, digits = jv.zoo.load("digits-cnn")
explorer = jv.Explorer(model, digits.x_test[:{inputs}], labels=digits.y_test[:{inputs}],
                       class_names=digits.class_names, method="integrated_gradients",
                       warm={warm})
explorer"""
FIRST = "integrated_gradients"  # the method shown first
STEADY_METHODS = [
    "saliency",
    "integrated_gradients",
    "smoothgrad",
    "gradcam",
    "guided_backprop",
    "occlusion",
]

# Resolves once the next animation frame after `done()` holds has run: the view is on screen.
SETTLED_JS = """
const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
const until = (root, done) => new Promise(resolve => {
  if (done()) return resolve();
  const watch = new MutationObserver(() => { if (done()) { watch.disconnect(); resolve(); } });
  watch.observe(root, {attributes: true, childList: true, subtree: true});
});
"""

# Changes a kernel-backed control and resolves with the milliseconds until the result is drawn.
TIMED_CHANGE_JS = "async (root, [kind, value]) => {" + SETTLED_JS + """
  const done = () => root.dataset.busy !== 'true' && (kind === 'method'
      ? root.dataset.resultMethod === value : root.dataset.resultIndex === String(value));
  const t0 = performance.now();
  if (kind === 'method') {
    const s = root.querySelector('[data-control="method"]');
    s.value = value;
    s.dispatchEvent(new Event('change', {bubbles: true}));
  } else {
    root.querySelector(`[data-index="${value}"]`).click();
  }
  await until(root, done);
  await frame();
  return performance.now() - t0;
}"""


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max_ms": round(max(times), 2),
    }


def machine() -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{platform.machine()}, {os.cpu_count()} cores, load average {load} at the end"


class Notebooks:
    """A JupyterLab server and Chromium; `show(name, source, root_class)` runs a one-cell
    notebook in a fresh kernel and returns (page, widget root) once the widget is drawn."""

    def __init__(self, playwright):
        self.home = Path(tempfile.mkdtemp(prefix="jaxviz-bench-"))
        (self.home / "root").mkdir()
        self.server = JupyterServer("lab", self.home / "root", self.home)
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                  args=CHROMIUM_ARGS)

    def show(self, name: str, source: str, root_class: str):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, self.home / "root" / name)
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = NotebookPage(context.new_page(), self.server, name, self.home)
        page.open()
        page.run_all(timeout_ms=600_000)
        return page, page.widget(root_class)

    def close(self) -> None:
        self.browser.close()
        self.server.stop()


def settle(page, seconds: float) -> None:
    """Leaves the shown widget alone for `seconds` (the warm-up, if any, runs meanwhile)."""
    page.page.wait_for_timeout(seconds * 1000)


def warm_status(page, name: str) -> dict:
    """How far the widget's warm-up got: tasks done and pending, requests served from cache."""
    return json.loads(page.kernel_eval(
        f"__import__('json').dumps({{'served': {name}._served, 'warm_tasks_done': "
        f"{name}._warmer.completed if {name}._warmer else 0, 'warm_tasks_pending': "
        f"len({name}._warmer._pending) if {name}._warmer else 0}})")[1:-1])


def explorer_phase(notebooks: Notebooks, warm: bool, settle_s: float, steady_inputs: int):
    page, root = notebooks.show(f"explorer_{'warm' if warm else 'cold'}.ipynb",
                                CELL.format(inputs=INPUTS, warm=warm), "jaxviz-explorer")
    shown = time.perf_counter()
    wait_idle(page.page, root)
    settle(page, settle_s - (time.perf_counter() - shown))
    before = warm_status(page, "explorer")

    def change(kind, value):
        return root.evaluate(TIMED_CHANGE_JS, [kind, value])

    methods = root.locator("[data-control=method] option").evaluate_all(
        "options => options.map(o => o.value)")
    first = {m: round(change("method", m), 1) for m in methods if m != FIRST}
    after_first = warm_status(page, "explorer")
    change("method", FIRST)
    back = [change("method", m) for m in methods if m != FIRST]  # each one visited before
    change("method", FIRST)

    class_ms = [root.evaluate(CLASS_CLICK_JS)["ms"] for _ in range(60)]
    input_ms, method_ms = [], []
    for index in range(1, steady_inputs + 1):
        # the input arrives with the current method (IG, 32 steps), then one other method
        input_ms.append(change("input", index))
        other = STEADY_METHODS[index % len(STEADY_METHODS)]
        if other == FIRST:
            other = "saliency"
        method_ms.append(change("method", other))
        change("method", FIRST)  # cached: restores the input's method
    page.close()
    return {
        "first_switch": {**summary(list(first.values())), "per_method_ms": first},
        "return_switch": summary(back),
        "warm_up_when_measured": before,
        "served_by_the_first_switches": {k: after_first["served"][k] - before["served"][k]
                                         for k in before["served"]},
        "class_switch": summary(class_ms),
        "input_change_integrated_gradients_32_steps": summary(input_ms),
        "method_change": summary(method_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "explorer_latency.json"
    )
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds the widget is shown before the first measurement")
    parser.add_argument("--steady-inputs", type=int, default=INPUTS - 1,
                        help="inputs visited for the input / method change numbers")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        notebooks = Notebooks(p)
        try:
            phases = {mode: explorer_phase(notebooks, mode == "warm", args.settle,
                                           args.steady_inputs) for mode in ("cold", "warm")}
        finally:
            notebooks.close()

    results = {
        "model": "digits-cnn (8x8x1, 10 classes)",
        "machine": machine(),
        "settle_s": args.settle,
        **phases,
        "steady_methods": STEADY_METHODS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
