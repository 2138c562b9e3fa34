"""Stationary Gaussian random fields with a power-law spectrum: data the project makes itself."""
import jax
import jax.numpy as jnp
import numpy as np


def target_spectrum(size: int) -> np.ndarray:
  """The fields' exact (model) spectrum, P(omega) = 1/|omega|^2 on the periodic size x size grid with
  omega = 2 pi k / size, zero mode set to the largest non-zero mode, scaled to mean 1 (mean variance 1).
  Index [ky, kx] in np.fft order. (lib/metrics.power_spectrum is the empirical one, of images.)"""
  k = np.fft.fftfreq(size) * size
  w2 = (2 * np.pi / size) ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
  p = np.divide(1.0, w2, out=np.zeros_like(w2), where=w2 > 0)
  p[0, 0] = p.max()
  return p / p.mean()


def sample_field(key: jax.Array, spectrum: np.ndarray, n: int) -> jax.Array:
  """n real fields with the given spectrum, NHWC (n, L, L, 1) float32."""
  white = jax.random.normal(key, (n,) + spectrum.shape)
  field = jnp.fft.ifft2(jnp.sqrt(jnp.asarray(spectrum, jnp.float32)) * jnp.fft.fft2(white)).real
  return field[..., None]
