"""`--mode=eval` for generative methods (WSGM, WMGM; LCM's synthesis reuses `score`): generate samples with
the method's models and compare them with held-out data, at the config's steps per scale or over a sweep.

Every metric is one record (lib/metrics.record): its value, a bootstrap standard error over the samples
(eval.bootstrap resamples), and its *noise floor*: the same metric between two disjoint sets of real
held-out images of the sample size (the reference and the floor set, `heldout`), with the floor's own error;
`within` says the value is not resolved from the floor (value <= floor + 2 sqrt(se^2 + floor_se^2)). A
held-out set smaller than two sample sets gives no floor, said in the JSON ("heldout") and the printout.
Metrics (names as in the JSON): log_spectrum_error (mean |log P_gen / P_ref| over radial shells: not the
Gaussian experiment's exact "max relative spectral error"), pixel_histogram_w1 and coefficients/<band> (W1
of the value histograms of pixels and of each wavelet band, in units of the reference's std), swd/level_k
(Laplacian patch sliced Wasserstein, finest first, averaged over eval.swd_draws draws of patches and
directions; `draw_spread` is their std); on phi^4, phi4/binder_u4_error (|U4 - U4_data|) and the relative
errors of <|m|>, the susceptibility and S/V.
One N: writes WORKDIR/eval/<config.name>.json, spectra.png, samples.png.

Sweep (eval.steps_sweep = (4, 8, ...)): for every sampler and N the same reference, fresh samples, the
records and seconds per sample. Steps to quality, per metric of eval.quality_metrics and for all together:
the smallest N (sorted) whose metric is within its floor; None where no N is. Writes
WORKDIR/eval/<phi4 | config name>_steps.json, quality.png (metrics vs N with error bars and floors, every N's
radial spectrum and value histogram over the data's) and fields.png (rows: data, then the samples of the
smallest and of the largest N).
"""
import hashlib
import os
import time
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, metrics, outputs, parallel, phi4, plots
from lib.errors import InputError
from wsgm import likelihood, pyramid, sampling, solvers, wavelets
from wsgm.methods import Method

BANDS = ("H", "V", "D")


class Heldout(NamedTuple):
  """Held-out data for an evaluation: the reference the samples are scored against, and a disjoint set of
  the same size (the noise floor: the metric of perfect samples), or None with the reason in `note`."""
  reference: np.ndarray
  floor_set: Optional[np.ndarray]
  note: str


def heldout(config, num: Optional[int] = None) -> Heldout:
  """num (eval.num_samples) held-out images as the reference and, when the test split has 2 num images, num
  more as the floor set; a seeded random order (splits can be ordered: textures come photo by photo)."""
  num = num or config.eval.num_samples
  if config.data.name in data.EMBEDDED:
    test = data.load_array(config.data, "test")
    test = test[np.random.default_rng(config.seed).permutation(len(test))]
  else:
    test = next(data.batches(config.data, "test", 2 * num, config.data.seed))
  if len(test) >= 2 * num:
    return Heldout(test[:num], test[num:2 * num], f"{num} reference and {num} floor images of {len(test)} held out")
  return Heldout(test[:num], None, f"no noise floor: the held-out set has {len(test)} images, fewer than two "
                 f"disjoint sets of {min(num, len(test))} (eval.num_samples={num})")


def image_statistics(images: np.ndarray, config) -> dict:
  """Per-image arrays (leading axis: images) that every metric is a function of, so that a bootstrap
  resamples rows instead of recomputing transforms: radial power, pixels, wavelet coefficients per band
  (scales 1..J, J >= 1 also for pixel-space baselines), Laplacian levels; phi^4's m and S/V."""
  images = np.asarray(images, np.float32)
  n, channels = len(images), images.shape[-1]
  stats = {"power": metrics.radial_power(images), "pixels": images.reshape(n, -1)}
  levels = max(config.pyramid.levels, 1)
  p = wavelets.decompose(jnp.asarray(images), config.pyramid.wavelet, levels)
  for j, d in enumerate(p.details, start=1):
    for b, band in enumerate(BANDS):
      stats[f"coefficients/scale_{j}/{band}"] = np.asarray(d[..., b * channels:(b + 1) * channels]).reshape(n, -1)
  stats[f"coefficients/lowpass_{levels}"] = np.asarray(p.lowpass).reshape(n, -1)
  for k, level in enumerate(metrics.laplacian_pyramid(images)):
    stats[f"laplacian_{k}"] = level
  if config.data.name == "phi4":
    stats.update({f"phi4/{k}": v for k, v in phi4.field_statistics(images, config.data.phi4.beta,
                                                                     config.data.phi4.lam).items()})
  return stats


