"""Forward Ornstein-Uhlenbeck process dx = -x dt + sqrt(2) dW (the WSGM paper's choice) and time grids.

x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z, so x_t -> N(0, I) as t grows; sampling starts from N(0, I) at T.
"""
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import InputError

TIME_GRIDS = ("uniform", "quadratic", "rho", "logsnr")
TRAIN_TIME_GRIDS = ("uniform", "quadratic", "logsnr")


def mean_coeff(t):
  return jnp.exp(-t)


def std(t):
  # expm1 keeps sqrt(1 - e^{-2t}) accurate for the small t that training samples often.
  return jnp.sqrt(-jnp.expm1(-2.0 * t))


def perturb(x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
  """x_t given x_0; t broadcasts against the trailing axes of x0 (shape (N,) for a batch of NHWC)."""
  t = jnp.reshape(t, jnp.shape(t) + (1,) * (x0.ndim - jnp.ndim(t)))
  return mean_coeff(t) * x0 + std(t) * noise


def score_from_eps(eps: jax.Array, t: jax.Array) -> jax.Array:
  """Epsilon prediction -> score: grad log p_t(x) = -E[z | x_t] / std(t)."""
  t = jnp.reshape(t, jnp.shape(t) + (1,) * (eps.ndim - jnp.ndim(t)))
  return -eps / std(t)


def noise_to_signal(t):
  """sigma(t) = s / a = sqrt(e^{2t} - 1): the noise std of x_t / a, EDM's sigma."""
  return np.sqrt(np.expm1(2.0 * t))


def time_of_noise_to_signal(sigma):
  return 0.5 * np.log1p(sigma ** 2)


def _spacing(u, T: float, kind: str, t_min: float = 0.0, rho: float = 7.0):
  """u in [0, 1] (1 -> T, 0 -> t_min) -> time. 'uniform' and 'quadratic' are linear and quadratic in u
  (dense near t_min, where the score changes fastest): the sampling grids and the training-time
  distributions of those names. 'rho' is EDM's grid, linear in sigma^(1/rho) with sigma = noise_to_signal(t)
  (rho = 7 in EDM); 'logsnr' is uniform in log sigma (needs t_min > 0); both in float64 here (train_times
  computes 'logsnr' in jnp)."""
  if kind == "uniform":
    return t_min + (T - t_min) * u
  if kind == "quadratic":
    return t_min + (T - t_min) * u ** 2
  u = np.asarray(u, np.float64)
  lo, hi = noise_to_signal(np.float64(t_min)), noise_to_signal(np.float64(T))
  if kind == "rho":
    return time_of_noise_to_signal((lo ** (1 / rho) + u * (hi ** (1 / rho) - lo ** (1 / rho))) ** rho)
  if kind == "logsnr":
    return _log_sigma_uniform(u, T, t_min)
  raise InputError(f"unknown time grid {kind!r}: choose from {TIME_GRIDS}")


def _log_sigma_uniform(u, T: float, t_min: float, xp=np):
  """u in [0, 1] -> the time whose log sigma is u of the way from t_min's to T's: the 'logsnr' spacing, in
  float64 numpy for the sampling grid and in jnp (xp=jnp, traceable) for the training times."""
  lo, hi = np.log(noise_to_signal(np.float64(t_min))), np.log(noise_to_signal(np.float64(T)))
  return 0.5 * xp.log1p(xp.exp(2.0 * (lo + (hi - lo) * u)))


def time_grid(kind: str, steps: int, T: float, t_min: float = 0.0, rho: float = 7.0) -> jax.Array:
  """steps + 1 decreasing float32 times from T to t_min, spaced by `kind` (see _spacing)."""
  if steps < 1:
    raise InputError(f"sampling steps={steps}: need at least 1")
  if T <= 0:
    raise InputError(f"diffusion time T={T}: need T > 0")
  if not 0 <= t_min < T:
    raise InputError(f"sampling.t_min={t_min}: need 0 <= t_min < T={T} (t_min > 0 ends with a Tweedie step)")
  if kind == "rho" and not rho > 0:
    raise InputError(f"sampling.rho={rho}: need rho > 0")
  if kind == "logsnr" and not t_min > 0:
    raise InputError("time grid 'logsnr' is uniform in log sigma, infinite at t = 0: set sampling.t_min > 0")
  grid = jnp.asarray(_spacing(jnp.linspace(1.0, 0.0, steps + 1), T, kind, t_min, rho), jnp.float32)
  grid = grid.at[0].set(T).at[-1].set(t_min)   # the end points exactly, whatever the spacing's rounding
  if not bool(jnp.all(jnp.diff(grid) < 0)):
    raise InputError(f"time grid {kind!r} with {steps} steps from T={T} to t_min={t_min}: consecutive times "
                     "are equal in float32 (steps too crowded near t_min): raise sampling.t_min or use fewer steps")
  return grid


def sampling_times(config, steps=None) -> jax.Array:
  """config.sampling's grid (steps per scale: sampling.steps unless given) from the sampling horizon down to
  sampling.t_min. The horizon is sampling.t_max, or sde.T (the training horizon) when it is 0; it may be shorter
  than sde.T (the models are trained on all of (0, sde.T]), never longer. The reverse process starts from
  N(0, I) either way."""
  s, T = config.sampling, config.sde.T
  if not 0 <= s.t_max <= T:
    raise InputError(f"sampling.t_max={s.t_max}: need 0 < t_max <= sde.T={T} (the models are trained on "
                     f"(0, sde.T]; 0 = sde.T)")
  trained_from = config.train.t_min
  if s.t_min < trained_from:
    raise InputError(f"sampling.t_min={s.t_min}: below train.t_min={trained_from}, where the models were not "
                     f"trained (they see [train.t_min, sde.T]); set sampling.t_min >= {trained_from}")
  return time_grid(s.time_grid, s.steps if steps is None else steps, s.t_max or T, s.t_min, s.rho)


def train_times(u: jax.Array, T: float, kind: str = "quadratic", t_min: float = 0.0) -> jax.Array:
  """Map u ~ U[0, 1] to training times on [t_min, T] with the same spacing as the sampling grid of that name:
  'quadratic' (t = t_min + (T - t_min) u^2) covers all of (0, T] at t_min = 0; 'logsnr' is uniform in log sigma
  (the log-SNR grid's own distribution: as many training times per octave of noise level near t_min as near T),
  needs t_min > 0, and trains no model below it."""
  if kind not in TRAIN_TIME_GRIDS:
    raise InputError(f"train.time_grid={kind!r}: choose from {TRAIN_TIME_GRIDS} (the 'rho' sampling grid runs "
                     "on models trained with 'quadratic', which covers all of (0, T])")
  if not 0 <= t_min < T:
    raise InputError(f"train.t_min={t_min}: need 0 <= t_min < sde.T={T}")
  if kind == "logsnr":
    if not t_min > 0:
      raise InputError("train.time_grid='logsnr' is uniform in log sigma, infinite at t = 0: set train.t_min > 0 "
                       "(at most the samplers' sampling.t_min)")
    return _log_sigma_uniform(jnp.asarray(u), T, t_min, jnp)
  return _spacing(u, T, kind, t_min)


def config_train_times(config):
  """u -> train_times(u, sde.T, train.time_grid, train.t_min): the training time distribution a config names
  (the trainer's loss, the held-out loss bench), its fields checked here, when it is built."""
  T, kind, t_min = config.sde.T, config.train.time_grid, config.train.t_min
  train_times(jnp.zeros(()), T, kind, t_min)
  return lambda u: train_times(u, T, kind, t_min)
