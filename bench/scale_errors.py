"""Which model of a trained WSGM pyramid carries a spectral error: the factorization p(x_J) prod_j p(xbar_j | x_j)
lets each factor be tested alone, by giving the conditional models *real* low-passes.

With the config's sampler (`--steps` overrides its N), on the 2 x `--samples` held-out images of the eval
(reference and floor sets, as `--mode=eval` splits them):
- `full`: generation from noise, scored against the reference set; its floor is the floor set against it (the
  eval's log-spectrum error and noise floor).
- `coarse`: the coarse model's x_J against the reference set's x_J (the spectrum of the J-times-downsampled
  field); floor: the floor set's x_J.
- `scale_j alone`: the floor set's own x_j, one refinement step by scale_j's model, against the floor set's
  x_{j-1}, image by image (`--models=scale_j` loads that model only: a quick test of one retrained scale).
- `from x_j` (j = 2..J): the floor set's own x_j, refined to x_0 by the models of scales j..1 alone. Scored
  against the floor set itself, image by image with the same low-pass, so the low-pass's sampling noise cancels
  and what is left is the error of the generated details (`paired`); and against the reference set, the
  eval's metric with the coarser scales exact (`vs reference`, same floor as `full`).
Per radial shell |k| of the output grid: log(P_generated / P_target) with its bootstrap standard error (the
generated images resampled, the target fixed, as in the eval; pairs resampled together), so one sees at which
frequencies, and from which model, an error comes.
On phi^4, for the rows that end in fields (floor, full, scale_1 alone, from x_j paired): S / V and the site
averages it is made of (lib/phi4.action_terms: hopping, phi2, quartic), generated minus target with its standard
error (paired rows: of the per-field differences), so that an action-density error is traced to the two-point
part (hopping, phi2: the spectrum) or to the one-point law's tails (quartic).

  python bench/scale_errors.py --config=configs/phi4_wsgm.py --workdir=runs/phi4_w20 --steps=16,64 \
      --config.model.padding=SAME --config.data.phi4.chains=128 --config.train.steps=2000 --config.sampling.t_max=0
  (the workdir's training flags: its data say which fields are held out)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
from ml_collections import config_flags  # noqa: E402
import numpy as np  # noqa: E402

from lib import metrics, outputs, parallel, phi4  # noqa: E402
from wsgm import evaluation, experiments, pyramid, sampling, wavelets  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

config_flags.DEFINE_config_file("config", "configs/phi4_wsgm.py", "A WSGM config (its sampler is used; "
                                "--config.sampling.sampler=... etc. override it).")
flags.DEFINE_string("workdir", "runs/phi4_w20", "Its trained workdir.")
flags.DEFINE_bool("from_workdir", False, experiments.FROM_WORKDIR_HELP)
flags.DEFINE_list("steps", ["16"], "Steps per scale, one row group per N.")
flags.DEFINE_list("models", ["all"], "all, or the detail models to test alone (only they are loaded), "
                  "e.g. scale_2")
flags.DEFINE_integer("samples", 256, "Images per set (reference, floor, generated).")
flags.DEFINE_integer("bootstrap", 200, "Bootstrap resamples for the standard errors.")
flags.DEFINE_string("out", "", "Directory of the JSON output, scale_errors_<k>.json at the next free k "
                    "(default WORKDIR/bench).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = experiments.bench_config(FLAGS, sys.argv)
  levels, wavelet, n = config.pyramid.levels, config.pyramid.wavelet, FLAGS.samples
  config.sampling.batch_size = n
  config.sampling.progress = False
  held = evaluation.heldout(config, n)
  if held.floor_set is None:
    raise SystemExit(held.note)
  ref, floor = held.reference, held.floor_set
  mesh = parallel.data_mesh()
  names = None if FLAGS.models == ["all"] else FLAGS.models
  models, stats = sampling.load_models(config, FLAGS.workdir, ref.shape[-1], names, wsgm_method.METHOD)
  floor_lows, _ = wavelets.analyze(floor, wavelet, levels)
  ref_lows, _ = wavelets.analyze(ref, wavelet, levels)
  floor_lows, ref_lows = (floor,) + tuple(map(np.asarray, floor_lows)), (ref,) + tuple(map(np.asarray, ref_lows))

  def ratios(generated, target, paired):
    row = metrics.shell_log_ratios(generated, target, paired, FLAGS.bootstrap)
    if config.data.name == "phi4" and generated.shape == target.shape == floor.shape:   # rows ending in fields
      row["phi4_terms"] = phi4.action_term_differences(generated, target, config.data.phi4.beta,
                                                       config.data.phi4.lam, paired)
    return row

  rows = {"floor": ratios(floor, ref, False), "floor coarse": ratios(floor_lows[-1], ref_lows[-1], False)}
  _, conditionals = wsgm_method.score_functions(models, levels)
  for steps in map(int, FLAGS.steps):
    config.sampling.steps = steps
    key = jax.random.key(config.seed + 1)
    draw = wsgm_method.detail_draw(config, conditionals, mesh)
    if names is None:
      gen = wsgm_method.make_generator(config, models, stats, ref.shape[-1], mesh)(key)
      rows[f"N={steps} full"] = ratios(np.asarray(gen.image), ref, False)
      rows[f"N={steps} coarse"] = ratios(np.asarray(gen.lowpasses[0]), ref_lows[-1], False)
    for j in range(levels, 0, -1):
      if names is not None and f"scale_{j}" not in names:
        continue
      one = jax.jit(lambda k, low, j=j: pyramid.refine(k, low, j, draw, stats, wavelet, last=j).image)
      rows[f"N={steps} scale_{j} alone"] = ratios(np.asarray(one(key, floor_lows[j])), floor_lows[j - 1], True)
      if names is None and j > 1:
        x = np.asarray(wsgm_method.make_super_resolver(config, models, stats, j, mesh)(key, floor_lows[j]).image)
        rows[f"N={steps} from x_{j} paired"] = ratios(x, floor, True)
        rows[f"N={steps} from x_{j} vs ref."] = ratios(x, ref, False)
  print("log-spectrum error (mean |log ratio| over shells |k| >= 1) +- se, then log(P / P_target) per shell "
        "|k| = 1, 2, ... (x100)")
  for name, r in rows.items():
    shells = " ".join(f"{100 * v:+5.1f}" for v in r["log_ratio"])
    print(f"{name:24s} {r['error']:.3f} +- {r['error_se']:.3f} | {shells}")
    if "alone" in name:
      print(f"{'  its se (x100)':24s}                | " + " ".join(f"{100 * v:5.1f}" for v in r["log_ratio_se"]))
  print(f"{'floor se (x100)':24s}                | " + " ".join(f"{100 * v:5.1f}" for v in rows["floor"]["log_ratio_se"]))
  if any("phi4_terms" in r for r in rows.values()):
    print("phi^4: generated - target (relative to the target) +- se, of S/V = -beta hopping + phi2 + lam quartic")
    for name, r in rows.items():
      if "phi4_terms" in r:
        print(f"{name:24s} " + "  ".join(f"{k} {d['difference']:+.4f} +- {d['se']:.4f} ({d['relative']:+.3f})"
                                           for k, d in r["phi4_terms"].items()))
  out = outputs.new_path(FLAGS.out or os.path.join(FLAGS.workdir, "bench"), "scale_errors", ".json")
  outputs.write_json(out, {"config": config.name, "workdir": FLAGS.workdir,
                           "sampling": config.sampling.to_dict(), "samples": n, "rows": rows})
  print("wrote", out)


if __name__ == "__main__":
  app.run(main)
