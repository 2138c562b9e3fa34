"""Exact-score SGM vs WSGM on stationary 1/|omega|^2 fields: how many EM steps does each need as L grows?

For every size L, steps N and horizon T, the output law of each sampler is computed in closed form
(wsgm/gaussian.py), then summarized by its KL per dimension to the true field and its max relative
power-spectrum error. A Monte-Carlo run of the real jitted samplers cross-checks the closed form.
Writes WORKDIR/eval/gaussian.json (records), gaussian_mc.json (cross-check) and gaussian.png.
"""
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import metrics, outputs, plots
from lib.errors import InputError
from wsgm import gaussian, pyramid, sde, solvers

METRICS = ("spectral_error", "kl_per_dim")


def _levels(size: int, lowpass_size: int) -> int:
  levels = int(np.log2(size // lowpass_size)) if size >= lowpass_size else 0
  if levels < 1 or lowpass_size * 2 ** levels != size:
    raise InputError(f"gaussian.sizes entry {size}: must be lowpass_size={lowpass_size} times 2^J, J >= 1")
  return levels


def _validate(config) -> None:
  if config.sampling.sampler != "euler_maruyama":
    raise InputError(f"sampling.sampler={config.sampling.sampler!r}: the Gaussian closed form is derived "
                     "for 'euler_maruyama' only")
  for size in config.gaussian.sizes:
    _levels(size, config.gaussian.lowpass_size)
  _levels(config.gaussian.mc_size, config.gaussian.lowpass_size)


def exact_records(config):
  """One record per (method, L, steps, T)."""
  g = config.gaussian
  records = []
  for size in g.sizes:
    start = time.time()
    spectrum = gaussian.target_spectrum(size)
    levels = _levels(size, g.lowpass_size)
    blocks = gaussian.wavelet_blocks(spectrum, config.pyramid.wavelet, levels)
    for steps in g.steps:
      for T in g.T_values:
        times = np.asarray(sde.time_grid(config.sampling.time_grid, steps, T), np.float64)
        for method, out in (("sgm", gaussian.sgm_output(spectrum, times)),
                            ("wsgm", gaussian.wsgm_output(spectrum, blocks, times))):
          records.append(dict(method=method, L=size, steps=steps, T=T, levels=levels if method == "wsgm" else 0,
                              kl_per_dim=out.kl_per_dim, spectral_error=out.spectral_error))
    logging.info("L=%d (J=%d): %d configurations in %.1fs", size, levels, 2 * len(g.steps) * len(g.T_values),
                 time.time() - start)
  return records


def best_over_T(records, method, size, metric):
  """{steps: (best value over T, its T)}."""
  best = {}
  for r in records:
    if r["method"] == method and r["L"] == size and (r["steps"] not in best or r[metric] < best[r["steps"]][0]):
      best[r["steps"]] = (r[metric], r["T"])
  return dict(sorted(best.items()))


def steps_to_threshold(records, method, size, metric, threshold):
  """Steps per scale needed for the best-T value to reach `threshold`, interpolated linearly in
  log(steps) vs log(value) between the two grid points that bracket it, so that the answer does not jump by
  a factor 2 when a curve grazes the threshold. None if no N in the grid reaches it."""
  best = [(n, v) for n, (v, _) in best_over_T(records, method, size, metric).items()]
  for i, (n, v) in enumerate(best):
    if v <= threshold:
      if i == 0:
        return float(n)
      (n0, v0) = best[i - 1]
      frac = np.log(v0 / threshold) / np.log(v0 / v)
      return float(np.exp(np.log(n0) + frac * np.log(n / n0)))
  return None


def format_table(records, config) -> str:
  g = config.gaussian
  head = (f"steps per scale to reach spectral error <= {g.spectral_threshold} | KL/dim <= {g.kl_threshold} "
          f"(best T in {tuple(g.T_values)}; log-log interpolation between grid values of N)")
  cols = f"{'L':>5} | {'SGM spec':>9} {'WSGM spec':>9} | {'SGM KL':>9} {'WSGM KL':>9}"
  lines = [head, cols, "-" * len(cols)]

  def cell(method, size, metric, threshold):
    n = steps_to_threshold(records, method, size, metric, threshold)
    return f">{max(g.steps)}" if n is None else f"{n:.0f}"

  for size in g.sizes:
    lines.append(f"{size:>5} | {cell('sgm', size, 'spectral_error', g.spectral_threshold):>9} "
                 f"{cell('wsgm', size, 'spectral_error', g.spectral_threshold):>9} | "
                 f"{cell('sgm', size, 'kl_per_dim', g.kl_threshold):>9} "
                 f"{cell('wsgm', size, 'kl_per_dim', g.kl_threshold):>9}")
  return "\n".join(lines)


def monte_carlo_check(config, key):
  """Sample with the real jitted samplers (exact scores) and compare empirical spectra with the closed form.

  Each |xhat(k)|^2 averaged over n samples has relative standard error ~ 1/sqrt(n) (complex modes), so
  the max over modes of |empirical / closed form - 1| should be a few times 1/sqrt(n)."""
  g = config.gaussian
  size, n = g.mc_size, g.mc_samples
  spectrum = gaussian.target_spectrum(size)
  levels = _levels(size, g.lowpass_size)
  blocks = gaussian.wavelet_blocks(spectrum, config.pyramid.wavelet, levels)
  times = sde.time_grid(config.sampling.time_grid, g.mc_steps, config.sde.T)
  times64 = np.asarray(times, np.float64)
  coarse = blocks[-1]
  sgm_key, wsgm_key, init_key = jax.random.split(key, 3)

  @jax.jit
  def sample_sgm(k):
    x = jax.random.normal(init_key, (n, size, size, 1))
    return solvers.euler_maruyama(gaussian.stationary_score_fn(spectrum), x, times, k)

  @jax.jit
  def sample_wsgm(k):
    return pyramid.sample_coarse_to_fine(
        k, (n, coarse.lowpass_spectrum.shape[0], coarse.lowpass_spectrum.shape[1], 1),
        gaussian.stationary_score_fn(coarse.lowpass_spectrum / coarse.low_std ** 2),
        [gaussian.conditional_score_fn(b) for b in blocks], gaussian.exact_stats(blocks),
        config.pyramid.wavelet, solvers.euler_maruyama, times).image

  result = dict(L=size, steps=g.mc_steps, T=config.sde.T, samples=n, standard_error=1 / np.sqrt(n))
  spectra = {"true": spectrum}
  for method, sample, closed in (("sgm", lambda: sample_sgm(sgm_key), gaussian.sgm_output(spectrum, times64)),
                                 ("wsgm", lambda: sample_wsgm(wsgm_key),
                                  gaussian.wsgm_output(spectrum, blocks, times64))):
    empirical = np.asarray(jnp.mean(jnp.abs(gaussian.fourier(sample())[..., 0]) ** 2, axis=0), np.float64)
    result[method] = dict(max_rel_dev_closed_form=float(np.abs(empirical / closed.spectrum - 1).max()),
                          max_rel_dev_true=float(np.abs(empirical / spectrum - 1).max()))
    spectra[f"{method} closed form"], spectra[f"{method} Monte Carlo"] = closed.spectrum, empirical
  return result, spectra


def plot(records, config, mc_spectra, path):
  g = config.gaussian
  fig, axes = plots.new_figure(3)
  colors = dict(zip(g.sizes, ["C0", "C1", "C2", "C3", "C4", "C5"]))
  for ax, metric in zip(axes, METRICS):
    for size in g.sizes:
      for method, style in (("sgm", "-"), ("wsgm", "--")):
        best = best_over_T(records, method, size, metric)
        ax.loglog(list(best), [v for v, _ in best.values()], style, marker="o", ms=3, color=colors[size],
                  label=f"{method.upper()} L={size}")
    ax.axhline(g.spectral_threshold if metric == "spectral_error" else g.kl_threshold, color="gray", lw=0.8)
    ax.set(xlabel="steps per scale N", ylabel=f"{metric} (best T)", title=f"{metric} vs N (solid SGM, dashed WSGM)")
  axes[0].legend(fontsize=7, ncol=2)
  ax = axes[2]
  for (name, spec), style in zip(mc_spectra.items(), ["k-", "C0-", "C0o", "C1-", "C1o"]):
    k, prof = metrics.radial_average(spec)
    ax.loglog(k[1:], prof[1:], style, ms=4, label=name)
  ax.set(xlabel="|k|", ylabel="power", title=f"Monte-Carlo check, L={g.mc_size}, N={g.mc_steps}")
  ax.legend(fontsize=7)
  plots.save(fig, path)


def evaluate(config, workdir: str) -> None:
  _validate(config)
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  records = exact_records(config)
  mc, mc_spectra = monte_carlo_check(config, jax.random.key(config.seed))
  outputs.write_json_run(out_dir, "gaussian", records)
  outputs.write_json_run(out_dir, "gaussian_mc", mc)
  plot(records, config, mc_spectra, os.path.join(out_dir, "gaussian.png"))
  print(format_table(records, config))
  print(f"Monte-Carlo check (L={mc['L']}, N={mc['steps']}, {mc['samples']} samples, 1/sqrt(n)="
        f"{mc['standard_error']:.3f}): max |empirical/closed form - 1| SGM "
        f"{mc['sgm']['max_rel_dev_closed_form']:.3f}, WSGM {mc['wsgm']['max_rel_dev_closed_form']:.3f} "
        f"(vs the true spectrum: {mc['sgm']['max_rel_dev_true']:.2f}, {mc['wsgm']['max_rel_dev_true']:.2f})")
  print(f"wrote {out_dir}/gaussian.json, gaussian_mc.json, gaussian.png")
