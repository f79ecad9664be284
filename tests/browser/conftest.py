"""Real-browser harness: a real JupyterLab 4 / Notebook 7 server, a real kernel, Debian's Chromium.

Fixtures:
  jupyter_server(app)  a running server ("lab" or "notebook") on a free loopback port with a token
                       and a temporary root directory (one per app for the whole session)
  browser              Playwright's Chromium at /usr/bin/chromium (no `playwright install`)
  open_notebook        factory: copies/writes a notebook into the server's root, opens it in a
                       fresh page, accepts the kernel dialog and returns a NotebookPage

Tests are marked `browser`. Without /usr/bin/chromium they skip, unless JAXVIZ_REQUIRE_BROWSER=1
(CI), in which case they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .notebook_page import NotebookPage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
APPS = {"lab": ("lab", "/lab/tree/{path}"), "notebook": ("notebook", "/notebooks/{path}")}

# JupyterLab/Notebook user settings for a quiet, fully rendered notebook: no virtual scrolling
# (cells off screen still render), no news or update checks.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("JAXVIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required (JAXVIZ_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    def __init__(self, app: str, root: Path, home: Path):
        self.app = app
        self.root = root
        self.runtime_dir = home / "runtime"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        settings_dir = home / "settings"
        for name, value in SETTINGS.items():
            if app == "notebook" and "notification" in name:
                continue  # Notebook 7 has no such plugin and fails on its settings
            (settings_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (settings_dir / name).write_text(json.dumps(value))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JAX_PLATFORMS": "cpu",
        }
        self.log = open(home / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                APPS[app][0],
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.allow_root=True",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
            ],  # fmt: skip
            env=env,
            cwd=root,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(timeout=90)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str):
        with urllib.request.urlopen(f"{self.base_url}{path}?token={self.token}", timeout=5) as r:
            return json.loads(r.read())

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited: see {self.log.name}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter {self.app} did not start in {timeout}s: see {self.log.name}")

    def url(self, notebook: str) -> str:
        # JupyterLab restores the last workspace (earlier tests' notebooks and kernels) unless
        # reset.
        reset = "&reset" if self.app == "lab" else ""
        return f"{self.base_url}{APPS[self.app][1].format(path=notebook)}?token={self.token}{reset}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def _servers(tmp_path_factory):
    servers: dict[str, JupyterServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def jupyter_server(_servers, tmp_path_factory):
    """jupyter_server("lab" | "notebook") -> a running JupyterServer (started once)."""
    _require_browser()

    def get(app: str) -> JupyterServer:
        if app not in _servers:
            home = tmp_path_factory.mktemp(f"jupyter-{app}")
            root = home / "root"
            root.mkdir()
            _servers[app] = JupyterServer(app, root, home)
        return _servers[app]

    return get


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def open_notebook(browser, jupyter_server, artifacts):
    """open_notebook(app, notebook_path_or_nbformat_node, name=None) -> NotebookPage.

    Pages opened through the fixture are closed (and their kernels shut down) at module end.
    """
    opened: list[NotebookPage] = []

    def open_(app: str, notebook, *, name: str | None = None, theme: str = "light") -> NotebookPage:
        server = jupyter_server(app)
        if isinstance(notebook, (str, Path)):
            name = name or Path(notebook).name
            shutil.copy(notebook, server.root / name)
        else:
            import nbformat

            name = name or "notebook.ipynb"
            nbformat.write(notebook, server.root / name)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme)
        page = NotebookPage(context.new_page(), server, name, artifacts)
        opened.append(page)
        page.open()
        return page

    yield open_
    for page in opened:
        page.close()
