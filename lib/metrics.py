"""Image and field statistics used by the evaluations."""
import numpy as np


def radial_average(power: np.ndarray):
  """Radially average a 2-D spectrum indexed in np.fft order over integer |k| shells.
  Returns (|k| values, mean power per shell); shells up to the Nyquist radius only."""
  h, w = power.shape
  ky = np.fft.fftfreq(h) * h
  kx = np.fft.fftfreq(w) * w
  radius = np.rint(np.hypot(ky[:, None], kx[None, :])).astype(int)
  counts = np.bincount(radius.ravel())
  sums = np.bincount(radius.ravel(), weights=power.ravel())
  keep = np.arange(min(h, w) // 2 + 1)
  return keep, sums[keep] / counts[keep]