class Reference(NamedTuple):
  """What scoring a sample set needs, computed once per evaluation: the reference's statistics, quantiles,
  SWD bank and phi^4 observables, and the noise floor {metric: (value, se)} (None without a floor set)."""
  heldout: Heldout
  stats: dict
  quantiles: dict
  swd_bank: list
  observables: Optional[dict]
  floor: Optional[dict]


def _laplacian_levels(stats: dict) -> list:
  """The Laplacian levels of image_statistics, finest first (by level index, not by key string)."""
  return [stats[f"laplacian_{k}"] for k in range(sum(key.startswith("laplacian_") for key in stats))]


def _observables(stats: dict, config) -> dict:
  """phi^4 observable values from image_statistics' per-field m and S/V."""
  return phi4.observable_values({"m": stats["phi4/m"], "s": stats["phi4/s"]}, config.data.image_size ** 2)


def _distances(stats: dict, ref: Reference, config, per_draw: bool = False) -> dict:
  """{metric: value} of one sample set's statistics against the reference (per_draw: SWD per direction draw)."""
  out = {"log_spectrum_error": metrics.log_spectrum_distance(stats["power"].mean(0), ref.stats["power"].mean(0))}
  for key, (q, ref_quantiles, ref_std) in ref.quantiles.items():   # W1 of value histograms, in reference stds
    out["pixel_histogram_w1" if key == "pixels" else key] = metrics.quantile_w1(stats[key], ref_quantiles, q) / ref_std
  swd = metrics.swd_draws(_laplacian_levels(stats), ref.swd_bank, config.seed + 1)
  for k in range(swd.shape[1]):
    out[f"swd/level_{k}"] = list(swd[:, k]) if per_draw else float(swd[:, k].mean())
  if ref.observables is not None:   # |U4 - U4 data|; relative errors of <|m|>, chi, S/V
    for name, value in _observables(stats, config).items():
      err = value - ref.observables[name]
      out[f"phi4/{name}_error"] = abs(err) if name == "binder_u4" else abs(err / ref.observables[name])
  return out


def prepare(config, held: Heldout) -> Reference:
  """The reference side of every metric, and the noise floor: the floor set scored as if it were samples."""
  stats = image_statistics(held.reference, config)
  quantiles = {}
  for key in ["pixels"] + [k for k in stats if k.startswith("coefficients/")]:
    q = metrics.quantile_grid(stats[key].size)
    quantiles[key] = (q, metrics.quantiles(stats[key], q), float(np.std(stats[key])))
  bank = metrics.swd_bank(_laplacian_levels(stats), config.eval.swd_draws, config.eval.swd_directions, 7, config.eval.swd_patches,
                          config.seed)
  observables = _observables(stats, config) if config.data.name == "phi4" else None
  ref = Reference(held, stats, quantiles, bank, observables, None)
  if held.floor_set is None:
    return ref
  value, se = _bootstrap(image_statistics(held.floor_set, config), ref, config)
  return ref._replace(floor={k: (value[k], se[k]) for k in value})


def _bootstrap(stats, ref, config):
  return metrics.bootstrap(lambda st: _distances(st, ref, config), stats, config.eval.bootstrap, config.seed + 3)


def score(generated: np.ndarray, ref: Reference, config) -> dict:
  """{metric: record} (lib/metrics.record): value, bootstrap standard error over the samples, noise floor and
  its error, `within` (not resolved from the floor); SWD records add their spread over direction draws."""
  stats = image_statistics(generated, config)
  draws = _distances(stats, ref, config, per_draw=True)   # the full set's distances, computed once
  value, se = metrics.bootstrap(lambda st: _distances(st, ref, config), stats, config.eval.bootstrap,
                                config.seed + 3, value={k: float(np.mean(v)) for k, v in draws.items()})
  out = {}
  for k in value:
    floor = ref.floor[k] if ref.floor is not None else (None, None)
    extra = {"draw_spread": float(np.std(draws[k]))} if k.startswith("swd/") else {}
    out[k] = metrics.record(value[k], se[k], *floor, **extra)
  return out


