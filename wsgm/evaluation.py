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
import time

import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, metrics, outputs, parallel, phi4, plots
from lib.errors import InputError
from wsgm import likelihood, pyramid, sampling, solvers, wavelets
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
  if config.eval.likelihood:   # instead of sampling
    if config.eval.steps_sweep:
      print(f"eval.likelihood=True: scoring held-out images; eval.steps_sweep={tuple(config.eval.steps_sweep)} is "
            "run with eval.likelihood=False")
    likelihood_eval(config, workdir, method, reference)
    return
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
  s = config.sampling
  row = dict(steps=s.steps, network_evaluations_per_scale=solvers.network_evaluations(s.sampler, s.steps,
                                                                                     s.corrector_steps, s.t_min),
             seconds_per_sample=seconds, **compare(generated, reference, config))
  if config.data.name == "phi4":
    c = config.data.phi4
    row["phi4"] = phi4.observables(generated, c.beta, c.lam)
  return row


def steps_to_quality(rows, config, data_u4):
  """The smallest N (whatever the sweep's order) whose row meets the thresholds; None if none does."""
  for row in sorted(rows, key=lambda r: r["steps"]):
    ok = row["spectrum_error"] <= config.eval.spectral_threshold
    if data_u4 is not None:
      ok = ok and abs(row["phi4"]["binder_u4"][0] - data_u4) <= config.eval.u4_tolerance
    if ok:
      return row["steps"]
  return None


def plot_sweep(rows, reference, samples, out_dir, title):
  """Metrics vs N for every sampler; spectra and histograms of every N for the first sampler."""
  fig, axes = plots.new_figure(3, width=4.2)
  specs = list(dict.fromkeys(r["sampler"] for r in rows))
  for i, spec in enumerate(specs):
    mine = [r for r in rows if r["sampler"] == spec]
    ns = [r["steps"] for r in mine]
    axes[0].plot(ns, [r["spectrum_error"] for r in mine], "o-", color=f"C{i}", label=f"{spec}: spectrum error")
    axes[0].plot(ns, [r["pixel_histogram"] for r in mine], "s--", color=f"C{i}", label="value histogram W1 / std")
    if "phi4" in mine[0]:
      axes[0].plot(ns, [abs(r["phi4"]["binder_u4"][0] - r["data_u4"]) + 1e-4 for r in mine], "^:", color=f"C{i}",
                   label="|U4 - U4 data|")
  ns = sorted({r["steps"] for r in rows})
  axes[0].set(yscale="log", xlabel="steps per scale N", title=title)
  plots.log_axis_ticks(axes[0], ns)
  axes[0].legend(fontsize=6)
  first = [(r, x) for r, x in zip(rows, samples) if r["sampler"] == specs[0]]
  colors = plots.plt.cm.viridis(np.linspace(0, 1, len(first)))
  k, p = metrics.radial_average(metrics.power_spectrum(reference))
  axes[1].loglog(k[1:], p[1:], "k-", lw=2, label="data")
  hist_range = np.percentile(reference, [0.1, 99.9])
  bins = np.linspace(*hist_range, 60)
  axes[2].hist(reference.ravel(), bins, density=True, histtype="step", color="k", lw=2, label="data")
  for (row, images), color in zip(first, colors):
    k, p = metrics.radial_average(metrics.power_spectrum(images))
    axes[1].loglog(k[1:], p[1:], color=color, label=f"N={row['steps']}")
    axes[2].hist(np.clip(images.ravel(), *hist_range), bins, density=True, histtype="step", color=color)
  axes[1].set(xlabel="|k|", ylabel="power", title=f"radial power spectrum ({specs[0]})")
  axes[1].legend(fontsize=7)
  axes[2].set(xlabel="value", yscale="log", title="marginal histogram")
  plots.save(fig, os.path.join(out_dir, "quality.png"))


