"""Log-likelihood of score models through the probability-flow ODE, and its decomposition over the pyramid.

For the OU process dx = -x dt + sqrt(2) dW the probability-flow ODE is dx/dt = f(x, t) = -x - score(x, t), and
the instantaneous change of variables gives, along its solution from x_{t_min} = x to x_T,
    log p_{t_min}(x) = log N(x_T; 0, I) + int_{t_min}^T div f(x_t, t) dt,   div f = -d - div score.
The integral runs forward in t in lax.scan with Heun's method (2nd order) on a grid of `steps` steps,
uniform in log(t) between t_min and T (the score changes fastest near t = 0). div score is exact (the trace of
the Jacobian: for small inputs and tests) or Hutchinson's estimate E_v[v^T J v] with `probes` Rademacher
vectors held fixed along the trajectory. p_{t_min} is the data law convolved with N(0, 1 - e^{-2 t_min}) and
scaled by e^{-t_min}: the likelihood of x as a sample of x_{t_min}, the usual convention (the t_min term is
reported; at t_min = 1e-5 it is far below the solver's error).

WSGM's factorization makes the likelihood decompose exactly: with the orthonormal DWT (log-Jacobian 0) and a
per-coefficient affine normalization y = (c - m) / s (log-Jacobian -sum log s),
    log p(x) = log p(y_J) + sum_j log p(ybar_j | y_j) - sum_coefficients log s,
each term the ODE likelihood of one model. `pyramid_log_likelihood` returns the per-scale terms.

Bits per dimension: -log2 p(x) / d. For 8-bit images u scaled to [-1, 1] the usual convention is uniform
dequantization: the model's density is evaluated at x = 2 (u + U) / 255 - 1, U ~ U[0, 1)^d (`dequantize`), and
since P(u) >= E_U p(x) (2 / 255)^d (Jensen), -log2 P(u) / d <= E_U[-log2 p(x)] / d + log2(127.5): the discrete
data's bits per dimension (`dequantized_bpd`). Scoring the undequantized grid points instead rewards a density
that piles up on them, so 8-bit data are always dequantized first.
"""
from typing import Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import InputError
from wsgm import pyramid
from wsgm.solvers import ScoreFn


class LikelihoodConfig(NamedTuple):
  t_min: float = 1e-5
  T: float = 5.0
  steps: int = 128
  probes: int = 1             # Hutchinson probes per example
  exact_trace: bool = False   # the exact trace instead (a Jacobian per step: small inputs, tests)


def check(c: LikelihoodConfig) -> LikelihoodConfig:
  if not 0 < c.t_min < c.T:
    raise InputError(f"likelihood t_min={c.t_min}: need 0 < t_min < T={c.T}")
  if c.steps < 1:
    raise InputError(f"likelihood steps={c.steps}: need at least 1")
  if c.probes < 1 and not c.exact_trace:
    raise InputError(f"likelihood probes={c.probes}: need >= 1 Hutchinson probes (or the exact trace)")
  return c


def from_config(config) -> LikelihoodConfig:
  e = config.eval
  return check(LikelihoodConfig(e.likelihood_t_min, config.sde.T, e.likelihood_steps, e.likelihood_probes))


def _trace_exact(fn, x):
  """sum_i d fn(x)_i / d x_i per example of a batch (N, ...), by one Jacobian of the flattened example."""
  def one(xi):
    flat = lambda v: fn(v.reshape((1,) + xi.shape)).reshape(-1)
    return jnp.trace(jax.jacfwd(flat)(xi.reshape(-1)))
  return jax.vmap(one)(x)


def _trace_hutchinson(fn, x, probes):
  """mean_k v_k^T J v_k per example (Rademacher v_k, unbiased for the trace of J)."""
  axes = tuple(range(1, x.ndim))
  return jnp.mean(jnp.stack([jnp.sum(v * jax.jvp(fn, (x,), (v,))[1], axis=axes) for v in probes]), axis=0)


