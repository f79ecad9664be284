"""A 2-D GAN, small enough to train live in a notebook: mixture-of-Gaussians data (a ring or a
grid), a default MLP generator and discriminator (Flax NNX), jitted optax training steps, what
the GAN Lab view draws (the discriminator's surface, the generator's gradient at its samples) and
a mode-coverage measure.

The losses are those of Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014), with the
non-saturating generator loss ``-log D(G(z))``; the 2-D ring of Gaussians as a test of mode
collapse is from Metz et al., "Unrolled Generative Adversarial Networks" (ICLR 2017); the view is
that of Kahng et al., "GAN Lab: Understanding Complex Deep Generative Models using Interactive
Visual Experimentation" (IEEE VIS 2018).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

LATENT_DIM = 2
RING_MODES = 8
RING_RADIUS = 2.0
GRID_SIDE = 5
GRID_SPACING = 1.0
MODE_STD = 0.05


# -- data --------------------------------------------------------------------------------------


def ring_centers(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """``modes`` points evenly spaced on a circle of ``radius`` (float32, (modes, 2))."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], -1)).astype(np.float32)


def grid_centers(side: int = GRID_SIDE, spacing: float = GRID_SPACING) -> np.ndarray:
    """A ``side`` x ``side`` grid of points ``spacing`` apart, centred on 0 (float32)."""
    ticks = (np.arange(side) - (side - 1) / 2) * spacing
    xx, yy = np.meshgrid(ticks, ticks, indexing="xy")
    return np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)


