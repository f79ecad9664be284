"""The public API is a decision: its names and signatures are compared to a committed snapshot.

A change to a public name or signature fails here until `tests/api_signatures.txt` is
regenerated and committed with the change (see `REGENERATE`), so a pull request shows the API
change line by line. The same tests hold the API policy of the README: the model argument is
`model`, randomness is a `key`, and everything after `target` is keyword-only.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
from pathlib import Path

import jaxviz as jv

SNAPSHOT = Path(__file__).with_name("api_signatures.txt")
REGENERATE = "JAXVIZ_UPDATE_API=1 pytest tests/test_api.py"
# The modules users reach by name: `jv.*`, `jv.plot.*`, `jv.zoo.*`, `jv.flow.*`, ...
MODULES = (
    "jaxviz",
    "jaxviz.plot",
    "jaxviz.zoo",
    "jaxviz.flow",
    "jaxviz.sequence",
    "jaxviz.metrics",
)


def public_names(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name in vars(module)
        if not name.startswith("_") and not inspect.ismodule(getattr(module, name))
    )


def _signature(obj) -> str:
    text = str(inspect.signature(obj))
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # a default's repr must not hold an address


def _class_members(cls) -> list[str]:
    """Public methods, properties and traits that jaxviz defines on `cls` (and its jaxviz bases)."""
    lines = []
    seen = set()
    for owner in cls.__mro__:
        if not owner.__module__.startswith("jaxviz"):
            continue
        for name, member in vars(owner).items():
            if name.startswith("_") or name in seen or name in getattr(cls, "_fields", ()):
                continue
            seen.add(name)
            if isinstance(member, property):
                lines.append(f".{name}: property")
            elif isinstance(member, staticmethod | classmethod):
                lines.append(f".{name}{_signature(member.__func__)}")
            elif inspect.isfunction(member):
                lines.append(f".{name}{_signature(member)}")
            elif not isinstance(member, str | int | float | tuple | dict):  # a trait, a field
                lines.append(f".{name}: {type(member).__name__}")
    return sorted(lines)


def describe(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    lines = []
    for name in public_names(module):
        obj = getattr(module, name)
        qualified = f"{module_name}.{name}"
        if inspect.ismodule(obj):
            lines.append(f"{qualified}: module {obj.__name__}")
        elif inspect.isclass(obj):
            lines.append(f"{qualified}{_signature(obj)}")
            lines.extend(f"{qualified}{member}" for member in _class_members(obj))
        elif callable(obj):
            lines.append(f"{qualified}{_signature(obj)}")
        else:
            lines.append(f"{qualified} = {obj!r}")
    return lines


def current_api() -> str:
    return "\n".join(line for module in MODULES for line in describe(module)) + "\n"


def test_public_signatures_match_the_snapshot():
    now = current_api()
    if os.environ.get("JAXVIZ_UPDATE_API") == "1":
        SNAPSHOT.write_text(now)
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            now.splitlines(keepends=True),
            "tests/api_signatures.txt (committed)",
            "the API now",
        )
    )
    assert not diff, (
        "The public API changed. If that is intended, regenerate the snapshot with\n"
        f"    {REGENERATE}\nand commit tests/api_signatures.txt with the change (a renamed or "
        "removed argument keeps its old spelling for one release: jaxviz/_deprecation.py).\n"
        + diff
    )


def test_every_public_name_is_listed_in_all():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        if not hasattr(module, "__all__"):
            continue
        defined = {
            name
            for name in vars(module)
            if not name.startswith("_") and not inspect.ismodule(getattr(module, name))
        }
        assert defined <= set(module.__all__), f"{module_name}: add to __all__"
        assert len(module.__all__) == len(set(module.__all__)), f"{module_name}: a duplicate"
        for name in module.__all__:
            getattr(module, name)  # every listed name resolves (the lazy ones included)


def _public_callables():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj.__module__.startswith("jaxviz"):
                yield f"{module_name}.{name}", obj
            elif inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


def _parameters(obj):
    return list(inspect.signature(obj).parameters.values())


def test_the_model_argument_is_called_model():
    for name, obj in _public_callables():
        for parameter in _parameters(obj):
            assert parameter.name not in ("m", "net", "network"), f"{name}: {parameter.name}"


def test_randomness_is_a_key():
    for name, obj in _public_callables():
        for parameter in _parameters(obj):
            assert parameter.name not in ("seed", "rng", "rngs", "random_state", "prng"), (
                f"{name}: {parameter.name}= should be key= (a jax.random.key)"
            )


def test_options_after_target_are_keyword_only():
    """A metric also takes what it evaluates, the attribution or the method, by position."""
    for name, obj in _public_callables():
        parameters = _parameters(obj)
        names = [p.name for p in parameters]
        if "target" not in names:
            continue
        after = parameters[names.index("target") + 1 :]
        if name.startswith("jaxviz.metrics.") and after and after[0].name in (
            "attribution",
            "method",
        ):
            after = after[1:]
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in after), (
            f"{name}: {[p.name for p in after if p.kind != p.KEYWORD_ONLY]}"
        )


def test_method_means_an_attribution_method():
    """`method=` takes the name of an attribution method, nothing else (a quadrature rule, a
    projection, a drawing style have their own argument names)."""
    attribution_methods = set(vars(jv.explain)) | {"deconvnet", "guided_backprop"}
    for name, obj in _public_callables():
        for parameter in _parameters(obj):
            if parameter.name == "method" and parameter.default is not parameter.empty:
                assert parameter.default in attribution_methods, (
                    f"{name}: method={parameter.default!r} is not an attribution method"
                )


def test_result_types_are_exported():
    """A jaxviz type that a public function returns is reachable by name from the public API."""
    reachable = {
        id(getattr(importlib.import_module(module), name))
        for module in MODULES
        for name in public_names(importlib.import_module(module))
    }
    for name in ("TopExamples", "ReceptiveField", "PCA", "KMeans", "FeatureVisualization"):
        assert name in jv.__all__
    for name, obj in _public_callables():
        if not inspect.isfunction(obj):
            continue
        returned = inspect.get_annotations(obj).get("return")
        for word in re.findall(r"[A-Za-z_]\w*", str(returned)):
            found = obj.__globals__.get(word)
            if inspect.isclass(found) and found.__module__.startswith("jaxviz"):
                assert id(found) in reachable, f"{name} returns {word}, which is not exported"


def _resolves(dotted: str) -> bool:
    obj, parts = jv, dotted.split(".")[1:]
    for i, part in enumerate(parts):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:
            obj = importlib.import_module("jaxviz." + ".".join(parts[: i + 1]))
        except ImportError:
            return False
    return True


def test_names_in_messages_and_docs_exist():
    """Every `jv.name` / `jaxviz.name` written in the package's strings (error messages,
    docstrings) is a name that exists, so an error never sends a user to a missing function."""
    root = Path(jv.__file__).parent
    missing = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"(?<![\w.])(?:jv|jaxviz)(?:\.[A-Za-z_]\w*)+", text):
            if not _resolves(match.group(0)):
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{path.relative_to(root.parent)}:{line}: {match.group(0)}")
    assert missing == []
