"""Stationary Gaussian fields: spectra, exact scores, and the exact output law of SGM / WSGM samplers.

With an exact (linear) score, Euler-Maruyama maps Gaussians to Gaussians, so the law of its output can be
computed in closed form instead of estimated by sampling. Everything here avoids dense d x d matrices:
- pixel space: the field is diagonal in the 2-D Fourier basis, so EM acts mode by mode;
- wavelet space: periodic wavelet coefficients of a stationary field are jointly stationary on the coarse
  grid, so the 4 channels (low-pass + 3 detail bands) at one coarse frequency form a 4 x 4 block.

Fourier transforms are orthonormal (norm="ortho"): E|xhat(k)|^2 is the power spectrum and the mean of the
spectrum is the mean variance. Closed-form quantities use float64 NumPy: the KLs reported are ~1e-4 and
float32 round-off would be visible; the samplers that consume these arrays run in JAX float32.
The field is single-channel (C = 1).
"""
import functools
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pywt

from lib.fields import target_spectrum, sample_field  # noqa: F401  (part of this module's API)
from wsgm import pyramid, solvers, wavelets

# Polyphase offsets (dy, dx) of a fine grid point relative to its coarse cell, in a fixed order.
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def fourier(x: jax.Array) -> jax.Array:
  """Orthonormal 2-D FFT over the spatial axes of an NHWC batch."""
  return jnp.fft.fft2(x, axes=(1, 2), norm="ortho")


def inverse_fourier(xhat: jax.Array) -> jax.Array:
  return jnp.fft.ifft2(xhat, axes=(1, 2), norm="ortho").real


def stationary_score_fn(spectrum: np.ndarray):
  """Exact score of the OU-noised stationary field N(0, diag P) in Fourier: -x / (e^{-2t} P + 1 - e^{-2t})."""
  p = jnp.asarray(spectrum, jnp.float32)[None, :, :, None]

  def score(x, t):
    var = jnp.exp(-2 * t) * p - jnp.expm1(-2 * t)
    return -inverse_fourier(fourier(x) / var)
  return score