def sample_mixture(
    key: jax.Array, centers: np.ndarray, n: int, *, std: float = MODE_STD
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from an equal mixture of isotropic Gaussians at ``centers``.

    Returns:
      ``(points, modes)``: float32 (n, 2) and the int32 index of each point's Gaussian.
    """
    points, modes = _sample_mixture(key, jnp.asarray(centers, jnp.float32), n, std)
    return np.asarray(points, np.float32), np.asarray(modes, np.int32)


@functools.partial(jax.jit, static_argnames="n")
def _sample_mixture(key: jax.Array, centers: jax.Array, n: int, std: float):
    # one compiled program rather than a dozen eager ones (each compiles on first use)
    mode_key, noise_key = jax.random.split(key)
    modes = jax.random.randint(mode_key, (n,), 0, len(centers))
    noise = std * jax.random.normal(noise_key, (n, 2))
    return centers[modes] + noise, modes


def ring_data(n: int = 2000, *, key: jax.Array | None = None) -> np.ndarray:
    """The classic GAN Lab data: ``n`` points on a ring of 8 Gaussians (radius 2, std 0.05)."""
    key = jax.random.key(0) if key is None else key
    return sample_mixture(key, ring_centers(), n)[0]


# -- models --------------------------------------------------------------------------------------


class MLP(nnx.Module):
    """``sizes[0]`` -> ReLU hidden layers -> ``sizes[-1]`` (no activation on the output)."""

    def __init__(self, sizes: tuple[int, ...], *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


def default_generator(*, hidden: int = 128, rngs: nnx.Rngs | None = None) -> MLP:
    """Noise (batch, 2) -> points (batch, 2): two hidden ReLU layers of ``hidden`` units."""
    return MLP((LATENT_DIM, hidden, hidden, 2), rngs=rngs or nnx.Rngs(0))


def default_discriminator(*, hidden: int = 128, rngs: nnx.Rngs | None = None) -> MLP:
    """Points (batch, 2) -> one logit each (batch, 1): two hidden ReLU layers."""
    return MLP((2, hidden, hidden, 1), rngs=rngs or nnx.Rngs(1))


class GAN(nnx.Module):
    """A generator and a discriminator together (what the zoo's ``ring-gan`` stores).

    Calling it generates: ``gan(z)`` is ``gan.generator(z)``.
    """

    def __init__(self, generator: nnx.Module | None = None,
                 discriminator: nnx.Module | None = None, *, rngs: nnx.Rngs | None = None):
        rngs = rngs or nnx.Rngs(0)
        self.generator = generator if generator is not None else default_generator(rngs=rngs)
        self.discriminator = (
            discriminator if discriminator is not None else default_discriminator(rngs=rngs)
        )

    def __call__(self, z: jax.Array) -> jax.Array:
        return self.generator(z)


@nnx.jit
def default_gan(key: jax.Array) -> GAN:
    """The default generator and discriminator initialized from ``key`` (built in one compiled
    program: eager initialization compiles one small program per array)."""
    return GAN(rngs=nnx.Rngs(key))


# -- training ------------------------------------------------------------------------------------


class GANState(NamedTuple):
    """Everything a training step changes: both networks' parameters and optimizer states, the
    key for the next noise and batch, and the number of steps taken."""

    generator: Any
    discriminator: Any
    generator_opt: Any
    discriminator_opt: Any
    key: jax.Array
    step: jax.Array


def _optimizer() -> optax.GradientTransformation:
    # Adam with beta1 = 0.5 (Radford et al., DCGAN, 2016); the learning rate is an argument of
    # every step (inject_hyperparams), so a slider changes it without recompiling.
    return optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b1=0.5)


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``-log D(x) - log(1 - D(G(z)))``, averaged (D = sigmoid of the logit)."""
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss(fake_logits: jax.Array) -> jax.Array:
    """The non-saturating ``-log D(G(z))``, averaged."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


class GANTrainer:
    """Jitted training of a 2-D GAN: alternating discriminator and generator Adam steps.

    ``init(key)`` makes a :class:`GANState`; ``run(state, data, steps, learning_rate)`` takes
    ``steps`` training steps (one compiled ``lax.scan`` per distinct ``steps``), each on a fresh
    batch of real points drawn from ``data`` and fresh noise. Data, learning rate and key are
    arguments: new data of the same size or a new learning rate never recompile.
    """

    def __init__(self, generator: nnx.Module, discriminator: nnx.Module, *,
                 batch_size: int = 256):
        self.generator_def, self._generator_params = nnx.split(generator)
        self.discriminator_def, self._discriminator_params = nnx.split(discriminator)
        self.batch_size = batch_size
        self.optimizer = _optimizer()
        self._run = jax.jit(self._scan, static_argnames="steps")
        self._generate = jax.jit(self.generate)
        self._view = jax.jit(self._view_arrays, static_argnames="arrows")

    def init(self, key: jax.Array) -> GANState:
        g, d = self._generator_params, self._discriminator_params
        return GANState(g, d, self.optimizer.init(g), self.optimizer.init(d), key,
                        jnp.zeros((), jnp.int32))

    def generate(self, params: Any, z: jax.Array) -> jax.Array:
        return nnx.merge(self.generator_def, params)(z)

    def logits(self, params: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(self.discriminator_def, params)(x)[..., 0]

    def _one_step(self, state: GANState, data: jax.Array, learning_rate: jax.Array):
        key, batch_key, noise_key = jax.random.split(state.key, 3)
        real = data[jax.random.randint(batch_key, (self.batch_size,), 0, data.shape[0])]
        z = jax.random.normal(noise_key, (self.batch_size, LATENT_DIM))

        def d_loss(d_params):
            fake = jax.lax.stop_gradient(self.generate(state.generator, z))
            return discriminator_loss(self.logits(d_params, real), self.logits(d_params, fake))

        def g_loss(g_params, d_params):
            return generator_loss(self.logits(d_params, self.generate(g_params, z)))

        d_value, d_grads = jax.value_and_grad(d_loss)(state.discriminator)
        d_params, d_opt = self._update(d_grads, state.discriminator_opt, state.discriminator,
                                       learning_rate)
        g_value, g_grads = jax.value_and_grad(g_loss)(state.generator, d_params)
        g_params, g_opt = self._update(g_grads, state.generator_opt, state.generator,
                                       learning_rate)
        new = GANState(g_params, d_params, g_opt, d_opt, key, state.step + 1)
        return new, jnp.stack([d_value, g_value])

    def _update(self, grads, opt_state, params, learning_rate):
        opt_state.hyperparams["learning_rate"] = learning_rate
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def _scan(self, state: GANState, data: jax.Array, learning_rate: jax.Array, *, steps: int):
        return jax.lax.scan(lambda s, _: self._one_step(s, data, learning_rate), state,
                            length=steps)

    def run(self, state: GANState, data: Any, steps: int,
            learning_rate: float = 1e-3) -> tuple[GANState, np.ndarray]:
        """``steps`` training steps. Returns the new state and the losses, float32
        (steps, 2): the discriminator's, then the generator's, at each step."""
        state, losses = self._run(state, jnp.asarray(data, jnp.float32),
                                  jnp.float32(learning_rate), steps=steps)
        return state, np.asarray(losses)

    def _view_arrays(self, state: GANState, z: jax.Array, grid: jax.Array, *, arrows: int):
        fake = self.generate(state.generator, z)
        surface = jax.nn.sigmoid(self.logits(state.discriminator, grid))
        # The direction each generated point is pushed by the generator's loss: minus the
        # gradient of -log D(x) at x (per point; the mean's 1/batch is left out).
        push = -jax.vmap(jax.grad(lambda x: generator_loss(
            self.logits(state.discriminator, x[None]))))(fake[:arrows])
        return fake, surface, push

    def view(self, state: GANState, z: Any, grid: Any,
             arrows: int | None = None) -> tuple[np.ndarray, ...]:
        """What GAN Lab draws: generated points for noise ``z`` (m, 2), the discriminator's
        probability of "real" at each ``grid`` point (g, 2) -> (g,), and the generator's
        gradient at the first ``arrows`` generated points (default all), the way its loss
        pushes each point."""
        arrows = len(z) if arrows is None else min(arrows, len(z))
        out = self._view(state, jnp.asarray(z, jnp.float32), jnp.asarray(grid, jnp.float32),
                         arrows=arrows)
        return tuple(np.asarray(a) for a in out)

    def sample(self, state: GANState, z: Any) -> np.ndarray:
        """Generated points for noise ``z`` (m, 2) with the state's generator (jitted)."""
        return np.asarray(self._generate(state.generator, jnp.asarray(z, jnp.float32)))

    def modules(self, state: GANState) -> tuple[nnx.Module, nnx.Module]:
        """The generator and discriminator as NNX modules with the state's parameters."""
        return (nnx.merge(self.generator_def, state.generator),
                nnx.merge(self.discriminator_def, state.discriminator))


def surface_grid(bounds: tuple[float, float, float, float], resolution: int) -> np.ndarray:
    """Cell centres of a ``resolution`` x ``resolution`` grid over ``(xmin, xmax, ymin, ymax)``,
    row-major with the first row at ``ymax`` (the image's top), float32 (resolution**2, 2)."""
    xmin, xmax, ymin, ymax = bounds
    step_x, step_y = (xmax - xmin) / resolution, (ymax - ymin) / resolution
    xs = xmin + step_x * (np.arange(resolution) + 0.5)
    ys = ymax - step_y * (np.arange(resolution) + 0.5)
    xx, yy = np.meshgrid(xs, ys, indexing="xy")
    return np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)


def data_bounds(data: np.ndarray, margin: float = 0.25) -> tuple[float, float, float, float]:
    """A square view around ``data`` with ``margin`` (a share of its extent) on every side."""
    lo, hi = data.min(0), data.max(0)
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1 + margin) + 1e-6
    return (float(centre[0] - half), float(centre[0] + half),
            float(centre[1] - half), float(centre[1] + half))


