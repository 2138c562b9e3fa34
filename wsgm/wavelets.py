"""Orthonormal periodic 2-D wavelet pyramid on NHWC batches (the normalizations the models see: wsgm/pyramid.py).

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
import pywt

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


def analyze(x: jax.Array, wavelet: str, levels: int) -> Tuple[Tuple[jax.Array, ...], Tuple[jax.Array, ...]]:
  """x_0 -> ((x_1, ..., x_J), (xbar_1, ..., xbar_J)): every low-pass and every detail band, finest first."""
  check_levels(x.shape[1:3], levels)
  lows, details = [], []
  for _ in range(levels):
    x, d = dwt(x, wavelet)
    lows.append(x)
    details.append(d)
  return tuple(lows), tuple(details)


def decompose(x: jax.Array, wavelet: str, levels: int) -> Pyramid:
  """x_0 (N,H,W,C) -> Pyramid(x_J, (xbar_1..xbar_J))."""
  lows, details = analyze(x, wavelet, levels)
  return Pyramid(lows[-1], details)


def reconstruct(pyramid: Pyramid, wavelet: str) -> jax.Array:
  """Inverse of `decompose`."""
  x = pyramid.lowpass
  for d in reversed(pyramid.details):
    x = idwt(x, d, wavelet)
  return x


def lowpasses(x: jax.Array, wavelet: str, levels: int) -> Tuple[jax.Array, ...]:
  """(x_1, ..., x_J): the low-pass at every scale, the conditioning inputs of the per-scale models."""
  return analyze(x, wavelet, levels)[0]
