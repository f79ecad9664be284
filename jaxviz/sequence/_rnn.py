"""Recurrent networks over time: hidden and cell states, gate activations, and the gradient of
the final hidden state with respect to every earlier one, ||dh_T/dh_t||, which shows gradients
vanishing (or exploding) through time (Bengio, Simard and Frasconi, 1994; Pascanu, Mikolov and
Bengio, 2013).

The tools take the recurrent cell itself and the sequence it reads, and unroll the cell with
`lax.scan`, so every state is in reach whatever loop the model runs it in: a flax.nnx cell
(`nnx.LSTMCell`, `nnx.OptimizedLSTMCell`, `nnx.GRUCell`, `nnx.SimpleCell`, or any module called
as `cell(carry, x) -> (carry, y)`), or a plain function with that signature. The hidden state
h_t is the carry itself, or its second part for the LSTM's `(c, h)` carry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._callables import lift
from .._checks import check_choice
from .._compile_cache import compile_cache
from .._programs import LRU, PROGRAMS_PER_MODEL, signature

NORMS = ("spectral", "frobenius")

# Cells are not wrapped models, so their programs live here: keyed by the cell's structure (an
# nnx graphdef, or a function's code and non-array values) and the arguments' signature.
_PROGRAMS: LRU[Callable[..., Any]] = LRU(PROGRAMS_PER_MODEL)


class RNNStates(NamedTuple):
    """A recurrent cell's states over time, all float32 (batch, time, units).

    Attributes:
      hidden: h_t after each step.
      cell: the LSTM's memory c_t, else None.
      gates: {name: activation} for flax's LSTM cells ("input", "forget", "candidate", "output")
        and GRU cell ("reset", "update", "candidate"), else None.
    """

    hidden: jax.Array
    cell: jax.Array | None
    gates: dict[str, jax.Array] | None


def _is_lstm_carry(carry) -> bool:
    return isinstance(carry, tuple) and len(carry) == 2


def _hidden(carry) -> jax.Array:
    return carry[1] if _is_lstm_carry(carry) else carry


def _with_hidden(carry, hidden):
    return (carry[0], hidden) if _is_lstm_carry(carry) else hidden


def _check_cell_inputs(cell, inputs, carry) -> tuple[Any, np.ndarray, Any]:
    from flax import nnx

    if not callable(cell):
        raise TypeError(
            "cell: expected a recurrent cell, cell(carry, x) -> (carry, y), got "
            f"{type(cell).__name__}."
        )
    inputs = np.asarray(inputs)
    if not np.issubdtype(inputs.dtype, np.floating) or inputs.ndim != 3:
        raise ValueError(
            "inputs: expected the float sequence the cell reads, (batch, time, features), got "
            "shape "
            f"{inputs.shape} and dtype {inputs.dtype} (for token ids, pass their embeddings)."
        )
    if carry is None:
        initialize_carry = getattr(cell, "initialize_carry", None)
        if initialize_carry is None:
            raise TypeError(
                "carry: a cell without initialize_carry needs the initial carry, e.g. zeros "
                "(batch, units)."
            )
        carry = initialize_carry(inputs[:, 0].shape, nnx.Rngs(0))
    leaves = jax.tree.leaves(carry)
    if not leaves or any(np.shape(leaf)[0] != inputs.shape[0] for leaf in leaves):
        raise ValueError(
            f"carry: expected arrays with the batch of inputs ({inputs.shape[0]}) first."
        )
    return cell, inputs, carry


class _PureCell(NamedTuple):
    """A cell as a pure function `step(state, carry, x)` of its arrays `state`, with the key
    its programs are cached under and, for an nnx cell, its graphdef (to recompute gates)."""

    key: Hashable
    graphdef: Any
    state: Any
    step: Callable[..., Any]


def _pure(cell) -> _PureCell:
    from flax import nnx

    if isinstance(cell, nnx.Module):
        graphdef, state = nnx.split(cell)
        step = lambda state, carry, x: nnx.merge(graphdef, state)(carry, x)  # noqa: E731
        return _PureCell(("nnx", graphdef), graphdef, state, step)
    lifted = lift(cell)  # the arrays it closes over become arguments, not constants
    step = lambda state, carry, x: lifted.rebuild(state)(carry, x)  # noqa: E731
    return _PureCell(("function", lifted.key), None, lifted.arrays, step)


def _run(program: tuple, pure: _PureCell, build: Callable[[], Callable[..., Any]], *args) -> Any:
    """`build()(pure.state, *args)`, compiled once per cell, options and argument signature."""
    arguments = (pure.state, *args)
    key = (program, pure.key, signature(arguments), _compile.settings_key())
    compiled = _PROGRAMS.get(key, lambda: _compile.jit(build()))
    with compile_cache():
        return compiled(*arguments)


def _gates(module, carry, x) -> dict[str, jax.Array] | None:
    """Recompute flax's gate activations from the cell's own layers (same formulas as flax)."""
    from flax import nnx

    if type(module) is nnx.LSTMCell:
        c, h = carry
        gate = module.gate_fn
        return {
            "input": gate(module.ii(x) + module.hi(h)),
            "forget": gate(module.if_(x) + module.hf(h)),
            "candidate": module.activation_fn(module.ig(x) + module.hg(h)),
            "output": gate(module.io(x) + module.ho(h)),
        }
    if type(module) is nnx.OptimizedLSTMCell:
        c, h = carry
        i, f, g, o = jnp.split(module.dense_i(x) + module.dense_h(h), 4, axis=-1)
        gate = module.gate_fn
        return {
            "input": gate(i),
            "forget": gate(f),
            "candidate": module.activation_fn(g),
            "output": gate(o),
        }
    if type(module) is nnx.GRUCell:
        h = carry
        xr, xz, xn = jnp.split(module.dense_i(x), 3, axis=-1)
        hr, hz, hn = jnp.split(module.dense_h(h), 3, axis=-1)
        reset, update = module.gate_fn(xr + hr), module.gate_fn(xz + hz)
        return {
            "reset": reset,
            "update": update,
            "candidate": module.activation_fn(xn + reset * hn),
        }
    return None


def rnn_states(cell, inputs, *, carry=None) -> RNNStates:
    """Run a recurrent cell over a sequence and return its states at every step.

    Args:
      cell: a flax.nnx cell or a function `cell(carry, x) -> (carry, y)`.
      inputs: float (batch, time, features), e.g. the token embeddings the model feeds the cell.
      carry: the initial carry; default the cell's `initialize_carry` (zeros for flax's cells).

    Returns:
      `RNNStates` (hidden, cell, gates), each (batch, time, units).

    >>> import jax.numpy as jnp, jaxviz as jv
    >>> def cell(h, x):
    ...     h = 0.5 * h + x
    ...     return h, h
    >>> states = jv.rnn_states(cell, jnp.ones((1, 3, 1)), carry=jnp.zeros((1, 1)))
    >>> states.hidden[0, :, 0].tolist()
    [1.0, 1.5, 1.75]
    """
    cell, inputs, carry = _check_cell_inputs(cell, inputs, carry)
    pure = _pure(cell)
    build = lambda: _states_program(pure.graphdef, pure.step)  # noqa: E731
    hidden, memory, gates = _run(("rnn_states",), pure, build, carry, jnp.asarray(inputs))
    return RNNStates(hidden, memory, gates)


def _states_program(graphdef, step) -> Callable[..., Any]:
    from flax import nnx

    def run(state, carry, inputs):
        def body(carry, x):
            gates = _gates(nnx.merge(graphdef, state), carry, x) if graphdef is not None else None
            carry, _ = step(state, carry, x)
            memory = carry[0] if _is_lstm_carry(carry) else None
            return carry, (_hidden(carry), memory, gates)

        _, (hidden, memory, gates) = jax.lax.scan(body, carry, jnp.swapaxes(inputs, 0, 1))
        over_time = lambda a: jnp.swapaxes(a, 0, 1).astype(jnp.float32)  # noqa: E731
        return jax.tree.map(over_time, (hidden, memory, gates))

    return run


def state_gradient_norms(cell, inputs, *, carry=None, norm: str = "spectral") -> jax.Array:
    """||dh_T/dh_t|| for every step t: how strongly the final hidden state still depends on the
    state at step t. For a linear cell h_t = a h_{t-1} + x_t it is |a|^(T-t).

    The Jacobian dh_T/dh_t (units x units) is that of h_T with respect to a perturbation added to
    h_t after step t (the LSTM's memory c_t held fixed), one reverse pass per unit of h_T.

    Args:
      cell, inputs, carry: as in `rnn_states`.
      norm: "spectral" (the largest singular value: the most any direction grows) or
        "frobenius".

    Returns:
      float32 (batch, time); the last entry, t = T, is ||I|| (1 for the spectral norm).
    """
    check_choice("norm", norm, NORMS)
    cell, inputs, carry = _check_cell_inputs(cell, inputs, carry)
    pure = _pure(cell)
    build = lambda: _gradient_norms_program(pure.step, norm)  # noqa: E731
    inputs = jnp.asarray(inputs, jnp.float32)
    return _run(("state_gradient_norms", norm), pure, build, carry, inputs)


def _gradient_norms_program(step, norm: str) -> Callable[..., Any]:
    def run(state, carry, inputs):
        def one_example(carry, inputs):  # a batch of one: the Jacobian has no batch x batch block
            xs = jnp.swapaxes(inputs[None], 0, 1)
            carry = jax.tree.map(lambda leaf: leaf[None], carry)

            def final(deltas):  # deltas: (time, 1, units) added to h_t after step t
                def body(carry, xd):
                    x, delta = xd
                    carry, _ = step(state, carry, x)
                    return _with_hidden(carry, _hidden(carry) + delta), None

                last, _ = jax.lax.scan(body, carry, (xs, deltas))
                return _hidden(last)[0]  # (units,)

            zeros = jnp.zeros((xs.shape[0],) + _hidden(carry).shape, jnp.float32)
            return jnp.moveaxis(jax.jacrev(final)(zeros)[:, :, 0], 1, 0)  # (time, units_T, units_t)

        jac = jax.vmap(one_example)(carry, inputs)
        if norm == "frobenius":
            return jnp.sqrt((jac**2).sum(axis=(-2, -1)))
        return jnp.linalg.norm(jac, ord=2, axis=(-2, -1))

    return run
