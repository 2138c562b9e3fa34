"""phi^4 at beta_c: learned WSGM vs pixel-space SGM, same data, same UNet width, N steps per scale.

Trains configs/phi4_wsgm.py and configs/phi4_sgm.py (or resumes them), runs each one's --mode=eval sweep over
N (wsgm/evaluation.py), and puts the two side by side: U4, |m|, susceptibility, spectrum error and value-
histogram distance against the MCMC fields, seconds per sample, steps to quality, and the metrics' noise floor. Writes
OUT/phi4_learned_<k>.json (phi4_learned.json: the newest) and OUT/phi4_learned.png; each workdir keeps its eval/phi4.json, quality.png, fields.png.

python bench/phi4_learned.py --out=runs/phi4_learned --steps=4,8,16,32,64,128,256   # ~2 h on 2 CPU cores
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from configs import phi4_sgm, phi4_wsgm  # noqa: E402
import numpy as np  # noqa: E402

from lib import checkpoint, data, metrics, outputs, phi4, plots  # noqa: E402
from wsgm import evaluation, train  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

flags.DEFINE_string("out", "runs/phi4_learned", "Output directory (workdirs wsgm/ and sgm/ inside).")
flags.DEFINE_integer("train_steps", 0, "Override train.steps (0: the configs' own).")
flags.DEFINE_list("steps", [], "Override eval.steps_sweep, the reverse-SDE steps per scale N (empty: the configs' own).")
flags.DEFINE_bool("report_only", False, "Skip training and evaluation: report the workdirs' newest eval/phi4.json "
                  "(e.g. after running --mode=eval for each config by hand).")
flags.DEFINE_list("samplers", [], "eval.samplers: sampler specs (wsgm/solvers.parse_spec) swept at every N (empty: "
                  "the configs' sampler).")
FLAGS = flags.FLAGS


def noise_floor(config, trials=4):
  """What the metrics read for perfect samples: disjoint sets of MCMC training fields, as many as the samples,
  scored against the same held-out reference (mean and max over the sets). With 256 fields the sign of m
  splits them unevenly, so the value histogram's floor is far from 0."""
  reference = evaluation.reference_images(config, config.eval.num_samples)
  fields = data.load_array(config.data, "train")
  n = len(reference)
  order = np.random.default_rng(config.seed).permutation(len(fields))

  def u4(fields):
    return phi4.observables(fields, config.data.phi4.beta, config.data.phi4.lam)["binder_u4"][0]

  scores = []
  for k in range(min(trials, len(fields) // n)):
    subset = fields[order[k * n:(k + 1) * n]]
    scores.append(dict(spectrum_error=metrics.spectrum_error(subset, reference),
                       pixel_histogram=metrics.marginal_distance(subset, reference),
                       u4_error=abs(u4(subset) - u4(reference))))
  return {key: dict(mean=float(np.mean([s[key] for s in scores])), max=float(np.max([s[key] for s in scores])))
          for key in scores[0]}


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  results = {}
  for method, module in (("wsgm", phi4_wsgm), ("sgm", phi4_sgm)):
    config = module.get_config()
    if FLAGS.train_steps:
      config.train.steps = FLAGS.train_steps
    if FLAGS.steps:
      config.eval.steps_sweep = tuple(int(n) for n in FLAGS.steps)
    config.eval.samplers = tuple(FLAGS.samplers)
    workdir = os.path.join(FLAGS.out, method)
    if not FLAGS.report_only:
      train.train(config, workdir, wsgm_method.METHOD)
      evaluation.evaluate(config, workdir, wsgm_method.METHOD)
    with open(os.path.join(workdir, "eval", "phi4.json")) as f:
      results[method] = json.load(f)
  results["noise_floor"] = noise_floor(config)
  path = outputs.write_json_run(FLAGS.out, "phi4_learned", results)   # phi4_learned_<k>.json, never overwritten
  mcmc = results["wsgm"]["data_phi4"]
  print(f"MCMC data: U4 {mcmc['binder_u4'][0]:.3f} +- {mcmc['binder_u4'][1]:.3f}, <|m|> {mcmc['abs_magnetization'][0]:.3f}, "
        f"chi {mcmc['susceptibility'][0]:.2f}, S/V {mcmc['action_density'][0]:.3f}")
  print("noise floor (MCMC fields vs the reference, mean / max): "
        + ", ".join(f"{k} {v['mean']:.3f} / {v['max']:.3f}" for k, v in results["noise_floor"].items()))
  print(f"{'method':>6} {'sampler':>34} {'N':>4} {'NFE':>5} {'U4':>13} {'<|m|>':>6} {'chi':>6} {'S/V':>7} "
        f"{'spec err':>8} {'hist W1':>7} {'s/sample':>8}")
  for method in ("wsgm", "sgm"):
    r = results[method]
    for row in r["rows"]:
      o = row["phi4"]
      nfe = row["network_evaluations_per_scale"] * (r["levels"] + 1)
      print(f"{method:>6} {row['sampler']:>34} {row['steps']:>4} {nfe:>5} {o['binder_u4'][0]:6.3f}+-{o['binder_u4'][1]:.3f} "
            f"{o['abs_magnetization'][0]:6.3f} {o['susceptibility'][0]:6.2f} {o['action_density'][0]:7.3f} "
            f"{row['spectrum_error']:8.3f} {row['pixel_histogram']:7.3f} {row['seconds_per_sample']:8.4f}")
    for spec, n in r["steps_to_quality"].items():
      reached = [row for row in r["rows"] if row["sampler"] == spec and row["steps"] == n]
      print(f"{method}, {spec}: steps to quality (spectrum error <= {r['spectral_threshold']}, |dU4| <= "
            f"{r['u4_tolerance']}): {n}" + (f", {reached[0]['seconds_per_sample']:.4f} s per sample" if reached else ""))
  plot(results, os.path.join(FLAGS.out, "phi4_learned.png"))
  print(f"wrote {path} (and {FLAGS.out}/phi4_learned.json, the newest) and phi4_learned.png")


def plot(results, path):
  """Solid WSGM, dashed SGM; one color per sampler."""
  fig, axes = plots.new_figure(4, width=4.0)
  mcmc = results["wsgm"]["data_phi4"]
  specs = list(dict.fromkeys(r["sampler"] for r in results["wsgm"]["rows"]))
  for method, style in (("wsgm", "o-"), ("sgm", "s--")):
    for i, spec in enumerate(specs):
      rows = [r for r in results[method]["rows"] if r["sampler"] == spec]
      ns, label = [r["steps"] for r in rows], f"{method} {spec}"
      axes[0].errorbar(ns, [r["phi4"]["binder_u4"][0] for r in rows], [r["phi4"]["binder_u4"][1] for r in rows],
                       fmt=style, color=f"C{i}", capsize=3, label=label)
      axes[1].plot(ns, [r["spectrum_error"] for r in rows], style, color=f"C{i}", label=label)
      axes[2].plot(ns, [r["pixel_histogram"] for r in rows], style, color=f"C{i}", label=label)
      # Cost on the x axis: WSGM's N steps per scale are 3N network calls, most of them on small grids.
      axes[3].plot([r["seconds_per_sample"] for r in rows],
                   [abs(r["phi4"]["binder_u4"][0] - mcmc["binder_u4"][0]) for r in rows], style, color=f"C{i}",
                   label=label)
  axes[0].axhspan(mcmc["binder_u4"][0] - mcmc["binder_u4"][1], mcmc["binder_u4"][0] + mcmc["binder_u4"][1],
                  color="k", alpha=0.2, label="MCMC")
  axes[0].set(xlabel="steps per scale N", title="Binder cumulant U4")
  axes[1].set(yscale="log", xlabel="steps per scale N", title="power-spectrum error")
  axes[2].set(yscale="log", xlabel="steps per scale N", title="histogram of phi: W1 / std")
  for ax in axes[:3]:
    plots.log_axis_ticks(ax, ns)
  floor = results["noise_floor"]
  for ax, key in zip(axes[1:], ("spectrum_error", "pixel_histogram", "u4_error")):
    ax.axhline(floor[key]["mean"], color="gray", ls="-.", label="MCMC vs MCMC")
  axes[3].axhline(results["wsgm"]["u4_tolerance"], color="k", ls=":", label="tolerance")
  axes[3].set(xscale="log", yscale="log", xlabel="seconds per sample", title="|U4 - U4 MCMC| vs sampling time")
  axes[3].minorticks_off()   # decade labels only; minor labels overlap on a one-decade range
  axes[0].legend(fontsize=6)
  axes[3].legend(fontsize=6)
  plots.save(fig, path)


if __name__ == "__main__":
  app.run(main)