def ode_log_likelihood(score_fn: ScoreFn, x: jax.Array, c: LikelihoodConfig, key: Optional[jax.Array] = None,
                       ) -> Dict[str, jax.Array]:
  """{"log_p": log p_{t_min}(x) per example (nats), "prior": log N(x_T; 0, I), "divergence": the integral}.
  x: a batch (N, ...); score_fn(x, t) takes a scalar t."""
  c = check(c)
  d = np.prod(x.shape[1:])
  if not c.exact_trace:
    if key is None:
      raise InputError("likelihood with Hutchinson probes needs a PRNG key")
    probes = [jax.random.rademacher(k, x.shape, x.dtype) for k in jax.random.split(key, c.probes)]
    trace = lambda fn, y: _trace_hutchinson(fn, y, probes)
  else:
    trace = _trace_exact
  drift = lambda y, t: -y - score_fn(y, t)
  div = lambda y, t: -d - trace(lambda z: score_fn(z, t), y)
  times = jnp.exp(jnp.linspace(jnp.log(c.t_min), jnp.log(c.T), c.steps + 1))

  def step(carry, ts):
    y, integral = carry
    t, t_next = ts
    h = t_next - t
    k1, g1 = drift(y, t), div(y, t)
    y_euler = y + h * k1
    k2, g2 = drift(y_euler, t_next), div(y_euler, t_next)
    return (y + 0.5 * h * (k1 + k2), integral + 0.5 * h * (g1 + g2)), None

  (y, integral), _ = jax.lax.scan(step, (x, jnp.zeros(x.shape[:1], x.dtype)), (times[:-1], times[1:]))
  prior = -0.5 * jnp.sum(y.reshape(len(y), -1) ** 2, axis=1) - 0.5 * d * np.log(2 * np.pi)
  return dict(log_p=prior + integral, prior=prior, divergence=integral)


def bits_per_dim(log_p, dims: int):
  return -np.asarray(log_p) / (dims * np.log(2.0))


def dequantize(images: jax.Array, key: jax.Array) -> jax.Array:
  """8-bit levels u scaled to [-1, 1] (x = 2 u / 255 - 1) -> 2 (u + U) / 255 - 1 with U ~ U[0, 1) per value."""
  return images + (2.0 / 255.0) * jax.random.uniform(key, images.shape, images.dtype)


def dequantized_bpd(log_p, dims: int):
  """Bits per dimension of the discrete 8-bit data, from log p of their dequantized points in [-1, 1]: the
  continuous bits/dim + log2(127.5), the log-Jacobian of u + U -> 2 (u + U) / 255 - 1."""
  return bits_per_dim(log_p, dims) + np.log2(127.5)


def log_jacobian(norm, name: str, shape, levels: int) -> float:
  """log |dy/dc| of a model's normalization y(c) for one example of coefficient shape (H, W, C), so that
  log p(c) = log p(y) + log |dy/dc|: -sum log s over its coefficients (Standardize, y = (c - m) / s),
  + log 2^-j per coefficient (ScaleUnits, y = c 2^-j); 0 for J = 0 (raw pixels)."""
  if levels == 0:
    return 0.0
  scale = pyramid.scale_of(name) or levels
  h, w = shape[0], shape[1]
  if isinstance(norm, pyramid.Standardize):
    std = norm.low_std[scale - 1] if name == "coarse" else norm.detail_std[scale - 1]
    return -float(h * w * np.sum(np.log(std)))
  return float(h * w * shape[2] * np.log(pyramid.scale_unit(scale)))


def pyramid_log_likelihood(images: jax.Array, model_scores: Dict[str, Callable], norm, wavelet: str,
                           levels: int, c: LikelihoodConfig, key: jax.Array) -> Dict[str, jax.Array]:
  """{model name: log p of its normalized coefficients (given the normalized low-pass) + its normalization's
  log-Jacobian, per example}; the values sum to log p(x) of the images. model_scores[name](y, t, cond) is the
  model's score (cond None for "coarse")."""
  out = {}
  for name, k in zip(pyramid.model_names(levels), jax.random.split(key, levels + 1)):
    target, cond = pyramid.model_io(images, name, norm, wavelet, levels)
    fn = model_scores[name]
    ll = ode_log_likelihood(lambda y, t, fn=fn, cond=cond: fn(y, t, cond), target, c, k)["log_p"]
    out[name] = ll + log_jacobian(norm, name, target.shape[1:], levels)
  return out


def closed_form_stationary(x: jax.Array, spectrum: np.ndarray) -> np.ndarray:
  """log N(x; 0, Sigma) for a stationary field with power spectrum P (orthonormal FFT): Sigma = F* diag(P) F,
  so x^T Sigma^{-1} x = sum_k |xhat_k|^2 / P_k and log det Sigma = sum_k log P_k. x: (N, L, L, 1)."""
  xhat = np.fft.fft2(np.asarray(x, np.float64)[..., 0], norm="ortho")
  return -0.5 * np.sum(np.abs(xhat) ** 2 / spectrum, axis=(1, 2)) - 0.5 * np.sum(np.log(2 * np.pi * spectrum))


def pyramid_dims(images_shape, levels: int) -> Dict[str, int]:
  """Coefficients per example each model describes (they sum to the image's dimension)."""
  _, h, w, ch = images_shape
  if levels == 0:
    return {"coarse": h * w * ch}
  dims = {"coarse": (h >> levels) * (w >> levels) * ch}
  for j in range(levels, 0, -1):
    dims[f"scale_{j}"] = 3 * (h >> j) * (w >> j) * ch
  return dims
