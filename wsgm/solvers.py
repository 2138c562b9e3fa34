"""Reverse-time samplers for the OU process, as pure functions of a score function.

Every sampler has the signature `sampler(score_fn, x_T, times, key) -> x_0` where
`score_fn(x, t) -> grad log p_t(x)` takes a scalar time, `times` is a decreasing grid from T to 0
(see sde.time_grid), and x_T is drawn by the caller from the N(0, I) prior. Steps run in `lax.scan`, so
a jitted sampler compiles one step whatever the number of steps.
"""
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

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