def check_quality_metrics(config, ref: Reference) -> None:
  """eval.quality_metrics must name computed metrics (checked before any sampling)."""
  known = set(_distances(ref.stats, ref, config))
  unknown = [m for m in config.eval.quality_metrics if m not in known]
  if unknown or not config.eval.quality_metrics:
    raise InputError(f"eval.quality_metrics={tuple(config.eval.quality_metrics)}: "
                     + (f"unknown {unknown}; " if unknown else "empty; ") + f"choose from {sorted(known)}")


def summary(records: dict, names) -> str:
  """'name value +- se (floor f)' for the named records."""
  def one(k):
    r = records[k]
    floor = "no floor" if r["floor"] is None else f"floor {r['floor']:.3f}{'' if r['within'] else ' *'}"
    return f"{k} {r['value']:.3f} +- {r['se']:.3f} ({floor})"
  return "; ".join(one(k) for k in names)


def plot_spectra(generated, reference, path, title):
  fig, axes = plots.new_figure(1)
  for name, imgs, style in (("data", reference, "k-"), ("samples", generated, "C1--")):
    k, p = metrics.radial_average(metrics.power_spectrum(imgs))
    axes[0].loglog(k[1:], p[1:], style, label=name)
  axes[0].set(xlabel="|k|", ylabel="power", title=title)
  axes[0].legend()
  plots.save(fig, path)


def evaluate(config, workdir: str, method: Method) -> dict:
  """--mode=eval: one N, a sweep over N (eval.steps_sweep) or likelihoods (eval.likelihood); returns the result
  it wrote as JSON."""
  method.validate(config)
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  held = heldout(config)
  if config.eval.likelihood:   # instead of sampling
    if config.eval.steps_sweep:
      print(f"eval.likelihood=True: scoring held-out images; eval.steps_sweep={tuple(config.eval.steps_sweep)} is "
            "run with eval.likelihood=False")
    return likelihood_eval(config, workdir, method, held.reference)
  ref = prepare(config, held)
  check_quality_metrics(config, ref)
  if config.eval.steps_sweep:
    return sweep(config, workdir, method, ref)
  reference = held.reference
  generated, _, seconds = sampling.generate(config, workdir, len(reference), jax.random.key(config.seed + 1),
                                            reference.shape[-1], method)
  result = dict(config=config.name, levels=config.pyramid.levels, steps_per_scale=config.sampling.steps,
                sampler=config.sampling.sampler, sampling=config.sampling.to_dict(), seconds_per_image=seconds,
                **_sets(ref, generated),
                metrics=score(generated, ref, config))
  if config.data.name == "phi4":   # physics observables, (value, bootstrap error), samples vs MCMC
    c = config.data.phi4
    result["phi4"] = {who: phi4.observables(x, c.beta, c.lam)
                      for who, x in (("samples", generated), ("data", reference))}
  path = outputs.write_json_run(out_dir, config.name, result)
  plot_spectra(generated, reference, os.path.join(out_dir, "spectra.png"),
               f"{config.name}: J={config.pyramid.levels}, {config.sampling.steps} steps/scale")
  image_io.save_grid(os.path.join(out_dir, "samples.png"), generated[:64])
  image_io.save_grid(os.path.join(out_dir, "data.png"), reference[:64])
  kept = [outputs.keep_with_run(os.path.join(out_dir, figure), path) for figure in ("spectra.png", "samples.png")]
  print(f"{config.name}: {len(generated)} samples vs {held.note}; '*': outside floor + 2 standard errors")
  print(summary(result["metrics"], config.eval.quality_metrics))
  print(f"wrote {path} (and {out_dir}/{config.name}.json, the newest), spectra.png, samples.png, data.png (the "
        f"first two also kept as {', '.join(map(os.path.basename, kept))})")
  return result


