"""Exact-score SGM vs WSGM on stationary 1/|omega|^2 fields: how many steps does each need as L grows?

Theorem table: for every size L, steps N and horizon T, the output law of the config's sampler (Euler-Maruyama
in the paper's setting) on the config's time grid is computed in closed form (wsgm/gaussian.py), then
summarized by its KL per dimension to the true field and its max relative spectral error
max_k |P_gen(k) / P(k) - 1|. A Monte-Carlo run of the real jitted sampler cross-checks the closed form.
Writes WORKDIR/eval/gaussian.json (records), gaussian_mc.json (cross-check) and gaussian.png.

Sampler ranking (gaussian.samplers, a list of sampler specs, solvers.parse_spec): for each sampler, L and N,
the best (T, time grid, t_min) per method and metric over gaussian.T_values x gaussian.time_grids x
gaussian.t_min_values, and the steps per scale each needs to reach the thresholds; a Monte-Carlo run of each
jitted sampler checks its closed form. Writes gaussian_samplers.json, gaussian_samplers_mc.json and
gaussian_samplers.png.
"""
import functools
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import metrics, outputs, plots
from lib.errors import InputError
from wsgm import gaussian, likelihood, pyramid, sde, solvers

METRICS = ("max_relative_spectral_error", "kl_per_dim")


