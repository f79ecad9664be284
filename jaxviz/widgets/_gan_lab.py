"""GANLab: a 2-D GAN trained live in the kernel, drawn as GAN Lab draws it (Kahng et al., IEEE
VIS 2018): real and generated points, the discriminator's probability of "real" as a heat map,
the generator's gradient at its points as arrows, and both losses over the steps.

Training runs on a background thread in chunks of jitted steps (``_gan.RING_GAN_CHUNK``), so the
notebook stays usable while it plays. A frame is one small jitted program (points, surface and
arrows together) plus a few kilobytes of buffers; frames are pushed at most every ``interval_s``
seconds, and spaced further apart when a frame is slow, so that drawing takes at most
``DRAW_BUDGET`` (3%) of the training time (benchmarks/gan_lab_overhead.py measures it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jax
import numpy as np
import traitlets
from flax import nnx

from .._compile_cache import compile_cache
from ..latent._gan import (
    GAN,
    LATENT_DIM,
    RING_GAN_CHUNK,
    RING_GAN_LEARNING_RATE,
    RING_GAN_SEED,
    GANTrainer,
    ModeCoverage,
    check_points,
    data_bounds,
    default_gan,
    mode_coverage,
    ring_centers,
    ring_dataset_arrays,
    surface_grid,
)
from ._base import JaxvizWidget, static_asset
from ._payload import array_payload, colormap_lut

SURFACE_COLORMAP = "PRGn"  # purple: "fake", green: "real", as in GAN Lab
MAX_LOSS_POINTS = 400
# Most of the training time drawing may take while playing: frames are spaced at least
# `interval_s` apart, and further apart when a frame is slow (a busy machine), so that one
# frame's time over the spacing stays under this share.
DRAW_BUDGET = 0.03
ARROWS = 120  # generated points that get a gradient arrow


def _loss_curve(losses: np.ndarray, limit: int = MAX_LOSS_POINTS) -> np.ndarray:
    """(steps, 2) losses as at most ``limit`` rows of (step, discriminator, generator): the mean
    of each of ``limit`` equal runs of steps, at the run's last step."""
    n = len(losses)
    if n == 0:
        return np.zeros((0, 3), np.float32)
    edges = np.unique(np.linspace(0, n, min(n, limit) + 1).astype(int))
    sums = np.add.reduceat(losses, edges[:-1], axis=0)
    means = sums / np.diff(edges)[:, None]
    return np.concatenate([(edges[1:, None]).astype(np.float32), means], 1).astype(np.float32)


