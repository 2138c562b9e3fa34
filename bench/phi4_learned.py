"""phi^4 at beta_c: learned WSGM vs pixel-space SGM, same data, same UNet width, N steps per scale.

Trains configs/phi4_wsgm.py and configs/phi4_sgm.py (or resumes them), runs each one's --mode=eval sweep over
N (wsgm/steps_sweep.py), and puts the two side by side: U4, |m|, susceptibility, spectrum error and value-
histogram distance against the MCMC fields, seconds per sample, and steps to quality. Writes
OUT/phi4_learned.json and OUT/phi4_learned.png; each workdir keeps its eval/phi4.json, quality.png, fields.png.

python bench/phi4_learned.py --out=runs/phi4_learned          # ~30 min on 2 CPU cores (data, 2 trainings, sweeps)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from configs import phi4_sgm, phi4_wsgm  # noqa: E402
from lib import checkpoint, plots  # noqa: E402
from wsgm import evaluation, train  # noqa: E402

flags.DEFINE_string("out", "runs/phi4_learned", "Output directory (workdirs wsgm/ and sgm/ inside).")
flags.DEFINE_integer("train_steps", 0, "Override train.steps (0: the configs' own).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  results = {}
  for method, module in (("wsgm", phi4_wsgm), ("sgm", phi4_sgm)):
    config = module.get_config()
    if FLAGS.train_steps:
      config.train.steps = FLAGS.train_steps
    workdir = os.path.join(FLAGS.out, method)
    train.train(config, workdir)
    evaluation.evaluate(config, workdir)
    with open(os.path.join(workdir, "eval", "phi4.json")) as f:
      results[method] = json.load(f)
  with open(os.path.join(FLAGS.out, "phi4_learned.json"), "w") as f:
    json.dump(results, f, indent=1)
  data = results["wsgm"]["data_phi4"]
  print(f"MCMC data: U4 {data['binder_u4'][0]:.3f} +- {data['binder_u4'][1]:.3f}, <|m|> {data['abs_magnetization'][0]:.3f}, "
        f"chi {data['susceptibility'][0]:.2f}, S/V {data['action_density'][0]:.3f}")
  print(f"{'method':>6} {'N':>4} {'NFE':>5} {'U4':>13} {'<|m|>':>6} {'chi':>6} {'S/V':>7} {'spec err':>8} {'hist W1':>7} {'s/sample':>8}")
  for method, r in results.items():
    for row in r["rows"]:
      o = row["phi4"]
      nfe = row["steps"] * (r["levels"] + 1)
      print(f"{method:>6} {row['steps']:>4} {nfe:>5} {o['binder_u4'][0]:6.3f}+-{o['binder_u4'][1]:.3f} "
            f"{o['abs_magnetization'][0]:6.3f} {o['susceptibility'][0]:6.2f} {o['action_density'][0]:7.3f} "
            f"{row['spectrum_error']:8.3f} {row['pixel_histogram']:7.3f} {row['seconds_per_sample']:8.4f}")
    reached = [row for row in r["rows"] if row["steps"] == r["steps_to_quality"]]
    print(f"{method}: steps to quality (spectrum error <= {r['spectral_threshold']}, |dU4| <= {r['u4_tolerance']}): "
          f"{r['steps_to_quality']}" + (f", {reached[0]['seconds_per_sample']:.4f} s per sample" if reached else ""))
  plot(results, os.path.join(FLAGS.out, "phi4_learned.png"))
  print(f"wrote {FLAGS.out}/phi4_learned.json and phi4_learned.png")


def plot(results, path):
  fig, axes = plots.new_figure(3, width=4.2)
  data = results["wsgm"]["data_phi4"]
  for method, style in (("wsgm", "C0o-"), ("sgm", "C3s--")):
    rows = results[method]["rows"]
    ns = [r["steps"] for r in rows]
    axes[0].errorbar(ns, [r["phi4"]["binder_u4"][0] for r in rows], [r["phi4"]["binder_u4"][1] for r in rows],
                     fmt=style, capsize=3, label=method)
    axes[1].plot(ns, [r["spectrum_error"] for r in rows], style, label=method)
    axes[2].plot(ns, [r["pixel_histogram"] for r in rows], style, label=method)
  axes[0].axhspan(data["binder_u4"][0] - data["binder_u4"][1], data["binder_u4"][0] + data["binder_u4"][1],
                  color="k", alpha=0.2, label="MCMC")
  axes[0].set(xscale="log", xlabel="steps per scale N", title="Binder cumulant U4")
  axes[1].set(xscale="log", yscale="log", xlabel="steps per scale N", title="power-spectrum error")
  axes[2].set(xscale="log", yscale="log", xlabel="steps per scale N", title="histogram of phi: W1 / std")
  axes[0].legend()
  plots.save(fig, path)


if __name__ == "__main__":
  app.run(main)
