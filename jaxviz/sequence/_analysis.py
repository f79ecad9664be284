"""Attention rollout and attention flow (Abnar and Zuidema, 2020, "Quantifying Attention Flow in
Transformers", ACL): how much of each input token reaches each position through all layers.

Both read the weights `attention` returns, (batch, layers, heads, queries, keys), and model the
residual connection as Abnar and Zuidema do: each layer's head-averaged attention A becomes
`residual * I + (1 - residual) * A` (residual 0.5 in the paper), a row-stochastic matrix.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice

HEAD_FUSIONS = ("mean", "max", "min")


def _check_weights(weights, argument: str = "weights") -> np.ndarray:
    weights = np.asarray(weights)
    if not np.issubdtype(weights.dtype, np.floating):
        raise TypeError(f"{argument}: expected float attention weights, got dtype {weights.dtype}.")
    if weights.ndim != 5 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(
            f"{argument}: expected self-attention weights (batch, layers, heads, tokens, "
            "tokens) as "
            f"jv.attention returns, got shape {weights.shape}."
        )
    return weights


def _check_residual(residual) -> float:
    if (
        isinstance(residual, bool)
        or not isinstance(residual, int | float | np.floating)
        or not 0 <= residual <= 1
    ):
        raise ValueError(f"residual: expected a number in [0, 1], got {residual!r}.")
    return float(residual)


def layer_graph(weights, *, residual: float = 0.5, heads: str = "mean") -> jax.Array:
    """Each layer's fused attention with the residual term: (batch, layers, tokens, tokens),
    `residual * I + (1 - residual) * fuse_heads(A)` with rows renormalized to sum to 1."""
    weights = _check_weights(weights)
    residual = _check_residual(residual)
    check_choice("heads", heads, HEAD_FUSIONS)
    return _layer_graph(jnp.asarray(weights, jnp.float32), residual, heads)


@functools.partial(jax.jit, static_argnames=("residual", "heads"))
def _layer_graph(weights, residual, heads):
    fused = {"mean": jnp.mean, "max": jnp.max, "min": jnp.min}[heads](weights, axis=2)
    mixed = residual * jnp.eye(weights.shape[-1], dtype=weights.dtype) + (1.0 - residual) * fused
    return mixed / mixed.sum(axis=-1, keepdims=True)


def attention_rollout(weights, *, residual: float = 0.5, heads: str = "mean") -> jax.Array:
    """Attention rollout (Abnar and Zuidema, 2020): the product over layers of each layer's
    head-fused attention with the residual term, `R = Â_L ... Â_2 Â_1`.

    Args:
      weights: (batch, layers, heads, tokens, tokens) from `jv.attention`.
      residual: the weight of the identity (the skip connection); 0.5 in the paper.
      heads: how heads are fused: "mean" (the paper), "max" or "min".

    Returns:
      float32 (batch, tokens, tokens): row q is how position q's top-layer representation
      mixes the input tokens; every row sums to 1.
    """
    weights = _check_weights(weights)
    residual = _check_residual(residual)
    check_choice("heads", heads, HEAD_FUSIONS)
    return _rollout(jnp.asarray(weights, jnp.float32), residual, heads)


@functools.partial(jax.jit, static_argnames=("residual", "heads"))
def _rollout(weights, residual, heads):
    def step(total, layer):
        return layer @ total, None

    graph = jnp.moveaxis(_layer_graph(weights, residual, heads), 1, 0)  # layers first
    total, _ = jax.lax.scan(step, graph[0], graph[1:])  # one product fewer than from I
    return total


def attention_flow(
    weights, *, residual: float = 0.5, heads: str = "mean", normalize: bool = True
) -> np.ndarray:
    """Attention flow (Abnar and Zuidema, 2020): the maximum flow from each top-layer position
    to each input token through the layered graph whose edge from position j at layer l-1 to
    position i at layer l has capacity Â_l[i, j] (see `layer_graph`).

    Max-flow has no closed form; it is solved on the host (a shortest-augmenting-path method,
    Edmonds-Karp) for every (position, token) pair: tokens^2 problems per example, so keep it
    to short sequences (Abnar and Zuidema used it on sentences).

    Args:
      weights, residual, heads: as in `attention_rollout`.
      normalize: divide each row by its sum, as the paper's code does, so rows sum to 1.

    Returns:
      float32 numpy array (batch, tokens, tokens): row q holds the flow from position q at the
      top layer to each input token.
    """
    graph = np.asarray(layer_graph(weights, residual=residual, heads=heads), np.float64)
    batch, _, tokens, _ = graph.shape
    flows = np.zeros((batch, tokens, tokens))
    for b in range(batch):
        capacity = _layered_capacity(graph[b])
        for q in range(tokens):
            for k in range(tokens):
                flows[b, q, k] = max_flow(
                    capacity, _node(len(graph[b]), q, tokens), _node(0, k, tokens)
                )
    if normalize:
        flows /= np.where(flows.sum(-1, keepdims=True) > 0, flows.sum(-1, keepdims=True), 1.0)
    return flows.astype(np.float32)


def _node(layer: int, position: int, tokens: int) -> int:
    return layer * tokens + position


def _layered_capacity(graph: np.ndarray) -> np.ndarray:
    """The dense capacity matrix of the layered graph: node (l, i) -> node (l-1, j) carries
    Â_l[i, j]; layer 0 holds the input tokens."""
    layers, tokens, _ = graph.shape
    n = (layers + 1) * tokens
    capacity = np.zeros((n, n))
    for layer in range(1, layers + 1):
        rows = slice(layer * tokens, (layer + 1) * tokens)
        cols = slice((layer - 1) * tokens, layer * tokens)
        capacity[rows, cols] = graph[layer - 1]
    return capacity


def max_flow(capacity: np.ndarray, source: int, sink: int) -> float:
    """The maximum flow value from `source` to `sink` (Edmonds-Karp on a dense capacity matrix:
    augment along shortest paths of the residual graph until none is left)."""
    residual = capacity.copy()
    total = 0.0
    n = len(capacity)
    while True:
        parent = np.full(n, -1)
        parent[source] = source
        frontier = [source]
        while frontier and parent[sink] < 0:
            reached = []
            for u in frontier:
                for v in np.flatnonzero((residual[u] > 1e-12) & (parent < 0)):
                    parent[v] = u
                    reached.append(v)
            frontier = reached
        if parent[sink] < 0:
            return float(total)
        path, v = [], sink
        while v != source:
            path.append((parent[v], v))
            v = parent[v]
        pushed = min(residual[u, v] for u, v in path)
        for u, v in path:
            residual[u, v] -= pushed
            residual[v, u] += pushed
        total += pushed
