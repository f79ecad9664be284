"""The package's static checks run with the tests, so the README's one test command runs them.

ruff (the rules and line length in pyproject.toml) on the whole repository, and pyright (its
configuration in pyproject.toml) on the package. Both are test dependencies, pinned so a new
release cannot turn a clean tree red.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean():
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, (
        f"ruff check . found problems (`ruff check --fix .` fixes some):\n{result.stdout}"
        f"{result.stderr}"
    )


def test_pyright_is_clean():
    result = _run("pyright", "--warnings", "--pythonpath", sys.executable)
    assert result.returncode == 0, (
        f"pyright (configured in pyproject.toml) found problems:\n{result.stdout}{result.stderr}"
    )
