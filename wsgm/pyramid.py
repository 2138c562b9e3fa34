"""The factorization p(x_0) = p(x_J) prod_j p(xbar_j | x_j) shared by WSGM, WMGM and LCM: what each per-scale
model sees, the pyramid's normalizations, and coarse-to-fine generation.

Models are named "coarse" (unconditional, on x_J) and "scale_j" for j = 1..J (conditional: the details xbar_j
given the low-pass x_j). J = 0 is the pixel-space model: a single "coarse" model on the raw image. Generation
draws the coarse low-pass first; then at each scale j = J..1 draws xbar_j given x_j and one inverse DWT gives
x_{j-1} (`refine`). With the same sampler at every scale, the cost is linear in the number of pixels.

Normalizations: the models never see raw coefficients x_j, xbar_j (whose spread grows like 2^j for the
low-pass) but normalized ones. Two choices, one interface (`lowpass(x, j)`, `details(d, j)`, each with
`inverse=True`):
- `Standardize` (WSGM, WMGM): per band and channel, (c - mean) / std with statistics fitted once on training
  data. Score models trained on a unit-variance signal start every scale's reverse SDE from N(0, I) at the
  same signal-to-noise ratio, so one time grid serves all scales; this is the WSGM paper's normalization.
- `ScaleUnits` (LCM): one scalar per scale, c / 2^j. The low-pass stays a local average in image units and
  white pixel noise of std sigma stays white with std sigma / 2^j in every band (the transform is
  orthonormal), which is what a *blind* denoiser trained on white noise expects; per-band standardization
  would give each band a different noise level.
"""
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from lib import outputs
from lib.errors import InputError
from wsgm import wavelets
from wsgm.solvers import ScoreFn

# (y, t, cond) -> score of normalized details y at time t given the normalized low-pass `cond`.
ConditionalScoreFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
Sampler = Callable[[ScoreFn, jax.Array, jax.Array, jax.Array], jax.Array]
# (scale j, key, normalized x_j) -> (normalized xbar_j, what the draw reports, e.g. iterations, or None)
DetailDraw = Callable[[int, jax.Array, jax.Array], Tuple[jax.Array, Any]]
_identity = lambda x: x


def validate(config, j0_means: str) -> None:
  """pyramid.levels and pyramid.wavelet against data.image_size, for every method."""
  levels = config.pyramid.levels
  if levels < 0:
    raise InputError(f"pyramid.levels={levels}: need J >= 0 (0 = {j0_means})")
  if levels:
    wavelets.check_wavelet(config.pyramid.wavelet)
    wavelets.check_levels((config.data.image_size,) * 2, levels)


def model_names(levels: int) -> List[str]:
  """Coarse first, then finer scales: the order in which they are sampled."""
  return ["coarse"] + [f"scale_{j}" for j in range(levels, 0, -1)]


def scale_of(name: str) -> int:
  """'scale_j' -> j; 'coarse' -> 0 (no conditioning)."""
  return 0 if name == "coarse" else int(name.split("_")[1])


# ---------------------------------------------------------------------------------------------------------
# Normalizations (see the module docstring for why each method uses its own)


class Standardize(NamedTuple):
  """WSGM/WMGM: per-scale, per-channel statistics fitted on data; row j-1 belongs to scale j."""
  low_mean: np.ndarray      # (J, C)
  low_std: np.ndarray       # (J, C)
  detail_mean: np.ndarray   # (J, 3C)
  detail_std: np.ndarray    # (J, 3C)

  @property
  def levels(self) -> int:
    return self.low_mean.shape[0]

  def lowpass(self, x: jax.Array, scale: int, inverse: bool = False) -> jax.Array:
    return _standardize(x, self.low_mean[scale - 1], self.low_std[scale - 1], inverse)

  def details(self, d: jax.Array, scale: int, inverse: bool = False) -> jax.Array:
    return _standardize(d, self.detail_mean[scale - 1], self.detail_std[scale - 1], inverse)


def _standardize(a, mean, std, inverse):
  mean, std = jnp.asarray(mean, a.dtype), jnp.asarray(std, a.dtype)
  return a * std + mean if inverse else (a - mean) / std


def scale_unit(scale: int) -> float:
  """2^-j: LCM's units for scale j's coefficients (a power of two, so converting is exact in floating point)."""
  return 2.0 ** -scale


class ScaleUnits(NamedTuple):
  """LCM: scale j's coefficients divided by 2^j, the same for every band and channel."""

  def lowpass(self, x: jax.Array, scale: int, inverse: bool = False) -> jax.Array:
    return x / scale_unit(scale) if inverse else x * scale_unit(scale)

  def details(self, d: jax.Array, scale: int, inverse: bool = False) -> jax.Array:
    return self.lowpass(d, scale, inverse)


Normalization = Any   # Standardize | ScaleUnits (None for J = 0: nothing is normalized)


def fit_stats(x: jax.Array, wavelet: str, levels: int) -> Standardize:
  """Per-channel mean/std of every low-pass x_j and detail band xbar_j over a batch of data."""
  rows = {k: [] for k in Standardize._fields}
  lows, details = wavelets.analyze(x, wavelet, levels)
  for j, (low, d) in enumerate(zip(lows, details), start=1):
    for name, a in (("low", low), ("detail", d)):
      std = np.asarray(jnp.std(a, axis=(0, 1, 2)), np.float64)
      if np.any(std <= 0):
        raise InputError(f"scale j={j}: {name} channel(s) {np.flatnonzero(std <= 0).tolist()} are constant "
                         "over the fitting batch; cannot standardize")
      rows[f"{name}_mean"].append(np.asarray(jnp.mean(a, axis=(0, 1, 2)), np.float64))
      rows[f"{name}_std"].append(std)
  return Standardize(**{k: np.stack(v) for k, v in rows.items()})


