"""`--mode=eval` for learned models: generate samples and compare them with held-out data.

Metrics (lib/metrics.py): radially averaged power-spectrum error, W1 distance of pixel and of per-scale
wavelet-coefficient histograms (per band, in units of the data's std), and the sliced Wasserstein distance
between Laplacian-pyramid patches. Writes WORKDIR/eval/<config.name>.json, spectra.png, samples.png.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, metrics, outputs, phi4, plots
from wsgm import sampling, steps_sweep, wavelets

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


def evaluate(config, workdir: str, generation: sampling.Generation = sampling.WSGM) -> None:
  generation.method.validate(config)
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  reference = reference_images(config, config.eval.num_samples)
  if config.eval.steps_sweep:
    steps_sweep.evaluate(config, workdir, generation, reference, compare, sampling.generate)
    return
  generated, _, seconds = sampling.generate(config, workdir, len(reference), jax.random.key(config.seed + 1),
                                            reference.shape[-1], generation)
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
