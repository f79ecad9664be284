"""Old spellings of the public API keep working for one release, with a warning.

One decorator, `deprecated_arguments`, carries every renamed keyword argument and every option that
callers used to pass positionally: the function itself is written with its new signature only,
and `inspect.signature` (hence the API snapshot and `help()`) shows that signature.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

# The release in which the deprecated spellings stop working.
REMOVAL = "0.3"

Rename = str | tuple[str, Callable[[Any], Any]]


def deprecated_arguments(
    *, renamed: Mapping[str, Rename] | None = None, positional: Sequence[str] = ()
) -> Callable[[F], F]:
    """Accepts a function's deprecated argument spellings, each with a `DeprecationWarning`.

    Args:
        renamed: `{old: new}`: a call with `old=value` runs as `new=value`; or
            `{old: (new, convert)}`: it runs as `new=convert(value)` (e.g. `seed=` becoming
            `key=jax.random.key(seed)`).
        positional: keyword-only parameters that used to be positional, in their former order
            after the function's positional parameters: extra positional values are passed to
            them by name.

    Works on functions and on `__init__` methods. The warning names the function, the old
    spelling, the new one, and the release that removes the old one.

    >>> @deprecated_arguments(renamed={"m": "model"}, positional=("steps",))
    ... def explain(model, x, *, steps=8):
    ...     return model, x, steps
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     explain(x=1, m="net"), explain("net", 1, 16)
    (('net', 1, 8), ('net', 1, 16))
    >>> print(caught[0].message)
    explain: the argument m= is now model=; m= stops working in jaxviz 0.3.
    """
    renames = {
        old: (new, None) if isinstance(new, str) else new for old, new in (renamed or {}).items()
    }
    positional = tuple(positional)

    def decorate(function: F) -> F:
        parameters = inspect.signature(function).parameters
        kinds = {p.name: p.kind for p in parameters.values()}
        for old, (new, _) in renames.items():
            if new not in kinds or old in kinds:
                raise TypeError(f"{function.__qualname__}: cannot rename {old}= to {new}=")
        for name in positional:
            if kinds.get(name) is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"{function.__qualname__}: {name} is not a keyword-only parameter")
        takes_positional = sum(
            kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for kind in kinds.values()
        )
        name = _public_name(function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if positional and len(args) > takes_positional:
                extra = args[takes_positional:]
                if len(extra) > len(positional):
                    raise TypeError(
                        f"{name}: takes at most {takes_positional + len(positional)} positional "
                        f"arguments, got {len(args)}."
                    )
                args, moved = args[:takes_positional], dict(zip(positional, extra, strict=False))
                for keyword in moved:
                    if keyword in kwargs:
                        raise TypeError(f"{name}: got two values for {keyword}=.")
                spelled = ", ".join(f"{keyword}=..." for keyword in moved)
                _warn(
                    f"{name}: passing {', '.join(moved)} by position is deprecated and stops "
                    f"working in jaxviz {REMOVAL}; write {spelled}."
                )
                kwargs.update(moved)
            for old in renames.keys() & kwargs.keys():
                new, convert = renames[old]
                if new in kwargs:
                    raise TypeError(
                        f"{name}: got both {old}= (deprecated) and {new}=; pass {new}= only."
                    )
                _warn(
                    f"{name}: the argument {old}= is now {new}=; {old}= stops working in jaxviz "
                    f"{REMOVAL}."
                )
                value = kwargs.pop(old)
                kwargs[new] = value if convert is None else convert(value)
            return function(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def _public_name(function: Callable[..., Any]) -> str:
    """`integrated_gradients`, or `LayerExplorer` for a class's `__init__`."""
    qualname = function.__qualname__
    return qualname.removesuffix(".__init__")


def _warn(message: str) -> None:
    # stacklevel 3: past _warn and the wrapper, to the user's call.
    warnings.warn(message, DeprecationWarning, stacklevel=3)
