"""The model as a graph: residual NNX, Linen and plain-function models, their skip connections,
the shape on every edge, parameter counts, node statistics, the layouts and the widget."""

import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

import jaxviz as jv
from jaxviz.flow._graph_layout import layered_layout, layout, to_dot

B = 2


class Block(nnx.Module):
    def __init__(self, c, rngs):
        self.conv1 = nnx.Conv(c, c, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(c, c, (3, 3), rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.conv1(x))
        return nnx.relu(x + self.conv2(h))


class ResNet(nnx.Module):
    def __init__(self, rngs):
        self.stem = nnx.Conv(1, 4, (3, 3), rngs=rngs)
        self.block = Block(4, rngs)
        self.head = nnx.Linear(4, 3, rngs=rngs)

    def __call__(self, x):
        h = self.block(self.stem(x))
        return self.head(h.mean(axis=(1, 2)))


class LinenBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(5, name="fc1")(x))
        return x + nn.Dense(5, name="fc2")(h)


class LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Dense(5, name="inp")(x)
        x = LinenBlock(name="block")(x)
        return nn.Dense(3, name="head")(x)


W1, W2, W3 = (
    jax.random.normal(jax.random.key(i), s) for i, s in enumerate([(4, 6), (6, 6), (6, 3)])
)


def residual_fn(x):
    h = checkpoint_name(jax.nn.relu(x @ W1), "dense1")
    h2 = checkpoint_name(jax.nn.relu(h @ W2), "dense2")
    y = checkpoint_name(h + h2, "res")
    return y @ W3


