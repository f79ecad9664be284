"""The shared widget machinery: binary payloads, colormap LUTs, requests, static twins."""

import base64
import json
import re
import threading
import time
from pathlib import Path

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
import traitlets

from jaxviz import _display
from jaxviz.widgets._base import JaxvizWidget, ResultCache, Warmer, in_background, static_asset
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


def test_a_front_end_message_is_answered_once():
    w = Squares()
    seq = w._reply["seq"]
    w.set_state({"n": 3, "_request_id": 1})  # what the front end sends: the change and the bump
    assert w._reply == {"id": 1, "seq": seq + 1, "error": None} and result(w) == 9
    assert w._served == {"cached": 0, "computed": 2}


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


# -- the warm-up worker -------------------------------------------------------------------------

WAIT = 30  # seconds: generous, the machine may be busy; a passing run waits far less


def gate_task(log, name, gate=None, started=None):
    """A task that records its name (and whether it ran on the warm-up thread), after `gate`;
    it sets `started` when it begins."""

    def task():
        if started is not None:
            started.set()
        if gate is not None:
            assert gate.wait(WAIT)
        log.append((name, in_background()))

    return task


def test_warmer_runs_tasks_in_priority_order_on_one_background_thread():
    log, gate = [], threading.Event()
    warmer = Warmer(limit=10)
    warmer.schedule([gate_task(log, "a", gate), *(gate_task(log, n) for n in "bcd")])
    assert log == []  # schedule() returned at once: the work is on the thread
    gate.set()
    assert warmer.wait_idle(WAIT)
    assert log == [("a", True), ("b", True), ("c", True), ("d", True)]
    assert warmer.completed == 4 and not in_background()


def test_rescheduling_replaces_the_pending_tasks_and_limit_bounds_them():
    log, gate, started = [], threading.Event(), threading.Event()
    warmer = Warmer(limit=2)
    warmer.schedule([gate_task(log, "first", gate, started), gate_task(log, "stale")])
    assert started.wait(WAIT)  # "first" is running (held by the gate), "stale" pending
    warmer.schedule(gate_task(log, n) for n in ["new1", "new2", "beyond the limit"])
    gate.set()
    assert warmer.wait_idle(WAIT)
    assert [name for name, _ in log] == ["first", "new1", "new2"]


def test_no_task_starts_while_a_request_is_being_served():
    log = []
    warmer = Warmer(quiet_s=1.0)
    with warmer.serving():
        warmer.schedule([gate_task(log, "a")])
        time.sleep(0.2)
        assert log == []  # the person's request goes first
    assert log == []  # and the next one, a second at most later, too
    assert warmer.wait_idle(WAIT)
    assert log == [("a", True)]


def test_warmers_take_turns_one_task_at_a_time_the_last_scheduled_first():
    log, gate, started = [], threading.Event(), threading.Event()
    first, second = Warmer(), Warmer()
    first.schedule([gate_task(log, "first a", gate, started), gate_task(log, "first b")])
    assert started.wait(WAIT)
    second.schedule([gate_task(log, "second")])  # the widget used last
    time.sleep(0.3)
    assert log == []  # not beside the task in flight
    gate.set()
    assert first.wait_idle(WAIT) and second.wait_idle(WAIT)
    assert [name for name, _ in log] == ["first a", "second", "first b"]


def test_stop_cancels_the_pending_tasks_and_ends_the_thread():
    log, gate, started = [], threading.Event(), threading.Event()
    warmer = Warmer()
    warmer.schedule([gate_task(log, "running", gate, started), gate_task(log, "pending")])
    assert started.wait(WAIT)
    thread = warmer._thread
    warmer.stop()
    gate.set()  # the task in flight finishes; nothing after it starts
    thread.join(WAIT)
    assert not thread.is_alive() and [name for name, _ in log] == ["running"]
    warmer.schedule([gate_task(log, "after stop")])
    assert warmer.wait_idle(WAIT) and len(log) == 1 and warmer._thread is None


def test_a_failing_task_is_counted_and_the_next_ones_still_run():
    log = []

    def boom():
        raise RuntimeError("no")

    warmer = Warmer()
    warmer.schedule([boom, gate_task(log, "b")])
    assert warmer.wait_idle(WAIT)
    assert warmer.failed == 1 and warmer.completed == 2 and log == [("b", True)]


def test_result_cache_computes_a_key_once_while_two_threads_ask_for_it():
    cache, calls, gate, started = ResultCache(2), [], threading.Event(), threading.Event()

    def slow():
        calls.append(1)
        started.set()
        assert gate.wait(WAIT)
        return "value"

    worker = threading.Thread(target=cache.get_or_compute, args=("k", slow))
    worker.start()
    assert started.wait(WAIT)  # the worker is computing "k"
    threading.Timer(0.1, gate.set).start()
    assert cache.get_or_compute("k", slow) == "value"  # joined, not recomputed
    worker.join()
    assert calls == [1]
    for key in "abc":  # least recently used goes first
        cache.get_or_compute(key, lambda: key)
    assert "k" not in cache and len(cache) == 2


def test_result_cache_stores_nothing_for_a_failure():
    cache = ResultCache(4)
    with pytest.raises(ValueError):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(ValueError("bad")))
    assert "k" not in cache and cache.get_or_compute("k", lambda: 1) == 1


class WarmSquares(Squares):
    """Squares whose controls reach n + 1 and n + 2 (the warm-up's plan); n == 7 fails."""

    def _warm_states(self, state):
        return [{"n": state["n"] + 1}, {"n": state["n"] + 2}]

    def _compute(self, state):
        if state["n"] == 7:
            raise RuntimeError("seven")
        return super()._compute(state)


def rendered(widget):
    """What the front end sends once it has drawn the widget."""
    widget._handle_custom_msg({"event": "rendered"}, [])


def test_the_widget_warms_after_its_first_render_and_serves_from_the_cache():
    w = WarmSquares(n=2)
    assert w.calls == [2] and w._warmer._thread is None  # nothing warms before it is drawn
    rendered(w)
    assert w._warmer.wait_idle(WAIT)
    assert sorted(w.calls) == [2, 3, 4]
    w.n = 3  # computed ahead: served from the cache, and the plan moves on (4, 5)
    assert result(w) == 9 and w._served == {"cached": 1, "computed": 1}
    assert w._warmer.wait_idle(WAIT)
    assert sorted(w.calls) == [2, 3, 4, 5]


def test_a_failure_while_warming_never_reaches_the_widget():
    w = WarmSquares(n=5)
    rendered(w)
    assert w._warmer.wait_idle(WAIT)  # 6 and 7 were tried; 7 failed quietly
    assert w._warmer.failed == 1 and w._reply["error"] is None and result(w) == 25
    w.n = 7  # the person asks: computed now, the error shown as usual
    assert w._reply["error"] == "RuntimeError: seven"


def test_a_cold_widget_never_warms_and_closing_stops_the_warm_up():
    cold = WarmSquares(n=2, warm=False)
    rendered(cold)
    cold.n = 3
    assert cold.calls == [2, 3] and cold._served == {"cached": 0, "computed": 2}
    w = WarmSquares(n=2)
    w.close()
    rendered(w)
    assert w._warmer.stopped and w._warmer._thread is None and w.calls == [2]


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
