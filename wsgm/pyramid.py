"""The WSGM factorization p(x_0) = p(x_J) prod_j p(xbar_j | x_j), sampled coarse to fine.

A sampler of the coarsest normalized low-pass runs first; then at each scale j = J..1 a conditional
sampler draws the normalized details xbar_j given the normalized low-pass x_j, and one inverse DWT gives
x_{j-1}. Every scale uses the same time grid, so the cost is (J + 1) x steps network evaluations on
ever larger grids: linear in the number of pixels.
"""
from typing import Callable, NamedTuple, Sequence, Tuple

import jax

from wsgm import wavelets
from wsgm.errors import InputError
from wsgm.solvers import ScoreFn

# (y, t, cond) -> score of normalized details y at time t given the normalized low-pass `cond`.
ConditionalScoreFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
Sampler = Callable[[ScoreFn, jax.Array, jax.Array, jax.Array], jax.Array]


class PyramidSample(NamedTuple):
  image: jax.Array                  # x_0
  lowpasses: Tuple[jax.Array, ...]  # (x_J, ..., x_1), coarsest first, un-normalized


def sample_details(key, lowpass, scale, detail_score: ConditionalScoreFn, stats, wavelet: str,
                   sampler: Sampler, times) -> jax.Array:
  """One conditional scale: draw xbar_j ~ p(. | x_j) and return x_{j-1} = IDWT(x_j, xbar_j)."""
  cond = wavelets.normalize_lowpass(lowpass, stats, scale)
  init_key, sample_key = jax.random.split(key)
  y = jax.random.normal(init_key, lowpass.shape[:-1] + (3 * lowpass.shape[-1],), lowpass.dtype)
  y = sampler(lambda y, t: detail_score(y, t, cond), y, times, sample_key)
  return wavelets.idwt(lowpass, wavelets.normalize_details(y, stats, scale, inverse=True), wavelet)


def sample_coarse_to_fine(key, coarse_shape: Sequence[int], lowpass_score: ScoreFn,
                          detail_scores: Sequence[ConditionalScoreFn], stats: wavelets.PyramidStats,
                          wavelet: str, sampler: Sampler, times) -> PyramidSample:
  """coarse_shape: (N, H/2^J, W/2^J, C); detail_scores[j-1] is the conditional score of scale j."""
  levels = stats.levels
  if len(detail_scores) != levels:
    raise InputError(f"{len(detail_scores)} conditional score functions for J={levels} scales")
  keys = jax.random.split(key, levels + 2)
  x = sampler(lowpass_score, jax.random.normal(keys[0], tuple(coarse_shape)), times, keys[1])
  x = wavelets.normalize_lowpass(x, stats, levels, inverse=True)
  lows = [x]
  for scale in range(levels, 0, -1):
    x = sample_details(keys[scale + 1], x, scale, detail_scores[scale - 1], stats, wavelet, sampler, times)
    lows.append(x)
  return PyramidSample(x, tuple(lows[:-1]))
