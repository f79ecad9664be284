"""How long each layer view takes to be ready, for the zoo's digits-cnn and shapes-cnn.

Run: PYTHONPATH=. python benchmarks/layer_views.py [--full-featurevis]

Times (seconds, wall clock, first call includes compilation):
- explorer: jv.LayerExplorer(m, x[:16], dataset=x_test) built (every layer's activations)
- detail (first): a channel's detail: top-k over the test set, receptive field, deconvnet
  back-projection, feature visualization (compiles)
- detail (next): another channel of the same layer (programs cached)
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
    timed("detail (first)", lambda: setattr(explorer, "channel", 0), results)
    timed("detail (next)", lambda: setattr(explorer, "channel", 1), results)
    projector = timed("projector", lambda: Projector(m, x[:500], y[:500],
                                                      class_names=data.class_names), results)
    timed("twins", lambda: (explorer.to_png(), projector.to_png()), results)
    return results


def feature_fraction(steps: int = 256) -> None:
    m, data = jv.zoo.load("shapes-cnn")
    x = data.x_test
    for layer in ("conv1", "conv2", "conv3"):
        start = time.perf_counter()
        vis = jv.feature_visualization(m, shape=x.shape[1:], layer=layer, steps=steps,
                                       key=jax.random.key(0))
        elapsed = time.perf_counter() - start
        best = np.asarray(jv.activations(m, x, layers=layer)).mean(axis=(1, 2)).max(axis=0)
        ratio = np.asarray(vis.objective) / np.maximum(best, 1e-9)
        print(f"shapes-cnn {layer}: {np.mean(ratio > 1):.0%} of {ratio.size} channels beat the "
              f"dataset's best (median ratio {np.median(ratio):.2f}, >=1.5x: "
              f"{np.mean(ratio >= 1.5):.0%}), {elapsed:.1f}s for {steps} steps")


if __name__ == "__main__":
    for name in ("digits-cnn", "shapes-cnn"):
        for label, seconds in views(name).items():
            print(f"{name:11s} {label:15s} {seconds:6.2f}s")
    if "--full-featurevis" in sys.argv:
        feature_fraction()
