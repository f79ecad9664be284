"""Every notebook in notebooks/ runs top to bottom, headless, without an error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
KERNEL = "jaxviz-test"


@pytest.fixture
def this_interpreter_kernel(tmp_path, monkeypatch):
    """A kernelspec running ipykernel in the interpreter that runs pytest, whatever else the
    machine has installed as "python3"."""
    spec = tmp_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return KERNEL


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, this_interpreter_kernel):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=this_interpreter_kernel,
        timeout=600,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_notebooks_are_found():
    assert any(p.name == "01_quickstart.ipynb" for p in NOTEBOOKS)
