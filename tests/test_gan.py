"""The 2-D GAN (jaxviz/latent/_gan.py), the zoo's ring-gan and the GANLab widget."""

from __future__ import annotations

import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxviz as jv
from jaxviz.latent import _gan
from jaxviz.widgets._payload import payload_array
from jaxviz.zoo import _pretrained


@pytest.fixture(scope="module")
def lab():
    return jv.GANLab(interval_s=0.0)


def test_ring_and_grid_centers():
    ring = _gan.ring_centers(8, 2.0)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0, rtol=1e-6)
    gaps = np.linalg.norm(ring - np.roll(ring, 1, 0), axis=1)
    np.testing.assert_allclose(gaps, 2 * 2.0 * np.sin(np.pi / 8), rtol=1e-5)  # evenly spaced
    grid = _gan.grid_centers(5, 1.0)
    assert grid.shape == (25, 2) and set(np.unique(grid[:, 0])) == {-2.0, -1.0, 0.0, 1.0, 2.0}


def test_mixture_samples_are_reproducible_and_near_their_modes():
    centers = _gan.ring_centers()
    a, modes = _gan.sample_mixture(jax.random.key(3), centers, 4000, std=0.05)
    b, _ = _gan.sample_mixture(jax.random.key(3), centers, 4000, std=0.05)
    assert np.array_equal(a, b)
    offsets = a - centers[modes]
    np.testing.assert_allclose(offsets.std(0), 0.05, rtol=0.1)
    assert np.bincount(modes, minlength=8).min() > 400  # every mode drawn, about equally


def test_mode_coverage_closed_forms():
    centers = _gan.ring_centers()
    half = np.repeat(centers[:4], 25, axis=0)  # 100 points exactly on 4 of the 8 modes
    result = _gan.mode_coverage(half, centers)
    assert result.covered == 0.5 and result.quality == 1.0
    assert result.counts.tolist() == [25] * 4 + [0] * 4
    # a quarter of the points far from every mode: quality 0.75; a lone stray point near mode 5
    # does not cover it (min_count = 100 / 8 / 5 = 2)
    far = np.full((33, 2), 10.0, np.float32)
    mixed = np.concatenate([half, far, centers[5:6]])
    result = _gan.mode_coverage(mixed, centers)
    assert result.quality == pytest.approx(101 / 134)
    assert result.min_count == 3 and result.covered == 0.5
    assert _gan.mode_coverage(mixed, centers, min_count=1).covered == 5 / 8


@pytest.mark.parametrize(
    "points, message",
    [(np.zeros((5, 3)), r"samples: .*\(n, 2\).*\(5, 3\)"),
     (np.zeros((0, 2)), r"samples: .*got shape \(0, 2\)"),
     (np.full((2, 2), np.nan), "samples: expected finite"),
     ("ring", "samples: expected an array")],
)
def test_mode_coverage_bad_samples(points, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _gan.mode_coverage(points, _gan.ring_centers())


def test_losses_closed_forms():
    zero = jnp.zeros(4)
    assert float(_gan.discriminator_loss(zero, zero)) == pytest.approx(2 * np.log(2))
    assert float(_gan.generator_loss(zero)) == pytest.approx(np.log(2))
    big = jnp.full(4, 30.0)  # D sure that fakes are real: the generator's loss vanishes
    assert float(_gan.generator_loss(big)) < 1e-12


@pytest.fixture(scope="module")
def trainer():
    gan = _gan.GAN(_gan.default_generator(hidden=16), _gan.default_discriminator(hidden=16))
    return _gan.GANTrainer(gan.generator, gan.discriminator, batch_size=32)


def test_training_bits_do_not_depend_on_chunking_and_rate_does_not_recompile(trainer):
    data = _gan.ring_data(256)
    one, losses = trainer.run(trainer.init(jax.random.key(0)), data, 4, 1e-3)
    two = trainer.init(jax.random.key(0))
    for _ in range(2):
        two, _ = trainer.run(two, data, 2, 1e-3)
    assert losses.shape == (4, 2) and np.isfinite(losses).all()
    assert all(np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves((one.generator, one.discriminator)),
                   jax.tree.leaves((two.generator, two.discriminator)), strict=True))
    assert int(one.step) == 4
    compiled = trainer._run._cache_size()
    faster, _ = trainer.run(trainer.init(jax.random.key(0)), data, 4, 1e-2)
    assert trainer._run._cache_size() == compiled  # the learning rate is an argument
    assert not np.array_equal(jax.tree.leaves(faster.generator)[0],
                              jax.tree.leaves(one.generator)[0])