# -- mode coverage -------------------------------------------------------------------------------


class ModeCoverage(NamedTuple):
    """How well generated samples cover the modes of a mixture.

    Attributes:
      covered: share of the modes that have at least ``min_count`` samples within ``radius``.
      quality: share of the samples within ``radius`` of some mode ("high-quality" samples).
      counts: int (modes,), the samples nearest each mode and within ``radius`` of it.
      radius: the distance used.
      min_count: how many samples make a mode covered.
    """

    covered: float
    quality: float
    counts: np.ndarray
    radius: float
    min_count: int


def mode_coverage(samples: Any, centers: Any, *, radius: float = 3 * MODE_STD,
                  min_count: int | None = None) -> ModeCoverage:
    """Share of the mixture's modes the samples cover, and share of samples near a mode.

    The measure of Metz et al. (2017) and Srivastava et al., "VEEGAN" (NeurIPS 2017): a sample is
    of high quality when it lies within ``radius`` (default three standard deviations of the
    ring's Gaussians) of a mode; a mode is covered when at least ``min_count`` high-quality
    samples are nearest to it (default: a fifth of its fair share, ``n / modes / 5``, at least
    1, so a few stray points do not count).

    Args:
      samples: generated points, (n, 2).
      centers: the modes, (modes, 2).
      radius: the distance within which a sample counts for a mode.
      min_count: samples a mode needs to be covered.

    >>> centers = ring_centers()
    >>> mode_coverage(centers[:4].repeat(10, 0), centers).covered
    0.5
    """
    samples = check_points("samples", samples)
    centers = check_points("centers", centers)
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: expected a distance > 0, got {radius!r}.")
    n, modes = len(samples), len(centers)
    if min_count is None:
        min_count = max(1, int(n / modes / 5))
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
    nearest = distances.argmin(1)
    near = distances[np.arange(n), nearest] <= radius
    counts = np.bincount(nearest[near], minlength=modes)
    return ModeCoverage(
        covered=float(np.mean(counts >= min_count)),
        quality=float(near.mean()),
        counts=counts,
        radius=float(radius),
        min_count=int(min_count),
    )


