"""Orthonormal periodic 2-D wavelet pyramid on NHWC batches, and its per-scale normalization.

Conventions (WSGM paper, section 3): x_0 is the image; for j = 1..J one DWT level maps the low-pass
x_{j-1} (H x W x C) to the low-pass x_j (H/2 x W/2 x C) and the details xbar_j (H/2 x W/2 x 3C).
Details are packed band-major on the channel axis: channel b*C + c is band b of input channel c, with
bands in PyWavelets order (horizontal, vertical, diagonal) = pywt's (cH, cV, cD), same signs.

jaxwt has no periodization mode, so one level wrap-pads by F/2 - 1 samples (F = filter length), runs
jaxwt's zero-padded transform and crops: the result equals pywt `mode="periodization"` exactly (tested).
The inverse is the linear transpose of the analysis: for an orthonormal periodic transform the adjoint
is the inverse, so there is one filter implementation to trust, not two.
"""
from typing import NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import jaxwt
import numpy as np
import pywt

from lib import outputs
from lib.errors import InputError


class Pyramid(NamedTuple):
  lowpass: jax.Array                 # x_J, (N, H/2^J, W/2^J, C)
  details: Tuple[jax.Array, ...]     # (xbar_1, ..., xbar_J), finest first; xbar_j is (N, H/2^j, W/2^j, 3C)


def check_wavelet(name: str) -> pywt.Wavelet:
  if name not in pywt.wavelist(kind="discrete"):
    raise InputError(f"unknown wavelet {name!r}: use an orthogonal PyWavelets name such as 'haar', 'db2', 'db4'")
  wavelet = pywt.Wavelet(name)
  if not wavelet.orthogonal:
    raise InputError(f"wavelet {name!r} is not orthogonal; the pyramid needs an orthonormal transform")
  return wavelet


def check_levels(size: Sequence[int], levels: int) -> None:
  """Raises ValueError unless every spatial size halves exactly `levels` times (levels >= 1)."""
  if levels < 1:
    raise InputError(f"wavelet levels J={levels}: need J >= 1")
  for n in size:
    if n % (2 ** levels):
      raise InputError(f"image size {n} is not divisible by 2^J = {2 ** levels} (J={levels})")


def _to_planes(x):   # NHWC -> (N, C, H, W): jaxwt transforms the last two axes
  return jnp.transpose(x, (0, 3, 1, 2))


def _from_planes(x):
  return jnp.transpose(x, (0, 2, 3, 1))


def _analysis(x: jax.Array, wavelet: pywt.Wavelet) -> Tuple[jax.Array, jax.Array]:
  n, h, w, c = x.shape
  pad = wavelet.dec_len // 2 - 1
  planes = jnp.pad(_to_planes(x), ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="wrap")
  low, (ch, cv, cd) = jaxwt.wavedec2(planes, wavelet, mode="zero", level=1)
  crop = lambda a: _from_planes(a[..., pad:pad + h // 2, pad:pad + w // 2])
  return crop(low), jnp.concatenate([crop(ch), crop(cv), crop(cd)], axis=-1)


def dwt(x: jax.Array, wavelet: str) -> Tuple[jax.Array, jax.Array]:
  """One level: x_{j-1} (N,H,W,C) -> (x_j (N,H/2,W/2,C), xbar_j (N,H/2,W/2,3C))."""
  check_levels(x.shape[1:3], 1)
  return _analysis(x, check_wavelet(wavelet))


def idwt(lowpass: jax.Array, details: jax.Array, wavelet: str) -> jax.Array:
  """Inverse of `dwt`: (x_j, xbar_j) -> x_{j-1}."""
  n, h, w, c = lowpass.shape
  if details.shape != (n, h, w, 3 * c):
    raise InputError(f"details shape {details.shape} does not match low-pass {lowpass.shape} (need 3C channels)")
  filters = check_wavelet(wavelet)
  template = jax.ShapeDtypeStruct((n, 2 * h, 2 * w, c), lowpass.dtype)
  (x,) = jax.linear_transpose(lambda y: _analysis(y, filters), template)((lowpass, details))
  return x


def decompose(x: jax.Array, wavelet: str, levels: int) -> Pyramid:
  """x_0 (N,H,W,C) -> Pyramid(x_J, (xbar_1..xbar_J))."""
  check_levels(x.shape[1:3], levels)
  details = []
  for _ in range(levels):
    x, d = dwt(x, wavelet)
    details.append(d)
  return Pyramid(x, tuple(details))


def reconstruct(pyramid: Pyramid, wavelet: str) -> jax.Array:
  x = pyramid.lowpass
  for d in reversed(pyramid.details):
    x = idwt(x, d, wavelet)
  return x


def lowpasses(x: jax.Array, wavelet: str, levels: int) -> Tuple[jax.Array, ...]:
  """(x_1, ..., x_J): the low-pass at every scale, the conditioning inputs of the per-scale models."""
  check_levels(x.shape[1:3], levels)
  out = []
  for _ in range(levels):
    x, _ = dwt(x, wavelet)
    out.append(x)
  return tuple(out)


class PyramidStats(NamedTuple):
  """Per-scale, per-channel statistics; row j-1 belongs to scale j (x_j and xbar_j)."""
  low_mean: np.ndarray      # (J, C)
  low_std: np.ndarray       # (J, C)
  detail_mean: np.ndarray   # (J, 3C)
  detail_std: np.ndarray    # (J, 3C)

  @property
  def levels(self) -> int:
    return self.low_mean.shape[0]


def fit_stats(x: jax.Array, wavelet: str, levels: int) -> PyramidStats:
  """Per-channel mean/std of every low-pass x_j and detail band xbar_j over a batch of data."""
  check_levels(x.shape[1:3], levels)
  rows = {k: [] for k in PyramidStats._fields}
  for j in range(1, levels + 1):
    x, d = dwt(x, wavelet)
    for name, a in (("low", x), ("detail", d)):
      std = np.asarray(jnp.std(a, axis=(0, 1, 2)), np.float64)
      if np.any(std <= 0):
        raise InputError(f"scale j={j}: {name} channel(s) {np.flatnonzero(std <= 0).tolist()} are constant "
                         "over the fitting batch; cannot standardize")
      rows[f"{name}_mean"].append(np.asarray(jnp.mean(a, axis=(0, 1, 2)), np.float64))
      rows[f"{name}_std"].append(std)
  return PyramidStats(**{k: np.stack(v) for k, v in rows.items()})


def _standardize(a, mean, std, inverse):
  mean, std = jnp.asarray(mean, a.dtype), jnp.asarray(std, a.dtype)
  return a * std + mean if inverse else (a - mean) / std


def normalize_lowpass(x: jax.Array, stats: PyramidStats, scale: int, inverse: bool = False) -> jax.Array:
  """Standardize x_j (or undo it with inverse=True); scale j in 1..J."""
  return _standardize(x, stats.low_mean[scale - 1], stats.low_std[scale - 1], inverse)


def normalize_details(d: jax.Array, stats: PyramidStats, scale: int, inverse: bool = False) -> jax.Array:
  """Standardize xbar_j (or undo it with inverse=True); scale j in 1..J."""
  return _standardize(d, stats.detail_mean[scale - 1], stats.detail_std[scale - 1], inverse)


def save_stats(path: str, stats: PyramidStats) -> None:
  outputs.save_npz(path, **stats._asdict())   # atomic: never a half-written stats file


def load_stats(path: str) -> PyramidStats:
  with np.load(path) as data:
    return PyramidStats(**{k: data[k] for k in PyramidStats._fields})
