"""Image grids as PNG files, for looking at samples."""
import numpy as np
from PIL import Image

from lib import outputs


def to_uint8(images: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
  return (np.clip((np.asarray(images, np.float32) - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)


def grid(images: np.ndarray, ncols: int = 8, pad: int = 1, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
  """(N, H, W, C) -> one (rows*(H+pad), ncols*(W+pad), C) uint8 mosaic, values mapped from [lo, hi]."""
  images = to_uint8(images, lo, hi)
  n, h, w, c = images.shape
  ncols = min(ncols, n)
  rows = -(-n // ncols)
  out = np.full((rows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
  for i, im in enumerate(images):
    r, col = divmod(i, ncols)
    out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = im
  return out


def viewable_grid(images: np.ndarray, ncols: int = 8, scale: int = 0, lo: float = -1.0, hi: float = 1.0):
  """`grid`, small images upscaled (nearest) to about 64 px so they can be seen: (H', W', C) uint8."""
  scale = scale or max(1, 64 // images.shape[1])
  return grid(images, ncols, lo=lo, hi=hi).repeat(scale, 0).repeat(scale, 1)


def save_grid(path: str, images: np.ndarray, ncols: int = 8, scale: int = 0, lo: float = -1.0, hi: float = 1.0):
  """Writes `viewable_grid` as a PNG."""
  mosaic = viewable_grid(images, ncols, scale, lo, hi)
  image = Image.fromarray(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic)
  outputs.atomic_write(path, lambda f: image.save(f, format="PNG"))
