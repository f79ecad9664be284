"""Every `>>>` example in the package runs, on the zoo, and prints what its docstring says.

Examples see their module's names and those a notebook has after `import jax, jax.numpy as jnp,
numpy as np, jaxviz as jv` (and may import them again); everything else, a model or data
included, they make themselves, e.g. `m, data = jv.zoo.load("digits-cnn")`.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

import jaxviz as jv

# Scripts run with `python -m`, not imported as part of the library.
_SCRIPTS = {"jaxviz.zoo.train", "jaxviz.zoo.build_data"}


def _modules() -> list[str]:
    found = ["jaxviz"]
    for info in pkgutil.walk_packages(jv.__path__, "jaxviz."):
        if info.name not in _SCRIPTS:
            found.append(info.name)
    return sorted(found)


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    return [test for test in tests if test.examples]


MODULES = [name for name in _modules() if _examples(name)]


def test_the_package_has_examples_to_run():
    assert len(MODULES) >= 15, MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name, monkeypatch, tmp_path):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    namespace = {"jax": jax, "jnp": jnp, "np": np, "jv": jv}
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report = io.StringIO()
    for test in _examples(module_name):
        test.globs.update(namespace)  # over the module's own names, as `python -m doctest` has
        runner.run(test, out=report.write)
        plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{module_name}: {result.failed} failed\n{report.getvalue()}"


def test_no_example_is_skipped():
    """A skipped example is an example nobody checks: write one that runs instead."""
    skipped = [
        f"{test.name}: {example.source.strip()}"
        for name in MODULES
        for test in _examples(name)
        for example in test.examples
        if example.options.get(doctest.SKIP)
    ]
    assert skipped == []