def em_gains(lam: np.ndarray, times: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Exact output of Euler-Maruyama (solvers.euler_maruyama) for a 1-D target N(mu, lam) with exact score,
  started from N(0, 1): the output is alpha * mu + N(0, var). Returns (alpha, var), broadcast over lam and
  over leading axes of `times` (shape (..., steps + 1), decreasing to 0)."""
  lam = np.asarray(lam, np.float64)
  times = np.asarray(times, np.float64)
  alpha, var = np.zeros(np.broadcast_shapes(times.shape[:-1] + (1,) * lam.ndim, lam.shape)), 1.0
  for i in range(times.shape[-1] - 1):
    t = times[..., i].reshape(times.shape[:-1] + (1,) * lam.ndim)
    h = t - times[..., i + 1].reshape(t.shape)
    sigma2 = lam * np.exp(-2 * t) - np.expm1(-2 * t)
    a = 1 + h * (1 - 2 / sigma2)                 # x <- x + h (x + 2 score)
    alpha = a * alpha + 2 * h * np.exp(-t) / sigma2
    var = a * a * var + 2 * h
  return alpha, var


def sampler_gains(stepper: solvers.Stepper, final_denoise: bool, lam: np.ndarray,
                  times: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Exact output of any sampler (solvers.Stepper; solvers.run) for a 1-D target N(mu, lam) with exact score,
  started from N(0, 1): alpha * mu + N(0, var), as em_gains. With that score every step is affine in the
  carried state, the injected noise and mu, so the step's Jacobians (forward-mode derivatives of the sampler's
  own step, in float64) propagate the mean gain and the covariance of the carried state (x and, for multistep
  methods, the previous denoised value) exactly. Returns (alpha, var) shaped like em_gains'; each distinct
  value of lam (to a relative 1e-11) is computed once."""
  lam = np.asarray(lam, np.float64)
  times = np.asarray(times, np.float64)
  mantissa, exponent = np.frexp(lam)   # values equal to ~1e-11 (symmetric modes, eigensolver noise) merged
  values, inverse = np.unique(np.ldexp(np.round(mantissa * 2.0 ** 36) / 2.0 ** 36, exponent), return_inverse=True)
  padded = np.ones(max(8, 1 << int(np.ceil(np.log2(max(len(values), 1))))))   # few distinct shapes to compile
  padded[:len(values)] = values
  flat_t = times.reshape((-1, times.shape[-1]))
  with jax.enable_x64(True):
    alpha, var = _gains_fn(stepper, final_denoise)(jnp.asarray(padded), jnp.asarray(flat_t))
  pick = lambda a: np.asarray(a)[:, :len(values)][:, inverse.reshape(-1)].reshape(times.shape[:-1] + lam.shape)
  return pick(alpha), pick(var)


@functools.lru_cache(maxsize=None)
def _gains_fn(stepper: solvers.Stepper, final_denoise: bool):
  """jitted (lam (M,), grids (B, N + 1)) -> (alpha, var), each (B, M)."""
  k = 1 + stepper.history

  def one(lam, grid):
    def score_fn(mu):
      return lambda x, t: -(x - jnp.exp(-t) * mu) / (jnp.exp(-2 * t) * lam - jnp.expm1(-2 * t))

    def affine(carry, noise, mu, tp, t, tn):
      return jnp.stack(stepper.step(tuple(carry), score_fn(mu), tp, t, tn, tuple(noise)))

    zeros = (jnp.zeros(k), jnp.zeros(stepper.noises), jnp.zeros(()))

    def body(state, inp):
      gain, cov = state
      jc, jn, jm = jax.jacfwd(affine, argnums=(0, 1, 2))(*zeros, *inp)
      return (jc @ gain + jm, jc @ cov @ jc.T + jn @ jn.T), None

    t_prev = solvers.previous_times(grid)
    start = (jnp.zeros(k), jnp.zeros((k, k)).at[0, 0].set(1.0))   # x_T ~ N(0, 1), history 0
    (gain, cov), _ = lax.scan(body, start, (t_prev, grid[:-1], grid[1:]))
    if not final_denoise:
      return gain[0], cov[0, 0]
    fx, fm = jax.grad(lambda x, mu: solvers.denoised(score_fn(mu), x, grid[-1]), argnums=(0, 1))(0.0, 0.0)
    return fx * gain[0] + fm, fx ** 2 * cov[0, 0]

  return jax.jit(jax.vmap(jax.vmap(one, (0, None)), (None, 0)))


def kl_modes(p_var, q_var):
  """KL(N(0, p_var) || N(0, q_var)) per real mode (elementwise)."""
  r = p_var / q_var
  return 0.5 * (r - 1 - np.log(r))


# ----------------------------------------------------------------------------------------------------------
# Wavelet-domain blocks
class ScaleBlocks(NamedTuple):
  """Exact second-order structure of one scale j on its M x M grid, arrays indexed [ky, kx, ...]."""
  transfer: np.ndarray     # (M, M, 4, 4) polyphase -> channels (low, H, V, D) per frequency, unitary
  channel_cov: np.ndarray  # (M, M, 4, 4) true covariance of (xhat_j, xbarhat_j)
  detail_std: np.ndarray   # (3,) per-band std used for normalization
  low_std: float           # std of x_j
  eig: np.ndarray          # (M, M, 3) eigenvalues of the normalized conditional covariance of xbar_j | x_j
  basis: np.ndarray        # (M, M, 3, 3) its eigenvectors (columns)
  cond_mean: np.ndarray    # (M, M, 3) B: conditional mean in the eigenbasis is B * xhat_j (un-normalized)

  @property
  def lowpass_spectrum(self) -> np.ndarray:
    return self.channel_cov[..., 0, 0].real


def _transfer(wavelet: str, m: int) -> np.ndarray:
  """Fourier symbols of the one-level DWT from the 4 polyphase components of the fine grid to the 4 output
  channels, from its impulse responses (PyWavelets periodization in float64, which wavelets.dwt matches)."""
  h = np.zeros((m, m, 4, 4), complex)
  for q, (dy, dx) in enumerate(_PHASES):
    delta = np.zeros((2 * m, 2 * m))
    delta[dy, dx] = 1.0
    low, (ch, cv, cd) = pywt.dwt2(delta, wavelet, mode="periodization")
    for b, response in enumerate((low, ch, cv, cd)):
      h[..., b, q] = np.fft.fft2(response)
  return h


def _polyphase_cov(spectrum: np.ndarray) -> np.ndarray:
  """Cross-spectra (M, M, 4, 4) of the polyphase components of a stationary field with this spectrum."""
  autocov = np.fft.ifft2(spectrum).real        # c(n) = E[x(m + n) x(m)]
  m = spectrum.shape[0] // 2
  out = np.zeros((m, m, 4, 4), complex)
  for q, dq in enumerate(_PHASES):
    for r, dr in enumerate(_PHASES):
      shifted = np.roll(autocov, (dr[0] - dq[0], dr[1] - dq[1]), axis=(0, 1))  # s -> c(s + dq - dr)
      out[..., q, r] = np.fft.fft2(shifted[::2, ::2])
  return out


def _fine_diagonal(polyphase_cov: np.ndarray) -> np.ndarray:
  """E|xhat(k')|^2 on the 2M grid from the polyphase covariance on the M grid (exact, also when the fine
  field is only cyclostationary, as a sampler's output is)."""
  m = polyphase_cov.shape[0]
  k = np.fft.fftfreq(2 * m) * 2 * m
  phase = np.stack([np.exp(-1j * np.pi * (k[:, None] * dy + k[None, :] * dx) / m) for dy, dx in _PHASES], -1) / 2
  tiled = np.tile(polyphase_cov, (2, 2, 1, 1))   # coarse frequency of k' is k' mod M
  return np.einsum("yxq,yxqr,yxr->yx", phase, tiled, phase.conj()).real


def wavelet_blocks(spectrum: np.ndarray, wavelet: str, levels: int) -> Tuple[ScaleBlocks, ...]:
  """Exact per-frequency blocks for scales j = 1..J of a stationary field (returned finest first)."""
  wavelets.check_wavelet(wavelet)
  wavelets.check_levels(spectrum.shape, levels)
  blocks = []
  for _ in range(levels):
    m = spectrum.shape[0] // 2
    transfer = _transfer(wavelet, m)
    cov = transfer @ _polyphase_cov(spectrum) @ transfer.conj().swapaxes(-1, -2)
    detail_std = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)[..., 1:].real.mean((0, 1)))
    low_var = cov[..., 0, 0].real
    gain = cov[..., 1:, 0] / low_var[..., None]                     # E[xbar | x] = gain * x
    cond_cov = cov[..., 1:, 1:] - low_var[..., None, None] * gain[..., :, None] * gain[..., None, :].conj()
    eig, basis = np.linalg.eigh(cond_cov / np.outer(detail_std, detail_std))
    cond_mean = np.einsum("yxij,yxj->yxi", basis.conj().swapaxes(-1, -2), gain / detail_std)
    blocks.append(ScaleBlocks(transfer, cov, detail_std, float(np.sqrt(low_var.mean())), eig, basis, cond_mean))
    spectrum = low_var
  return tuple(blocks)


