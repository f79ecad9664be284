"""The shared widget machinery: binary payloads, colormap LUTs, requests, static twins."""

import base64
import json
import re
from pathlib import Path

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
import traitlets

from jaxviz import _display
from jaxviz.widgets._base import JaxvizWidget, static_asset
from jaxviz.widgets._html import PAGE_MIME
from jaxviz.widgets._payload import (
    array_payload,
    colormap_catalog,
    colormap_lut,
    payload_array,
)


def test_array_payload_is_a_binary_buffer_with_dtype_and_shape():
    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3) / 4
    p = array_payload(x)
    assert isinstance(p["buffer"], memoryview) and p["buffer"].format == "B"
    assert p["dtype"] == "float32" and p["shape"] == [2, 3]
    assert p["buffer"].nbytes == 6 * 4
    np.testing.assert_array_equal(payload_array(p), np.asarray(x))


def test_array_payload_uint8_rounds_and_rejects_out_of_range():
    p = array_payload(np.array([0.4, 254.6]), "uint8")
    assert payload_array(p).tolist() == [0, 255]
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*\[-1.0, 3.0\]"):
        array_payload(np.array([-1.0, 3.0]), "uint8")
    with pytest.raises(ValueError, match="dtype must be one of.*'float64'"):
        array_payload(np.ones(2), "float64")


def test_colormap_lut_is_matplotlibs_table():
    lut = colormap_lut("viridis")
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    want = matplotlib.colormaps["viridis"]([0.0, 1.0], bytes=True)
    np.testing.assert_array_equal(lut[[0, 255]], want)
    with pytest.raises(ValueError, match="cmap: expected a matplotlib colormap name.*got 'nope'"):
        colormap_lut("nope")


def test_colormap_catalog_carries_every_signs_default():
    catalog = colormap_catalog(("magma",))
    assert catalog["defaults"] == _display.DEFAULT_COLORMAPS
    assert set(catalog["names"]) == {"magma", *_display.DEFAULT_COLORMAPS.values()}
    assert set(catalog["luts"]) == set(catalog["names"])
    assert catalog["luts"]["magma"]["shape"] == [256, 4]


class Squares(JaxvizWidget):
    """A test widget: `_result` holds n squared; n < 0 is an error."""

    _esm = "export default { render() {} };"
    n = traitlets.Int(2).tag(sync=True)
    _result = traitlets.Dict().tag(sync=True)
    _compute_traits = ("n",)

    def __init__(self, **kw):
        self.calls = []
        super().__init__(**kw)
        self.refresh()

    def _compute(self, state):
        self.calls.append(state["n"])
        if state["n"] < 0:
            raise ValueError(f"n must be >= 0, got {state['n']}")
        return {"_result": array_payload(np.array([state["n"] ** 2]))}

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(1, 1))
        ax.bar([0], [self.n**2])
        return fig


def result(w):
    return payload_array(w._result)[0]


def test_requests_compute_once_per_state_and_answer_every_request():
    w = Squares()
    assert result(w) == 4 and w._reply["error"] is None
    w.n = 3
    w.n = 2  # cached: no new computation
    assert w.calls == [2, 3]
    seq = w._reply["seq"]
    w._request_id = 5  # a request with nothing changed is still answered
    assert w._reply["id"] == 5 and w._reply["seq"] > seq


def test_an_error_is_reported_and_the_last_good_result_stays():
    w = Squares(n=3)
    w.n = -1
    assert w._reply["error"] == "ValueError: n must be >= 0, got -1"
    assert result(w) == 9
    w.n = 4
    assert w._reply["error"] is None and result(w) == 16


def test_mimebundle_carries_a_png_twin():
    data, _ = Squares()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_mimebundle_survives_a_failing_plot():
    class Broken(Squares):
        def plot(self):
            raise RuntimeError("no figure")

    data, _ = Broken()._repr_mimebundle_()
    assert "image/png" not in data and "application/vnd.jupyter.widget-view+json" in data


def page_block(text):
    match = re.search(rf'<script type="{re.escape(PAGE_MIME)}">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


def test_to_html_stores_the_requested_states_and_escapes_markup(tmp_path):
    w = Squares()
    w.set_trait("_reply", {"id": 0, "seq": 0, "error": "</script><img src=x onerror=alert(1)>"})
    path = w.to_html(tmp_path / "page.html", states=[{"n": 1}, {"n": 5}, {"n": -1}])
    text = path.read_text()
    assert text.count("</script>") == 2  # the data block's and the runtime's own ends only
    assert "<img" not in text
    block = page_block(text)
    assert [s["state"]["n"] for s in block["stored"]] == [1, 5]  # the failing state is left out
    stored = block["stored"][1]["result"]["_result"]
    assert np.frombuffer(base64.b64decode(stored["buffer"]["$bytes"]), np.float32)[0] == 25
    assert block["compute_traits"] == ["n"]
    assert "_esm" not in block["state"] and block["state"]["n"] == 2
    assert static_asset("page.js").read_text() in text


DISPLAY_CASES = Path(__file__).resolve().parents[1] / "js" / "test" / "display_cases.json"


def display_cases() -> list[dict]:
    """Sign/scale/normalize results of jaxviz._display that js/lib/scale.js must reproduce."""
    rng = np.random.default_rng(0)
    arrays = {
        "gaussian": rng.normal(size=40).astype(np.float32),
        "outlier": np.array([0.1, -0.2, 0.3, 0.0, 0.0, 25.0, -0.05, 0.4], np.float32),
        "one_sign": np.array([0.0, 1.0, 2.0, 3.0], np.float32),
        "zeros": np.zeros(3, np.float32),
    }
    cases = []
    for name, values in arrays.items():
        for sign in _display.SIGNS:
            for clip in (99.0, 100.0, 50.0):
                scale = _display.attribution_scale(values, sign=sign, clip_percentile=clip)
                normalized = _display.normalize_attribution(values, sign=sign, scale=scale)
                cases.append({
                    "name": name, "sign": sign, "clip": clip, "values": values.tolist(),
                    "scale": scale, "normalized": normalized.tolist(),
                })  # fmt: skip
    return cases


def test_js_display_cases_are_current():
    # If _display changed on purpose: python tests/test_widget_base.py, then npm test.
    stored = json.loads(DISPLAY_CASES.read_text())
    fresh = display_cases()
    assert [(c["name"], c["sign"], c["clip"]) for c in stored] == [
        (c["name"], c["sign"], c["clip"]) for c in fresh
    ]
    for s, f in zip(stored, fresh, strict=True):
        np.testing.assert_allclose(s["scale"], f["scale"], rtol=1e-6)
        np.testing.assert_allclose(s["normalized"], f["normalized"], rtol=1e-6, atol=1e-7)


if __name__ == "__main__":
    DISPLAY_CASES.write_text(json.dumps(display_cases()) + "\n")
