"""Run every ``benchmarks/bench_<topic>.py`` and write their sections into RESULTS.md.

    python -m benchmarks                  # everything, writes benchmarks/RESULTS.md
    python -m benchmarks --only throughput --out -   # one topic, printed instead of written

Each topic module exposes ``run() -> str`` (a markdown section starting with a ``## `` heading).
Topics run in TOPIC_ORDER, then any others alphabetically, each in this one process, with JAX
on the CPU (the comparisons are CPU ones); the gpu topic measures in a child of its own.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before JAX is imported: it reads this once

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks._machine import machine_section  # noqa: E402

TOPIC_ORDER = (
    "throughput",
    "accuracy",
    "cold_start",
    "scale",
    "profile",
    "coalition",
    "metrics",
    "sequence",
    "latent",
    "gpu",
)


def discover_topics() -> list[str]:
    modules = pkgutil.iter_modules([str(HERE)])
    found = {m.name.removeprefix("bench_") for m in modules if m.name.startswith("bench_")}
    ordered = [t for t in TOPIC_ORDER if t in found]
    return ordered + sorted(found - set(ordered))


def run_topic(topic: str) -> str:
    module = importlib.import_module(f"benchmarks.bench_{topic}")
    start = time.perf_counter()
    section = module.run().rstrip()
    print(f"[benchmarks] {topic}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", nargs="+", metavar="TOPIC", help="run only these topics (bench_<TOPIC>.py)"
    )
    parser.add_argument(
        "--out",
        default=str(HERE / "RESULTS.md"),
        help="where to write the markdown ('-' prints it)",
    )
    args = parser.parse_args(argv)

    topics = discover_topics()
    unknown = sorted(set(args.only or ()) - set(topics))
    if unknown:
        parser.error(f"--only got unknown topic(s) {unknown}; available: {topics}")
    selected = [t for t in topics if not args.only or t in args.only]

    sections = [
        f"# jaxviz benchmarks\n\nWritten by `python -m benchmarks` "
        f"(topics: {', '.join(selected)}).",
        machine_section(),
    ]
    sections += [run_topic(t) for t in selected]
    text = "\n\n".join(sections) + "\n"
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        print(f"[benchmarks] wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
