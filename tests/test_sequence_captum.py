"""Token attribution gives Captum's numbers: the zoo transformers, trained, with the same weights
in flax.nnx and PyTorch (benchmarks/_twins.py `torch_transformer`, logits equal to ~3e-6).

jaxviz's `token_attribution(method="integrated_gradients")` is layer integrated gradients at the
token embedding, as Captum's `LayerIntegratedGradients(model, model.token_embed)`: the embedding
output moves from the baseline tokens' embedding to the input's while the rest of the network
(padding mask, position embeddings) sees the input tokens. Both use 50 Gauss-Legendre nodes; the
per-token "sum" and "l2" reductions are taken of Captum's per-feature attributions.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

import captum.attr as ca  # noqa: E402

import jaxviz as jv  # noqa: E402
from benchmarks._twins import torch_transformer  # noqa: E402
from jaxviz.zoo._pretrained import restore_module  # noqa: E402

STEPS = 50


@pytest.fixture(scope="module", params=["sentiment-transformer", "lookup-transformer"])
def case(request):
    name = request.param
    model, data = jv.zoo.load(name)
    twin = torch_transformer(restore_module(name))
    tokens = np.array(data.x_test[:12], np.int32)  # a writable copy, as torch wants
    targets = np.asarray(model(tokens)).argmax(-1)
    return model, twin, tokens, targets


def _captum(twin, tokens, targets, baseline):
    lig = ca.LayerIntegratedGradients(twin, twin.token_embed)
    inputs = torch.from_numpy(tokens).long()
    attributions = lig.attribute(
        inputs,
        baselines=torch.from_numpy(baseline).long(),
        target=torch.from_numpy(targets).long(),
        n_steps=STEPS,
        method="gausslegendre",
    )
    return attributions.detach().numpy()  # (batch, length, features)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * np.abs(want).max())


def test_twin_logits_agree(case):
    model, twin, tokens, _ = case
    torch_logits = twin(torch.from_numpy(tokens).long()).detach().numpy()
    np.testing.assert_allclose(np.asarray(model(tokens)), torch_logits, atol=2e-5)


@pytest.mark.parametrize("baseline", ["padding", "per_example"])
def test_layer_integrated_gradients_equal_captums(case, baseline):
    model, twin, tokens, targets = case
    if baseline == "padding":
        ours_baseline, theirs = 0, np.zeros_like(tokens)
    else:  # keep the first token (e.g. <cls>), pad the rest: one baseline sequence per example
        theirs = np.where(np.arange(tokens.shape[1]) == 0, tokens, 0).astype(np.int32)
        ours_baseline = theirs
    features = _captum(twin, tokens, targets, theirs)
    for reduce, reference in (("sum", features.sum(-1)), ("l2", np.linalg.norm(features, axis=-1))):
        ours = jv.token_attribution(
            model, tokens, targets, steps=STEPS, baseline=ours_baseline, reduce=reduce
        )
        _close(np.asarray(ours), reference)
    # Not an agreement of near-zeros: the attributions carry the logit's change.
    assert np.abs(features.sum(-1)).sum(-1).max() > 0.5
