"""phi^4 across lattice sizes: learned WSGM vs pixel-space SGM, steps to quality against L (the paper's experiment).

For every L of --sizes (beta = 0.68, lambda = 1; the configs' MCMC data per L, 8192 training fields and 2048
held out, or 2048 and 512 with --set=data.phi4.chains=128 as in the README's run; cached in runs/phi4_data):
configs/phi4_wsgm.py:L (coarsest low-pass 8x8, J = log2(L/8)) and configs/phi4_sgm.py:L (one UNet halving down
to 8x8), the same width and training steps, the configs' sampler (or --sampler).
Stages (--stage):
- run: train (or resume) and run the --mode=eval sweep over N (wsgm/evaluation.py) for every (L, method);
  (L, method) pairs are independent, so several processes may run this stage side by side;
- time: seconds per sample of compiled sampling at every N, one (L, method) after the other, so that no
  other job shares the device; keeps 8 fields of the largest N for the picture;
- report: steps to quality per metric and for all (within floor + 2 standard errors), the training-limited
  level (each metric at the largest N) and the discretization steps (the smallest N from which on the excess
  over that level, |v(N) - v(N_max)|, stays within 2 sqrt(se(N)^2 + se(N_max)^2)), seconds and network
  evaluations at the steps to quality. Writes OUT/phi4_sizes_<k>.json (phi4_sizes.json: the newest),
  phi4_sizes.png (steps to quality vs L, U4 vs N per L, seconds per sample vs L) and phi4_sizes_fields.png.
- all (default): run, time, report.

python bench/phi4_sizes.py --out=runs/phi4_sizes --sizes=16,32,64 --train_steps=4000 --sampler=euler_maruyama \
    --set=model.padding=SAME --set=data.phi4.chains=128 --set=sampling.t_max=0
The README's run (Euler-Maruyama, zero padding and 2048 fields per L: the configs' defaults then), on one H100:
the six (L, method) pairs as six `--stage=run --sizes=L --methods=M` processes side by side (17 min, the MCMC
data made once beforehand: 1.5 min), then `--stage=time` (5 min) and `--stage=report`. On 2 CPU cores the L = 64 pairs alone take hours.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from configs import define_set_flag, override, parse_settings, phi4_sgm, phi4_wsgm  # noqa: E402
from lib import checkpoint, data, outputs, phi4, plots  # noqa: E402
from lib.errors import InputError  # noqa: E402
from wsgm import evaluation, sampling, solvers, train  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

METHODS = {"wsgm": phi4_wsgm, "sgm": phi4_sgm}
flags.DEFINE_string("out", "runs/phi4_sizes", "Output directory (one workdir L<L>_<method> per pair).")
flags.DEFINE_list("sizes", ["16", "32", "64"], "Lattice sizes L = 8 * 2^J.")
flags.DEFINE_list("methods", ["wsgm", "sgm"], "wsgm and/or sgm.")
flags.DEFINE_list("steps", ["4", "8", "16", "32", "64", "128", "256"], "Steps per scale N swept.")
flags.DEFINE_integer("train_steps", 0, "train.steps of every model (0: the configs' own).")
flags.DEFINE_string("sampler", "", "A sampler spec (wsgm/solvers.parse_spec, e.g. euler_maruyama) for every "
                    "model (it clears sampling.per_scale); empty: the configs' own.")
flags.DEFINE_enum("stage", "all", ["all", "run", "time", "report"], "What to do (see the docstring).")
define_set_flag()
FLAGS = flags.FLAGS


def make_config(method: str, size: int, steps, train_steps: int = 0, sampler: str = "", settings=()):
  config = override(METHODS[method].get_config(str(size)), **parse_settings(settings))
  if sampler:
    solvers.apply_spec_to_all(config.sampling, sampler)
  config.eval.steps_sweep = tuple(sorted(int(n) for n in steps))
  config.sampling.progress = False   # timed sampling without per-scale host callbacks
  if train_steps:
    config.train.steps = train_steps
  return config


def workdir(out: str, size: int, method: str) -> str:
  return os.path.join(out, f"L{size}_{method}")


def run_one(config, wdir: str) -> dict:
  """Train (or resume) and sweep N: what the workdir's eval/phi4.json holds."""
  train.train(config, wdir, wsgm_method.METHOD)
  return evaluation.evaluate(config, wdir, wsgm_method.METHOD)