def test_view_arrays_equal_the_networks_and_the_gradient(trainer):
    state, _ = trainer.run(trainer.init(jax.random.key(1)), _gan.ring_data(256), 4, 1e-3)
    generator, discriminator = trainer.modules(state)
    z = np.asarray(jax.random.normal(jax.random.key(2), (6, 2)))
    grid = _gan.surface_grid((-3, 3, -3, 3), 5)
    fake, surface, push = trainer.view(state, z, grid)
    np.testing.assert_allclose(fake, generator(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surface, jax.nn.sigmoid(discriminator(grid)[:, 0]), rtol=1e-5,
                               atol=1e-6)
    # push = -d/dx softplus(-D(x)), by central differences at each generated point
    def loss(x):
        return float(jax.nn.softplus(-discriminator(jnp.asarray(x[None], jnp.float32))[0, 0]))

    eps = 1e-3
    for point, arrow in zip(np.asarray(fake, np.float64), push, strict=True):
        numeric = [-(loss(point + eps * e) - loss(point - eps * e)) / (2 * eps) for e in np.eye(2)]
        np.testing.assert_allclose(arrow, numeric, rtol=2e-2, atol=1e-4)


def test_surface_grid_is_row_major_from_the_top():
    grid = _gan.surface_grid((0, 4, 0, 2), 2)
    np.testing.assert_allclose(grid, [[1, 1.5], [3, 1.5], [1, 0.5], [3, 0.5]])


def test_zoo_ring_gan_covers_every_mode():
    model, data = jv.zoo.load("ring-gan")
    assert data.x_train.shape == (4000, 2) and data.class_names[0] == "mode 0"
    np.testing.assert_allclose(model(data.x_test[:5]),  # the wrapped model generates
                               _pretrained.restore_module("ring-gan").generator(data.x_test[:5]),
                               rtol=1e-5, atol=1e-6)
    figures = _gan.ring_gan_quality(_pretrained.restore_module("ring-gan"))
    record = _pretrained.manifest()["ring-gan"]
    assert figures["mode_coverage"] == record["mode_coverage"] == 1.0
    assert figures["sample_quality"] == pytest.approx(record["sample_quality"], abs=1e-4)
    assert figures["sample_quality"] >= 0.9


def test_gan_lab_surface_sent_equals_the_discriminator_on_the_grid(lab):
    lab.train(3)
    frame = lab.frame
    assert frame["step"] == lab.steps == 3
    surface = payload_array(frame["surface"])
    grid = _gan.surface_grid(tuple(lab.bounds), lab.resolution)
    expected = jax.nn.sigmoid(lab.gan.discriminator(grid)[:, 0]).reshape(surface.shape)
    np.testing.assert_allclose(surface, expected, rtol=1e-5, atol=1e-6)
    fake = payload_array(frame["fake"])
    np.testing.assert_allclose(fake, lab.gan.generator(lab._noise), rtol=1e-5, atol=1e-6)
    assert payload_array(frame["losses"])[-1, 0] == 3  # the last row is step 3


def test_gan_lab_play_pause_step_and_learning_rate(lab):
    start = lab.steps
    lab.learning_rate = 2e-3
    lab.play()
    deadline = time.monotonic() + 120
    while lab.steps < start + 2 * _gan.RING_GAN_CHUNK and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.main_thread().is_alive() and lab._thread is not None  # training elsewhere
    lab.pause()
    paused = lab.steps
    assert paused >= start + 2 * _gan.RING_GAN_CHUNK and lab._thread is None
    assert lab.frame["step"] == paused  # the last frame drawn after the pause
    time.sleep(0.3)
    assert lab.steps == paused
    lab.step()
    assert lab.steps == paused + 1 and lab.frame["step"] == paused + 1
    assert len(lab.losses) == lab.steps
    with pytest.raises(Exception, match=r"learning_rate: expected a number in \(0, 1\]"):
        lab.learning_rate = -1.0
    lab.learning_rate = 1e-3


@pytest.mark.parametrize(
    "data, message",
    [(np.zeros((10, 3)), r"data: expected 2-D points of shape \(n, 2\).*\(10, 3\)"),
     (np.zeros(10), r"data: .*got shape \(10,\)"),
     (np.array([[0.0, np.inf]]), "data: expected finite")],
)
def test_gan_lab_rejects_data_that_is_not_n_by_2(data, message):
    with pytest.raises(ValueError, match=message):
        jv.GANLab(data)


def test_gan_lab_static_twin_and_page(lab, tmp_path):
    figure = lab.plot()
    assert len(figure.axes) == 3  # the view, its colorbar, the losses
    assert lab.to_png()[:8] == b"\x89PNG\r\n\x1a\n"
    page = lab.to_html(tmp_path / "gan.html").read_text()
    assert "jaxviz-gan-lab" in page and '"frame"' in page


def test_gan_lab_with_default_settings_retraces_the_zoo_run_and_reaches_its_coverage():
    """Same key, data, networks and chunks as `python -m jaxviz.zoo.train ring-gan`: the live lab
    follows the zoo's run bit for bit, and covers all 8 modes (the zoo's figure) within 2000
    steps (the zoo trains 6000; the test stops early to stay short)."""
    lab = jv.GANLab()
    lab.train(2000)
    key = jax.random.key(_gan.RING_GAN_SEED)
    reference, _ = _gan.train_gan(_gan.default_gan(key), _gan.ring_dataset_arrays()["x_train"],
                                  steps=2000, key=key)
    assert all(np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves(_state(lab.gan)), jax.tree.leaves(_state(reference)),
                   strict=True))
    assert lab.coverage().covered == _pretrained.manifest()["ring-gan"]["mode_coverage"] == 1.0


def _state(module):
    from flax import nnx

    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(module)))
