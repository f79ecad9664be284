"""`wrap()`: one uniform model for flax.nnx modules, flax.linen modules and plain functions.

Every kind reduces to one pure function `forward(params, x, hook)`, where `hook(name, value)`
sees each tappable layer's output as it is produced and returns the value the rest of the network
should use. Taps (activations, and gradients through an added zero `delta`) are built on that hook
alone, so they work under `jit`, `vmap` and `grad` without editing the user's code:

- flax.nnx: a merged copy of the module whose submodules answer `__call__` through a probe class;
- flax.linen: `nn.intercept_methods` around `module.apply`;
- plain functions: the `checkpoint_name` tags in the traced jaxpr (see `_jaxpr.py`).

Flax attention modules also report their attention weights and per-head outputs as layers
`<module>.attention_weights` and `<module>.heads` (see `_attention.py`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from . import _attention, _jaxpr
from ._checks import check_input, check_layers
from ._programs import LRU, PROGRAMS_PER_MODEL, ProgramCache, call

Hook = Callable[[str, jax.Array], jax.Array] | None
Forward = Callable[[Any, jax.Array, Hook], jax.Array]

# While on (only inside `module_scopes()`), every tapped module call runs inside
# `jax.named_scope(MODULE_SCOPE + layer)`, so each equation of a trace says which module calls it
# sits in (`flow/_graph.py` reads them back from `eqn.source_info.name_stack`).
MODULE_SCOPE = "jaxviz-module:"
_SCOPED = contextvars.ContextVar("jaxviz_module_scopes", default=False)


@contextlib.contextmanager
def module_scopes():
    """Name every module call of the traces run inside this block after its layer."""
    token = _SCOPED.set(True)
    try:
        yield
    finally:
        _SCOPED.reset(token)


def _module_scope(layer: str):
    return jax.named_scope(MODULE_SCOPE + layer) if _SCOPED.get() else contextlib.nullcontext()


class Model:
    """A model jaxviz can explain. Build it with `jaxviz.wrap`.

    Attributes:
      kind: "nnx", "linen" or "function".
      params: the trainable weights as a pytree (NNX `Param` state, Linen `params`, `()` for a
        plain function). Explanations pass them as arguments, so new weights never recompile.
    """

    def __init__(self, kind: str, params: Any, forward: Forward, *, static_layers, param_path):
        self.kind = kind
        self.params = params
        self._forward = forward
        self._static_layers = static_layers
        self._param_path = param_path
        # (shape, dtype) of an input -> ({layer: output shape}, logits shape), from one trace each
        self._traced: LRU[tuple[dict[str, jax.ShapeDtypeStruct], jax.ShapeDtypeStruct]] = LRU(
            PROGRAMS_PER_MODEL
        )
        self._last_layers: tuple[str, ...] | None = None
        # compiled programs, keyed by method, options and argument signature (explain/_engine.py)
        self.programs = ProgramCache()
        # {layer: class name of the module behind it} (NNX at wrap time, Linen once traced)
        self.layer_types: dict[str, str] = {}

    def __repr__(self) -> str:
        layers = ", ".join(self._layers_or_none() or ["(seen after the first input)"])
        return f"jaxviz.Model(kind={self.kind!r}, layers=[{layers}])"

    # -- computing -------------------------------------------------------------------------------

    def apply(self, params: Any, x: jax.Array, taps: Mapping[str, jax.Array] | None = None):
        """Logits for `x`; with `taps`, also each tapped layer's activation.

        `taps` maps layer names to a `delta` shaped like that layer's output (usually zeros). The
        delta is added to the layer's output, so the gradient with respect to it is the gradient
        with respect to the layer; a nonzero delta replaces the activation (layer integrated
        gradients). Returns `logits`, or `(logits, {layer: activation before the delta})`.
        A layer called several times is tapped at its first call.
        """
        if taps is None:
            return self._forward(params, x, None)
        activations: dict[str, jax.Array] = {}

        def hook(name, value):
            if name in taps and name not in activations:
                activations[name] = value
                return value + taps[name].astype(value.dtype)
            return value

        logits = self._forward(params, x, hook)
        missing = [name for name in taps if name not in activations]
        if missing:
            check_layers(missing, self.layers, argument="taps")
        return logits, activations

    def __call__(self, x) -> jax.Array:
        """The logits for a batch `x` (floating inputs, or integer token ids)."""
        x = check_input(self, x, integers=True)
        return call(self, ("logits",), lambda: self.apply, x)

    # -- structure -------------------------------------------------------------------------------

    @property
    def layers(self) -> tuple[str, ...]:
        """Tappable layers in forward order (known exactly once the model has seen an input)."""
        layers = self._layers_or_none()
        if layers is None:
            raise ValueError(
                "this plain function's layers are found by tracing it: pass `example=x` to "
                "jaxviz.wrap, or call the model (or any explanation) on an input first."
            )
        return layers

    @property
    def call_order(self) -> tuple[str, ...] | None:
        """Layers in the order the model called them on the last input it saw; None before it
        has seen one (an NNX module's definition order need not be its call order)."""
        return self._last_layers

    def _layers_or_none(self) -> tuple[str, ...] | None:
        return self._last_layers if self._last_layers is not None else self._static_layers

    def layer_shapes(self, x) -> dict[str, jax.ShapeDtypeStruct]:
        """Each layer's output shape and dtype for the batch `x`, in forward order."""
        return dict(self.signature(x)[0])

    def output_shape(self, x) -> jax.ShapeDtypeStruct:
        """The logits' shape and dtype for the batch `x`."""
        return self.signature(x)[1]

    def signature(self, x) -> tuple[dict[str, jax.ShapeDtypeStruct], jax.ShapeDtypeStruct]:
        """Layer output shapes and the logits' shape for inputs shaped like `x`: one abstract
        trace per input shape, remembered."""
        key = (tuple(x.shape), jnp.dtype(x.dtype))

        def trace():
            seen: dict[str, jax.ShapeDtypeStruct] = {}

            def record(name, value):
                seen.setdefault(name, jax.ShapeDtypeStruct(value.shape, value.dtype))
                return value

            spec = jax.ShapeDtypeStruct(key[0], key[1])
            out = jax.eval_shape(lambda p, x: self._forward(p, x, record), self.params, spec)
            return seen, out

        traced = self._traced.get(key, trace)
        self._last_layers = tuple(traced[0])
        return traced

    def layer_params(self, layer: str, tree: Any = None) -> Any:
        """The part of `tree` (default: `self.params`; pass gradients to get the layer's
        gradients) that belongs to `layer`; `{}` for a layer without parameters."""
        tree = self.params if tree is None else tree
        path = self._param_path(layer)
        if path is None:
            return {}
        for key in path:
            try:
                tree = tree[key]
            except (KeyError, IndexError, TypeError):
                return {}
        return tree


def wrap(model, variables=None, *, example=None, call_kwargs: Mapping[str, Any] | None = None):
    """Wrap a Flax module or a plain function so jaxviz can explain it.

    Args:
      model: a `flax.nnx.Module`; a `flax.linen.Module` (with `variables`); or a batched function
        `fn(x) -> logits` whose layers are named with `jax.ad_checkpoint.checkpoint_name`.
      variables: the Linen variables (`module.init(...)`); only for Linen.
      example: an input batch to discover the layers and their order from right away (otherwise
        the first input the model sees does it).
      call_kwargs: keyword arguments for every call of the model (e.g. `{"train": False}`).

    NNX modules are explained in evaluation mode (`.eval()` on a copy: dropout off, batch norm on
    running statistics); the module you pass is not changed.

    >>> import jax, jax.numpy as jnp, jaxviz as jv
    >>> from jax.ad_checkpoint import checkpoint_name
    >>> def fn(x):
    ...     h = checkpoint_name(jax.nn.relu(x @ jnp.ones((3, 4))), "hidden")
    ...     return h @ jnp.ones((4, 2))
    >>> jv.wrap(fn, example=jnp.ones((1, 3))).layers
    ('hidden',)
    """
    call_kwargs = dict(call_kwargs or {})
    if _is_nnx(model):
        if variables is not None:
            raise TypeError(
                "variables: only flax.linen modules take variables; an nnx.Module holds its own."
            )
        m = _wrap_nnx(model, call_kwargs)
    elif _is_linen(model):
        if variables is None:
            raise TypeError(
                "variables: a flax.linen module needs its variables, e.g. "
                "jv.wrap(module, module.init(key, x))."
            )
        m = _wrap_linen(model, variables, call_kwargs)
    elif callable(model):
        if variables is not None:
            raise TypeError(
                "variables: a plain function closes over its own weights; pass only fn."
            )
        m = _wrap_function(model, call_kwargs)
    else:
        raise TypeError(
            "model: expected a flax.nnx.Module, a flax.linen.Module or a function, got "
            f"{type(model).__name__}."
        )
    if example is not None:
        check_input(m, example)
    return m


def _is_nnx(model) -> bool:
    from flax import nnx

    return isinstance(model, nnx.Module)


def _is_linen(model) -> bool:
    import flax.linen as nn

    return isinstance(model, nn.Module)


# -- plain functions -------------------------------------------------------------------------------


def _wrap_function(fn, call_kwargs) -> Model:
    def forward(params, x, hook):
        del params
        if hook is None:
            return fn(x, **call_kwargs)
        closed = jax.make_jaxpr(partial(fn, **call_kwargs))(x)
        (logits,) = _jaxpr.evaluate(closed, x, on_tag=hook)
        return logits

    return Model("function", (), forward, static_layers=None, param_path=lambda layer: None)


# -- flax.nnx --------------------------------------------------------------------------------------


def _wrap_nnx(module, call_kwargs) -> Model:
    from flax import nnx

    copy = nnx.merge(*nnx.split(module))
    copy.eval()
    graphdef, params, rest = nnx.split(copy, nnx.Param, ...)
    paths = _nnx_module_paths(module)  # the original keeps definition order; copies are sorted

    def forward(params, x, hook):
        net = nnx.merge(graphdef, params, rest)
        if hook is not None:
            for name, path in paths.items():
                _attach_probe(_walk(net, path), name, hook)
                _attention.tap_nnx_attention(_walk(net, path), name, hook)
        return net(x, **call_kwargs)

    model = Model(
        "nnx",
        params,
        forward,
        static_layers=tuple(paths),
        param_path=lambda layer: paths.get(layer, (layer,)),
    )
    model.layer_types.update(
        {name: type(_walk(copy, path)).__name__ for name, path in paths.items()}
    )
    return model


def _nnx_module_paths(module) -> dict[str, tuple]:
    """Callable submodules by dotted name, in the order the module defines them."""
    from flax import nnx

    found: dict[str, tuple] = {}

    def visit(node, path):
        children = (
            list(enumerate(node))
            if isinstance(node, list | tuple | nnx.List)
            else list(vars(node).items())
        )
        for key, child in children:
            if isinstance(child, nnx.Module | nnx.List | list | tuple):
                child_path = (*path, key)
                if isinstance(child, nnx.Module) and _defines_call(child):
                    found[".".join(map(str, child_path))] = child_path
                visit(child, child_path)

    visit(module, ())
    return found


def _defines_call(module) -> bool:
    from flax import nnx

    return type(module).__call__ is not getattr(nnx.Module, "__call__", None) and callable(module)


def _walk(node, path):
    for key in path:
        node = node[key] if isinstance(key, int) else getattr(node, key)
    return node


_PROBES: dict[type, type] = {}


def _attach_probe(module, name: str, hook) -> None:
    """Make this (merged, private) module report its output to `hook` under `name`."""
    cls = type(module)
    if cls not in _PROBES:

        def __call__(self, *args, **kwargs):
            tap = self.__dict__.get("_jaxviz_tap")
            with _module_scope(tap[0]) if tap is not None else contextlib.nullcontext():
                out = cls.__call__(self, *args, **kwargs)
            return tap[1](tap[0], out) if tap is not None and isinstance(out, jax.Array) else out

        _PROBES[cls] = type(
            cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__}
        )
    object.__setattr__(module, "__class__", _PROBES[cls])
    module.__dict__["_jaxviz_tap"] = (name, hook)