def time_one(config, wdir: str) -> dict:
  """Seconds per sample of compiled sampling at every N of eval.steps_sweep (eval.num_samples samples), and
  8 fields of the largest N. Writes WDIR/timing.json and timing_fields.npz."""
  rows, fields = [], None
  for n in config.eval.steps_sweep:
    run = config.copy_and_resolve_references()
    run.sampling.steps = n
    generated, _, seconds = sampling.generate(run, wdir, config.eval.num_samples, jax.random.key(config.seed + 1),
                                              1, wsgm_method.METHOD)
    rows.append(dict(steps=n, seconds_per_sample=seconds))
    fields = generated[:8]
    print(f"{config.name} L={config.data.image_size} N={n}: {seconds:.2e} s/sample", flush=True)
  result = dict(device=str(jax.devices()[0].device_kind), device_count=jax.device_count(), rows=rows)
  outputs.write_json(os.path.join(wdir, "timing.json"), result)
  outputs.save_npz(os.path.join(wdir, "timing_fields.npz"), fields=fields)
  return result


def discretization_steps(rows, name):
  """The smallest N from which on |v(N) - v(N_max)| <= 2 sqrt(se(N)^2 + se(N_max)^2) at every larger N: where the
  discretization error is no longer resolved from the training-limited level v(N_max)."""
  rows = sorted(rows, key=lambda r: r["steps"])
  last = rows[-1]["metrics"][name]
  inside = [abs(r["metrics"][name]["value"] - last["value"]) <= 2 * np.hypot(r["metrics"][name]["se"], last["se"])
            for r in rows]
  out = None
  for row, ok in zip(reversed(rows), reversed(inside)):
    if not ok:
      break
    out = row["steps"]
  return out


def summarize(sweep: dict, timing: dict, config) -> dict:
  """One (L, method): the sweep's rows (one sampler) and timing, reduced to what the report compares."""
  names = list(sweep["quality_metrics"])
  spec = sweep["rows"][0]["sampler"]
  rows = sorted((r for r in sweep["rows"] if r["sampler"] == spec), key=lambda r: r["steps"])
  seconds = {r["steps"]: r["seconds_per_sample"] for r in (timing or {}).get("rows", rows)}
  scales = config.pyramid.levels + 1
  reached = sweep["steps_to_quality"][spec]
  disc = {name: discretization_steps(rows, name) for name in names}
  disc["all"] = None if any(v is None for v in disc.values()) else max(disc.values())
  at = lambda n: None if n is None else seconds.get(n)
  return dict(
      sampler=spec, levels=config.pyramid.levels, train_steps=config.train.steps,
      seconds_measured="alone (time stage)" if timing else "inside the sweep (other jobs may have shared the device)",
      device=(timing or {}).get("device"), steps_to_quality=reached, discretization_steps=disc,
      training_limited={name: rows[-1]["metrics"][name] for name in names},
      seconds_to_quality=at(reached["all"]),
      network_evaluations_to_quality=next((r["network_evaluations_per_scale"] * scales for r in rows
                                           if r["steps"] == reached["all"]), None),
      rows=[dict(steps=r["steps"], network_evaluations=r["network_evaluations_per_scale"] * scales,
                 seconds_per_sample=seconds.get(r["steps"]), metrics={k: r["metrics"][k] for k in names},
                 phi4=r["phi4"]) for r in rows])