def check_points(argument: str, points: Any) -> np.ndarray:
    """``points`` as float32 (n, 2), finite, with n >= 1; else a clear error."""
    try:
        array = np.asarray(points, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{argument}: expected an array of 2-D points, got "
                        f"{type(points).__name__}.") from err
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(f"{argument}: expected 2-D points of shape (n, 2) with n >= 1, got shape "
                         f"{array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{argument}: expected finite values, got NaN or inf.")
    return array



# -- the zoo's ring-gan ----------------------------------------------------------------------------

RING_GAN_STEPS = 6000
RING_GAN_LEARNING_RATE = 1e-3
# The seed of the initialization and of every batch and noise draw. Of seeds 0, 1 and 2 trained
# this way, 2 is the one whose generator covers all 8 modes; 0 and 1 settle on 7 of 8 (a mode
# dropped for good: the partial mode collapse lesson 07 shows live).
RING_GAN_SEED = 2
# Steps per compiled scan; GANLab plays in the same chunks. The bits do not depend on it (1000
# steps as 2 x 500 or 20 x 50 give the same parameters), so GANLab with default settings retraces
# the zoo's run exactly.
RING_GAN_CHUNK = 50


def train_gan(gan: GAN, data: Any, *, steps: int, learning_rate: float = RING_GAN_LEARNING_RATE,
              key: jax.Array, chunk: int = RING_GAN_CHUNK) -> tuple[GAN, np.ndarray]:
    """Train ``gan`` on ``data`` (n, 2) for ``steps`` steps (a multiple of ``chunk``).

    Returns:
      A new :class:`GAN` with the trained parameters (``gan`` is not changed) and the losses,
      float32 (steps, 2): discriminator's, generator's.
    """
    data = check_points("data", data)
    if steps % chunk:
        raise ValueError(f"steps: expected a multiple of chunk={chunk}, got {steps}.")
    trainer = GANTrainer(gan.generator, gan.discriminator)
    state, losses = trainer.init(key), []
    for _ in range(steps // chunk):
        state, chunk_losses = trainer.run(state, data, chunk, learning_rate)
        losses.append(chunk_losses)
    return GAN(*trainer.modules(state)), np.concatenate(losses)


def ring_dataset_arrays(train_size: int = 4000, test_size: int = 1000) -> dict:
    """The zoo's ``ring`` dataset: points of the 8-Gaussian ring labelled by their mode, train
    and test drawn from keys 0 and 1."""
    x_train, y_train = sample_mixture(jax.random.key(0), ring_centers(), train_size)
    x_test, y_test = sample_mixture(jax.random.key(1), ring_centers(), test_size)
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                class_names=tuple(f"mode {i}" for i in range(RING_MODES)))


def train_ring_gan() -> GAN:
    """The zoo's ``ring-gan``: default networks and training from ``RING_GAN_SEED``, on the ring
    dataset's train split, ``RING_GAN_STEPS`` steps at ``RING_GAN_LEARNING_RATE``."""
    key = jax.random.key(RING_GAN_SEED)
    data = ring_dataset_arrays()["x_train"]
    gan, _ = train_gan(default_gan(key), data, steps=RING_GAN_STEPS, key=key)
    return gan


def ring_gan_quality(gan: GAN, n: int = 2000) -> dict[str, float]:
    """Mode coverage and sample quality of ``gan`` on the ring (``n`` samples, noise key 1)."""
    samples = gan(jax.random.normal(jax.random.key(1), (n, LATENT_DIM)))
    coverage = mode_coverage(np.asarray(samples), ring_centers())
    return {"mode_coverage": coverage.covered, "sample_quality": round(coverage.quality, 4)}
