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


def power_spectrum(images: np.ndarray) -> np.ndarray:
  """Mean |FFT|^2 (orthonormal) over a batch of NHWC images and their channels: (H, W)."""
  images = np.asarray(images, np.float64)
  images = images - images.mean(axis=(1, 2), keepdims=True)
  return (np.abs(np.fft.fft2(images, axes=(1, 2), norm="ortho")) ** 2).mean(axis=(0, 3))


def spectrum_error(generated: np.ndarray, reference: np.ndarray) -> float:
  """Mean over radial shells |k| >= 1 of |log(P_generated / P_reference)|: 0 when the spectra agree,
  0.1 for a 10% average mismatch."""
  _, pg = radial_average(power_spectrum(generated))
  _, pr = radial_average(power_spectrum(reference))
  return float(np.mean(np.abs(np.log(pg[1:] / pr[1:]))))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
  """W1 between the empirical distributions of two samples (compared on a common quantile grid)."""
  q = np.linspace(0, 1, min(a.size, b.size, 4096) + 1)[1:-1]
  return float(np.mean(np.abs(np.quantile(a.ravel(), q) - np.quantile(b.ravel(), q))))


def marginal_distance(a: np.ndarray, b: np.ndarray) -> float:
  """W1 of the value histograms, in units of the reference's standard deviation (scale free)."""
  return wasserstein_1d(a, b) / float(np.std(b))


def _blur(images):
  """Binomial [1 4 6 4 1]/16 blur along both spatial axes, periodic boundary."""
  kernel = np.array([1, 4, 6, 4, 1], np.float64) / 16
  for axis in (1, 2):
    images = sum(w * np.roll(images, s, axis=axis) for w, s in zip(kernel, range(-2, 3)))
  return images


def laplacian_pyramid(images: np.ndarray, min_size: int = 8):
  """Band-pass levels (finest first) and the final low-pass, as in ProGAN's sliced Wasserstein metric."""
  levels, x = [], np.asarray(images, np.float64)
  while x.shape[1] >= 2 * min_size:
    low = _blur(x)[:, ::2, ::2]
    levels.append(x - _blur(np.repeat(np.repeat(low, 2, 1), 2, 2)))
    x = low
  return levels + [x]


def _patches(images, size, count, rng):
  n, h, w, c = images.shape
  idx = rng.integers(0, n, count)
  ys, xs = rng.integers(0, h - size + 1, count), rng.integers(0, w - size + 1, count)
  return np.stack([images[i, y:y + size, x:x + size].ravel() for i, y, x in zip(idx, ys, xs)])


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, directions: int, rng: np.random.Generator) -> float:
  """Sliced W1 between two point clouds (rows), averaged over random unit directions."""
  proj = rng.standard_normal((a.shape[1], directions))
  proj /= np.linalg.norm(proj, axis=0, keepdims=True)
  pa, pb = np.sort(a @ proj, axis=0), np.sort(b @ proj, axis=0)
  return float(np.mean(np.abs(pa - pb)))


def laplacian_swd(generated, reference, directions=128, patch=7, patches_per_level=2048, seed=0):
  """Per Laplacian-pyramid level: sliced Wasserstein distance between 7x7 patch descriptors of the two
  image sets, each descriptor normalized by the reference level's mean and std. Returns one value per
  level, finest first (x1e3 is ProGAN's usual reporting unit; here raw)."""
  rng = np.random.default_rng(seed)
  out = []
  for ga, ra in zip(laplacian_pyramid(generated), laplacian_pyramid(reference)):
    size = min(patch, ra.shape[1])
    pa, pr = _patches(ga, size, patches_per_level, rng), _patches(ra, size, patches_per_level, rng)
    mean, std = pr.mean(), pr.std() + 1e-12
    out.append(sliced_wasserstein((pa - mean) / std, (pr - mean) / std, directions, rng))
  return out


def bootstrap(statistic, samples: np.ndarray, resamples: int = 200, seed: int = 0):
  """(statistic(samples), its bootstrap standard error); samples are resampled along axis 0."""
  rng = np.random.default_rng(seed)
  n = len(samples)
  values = [statistic(samples[rng.integers(0, n, n)]) for _ in range(resamples)]
  return float(statistic(samples)), float(np.std(values))


def binder_cumulant(m: np.ndarray) -> float:
  """U4 = 1 - <m^4> / (3 <m^2>^2): 0 for Gaussian m, 2/3 for m = +-const (ordered); 0.6107 at the 2-D
  Ising critical point."""
  m2 = np.mean(m ** 2)
  return float(1 - np.mean(m ** 4) / (3 * m2 ** 2))

