"""Runs on disk: saved as they go, reloaded equal, readable after a kill, exported to TensorBoard
and read back by TensorBoard's own reader."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxviz as jv
from jaxviz.flow import Recorder, diagnose, flow_stats, histogram_edges
from jaxviz.flow._runs import crc32c, export_tensorboard, load_run

ROOT = Path(__file__).resolve().parents[1]


class Net(nnx.Module):
    """Called first -> second -> head; its parameter tree lists first, head, second."""

    def __init__(self, rngs):
        self.second = nnx.Linear(4, 3, rngs=rngs)
        self.first = nnx.Linear(2, 4, rngs=rngs)
        self.head = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.first(x))
        return self.head(jax.nn.sigmoid(self.second(h)))


def _step_fn(net):
    graphdef, params = nnx.split(net, nnx.Param)

    @jax.jit
    def stats(params, scale):
        grads = jax.tree.map(lambda p: p * scale, params)
        h = jax.nn.relu(jnp.ones((5, 4)) * scale - 1.0)
        acts = {"first": ("relu", h), "second": ("sigmoid", jax.nn.sigmoid(h))}
        return flow_stats(grads, params, grads, activations=acts)

    return params, stats


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """40 steps, validation every 5, a NaN loss at step 13; the model runs (and so its order
    becomes known) only after the first flushes, so the run holds chunks in two layer orders."""
    directory = tmp_path_factory.mktemp("runs") / "relu-sigmoid"
    net = Net(nnx.Rngs(0))
    m = jv.wrap(net)
    params, stats = _step_fn(net)
    hparams = {"lr": 0.1, "activation": "relu", "depth": 3, "augment": False}
    rec = Recorder(capacity=64, fetch_every=8, model=m, hparams=hparams, directory=directory)
    truth = {"loss": [], "val": []}
    for step in range(40):
        if step == 12:
            m(jnp.ones((1, 2)))  # the model runs: its call order is known from here on
        loss = float("nan") if step == 13 else 1.0 / (step + 1)
        truth["loss"].append(loss)
        rec.add(stats(params, jnp.float32(step + 1)), loss=loss, lr=0.1 * 0.99**step)
        if step % 5 == 4:
            rec.add_validation(loss=2.0 / (step + 1), accuracy=step / 40)
            truth["val"].append((step, 2.0 / (step + 1), step / 40))
    rec.flush()
    return directory, rec, truth


def test_reloaded_run_equals_the_recorded_one(recorded):
    directory, rec, truth = recorded
    loaded = load_run(directory)
    assert loaded.layers == rec.layers == ("first", "second", "head")
    assert loaded.meta.ordered == 3 and loaded.meta.sizes == rec.meta.sizes
    assert loaded.meta.activation_names == ("first", "second")
    np.testing.assert_array_equal(loaded.steps, np.arange(40))
    for name in ("grad_norm", "param_norm", "nonfinite", "grad_hist", "param_hist"):
        np.testing.assert_array_equal(loaded.field(name), rec.field(name), err_msg=name)
    for name in ("update_ratio", "dead_fraction", "saturated_fraction"):
        np.testing.assert_array_equal(loaded.field(name), rec.field(name), err_msg=name)
    assert loaded.metrics.keys() == rec.metrics.keys() == {"loss", "lr"}
    for name in rec.metrics:
        np.testing.assert_array_equal(loaded.metrics[name], rec.metrics[name])
    np.testing.assert_allclose(loaded.metrics["loss"], truth["loss"], rtol=1e-7)  # float32 kept
    assert loaded.first_nonfinite_metrics["loss"][0] == 13
    v_steps, v_loss = loaded.validation["loss"]
    np.testing.assert_array_equal(v_steps, [s for s, _, _ in truth["val"]])
    np.testing.assert_allclose(v_loss, [x for _, x, _ in truth["val"]], rtol=1e-7)
    np.testing.assert_allclose(loaded.validation["accuracy"][1], [a for *_, a in truth["val"]])
    assert loaded.hparams == {"lr": 0.1, "activation": "relu", "depth": 3, "augment": False}
    assert diagnose(loaded) == diagnose(rec)
    # the per-layer rows were written in two orders and reloaded by name: the first chunk (name
    # order first, head, second) and the last (forward order) agree with the recorder
    chunks = sorted((directory / "stats").glob("*.npz"))
    with np.load(chunks[0], allow_pickle=False) as first, np.load(chunks[-1]) as last:
        assert list(first["layers"]) == ["first", "head", "second"]
        assert list(last["layers"]) == ["first", "second", "head"]


def test_scalars_are_plain_json_lines(recorded):
    directory, _, _ = recorded
    lines = [json.loads(line) for line in (directory / "scalars.jsonl").read_text().splitlines()]
    train = [x for x in lines if x["split"] == "train"]
    assert [x["row"] for x in train] == list(range(40))
    assert train[13]["loss"] == "nan" and train[2]["loss"] == pytest.approx(1 / 3)
    assert {"split": "validation", "step": 4, "loss": 0.4, "accuracy": 0.1} in lines
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format"] == "jaxviz-run" and manifest["layers"] == ["first", "second", "head"]


CHILD = textwrap.dedent(
    """
    import sys
    import jax, jax.numpy as jnp
    from jaxviz.flow import Recorder, flow_stats

    rec = Recorder(capacity=8, fetch_every=5, directory=sys.argv[1], hparams={"seed": 0})
    stats = jax.jit(flow_stats)
    params = {"dense": {"w": jnp.ones(3)}}
    step = 0
    while True:
        grads = {"dense": {"w": jnp.full(3, step + 1.0)}}
        rec.add(stats(grads, params), loss=step * 0.5)
        if step % 5 == 4:  # the add that fills fetch_every flushed the run to disk
            print(step, flush=True)
        step += 1
    """
)


def test_a_killed_run_keeps_every_step_up_to_its_last_flush(tmp_path):
    directory = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        flushed = -1
        while flushed < 24:
            line = child.stdout.readline()
            assert line, f"the child stopped early (exit code {child.poll()})"
            flushed = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    run = load_run(directory)
    steps = run.steps
    assert len(steps) >= flushed + 1 and len(steps) % 5 == 0  # whole flushes, nothing torn
    np.testing.assert_array_equal(steps, np.arange(len(steps)))
    np.testing.assert_array_equal(run.metrics["loss"], steps * 0.5)
    np.testing.assert_allclose(run.field("grad_norm")[:, 0], np.sqrt(3) * (steps + 1), rtol=1e-6)
    assert run.hparams == {"seed": 0}


def test_readers_do_not_cut_the_run_into_small_files(tmp_path):
    rec = Recorder(capacity=16, fetch_every=8, directory=tmp_path / "run")
    p = {"a": jnp.ones(2)}
    stats = jax.jit(flow_stats)(p, p)
    for step in range(3):
        rec.add(stats, loss=float(step))
        assert len(rec.steps) == step + 1  # a viewer reads: rows are fetched, not yet written
    assert list((tmp_path / "run" / "stats").iterdir()) == []
    for step in range(3, 8):
        rec.add(stats, loss=float(step))
    (chunk,) = (tmp_path / "run" / "stats").iterdir()
    with np.load(chunk, allow_pickle=False) as data:
        assert list(data["steps"]) == list(range(8))
    rec.add(stats, loss=8.0)
    rec.flush()
    np.testing.assert_array_equal(load_run(tmp_path / "run").metrics["loss"], np.arange(9.0))


def test_a_run_ending_normally_writes_its_last_rows(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        import jax.numpy as jnp
        from jaxviz.flow import Recorder, flow_stats

        rec = Recorder(capacity=8, fetch_every=100, directory=sys.argv[1])
        for step in range(3):
            rec.add(flow_stats({"w": jnp.ones(2)}, {"w": jnp.ones(2)}), loss=step)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], env=env, check=True)
    np.testing.assert_array_equal(load_run(tmp_path / "run").metrics["loss"], [0.0, 1.0, 2.0])


def test_a_line_cut_short_by_a_crash_is_dropped(recorded, tmp_path):
    directory, rec, _ = recorded
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("manifest.json", "scalars.jsonl"):
        (copy / name).write_bytes((directory / name).read_bytes())
    (copy / "stats").mkdir()
    for chunk in (directory / "stats").glob("*.npz"):
        (copy / "stats" / chunk.name).write_bytes(chunk.read_bytes())
    with open(copy / "scalars.jsonl", "a") as f:
        f.write('{"split": "train", "step": 40, "row": 40, "lo')
    loaded = load_run(copy)
    assert len(loaded.steps) == 40
    np.testing.assert_array_equal(loaded.field("grad_norm"), rec.field("grad_norm"))


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue's check value


def test_tensorboard_reads_the_export_back(recorded, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    directory, rec, _ = recorded
    event_file = export_tensorboard(directory, tmp_path / "tb")
    acc = EventAccumulator(str(event_file), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    loss = acc.Scalars("loss")
    finite = np.isfinite(rec.metrics["loss"])
    assert [e.step for e in loss if np.isfinite(e.value)] == list(rec.steps[finite])
    np.testing.assert_allclose(
        [e.value for e in loss if np.isfinite(e.value)], rec.metrics["loss"][finite], rtol=1e-6
    )
    assert 13 not in [e.step for e in loss]  # NaN in the table: not given, or NaN; left out
    v_steps, v_values = rec.validation["accuracy"]
    acc_events = acc.Scalars("validation/accuracy")
    assert [e.step for e in acc_events] == list(v_steps)
    np.testing.assert_allclose([e.value for e in acc_events], v_values, rtol=1e-6)
    for j, layer in enumerate(rec.layers):
        norms = acc.Scalars(f"grad_norm/{layer}")
        np.testing.assert_allclose(
            [e.value for e in norms], rec.field("grad_norm")[:, j], rtol=1e-6
        )
        hists = acc.Histograms(f"gradients/{layer}")
        assert [h.step for h in hists] == list(rec.steps)
        h = hists[17].histogram_value
        np.testing.assert_array_equal(h.bucket, rec.field("grad_hist")[17, j])
        np.testing.assert_array_equal(h.bucket_limit, histogram_edges()[1:])
        assert h.num == rec.field("grad_hist")[17, j].sum()
    few = export_tensorboard(rec, tmp_path / "few", max_histogram_steps=4)
    acc = EventAccumulator(str(few), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    assert [h.step for h in acc.Histograms("weights/head")] == [0, 13, 26, 39]
    assert len(acc.Scalars("loss")) == 39


def test_bad_runs_and_names_get_clear_errors(recorded, tmp_path):
    directory, _, _ = recorded
    with pytest.raises(ValueError, match=r"is not a jaxviz run \(no manifest.json\)"):
        load_run(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="does not say format 'jaxviz-run'"):
        load_run(tmp_path)
    with pytest.raises(ValueError, match="already holds a run"):
        Recorder(directory=directory)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty directory"):
        Recorder(directory=tmp_path / "other")
    # a chunk whose series disagree in length
    broken = tmp_path / "broken"
    rec = Recorder(capacity=8, fetch_every=2, directory=broken)
    p = {"a": jnp.ones(2)}
    rec.add(flow_stats(p, p), loss=1.0)
    rec.add(flow_stats(p, p), loss=2.0)
    chunk = broken / "stats" / "000000.npz"
    with np.load(chunk) as data:
        arrays = dict(data)
    arrays["grad_norm"] = arrays["grad_norm"][:1]
    np.savez(chunk, **arrays)
    with pytest.raises(ValueError, match=r"series 'grad_norm' has 1 rows but steps has 2"):
        load_run(broken)
    # names the run format keeps for itself
    with pytest.raises(ValueError, match=r"metrics: the name 'split' is reserved"):
        Recorder().add(split=1.0)
    with pytest.raises(ValueError, match=r"the name 'validation/loss' is reserved"):
        Recorder().add_validation(**{"validation/loss": 1.0})
    with pytest.raises(ValueError, match=r"metrics\['loss'\]: expected one number per step"):
        Recorder().add(loss=jnp.ones(3))
    with pytest.raises(TypeError, match=r"hparams\['layers'\]: expected a bool, int, float"):
        Recorder(hparams={"layers": [1, 2]})
