"""The zoo's pretrained models: which architecture, which dataset, where the weights are."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from flax import nnx, serialization

from .._model import Model, wrap
from ..latent import Autoencoder
from ..latent._gan import GAN
from ._data import DATASETS, PHOTOS, Dataset, _check_name, dataset
from ._latent_models import DigitsVAE, DigitsVAE8, DigitsVQVAE, as_autoencoder
from ._models import (
    CancerMLP,
    DigitsCNN,
    LookupTransformer,
    SentimentLSTM,
    SentimentTransformer,
    ShapesCNN,
)

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    description: str
    dataset: str
    module: Callable[..., nnx.Module]  # the architecture: module(rngs=nnx.Rngs(seed))
    # what `load` hands out: a classifier's `jv.wrap`, an autoencoder's `jv.Autoencoder`
    wrapper: Callable[[nnx.Module], Any] = wrap


MODELS: dict[str, ModelSpec] = {
    "digits-cnn": ModelSpec("2-conv CNN on 8x8 digits (10 classes)", "digits", DigitsCNN),
    "shapes-cnn": ModelSpec(
        "4-conv CNN on 32x32 shapes, conv4 at 16x16 for Grad-CAM vs masks (4 classes)",
        "shapes",
        ShapesCNN,
    ),
    "cancer-mlp": ModelSpec(
        "3-layer MLP on 30 breast-cancer features (2 classes)", "breast-cancer", CancerMLP
    ),
    "sentiment-transformer": ModelSpec(
        "2-layer, 4-head transformer on sentiment-toy token ids, read at <cls> (2 classes)",
        "sentiment-toy",
        SentimentTransformer,
    ),
    "sentiment-lstm": ModelSpec(
        "LSTM (32 units) on sentiment-toy token ids, read at the last real token (2 classes)",
        "sentiment-toy",
        SentimentLSTM,
    ),
    "lookup-transformer": ModelSpec(
        "2-layer, 4-head causal transformer on lookup token ids, read at the last token (10 "
        "classes)",
        "lookup",
        LookupTransformer,
    ),
    "digits-vae": ModelSpec(
        "VAE on 8x8 digits with a 2-D latent (MLP encoder and decoder)", "digits", DigitsVAE,
        as_autoencoder,
    ),
    "digits-vae-8": ModelSpec(
        "VAE on 8x8 digits with an 8-D latent (MLP encoder and decoder)", "digits", DigitsVAE8,
        as_autoencoder,
    ),
    "digits-vqvae": ModelSpec(
        "VQ-VAE on 8x8 digits: a 4x4 code map from 32 codes of size 8 (conv encoder, decoder)",
        "digits",
        DigitsVQVAE,
        as_autoencoder,
    ),
    "ring-gan": ModelSpec(
        "2-D GAN on the 8-Gaussian ring: MLP generator (2-D noise -> point) and discriminator; "
        "calling it generates",
        "ring",
        GAN,
    ),
}


def weights_path(name: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    return weights_dir / f"{name}.msgpack"


def weights_bytes(module: nnx.Module) -> bytes:
    """The module's state as msgpack (plain nested dicts of arrays: no pickle, no code)."""
    return serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(module)))


def restore_module(name: str, weights_dir: Path = WEIGHTS_DIR) -> nnx.Module:
    """Build the named architecture without initializing it, then fill in the saved weights."""
    spec = MODELS[_check_name("load", name, MODELS)]
    abstract = nnx.eval_shape(lambda: spec.module(rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    saved = serialization.msgpack_restore(weights_path(name, weights_dir).read_bytes())
    if not isinstance(saved, dict):
        raise ValueError(f"load: the weights file for {name!r} holds no module state")
    expected = nnx.to_pure_dict(state)
    expected_shapes = jax.tree.map(lambda v: v.shape, expected)
    saved_shapes = jax.tree.map(lambda v: v.shape, saved)
    if saved_shapes != expected_shapes:
        raise ValueError(
            f"load: the weights file for {name!r} does not match its architecture "
            f"(saved {saved_shapes}, expected {expected_shapes}); retrain it with "
            f"`python -m jaxviz.zoo.train {name}`"
        )
    nnx.replace_by_pure_dict(state, saved)
    return nnx.merge(graphdef, state)


def manifest(weights_dir: Path = WEIGHTS_DIR) -> dict[str, dict]:
    """What the training script recorded for each shipped model (accuracy, hash, machine)."""
    path = weights_dir / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def names(kind: str = "models") -> dict[str, str]:
    """What the zoo holds, each with a one-line description.

    Args:
      kind: ``"models"`` (for :func:`load`), ``"datasets"`` (for :func:`dataset`) or
        ``"photos"`` (for :func:`photo`).

    >>> import jaxviz as jv
    >>> sorted(jv.zoo.names())[:3]
    ['cancer-mlp', 'digits-cnn', 'digits-vae']
    """
    listings = {
        "models": {name: spec.description for name, spec in MODELS.items()},
        "datasets": {name: description for name, (description, _) in DATASETS.items()},
        "photos": dict(PHOTOS),
    }
    if kind not in listings:
        raise ValueError(f"names: kind must be one of {sorted(listings)}, got {kind!r}")
    return listings[kind]


def load(name: str) -> tuple[Model | Autoencoder, Dataset]:
    """Load a pretrained model and its dataset, offline, in one line.

    Args:
      name: one of :func:`names` (``"digits-cnn"``, ``"shapes-cnn"``, ``"cancer-mlp"``, and the
        token models ``"sentiment-transformer"``, ``"sentiment-lstm"``, ``"lookup-transformer"``,
        which take int32 token ids (batch, length)), and the autoencoders ``"digits-vae"``
        (2-D latent), ``"digits-vae-8"`` and ``"digits-vqvae"``.

    Returns:
      ``(model, data)``: the model wrapped with :func:`jaxviz.wrap` (its layers are named as in
      ``jaxviz/zoo/_models.py``, e.g. ``conv1``), or for an autoencoder a
      :class:`jaxviz.Autoencoder`, and the :class:`Dataset` it was trained on.

    >>> import jaxviz as jv
    >>> model, data = jv.zoo.load("digits-cnn")
    >>> model(data.x_test[:2]).shape
    (2, 10)
    """
    module = restore_module(name)
    spec = MODELS[name]
    return spec.wrapper(module), dataset(spec.dataset)
