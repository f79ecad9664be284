"""The sequence zoo: sentiment-toy and lookup (ground truth re-derived from the tokens), their
shipped models' accuracy, determinism, and explanations checked against the ground truth."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxviz as jv
from jaxviz import sequence as sq
from jaxviz.zoo import _sequences as s

SEQUENCE_MODELS = {
    "sentiment-transformer": "sentiment-toy",
    "sentiment-lstm": "sentiment-toy",
    "lookup-transformer": "lookup",
}


def _sentiment_rule(tokens: np.ndarray) -> tuple[int, np.ndarray]:
    """The label and evidence of one sentence, read from its words as a person would."""
    words = [s.SENTIMENT_VOCABULARY[t] for t in tokens]
    evidence = np.zeros(len(words), bool)
    polarities = []
    for i, word in enumerate(words):
        if word in s.POSITIVE or word in s.NEGATIVE:
            negator = next(
                (
                    j
                    for j in (i - 1, i - 2)
                    if j >= 0
                    and words[j] in s.NEGATORS
                    and all(w in s.INTENSIFIERS for w in words[j + 1 : i])
                ),
                None,
            )
            evidence[i] = True
            if negator is not None:
                evidence[negator] = True
            polarities.append((word in s.POSITIVE) != (negator is not None))
    assert polarities and len(set(polarities)) == 1, words  # one polarity per sentence
    return int(polarities[0]), evidence


@pytest.fixture(scope="module")
def sentiment():
    return jv.zoo.dataset("sentiment-toy")


@pytest.fixture(scope="module")
def lookup():
    return jv.zoo.dataset("lookup")


def test_sentiment_labels_and_evidence_follow_the_rule(sentiment):
    for x, y, masks in (
        (sentiment.x_train, sentiment.y_train, sentiment.masks_train),
        (sentiment.x_test, sentiment.y_test, sentiment.masks_test),
    ):
        assert x.dtype == np.int32 and x.shape[1] == s.SENTIMENT_LENGTH and masks.shape == x.shape
        assert (x[:, 0] == s.SENTIMENT_VOCABULARY.index(s.CLS)).all()
        real = x != 0
        assert (
            real[:, 1:].astype(int) - real[:, :-1].astype(int) <= 0
        ).all()  # padding only at the end
        for tokens, label, evidence in zip(x, y, masks, strict=True):
            expected_label, expected_evidence = _sentiment_rule(tokens)
            assert label == expected_label
            np.testing.assert_array_equal(evidence, expected_evidence)
    assert 0.4 < y.mean() < 0.6
    negated = np.isin(sentiment.x_test, [s.SENTIMENT_VOCABULARY.index(w) for w in s.NEGATORS]).any(
        1
    )
    assert 0.3 < negated.mean() < 0.8  # negation is common enough to matter


def test_lookup_label_is_the_value_stored_under_the_queried_key(lookup):
    x, y, masks = lookup.x_test, lookup.y_test, lookup.masks_test
    assert x.shape == (1000, s.LOOKUP_LENGTH) and masks.sum(1).tolist() == [1] * 1000
    keys, values = x[:, 0:8:2], x[:, 1:8:2]
    assert all(len(set(row)) == s.LOOKUP_PAIRS for row in keys)  # distinct keys
    assert (x[:, -2] == s.LOOKUP_VOCABULARY.index(s.QUERY)).all()
    asked = (keys == x[:, -1:]).argmax(1)
    assert (keys[np.arange(1000), asked] == x[:, -1]).all()
    np.testing.assert_array_equal(masks.argmax(1), 2 * asked + 1)
    digits = np.array([s.LOOKUP_VOCABULARY[v] for v in values[np.arange(1000), asked]]).astype(int)
    np.testing.assert_array_equal(digits, y)
    assert lookup.class_names == s.LOOKUP_VALUES and lookup.vocabulary == s.LOOKUP_VOCABULARY


def test_generation_is_deterministic_and_keyed(sentiment, lookup):
    for task in ("sentiment-toy", "lookup"):
        # n = 1000 as the shipped test split: the generator is already compiled for it
        first = s.make_sequences(task, 1000, key=jax.random.key(3))
        second = s.make_sequences(task, 1000, key=jax.random.key(3))
        other = s.make_sequences(task, 1000, key=jax.random.key(4))
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a, b)
        assert (first[0] != other[0]).any()
    with pytest.raises(ValueError, match="task must be 'sentiment-toy' or 'lookup', got 'shapes'"):
        s.make_sequences("shapes", 2, key=jax.random.key(0))


def test_datasets_are_read_only_with_a_vocabulary(sentiment):
    assert sentiment.vocabulary == s.SENTIMENT_VOCABULARY and sentiment.class_names == (
        "negative",
        "positive",
    )
    assert "vocabulary=(31 tokens)" in repr(sentiment)
    with pytest.raises(ValueError, match="read-only"):
        sentiment.masks_test[0, 0] = True


@pytest.mark.parametrize("name", sorted(SEQUENCE_MODELS))
def test_shipped_sequence_model_accuracy(name):
    model, data = jv.zoo.load(name)
    assert data.name == SEQUENCE_MODELS[name]
    accuracy = float(np.mean(np.asarray(model(data.x_test)).argmax(-1) == data.y_test))
    assert accuracy >= 0.97
    assert accuracy == pytest.approx(jv.zoo._pretrained.manifest()[name]["test_accuracy"], abs=1e-9)
    assert jv.zoo._pretrained.weights_path(name).stat().st_size < 300_000


def test_padding_never_changes_the_sentiment_logits():
    model, data = jv.zoo.load("sentiment-transformer")
    short = data.x_test[(data.x_test != 0).sum(1) <= 6][:16, :7]
    full = np.zeros((len(short), s.SENTIMENT_LENGTH), np.int32)
    full[:, :7] = short
    np.testing.assert_allclose(np.asarray(model(full)), np.asarray(model(short)), atol=1e-5)
    weights = np.asarray(sq.attention(model, full))
    assert (weights[..., 7:] == 0.0).all()  # nobody attends to padding


def test_integrated_gradients_top_token_is_evidence_on_sentiment(sentiment):
    model, _ = jv.zoo.load("sentiment-transformer")
    x, y, masks = sentiment.x_test[:400], sentiment.y_test[:400], sentiment.masks_test[:400]
    correct = np.asarray(model(x)).argmax(-1) == y
    cls = s.SENTIMENT_VOCABULARY.index(s.CLS)
    baseline = np.where(
        x == cls, cls, 0
    )  # pad every word, keep <cls> (as Captum's BERT tutorials do)
    attr = np.asarray(sq.token_attribution(model, x, baseline=baseline, steps=32))
    top = attr.argmax(1)
    share = masks[np.arange(len(x)), top][correct].mean()
    assert share >= 0.9, share  # measured 1.000 on all 1000 test sentences


def test_rollout_and_gradient_weighted_attention_find_the_value_on_lookup(lookup):
    model, _ = jv.zoo.load("lookup-transformer")
    value = lookup.masks_test.argmax(1)
    rollout = np.asarray(sq.attention_rollout(sq.attention(model, lookup.x_test)))[:, -1]
    assert (rollout.argmax(1) == value).mean() >= 0.9  # measured 0.972 (0.999 over the context)
    relevance = np.array(sq.gradient_weighted_attention(model, lookup.x_test[:400]))[:, -1]
    relevance[:, -1] -= 1.0  # R - I: what attention moved into the answer position
    assert (relevance.argmax(1) == value[:400]).mean() >= 0.9  # measured 0.938 on all 1000


def test_rnn_states_of_the_zoo_lstm_reproduce_its_logits(sentiment):
    module = jv.zoo._pretrained.restore_module("sentiment-lstm")
    tokens = sentiment.x_test[:32]
    states = sq.rnn_states(module.cell, np.asarray(module.token_embed(tokens)))
    last = (tokens != 0).sum(1) - 1
    logits = module.head(states.hidden[np.arange(32), last])
    np.testing.assert_allclose(np.asarray(logits), np.asarray(module(tokens)), atol=1e-5)
    assert set(states.gates) == {"input", "forget", "candidate", "output"}
    norms = np.asarray(
        sq.state_gradient_norms(module.cell, np.asarray(module.token_embed(tokens[:4])))
    )
    assert norms.shape == (4, s.SENTIMENT_LENGTH) and np.allclose(norms[:, -1], 1.0, atol=1e-5)
