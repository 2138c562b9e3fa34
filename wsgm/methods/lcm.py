"""Local conditional models (Kadkhodaie, Guth, Mallat, Simoncelli, ICLR 2023).

p(x_0) = p(x_J) prod_j p(xbar_j | x_j), each factor learned as a blind *denoiser* rather than a score network.
The coarsest low-pass x_J is small, so a global bias-free CNN models it; each conditional p(xbar_j | x_j) is
a bias-free CNN with a *local* receptive field that sees the noisy details and the clean low-pass. J = 0 is
the flat pixel-domain denoiser on the same code path.

Units: scale j's coefficients (x_j and xbar_j) are divided by 2^j (pyramid.ScaleUnits, where wsgm/pyramid.py
says why not WSGM's per-band standardization).

Uses of one trained model set (coefficients in those units throughout):
- denoise: the noisy image's coarsest low-pass goes through the global denoiser, then, coarse to fine, each
  scale's noisy details through its conditional denoiser given the already denoised low-pass.
- synthesis / super-resolution: stochastic ascent (wsgm/solvers.stochastic_ascent) on x_J, then on each
  xbar_j given x_j, coarse to fine; super-resolution starts from a given x_j.
"""
from typing import Callable, Dict, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp

from lib import parallel
from lib.errors import InputError
from wsgm import pyramid, solvers, train, wavelets
from wsgm.methods import Method
from wsgm.models.bfcnn import BiasFreeCNN, kernel_sizes

# Fields that fix what an LCM checkpoint means.
ARCHITECTURE_FIELDS = ("lcm", "pyramid") + train.DATA_FIELDS

# (noisy y, clean conditioning low-pass or None) -> the noise in y (the residual; denoised = y - f).
Residual = Callable[[jax.Array, jax.Array], jax.Array]


NOISE_UNITS = ("pixel", "scale")
UNITS = pyramid.ScaleUnits()


def validate(config) -> None:
  pyramid.validate(config, "flat pixel-domain denoiser")
  m = config.lcm
  kernel_sizes(m.depth, m.receptive_field, m.layout)
  kernel_sizes(m.coarse_depth, m.coarse_receptive_field)
  if m.noise_units not in NOISE_UNITS:
    raise InputError(f"lcm.noise_units={m.noise_units!r}: choose from {NOISE_UNITS}")
  for field in ("sigma_max", "coarse_sigma_max"):
    if m[field] <= 0:
      raise InputError(f"lcm.{field}={m[field]}: need a positive training noise range")
  parallel.check_divisible(config.train.batch_size, "train.batch_size")


def make_model(config, name: str, channels: int) -> BiasFreeCNN:
  """The global model on x_J (J > 0) uses the coarse_* fields; conditional and flat (J = 0) models are the
  local ones whose receptive field the paper varies."""
  m = config.lcm
  if name == "coarse" and config.pyramid.levels:   # all-3x3 (RF = 1 + 2 depth) or evenly spread
    return BiasFreeCNN(channels, m.width, m.coarse_depth, m.coarse_receptive_field, "even", m.first_linear)
  out = channels if name == "coarse" else 3 * channels
  return BiasFreeCNN(out, m.width, m.depth, m.receptive_field, m.layout, m.first_linear)


def sigma_max(config, name: str) -> float:
  """Top of a model's training noise range, in its scale's units. Local models (conditional, and the flat
  J = 0 model) all see the same pixel-noise range [0, lcm.sigma_max], which is [0, lcm.sigma_max / 2^j] at
  scale j: the noise a noisy image actually puts there. The global low-pass model has its own range
  (lcm.coarse_sigma_max), wide enough for its ascent to start from noise well above the low-pass's spread.
  The ascent of each model starts at this value.

  lcm.noise_units = "scale" is the LCM authors' convention instead: every local model trains on sigma in
  [0, lcm.sigma_max] in its *own* scale's units (so pixel noise of std sigma reaches scale j as sigma / 2^j,
  inside that range), and every ascent starts at lcm.sigma_max."""
  levels = config.pyramid.levels
  if name == "coarse" and levels:
    return config.lcm.coarse_sigma_max
  if config.lcm.noise_units == "scale":
    return config.lcm.sigma_max
  return config.lcm.sigma_max * pyramid.scale_unit(pyramid.scale_of(name))


