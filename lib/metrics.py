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


def radial_power(images: np.ndarray) -> np.ndarray:
  """Per image: the radially averaged power spectrum (channel mean, mean removed), (N, shells) over the
  integer |k| shells up to the Nyquist radius. Its mean over images is radial_average(power_spectrum(images))."""
  images = np.asarray(images, np.float64)
  n, h, w, _ = images.shape
  images = images - images.mean(axis=(1, 2), keepdims=True)
  power = (np.abs(np.fft.fft2(images, axes=(1, 2), norm="ortho")) ** 2).mean(axis=3).reshape(n, h * w)
  radius = np.rint(np.hypot(*np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij"))).astype(int)
  shells = min(h, w) // 2 + 1
  onehot = (radius.ravel()[:, None] == np.arange(shells)[None]).astype(np.float64)
  return power @ (onehot / onehot.sum(axis=0))


def log_spectrum_distance(generated_power: np.ndarray, reference_power: np.ndarray) -> float:
  """Mean over shells |k| >= 1 of |log(P_generated / P_reference)| for two mean radial spectra."""
  return float(np.mean(np.abs(np.log(generated_power[1:] / reference_power[1:]))))


def log_spectrum_error(generated: np.ndarray, reference: np.ndarray) -> float:
  """The learned models' empirical spectral metric (the "log-spectrum error"): mean over radial shells |k| >= 1 of
  |log(P_generated / P_reference)|; 0 when the spectra agree, 0.1 for a 10% average mismatch. (The Gaussian
  experiment's exact metric is a different quantity, the "max relative spectral error" max_k |P/P_true - 1|.)"""
  return log_spectrum_distance(radial_power(generated).mean(0), radial_power(reference).mean(0))


def shell_log_ratios(generated, target, paired, resamples: int = 200, seed: int = 0):
  """Per shell |k| >= 1: log of the mean radial power ratio, its bootstrap se, and the log-spectrum error
  (mean |log ratio| over shells) with its se. The bootstrap (`bootstrap`) resamples the generated images only,
  the target held fixed, as the evaluation does (the target's own noise is the noise floor's business); paired
  (generated[i] made from target[i]'s low-pass): the same indices resample both."""
  pg, pt = radial_power(generated)[:, 1:], radial_power(target)[:, 1:]
  pt_mean = pt.mean(0)

  def statistic(s):
    ratio = np.log(s["g"].mean(0) / (s["t"].mean(0) if paired else pt_mean))
    return {"log_ratio": ratio, "error": np.abs(ratio).mean()}

  value, se = bootstrap(statistic, {"g": pg, "t": pt} if paired else {"g": pg}, resamples, seed)
  return {"log_ratio": value["log_ratio"].tolist(), "log_ratio_se": se["log_ratio"].tolist(),
          "error": value["error"], "error_se": se["error"]}


def quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
  """np.quantile(values, q) (linear interpolation) by one full sort: far faster than its partition for
  thousands of q."""
  v = np.sort(np.asarray(values, np.float64).ravel())
  pos = q * (v.size - 1)
  lo = np.floor(pos).astype(int)
  hi = np.minimum(lo + 1, v.size - 1)
  return v[lo] + (pos - lo) * (v[hi] - v[lo])


def quantile_grid(size: int) -> np.ndarray:
  """The common grid on which two value distributions are compared: min(size, 4096) - 1 inner points."""
  return np.linspace(0, 1, min(size, 4096) + 1)[1:-1]


def quantile_w1(values: np.ndarray, reference_quantiles: np.ndarray, q: np.ndarray) -> float:
  """W1 between the empirical distribution of `values` and a reference given by its quantiles at q."""
  return float(np.mean(np.abs(quantiles(values, q) - reference_quantiles)))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
  """W1 between the empirical distributions of two samples (compared on a common quantile grid)."""
  q = quantile_grid(min(a.size, b.size))
  return quantile_w1(a, quantiles(b, q), q)


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


def patches(images: np.ndarray, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
  """count random size x size patches (rows, flattened) of NHWC images, periodic wrap."""
  n, h, w, _ = images.shape
  idx, ys, xs = rng.integers(0, n, count), rng.integers(0, h, count), rng.integers(0, w, count)
  rows = (ys[:, None] + np.arange(size)[None]) % h
  cols = (xs[:, None] + np.arange(size)[None]) % w
  return images[idx[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(count, -1)


def unit_directions(dim: int, count: int, rng: np.random.Generator) -> np.ndarray:
  """count random unit vectors in R^dim, as columns."""
  proj = rng.standard_normal((dim, count))
  return proj / np.linalg.norm(proj, axis=0, keepdims=True)


def swd_bank(reference_levels, draws: int, directions: int, patch: int, count: int, seed: int) -> list:
  """The reference side of the Laplacian sliced Wasserstein distance, fixed once per evaluation: for each of
  `draws` independent draws and each level, `count` random patches (side min(patch, level size)) normalized by
  their mean and std, `directions` random unit directions, and the sorted projections."""
  rng = np.random.default_rng(seed)
  bank = []
  for _ in range(draws):
    per_level = []
    for level in reference_levels:
      size = min(patch, level.shape[1])
      p = patches(level, size, count, rng)
      mean, std = p.mean(), p.std() + 1e-12
      proj = unit_directions(p.shape[1], directions, rng)
      per_level.append((size, mean, std, proj, np.sort((p - mean) / std @ proj, axis=0)))
    bank.append(per_level)
  return bank


def swd_draws(levels, bank, seed: int) -> np.ndarray:
  """(draws, levels): sliced W1 between patches of `levels` (Laplacian levels of the generated images, finest
  first) and each draw of the reference bank, in the reference's normalized units."""
  rng = np.random.default_rng(seed)
  return np.array([[np.mean(np.abs(np.sort((patches(x, size, len(ref), rng) - mean) / std @ proj, axis=0) - ref))
                    for x, (size, mean, std, proj, ref) in zip(levels, per_level)] for per_level in bank])


def laplacian_swd(generated, reference, directions=128, patch=7, patches_per_level=2048, seed=0, draws=1):
  """Per Laplacian-pyramid level (finest first): the sliced Wasserstein distance between 7x7 patch
  descriptors of the two image sets (ProGAN's metric; x1e3 is its usual reporting unit, here raw), averaged
  over `draws` draws of patches and directions."""
  bank = swd_bank(laplacian_pyramid(reference), draws, directions, patch, patches_per_level, seed)
  return list(swd_draws(laplacian_pyramid(generated), bank, seed + 1).mean(axis=0))


def bootstrap(statistic, samples, resamples: int = 200, seed: int = 0, value=None):
  """(statistic(samples), its bootstrap standard error); samples (an array, or a dict of arrays with one
  leading axis of the same length) are resampled with replacement along axis 0. A statistic returning a
  dict of floats gets a dict of standard errors; an array-valued statistic (or dict entry) gets an array of
  them, element by element. value: statistic(samples), when the caller has it."""
  rng = np.random.default_rng(seed)
  n = len(samples) if not isinstance(samples, dict) else len(next(iter(samples.values())))
  take = (lambda i: samples[i]) if not isinstance(samples, dict) else (lambda i: {k: v[i] for k, v in samples.items()})
  value = statistic(samples) if value is None else value
  values = [statistic(take(rng.integers(0, n, n))) for _ in range(resamples)]
  if isinstance(value, dict):
    return ({k: _float_or_array(v) for k, v in value.items()},
            {k: _float_or_array(np.std([v[k] for v in values], axis=0)) for k in value})
  return _float_or_array(value), _float_or_array(np.std(values, axis=0))


def _float_or_array(v):
  """A scalar statistic as a float, a vector one (e.g. per shell) as a float array."""
  return float(v) if np.ndim(v) == 0 else np.asarray(v, np.float64)


def record(value: float, se: float, floor=None, floor_se=None, **extra) -> dict:
  """One evaluation record: a metric's value and bootstrap standard error over samples, and its noise floor
  (the same metric between two disjoint real sets of the sample size) with the floor's own error. `within`:
  value <= floor + 2 sqrt(se^2 + floor_se^2), i.e. not resolved from perfect samples; None without a floor."""
  within = None if floor is None else bool(value <= floor + 2 * np.hypot(se, floor_se))
  return dict(value=value, se=se, floor=floor, floor_se=floor_se, within=within, **extra)


def binder_cumulant(m: np.ndarray) -> float:
  """U4 = 1 - <m^4> / (3 <m^2>^2): 0 for Gaussian m, 2/3 for m = +-const (ordered); 0.6107 at the 2-D
  Ising critical point."""
  m2 = np.mean(m ** 2)
  return float(1 - np.mean(m ** 4) / (3 * m2 ** 2))

