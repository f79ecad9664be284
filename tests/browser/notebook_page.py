"""NotebookPage: one notebook open in JupyterLab or Notebook 7, driven by Playwright."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

# Reads a canvas's pixels in the page: RGBA bytes as base64, plus its size.
_CANVAS_JS = """el => {
  const ctx = el.getContext('2d');
  const data = ctx.getImageData(0, 0, el.width, el.height).data;
  let bin = '';
  for (let i = 0; i < data.length; i += 8192) {
    bin += String.fromCharCode.apply(null, data.subarray(i, i + 8192));
  }
  return {width: el.width, height: el.height, rgba: btoa(bin)};
}"""

# Every code cell with source has run (its prompt shows a number) and none is queued or running.
_CELLS_DONE_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-CodeCell')];
  const pending = cells.filter(c => {
    const src = c.querySelector('.jp-InputArea-editor')?.textContent.trim() ?? '';
    const prompt = c.querySelector('.jp-InputPrompt')?.textContent ?? '';
    return src.length > 0 && !/\\[\\d+\\]/.test(prompt);
  });
  return cells.length > 0 && pending.length === 0;
}"""


class NotebookPage:
    def __init__(self, page, server, name: str, artifacts: Path):
        self.page = page
        self.server = server
        self.name = name
        self.artifacts = artifacts
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"{exc}\n{exc.stack}"))
        self._kernel = None

    # -- notebook -----------------------------------------------------------------------------

    def open(self) -> None:
        self.page.goto(self.server.url(self.name))
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        self.accept_kernel_dialog()
        self.page.wait_for_function(
            "() => document.querySelector('.jp-Notebook') && !document.querySelector('.jp-Dialog')",
            timeout=30_000,
        )

    def accept_kernel_dialog(self, timeout_ms: int = 3_000) -> None:
        """Accepts the kernel choice dialog if the app shows one (it does for unknown kernels)."""
        try:
            button = self.page.wait_for_selector(
                ".jp-Dialog .jp-Dialog-button.jp-mod-accept", timeout=timeout_ms
            )
        except Exception:  # noqa: BLE001 - no dialog is the common case
            return
        button.click()

    def run_all(self, timeout_ms: int = 240_000) -> None:
        """Runs every cell through the app's Run menu and waits until all have finished."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        self.page.wait_for_function(_CELLS_DONE_JS, timeout=timeout_ms)

    def cell_errors(self) -> list[str]:
        """Text of every error output in the notebook."""
        return self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_text_contents()

    def widget_errors(self) -> list[str]:
        """Uncaught page errors raised in widget code (anywidget, ipywidgets, bundles from blob:).

        The apps' own start-up errors (Notebook 7 logs one about a settings schema) are not the
        widgets' and are left out.
        """
        return [
            e for e in self.errors if any(k in e for k in ("blob:", "anywidget", "jupyter-widgets"))
        ]

    # -- kernel ----------------------------------------------------------------------------------

    def kernel_eval(self, expression: str, timeout: float = 60) -> str:
        """repr() of `expression` evaluated in this notebook's kernel (its own client, no UI)."""
        if self._kernel is None:
            from jupyter_client import BlockingKernelClient

            sessions = self.server.api("/api/sessions")
            kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"].endswith(self.name))
            client = BlockingKernelClient()
            client.load_connection_file(self.server.runtime_dir / f"kernel-{kernel_id}.json")
            client.start_channels()
            client.wait_for_ready(timeout=timeout)
            self._kernel = client
        reply = self._kernel.execute_interactive(
            "", user_expressions={"value": expression}, timeout=timeout, output_hook=lambda m: None
        )
        result = reply["content"]["user_expressions"]["value"]
        if result["status"] != "ok":
            raise RuntimeError(f"{expression!r} failed in the kernel: {result.get('evalue')}")
        return result["data"]["text/plain"]

    def kernel_exec(self, code: str, timeout: float = 120) -> None:
        """Runs `code` in the kernel (for setting traits from Python, as a user would)."""
        self.kernel_eval("None")
        reply = self._kernel.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel code failed: {reply['content'].get('evalue')}")

    # -- widgets ---------------------------------------------------------------------------------

    def widget(self, root_class: str, index: int = 0, timeout_ms: int = 120_000):
        """The locator of the index-th widget root with class `root_class`, once it is shown."""
        locator = self.page.locator(f".{root_class}").nth(index)
        locator.wait_for(state="visible", timeout=timeout_ms)
        return locator

    def canvas(self, locator) -> np.ndarray:
        """The canvas's pixels as a (height, width, 4) uint8 array."""
        got = locator.evaluate(_CANVAS_JS)
        rgba = np.frombuffer(base64.b64decode(got["rgba"]), dtype=np.uint8)
        return rgba.reshape(got["height"], got["width"], 4)

    def screenshot(self, name: str, locator=None) -> Path:
        path = self.artifacts / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.stop_channels()
        try:
            sessions = self.server.api("/api/sessions")
            for s in sessions:
                if s["path"].endswith(self.name):
                    import urllib.request

                    req = urllib.request.Request(
                        f"{self.server.base_url}/api/sessions/{s['id']}?token={self.server.token}",
                        method="DELETE",
                    )
                    urllib.request.urlopen(req, timeout=10).close()
        except OSError:
            pass
        self.page.context.close()