def _sets(ref: Reference, generated) -> dict:
  """The JSON's description of what was compared."""
  reference = ref.heldout.reference
  return dict(num_samples=len(generated), num_reference=len(reference), heldout=ref.heldout.note,
              distinct_reference_images=len(np.unique(reference.reshape(len(reference), -1), axis=0)))


def steps_to_quality(rows, names) -> dict:
  """Per metric of `names` and for all of them together ("all"): the smallest N (whatever the rows' order)
  whose record is within its noise floor + 2 standard errors; None where no N is, or there is no floor."""
  rows = sorted(rows, key=lambda r: r["steps"])
  first = lambda ok: next((r["steps"] for r in rows if ok(r)), None)
  out = {name: first(lambda r, name=name: r["metrics"][name]["within"]) for name in names}
  out["all"] = first(lambda r: all(r["metrics"][name]["within"] for name in names))
  return out


def plot_sweep(rows, reference, samples, out_dir, title, names):
  """The quality metrics vs N (error bars; dotted: the floor) for every sampler; spectra and histograms of
  every N for the first sampler."""
  specs = list(dict.fromkeys(r["sampler"] for r in rows))
  below = len(specs) > 1   # a legend of long labels: below the axes, the figure taller by its lines
  fig, axes = plots.new_figure(3, width=4.2, height=4.0 + (0.12 * len(specs) * len(names) if below else 0.0))
  for i, spec in enumerate(specs):
    mine = [r for r in rows if r["sampler"] == spec]
    ns = [r["steps"] for r in mine]
    for name, marker in zip(names, "os^vD"):
      recs = [r["metrics"][name] for r in mine]
      axes[0].errorbar(ns, [r["value"] for r in recs], [r["se"] for r in recs], fmt=marker + "-", color=f"C{i}",
                       capsize=2, ms=4, label=f"{spec}: {name}" if len(specs) > 1 else name)
      if recs[0]["floor"] is not None and i == 0:
        axes[0].axhline(recs[0]["floor"], color="gray", ls=":", lw=0.8)
  ns = sorted({r["steps"] for r in rows})
  axes[0].set(yscale="log", xlabel="steps per scale N", title=f"{title}\n(dotted: noise floors)")
  plots.log_axis_ticks(axes[0], ns)
  axes[0].legend(fontsize=6, **(dict(loc="upper left", bbox_to_anchor=(0.0, -0.2)) if below else {}))
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
  axes[1].set(xlabel="|k|", ylabel="power", title=f"radial power spectrum\n{specs[0]}")
  axes[1].legend(fontsize=7)
  axes[2].set(xlabel="value", yscale="log", title="marginal histogram")
  plots.save(fig, os.path.join(out_dir, "quality.png"))


