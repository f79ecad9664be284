"""How long each layer view takes to be ready, for the zoo's digits-cnn and shapes-cnn.

Run: PYTHONPATH=. python benchmarks/layer_views.py [--full-featurevis]

Times (seconds, wall clock, first call includes compilation):
- explorer: jv.LayerExplorer(m, x[:16], dataset=x_test) built (every layer's activations)
- examples (first): a clicked channel's top-k over the test set, receptive field, deconvnet
  back-projection (compiles); feature (first): then its feature visualization (compiles)
- examples / feature (next): another channel of the same layer (programs cached)
- projector: jv.Projector(m, x[:500]) (every layer's PCA and k-means)
- twins: the two widgets' PNG static twins
With --full-featurevis, also the fraction of shapes-cnn channels (all conv layers) whose
feature visualization beats the dataset's best example, and how long that takes.
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

import jaxviz as jv
from jaxviz.widgets._layers import LayerExplorer, Projector


def timed(label, fn, results):
    start = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - start
    return out


def views(name: str) -> dict[str, float]:
    m, data = jv.zoo.load(name)
    x, y = data.x_test, data.y_test
    results: dict[str, float] = {}
    explorer = timed("explorer", lambda: LayerExplorer(
        m, x[:16], labels=y[:16], class_names=data.class_names, dataset=x), results)
    layer = [n for n in explorer.layer_names if explorer.layer_data[n]["spatial"]][-1]
    explorer.layer = layer
    timed("examples (first)", lambda: setattr(explorer, "channel", 0), results)
    timed("feature (first)", lambda: setattr(explorer, "with_feature", True), results)
    explorer.with_feature = False
    timed("examples (next)", lambda: setattr(explorer, "channel", 1), results)
    timed("feature (next)", lambda: setattr(explorer, "with_feature", True), results)
    projector = timed("projector", lambda: Projector(m, x[:500], y[:500],
                                                      class_names=data.class_names), results)
    timed("twins", lambda: (explorer.to_png(), projector.to_png()), results)
    return results


def feature_fraction(steps: int = 256) -> None:
    """Per conv layer of shapes-cnn: how many channels' feature visualization has a larger mean
    activation than every test image, and larger by more than the spread (one standard
    deviation) of that channel's mean activation over the test set ("well above")."""
    m, data = jv.zoo.load("shapes-cnn")
    x = data.x_test
    beat, well = [], []
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        start = time.perf_counter()
        vis = jv.feature_visualization(m, shape=x.shape[1:], layer=layer, steps=steps,
                                       key=jax.random.key(0))
        objective = np.asarray(vis.objective)
        elapsed = time.perf_counter() - start
        dataset = np.asarray(jv.activations(m, x, layers=layer)).mean(axis=(1, 2))
        best, spread = dataset.max(axis=0), dataset.std(axis=0)
        beat.append(objective > best)
        well.append(objective > best + spread)
        lead = (objective - best) / spread
        print(f"shapes-cnn {layer}: {beat[-1].mean():.0%} of {objective.size} channels above the "
              f"best test image, {well[-1].mean():.0%} well above (median lead "
              f"{np.median(lead):.1f} std); {elapsed:.1f}s for {steps} steps, all channels")
    print(f"shapes-cnn all conv channels: {np.concatenate(beat).mean():.0%} above, "
          f"{np.concatenate(well).mean():.0%} well above")


if __name__ == "__main__":
    for name in ("digits-cnn", "shapes-cnn"):
        for label, seconds in views(name).items():
            print(f"{name:11s} {label:15s} {seconds:6.2f}s")
    if "--full-featurevis" in sys.argv:
        feature_fraction()
