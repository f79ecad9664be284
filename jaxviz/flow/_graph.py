"""The model as a directed graph (Netron's view), read from its traced computation.

`model_graph(model, x)` traces the wrapped model once (`jax.make_jaxpr`) and groups the equations:

- flax.nnx and flax.linen: by the module call each equation sits in. While tracing, every module
  call runs in a `jax.named_scope` named after its layer (`jaxviz._model.module_scopes`), so the
  nesting of the groups is the nesting of the calls, read from each equation's name stack.
- plain functions: by `checkpoint_name` tag; an equation belongs to the first tag (in program
  order) whose value depends on it.

A module that calls no other module is drawn as one node (its primitives listed in `ops`); a module
that calls others is a group holding them and the operations it computes itself (a residual
`add`, an activation between two layers), each its own node. So a ResNet block's skip connection
is an edge from the block's input around its layers into an `add` node. Operations outside any
module sit at the top level. Computations on parameters alone (a transpose of a kernel, a cast)
are folded into the node that first uses them, and pure plumbing (casts, broadcasts) passes the
edge through. Calls of `jax.jit`-ed helpers are one node each (their name), unless they contain
tags or modules, which are then entered.

Every parameter leaf is counted once, at the first node whose computation reads it, so the nodes'
counts add up to the model's total (`ModelGraph.unused_params` holds those the forward never read).
For a plain function the parameters are the arrays it closes over. Each node also carries its
output's statistics for the batch `x` and a histogram of its weights (one compiled forward).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

from .._checks import check_input
from .._jaxpr import CALL_PRIMITIVES, bind, is_relu
from .._model import MODULE_SCOPE, Model, module_scopes

HIST_BINS = 40
INPUT, OUTPUT = "input", "output"
# Primitives that only change a value's type or layout; between two nodes they pass the edge on.
_PLUMBING = {"convert_element_type", "broadcast_in_dim", "squeeze", "expand_dims", "copy", "copy_p"}
_REMATS = {"checkpoint": "jaxpr", "remat": "jaxpr", "remat2": "jaxpr"}
# Friendlier names for the primitives people meet as nodes between layers.
_OP_LABELS = {
    "dot_general": "matmul",
    "conv_general_dilated": "conv",
    "reduce_sum": "sum",
    "reduce_max": "max",
    "reduce_mean": "mean",
    "reduce_window_max": "max pool",
    "reduce_window_sum": "sum pool",
    "reduce_window": "pool",
    "concatenate": "concat",
    "select_n": "where",
    "ne": "≠",
    "eq": "==",
    "lt": "<",
    "le": "≤",
    "gt": ">",
    "ge": "≥",
}


@dataclass(frozen=True)
class GraphParam:
    """One parameter leaf: its path in the model's parameters, shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class ValueStats:
    """Statistics of an array's finite values; `histogram` counts them in `HIST_BINS` equal bins
    between `min` and `max`."""

    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float
    histogram: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class GraphNode:
    """A node: the input, the output, a module, or an operation between modules.

    Attributes:
      id: unique; a module's id is its layer name, an operation's `<parent>/<label>[_k]`.
      label: the short name drawn.
      kind: "input", "output", "module" or "op".
      type: the module's class, the operation's primitive, or "checkpoint_name".
      parent: the id of the module group it sits in; None at the top level.
      children: ids of the nodes inside it (a module that calls other modules); empty otherwise.
      output_shape: the shape of what it passes on (the last value that leaves it).
      params: the parameter leaves its own computation reads first (empty for a group: see
        its children).
      param_count: its parameters' size; a group's is the sum over its children.
      ops: the primitives a module drawn as one node computes, in order, without repeats.
      activation: statistics of its output for the batch; None when it has no output.
      weights: statistics of its parameters' values (a group: all of its children's); None
        without parameters.
    """

    id: str
    label: str
    kind: str
    type: str
    parent: str | None
    children: tuple[str, ...]
    output_shape: tuple[int, ...] | None
    params: tuple[GraphParam, ...]
    param_count: int
    ops: tuple[str, ...]
    activation: ValueStats | None = field(default=None, compare=False)
    weights: ValueStats | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GraphEdge:
    """A value flowing from the leaf node (no children) `source` to the leaf node `destination`,
    with its shape."""

    source: str
    destination: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelGraph:
    """A model's structure as a graph; build it with `jaxviz.model_graph`.

    `nodes` are in program order (a group before its children); `edges` join leaf nodes. Collapse
    groups with `view(collapsed=...)`; draw it with `plot()`, or get Graphviz text with `to_dot()`.
    """

    kind: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    unused_params: tuple[GraphParam, ...] = ()

    def node(self, node_id: str) -> GraphNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"node: no node {node_id!r} in this graph; nodes are {', '.join(self.ids)}.")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def groups(self) -> tuple[str, ...]:
        """Ids of the modules that hold other nodes (the ones that can be collapsed)."""
        return tuple(n.id for n in self.nodes if n.children)

    @property
    def param_count(self) -> int:
        """Parameters the forward pass reads (the sum of the leaf nodes' counts)."""
        return sum(n.param_count for n in self.nodes if not n.children)

    def view(self, collapsed: Iterable[str] = ()) -> tuple[tuple[str, ...], tuple[GraphEdge, ...]]:
        """The nodes to draw and the edges between them with the groups in `collapsed` folded
        into one node each (edges inside a folded group vanish, edges into it end at it)."""
        collapsed = set(collapsed)
        unknown = sorted(collapsed - set(self.groups))
        if unknown:
            raise ValueError(
                f"collapsed: {unknown} are not groups of this graph; groups are "
                f"{list(self.groups)}."
            )
        parents = {n.id: n.parent for n in self.nodes}

        def shown(node_id: str) -> str:
            # the outermost collapsed group around the node, or the node itself
            out, p = node_id, parents[node_id]
            while p is not None:
                if p in collapsed:
                    out = p
                p = parents[p]
            return out

        visible = tuple(
            n.id
            for n in self.nodes
            if shown(n.id) == n.id and (not n.children or n.id in collapsed)
        )
        edges, seen = [], set()
        for e in self.edges:
            s, t = shown(e.source), shown(e.destination)
            if s != t and (s, t, e.shape) not in seen:
                seen.add((s, t, e.shape))
                edges.append(GraphEdge(s, t, e.shape, e.dtype))
        return visible, tuple(edges)

    def to_dot(self, collapsed: Iterable[str] = ()) -> str:
        """The graph in Graphviz's DOT language (modules as clusters, shapes on edges)."""
        from ._graph_layout import to_dot

        return to_dot(self, collapsed)

    def plot(self, collapsed: Iterable[str] = (), *, selected: str | None = None, ax=None):
        """The graph as a matplotlib figure, laid out by Graphviz `dot` when it is installed,
        else by jaxviz's layered layout (`_graph_layout.layered_layout`)."""
        from ..plot._graph import model_graph as draw

        return draw(self, collapsed=collapsed, selected=selected, ax=ax)


