"""jaxviz benchmarks: side-by-side comparisons with peers (not run as tests).

Run every comparison and write ``benchmarks/RESULTS.md`` with ``python -m benchmarks``
(or ``python benchmarks/run.py``). Each topic is a module ``benchmarks/bench_<topic>.py``
exposing ``run() -> str``, which returns its section of RESULTS.md as markdown.
"""
