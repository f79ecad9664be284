"""Procedural token datasets with known evidence: ``sentiment-toy`` and ``lookup``.

Both are drawn from one JAX key with integer sampling only, so the same key gives the same bits
on every machine, and each example carries a boolean mask over its tokens marking the tokens
its label depends on: the ground truth a token attribution or an attention map can be checked
against.

``sentiment-toy``: ``<cls>`` then a short sentence of fillers around one or two sentiment
phrases, each ``[negator] [intensifier] word`` ("not very good"), padded with ``<pad>`` at the
end. A phrase's polarity is its word's, flipped by a negator; when there are two phrases they
agree, and the label (0 negative, 1 positive) is that polarity. The evidence is each phrase's
sentiment word and negator (intensifiers and fillers never change the label).

``lookup``: ``k1 v1 k2 v2 k3 v3 k4 v4 ? k`` with four distinct keys (letters) and their values
(digits); the label is the value stored under the queried key ``k``, and the evidence is that
value's position (the only token the answer can be read from).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

PAD, CLS = "<pad>", "<cls>"
POSITIVE = ("good", "great", "excellent", "lovely", "wonderful", "fine")
NEGATIVE = ("bad", "awful", "terrible", "poor", "boring", "horrible")
NEGATORS = ("not", "never")
INTENSIFIERS = ("very", "really", "so")
FILLERS = ("the", "movie", "film", "was", "is", "it", "this", "plot", "acting", "and", "a", "story")
SENTIMENT_VOCABULARY = (PAD, CLS, *POSITIVE, *NEGATIVE, *NEGATORS, *INTENSIFIERS, *FILLERS)
SENTIMENT_CLASSES = ("negative", "positive")

# A sentence is cut from these candidate slots (F filler, N negator, I intensifier, W sentiment
# word), keeping each with its own probability, so phrases keep their order and the length varies.
_SLOTS = "FFNIWFFNIWFF"
_PHASE_TWO = 5  # slots from here on belong to the second phrase (its N, I, W)
SENTIMENT_LENGTH = 1 + len(_SLOTS)  # <cls> and every slot kept
FILLER_KEEP, NEGATOR_KEEP, INTENSIFIER_KEEP, TWO_PHRASES = 0.55, 0.4, 0.35, 0.4

QUERY = "?"
LOOKUP_KEYS = tuple("abcdefgh")
LOOKUP_VALUES = tuple("0123456789")
LOOKUP_VOCABULARY = (PAD, QUERY, *LOOKUP_KEYS, *LOOKUP_VALUES)
LOOKUP_PAIRS = 4
LOOKUP_LENGTH = 2 * LOOKUP_PAIRS + 2


def _ids(vocabulary: tuple[str, ...], words: tuple[str, ...]) -> jax.Array:
    return jnp.array([vocabulary.index(w) for w in words], jnp.int32)


def _bernoulli(key: jax.Array, p: float, shape=()) -> jax.Array:
    # integer draws, so no transcendental function can change the bits across machines
    return jax.random.randint(key, shape, 0, 1000) < int(round(p * 1000))


def _one_sentence(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    v = SENTIMENT_VOCABULARY
    k_fill, k_words, k_pol, k_keep, k_neg, k_int, k_two = jax.random.split(key, 7)
    fillers = _ids(v, FILLERS)[jax.random.randint(k_fill, (len(_SLOTS),), 0, len(FILLERS))]
    negators = _ids(v, NEGATORS)[jax.random.randint(k_neg, (len(_SLOTS),), 0, len(NEGATORS))]
    intensifiers = _ids(v, INTENSIFIERS)[
        jax.random.randint(k_int, (len(_SLOTS),), 0, len(INTENSIFIERS))
    ]
    word_index = jax.random.randint(k_words, (len(_SLOTS),), 0, len(POSITIVE))
    kinds = np.array([{"F": 0, "N": 1, "I": 2, "W": 3}[c] for c in _SLOTS])
    keep_draws = jax.random.split(k_keep, 3)
    keep = jnp.where(
        kinds == 0,
        _bernoulli(keep_draws[0], FILLER_KEEP, kinds.shape),
        jnp.where(
            kinds == 1,
            _bernoulli(keep_draws[1], NEGATOR_KEEP, kinds.shape),
            jnp.where(kinds == 2, _bernoulli(keep_draws[2], INTENSIFIER_KEEP, kinds.shape), True),
        ),
    )
    second = np.arange(len(_SLOTS)) >= _PHASE_TWO
    phrase_slot = (kinds > 0) & second
    keep = keep & ~(phrase_slot & ~_bernoulli(k_two, TWO_PHRASES))
    # the label's polarity, then each phrase's word picked to agree with it after negation
    label = jax.random.randint(k_pol, (), 0, 2)
    words = np.flatnonzero(kinds == 3)
    negated = {w: keep[w - 2] for w in words}  # the negator slot of the word's phrase
    tokens = fillers
    evidence = jnp.zeros(len(_SLOTS), bool)
    for w in words:
        positive_word = (label == 1) ^ negated[w]
        word = jnp.where(
            positive_word, _ids(v, POSITIVE)[word_index[w]], _ids(v, NEGATIVE)[word_index[w]]
        )
        tokens = (
            tokens.at[w].set(word).at[w - 2].set(negators[w - 2]).at[w - 1].set(intensifiers[w - 1])
        )
        evidence = evidence.at[w].set(keep[w]).at[w - 2].set(keep[w - 2])
    # kept slots first, in order; the rest become padding
    order = jnp.argsort(~keep, stable=True)
    kept = keep[order]
    tokens = jnp.where(kept, tokens[order], v.index(PAD))
    evidence = evidence[order] & kept
    tokens = jnp.concatenate([jnp.array([v.index(CLS)], jnp.int32), tokens])
    evidence = jnp.concatenate([jnp.zeros(1, bool), evidence])
    return tokens, label.astype(jnp.int32), evidence


def _one_lookup(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    v = LOOKUP_VOCABULARY
    k_keys, k_values, k_query = jax.random.split(key, 3)
    keys = jax.random.permutation(k_keys, len(LOOKUP_KEYS))[:LOOKUP_PAIRS]
    values = jax.random.randint(k_values, (LOOKUP_PAIRS,), 0, len(LOOKUP_VALUES))
    asked = jax.random.randint(k_query, (), 0, LOOKUP_PAIRS)
    key_ids = keys + v.index(LOOKUP_KEYS[0])
    value_ids = values + v.index(LOOKUP_VALUES[0])
    pairs = jnp.stack([key_ids, value_ids], axis=1).reshape(-1)
    tokens = jnp.concatenate([pairs, jnp.array([v.index(QUERY)]), key_ids[asked][None]]).astype(
        jnp.int32
    )
    evidence = jnp.arange(LOOKUP_LENGTH) == 2 * asked + 1
    return tokens, values[asked].astype(jnp.int32), evidence


@functools.partial(jax.jit, static_argnums=(0, 2))
def _generate(task: str, key: jax.Array, n: int):
    one = {"sentiment-toy": _one_sentence, "lookup": _one_lookup}[task]
    return jax.vmap(one)(jax.random.split(key, n))


def make_sequences(
    task: str, n: int, *, key: jax.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``n`` token sequences of a task with their labels and evidence masks.

    Args:
      task: ``"sentiment-toy"`` or ``"lookup"`` (see this module's docstring).
      n: how many sequences.
      key: a ``jax.random`` key; the same key and ``n`` give the same bits.

    Returns:
      ``(tokens, labels, evidence)``: int32 ``(n, length)`` token ids (``SENTIMENT_VOCABULARY``
      or ``LOOKUP_VOCABULARY``), int32 ``(n,)`` labels, and bool ``(n, length)`` that is True on
      the tokens the label depends on.

    >>> import jax, jaxviz as jv
    >>> tokens, labels, evidence = jv.zoo.make_sequences("lookup", 2, key=jax.random.key(0))
    >>> tokens.shape, evidence.sum(axis=1).tolist()
    ((2, 10), [1, 1])
    """
    from ._shapes import _is_one_key

    if task not in ("sentiment-toy", "lookup"):
        raise ValueError(f"make_sequences: task must be 'sentiment-toy' or 'lookup', got {task!r}")
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"make_sequences: n must be a positive int, got {n!r}")
    if not _is_one_key(key):
        raise TypeError(
            f"make_sequences: key must be one jax.random key, e.g. jax.random.key(0), got {key!r}"
        )
    tokens, labels, evidence = _generate(task, key, int(n))
    return np.asarray(tokens, np.int32), np.asarray(labels, np.int32), np.asarray(evidence)


def decode(tokens, vocabulary: tuple[str, ...]) -> list[str]:
    """The words of one sequence of token ids, padding dropped."""
    return [vocabulary[int(t)] for t in np.asarray(tokens) if vocabulary[int(t)] != PAD]