# -- tracing ---------------------------------------------------------------------------------------


@dataclass
class _Eqn:
    """One equation of the flattened program: its inputs and outputs as value ids (a Literal
    stands for itself) and the module calls around it."""

    eqn: jcore.JaxprEqn
    ins: list[Any]
    outs: list[int]
    scopes: tuple[str, ...]


class _Flat:
    """The traced program with the `jit` calls that hold modules or tags inlined, each value
    numbered once (a body called twice gets new numbers each time)."""

    def __init__(self):
        self.eqns: list[_Eqn] = []
        self.avals: dict[int, Any] = {}
        self.consts: dict[int, Any] = {}

    def new(self, aval) -> int:
        self.avals[len(self.avals)] = aval
        return len(self.avals) - 1

    def walk(self, jaxpr: jcore.Jaxpr, consts: Sequence[Any], ins: Sequence[Any], outer=()):
        env: dict[Any, Any] = {}
        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env[var] = self.new(var.aval)
            self.consts[env[var]] = value
        env.update(zip(jaxpr.invars, ins, strict=True))

        def read(v):
            return v if isinstance(v, jcore.Literal) else env[v]

        for eqn in jaxpr.eqns:
            invals = [read(v) for v in eqn.invars]
            scopes = (*outer, *_module_scopes(eqn))
            body = _enterable_body(eqn)
            if body is not None:
                sub, sub_consts = body
                env.update(
                    zip(eqn.outvars, self.walk(sub, sub_consts, invals, scopes), strict=True)
                )
                continue
            outs = [self.new(v.aval) for v in eqn.outvars]
            env.update(zip(eqn.outvars, outs, strict=True))
            self.eqns.append(_Eqn(eqn, invals, outs, scopes))
        return [read(v) for v in jaxpr.outvars]

    def evaluate(self, wanted: Sequence[int]):
        """A function `(param_leaves, consts, x) -> values of `wanted`` running the program."""
        const_ids = list(self.consts)

        def run(param_ids, param_leaves, consts, x_id, x):
            env = dict(zip(param_ids, param_leaves, strict=True))
            env.update(zip(const_ids, consts, strict=True))
            env[x_id] = x

            def read(v):
                return v.val if isinstance(v, jcore.Literal) else env[v]

            for e in self.eqns:
                env.update(zip(e.outs, bind(e.eqn, *map(read, e.ins)), strict=True))
            return [env[i] for i in wanted]

        return run, [self.consts[i] for i in const_ids]


