"""Cold start (issue 6 item 4): a new Python process to the first attribution of digits-cnn.

Each measurement is a fresh interpreter running ``import jaxviz``, ``jv.zoo.load("digits-cnn")``
and one ``jv.integrated_gradients`` call (trace, compile, run), then a second call on new inputs
(the steady state, for contrast). Three settings of jaxviz's persistent compilation cache:

- *cold*: cache on, empty directory (the very first run on a machine; it fills the cache);
- *warm*: cache on, filled by a previous process (every later run);
- *off*: ``JAXVIZ_NO_COMPILE_CACHE=1``.

The process's wall time and CPU time (user + system) are both reported: on a shared machine
the wall time includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
TARGETS = {"cold": 3.0, "warm": 1.5}

CHILD = """
import time
marks = [(time.perf_counter(), time.process_time())]
import jaxviz as jv
marks.append((time.perf_counter(), time.process_time()))
model, data = jv.zoo.load("digits-cnn")
marks.append((time.perf_counter(), time.process_time()))
jv.integrated_gradients(model, data.x_test[:1]).block_until_ready()
marks.append((time.perf_counter(), time.process_time()))
jv.integrated_gradients(model, data.x_test[1:2]).block_until_ready()
marks.append((time.perf_counter(), time.process_time()))
import json
phases = ("import", "load", "first", "second")
print(json.dumps({**{p: b[0] - a[0] for p, a, b in zip(phases, marks, marks[1:])},
                  **{p + "_cpu": b[1] - a[1] for p, a, b in zip(phases, marks, marks[1:])}}))
"""


def fresh_process(cache_home: Path, *, cache: bool, importtime: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env.pop("JAXVIZ_NO_COMPILE_CACHE", None)
    env.update(XDG_CACHE_HOME=str(cache_home), JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    if not cache:
        env["JAXVIZ_NO_COMPILE_CACHE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start run failed:\n{done.stderr[-3000:]}")
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, **phases, "importtime": done.stderr if importtime else ""}


WATCHED_IMPORTS = (
    "jaxviz",
    "jax",
    "flax",
    "optax",
    "jaxviz.explain",
    "jaxviz.zoo",
    "matplotlib",
    "anywidget",
)


def import_seconds(importtime: str) -> dict[str, float]:
    """Cumulative import time of each watched module, from `python -X importtime` output."""
    found = {}
    for line in importtime.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)$", line)
        if match and match.group(2) in WATCHED_IMPORTS:
            found[match.group(2)] = int(match.group(1)) / 1e6
    return found


def run() -> str:
    runs: dict[str, list[dict]] = {"cold": [], "warm": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(REPEATS):
            home = Path(tmp) / f"cache{repeat}"
            runs["cold"].append(fresh_process(home, cache=True))
            runs["warm"].append(fresh_process(home, cache=True))
            runs["off"].append(fresh_process(Path(tmp) / "unused", cache=False))
        profile = fresh_process(Path(tmp) / "cache0", cache=True, importtime=True)

    def median(setting: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[setting])

    def phases(setting: str, suffix: str) -> str:
        return " | ".join(f"{median(setting, p + suffix):.2f}" for p in ("import", "load", "first"))

    rows = []
    for setting in runs:
        target = TARGETS.get(setting)
        verdict = "" if target is None else (
            f"< {target:g} s: wall {'met' if median(setting, 'wall') < target else 'missed'}, "
            f"CPU {'met' if median(setting, 'cpu') < target else 'missed'}")
        rows.append(
            f"| {setting} | {median(setting, 'wall'):.2f} | {median(setting, 'cpu'):.2f} "
            f"| {phases(setting, '')} | {phases(setting, '_cpu')} "
            f"| {median(setting, 'second') * 1e3:.0f} ms | {verdict} |"
        )
    seconds = import_seconds(profile["importtime"])
    imports = ", ".join(
        f"{name} {seconds[name]:.2f} s" for name in WATCHED_IMPORTS if name in seconds
    )
    load = os.getloadavg()[0]
    return "\n".join([
        "## Cold start: new process to the first digits-cnn attribution",
        "",
        f"Median of {REPEATS} fresh processes per setting, run in turn; `jv.integrated_gradients` "
        "with its defaults (64-step Gauss-Legendre) on one digit; *first IG* is trace + compile "
        "(or cache load) + run. Phases are measured inside the process, in wall and in CPU "
        "seconds; *wall* and *CPU* cover the whole process, interpreter start "
        f"included. Load average during the run: {load:.1f} on {os.cpu_count()} cores.",
        "",
        "| persistent cache | wall (s) | CPU (s) | import | zoo.load | first IG | import CPU "
        "| zoo.load CPU | first IG CPU | second IG | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Where the import time goes (`python -X importtime`, warm run, cumulative): {imports}. "
        "Modules not listed were not imported (matplotlib waits for the first use of `jv.plot`).",
    ])