def sweep(config, workdir, method: Method, reference: np.ndarray) -> dict:
  """Every sampler of eval.samplers (specs, solvers.parse_spec; empty: config.sampling's own) at every N of
  eval.steps_sweep (ascending), on the same reference and the same sample seed."""
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  data_u4 = None
  if config.data.name == "phi4":
    c = config.data.phi4
    data_obs = phi4.observables(reference, c.beta, c.lam)
    data_u4 = data_obs["binder_u4"][0]
  specs = tuple(config.eval.samplers) or (config.sampling.sampler,)
  overrides = {spec: solvers.parse_spec(spec) for spec in specs}   # every spec checked before sampling starts
  rows, samples = [], []
  for spec in specs:
    for n in sorted(config.eval.steps_sweep):
      run = config.copy_and_resolve_references()
      for field, value in overrides[spec].items():
        run.sampling[field] = value
      run.sampling.steps = n
      generated, _, seconds = sampling.generate(run, workdir, len(reference), jax.random.key(config.seed + 1),
                                                reference.shape[-1], method)
      rows.append(dict(sampler=spec, **_row(run, generated, reference, seconds)))
      if data_u4 is not None:
        rows[-1]["data_u4"] = data_u4
      samples.append(generated)
      summary = {k: v for k, v in rows[-1].items() if k not in ("coefficient_histograms", "swd")}
      print(json.dumps(summary), flush=True)
  reached = {spec: steps_to_quality([r for r in rows if r["sampler"] == spec], config, data_u4) for spec in specs}
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
                     np.concatenate([reference[:8], samples[0][:8], samples[len(config.eval.steps_sweep) - 1][:8]]),
                     lo=lo, hi=hi)
  criterion = (f"spectrum error <= {config.eval.spectral_threshold}"
               + (f", |U4 - {data_u4:.3f}| <= {config.eval.u4_tolerance}" if data_u4 is not None else ""))
  for spec, n in reached.items():
    print(f"{config.name}, {spec}: steps to quality ({criterion}): "
          f"{n if n is not None else 'not reached for N <= ' + str(max(config.eval.steps_sweep))}")
  print(f"wrote {path} (and {out_dir}/{name}.json, the newest), quality.png, fields.png")
  return result


def likelihood_eval(config, workdir, method: Method, reference: np.ndarray) -> dict:
  """eval.likelihood: bits per dimension of eval.likelihood_images held-out images through the probability-flow
  ODE (wsgm/likelihood.py), split over the pyramid's factors, with bootstrap standard errors over images.
  Writes WORKDIR/eval/<config.name>_likelihood.json."""
  if method.make_scores is None:
    raise InputError(f"eval.likelihood: method {method.name!r} has no score model at every scale (WSGM and "
                     "pixel-space SGM do)")
  c = likelihood.from_config(config)
  images = jnp.asarray(reference[:config.eval.likelihood_images])
  parallel.check_divisible(len(images), "eval.likelihood_images (after capping at the held-out set)")
  models, stats = sampling.load_models(config, workdir, images.shape[-1], None, method)
  scores, levels = method.make_scores(config, models), config.pyramid.levels
  norm = stats if method.normalization == "standardize" else pyramid.ScaleUnits()
  start = time.perf_counter()
  parts = jax.jit(lambda x, k: likelihood.pyramid_log_likelihood(x, scores, norm, config.pyramid.wavelet, levels,
                                                                   c, k))(images, jax.random.key(config.seed + 2))
  parts = {k: np.asarray(v, np.float64) for k, v in jax.device_get(parts).items()}
  seconds = (time.perf_counter() - start) / len(images)
  dims, total_dims = likelihood.pyramid_dims(images.shape, levels), int(np.prod(images.shape[1:]))
  total = sum(parts.values())
  bpd, bpd_se = metrics.bootstrap(np.mean, likelihood.bits_per_dim(total, total_dims))
  result = dict(config=config.name, levels=levels, num_images=len(images), seconds_per_image=seconds,
                settings=c._asdict(), bits_per_dim=bpd, bits_per_dim_se=bpd_se, scales={})
  for name, ll in parts.items():   # each factor: its share of the image's bits/dim, and bits per own coefficient
    share, share_se = metrics.bootstrap(np.mean, likelihood.bits_per_dim(ll, total_dims))
    result["scales"][name] = dict(dims=dims[name], bits_per_dim_share=share, share_se=share_se,
                                  bits_per_coefficient=share * total_dims / dims[name])
  if config.data.name in data.TFDS:   # 8-bit images in [-1, 1]: the discrete data's bits/dim
    result["dequantized_bits_per_dim"] = float(np.mean(likelihood.dequantized_bpd(total, total_dims)))
  path = outputs.write_json_run(os.path.join(workdir, "eval"), f"{config.name}_likelihood", result)
  print(f"{config.name}: {bpd:.4f} +- {bpd_se:.4f} bits/dim over {len(images)} held-out images ("
        + ", ".join(f"{k} {v['bits_per_dim_share']:.4f}" for k, v in result["scales"].items())
        + f"); {seconds:.2f} s per image; wrote {path}")
  return result