def save_stats(path: str, stats: Standardize) -> None:
  outputs.save_npz(path, **stats._asdict())   # atomic: never a half-written stats file


def load_stats(path: str) -> Standardize:
  with np.load(path) as data:
    return Standardize(**{k: data[k] for k in Standardize._fields})


# ---------------------------------------------------------------------------------------------------------
# What each model sees, and generation


def model_io(images: jax.Array, name: str, norm: Optional[Normalization], wavelet: str, levels: int):
  """(target, cond) for one model from a batch of images (N, H, W, C): what it learns to generate, what it is
  given, both normalized by `norm`. J = 0: the raw images and no conditioning."""
  chex.assert_rank(images, 4)
  if levels == 0:
    return images, None
  scale = scale_of(name) or levels
  pyr = wavelets.decompose(images, wavelet, scale)
  cond = norm.lowpass(pyr.lowpass, scale)
  if name == "coarse":
    return cond, None
  return norm.details(pyr.details[-1], scale), cond


def merge(lowpass: jax.Array, details_normalized: jax.Array, scale: int, norm: Normalization,
          wavelet: str) -> jax.Array:
  """x_{scale-1} from the raw x_scale and normalized details: one step of coarse-to-fine generation."""
  return wavelets.idwt(lowpass, norm.details(details_normalized, scale, inverse=True), wavelet)


class PyramidSample(NamedTuple):
  image: jax.Array                  # x_0
  lowpasses: Tuple[jax.Array, ...]  # (x_scale, ..., x_1), coarsest first, raw (un-normalized)
  reports: Tuple[Any, ...] = ()     # what each scale's draw reported, coarse to fine (see DetailDraw)


def report_stage(progress, label: str, x: jax.Array) -> None:
  """Inside a jitted draw: progress.stage_done(label) runs on the host once x is computed (progress: a
  lib/progress.Stages, or None for nothing). A program holding such a callback bypasses JAX's persistent
  compilation cache."""
  if progress is not None:
    jax.debug.callback(lambda _: progress.stage_done(label), jnp.sum(x[..., :1]))


def refine(key, lowpass: jax.Array, scale: int, draw: DetailDraw, norm: Normalization, wavelet: str,
           progress=None, last: int = 1) -> PyramidSample:
  """Given the raw x_scale, draw xbar_scale, ..., xbar_last in turn (normalized, by `draw`) and merge each, giving
  x_{last-1}: with last = 1 (the image) this is super-resolution when x_scale is given, and the second half of
  generation otherwise; last = scale is one conditional model alone. Scale j's draw uses the same key whatever
  `last` is. Each finished scale is reported to `progress` (report_stage)."""
  chex.assert_rank(lowpass, 4)
  if not 1 <= last <= max(scale, 1):
    raise InputError(f"refine from scale {scale} to last={last}: need 1 <= last <= {scale}")
  lows, reports, x = [], [], lowpass
  for j, k in zip(range(scale, last - 1, -1), jax.random.split(key, max(scale, 1))):
    lows.append(x)
    y, report = draw(j, k, norm.lowpass(x, j))
    chex.assert_shape(y, x.shape[:-1] + (3 * x.shape[-1],))
    reports.append(report)
    x = merge(x, y, j, norm, wavelet)
    report_stage(progress, f"scale {j} details -> x_{j - 1} {x.shape[1]}x{x.shape[2]}", x)
  return PyramidSample(x, tuple(lows), tuple(reports))


def sampler_draw(detail_scores: Sequence[ConditionalScoreFn], sampler: Sampler, times,
                 constrain=_identity) -> DetailDraw:
  """The DetailDraw of a score model: N(0, I) details (placed by `constrain`, e.g. a sharding constraint) run
  through `sampler` with scale j's conditional score detail_scores[j-1] given the normalized low-pass."""
  def draw(j, key, cond):
    init_key, sample_key = jax.random.split(key)
    y = constrain(jax.random.normal(init_key, cond.shape[:-1] + (3 * cond.shape[-1],), cond.dtype))
    return sampler(lambda y, t: detail_scores[j - 1](y, t, cond), y, times, sample_key), None
  return draw


def sample_coarse_to_fine(key, coarse_shape: Sequence[int], lowpass_score: ScoreFn,
                          detail_scores: Sequence[ConditionalScoreFn], norm: Optional[Normalization],
                          wavelet: str, sampler: Sampler, times, constrain=_identity,
                          detail_draw: Optional[DetailDraw] = None, progress=None) -> PyramidSample:
  """coarse_shape: (N, H/2^J, W/2^J, C). The coarse low-pass by `sampler` from N(0, I) (placed by
  `constrain`), then `refine` with `detail_draw` (default: the same sampler on the conditional scores; WMGM's
  is a single generator pass). Each finished scale is reported to `progress` (report_stage)."""
  levels = len(detail_scores)
  if levels != (norm.levels if norm is not None else 0):
    raise InputError(f"{levels} conditional score functions for a pyramid with "
                     f"J={norm.levels if norm is not None else 0} scales")
  init_key, coarse_key, refine_key = jax.random.split(key, 3)
  x = sampler(lowpass_score, constrain(jax.random.normal(init_key, tuple(coarse_shape))), times, coarse_key)
  report_stage(progress, f"low-pass x_{levels} {x.shape[1]}x{x.shape[2]}", x)
  if levels == 0:
    return PyramidSample(x, ())
  x = norm.lowpass(x, levels, inverse=True)
  draw = detail_draw or sampler_draw(detail_scores, sampler, times, constrain)
  return refine(refine_key, x, levels, draw, norm, wavelet, progress)