def _module_scopes(eqn) -> tuple[str, ...]:
    stack = getattr(eqn.source_info.name_stack, "stack", ())
    return tuple(
        s.name[len(MODULE_SCOPE) :]
        for s in stack
        if isinstance(getattr(s, "name", None), str) and s.name.startswith(MODULE_SCOPE)
    )


def _enterable_body(eqn):
    """The body (jaxpr, consts) of a call to inline: a jit, a closed call or a remat holding
    module calls or tags. Others (a jitted `relu`, `softmax`) stay one node."""
    name = eqn.primitive.name
    key = CALL_PRIMITIVES.get(name) or _REMATS.get(name)
    if key is None:
        return None
    body = eqn.params[key]
    jaxpr, consts = (body.jaxpr, body.consts) if isinstance(body, jcore.ClosedJaxpr) else (body, ())
    return (jaxpr, consts) if _has_structure(jaxpr) else None


def _has_structure(jaxpr: jcore.Jaxpr) -> bool:
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "name" or _module_scopes(eqn):
            return True
        name = eqn.primitive.name
        key = CALL_PRIMITIVES.get(name) or _REMATS.get(name)
        if key is not None:
            body = eqn.params[key]
            if _has_structure(body.jaxpr if isinstance(body, jcore.ClosedJaxpr) else body):
                return True
    return False


def _op_label(eqn) -> str:
    if is_relu(eqn):
        return "relu"
    name = eqn.primitive.name
    if name in CALL_PRIMITIVES or name.startswith("custom_"):
        return str(eqn.params.get("name", name)).lstrip("_")  # jnp's private helpers: `_take`
    return _OP_LABELS.get(name, str(name))


