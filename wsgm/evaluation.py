"""`--mode=eval` for generative methods (WSGM, WMGM; LCM's synthesis reuses `compare`): generate samples with
the method's models and compare them with held-out data, at the config's steps per scale or over a sweep.

Metrics (lib/metrics.py): radially averaged power-spectrum error, W1 distance of pixel and of per-scale
wavelet-coefficient histograms (per band, in units of the data's std), and the sliced Wasserstein distance
between Laplacian-pyramid patches; on phi^4, the physics observables with bootstrap errors.
One N: writes WORKDIR/eval/<config.name>.json, spectra.png, samples.png.

Sweep (eval.steps_sweep = (4, 8, ...)): for every N the same held-out reference, fresh samples, the metrics
and seconds per sample. `steps to quality` is the smallest N at which the power-spectrum error is
<= eval.spectral_threshold and (phi^4) |U4 - U4_data| <= eval.u4_tolerance; None when no N reaches it.
Writes WORKDIR/eval/<phi4 | config name>_steps.json, quality.png (metrics vs N, every N's radial spectrum and
value histogram over the data's) and fields.png (rows: data, then the samples of the smallest and of the
largest N).
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, metrics, outputs, phi4, plots
from wsgm import sampling, wavelets
from wsgm.methods import Method

BANDS = ("H", "V", "D")


def reference_images(config, num: int) -> np.ndarray:
  """num held-out images (fewer if the test split is smaller), a seeded random subset: splits can be
  ordered (textures come photo by photo), and a prefix would not represent the whole set."""
  if config.data.name in data.EMBEDDED:
    test = data.load_array(config.data, "test")
    return test[np.random.default_rng(config.seed).permutation(len(test))[:num]]
  return next(data.batches(config.data, "test", num, config.data.seed))


def coefficient_distances(generated, reference, wavelet: str, levels: int) -> dict:
  """{"scale_j/band": W1 / std} for every detail band of scales 1..levels, and the final low-pass."""
  gp = wavelets.decompose(jnp.asarray(generated), wavelet, levels)
  rp = wavelets.decompose(jnp.asarray(reference), wavelet, levels)
  out = {}
  channels = generated.shape[-1]
  for j, (g, r) in enumerate(zip(gp.details, rp.details), start=1):
    for b, band in enumerate(BANDS):
      sl = slice(b * channels, (b + 1) * channels)
      out[f"scale_{j}/{band}"] = metrics.marginal_distance(np.asarray(g[..., sl]), np.asarray(r[..., sl]))
  out[f"lowpass_{levels}"] = metrics.marginal_distance(np.asarray(gp.lowpass), np.asarray(rp.lowpass))
  return out


def compare(generated: np.ndarray, reference: np.ndarray, config) -> dict:
  levels = max(config.pyramid.levels, 1)     # J = 0 baselines are judged on the same wavelet scales
  wavelet = config.pyramid.wavelet
  return dict(
      spectrum_error=metrics.spectrum_error(generated, reference),
      pixel_histogram=metrics.marginal_distance(generated, reference),
      coefficient_histograms=coefficient_distances(generated, reference, wavelet, levels),
      swd=metrics.laplacian_swd(generated, reference, config.eval.swd_directions, seed=config.seed),
  )


def plot_spectra(generated, reference, path, title):
  fig, axes = plots.new_figure(1)
  for name, imgs, style in (("data", reference, "k-"), ("samples", generated, "C1--")):
    k, p = metrics.radial_average(metrics.power_spectrum(imgs))
    axes[0].loglog(k[1:], p[1:], style, label=name)
  axes[0].set(xlabel="|k|", ylabel="power", title=title)
  axes[0].legend()
  plots.save(fig, path)


def evaluate(config, workdir: str, method: Method) -> None:
  method.validate(config)
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  reference = reference_images(config, config.eval.num_samples)
  if config.eval.steps_sweep:
    sweep(config, workdir, method, reference)
    return
  generated, _, seconds = sampling.generate(config, workdir, len(reference), jax.random.key(config.seed + 1),
                                            reference.shape[-1], method)
  result = dict(config=config.name, levels=config.pyramid.levels, steps_per_scale=config.sampling.steps,
                sampler=config.sampling.sampler, num_samples=len(generated), seconds_per_image=seconds, **compare(generated, reference, config))
  if config.data.name == "phi4":   # physics observables, (value, bootstrap error), samples vs MCMC
    c = config.data.phi4
    result["phi4"] = {who: phi4.observables(x, c.beta, c.lam) for who, x in (("samples", generated), ("data", reference))}
  path = outputs.write_json_run(out_dir, config.name, result)
  plot_spectra(generated, reference, os.path.join(out_dir, "spectra.png"),
               f"{config.name}: J={config.pyramid.levels}, {config.sampling.steps} steps/scale")
  image_io.save_grid(os.path.join(out_dir, "samples.png"), generated[:64])
  image_io.save_grid(os.path.join(out_dir, "data.png"), reference[:64])
  print(json.dumps({k: v for k, v in result.items() if k != "coefficient_histograms"}, indent=1))
  print(f"wrote {path} (and {out_dir}/{config.name}.json, the newest), spectra.png, samples.png, data.png")


def _row(config, generated, reference, seconds):
  row = dict(steps=config.sampling.steps, seconds_per_sample=seconds, **compare(generated, reference, config))
  if config.data.name == "phi4":
    c = config.data.phi4
    row["phi4"] = phi4.observables(generated, c.beta, c.lam)
  return row


def steps_to_quality(rows, config, data_u4):
  for row in rows:
    ok = row["spectrum_error"] <= config.eval.spectral_threshold
    if data_u4 is not None:
      ok = ok and abs(row["phi4"]["binder_u4"][0] - data_u4) <= config.eval.u4_tolerance
    if ok:
      return row["steps"]
  return None


def plot_sweep(rows, reference, samples, out_dir, title):
  fig, axes = plots.new_figure(3, width=4.2)
  ns = [r["steps"] for r in rows]
  axes[0].plot(ns, [r["spectrum_error"] for r in rows], "o-", label="spectrum error")
  axes[0].plot(ns, [r["pixel_histogram"] for r in rows], "s--", label="value histogram W1 / std")
  if "phi4" in rows[0]:
    axes[0].plot(ns, [abs(r["phi4"]["binder_u4"][0] - r["data_u4"]) + 1e-4 for r in rows], "^:", label="|U4 - U4 data|")
  axes[0].set(yscale="log", xlabel="steps per scale N", title=title)
  plots.log_axis_ticks(axes[0], ns)
  axes[0].legend(fontsize=8)
  colors = plots.plt.cm.viridis(np.linspace(0, 1, len(rows)))
  k, p = metrics.radial_average(metrics.power_spectrum(reference))
  axes[1].loglog(k[1:], p[1:], "k-", lw=2, label="data")
  hist_range = np.percentile(reference, [0.1, 99.9])
  bins = np.linspace(*hist_range, 60)
  axes[2].hist(reference.ravel(), bins, density=True, histtype="step", color="k", lw=2, label="data")
  for row, images, color in zip(rows, samples, colors):
    k, p = metrics.radial_average(metrics.power_spectrum(images))
    axes[1].loglog(k[1:], p[1:], color=color, label=f"N={row['steps']}")
    axes[2].hist(np.clip(images.ravel(), *hist_range), bins, density=True, histtype="step", color=color)
  axes[1].set(xlabel="|k|", ylabel="power", title="radial power spectrum")
  axes[1].legend(fontsize=7)
  axes[2].set(xlabel="value", yscale="log", title="marginal histogram")
  plots.save(fig, os.path.join(out_dir, "quality.png"))


def sweep(config, workdir, method: Method, reference: np.ndarray) -> dict:
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  data_u4 = None
  if config.data.name == "phi4":
    c = config.data.phi4
    data_obs = phi4.observables(reference, c.beta, c.lam)
    data_u4 = data_obs["binder_u4"][0]
  rows, samples = [], []
  for n in config.eval.steps_sweep:
    run = config.copy_and_resolve_references()
    run.sampling.steps = n
    generated, _, seconds = sampling.generate(run, workdir, len(reference), jax.random.key(config.seed + 1),
                                              reference.shape[-1], method)
    rows.append(_row(run, generated, reference, seconds))
    if data_u4 is not None:
      rows[-1]["data_u4"] = data_u4
    samples.append(generated)
    summary = {k: v for k, v in rows[-1].items() if k not in ("coefficient_histograms", "swd")}
    print(json.dumps(summary), flush=True)
  reached = steps_to_quality(rows, config, data_u4)
  result = dict(config=config.name, levels=config.pyramid.levels, num_samples=len(reference), rows=rows,
                steps_to_quality=reached, spectral_threshold=config.eval.spectral_threshold,
                u4_tolerance=config.eval.u4_tolerance if data_u4 is not None else None)
  if data_u4 is not None:
    result["data_phi4"] = data_obs
  name = "phi4" if config.data.name == "phi4" else f"{config.name}_steps"
  path = outputs.write_json_run(out_dir, name, result)
  plot_sweep(rows, reference, samples, out_dir, f"{config.name} (J={config.pyramid.levels})")
  lo, hi = (-3, 3) if config.data.name == "phi4" else (-1, 1)
  image_io.save_grid(os.path.join(out_dir, "fields.png"),
                     np.concatenate([reference[:8], samples[0][:8], samples[-1][:8]]), lo=lo, hi=hi)
  print(f"{config.name}: steps to quality (spectrum error <= {config.eval.spectral_threshold}"
        + (f", |U4 - {data_u4:.3f}| <= {config.eval.u4_tolerance}" if data_u4 is not None else "")
        + f"): {reached if reached is not None else 'not reached for N <= ' + str(max(config.eval.steps_sweep))}")
  print(f"wrote {path} (and {out_dir}/{name}.json, the newest), quality.png, fields.png")
  return result