class GANLab(JaxvizWidget):
    """Train a 2-D GAN live: play, pause, step, and change the learning rate while it trains.

    Args:
      data: real points (n, 2); default the zoo's ring of 8 Gaussians (its train split).
      generator: an NNX module mapping noise (batch, 2) to points (batch, 2); default a ReLU MLP.
      discriminator: an NNX module mapping points (batch, 2) to logits (batch, 1).
      learning_rate: Adam's learning rate for both networks (beta1 = 0.5).
      key: initializes the default networks and draws every batch and noise; the defaults
        (``jax.random.key(2)``, the ring, 1e-3) retrace the zoo's ``ring-gan`` run step for step.
      modes: the centres of the data's modes (k, 2), for :meth:`coverage`; default the ring's
        when ``data`` is None.
      interval_s: least time between two frames pushed while playing.
      resolution: the heat map's cells per side.
      samples: generated points drawn (the same noise every frame, so points move smoothly).

    >>> lab = jv.GANLab()             # show it; press play, or train from Python:
    >>> lab.train(100)
    >>> lab.steps
    100
    """

    _esm = static_asset("gan_lab.js")
    _css = static_asset("gan_lab.css")

    real = traitlets.Dict().tag(sync=True)
    bounds = traitlets.List(traitlets.Float()).tag(sync=True)
    frame = traitlets.Dict().tag(sync=True)
    lut = traitlets.Dict().tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    learning_rate = traitlets.Float(RING_GAN_LEARNING_RATE).tag(sync=True)

    def __init__(
        self,
        data: Any = None,
        *,
        generator: nnx.Module | None = None,
        discriminator: nnx.Module | None = None,
        learning_rate: float = RING_GAN_LEARNING_RATE,
        key: jax.Array | None = None,
        modes: Any = None,
        interval_s: float = 0.2,
        resolution: int = 48,
        samples: int = 500,
        **kwargs: Any,
    ):
        with compile_cache():  # the next kernel loads these programs from disk
            self._setup(data, generator, discriminator, learning_rate, key, modes, interval_s,
                        resolution, samples)
        bounds = data_bounds(self.data)
        shown = self.data[np.linspace(0, len(self.data) - 1, min(len(self.data), 1000)).astype(int)]
        super().__init__(
            real=array_payload(shown),
            bounds=list(bounds),
            lut=array_payload(colormap_lut(SURFACE_COLORMAP), "uint8"),
            learning_rate=float(learning_rate),
            warm=False,
            **kwargs,
        )
        self.observe(self._on_playing, names="playing")
        self.observe(lambda change: _check_learning_rate(change["new"]), names="learning_rate")
        self.on_msg(self._on_command)
        self.draw()

    def _setup(self, data, generator, discriminator, learning_rate, key, modes, interval_s,
               resolution, samples) -> None:
        key = jax.random.key(RING_GAN_SEED) if key is None else key
        if data is None:
            data = ring_dataset_arrays()["x_train"]
            modes = ring_centers() if modes is None else modes
        data = check_points("data", data)
        self.modes = None if modes is None else check_points("modes", modes)
        _check_learning_rate(learning_rate)
        if not (isinstance(interval_s, int | float) and interval_s >= 0):
            raise ValueError(f"interval_s: expected seconds >= 0, got {interval_s!r}.")
        if generator is None and discriminator is None:
            gan = default_gan(key)
        else:
            gan = GAN(generator, discriminator, rngs=nnx.Rngs(key))
        self.data = data
        self.interval_s = float(interval_s)
        self.resolution = int(resolution)
        self._trainer = GANTrainer(gan.generator, gan.discriminator)
        self._train_state = self._trainer.init(key)
        self._losses: list[np.ndarray] = []
        self._noise = np.asarray(jax.random.normal(jax.random.key(1), (samples, LATENT_DIM)))
        self._grid = surface_grid(data_bounds(data), self.resolution)
        self._lock = threading.Lock()  # one training chunk or frame at a time
        self._thread: threading.Thread | None = None
        self._closed = False
        self.frames = 0
        self._frame_s = 0.0  # how long the last frame took

    # -- what a person reads from Python --------------------------------------------------------

    @property
    def steps(self) -> int:
        """Training steps taken so far."""
        return int(self._train_state.step)

    @property
    def losses(self) -> np.ndarray:
        """float32 (steps, 2): the discriminator's and the generator's loss at every step."""
        return np.concatenate(self._losses) if self._losses else np.zeros((0, 2), np.float32)

    @property
    def gan(self) -> GAN:
        """The current generator and discriminator (copies with the current parameters)."""
        return GAN(*self._trainer.modules(self._train_state))

    def coverage(self, n: int = 2000, **options: Any) -> ModeCoverage:
        """Mode coverage of the current generator (``n`` samples, noise key 1, the measure and
        sample of the zoo's manifest); needs ``modes`` (given, or the ring by default)."""
        if self.modes is None:
            raise ValueError("modes: coverage needs the centres of the data's modes; pass "
                             "GANLab(data, modes=centers).")
        z = jax.random.normal(jax.random.key(1), (n, LATENT_DIM))
        return mode_coverage(self._trainer.sample(self._train_state, z), self.modes, **options)

    # -- training ----------------------------------------------------------------------------------

    def train(self, steps: int) -> None:
        """Train ``steps`` steps now, in the kernel (whole chunks, then single steps), drawing
        as it goes at most every ``interval_s``; the path play takes, without the thread."""
        if not (isinstance(steps, int | np.integer) and steps >= 0):
            raise ValueError(f"steps: expected an int >= 0, got {steps!r}.")
        last = time.monotonic()
        chunks, rest = divmod(int(steps), RING_GAN_CHUNK)
        for size in [RING_GAN_CHUNK] * chunks + [1] * rest:
            self._advance(size)
            if time.monotonic() - last >= self._spacing():
                self.draw()
                last = time.monotonic()
        self.draw()

    def step(self, steps: int = 1) -> None:
        """Pause, then take ``steps`` single steps and draw."""
        self.pause()
        self.train(steps)

    def play(self) -> None:
        """Train on a background thread until :meth:`pause` (or the pause button)."""
        self.playing = True

    def pause(self) -> None:
        """Stop the background training after its current chunk, and wait for it."""
        self.playing = False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _advance(self, steps: int) -> None:
        with self._lock, compile_cache():
            self._train_state, losses = self._trainer.run(self._train_state, self.data, steps,
                                                    self.learning_rate)
            self._losses.append(losses)

    def _on_playing(self, change: dict[str, Any]) -> None:
        if change["new"] and self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._play, name="jaxviz-gan-lab",
                                            daemon=True)
            self._thread.start()

    def _play(self) -> None:
        last = time.monotonic()
        try:
            while self.playing and not self._closed:
                self._advance(RING_GAN_CHUNK)
                if time.monotonic() - last >= self._spacing():
                    self.draw()
                    last = time.monotonic()
        finally:
            self._thread = None
            if not self._closed:
                self.draw()

    def _spacing(self) -> float:
        """Seconds from one frame to the next while training: ``interval_s``, or more when a
        frame is slow, so that drawing takes at most ``DRAW_BUDGET`` of the time."""
        return max(self.interval_s, self._frame_s / DRAW_BUDGET)

    def _on_command(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "step":
            self.step(1)

    # -- drawing -----------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """The current frame's arrays: ``fake`` (m, 2), ``surface`` (resolution, resolution)
        the discriminator's probability of "real" at the cell centres of ``surface_grid``
        (first row at the top), ``push`` (ARROWS, 2) the generator's gradient at the first
        ``ARROWS`` fake points."""
        with self._lock:
            state = self._train_state
        with compile_cache():
            fake, surface, push = self._trainer.view(state, self._noise, self._grid, ARROWS)
        return {"fake": fake, "surface": surface.reshape(self.resolution, self.resolution),
                "push": push, "step": int(state.step)}

    def draw(self) -> None:
        """Push the current frame to the browser."""
        start = time.perf_counter()
        arrays = self.view()
        # on the frame's own points: no second program while training plays
        coverage = None if self.modes is None else mode_coverage(arrays["fake"], self.modes)
        self.frame = {
            "step": arrays["step"],
            "fake": array_payload(arrays["fake"]),
            "surface": array_payload(arrays["surface"]),
            "push": array_payload(arrays["push"]),
            "losses": array_payload(_loss_curve(self.losses)),
            "coverage": None if coverage is None else {
                "covered": coverage.covered, "quality": coverage.quality,
                "modes": len(coverage.counts)},
        }
        self.frames += 1
        self._frame_s = time.perf_counter() - start

    def close(self) -> None:
        self._closed = True
        self.playing = False
        super().close()

    def _compute(self, state: dict[str, Any]) -> dict[str, Any]:
        return {}

    def plot(self):
        from ..plot._gan import gan_lab_figure

        arrays = self.view()
        return gan_lab_figure(self.data, arrays["fake"], arrays["surface"], arrays["push"],
                              self.bounds, self.losses, step=int(arrays["step"]))


def _check_learning_rate(value: Any) -> None:
    if not (isinstance(value, int | float) and np.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"learning_rate: expected a number in (0, 1], got {value!r}.")
