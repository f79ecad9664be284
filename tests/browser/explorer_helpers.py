"""Reading and driving a jaxviz Explorer in a page (notebook and static-page tests share it)."""

from __future__ import annotations

import numpy as np

# A hash of the attribution canvas's pixels, read in the page.
CANVAS_HASH_JS = """(root, role) => {
  const c = root.querySelector(`[data-role="${role}"]`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) >>> 0;
  return h;
}"""

# Clicks a prediction bar of another class and reads the canvas in the same task: if the pixels
# changed, they changed without any kernel message (none can arrive inside one task).
CLASS_CLICK_JS = """root => {
  const c = root.querySelector('[data-role="attribution"]');
  const read = () => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) >>> 0;
    return h;
  };
  const shown = Number(root.dataset.shownClass);
  const bars = [...root.querySelectorAll('[data-role="predictions"] [data-class]')];
  const bar = bars.find(b => Number(b.dataset.class) !== shown);
  const before = read();
  const t0 = performance.now();
  bar.click();
  const after = read();
  return {before, after, ms: performance.now() - t0, clicked: Number(bar.dataset.class),
          shown: Number(root.dataset.shownClass)};
}"""


def canvas_hash(root, role: str = "attribution") -> int:
    return root.evaluate(CANVAS_HASH_JS, role)


def wait_idle(page, root, timeout_ms: int = 120_000) -> None:
    """Waits until the Explorer has no kernel request in flight."""
    page.wait_for_function(
        "root => root.dataset.busy !== 'true'", arg=root.element_handle(), timeout=timeout_ms
    )


def wait_result(page, root, *, index=None, method=None, timeout_ms: int = 120_000) -> None:
    """Waits until the Explorer shows the result for `index` / `method` and is idle."""
    page.wait_for_function(
        """([root, index, method]) => root.dataset.busy !== 'true'
             && (index === null || root.dataset.resultIndex === String(index))
             && (method === null || root.dataset.resultMethod === method)""",
        arg=[root.element_handle(), index, method],
        timeout=timeout_ms,
    )


def rapid_slider_moves(root, moves: list[int]) -> None:
    """Moves the input slider through `moves` in one burst, an input event per move."""
    root.evaluate(
        """(root, moves) => {
          const s = root.querySelector('[data-control="input"]');
          for (const v of moves) {
            s.value = String(v);
            s.dispatchEvent(new Event('input', {bubbles: true}));
          }
        }""",
        moves,
    )


def attribution_is_drawn(pixels: np.ndarray) -> bool:
    """Opaque and not one flat color."""
    return bool((pixels[..., 3] == 255).all() and len(np.unique(pixels.reshape(-1, 4), axis=0)) > 4)
