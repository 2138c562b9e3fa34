"""Reverse-time samplers for the OU process, as pure functions of a score function.

Every sampler has the signature `sampler(score_fn, x_T, times, key) -> x_0` where
`score_fn(x, t) -> grad log p_t(x)` takes a scalar time, `times` is a decreasing grid from T to 0
(see sde.time_grid), and x_T is drawn by the caller from the N(0, I) prior. Steps run in `lax.scan`, so
a jitted sampler compiles one step whatever the number of steps.
"""
from typing import Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from wsgm import sde
from lib.errors import InputError

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]


def _scan_steps(step, x, times, key):
  keys = jax.random.split(key, times.shape[0] - 1)
  x, _ = lax.scan(lambda x, inp: (step(x, *inp), None), x, (times[:-1], times[1:], keys))
  return x


def euler_maruyama(score_fn: ScoreFn, x: jax.Array, times: jax.Array, key: jax.Array) -> jax.Array:
  """Reverse SDE dx = [x + 2 score] ds + sqrt(2) dW, score taken at the start of each step."""
  def step(x, t, t_next, k):
    h = t - t_next
    return x + h * (x + 2.0 * score_fn(x, t)) + jnp.sqrt(2.0 * h) * jax.random.normal(k, x.shape, x.dtype)
  return _scan_steps(step, x, times, key)


def ancestral(score_fn: ScoreFn, x: jax.Array, times: jax.Array, key: jax.Array) -> jax.Array:
  """DDPM-style: estimate x_0 by Tweedie, then draw x_{t_next} from the exact OU posterior
  q(x_{t_next} | x_t, x_0). The last step (t_next = 0) returns the Tweedie estimate itself."""
  def step(x, t, t_next, k):
    m, m_next = sde.mean_coeff(t), sde.mean_coeff(t_next)
    var, var_next = sde.std(t) ** 2, sde.std(t_next) ** 2
    a2 = (m / m_next) ** 2                      # squared decay of the forward step t_next -> t
    x0_hat = (x + var * score_fn(x, t)) / m
    mean = m_next * (1.0 - a2) / var * x0_hat + jnp.sqrt(a2) * var_next / var * x
    post_std = jnp.sqrt(var_next * (1.0 - a2) / var)
    return mean + post_std * jax.random.normal(k, x.shape, x.dtype)
  return _scan_steps(step, x, times, key)


def _flow(score_fn, x, t):
  """Probability-flow velocity in reverse time: dx/ds = x + score(x, t)."""
  return x + score_fn(x, t)


def ode_euler(score_fn: ScoreFn, x: jax.Array, times: jax.Array, key: jax.Array) -> jax.Array:
  """Deterministic probability-flow ODE, explicit Euler. `key` is unused (uniform signature)."""
  def step(x, t, t_next, _):
    return x + (t - t_next) * _flow(score_fn, x, t)
  return _scan_steps(step, x, times, key)


def ode_heun(score_fn: ScoreFn, x: jax.Array, times: jax.Array, key: jax.Array) -> jax.Array:
  """Probability-flow ODE, Heun's 2nd-order method; the step that lands on t = 0 stays Euler because an
  epsilon-parametrized score is undefined there (std(0) = 0). `key` is unused."""
  def step(x, t, t_next, _):
    h = t - t_next
    d = _flow(score_fn, x, t)
    x_euler = x + h * d
    t_safe = jnp.where(t_next > 0, t_next, t)   # never evaluate the score at t = 0
    x_heun = x + 0.5 * h * (d + _flow(score_fn, x_euler, t_safe))
    return jnp.where(t_next > 0, x_heun, x_euler)
  return _scan_steps(step, x, times, key)


def _log_ascent(t, active, level):
  logging.info("stochastic ascent: iteration %d, %d chains running, median level %.4g", int(t), int(active),
               float(np.nanmedian(level)) if np.isfinite(level) else float("nan"))


class AscentResult(NamedTuple):
  sample: jax.Array        # (N, ...)
  iterations: jax.Array    # (N,) denoiser calls each example used before it stopped
  sigma: jax.Array         # (N,) its last effective noise estimate (relative to std(y) with relative_stop)
  diverged: jax.Array      # (N,) bool: stopped because its noise grew (see below), not because it converged