def _levels(size: int, lowpass_size: int) -> int:
  levels = int(np.log2(size // lowpass_size)) if size >= lowpass_size else 0
  if levels < 1 or lowpass_size * 2 ** levels != size:
    raise InputError(f"gaussian.sizes entry {size}: must be lowpass_size={lowpass_size} times 2^J, J >= 1")
  return levels


def _field(config, size: int):
  """(true spectrum, J, exact wavelet blocks) of the L = size field, decomposed to gaussian.lowpass_size."""
  spectrum = gaussian.target_spectrum(size)
  levels = _levels(size, config.gaussian.lowpass_size)
  return spectrum, levels, gaussian.wavelet_blocks(spectrum, config.pyramid.wavelet, levels)


def _validate(config) -> None:
  solvers.from_config(config.sampling)
  if config.sampling.per_scale:
    raise InputError(f"sampling.per_scale={tuple(config.sampling.per_scale)}: the exact Gaussian experiment runs "
                     "one sampler at every scale (config.sampling, or gaussian.samplers to rank several)")
  for spec in config.gaussian.samplers:
    solvers.parse_spec(spec)
  for size in config.gaussian.sizes:
    _levels(size, config.gaussian.lowpass_size)
  _levels(config.gaussian.mc_size, config.gaussian.lowpass_size)


def _gains(sampling):
  """gains(lam, times) of the sampler config.sampling describes (its exact law, gaussian.sampler_gains)."""
  return functools.partial(gaussian.sampler_gains, solvers.stepper_of(dict(sampling)), sampling.t_min > 0)


def exact_records(config):
  """One record per (method, L, steps, T): config.sampling's sampler and time grid."""
  g, s = config.gaussian, config.sampling
  gains = _gains(s)
  records = []
  for size in g.sizes:
    start = time.time()
    spectrum, levels, blocks = _field(config, size)
    for steps in g.steps:
      for T in g.T_values:
        times = np.asarray(sde.time_grid(s.time_grid, steps, T, s.t_min, s.rho), np.float64)
        for method, out in (("sgm", gaussian.sgm_output(spectrum, times, gains)),
                            ("wsgm", gaussian.wsgm_output(spectrum, blocks, times, gains))):
          records.append(dict(method=method, L=size, steps=steps, T=T, levels=levels if method == "wsgm" else 0,
                              kl_per_dim=out.kl_per_dim, max_relative_spectral_error=out.max_relative_spectral_error))
    logging.info("L=%d (J=%d): %d configurations in %.1fs", size, levels, 2 * len(g.steps) * len(g.T_values),
                 time.time() - start)
  return records


def best_over_T(records, method, size, metric, sampler=None):
  """{steps: (best value over T, its T)} (over the records of `sampler` when given)."""
  best = {}
  for r in records:
    if (r["method"] == method and r["L"] == size and r.get("sampler") == sampler
        and (r["steps"] not in best or r[metric] < best[r["steps"]][0])):
      best[r["steps"]] = (r[metric], r["T"])
  return dict(sorted(best.items()))


def steps_to_threshold(records, method, size, metric, threshold, sampler=None):
  """Steps per scale needed for the best-T value to reach `threshold`, interpolated linearly in
  log(steps) vs log(value) between the two grid points that bracket it, so that the answer does not jump by
  a factor 2 when a curve grazes the threshold. None if no N in the grid reaches it."""
  best = [(n, v) for n, (v, _) in best_over_T(records, method, size, metric, sampler).items()]
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
  head = (f"steps per scale to reach max relative spectral error <= {g.spectral_threshold} | "
          f"KL/dim <= {g.kl_threshold} "
          f"(best T in {tuple(g.T_values)}; log-log interpolation between grid values of N)")
  cols = f"{'L':>5} | {'SGM spec':>9} {'WSGM spec':>9} | {'SGM KL':>9} {'WSGM KL':>9}"
  lines = [head, cols, "-" * len(cols)]

  def cell(method, size, metric, threshold):
    n = steps_to_threshold(records, method, size, metric, threshold)
    return f">{max(g.steps)}" if n is None else f"{n:.0f}"

  for size in g.sizes:
    lines.append(f"{size:>5} | {cell('sgm', size, 'max_relative_spectral_error', g.spectral_threshold):>9} "
                 f"{cell('wsgm', size, 'max_relative_spectral_error', g.spectral_threshold):>9} | "
                 f"{cell('sgm', size, 'kl_per_dim', g.kl_threshold):>9} "
                 f"{cell('wsgm', size, 'kl_per_dim', g.kl_threshold):>9}")
  return "\n".join(lines)


def monte_carlo_check(config, key):
  """Sample with the real jitted sampler of config.sampling (exact scores) and compare empirical spectra with
  the closed form.

  Each |xhat(k)|^2 averaged over n samples has relative standard error ~ 1/sqrt(n) (complex modes), so
  the max over modes of |empirical / closed form - 1| should be a few times 1/sqrt(n)."""
  g, s = config.gaussian, config.sampling
  size, n = g.mc_size, g.mc_samples
  spectrum, _, blocks = _field(config, size)
  times = sde.sampling_times(config, g.mc_steps)
  times64 = np.asarray(times, np.float64)
  sampler, gains = solvers.from_config(s), _gains(s)
  coarse = blocks[-1]
  sgm_key, wsgm_key, init_key = jax.random.split(key, 3)

  @jax.jit
  def sample_sgm(k):
    x = jax.random.normal(init_key, (n, size, size, 1))
    return sampler(gaussian.stationary_score_fn(spectrum), x, times, k)

  @jax.jit
  def sample_wsgm(k):
    return pyramid.sample_coarse_to_fine(
        k, (n, coarse.lowpass_spectrum.shape[0], coarse.lowpass_spectrum.shape[1], 1),
        gaussian.stationary_score_fn(coarse.lowpass_spectrum / coarse.low_std ** 2),
        [gaussian.conditional_score_fn(b) for b in blocks], gaussian.exact_stats(blocks),
        config.pyramid.wavelet, sampler, times).image

  result = dict(sampler=s.sampler, L=size, steps=g.mc_steps, T=float(times[0]), samples=n,
                standard_error=1 / np.sqrt(n))
  spectra = {"true": spectrum}
  for method, sample, closed in (("sgm", lambda: sample_sgm(sgm_key), gaussian.sgm_output(spectrum, times64, gains)),
                                 ("wsgm", lambda: sample_wsgm(wsgm_key),
                                  gaussian.wsgm_output(spectrum, blocks, times64, gains))):
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
    ax.axhline(g.spectral_threshold if metric == "max_relative_spectral_error" else g.kl_threshold, color="gray",
               lw=0.8)
    ax.set(xlabel="steps per scale N", ylabel=f"{metric} (best T)", title=f"{metric} vs N (solid SGM, dashed WSGM)")
  axes[0].legend(fontsize=7, ncol=2)
  ax = axes[2]
  for (name, spec), style in zip(mc_spectra.items(), ["k-", "C0-", "C0o", "C1-", "C1o"]):
    k, prof = metrics.radial_average(spec)
    ax.loglog(k[1:], prof[1:], style, ms=4, label=name)
  ax.set(xlabel="|k|", ylabel="power", title=f"Monte-Carlo check, L={g.mc_size}, N={g.mc_steps}")
  ax.legend(fontsize=7)
  plots.save(fig, path)


def _grid_combos(config, opts):
  """(T, time grid, t_min) searched for a sampler: the spec's own values where it sets them (a t_max > 0 fixes T)."""
  g = config.gaussian
  grids = (opts["time_grid"],) if "time_grid" in opts else tuple(g.time_grids)
  t_mins = (opts["t_min"],) if "t_min" in opts else tuple(g.t_min_values)
  horizons = (opts["t_max"],) if opts.get("t_max") else tuple(g.T_values)
  return [(T, grid, t_min) for grid in grids for t_min in t_mins for T in horizons
          if not (grid == "logsnr" and t_min == 0)]


def sampler_records(config):
  """One record per (sampler, method, L, steps): for each metric, its best value over the searched
  (T, time grid, t_min) and where it was reached."""
  g = config.gaussian
  records = []
  for spec in g.samplers:
    opts = solvers.parse_spec(spec)
    stepper, combos = solvers.stepper_of(opts), _grid_combos(config, opts)
    for size in g.sizes:
      start = time.time()
      spectrum, levels, blocks = _field(config, size)
      for steps in g.ranking_steps:
        outs = []
        for denoise in (False, True):   # t_min = 0 and t_min > 0 (final Tweedie step) batches
          group, grids = [], []
          for T, grid, t_min in (c for c in combos if (c[2] > 0) == denoise):
            try:
              grids.append(np.asarray(sde.time_grid(grid, steps, T, t_min, g.rho), np.float64))
              group.append((T, grid, t_min))
            except InputError:   # e.g. a rho grid to t = 0 whose last times coincide in float32: not a grid
              pass
          if not group:
            continue
          grids = np.stack(grids)
          gains = functools.partial(gaussian.sampler_gains, stepper, denoise)
          outs += list(zip(group, gaussian.exact_outputs(spectrum, blocks, grids, gains)))
        for m, method in enumerate(("sgm", "wsgm")):
          record = dict(sampler=spec, method=method, L=size, steps=steps, levels=levels if m else 0)
          for metric in METRICS:
            (T, grid, t_min), best = min(outs, key=lambda o: np.nan_to_num(getattr(o[1][m], metric), nan=np.inf))
            record[metric] = getattr(best[m], metric)
            record[f"{metric}_at"] = dict(T=T, time_grid=grid, t_min=t_min,
                                          network_evaluations=solvers.network_evaluations(
                                              opts["sampler"], steps, opts.get("corrector_steps", 0), t_min))
          record["T"] = record["max_relative_spectral_error_at"]["T"]
          records.append(record)
      logging.info("%s, L=%d: %d grids x %d N in %.1fs", spec, size, len(combos), len(g.ranking_steps),
                   time.time() - start)
  return records


def format_ranking(records, config) -> str:
  g = config.gaussian
  lines = [f"steps per scale to max relative spectral error <= {g.spectral_threshold} | KL/dim <= "
           f"{g.kl_threshold}, best (T, time grid, t_min) per sampler (log-log interpolation in N)",
           f"{'sampler':<34} {'L':>4} | {'SGM spec':>8} {'WSGM spec':>9} | {'SGM KL':>8} {'WSGM KL':>8}"]
  for spec in g.samplers:
    for size in g.sizes:
      cells = []
      for metric, threshold in (("max_relative_spectral_error", g.spectral_threshold), ("kl_per_dim", g.kl_threshold)):
        for method in ("sgm", "wsgm"):
          n = steps_to_threshold(records, method, size, metric, threshold, spec)
          cells.append(f">{max(g.ranking_steps)}" if n is None else f"{n:.0f}")
      lines.append(f"{spec:<34} {size:>4} | {cells[0]:>8} {cells[1]:>9} | {cells[2]:>8} {cells[3]:>8}")
  return "\n".join(lines)


def sampler_monte_carlo(config, key):
  """monte_carlo_check for every ranked sampler: config.sampling with the spec's fields set."""
  results = []
  for spec, k in zip(config.gaussian.samplers, jax.random.split(key, len(config.gaussian.samplers))):
    run = config.copy_and_resolve_references()
    for field, value in solvers.parse_spec(spec).items():
      run.sampling[field] = value
    result, _ = monte_carlo_check(run, k)
    results.append(dict(result, sampler=spec, time_grid=run.sampling.time_grid, t_min=run.sampling.t_min))
  return results


def plot_ranking(records, config, path):
  g = config.gaussian
  fig, axes = plots.new_figure(2, width=5.0)
  size = max(g.sizes)
  for i, spec in enumerate(g.samplers):
    for method, style in (("sgm", "-"), ("wsgm", "--")):
      best = {r["steps"]: r["max_relative_spectral_error"] for r in records
              if r["sampler"] == spec and r["method"] == method and r["L"] == size}
      axes[0].loglog(list(best), list(best.values()), style, marker="o", ms=3, color=f"C{i}",
                     label=f"{spec} {method.upper()}")
  axes[0].axhline(g.spectral_threshold, color="gray", lw=0.8)
  axes[0].set(xlabel="steps per scale N", ylabel="max relative spectral error (best T, grid, t_min)",
              title=f"L = {size} (solid SGM, dashed WSGM)")
  axes[0].legend(fontsize=6)
  for i, spec in enumerate(g.samplers):
    for method, style in (("sgm", "-"), ("wsgm", "--")):
      need = [steps_to_threshold(records, method, L, "max_relative_spectral_error", g.spectral_threshold, spec)
              for L in g.sizes]
      axes[1].loglog(g.sizes, [np.nan if n is None else n for n in need], style, marker="o", ms=3, color=f"C{i}")
  axes[1].set(xlabel="L", ylabel=f"steps per scale to max relative spectral error <= {g.spectral_threshold}",
              title="steps to quality vs size (solid SGM, dashed WSGM)")
  plots.log_axis_ticks(axes[1], list(g.sizes))
  plots.save(fig, path)


def likelihood_records(config, key):
  """Per L in gaussian.likelihood_sizes: the probability-flow ODE log-likelihood (wsgm/likelihood.py, exact
  trace, the eval defaults' steps and t_min) of gaussian.likelihood_fields fresh fields under the exact SGM
  score and under WSGM's factorization (exact per-scale scores), against the closed-form log-density; each
  scale's share; the mean over fields against the differential entropy."""
  g, records = config.gaussian, []
  c = likelihood.LikelihoodConfig(config.eval.likelihood_t_min, g.likelihood_T, config.eval.likelihood_steps,
                                  exact_trace=True)
  for size, k in zip(g.likelihood_sizes, jax.random.split(key, len(g.likelihood_sizes))):
    spectrum, levels, blocks = _field(config, size)
    field_key, probe_key = jax.random.split(k)
    x = gaussian.sample_field(field_key, spectrum, g.likelihood_fields)
    closed = likelihood.closed_form_stationary(x, spectrum)
    start = time.time()
    sgm = np.asarray(jax.jit(lambda x: likelihood.ode_log_likelihood(
        gaussian.stationary_score_fn(spectrum), x, c)["log_p"])(x), np.float64)
    sgm_seconds = (time.time() - start) / len(x)
    coarse = blocks[-1]
    lowpass = gaussian.stationary_score_fn(coarse.lowpass_spectrum / coarse.low_std ** 2)
    scores = {"coarse": lambda y, t, cond: lowpass(y, t)}
    scores.update({f"scale_{j}": gaussian.conditional_score_fn(b) for j, b in enumerate(blocks, start=1)})
    start = time.time()
    parts = jax.jit(lambda x: likelihood.pyramid_log_likelihood(
        x, scores, gaussian.exact_stats(blocks), config.pyramid.wavelet, levels, c, probe_key))(x)
    parts = {name: np.asarray(v, np.float64) for name, v in parts.items()}
    wsgm_seconds = (time.time() - start) / len(x)
    bpd = lambda ll: likelihood.bits_per_dim(ll, size * size)
    entropy_bpd = (0.5 * np.log(2 * np.pi * np.e) + 0.5 * np.mean(np.log(spectrum))) / np.log(2)
    wsgm_total = sum(parts.values())
    records.append(dict(
        L=size, levels=levels, fields=len(x), closed_form_bpd=float(np.mean(bpd(closed))),
        sgm_bpd=float(np.mean(bpd(sgm))), wsgm_bpd=float(np.mean(bpd(wsgm_total))),
        sgm_max_abs_error_bpd=float(np.max(np.abs(bpd(sgm) - bpd(closed)))),
        wsgm_max_abs_error_bpd=float(np.max(np.abs(bpd(wsgm_total) - bpd(closed)))),
        wsgm_scale_shares_bpd={name: float(np.mean(bpd(v))) for name, v in parts.items()},
        # -log p(x) = chi^2_d / 2 + const for Gaussian x: the mean over n fields has standard error
        # 1 / (ln 2 sqrt(2 d n)) bits/dim around the differential entropy
        entropy_bpd=float(entropy_bpd), closed_form_bpd_se=float(1 / (np.log(2) * np.sqrt(2 * size * size * len(x)))),
        sgm_seconds_per_field=sgm_seconds, wsgm_seconds_per_field=wsgm_seconds, settings=c._asdict()))
    logging.info("likelihood L=%d: %s", size, records[-1])
  return records


def format_likelihood(records) -> str:
  lines = ["probability-flow ODE bits/dim (exact scores, exact trace) vs the closed form, per L:",
           f"{'L':>4} {'closed form':>11} {'|SGM err|':>9} {'|WSGM err|':>10} {'entropy':>8}  WSGM scale shares"]
  for r in records:
    shares = ", ".join(f"{k} {v:.3f}" for k, v in r["wsgm_scale_shares_bpd"].items())
    lines.append(f"{r['L']:>4} {r['closed_form_bpd']:>11.4f} {r['sgm_max_abs_error_bpd']:>9.1e} "
                 f"{r['wsgm_max_abs_error_bpd']:>10.1e} {r['entropy_bpd']:>8.4f}  {shares}")
  return "\n".join(lines)


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
  if config.gaussian.likelihood_fields:
    lik = likelihood_records(config, jax.random.key(config.seed + 2))
    path = outputs.write_json_run(out_dir, "gaussian_likelihood", lik)
    print(format_likelihood(lik))
    print(f"wrote {path}")
  if not config.gaussian.samplers:
    return
  ranked = sampler_records(config)
  mc = sampler_monte_carlo(config, jax.random.key(config.seed + 1))
  outputs.write_json_run(out_dir, "gaussian_samplers", ranked)
  outputs.write_json_run(out_dir, "gaussian_samplers_mc", mc)
  plot_ranking(ranked, config, os.path.join(out_dir, "gaussian_samplers.png"))
  print(format_ranking(ranked, config))
  for r in mc:
    print(f"Monte-Carlo check {r['sampler']} ({r['time_grid']}, t_min={r['t_min']}, N={r['steps']}): max "
          f"|empirical/closed form - 1| SGM {r['sgm']['max_rel_dev_closed_form']:.3f}, WSGM "
          f"{r['wsgm']['max_rel_dev_closed_form']:.3f} (1/sqrt(n) = {r['standard_error']:.3f})")
  print(f"wrote {out_dir}/gaussian_samplers.json, gaussian_samplers_mc.json, gaussian_samplers.png")
