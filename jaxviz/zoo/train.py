"""Train a zoo model from scratch: ``python -m jaxviz.zoo.train NAME [NAME ...]``.

Fixed seeds (initialization and batch order), a fixed number of AdamW steps and no
data-dependent control flow, so a rerun on the same machine gives the same bits. Writes
``weights/NAME.msgpack`` and records the test accuracy, the weights' SHA-256 and the machine in
``weights/manifest.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..latent._gan import ring_gan_quality, train_ring_gan
from ._data import _check_name, dataset
from ._latent_models import (
    codebook_perplexity,
    reconstruction_error,
    restart_dead_codes,
    vae_loss,
    vqvae_loss,
)
from ._pretrained import MANIFEST, MODELS, WEIGHTS_DIR, weights_bytes, weights_path


@dataclasses.dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    seed: int = 0
    # weight of an L1 penalty on `module.features(x)` (then the logits are
    # `module.head(features)`, as in `module(x)`): keeps those activations sparse
    activation_l1: float = 0.0
    # "classify" (cross-entropy on the labels), or an autoencoder's objective in
    # `_latent_models.OBJECTIVES` ("vae", "vqvae"), which ignores the labels
    objective: str = "classify"


RECIPES: dict[str, Recipe] = {
    "digits-cnn": Recipe(epochs=20, batch_size=32, learning_rate=2e-3),
    "shapes-cnn": Recipe(epochs=4, batch_size=32, learning_rate=3e-3, activation_l1=2.0),
    "cancer-mlp": Recipe(epochs=60, batch_size=32, learning_rate=1e-3, weight_decay=1.0),
    "sentiment-transformer": Recipe(
        epochs=20, batch_size=64, learning_rate=3e-3, weight_decay=1e-2
    ),
    "sentiment-lstm": Recipe(epochs=20, batch_size=64, learning_rate=5e-3),
    "lookup-transformer": Recipe(epochs=40, batch_size=64, learning_rate=3e-3, weight_decay=1e-2),
    "digits-vae": Recipe(epochs=100, batch_size=32, learning_rate=2e-3, objective="vae"),
    "digits-vae-8": Recipe(epochs=100, batch_size=32, learning_rate=2e-3, objective="vae"),
    "digits-vqvae": Recipe(epochs=20, batch_size=32, learning_rate=2e-3, objective="vqvae"),
}


# Generative models: name -> (train from the fixed seed, the quality figures the manifest records)
GENERATIVE: dict[str, tuple[Callable[[], nnx.Module], Callable[[Any], dict]]] = {
    "ring-gan": (train_ring_gan, ring_gan_quality),
}

# The autoencoders' objectives, `loss(module, x, key)`, and what runs between their epochs.
OBJECTIVES = {"vae": vae_loss, "vqvae": vqvae_loss}
AFTER_EPOCH = {"vqvae": restart_dead_codes}


def _loss(module: Any, x: jax.Array, y: jax.Array, activation_l1: float) -> jax.Array:
    """Cross-entropy, plus an L1 penalty on the features of a module that splits into
    `features` and `head` (ShapesCNN) when the recipe asks for one."""
    if not activation_l1:
        return optax.softmax_cross_entropy_with_integer_labels(module(x), y).mean()
    features = module.features(x)
    logits = module.head(features)
    penalty = activation_l1 * jnp.abs(features).mean()
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean() + penalty


def _objective(module: Any, x: jax.Array, y: jax.Array, key: jax.Array, recipe: Recipe):
    if recipe.objective == "classify":
        return _loss(module, x, y, recipe.activation_l1)
    return OBJECTIVES[recipe.objective](module, x, key)


def _train_epochs(module: nnx.Module, x: np.ndarray, y: np.ndarray, recipe: Recipe, epochs: int):
    """AdamW over shuffled fixed-size batches, one compiled step per batch.

    A Python loop rather than ``lax.scan``: XLA:CPU runs convolutions inside a loop body about
    ten times slower than at the top level of a program. Objectives that sample (a VAE's
    reparameterization) get a key folded from the recipe's seed and the step number.
    """
    optimizer = optax.adamw(recipe.learning_rate, weight_decay=recipe.weight_decay)
    graphdef, params = nnx.split(module)
    opt_state = optimizer.init(params)
    key, restarts = jax.random.split(jax.random.key(recipe.seed))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, xb, yb, count):
        def loss(p):
            return _objective(nnx.merge(graphdef, p), xb, yb, jax.random.fold_in(key, count),
                              recipe)

        grads = jax.grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    order = np.random.default_rng(recipe.seed)
    batches = len(x) // recipe.batch_size  # the tail is dropped: one shape, one compilation
    count = 0
    for epoch in range(epochs):
        idx = order.permutation(len(x))[: batches * recipe.batch_size]
        for batch in idx.reshape(batches, recipe.batch_size):
            params, opt_state = step(params, opt_state, x[batch], y[batch], count)
            count += 1
        if recipe.objective in AFTER_EPOCH:
            module = AFTER_EPOCH[recipe.objective](
                nnx.merge(graphdef, params), x, jax.random.fold_in(restarts, epoch)
            )
            params = nnx.state(module)
    return nnx.merge(graphdef, params)


def accuracy(module: nnx.Module, x: np.ndarray, y: np.ndarray) -> float:
    graphdef, state = nnx.split(module)
    logits = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, jnp.asarray(x))
    return float(np.mean(np.asarray(logits.argmax(-1)) == y))


def train(name: str, *, epochs: int | None = None) -> nnx.Module:
    """Train the named zoo model from its fixed seed (``epochs`` shortens the recipe)."""
    recipe = RECIPES[_check_name("train", name, RECIPES)]
    data = dataset(MODELS[name].dataset)
    module = MODELS[name].module(rngs=nnx.Rngs(recipe.seed))
    n_epochs = recipe.epochs if epochs is None else epochs
    return _train_epochs(module, data.x_train, data.y_train, recipe, n_epochs)


def machine_fingerprint() -> str:
    """What must match for a retrain to reproduce the shipped weights bit for bit: the CPU
    (its instruction-set flags pick XLA's kernels), the core count and the JAX version."""
    cpu, flags = platform.processor(), ""
    try:
        info: dict[str, str] = {}
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
        cpu = info.get("model name", cpu)
        flags = hashlib.sha256(info.get("flags", "").encode()).hexdigest()[:8]
    except OSError:
        pass
    return f"{platform.machine()} {cpu} flags {flags} x{os.cpu_count()}; jax {jax.__version__}"


def quality(name: str, module: nnx.Module, data) -> dict:
    """The figures the manifest records: test accuracy for a classifier; an autoencoder's test
    reconstruction error (and a VQ-VAE's codebook perplexity)."""
    objective = RECIPES[name].objective
    if objective == "classify":
        return {"test_accuracy": accuracy(module, data.x_test, data.y_test)}
    record = {"test_reconstruction_mse": reconstruction_error(module, data.x_test)}
    if objective == "vqvae":
        record["test_codebook_perplexity"] = codebook_perplexity(module, data.x_test)
    return record


def train_and_save(name: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """Train, write the weights, record the run in the manifest, and return that record."""
    start = time.perf_counter()
    generative = GENERATIVE.get(name)
    module = generative[0]() if generative else train(name)
    seconds = time.perf_counter() - start
    data = dataset(MODELS[name].dataset)
    figures = generative[1](module) if generative else quality(name, module, data)
    blob = weights_bytes(module)
    weights_dir.mkdir(parents=True, exist_ok=True)
    weights_path(name, weights_dir).write_bytes(blob)
    record = {
        **figures,
        "train_seconds": round(seconds, 1),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "machine": machine_fingerprint(),
    }
    manifest_path = weights_dir / MANIFEST
    records = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    records[name] = record
    manifest_path.write_text(json.dumps(dict(sorted(records.items())), indent=2) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description="Train jaxviz zoo models from scratch.")
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES | GENERATIVE), metavar="NAME")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="weights folder")
    args = parser.parse_args()
    for name in args.names:
        print(name, json.dumps(train_and_save(name, args.out)))


if __name__ == "__main__":
    main()