def stochastic_ascent(residual_fn: Callable[[jax.Array], jax.Array], y: jax.Array, key: jax.Array, h0: float,
                      beta: float, sigma_final: float, max_iters: int, fixed_step: bool = False,
                      relative_stop: bool = False, log_every: int = 0) -> AscentResult:
  """Coarse-to-fine LCM's sampler: Kadkhodaie & Simoncelli (2021), Algorithm 1, on a batch.

  residual_fn(y) = f(y) ~ y - E[x | y] is a blind denoiser's noise estimate, so sigma_t = ||f(y)|| / sqrt(d)
  is the effective noise level of y. Each step moves a fraction h_t of the way to the denoised image and
  injects fresh noise gamma_t z so that the effective noise shrinks by (1 - beta h_t):
      y <- y - h_t f(y) + gamma_t z,  gamma_t^2 = ((1 - beta h_t)^2 - (1 - h_t)^2) sigma_t^2,
      h_t = h0 t / (1 + h0 (t - 1)).
  beta = 1 is deterministic ascent; small beta keeps more noise and explores more. Each example stops
  once its sigma_t <= sigma_final (its value is frozen from then on); the loop ends when all have stopped
  or after max_iters iterations. Runs in lax.while_loop, so it jits whatever the number of steps.

  Two variants of the authors' code (their `one_scale_synthesis`): `fixed_step` keeps h_t = h0 (they use it
  for the global low-pass model); `relative_stop` stops once sigma_t <= sigma_final x std(y) of the updated
  state, their rule in SNR terms (20 log10(std(y) / sigma_t) >= 20 log10(1 / sigma_final)).
  log_every > 0 logs the iteration, the chains still running and their median level every that many
  iterations (from inside the loop), so a run of thousands of steps shows progress.

  A learned denoiser can point away from the data far from it (f(y) ~ -c y), and by homogeneity the chain
  then grows geometrically. Or its residual stays small while the state grows: a chain that has not converged
  when h_t nears 1 iterates y <- y - f(y), which can amplify patterns the denoiser takes for signal (seen with
  the LCM authors' released conditional models: stripes of RMS ~10x their starting noise, which a relative
  stop accepts). The ascent only removes noise, so both are divergence: an example whose sigma_t exceeds twice
  its first value, whose RMS exceeds that of its starting state once sigma_t has halved (the start is noise
  above the data's spread), or that is not finite, is stopped and flagged
  `diverged`, keeping its last finite state, so callers can count and exclude it.
  """
  dims = y[0].size
  rms = lambda a: jnp.sqrt(jnp.mean(a.reshape(len(a), -1) ** 2, axis=1))
  rms_start = rms(y)

  def cond(state):
    t, _, level, _, _, _, diverged = state
    return (t <= max_iters) & jnp.any((level > sigma_final) & ~diverged)

  def body(state):
    t, y, level, sigma_first, iterations, key, diverged = state
    key, noise_key = jax.random.split(key)
    active = (level > sigma_final) & ~diverged
    h = h0 if fixed_step else h0 * t / (1.0 + h0 * (t - 1.0))
    f = residual_fn(y)
    sigma_t = jnp.sqrt(jnp.sum(f.reshape(len(f), -1) ** 2, axis=1) / dims)
    sigma_first = jnp.where(t == 1, sigma_t, sigma_first)
    now_diverged = active & ~(sigma_t <= 2.0 * sigma_first)     # also catches NaN
    active = active & ~now_diverged
    gamma = sigma_t * jnp.sqrt(jnp.maximum((1.0 - beta * h) ** 2 - (1.0 - h) ** 2, 0.0))
    expand = lambda a: a.reshape((-1,) + (1,) * (y.ndim - 1))
    y_next = y - h * f + expand(gamma) * jax.random.normal(noise_key, y.shape, y.dtype)
    # checked once sigma_t has halved: before, the state is mostly noise and its RMS fluctuates around start
    grown = active & (sigma_t < 0.5 * sigma_first) & ~(rms(y_next) <= rms_start)
    now_diverged, active = now_diverged | grown, active & ~grown
    level_t = sigma_t / jnp.std(y_next.reshape(len(y), -1), axis=1) if relative_stop else sigma_t
    if log_every:
      lax.cond(t % log_every == 0, lambda: jax.debug.callback(_log_ascent, t, jnp.sum(active),
                                                               jnp.nanmedian(jnp.where(active, level_t, jnp.nan))),
               lambda: None)
    return (t + 1, jnp.where(expand(active), y_next, y), jnp.where(active, level_t, level), sigma_first,
            iterations + active.astype(jnp.int32), key, diverged | now_diverged)

  inf = jnp.full(y.shape[:1], jnp.inf, y.dtype)
  start = (jnp.asarray(1.0, y.dtype), y, inf, inf, jnp.zeros(y.shape[:1], jnp.int32), key,
           jnp.zeros(y.shape[:1], bool))
  _, y, level, _, iterations, _, diverged = lax.while_loop(cond, body, start)
  return AscentResult(y, iterations, level, diverged)


SAMPLERS = {
    "euler_maruyama": euler_maruyama,
    "ancestral": ancestral,
    "ode_euler": ode_euler,
    "ode_heun": ode_heun,
}


def get_sampler(name: str):
  if name not in SAMPLERS:
    raise InputError(f"unknown sampler {name!r}: choose from {sorted(SAMPLERS)}")
  return SAMPLERS[name]
