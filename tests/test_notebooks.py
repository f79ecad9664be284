"""Every notebook in notebooks/ runs top to bottom, headless and offline, within its time budget;
every lesson has the shape /work/shared/LESSONS.md asks for (objectives, predict-then-run
questions, checked exercises whose solutions pass their graders)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "jaxviz-test"
NO_NETWORK = Path(__file__).with_name("no_network.py")
# A lesson runs in about 3 minutes on an unloaded 2-core CPU; the test allows twice that, since
# the suite runs two notebooks at once beside other tests.
SECONDS = float(os.environ.get("JAXVIZ_NOTEBOOK_SECONDS", "360"))


@pytest.fixture
def offline_kernel(tmp_path, monkeypatch):
    """A kernelspec running ipykernel in the interpreter that runs pytest (whatever else the
    machine has installed as "python3"), with the network blocked before the first cell."""
    spec = tmp_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    block = f"__import__('runpy').run_path({str(NO_NETWORK)!r}, run_name='__main__')"
    argv = [
        sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
        f"--IPKernelApp.exec_lines={json.dumps([block])}",
    ]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    # The kernel imports the jaxviz of this checkout, as pytest does (pythonpath = ["."]),
    # whichever jaxviz is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")])))
    return KERNEL


def execute(notebook, kernel: str, directory: Path):
    client = NotebookClient(
        notebook, kernel_name=kernel, timeout=600, resources={"metadata": {"path": str(directory)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    return notebook


def code_cell(source: str):
    return nbformat.v4.new_code_cell(source)


@pytest.mark.slow
# Each notebook is scheduled on its own xdist worker slot (tests/conftest.py: RUN_APART).
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_offline_in_time(path, offline_kernel):
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    execute(notebook, offline_kernel, path.parent)
    seconds = time.perf_counter() - start
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert seconds < SECONDS, f"{path.name} ran {seconds:.0f} s, over its {SECONDS:.0f} s budget"


@pytest.mark.slow
def test_a_notebook_cannot_reach_the_network(offline_kernel, tmp_path):
    """The guard the notebook tests install works inside the kernel: a download fails at once
    with an error that says why, while the kernel's own local channels keep working."""
    probe = nbformat.v4.new_notebook(cells=[
        code_cell("import socket, urllib.request"),
        code_cell("urllib.request.urlopen('https://pypi.org/simple/jaxviz/', timeout=5)"),
    ])
    with pytest.raises(CellExecutionError, match="network access blocked"):
        execute(probe, offline_kernel, tmp_path)
    direct = nbformat.v4.new_notebook(cells=[
        code_cell("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=5)"),
    ])
    with pytest.raises(CellExecutionError, match="network access blocked"):
        execute(direct, offline_kernel, tmp_path)
    local = nbformat.v4.new_notebook(cells=[code_cell(
        "import socket\nserver = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(server.getsockname(), timeout=5).close()\nprint('local ok')"
    )])
    execute(local, offline_kernel, tmp_path)
    assert "local ok" in local.cells[0].outputs[0]["text"]


def test_notebooks_are_found():
    assert any(p.name == "00_course.ipynb" for p in NOTEBOOKS)
    assert any(p.name == "01_quickstart.ipynb" for p in NOTEBOOKS)


# The shape of a lesson (/work/shared/LESSONS.md; conventions in jaxviz/course.py's docstring).
LESSONS = [p for p in NOTEBOOKS if p.name[:2].isdigit() and p.name[:2] != "00"]
# "**Objectives.**" or "**You will be able to**" (the course uses both), then a numbered list.
OBJECTIVES = re.compile(r"^(#+\s*|\*\*)(objectives\b|you will be able to)",
                        re.IGNORECASE | re.MULTILINE)
TIME = re.compile(r"\*\*time:?\*\*", re.IGNORECASE)
# "**Predict.**", "**Predict first:**", "### Predict, then run": a question before a figure.
PREDICT = re.compile(r"(\*\*|^#+\s*)predict\b", re.IGNORECASE | re.MULTILINE)
EXERCISE = re.compile(r"^###\s+exercise\s+\d+\.\d+", re.IGNORECASE | re.MULTILINE)
GRADER = re.compile(r"\bcourse\.check_(value|choice|that|function)\(")


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises(notebook) -> list[tuple[str, object, object]]:
    """Each exercise: its heading, the code cell the student answers in, its solution cell."""
    found, cells = [], notebook.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown" or not (match := EXERCISE.search(cell.source)):
            continue
        following = [c for c in cells[i + 1:i + 4] if c.cell_type == "code"]
        answer = next((c for c in following if "solution" not in tags(c)), None)
        solution = next((c for c in following if "solution" in tags(c)), None)
        found.append((match.group(0), answer, solution))
    return found


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_has_the_shape_of_a_lesson(path):
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert OBJECTIVES.search(text), (
        f"{path.name}: no objectives (a '**Objectives.**' or '**You will be able to**' line)"
    )
    assert TIME.search(text), f"{path.name}: no '**Time:**' for the lesson"
    predictions = len(PREDICT.findall(text))
    assert predictions >= 3, f"{path.name}: {predictions} predict-then-run questions, need 3"
    found = exercises(notebook)
    assert len(found) >= 2, f"{path.name}: {len(found)} exercises ('### Exercise N.M'), need 2"
    for heading, answer, solution in found:
        assert answer is not None and GRADER.search(answer.source), (
            f"{path.name}, {heading}: the cell after it must check the answer with course.check_*"
        )
        assert "..." in answer.source, f"{path.name}, {heading}: the answer starts as `...`"
        assert solution is not None and GRADER.search(solution.source), (
            f"{path.name}, {heading}: no solution cell (tagged 'solution') run through its grader"
        )
        assert solution.metadata.get("jupyter", {}).get("source_hidden"), (
            f"{path.name}, {heading}: the solution cell must be collapsed (source_hidden)"
        )
    claims = [c for c in notebook.cells if "claim" in tags(c)]
    assert claims and all("course.claim(" in c.source for c in claims), (
        f"{path.name}: checkable sentences need cells tagged 'claim' calling course.claim"
    )


def test_notebooks_are_scheduled_one_by_one_and_modules_stay_together(request):
    """tests/conftest.py's scheduler: each notebook is its own unit (they spread over the
    workers), every other test stays with its module (module-scoped fixtures built once)."""
    from conftest import scheduling_unit

    notebooks = [f"tests/test_notebooks.py::test_notebook_runs_offline_in_time[{p.name}]"
                 for p in NOTEBOOKS]
    assert len({scheduling_unit(n) for n in notebooks}) == len(NOTEBOOKS)
    assert scheduling_unit(request.node.nodeid) == "tests/test_notebooks.py"
    assert scheduling_unit("tests/test_plot.py::test_grid[a-b]") == "tests/test_plot.py"
    assert scheduling_unit("tests/browser/test_x.py::Test::test_y") == "tests/browser/test_x.py"