def exact_stats(blocks) -> pyramid.Standardize:
  """Normalization of the exact field: zero means, the true per-scale standard deviations."""
  levels = len(blocks)
  return pyramid.Standardize(
      low_mean=np.zeros((levels, 1)), low_std=np.array([[b.low_std] for b in blocks]),
      detail_mean=np.zeros((levels, 3)), detail_std=np.stack([b.detail_std for b in blocks]))


def conditional_score_fn(block: ScaleBlocks):
  """Exact score of the OU-noised normalized details y given the normalized low-pass `cond` (JAX)."""
  basis = jnp.asarray(block.basis, jnp.complex64)
  eig = jnp.asarray(block.eig, jnp.float32)
  mean_gain = jnp.asarray(block.cond_mean * block.low_std, jnp.complex64)   # acts on the normalized x_j

  def score(y, t, cond):
    mean = mean_gain * fourier(cond)                                   # (N, M, M, 3), eigenbasis
    w = jnp.einsum("yxji,nyxj->nyxi", basis.conj(), fourier(y))      # U^* yhat
    var = jnp.exp(-2 * t) * eig - jnp.expm1(-2 * t)
    s = -(w - jnp.exp(-t) * mean) / var
    return inverse_fourier(jnp.einsum("yxij,nyxj->nyxi", basis, s))
  return score