def _path_name(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return ".".join(p for p in parts if p != "value")


def _tag_groups(flat: _Flat, data: set[int]) -> dict[int, tuple[str, ...]]:
    """A plain function's groups: each equation index -> (tag,) of the first `checkpoint_name`
    whose value depends on it."""
    producer = {o: i for i, e in enumerate(flat.eqns) for o in e.outs}
    pending: set[int] = set()
    groups: dict[int, tuple[str, ...]] = {}
    for i, e in enumerate(flat.eqns):
        if not any(isinstance(v, int) and v in data for v in e.ins):
            continue
        if e.eqn.primitive.name != "name":
            pending.add(i)
            continue
        tag = (str(e.eqn.params["name"]),)
        groups[i] = tag
        stack = [v for v in e.ins if isinstance(v, int)]
        while stack:
            j = producer.get(stack.pop())
            if j is not None and j in pending:
                pending.discard(j)
                groups[j] = tag
                stack.extend(v for v in flat.eqns[j].ins if isinstance(v, int))
    return groups


def model_graph(model: Model, x) -> ModelGraph:
    """The model's structure as a graph, with each node's output statistics for the batch `x`.

    Args:
      model: a `jaxviz.wrap`ped model (flax.nnx, flax.linen or a plain function).
      x: a batch of inputs; shapes on the edges and the statistics are for this batch.

    Returns:
      A `ModelGraph`: modules (nested groups), operations between them, the input and output;
      edges with shapes; parameters and their count per node.

    >>> import jax, jax.numpy as jnp, jaxviz as jv
    >>> from jax.ad_checkpoint import checkpoint_name
    >>> w = jnp.ones((3, 3))
    >>> def fn(x):
    ...     h = checkpoint_name(jax.nn.relu(x @ w), "dense")
    ...     return h + x                                   # a skip connection around "dense"
    >>> g = jv.model_graph(jv.wrap(fn), jnp.ones((2, 3)))
    >>> [(e.source, e.destination) for e in g.edges]
    [('input', 'dense'), ('dense', '/add'), ('input', '/add'), ('/add', 'output')]
    >>> g.node("dense").param_count
    9
    """
    if not isinstance(model, Model):
        raise TypeError(
            "model: expected a jaxviz.wrap()-ped model, got "
            f"{type(model).__name__}; wrap it first, e.g. jv.wrap(module) or "
            "jv.wrap(linen_module, variables)."
        )
    x = check_input(model, x, integers=True)
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(model.params)
    leaves = [leaf for _, leaf in leaves_with_paths]
    hook = None if model.kind == "function" else (lambda name, value: value)

    def forward(param_leaves, x):
        return model._forward(jax.tree.unflatten(treedef, param_leaves), x, hook)

    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    with module_scopes():
        closed = jax.make_jaxpr(forward)(
            [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in leaves], spec
        )

    flat = _Flat()
    param_ids = [flat.new(v.aval) for v in closed.jaxpr.invars[:-1]]
    x_id = flat.new(closed.jaxpr.invars[-1].aval)
    outs = flat.walk(closed.jaxpr, closed.consts, [*param_ids, x_id])

    params = [
        GraphParam(_path_name(path), tuple(np.shape(v)), str(jnp.result_type(v)))
        for path, v in leaves_with_paths
    ]
    arrays = list(leaves)
    origin: dict[int, set[int]] = {pid: {k} for k, pid in enumerate(param_ids)}
    if model.kind == "function":  # the arrays a plain function closes over are its parameters
        for cid, value in flat.consts.items():
            if np.ndim(value) >= 1 and np.size(value) > 1:
                origin[cid] = {len(params)}
                params.append(
                    GraphParam(f"array {len(params)}", tuple(np.shape(value)), str(value.dtype))
                )
                arrays.append(value)
    graph, (leaving, node_params) = _Builder(model, flat, params, origin, x_id).build(outs)

    wanted = sorted({v for v in leaving.values() if v is not None})
    run, consts = flat.evaluate(wanted)
    program = jax.jit(lambda p, c, x: run(param_ids, p, c, x_id, x))
    values = dict(zip(wanted, jax.device_get(program(leaves, consts, x)), strict=True))
    nodes = []
    for n in graph.nodes:
        mine, out = node_params[n.id], leaving[n.id]
        weights = np.concatenate([np.ravel(arrays[k]) for k in mine]) if mine else None
        nodes.append(
            replace(
                n,
                activation=None if out is None else value_stats(values[out]),
                weights=None if weights is None else value_stats(weights),
            )
        )
    return replace(graph, nodes=tuple(nodes))


class _Builder:
    """Groups the flattened equations into nodes and edges."""

    def __init__(self, model, flat: _Flat, params, origin, x_id):
        self.model, self.flat, self.params, self.origin = model, flat, params, origin
        self.data = {x_id}
        self.alias: dict[int, int] = {}
        self.unit_of: dict[int, str] = {x_id: INPUT}  # value id -> the leaf node producing it
        self.param_owner: dict[int, str] = {}
        self.x_id = x_id

    def build(self, outs):
        flat = self.flat
        data_eqns: list[int] = []
        for i, e in enumerate(flat.eqns):
            ints = [v for v in e.ins if isinstance(v, int)]
            if any(v in self.data for v in ints):
                self.data.update(e.outs)
                data_eqns.append(i)
            else:  # computed from parameters alone: folded into the node that uses it
                src = set().union(*(self.origin.get(v, set()) for v in ints)) if ints else set()
                for o in e.outs:
                    self.origin[o] = src
        tags: dict[int, tuple[str, ...]] = (
            _tag_groups(flat, self.data) if self.model.kind == "function" else {}
        )
        paths = {i: tags[i] if i in tags else flat.eqns[i].scopes for i in data_eqns}
        has_children = {g for p in paths.values() for g in p[:-1]}

        order: list[str] = [INPUT]
        parent_of: dict[str, str | None] = {INPUT: None}
        kind_of: dict[str, str] = {INPUT: "input"}
        type_of: dict[str, str] = {INPUT: "input"}
        label_of: dict[str, str] = {INPUT: "input"}
        ops_of: dict[str, list[str]] = {}
        produced: dict[str, list[int]] = {INPUT: [self.x_id]}
        edges: dict[tuple[str, str, int], None] = {}
        op_names: dict[str, int] = {}

        def add_group(path):
            for k, g in enumerate(path):
                if g not in parent_of:
                    parent_of[g] = path[k - 1] if k else None
                    kind_of[g], label_of[g] = "module", g
                    type_of[g] = (
                        "checkpoint_name"
                        if self.model.kind == "function"
                        else self.model.layer_types.get(g, "module")
                    )
                    order.append(g)

        for i in data_eqns:
            e, path = flat.eqns[i], paths[i]
            add_group(path)
            ints = [v for v in e.ins if isinstance(v, int)]
            data_ins = [self.resolve(v) for v in ints if v in self.data]
            in_leaf = bool(path) and path[-1] not in has_children
            if not in_leaf and len(data_ins) == 1 and e.eqn.primitive.name in _PLUMBING | {"name"}:
                self.alias.update(dict.fromkeys(e.outs, data_ins[0]))
                continue
            if not in_leaf and self._ends_mean(e, data_ins, label_of, type_of):
                unit = self.unit_of[data_ins[0]]
            elif in_leaf:
                unit = path[-1]
                ops = ops_of.setdefault(unit, [])
                if e.eqn.primitive.name != "name" and _op_label(e.eqn) not in ops:
                    ops.append(_op_label(e.eqn))
            else:
                label = _op_label(e.eqn)
                base = f"{path[-1] if path else ''}/{label}"
                op_names[base] = op_names.get(base, -1) + 1
                unit = base if op_names[base] == 0 else f"{base}_{op_names[base]}"
                parent_of[unit], kind_of[unit] = (path[-1] if path else None), "op"
                type_of[unit], label_of[unit] = e.eqn.primitive.name, label
                order.append(unit)
            for v in data_ins:
                src = self.unit_of[v]
                if src != unit:
                    edges[(src, unit, v)] = None
            for v in ints:
                if v not in self.data:
                    for k in sorted(self.origin.get(v, ())):
                        self.param_owner.setdefault(k, unit)
            for o in e.outs:
                self.unit_of[o] = unit
            produced.setdefault(unit, []).extend(e.outs)

        order.append(OUTPUT)
        parent_of[OUTPUT], kind_of[OUTPUT], type_of[OUTPUT], label_of[OUTPUT] = (
            None,
            "output",
            "output",
            "output",
        )
        for v in outs:
            if isinstance(v, int) and v in self.data:
                v = self.resolve(v)
                edges[(self.unit_of[v], OUTPUT, v)] = None
                produced.setdefault(OUTPUT, []).append(v)
        return self._assemble(order, parent_of, kind_of, type_of, label_of, ops_of, produced, edges)

    def _ends_mean(self, e: _Eqn, data_ins, label_of, type_of) -> bool:
        """`jnp.mean` traces as a sum and a division by a constant: draw the two as one `mean`
        node (relabelling the sum)."""
        unit = self.unit_of[data_ins[0]] if len(data_ins) == 1 else None
        if not (
            e.eqn.primitive.name == "div"
            and label_of.get(unit) == "sum"
            and type_of.get(unit) == "reduce_sum"
            and isinstance(e.ins[1], jcore.Literal)
        ):
            return False
        label_of[unit] = "mean"
        return True

    def resolve(self, v: int) -> int:
        while v in self.alias:
            v = self.alias[v]
        return v

    def _assemble(self, order, parent_of, kind_of, type_of, label_of, ops_of, produced, edges):
        children: dict[str, list[str]] = {n: [] for n in order}
        for n in order:
            if parent_of[n] is not None:
                children[parent_of[n]].append(n)

        def subtree(n):
            yield n
            for c in children[n]:
                yield from subtree(c)

        own_params = {n: [] for n in order}
        for k, owner in sorted(self.param_owner.items()):
            own_params[owner].append(k)
        leaving: dict[str, int | None] = {}
        for n in order:
            inside = set(subtree(n))
            out = [v for (s, t, v) in edges if s in inside and t not in inside]
            leaving[n] = max(out) if out else None
        if leaving[OUTPUT] is None and produced.get(OUTPUT):
            leaving[OUTPUT] = produced[OUTPUT][-1]
        leaving[INPUT] = self.x_id

        nodes, node_params = [], {}
        for n in order:
            mine = [k for m in subtree(n) for k in own_params[m]]
            node_params[n] = mine
            v = leaving[n]
            nodes.append(
                GraphNode(
                    id=n,
                    label=label_of[n],
                    kind=kind_of[n],
                    type=type_of[n],
                    parent=parent_of[n],
                    children=tuple(children[n]),
                    output_shape=None if v is None else tuple(self.flat.avals[v].shape),
                    params=() if children[n] else tuple(self.params[k] for k in own_params[n]),
                    param_count=sum(self.params[k].size for k in mine),
                    ops=tuple(ops_of.get(n, ())),
                )
            )
        graph_edges = tuple(
            GraphEdge(s, t, tuple(self.flat.avals[v].shape), str(self.flat.avals[v].dtype))
            for (s, t, v) in edges
        )
        unused = tuple(p for k, p in enumerate(self.params) if k not in self.param_owner)
        graph = ModelGraph(self.model.kind, tuple(nodes), graph_edges, unused)
        return graph, (leaving, node_params)


def value_stats(a: np.ndarray, bins: int = HIST_BINS) -> ValueStats:
    """Mean, spread, range, share of exact zeros and a histogram of `a`'s finite values."""
    a = np.asarray(a, np.float64).ravel()  # float64: a mask's -1e9s overflow a float32 sum
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    counts = np.histogram(finite, bins=bins, range=(lo, hi if hi > lo else lo + 1))[0]
    return ValueStats(
        mean=float(finite.mean()) if finite.size else float("nan"),
        std=float(finite.std()) if finite.size else float("nan"),
        min=lo,
        max=hi,
        zero_fraction=float(np.mean(a == 0)) if a.size else 0.0,
        histogram=counts,
    )
