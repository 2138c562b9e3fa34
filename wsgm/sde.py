"""Forward Ornstein-Uhlenbeck process dx = -x dt + sqrt(2) dW (the WSGM paper's choice) and time grids.

x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z, so x_t -> N(0, I) as t grows; sampling starts from N(0, I) at T.
"""
import jax
import jax.numpy as jnp

from lib.errors import InputError

TIME_GRIDS = ("uniform", "quadratic")


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


def _spacing(u: jax.Array, T: float, kind: str) -> jax.Array:
  """u in [0, 1] -> time: 'uniform' T u, 'quadratic' T u^2 (dense near 0, where the score changes fastest).
  One map for both the sampling grid and the training-time distribution, so the two always agree."""
  if kind == "uniform":
    return T * u
  if kind == "quadratic":
    return T * u ** 2
  raise InputError(f"unknown time grid {kind!r}: choose from {TIME_GRIDS}")


def time_grid(kind: str, steps: int, T: float) -> jax.Array:
  """steps + 1 decreasing times from T to 0, spaced by `kind` (see _spacing)."""
  if steps < 1:
    raise InputError(f"sampling steps={steps}: need at least 1")
  if T <= 0:
    raise InputError(f"diffusion time T={T}: need T > 0")
  return _spacing(jnp.linspace(1.0, 0.0, steps + 1), T, kind)


def train_times(u: jax.Array, T: float, kind: str = "quadratic") -> jax.Array:
  """Map u ~ U[0, 1] to training times with the same spacing as the sampling grid."""
  return _spacing(u, T, kind)