def report(out, configs: dict) -> dict:
  """configs: {(L, method): config} of the pairs that ran."""
  sizes = sorted({size for size, _ in configs})
  methods = [m for m in METHODS if any(m == method for _, method in configs)]
  result = dict(criterion="steps to quality: the smallest N whose metric is within its noise floor + 2 standard "
                "errors; discretization steps: the smallest N from which on the excess over the largest N's value "
                "is within 2 combined standard errors", sizes={})
  fields = {}
  for size in sizes:
    entry = {}
    for method in methods:
      config, wdir = configs[(size, method)], workdir(out, size, method)
      with open(os.path.join(wdir, "eval", "phi4.json")) as f:
        sweep = json.load(f)
      timing_path = os.path.join(wdir, "timing.json")
      timing = json.load(open(timing_path)) if os.path.exists(timing_path) else None
      entry[method] = summarize(sweep, timing, config)
      npz = os.path.join(wdir, "timing_fields.npz")
      if os.path.exists(npz):
        with np.load(npz) as f:
          fields[(size, method)] = f["fields"]
    # The data side, the same for every method of this size (the same MCMC runs and held-out split)
    entry["data_phi4"], entry["heldout"] = sweep["data_phi4"], sweep["heldout"]
    entry["floors"] = {k: {"floor": v["floor"], "floor_se": v["floor_se"]}
                       for k, v in sweep["rows"][0]["metrics"].items() if k in sweep["quality_metrics"]}
    entry["mcmc_training"] = phi4.cached_report(data.phi4_params(config.data, "train"), config.data.phi4.cache_dir)
    fields[(size, "mcmc")] = evaluation.heldout(config).reference[:8]
    result["sizes"][str(size)] = entry
  path = outputs.write_json_run(out, "phi4_sizes", result)
  print_table(result, methods)
  plot(result, methods, os.path.join(out, "phi4_sizes.png"))
  plot_fields(fields, sizes, methods, os.path.join(out, "phi4_sizes_fields.png"))
  print(f"wrote {path} (and {out}/phi4_sizes.json, the newest), phi4_sizes.png, phi4_sizes_fields.png")
  return result


def _n(v):
  return "-" if v is None else str(v)


def print_table(result, methods):
  for size, entry in result["sizes"].items():
    d = entry["data_phi4"]
    print(f"L={size}: MCMC U4 {d['binder_u4'][0]:.3f} +- {d['binder_u4'][1]:.3f}, chi {d['susceptibility'][0]:.2f}; "
          "floors " + ", ".join(f"{k.split('/')[-1]} " + ("none" if v["floor"] is None else
                                                                     f"{v['floor']:.3f} +- {v['floor_se']:.3f}")
                                 for k, v in entry["floors"].items()) + f" ({entry['heldout']})")
    for method in methods:
      s = entry[method]
      names = list(s["training_limited"])
      print(f"  {method:>4} J={s['levels']}: steps to quality " + ", ".join(
          f"{k.split('/')[-1]} {_n(v)}" for k, v in s["steps_to_quality"].items())
            + "; discretization steps " + ", ".join(f"{k.split('/')[-1]} {_n(v)}" for k, v in s["discretization_steps"].items()))
      print("       training-limited (N max): " + ", ".join(
          f"{k.split('/')[-1]} {s['training_limited'][k]['value']:.3f} +- {s['training_limited'][k]['se']:.3f}"
          f"{'' if s['training_limited'][k]['within'] else ' *'}" for k in names))
      for r in s["rows"]:
        sec = r["seconds_per_sample"]
        print(f"       N={r['steps']:>4} NFE={r['network_evaluations']:>5} U4 {r['phi4']['binder_u4'][0]:.3f} +- "
              f"{r['phi4']['binder_u4'][1]:.3f} " + " ".join(
                  f"{k.split('/')[-1]} {r['metrics'][k]['value']:.3f}{'' if r['metrics'][k]['within'] else '*'}"
                  for k in names) + ("" if sec is None else f"  {sec:.2e} s/sample"))


