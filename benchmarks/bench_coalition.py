"""Coalition methods (issue 15): jaxviz's KernelSHAP and exact Shapley values against shap's
KernelExplainer and ExactExplainer, on the zoo's cancer-mlp, the same weights, examples,
background rows and number of coalitions, timed alternately in this one process.

shap calls a NumPy twin of the model (the same weights; its fastest model call, no per-shape
compilation), and explains every class, as jaxviz does with target="all".
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import jaxviz as jv
from benchmarks._timing import alternate_samples
from jaxviz.explain._coalition import kernel_shap, shapley_values
from jaxviz.zoo._pretrained import restore_module

EXAMPLES = 8
BACKGROUND = 100
COALITIONS = 2048
EXACT_FEATURES = 10  # the first 10 features; the other 20 held at 0, their standardized mean
REPEATS = 3


def cancer_model(kept: int = 30):
    """cancer-mlp over its first `kept` features as a wrapped JAX model and a NumPy twin."""
    net = restore_module("cancer-mlp")
    layers = [
        (np.asarray(d.kernel[...]), np.asarray(d.bias[...])) for d in (net.fc1, net.fc2, net.fc3)
    ]

    def forward(x, xp):
        x = xp.concatenate([x, xp.zeros((x.shape[0], 30 - kept), x.dtype)], axis=1)
        for depth, (kernel, bias) in enumerate(layers):
            x = x @ kernel + bias
            x = xp.maximum(x, 0) if depth < 2 else x
        return x

    model = jv.wrap(lambda x: forward(x, jnp), example=np.zeros((1, kept), np.float32))
    return model, lambda x: forward(np.asarray(x, np.float32), np)


def measure_kernel(data) -> dict:
    import shap

    model, numpy_model = cancer_model()
    x, background = data.x_test[:EXAMPLES], data.x_train[:BACKGROUND]
    explainer = shap.KernelExplainer(numpy_model, background)
    key = jax.random.key(0)
    results = {}

    def ours():
        results["jaxviz"] = kernel_shap(
            model, x, "all", key=key, samples=COALITIONS, background=background
        )
        results["jaxviz"].values.block_until_ready()

    def theirs():
        results["shap"] = explainer.shap_values(x, nsamples=COALITIONS, l1_reg=False, silent=True)

    times = alternate_samples({"jaxviz": ours, "shap": theirs}, repeats=REPEATS)
    ours_values = np.asarray(results["jaxviz"].values)  # (examples, classes, features)
    theirs_values = np.moveaxis(np.asarray(results["shap"]), 2, 1)
    at_x = numpy_model(x)
    gap = np.abs(ours_values.sum(-1) - (at_x - numpy_model(background).mean(0))).max()
    return dict(
        times=times,
        stderr=float(np.asarray(results["jaxviz"].stderr).mean()),
        difference=float(np.abs(ours_values - theirs_values).mean()),
        scale=float(np.abs(theirs_values).mean()),
        efficiency_gap=float(gap),
    )


def measure_exact(data) -> dict:
    import shap

    model, numpy_model = cancer_model(EXACT_FEATURES)
    x = data.x_test[:EXAMPLES, :EXACT_FEATURES]
    background = data.x_train[:BACKGROUND, :EXACT_FEATURES]
    explainer = shap.ExactExplainer(
        numpy_model, shap.maskers.Independent(background, max_samples=BACKGROUND)
    )
    results = {}

    def ours():
        results["jaxviz"] = shapley_values(model, x, "all", background=background)
        results["jaxviz"].values.block_until_ready()

    def theirs():
        results["shap"] = explainer(x, silent=True)

    times = alternate_samples({"jaxviz": ours, "shap": theirs}, repeats=REPEATS)
    difference = np.abs(
        np.asarray(results["jaxviz"].values) - np.moveaxis(results["shap"].values, 2, 1)
    ).max()
    return dict(times=times, difference=float(difference))


def _row(name: str, times: dict, note: str) -> str:
    ours, theirs = np.median(times["jaxviz"]), np.median(times["shap"])
    ratio = np.median(np.array(times["shap"]) / np.array(times["jaxviz"]))
    rates = f"{EXAMPLES / ours:,.1f} | {EXAMPLES / theirs:,.2f}"
    return f"| {name} | {rates} | **{ratio:.1f}x** | {note} |"


def run() -> str:
    data = jv.zoo.dataset("breast-cancer")
    kernel, exact = measure_kernel(data), measure_exact(data)
    rows = "\n".join(
        [
            _row(
                f"KernelSHAP, 30 features, {COALITIONS} coalitions",
                kernel["times"],
                f"mean abs. difference {kernel['difference']:.3f} (values' mean size "
                f"{kernel['scale']:.3f}; jaxviz's mean standard error {kernel['stderr']:.3f}); "
                f"efficiency gap {kernel['efficiency_gap']:.1e}",
            ),
            _row(
                f"exact Shapley, {EXACT_FEATURES} features, {2**EXACT_FEATURES} coalitions",
                exact["times"],
                f"max abs. difference {exact['difference']:.1e}",
            ),
        ]
    )
    return f"""## Coalition methods: jaxviz vs shap (CPU)

Examples per second, median of {REPEATS} alternating repetitions after one warm-up call each
(jaxviz's includes no compilation), on the zoo's cancer-mlp (30 standardized breast-cancer
features, 2 classes), {EXAMPLES} test examples, the first {BACKGROUND} training rows as the
background (a missing feature takes each row's value in turn; the value is the mean), every
class explained. KernelSHAP: {COALITIONS} coalitions per example on both sides (shap's
`nsamples`, with `l1_reg=False`; jaxviz's `samples`, paired), so both run
{COALITIONS} x {BACKGROUND} model rows per example. Exact Shapley values: the first
{EXACT_FEATURES} features (the other 20 held at 0, their mean), all {2**EXACT_FEATURES}
coalitions, shap's `ExactExplainer` with an `Independent` masker over the same background.
shap calls a NumPy twin of the model (same weights), which is most of its time; jaxviz runs
one compiled program (of which the model's rows alone take about 70% for exact values). The
two KernelSHAP estimates differ by their sampling (different coalitions); the exact values
agree to float32 rounding. {os.cpu_count()} CPU cores, shared with other jobs.

| method | jaxviz (examples/s) | shap (examples/s) | jaxviz / shap | check |
|---|---|---|---|---|
{rows}"""


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    print(run())
