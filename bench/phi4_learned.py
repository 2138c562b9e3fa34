"""phi^4 at beta_c: learned WSGM vs pixel-space SGM, same data, same UNet width, N steps per scale.

Trains configs/phi4_wsgm.py and configs/phi4_sgm.py (or resumes them), runs each one's --mode=eval sweep over
N (wsgm/evaluation.py), and puts the two side by side: U4, susceptibility, S/V, and the configs' quality metrics
(log-spectrum error, value-histogram W1, U4 and chi errors) with bootstrap errors and noise floors (MCMC vs MCMC),
seconds per sample and steps to quality (every metric within floor + 2 standard errors). Writes
OUT/phi4_learned_<k>.json (phi4_learned.json: the newest) and OUT/phi4_learned.png; each workdir keeps its eval/phi4.json, quality.png, fields.png.

python bench/phi4_learned.py --out=runs/phi4_learned --steps=4,8,16,32,64,128,256 --samplers=euler_maruyama \
    --set=model.padding=SAME --set=data.phi4.chains=128 --set=train.steps=2000 --set=sampling.t_max=0   # the README's run, ~2 h on 2 CPU cores
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from configs import define_set_flag, override, parse_settings, phi4_sgm, phi4_wsgm  # noqa: E402

from lib import checkpoint, outputs, plots  # noqa: E402
from wsgm import evaluation, train  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

flags.DEFINE_string("out", "runs/phi4_learned", "Output directory (workdirs wsgm/ and sgm/ inside).")
flags.DEFINE_integer("train_steps", 0, "Override train.steps (0: the configs' own).")
flags.DEFINE_list("steps", [], "Override eval.steps_sweep, the reverse-SDE steps per scale N (empty: the configs' own).")
flags.DEFINE_bool("report_only", False, "Skip training and evaluation: report the workdirs' newest eval/phi4.json "
                  "(e.g. after running --mode=eval for each config by hand).")
flags.DEFINE_list("samplers", [], "eval.samplers: sampler specs (wsgm/solvers.parse_spec) swept at every N (empty: "
                  "the configs' sampler).")
define_set_flag()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  results = {}
  for method, module in (("wsgm", phi4_wsgm), ("sgm", phi4_sgm)):
    config = override(module.get_config(), **parse_settings(FLAGS.set))
    if FLAGS.train_steps:
      config.train.steps = FLAGS.train_steps
    if FLAGS.steps:
      config.eval.steps_sweep = tuple(int(n) for n in FLAGS.steps)
    config.eval.samplers = tuple(FLAGS.samplers)
    workdir = os.path.join(FLAGS.out, method)
    if FLAGS.report_only:
      with open(os.path.join(workdir, "eval", "phi4.json")) as f:
        results[method] = json.load(f)
    else:
      train.train(config, workdir, wsgm_method.METHOD)
      results[method] = evaluation.evaluate(config, workdir, wsgm_method.METHOD)
  path = outputs.write_json_run(FLAGS.out, "phi4_learned", results)   # phi4_learned_<k>.json, never overwritten
  mcmc = results["wsgm"]["data_phi4"]
  print(f"MCMC reference: U4 {mcmc['binder_u4'][0]:.3f} +- {mcmc['binder_u4'][1]:.3f}, <|m|> {mcmc['abs_magnetization'][0]:.3f}, "
        f"chi {mcmc['susceptibility'][0]:.2f}, S/V {mcmc['action_density'][0]:.3f}; {results['wsgm']['heldout']}")
  names = results["wsgm"]["quality_metrics"]
  floors = results["wsgm"]["rows"][0]["metrics"]
  print("noise floor (MCMC floor set vs the reference): "
        + ", ".join(f"{k} {floors[k]['floor']:.3f} +- {floors[k]['floor_se']:.3f}" for k in names))
  print(f"{'method':>6} {'sampler':>34} {'N':>4} {'NFE':>5} {'U4':>13} {'chi':>6} {'S/V':>7} "
        + " ".join(f"{k.split('/')[-1]:>22}" for k in names) + f" {'s/sample':>8}   (*: outside floor + 2 se)")
  for method in ("wsgm", "sgm"):
    r = results[method]
    for row in r["rows"]:
      o, m = row["phi4"], row["metrics"]
      nfe = row["network_evaluations_per_scale"] * (r["levels"] + 1)
      cells = " ".join(f"{m[k]['value']:>11.3f} +- {m[k]['se']:.3f}{' ' if m[k]['within'] else '*'}" for k in names)
      print(f"{method:>6} {row['sampler']:>34} {row['steps']:>4} {nfe:>5} {o['binder_u4'][0]:6.3f}+-{o['binder_u4'][1]:.3f} "
            f"{o['susceptibility'][0]:6.2f} {o['action_density'][0]:7.3f} {cells} {row['seconds_per_sample']:8.4f}")
    for spec, reached in r["steps_to_quality"].items():
      print(f"{method}, {spec}: steps to quality (within floor + 2 se): "
            + ", ".join(f"{k} {'not reached' if v is None else v}" for k, v in reached.items()))
  plot(results, os.path.join(FLAGS.out, "phi4_learned.png"))
  print(f"wrote {path} (and {FLAGS.out}/phi4_learned.json, the newest) and phi4_learned.png")


def plot(results, path):
  """Solid WSGM, dashed SGM; one color per sampler; error bars: bootstrap standard errors; gray band: the noise
  floor + 2 of its standard errors."""
  fig, axes = plots.new_figure(4, width=4.0)
  mcmc = results["wsgm"]["data_phi4"]
  specs = list(dict.fromkeys(r["sampler"] for r in results["wsgm"]["rows"]))
  panels = (("log_spectrum_error", "log-spectrum error"), ("pixel_histogram_w1", "histogram of phi: W1 / std"),
            ("phi4/susceptibility_error", "|chi / chi MCMC - 1|"))
  for method, style in (("wsgm", "o-"), ("sgm", "s--")):
    for i, spec in enumerate(specs):
      rows = [r for r in results[method]["rows"] if r["sampler"] == spec]
      ns, label = [r["steps"] for r in rows], f"{method} {spec}"
      axes[0].errorbar(ns, [r["phi4"]["binder_u4"][0] for r in rows], [r["phi4"]["binder_u4"][1] for r in rows],
                       fmt=style, color=f"C{i}", capsize=3, label=label)
      for ax, (key, _) in zip(axes[1:], panels):
        ax.errorbar(ns, [r["metrics"][key]["value"] for r in rows], [r["metrics"][key]["se"] for r in rows],
                    fmt=style, color=f"C{i}", capsize=2, label=label)
  axes[0].axhspan(mcmc["binder_u4"][0] - mcmc["binder_u4"][1], mcmc["binder_u4"][0] + mcmc["binder_u4"][1],
                  color="k", alpha=0.2, label="MCMC")
  axes[0].set(xlabel="steps per scale N", title="Binder cumulant U4")
  first = results["wsgm"]["rows"][0]["metrics"]
  for ax, (key, title) in zip(axes[1:], panels):
    floor, se = first[key]["floor"], first[key]["floor_se"]
    ax.axhspan(1e-4, floor + 2 * se, color="gray", alpha=0.3, label="MCMC vs MCMC (floor + 2 se)")
    ax.set(yscale="log", xlabel="steps per scale N", title=title)
  for ax in axes:
    plots.log_axis_ticks(ax, sorted({r["steps"] for r in results["wsgm"]["rows"]}))
  axes[0].legend(fontsize=6)
  axes[1].legend(fontsize=6)
  plots.save(fig, path)


if __name__ == "__main__":
  app.run(main)