class ExactOutput(NamedTuple):
  kl_per_dim: float        # KL(true || generated) / number of pixels
  spectrum: np.ndarray     # E|xhat(k)|^2 of the generated field
  max_relative_spectral_error: float    # max_k |spectrum / true - 1|


def _summary(true_spectrum, spectrum, kl_total) -> ExactOutput:
  err = float(np.abs(spectrum / true_spectrum - 1).max())
  return ExactOutput(float(kl_total) / true_spectrum.size, spectrum, err)


def sgm_output(spectrum: np.ndarray, times: np.ndarray, gains=em_gains) -> ExactOutput:
  """Pixel-space SGM: a sampler (`gains`: em_gains or a partial of sampler_gains) with the exact score from
  N(0, I)."""
  _, var = gains(spectrum, times)
  return _summary(spectrum, var, kl_modes(spectrum, var).sum())


def wsgm_output(spectrum: np.ndarray, blocks, times: np.ndarray, gains=em_gains) -> ExactOutput:
  """WSGM: a sampler (`gains`, EM by default) on the normalized coarsest low-pass, then on each normalized
  conditional, same grid.

  KL by the chain rule over the pyramid (the DWT is an orthonormal bijection, both laws factorize the same
  way): KL(p || q) = KL(p(x_J) || q(x_J)) + sum_j E_{p(x_j)} KL(p(xbar_j | x_j) || q(xbar_j | x_j)).
  In the eigenbasis of a normalized conditional covariance, EM gives alpha_i * mean_i + N(0, v_i) instead
  of mean_i + N(0, s_i), so each term is a sum of 1-D Gaussian KLs. The generated spectrum is propagated
  exactly through the inverse transform, one scale at a time.
  """
  coarse = blocks[-1]
  lam = coarse.lowpass_spectrum / coarse.low_std ** 2
  _, var = gains(lam, times)
  gen_low = var * coarse.low_std ** 2
  kl = kl_modes(lam, var).sum()
  for block in reversed(blocks):
    alpha, v = gains(block.eig, times)
    mean_power = block.lowpass_spectrum[..., None] * np.abs(block.cond_mean) ** 2   # E_p |mean_i|^2
    kl += (kl_modes(block.eig, v) + 0.5 * (1 - alpha) ** 2 * mean_power / v).sum()
    # Generated channel covariance given the generated low-pass spectrum, back to the fine grid.
    d = block.detail_std
    gain = d * np.einsum("yxij,yxj->yxi", block.basis, alpha * block.cond_mean)          # (M, M, 3)
    noise = np.einsum("yxij,yxj,yxkj->yxik", block.basis, v, block.basis.conj()) * np.outer(d, d)
    m = gen_low.shape[0]
    cov = np.zeros((m, m, 4, 4), complex)
    cov[..., 0, 0] = gen_low
    cov[..., 1:, 0] = gen_low[..., None] * gain
    cov[..., 0, 1:] = cov[..., 1:, 0].conj()
    cov[..., 1:, 1:] = gen_low[..., None, None] * gain[..., :, None] * gain[..., None, :].conj() + noise
    t = block.transfer
    gen_low = _fine_diagonal(t.conj().swapaxes(-1, -2) @ cov @ t)
  return _summary(spectrum, gen_low, kl)


def exact_outputs(spectrum: np.ndarray, blocks, grids: np.ndarray, gains) -> list:
  """[(sgm_output, wsgm_output) for each grid in `grids` (B, N + 1)], with one call of gains(lam, grids) on
  every variance both need (the pixel spectrum, the coarse low-pass, each scale's conditional eigenvalues)."""
  coarse = blocks[-1]
  arrays = [spectrum, coarse.lowpass_spectrum / coarse.low_std ** 2] + [b.eig for b in blocks]
  alpha, var = gains(np.concatenate([a.reshape(-1) for a in arrays]), grids)
  table, start = {}, 0
  for a in arrays:
    table[a.tobytes()] = (start, a.shape)
    start += a.size

  def lookup(i):
    def g(lam, times):
      begin, shape = table[np.asarray(lam, np.float64).tobytes()]
      return tuple(x[i, begin:begin + lam.size].reshape(shape) for x in (alpha, var))
    return g

  return [(sgm_output(spectrum, grid, lookup(i)), wsgm_output(spectrum, blocks, grid, lookup(i)))
          for i, grid in enumerate(grids)]
