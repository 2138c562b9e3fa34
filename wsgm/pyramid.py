"""The WSGM factorization p(x_0) = p(x_J) prod_j p(xbar_j | x_j): what each per-scale model sees, and
coarse-to-fine sampling.

Models are named "coarse" (unconditional, on the normalized x_J) and "scale_j" for j = 1..J (conditional:
normalized details xbar_j given the normalized low-pass x_j). J = 0 is plain pixel-space SGM: a single
"coarse" model on the raw image. A sampler draws the coarse low-pass first; then at each scale j = J..1 a
conditional sampler draws xbar_j and one inverse DWT gives x_{j-1}. Every scale uses the same time grid, so
sampling costs (J + 1) x steps network evaluations on ever larger grids: linear in the number of pixels.
"""
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import jax

from lib.errors import InputError
from wsgm import wavelets
from wsgm.solvers import ScoreFn

# (y, t, cond) -> score of normalized details y at time t given the normalized low-pass `cond`.
ConditionalScoreFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
Sampler = Callable[[ScoreFn, jax.Array, jax.Array, jax.Array], jax.Array]
_identity = lambda x: x


def model_names(levels: int) -> List[str]:
  """Coarse first, then finer scales: the order in which they are sampled."""
  return ["coarse"] + [f"scale_{j}" for j in range(levels, 0, -1)]


def scale_of(name: str) -> int:
  """'scale_j' -> j; 'coarse' -> 0 (no conditioning)."""
  return 0 if name == "coarse" else int(name.split("_")[1])


def model_io(images: jax.Array, name: str, stats: Optional[wavelets.PyramidStats], wavelet: str, levels: int):
  """(target, cond) for one model from a batch of images: what it learns to generate, what it is given."""
  if levels == 0:
    return images, None
  scale = scale_of(name) or levels
  x = images
  for _ in range(scale):
    x, details = wavelets.dwt(x, wavelet)
  cond = wavelets.normalize_lowpass(x, stats, scale)
  if name == "coarse":
    return cond, None
  return wavelets.normalize_details(details, stats, scale), cond


class PyramidSample(NamedTuple):
  image: jax.Array                  # x_0
  lowpasses: Tuple[jax.Array, ...]  # (x_J, ..., x_1), coarsest first, un-normalized


def refine(key, lowpass, scale: int, detail_scores: Sequence[ConditionalScoreFn], stats, wavelet: str,
           sampler: Sampler, times, constrain=_identity) -> PyramidSample:
  """Given x_scale, draw xbar_scale, ..., xbar_1 in turn: detail_scores[j-1] is the conditional of scale j.
  This is super-resolution when x_scale is given, and the second half of sampling otherwise."""
  lows = []
  x = lowpass
  for j, k in zip(range(scale, 0, -1), jax.random.split(key, max(scale, 1))):
    lows.append(x)
    init_key, sample_key = jax.random.split(k)
    cond = wavelets.normalize_lowpass(x, stats, j)
    y = constrain(jax.random.normal(init_key, x.shape[:-1] + (3 * x.shape[-1],), x.dtype))
    y = sampler(lambda y, t: detail_scores[j - 1](y, t, cond), y, times, sample_key)
    x = wavelets.idwt(x, wavelets.normalize_details(y, stats, j, inverse=True), wavelet)
  return PyramidSample(x, tuple(lows))


def sample_coarse_to_fine(key, coarse_shape: Sequence[int], lowpass_score: ScoreFn,
                          detail_scores: Sequence[ConditionalScoreFn], stats: Optional[wavelets.PyramidStats],
                          wavelet: str, sampler: Sampler, times, constrain=_identity,
                          detail_sampler: Optional[Sampler] = None) -> PyramidSample:
  """coarse_shape: (N, H/2^J, W/2^J, C). `constrain` places freshly drawn noise (e.g. a sharding
  constraint, so that every scale runs data-parallel). `detail_sampler` (default: `sampler`) draws the
  details: WMGM's is a single generator pass."""
  levels = len(detail_scores)
  if levels != (stats.levels if stats is not None else 0):
    raise InputError(f"{levels} conditional score functions for a pyramid with "
                     f"J={stats.levels if stats is not None else 0} scales")
  init_key, coarse_key, refine_key = jax.random.split(key, 3)
  x = sampler(lowpass_score, constrain(jax.random.normal(init_key, tuple(coarse_shape))), times, coarse_key)
  if levels == 0:
    return PyramidSample(x, ())
  x = wavelets.normalize_lowpass(x, stats, levels, inverse=True)
  return refine(refine_key, x, levels, detail_scores, stats, wavelet, detail_sampler or sampler, times, constrain)