def sweep(config, workdir, method: Method, ref: Reference) -> dict:
  """Every sampler of eval.samplers (specs, solvers.apply_spec; empty: config.sampling's own) at every N of
  eval.steps_sweep (ascending), on the same reference and the same sample seed."""
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  reference, names = ref.heldout.reference, tuple(config.eval.quality_metrics)
  given = tuple(config.eval.samplers)
  specs = given or (config.sampling.sampler,)   # none given: config.sampling as it is, labelled by its sampler
  for spec in specs:   # every spec checked before sampling starts
    solvers.parse_spec(spec)
  print(f"{config.name}: {len(reference)} samples per N vs {ref.heldout.note}")
  rows, samples = [], []
  for spec in specs:
    for n in sorted(config.eval.steps_sweep):
      run = config.copy_and_resolve_references()
      if given:
        solvers.apply_spec(run.sampling, spec)
      run.sampling.steps = n
      generated, _, seconds = sampling.generate(run, workdir, len(reference), jax.random.key(config.seed + 1),
                                                reference.shape[-1], method)
      s = run.sampling
      calls = [solvers.network_evaluations(r.sampler, n, r.corrector_steps, r.t_min) for r in
               (sampling.scale_sampling(run, m).sampling for m in pyramid.model_names(run.pyramid.levels))]
      rows.append(dict(sampler=spec, steps=n, network_evaluations_per_scale=max(calls),
                       seconds_per_sample=seconds, sampling=s.to_dict(), metrics=score(generated, ref, run)))
      if config.data.name == "phi4":
        rows[-1]["phi4"] = phi4.observables(generated, config.data.phi4.beta, config.data.phi4.lam)
      samples.append(generated)
      per_scale = f" [per scale: {'; '.join(s.per_scale)}]" if s.per_scale else ""
      print(f"{spec}{per_scale} N={n} ({seconds:.3f} s/sample): {summary(rows[-1]['metrics'], names)}", flush=True)
  reached = {spec: steps_to_quality([r for r in rows if r["sampler"] == spec], names) for spec in specs}
  result = dict(config=config.name, levels=config.pyramid.levels, **_sets(ref, reference), rows=rows,
                quality_metrics=names, steps_to_quality=reached,
                criterion="the smallest N whose metric is within its noise floor + 2 standard errors")
  if config.data.name == "phi4":
    result["data_phi4"] = phi4.observables(reference, config.data.phi4.beta, config.data.phi4.lam)
  name = "phi4" if config.data.name == "phi4" else f"{config.name}_steps"
  path = outputs.write_json_run(out_dir, name, result)
  plot_sweep(rows, reference, samples, out_dir, f"{config.name} (J={config.pyramid.levels})", names)
  lo, hi = (-3, 3) if config.data.name == "phi4" else (-1, 1)
  image_io.save_grid(os.path.join(out_dir, "fields.png"),
                     np.concatenate([reference[:8], samples[0][:8], samples[len(config.eval.steps_sweep) - 1][:8]]),
                     lo=lo, hi=hi)
  kept = [outputs.keep_with_run(os.path.join(out_dir, figure), path) for figure in ("quality.png", "fields.png")]
  for spec, reached_n in reached.items():
    print(f"{config.name}, {spec}: steps to quality (within noise floor + 2 standard errors): "
          + ", ".join(f"{k} {'not reached' if v is None else v}" for k, v in reached_n.items())
          + ("" if ref.floor is not None else f" ({ref.heldout.note})"))
  print(f"wrote {path} (and {out_dir}/{name}.json, the newest), quality.png, fields.png (also kept as "
        f"{', '.join(map(os.path.basename, kept))})")
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
  eight_bit = config.data.name in data.EIGHT_BIT
  if eight_bit:   # the density of 8-bit levels is scored at uniformly dequantized points (wsgm/likelihood.py)
    images = likelihood.dequantize(images, jax.random.key(config.seed + 3))
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
  per_image = likelihood.bits_per_dim(total, total_dims)
  bpd, bpd_se = metrics.bootstrap(np.mean, per_image)
  result = dict(config=config.name, levels=levels, num_images=len(images), seconds_per_image=seconds,
                settings=c._asdict(), bits_per_dim=bpd, bits_per_dim_se=bpd_se, scales={},
                # for paired comparisons of two models on the same points (bench/likelihood_compare.py)
                images_sha256=hashlib.sha256(np.asarray(images, np.float32).tobytes()).hexdigest(),
                per_image_bits_per_dim=per_image.tolist())
  for name, ll in parts.items():   # each factor: its share of the image's bits/dim, and bits per own coefficient
    share, share_se = metrics.bootstrap(np.mean, likelihood.bits_per_dim(ll, total_dims))
    result["scales"][name] = dict(dims=dims[name], bits_per_dim_share=share, share_se=share_se,
                                  bits_per_coefficient=share * total_dims / dims[name])
  if eight_bit:
    result["dequantization"] = "uniform: x = 2 (u + U) / 255 - 1, U ~ U[0, 1)"
    # a constant shift of every image's bits/dim: the same bootstrap error
    result["dequantized_bits_per_dim"] = float(np.mean(likelihood.dequantized_bpd(total, total_dims)))
    result["dequantized_bits_per_dim_se"] = bpd_se
  path = outputs.write_json_run(os.path.join(workdir, "eval"), f"{config.name}_likelihood", result)
  print(f"{config.name}: {bpd:.4f} +- {bpd_se:.4f} bits/dim over {len(images)} held-out images ("
        + ", ".join(f"{k} {v['bits_per_dim_share']:.4f}" for k, v in result["scales"].items())
        + ")" + (f", {result['dequantized_bits_per_dim']:.4f} bits/dim of the 8-bit data" if eight_bit else "")
        + f"; {seconds:.2f} s per image; wrote {path}")
  return result