# -- flax.linen ------------------------------------------------------------------------------------


def _wrap_linen(module, variables, call_kwargs) -> Model:
    import flax.linen as nn

    variables = dict(variables)
    if "params" not in variables:
        raise TypeError(
            "variables: expected the dict from module.init(...) with a 'params' collection, got "
            f"keys {sorted(variables)}."
        )
    params = variables.pop("params")

    def forward(params, x, hook):
        def intercept(next_fun, args, kwargs, context):
            path = context.module.path
            if hook is not None and path and context.method_name == "__call__":
                with (
                    _module_scope(".".join(path)),
                    _attention.tap_linen_attention(context.module, ".".join(path), hook),
                ):
                    out = next_fun(*args, **kwargs)
            else:
                out = next_fun(*args, **kwargs)
            if (
                hook is None
                or not path
                or context.method_name != "__call__"
                or not isinstance(out, jax.Array)
            ):
                return out
            layer_types.setdefault(".".join(path), type(context.module).__name__)
            return hook(".".join(path), out)

        with nn.intercept_methods(intercept):
            return module.apply({"params": params, **variables}, x, **call_kwargs)

    model = Model(
        "linen",
        params,
        forward,
        static_layers=tuple(_param_owner_names(params)),
        param_path=lambda layer: tuple(layer.split(".")),
    )
    layer_types = model.layer_types  # filled by `forward` as traces see each module
    return model


def _param_owner_names(tree, prefix=()) -> list[str]:
    names = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            if any(not isinstance(v, Mapping) for v in value.values()):
                names.append(".".join((*prefix, key)))
            names.extend(_param_owner_names(value, (*prefix, key)))
    return names