def n_params(tree) -> int:
    return sum(np.size(v) for v in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def nnx_case():
    m = jv.wrap(ResNet(nnx.Rngs(0)))
    x = jax.random.normal(jax.random.key(1), (B, 6, 6, 1))
    return m, x, jv.model_graph(m, x)


@pytest.fixture(scope="module")
def linen_case():
    x = jax.random.normal(jax.random.key(2), (B, 4))
    variables = LinenNet().init(jax.random.key(0), x)
    m = jv.wrap(LinenNet(), variables)
    return m, x, jv.model_graph(m, x), variables


def edges_of(graph):
    return {(e.source, e.destination): e.shape for e in graph.edges}


def test_nnx_residual_block_edges_shapes_and_skip(nnx_case):
    m, x, g = nnx_case
    # every edge with its shape: the skip goes from the stem, around the block's convs, into add
    assert edges_of(g) == {
        ("input", "stem"): (B, 6, 6, 1),
        ("stem", "block.conv1"): (B, 6, 6, 4),
        ("block.conv1", "block/relu"): (B, 6, 6, 4),
        ("block/relu", "block.conv2"): (B, 6, 6, 4),
        ("stem", "block/add"): (B, 6, 6, 4),
        ("block.conv2", "block/add"): (B, 6, 6, 4),
        ("block/add", "block/relu_1"): (B, 6, 6, 4),
        ("block/relu_1", "/sum"): (B, 6, 6, 4),
        ("/sum", "head"): (B, 4),
        ("head", "output"): (B, 3),
    }
    assert g.node("/sum").label == "mean"  # jnp.mean's sum and division drawn as one node
    assert g.node("block").children == (
        "block.conv1",
        "block/relu",
        "block.conv2",
        "block/add",
        "block/relu_1",
    )
    assert g.node("block/add").kind == "op" and g.node("block/add").parent == "block"
    # a module's outgoing edges carry the shape the model's own taps record for that layer
    shapes = m.layer_shapes(x)
    for e in g.edges:
        if e.source in shapes:
            assert e.shape == tuple(shapes[e.source].shape), e


def test_nnx_parameter_counts_add_up(nnx_case):
    m, _, g = nnx_case
    assert g.param_count == n_params(m.params) == 40 + 2 * 148 + 15
    assert g.unused_params == ()
    for n in g.nodes:
        if n.kind == "module":
            assert n.param_count == n_params(m.layer_params(n.id)), n.id
        if n.children:
            assert n.param_count == sum(g.node(c).param_count for c in n.children)
    assert {p.name for p in g.node("block.conv1").params} == {
        "block.conv1.kernel",
        "block.conv1.bias",
    }
    assert g.node("block.conv1").ops == ("conv", "add")


def test_node_statistics_match_the_layers_activations(nnx_case):
    m, x, g = nnx_case
    acts = jax.device_get(jv.activations(m, x))
    conv1 = g.node("block.conv1").activation
    assert conv1.mean == pytest.approx(float(np.mean(acts["block.conv1"])), rel=1e-5)
    assert conv1.histogram.sum() == np.size(acts["block.conv1"])
    # an operation between layers: the residual sum, recomputed from the two layers it adds
    added = np.asarray(acts["stem"]) + np.asarray(acts["block.conv2"])
    stats = g.node("block/add").activation
    assert stats.mean == pytest.approx(float(added.mean()), rel=1e-5, abs=1e-6)
    assert stats.max == pytest.approx(float(added.max()), rel=1e-5)
    mean = np.maximum(added, 0).mean(axis=(1, 2))
    assert g.node("/sum").activation.mean == pytest.approx(float(mean.mean()), rel=1e-5, abs=1e-6)
    assert g.node("output").activation.mean == pytest.approx(float(np.mean(m(x))), rel=1e-5)
    kernel = np.asarray(m.layer_params("stem")["kernel"])
    weights = g.node("stem").weights
    assert weights.histogram.sum() == 40 and weights.max >= kernel.max()
    assert g.node("block/add").weights is None


def test_collapsing_a_module_folds_its_edges(nnx_case):
    _, _, g = nnx_case
    ids, edges = g.view(["block"])
    assert "block" in ids and not any(i.startswith("block.") or i.startswith("block/") for i in ids)
    pairs = [(e.source, e.destination) for e in edges]
    # the two edges out of the stem (main path and skip) become one edge into the block
    assert pairs.count(("stem", "block")) == 1 and ("block", "/sum") in pairs
    assert g.view([]) == (tuple(n.id for n in g.nodes if not n.children), g.edges)


def test_linen_residual_graph(linen_case):
    m, x, g, variables = linen_case
    assert edges_of(g) == {
        ("input", "inp"): (B, 4),
        ("inp", "block.fc1"): (B, 5),
        ("block.fc1", "block/relu"): (B, 5),
        ("block/relu", "block.fc2"): (B, 5),
        ("inp", "block/add"): (B, 5),
        ("block.fc2", "block/add"): (B, 5),
        ("block/add", "head"): (B, 5),
        ("head", "output"): (B, 3),
    }
    assert g.node("block").type == "LinenBlock" and g.node("block.fc1").type == "Dense"
    assert g.param_count == n_params(variables["params"]) == 25 + 30 + 30 + 18
    assert g.node("block").param_count == 60


def test_plain_function_groups_by_checkpoint_name():
    x = jax.random.normal(jax.random.key(3), (B, 4))
    g = jv.model_graph(jv.wrap(residual_fn), x)
    assert edges_of(g) == {
        ("input", "dense1"): (B, 4),
        ("dense1", "dense2"): (B, 6),
        ("dense1", "res"): (B, 6),  # the skip: dense1 feeds both dense2 and the sum
        ("dense2", "res"): (B, 6),
        ("res", "/matmul"): (B, 6),
        ("/matmul", "output"): (B, 3),
    }
    assert g.node("res").ops == ("add",) and g.node("dense1").type == "checkpoint_name"
    counts = {n.id: n.param_count for n in g.nodes if n.param_count}
    assert counts == {"dense1": W1.size, "dense2": W2.size, "/matmul": W3.size}
    # a jitted function is entered: the same graph
    jitted = jv.model_graph(jv.wrap(jax.jit(residual_fn)), x)
    assert edges_of(jitted) == edges_of(g) and jitted.param_count == g.param_count


def test_bad_input_gets_clear_errors(nnx_case):
    m, x, g = nnx_case
    with pytest.raises(TypeError, match="model: expected a jaxviz.wrap"):
        jv.model_graph(ResNet(nnx.Rngs(0)), x)
    with pytest.raises(TypeError, match="x: expected a floating-point array"):
        jv.model_graph(m, np.array(["a"]))
    with pytest.raises(ValueError, match=r"collapsed: \['blok'\] are not groups.*\['block'\]"):
        g.view(["blok"])
    with pytest.raises(KeyError, match="node: no node 'nope'"):
        g.node("nope")
    with pytest.raises(ValueError, match="engine: expected None, 'dot' or 'layered'"):
        layout(g, engine="neato")
    with pytest.raises(ValueError, match="mode: expected 'graph' or 'table'"):
        jv.ModelView(m, x, mode="tree")
    with pytest.raises(ValueError, match="collapsed"):
        jv.ModelView(m, x, collapsed=["head"])  # a leaf module cannot be collapsed
    with pytest.raises(KeyError, match="node: no node 'stemm'"):
        jv.ModelView(m, x, selected="stemm")


def test_dot_text_and_layered_layout(nnx_case):
    _, _, g = nnx_case
    dot = to_dot(g)
    assert 'subgraph "cluster_block" {' in dot and '"stem" -> "block/add" [label="2×6×6×4"];' in dot
    assert '"block.conv1" [label="block.conv1\\nConv\\n148 params"];' in dot
    lay = layered_layout(*g.view())
    y = {n: p[1] for n, p in lay.positions.items()}
    for e, points in lay.routes:  # a residual network is acyclic: every edge runs downwards
        assert y[e.destination] > y[e.source] and points[0] == lay.positions[e.source]
    # the skip spans four ranks: routed through dummy points, beside the block's own nodes
    skip = next(
        points for e, points in lay.routes if (e.source, e.destination) == ("stem", "block/add")
    )
    assert len(skip) == 5
    if shutil.which("dot") is None:
        with pytest.raises(RuntimeError, match="Graphviz `dot` is not installed"):
            layout(g, engine="dot")
    else:
        assert set(layout(g, engine="dot").positions) == set(lay.positions)


def test_plot_draws_every_visible_node(nnx_case):
    _, _, g = nnx_case
    figure = g.plot(["block"], selected="block")
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert "block · Block\n296 params" in texts and "2×6×6×4" in texts
    assert not any(t.startswith("block.conv1") for t in texts)


def test_model_view_payload_and_static_twin(nnx_case, tmp_path):
    m, x, g = nnx_case
    view = jv.ModelView(m, x)
    assert [n["id"] for n in view.graph["nodes"]] == list(g.ids)
    assert view.graph["param_count"] == g.param_count and view.collapsed == []
    assert view.selected == "stem" and view.mode == "graph"
    add = next(n for n in view.graph["nodes"] if n["id"] == "block/add")
    assert add["weights"] is None and add["activation"]["mean"] == pytest.approx(
        g.node("block/add").activation.mean
    )
    assert len(view.rows) == len(m.layers)  # the table of layers is still there
    folded = jv.ModelView(m, x, collapsed=["block"], selected="block", mode="table")
    assert folded.collapsed == ["block"] and folded.plot() is not None
    folded.mode = "graph"
    titles = [ax.get_title() for ax in folded.plot().axes]
    assert titles[1:3] == ["block: output (this batch)", "block: weights"]
    assert "296 parameters" not in titles[0] and titles[0].startswith(f"{g.param_count:,} param")
    page = folded.to_html(tmp_path / "graph.html")
    assert page.stat().st_size > 0


def test_many_modules_start_collapsed():
    class Deep(nnx.Module):
        def __init__(self, rngs):
            self.blocks = nnx.List([Block(2, rngs) for _ in range(10)])

        def __call__(self, x):
            for b in self.blocks:
                x = b(x)
            return x.reshape(x.shape[0], -1)

    m = jv.wrap(Deep(nnx.Rngs(0)))
    view = jv.ModelView(m, jnp.ones((1, 3, 3, 2)))
    assert view.collapsed == [f"blocks.{i}" for i in range(10)]  # 52 nodes expanded, 13 folded
    assert len(view.model_graph.view(view.collapsed)[0]) <= jv.ModelView.MAX_NODES


def test_token_ids_draw_the_graph_without_the_table():
    class Tokens(nnx.Module):
        def __init__(self, rngs):
            self.embed = nnx.Embed(10, 4, rngs=rngs)
            self.head = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, ids):
            return self.head(self.embed(ids).mean(axis=1))

    m = jv.wrap(Tokens(nnx.Rngs(0)))
    ids = jnp.array([[1, 2, 3], [4, 5, 0]])
    view = jv.ModelView(m, ids)
    assert view.rows == [] and view.model_graph.param_count == 40 + 10
    assert edges_of(view.model_graph)[("input", "embed")] == (2, 3)
    assert view.model_graph.node("embed").ops == ("take",)
    with pytest.raises(ValueError, match="mode: the table of layers needs floating inputs"):
        jv.ModelView(m, ids, mode="table")