def loss_fn(params, model, target, cond, key, sigma_max):
  """Blind denoising at sigma = sigma_max u^2, u ~ U[0, 1] per example; squared error of the predicted noise
  (= of the denoised coefficients) weighted by sigma_d^2 / (sigma^2 + sigma_d^2), sigma_d the batch's
  coefficient std (EDM's weighting).

  Why not plain MSE: sigma_max must cover the ascent's start, far above the coefficients' spread, and the
  error grows like sigma^2, so high-noise examples dominate and the denoiser shrinks clean inputs (measured on
  faces at sigma = 5/255: 29.6 dB out for 34.2 in). Why not 1 / sigma^2 (epsilon prediction): at small sigma
  a blind bias-free network's output is a fixed function of the clean input, and the unbounded weight drives
  it to f = 0, the identity denoiser (measured: PSNR out = PSNR in at every sigma). This weight is 1 / sigma^2
  at high noise and bounded below sigma_d. u^2 rather than u puts a fifth of the examples below sigma_max / 20.
  """
  s_key, z_key = jax.random.split(key)
  sigma = sigma_max * jax.random.uniform(s_key, target.shape[:1] + (1,) * (target.ndim - 1)) ** 2
  noise = sigma * jax.random.normal(z_key, target.shape, target.dtype)
  sigma_d2 = jax.lax.stop_gradient(jnp.var(target))
  weight = sigma_d2 / (sigma ** 2 + sigma_d2)
  return jnp.mean(weight * (model.apply(params, target + noise, cond) - noise) ** 2)


def make_steps(config, name, stats, channels):
  """Method.make_steps for LCM (stats unused: LCM works in fixed per-scale units)."""
  del stats
  model = make_model(config, name, channels)
  optimizer = train.make_optimizer(config)
  levels, wavelet = config.pyramid.levels, config.pyramid.wavelet

  def init_fn(key, images):
    target, cond = pyramid.model_io(images, name, UNITS, wavelet, levels)
    return train.init_state(key, model.init(key, target, cond), optimizer)

  def train_step(state, images):
    def loss_of(p, key, x):
      target, cond = pyramid.model_io(x, name, UNITS, wavelet, levels)
      return loss_fn(p, model, target, cond, key, sigma_max(config, name))
    return train.apply_gradients(state, optimizer, config.train.ema_decay, loss_of, images, config.train.accumulate)

  return init_fn, train_step, model


METHOD = Method("lcm", validate, ARCHITECTURE_FIELDS, "scale_units", make_steps,
                lambda config: pyramid.model_names(config.pyramid.levels))


def residuals(models: Dict[str, Tuple[BiasFreeCNN, dict]]) -> Dict[str, Residual]:
  """{name: f(y, cond)} from {name: (model, params)}."""
  return {name: (lambda m, p: lambda y, cond: m.apply(p, y, cond))(m, p) for name, (m, p) in models.items()}


def denoise(noisy: jax.Array, fns: Dict[str, Residual], wavelet: str, levels: int) -> jax.Array:
  """Blind denoising of images (N, H, W, C), coarse to fine (see the module docstring)."""
  if levels == 0:
    return noisy - fns["coarse"](noisy, None)
  pyr = wavelets.decompose(noisy, wavelet, levels)
  low = UNITS.lowpass(pyr.lowpass, levels)
  low = low - fns["coarse"](low, None)
  for j in range(levels, 0, -1):
    details = UNITS.details(pyr.details[j - 1], j)
    details = details - fns[f"scale_{j}"](details, low)
    low = wavelets.idwt(low, details, wavelet) * 2.0   # units of scale j -> scale j - 1
  return low


class AscentConfig(NamedTuple):
  h0: float
  beta_coarse: float
  beta_details: float
  sigma_final: float
  max_iters: int
  sigma_init: Tuple[float, ...]     # per scale j = 0..J (index j; 0 = the global/flat model): sigma_max(model)
  fixed_step_coarse: bool = False   # h_t = h0 for the global model (else h0 t / (1 + h0 (t - 1)))
  fixed_step_details: bool = False
  relative_stop: bool = False       # stop at sigma_t <= sigma_final x std(y) (else sigma_t <= sigma_final)
  rescale_lowpass: float = 0.0      # > 0: min-max rescale each synthesized x_J to [0, this] before its details
  log_every: int = 0                # progress line every this many iterations (0 = none)
  max_iters_details: int = 0        # the conditional models' cap (0: max_iters)