def plot(result, methods, path):
  """Steps to quality vs L (all metrics together, and U4 alone); U4 vs N per L; seconds per sample vs L."""
  fig, axes = plots.new_figure(3, width=4.6)
  sizes = [int(s) for s in result["sizes"]]
  styles = {"wsgm": "o-", "sgm": "s--"}
  top = max(r["steps"] for e in result["sizes"].values() for m in methods for r in e[m]["rows"]) * 2
  for method in methods:
    for key, color in (("all", "C0"), ("phi4/binder_u4_error", "C1")):
      ns = [result["sizes"][str(s)][method]["steps_to_quality"][key] for s in sizes]
      axes[0].plot(sizes, [top if n is None else n for n in ns], styles[method], color=color,
                   label=f"{method}: {'all metrics' if key == 'all' else 'U4'}")
  axes[0].axhline(top, color="gray", ls=":", lw=0.8)
  axes[0].set(xlabel="L", ylabel="steps per scale N", title=f"steps to quality (dotted: not reached by N={top // 2})")
  plots.log_axis_ticks(axes[0], sizes)
  ticks = sorted({r["steps"] for e in result["sizes"].values() for m in methods for r in e[m]["rows"]})
  axes[0].set_yscale("log", base=2)
  axes[0].set_yticks(ticks + [top], [str(n) for n in ticks] + ["-"])
  axes[0].yaxis.set_minor_locator(plots.matplotlib.ticker.NullLocator())
  axes[0].legend(fontsize=7)
  for i, size in enumerate(sizes):
    entry = result["sizes"][str(size)]
    for method in methods:
      rows = entry[method]["rows"]
      axes[1].errorbar([r["steps"] for r in rows], [r["phi4"]["binder_u4"][0] for r in rows],
                       [r["phi4"]["binder_u4"][1] for r in rows], fmt=styles[method], color=f"C{i}", capsize=2,
                       ms=4, label=f"L={size} {method}")
    u4 = entry["data_phi4"]["binder_u4"]
    axes[1].axhspan(u4[0] - u4[1], u4[0] + u4[1], color=f"C{i}", alpha=0.2)
  axes[1].set(xlabel="steps per scale N", title="Binder U4 (bands: MCMC +- se)")
  plots.log_axis_ticks(axes[1], sorted({r["steps"] for r in result["sizes"][str(sizes[0])][methods[0]]["rows"]}))
  axes[1].legend(fontsize=6)
  for method in methods:
    for n, color in ((16, "C0"), (256, "C3")):
      secs = [next((r["seconds_per_sample"] for r in result["sizes"][str(s)][method]["rows"] if r["steps"] == n), None)
              for s in sizes]
      if all(v is not None for v in secs):
        axes[2].plot(sizes, secs, styles[method], color=color, label=f"{method} N={n}")
  axes[2].set(yscale="log", xlabel="L", ylabel="seconds per sample", title="compiled sampling")
  plots.log_axis_ticks(axes[2], sizes)
  if axes[2].lines:
    axes[2].legend(fontsize=7)
  plots.save(fig, path)


def plot_fields(fields, sizes, methods, path, count=4):
  """One row per L: MCMC fields, then each method's samples at the largest N."""
  groups = ["mcmc"] + [m for m in methods if any((s, m) in fields for s in sizes)]
  fig, axes = plots.plt.subplots(len(sizes), len(groups) * count, figsize=(1.3 * len(groups) * count, 1.4 * len(sizes)),
                                 squeeze=False)
  for i, size in enumerate(sizes):
    for g, group in enumerate(groups):
      for k in range(count):
        ax = axes[i, g * count + k]
        ax.axis("off")
        if (size, group) in fields and k < len(fields[(size, group)]):
          ax.imshow(fields[(size, group)][k, ..., 0], cmap="RdBu_r", vmin=-2.5, vmax=2.5)
        if k == 0:
          ax.set_title(f"L={size} {group}", fontsize=7)
  plots.save(fig, path)


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  sizes, steps = [int(s) for s in FLAGS.sizes], [int(n) for n in FLAGS.steps]
  for m in FLAGS.methods:
    if m not in METHODS:
      raise app.UsageError(f"--methods: {m!r} is not one of {sorted(METHODS)}")
  try:   # a bad size fails here, in one line, before anything runs
    configs = {(s, m): make_config(m, s, steps, FLAGS.train_steps, FLAGS.sampler, FLAGS.set)
               for s in sizes for m in FLAGS.methods}
  except (InputError, KeyError, TypeError) as e:
    sys.exit(f"error: {e}")
  if FLAGS.stage in ("all", "run"):
    for (size, method), config in configs.items():
      run_one(config, workdir(FLAGS.out, size, method))
  if FLAGS.stage in ("all", "time"):
    for (size, method), config in configs.items():
      time_one(config, workdir(FLAGS.out, size, method))
  if FLAGS.stage in ("all", "report"):
    report(FLAGS.out, configs)


if __name__ == "__main__":
  app.run(main)
