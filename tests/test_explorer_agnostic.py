"""LIME, KernelSHAP and LRP in jv.Explorer (Python side): the methods and their own options, the
maps equal the core functions' on the same options, the options are cache keys, and a tabular
model's static twin draws KernelSHAP as a waterfall ending at the model's output."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import traitlets
from flax import nnx

import jaxviz as jv
from jaxviz.widgets import _explorer
from jaxviz.widgets._payload import payload_array


class TinyCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(1, 4, (3, 3), rngs=rngs)
        self.head = nnx.Linear(4 * 8 * 8, 3, rngs=rngs)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.conv1(x)).reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def images():
    model = jv.wrap(TinyCNN(nnx.Rngs(0)))
    x = np.asarray(jax.random.uniform(jax.random.key(1), (3, 8, 8, 1)))
    return model, x, jv.Explorer(model, x, method="lime", coalitions=128, warm=False)


@pytest.fixture(scope="module")
def tabular():
    w = np.asarray(jax.random.normal(jax.random.key(2), (5, 2)))
    model = jv.wrap(lambda x: jnp.tanh(x) @ w, example=np.zeros((1, 5), np.float32))
    x = np.asarray(jax.random.normal(jax.random.key(3), (4, 5)))
    names = [f"f{i}" for i in range(5)]
    explorer = jv.Explorer(model, x, feature_names=names, method="kernel_shap", warm=False)
    return model, x, explorer


def test_methods_list_their_own_options(images):
    _, _, explorer = images
    assert {"lime", "kernel_shap", "lrp"} <= set(explorer.methods)
    options = {m["value"]: m["options"] for m in explorer._setup["methods"]}
    assert options["lime"] == ["coalitions", "kernel_width"]
    assert options["kernel_shap"] == ["coalitions", "masker"]
    assert options["lrp"] == ["composite"]
    additive = [m["value"] for m in explorer._setup["methods"] if m["additive"]]
    assert additive == ["kernel_shap"]
    assert explorer.kernel_width == 0.25  # lime's image default (cosine distance)
    assert explorer._setup["composites"][0] == "epsilon-plus-flat"


def test_maps_equal_the_core_functions_on_a_grid_of_cells(images):
    model, x, explorer = images
    cells = jv.grid_segments((8, 8), 2)  # 4 cells a side
    key = jax.random.key(_explorer._KEY_SEED)
    want = jv.lime(model, x[1:2], "all", key=key, samples=128, kernel_width=0.25,
                   distance="cosine", groups=cells).attributions  # fmt: skip
    got = explorer.attribution_maps(1, "lime")
    np.testing.assert_allclose(got, np.asarray(want)[0, ..., 0], rtol=1e-5, atol=1e-6)
    wider = explorer.attribution_maps(1, "lime", kernel_width=2.0)
    assert not np.allclose(wider, got)  # the kernel width is an option, and a cache key
    relevance = explorer.attribution_maps(1, "lrp", composite="zero")
    np.testing.assert_allclose(
        relevance, np.asarray(jv.lrp(model, x[1:2], "all", composite="zero"))[0, ..., 0],
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    shap = explorer.attribution_maps(1, "kernel_shap", masker="background")
    want = jv.kernel_shap(model, x[1:2], "all", key=key, samples=128, groups=cells,
                          background=x).attributions  # fmt: skip
    np.testing.assert_allclose(shap, np.asarray(want)[0, ..., 0], rtol=1e-5, atol=1e-6)


def test_bad_masker_and_composite_are_refused(images):
    _, _, explorer = images
    with pytest.raises(traitlets.TraitError, match="masker: expected one of 'baseline'"):
        explorer.masker = "mean"
    with pytest.raises(traitlets.TraitError, match="composite: expected one of"):
        explorer.composite = "epsilon"


def test_tabular_kernel_shap_twin_is_a_waterfall_to_the_output(tabular):
    model, x, explorer = tabular
    explorer.index = 2
    maps = payload_array(explorer._result["maps"])
    shown = explorer.shown_class()
    figure = explorer.plot()
    bars = [p for p in figure.axes[0].patches]
    end = bars[-1].get_x() + bars[-1].get_width()
    np.testing.assert_allclose(end, float(model(x[2:3])[0, shown]), atol=1e-5)
    # Efficiency: the walk starts at the base, f(0) with the zero baseline.
    np.testing.assert_allclose(bars[0].get_x(), float(model(x[2:3] * 0)[0, shown]), atol=1e-4)
    np.testing.assert_allclose(maps[shown].sum(), end - bars[0].get_x(), atol=1e-5)