def ascent_config(config) -> AscentConfig:
  a = config.ascent
  for field in ("h0", "sigma_final", "max_iters", "max_iters_details"):
    if not a[field] > 0:
      raise InputError(f"ascent.{field}={a[field]}: need a positive value")
  for field in ("beta_coarse", "beta_details"):
    if not 0 < a[field] <= 1:
      raise InputError(f"ascent.{field}={a[field]}: need 0 < beta <= 1 (1 = deterministic ascent)")
  if a.stop not in ("absolute", "relative"):
    raise InputError(f"ascent.stop={a.stop!r}: choose 'absolute' (sigma_t <= sigma_final) or 'relative' "
                     "(sigma_t <= sigma_final x std(y), the LCM authors' rule)")
  if not a.rescale_lowpass >= 0:
    raise InputError(f"ascent.rescale_lowpass={a.rescale_lowpass}: need >= 0 (0 = off)")
  levels = config.pyramid.levels
  inits = (sigma_max(config, "coarse"),) + tuple(sigma_max(config, f"scale_{j}") for j in range(1, levels + 1))
  return AscentConfig(a.h0, a.beta_coarse, a.beta_details, a.sigma_final, a.max_iters, inits, a.fixed_step_coarse,
                      a.fixed_step_details, a.stop == "relative", float(a.rescale_lowpass), int(a.log_every),
                      int(a.max_iters_details))


class LcmSample(NamedTuple):
  image: jax.Array                   # x_0, image units
  lowpasses: Tuple[jax.Array, ...]   # (x_scale, ..., x_1), coarsest first, in image units (local averages)
  iterations: Tuple[jax.Array, ...]  # per model sampled, coarse to fine: (N,) ascent iterations (= denoiser calls)
  diverged: jax.Array                # (N,) bool: some scale's ascent diverged (solvers.stochastic_ascent)


def _ascend(key, shape, residual, beta, sigma_init, a: AscentConfig, constrain, fixed_step: bool,
            max_iters: int) -> solvers.AscentResult:
  """Stochastic ascent from N(0, sigma_init^2), then one denoising of the final state (counted as an
  iteration): sigma_t only measures the noise the denoiser removes, so a chain stops with some noise left
  that this last step takes out (as the ancestral sampler's last Tweedie step does). A chain still above
  sigma_final after max_iters is flagged with the diverged ones: it did not converge."""
  init_key, key = jax.random.split(key)
  y = constrain(sigma_init * jax.random.normal(init_key, shape))
  out = solvers.stochastic_ascent(residual, y, key, a.h0, beta, a.sigma_final, max_iters, fixed_step,
                                  a.relative_stop, a.log_every)
  return out._replace(sample=out.sample - residual(out.sample), iterations=out.iterations + 1,
                      diverged=out.diverged | ~(out.sigma <= a.sigma_final))


def super_resolve(key, lowpass: jax.Array, scale: int, fns: Dict[str, Residual], wavelet: str, a: AscentConfig,
                  constrain=lambda x: x) -> LcmSample:
  """Given x_scale in image units (a local average), draw xbar_scale, ..., xbar_1 by conditional ascent
  (pyramid.refine, in scale units)."""
  def draw(j, k, low):
    shape = low.shape[:-1] + (3 * low.shape[-1],)
    out = _ascend(k, shape, lambda y: fns[f"scale_{j}"](y, low), a.beta_details, a.sigma_init[j], a, constrain,
                  a.fixed_step_details, a.max_iters_details or a.max_iters)
    return out.sample, (out.iterations, out.diverged)

  out = pyramid.refine(key, UNITS.lowpass(lowpass, scale, inverse=True), scale, draw, UNITS, wavelet)
  diverged = jnp.zeros(lowpass.shape[:1], bool)
  for _, d in out.reports:
    diverged = diverged | d
  lows = tuple(UNITS.lowpass(x, j) for x, j in zip(out.lowpasses, range(scale, 0, -1)))
  return LcmSample(out.image, lows, tuple(it for it, _ in out.reports), diverged)


def synthesize(key, coarse_shape: Sequence[int], fns: Dict[str, Residual], wavelet: str, levels: int,
               a: AscentConfig, constrain=lambda x: x) -> LcmSample:
  """Ascent on the coarsest low-pass with the global model, then super_resolve down to the image."""
  coarse_key, refine_key = jax.random.split(key)
  out = _ascend(coarse_key, tuple(coarse_shape), lambda y: fns["coarse"](y, None), a.beta_coarse, a.sigma_init[0],
                a, constrain, a.fixed_step_coarse, a.max_iters)
  if levels == 0:
    return LcmSample(out.sample, (), (out.iterations,), out.diverged)
  low = out.sample
  if a.rescale_lowpass:   # the authors' multi_scale_synthesis: rescale_image_range(low, 0.8), per image
    lo, hi = (f(low, axis=(1, 2, 3), keepdims=True) for f in (jnp.min, jnp.max))
    low = (low - lo) / (hi - lo) * a.rescale_lowpass
  fine = super_resolve(refine_key, low, levels, fns, wavelet, a, constrain)
  return LcmSample(fine.image, fine.lowpasses, (out.iterations,) + fine.iterations, out.diverged | fine.diverged)
