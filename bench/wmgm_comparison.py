"""SGM vs WSGM vs WMGM on the same data: quality, network evaluations, parameters and sampling time.

For each dataset, trains configs/<data>_sgm.py (pixel-space, J = 0), <data>_wsgm.py and <data>_wmgm.py.
WMGM's coarse model is WSGM's (same network, same training), so its checkpoint and normalization are copied
and only the generator is trained: the two methods then differ only in how the details are made. For every
N in --steps each method samples as many images as the held-out reference and is scored with the eval
suite (log-spectrum error, histogram W1 of pixels and wavelet bands, Laplacian sliced Wasserstein), each with
its bootstrap standard error and noise floor (wsgm/evaluation.py).
Diversity given the coarse structure: at N = 16, 8 held-out images' x_J are refined 8 times each, and the mean
per-pixel std over the draws is the `conditional spread` (GAN bands that ignore their noise give 0).
Writes OUT/wmgm_comparison_<k>.json (wmgm_comparison.json: the newest), OUT/wmgm_comparison.png, OUT/<data>_<method>_N16.png sample grids and
OUT/<data>_<method>_draws_N16.png (a row per x_J, a column per draw).

python bench/wmgm_comparison.py --out=runs/wmgm_comparison                      # faces, ~40 min on 2 CPU cores
python bench/wmgm_comparison.py --out=runs/wmgm_comparison --datasets=faces,textures
--sampler=euler_maruyama: the README's tables (Euler-Maruyama, the configs' sampler then).
"""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import define_set_flag, override, parse_settings  # noqa: E402
from lib import checkpoint, images as image_io, metrics, outputs, parallel, phi4, plots  # noqa: E402
from wsgm import evaluation, sampling, solvers, train, wavelets  # noqa: E402
from wsgm.methods import wmgm, wsgm as wsgm_method  # noqa: E402

flags.DEFINE_string("out", "runs/wmgm_comparison", "Output directory (workdirs inside).")
flags.DEFINE_list("datasets", ["faces"], "Embedded datasets with configs/<data>_{sgm,wsgm,wmgm}.py.")
flags.DEFINE_list("steps", ["4", "8", "16", "32"], "Reverse-SDE steps per scale N.")
flags.DEFINE_integer("train_steps", 0, "Override train.steps (0: the configs' own).")
flags.DEFINE_string("sampler", "", "A sampler spec (wsgm/solvers.parse_spec, e.g. euler_maruyama) for the score "
                    "models (it clears sampling.per_scale); empty: the configs' own.")
flags.DEFINE_list("methods", ["sgm", "wsgm", "wmgm"], "Which of sgm, wsgm, wmgm (wmgm needs wsgm's coarse model: "
                  "listed, or trained before in the same --out).")
define_set_flag()
FLAGS = flags.FLAGS

METHODS = ("sgm", "wsgm", "wmgm")


def load(dataset, method):
  import importlib
  c = override(importlib.import_module(f"configs.{dataset}_{method}").get_config(), **parse_settings(FLAGS.set))
  if FLAGS.train_steps:
    c.train.steps = c.train.checkpoint_every = FLAGS.train_steps
  if FLAGS.sampler:
    solvers.apply_spec_to_all(c.sampling, FLAGS.sampler)
  return c


def parameter_counts(config, workdir, method, channels):
  """{model: trainable parameters} of the sampling networks (WMGM's discriminator listed apart)."""
  models, stats = sampling.load_models(config, workdir, channels, None, method)
  counts = {name: int(sum(np.prod(p.shape) for p in jax.tree.leaves(params))) for name, (_, params) in models.items()}
  if method is wmgm.METHOD:
    init_fn, _, _ = wmgm.make_steps(config, wmgm.model_names(config)[1], stats, channels)
    size = config.data.image_size
    shapes = jax.eval_shape(init_fn, jax.random.key(0), jax.ShapeDtypeStruct((2, size, size, channels), np.float32))
    counts["discriminator (training only)"] = int(sum(np.prod(p.shape) for p in jax.tree.leaves(shapes.d_params)))
  return counts


def network_evaluations(method, config):
  """Network calls per image: the score models' per scale (solvers.network_evaluations), WMGM's generator once
  per detail scale."""
  s, levels = config.sampling, config.pyramid.levels
  per_scale = solvers.network_evaluations(s.sampler, s.steps, s.corrector_steps, s.t_min)
  return {"sgm": per_scale, "wsgm": (levels + 1) * per_scale, "wmgm": per_scale + levels}[method]


def conditional_draws(config, workdir, method, reference, lowpasses=8, draws=8):
  """(lowpasses, draws, H, W, C): images generated from the coarsest low-pass x_J of held-out images, `draws`
  times each. Their spread is how much the detail models vary once the coarse structure is fixed: a generator
  that ignores its noise gives identical draws; WSGM's score models sample the conditional law."""
  levels = config.pyramid.levels
  x_coarsest = wavelets.decompose(jnp.asarray(reference[:lowpasses]), config.pyramid.wavelet, levels).lowpass
  models, stats = sampling.load_models(config, workdir, reference.shape[-1],
                                       method.superres_models(config, levels), method)
  refine = method.make_super_resolver(config, models, stats, levels, parallel.data_mesh())
  images = np.asarray(refine(jax.random.key(config.seed + 2), jnp.repeat(x_coarsest, draws, axis=0)).image)
  return images.reshape(lowpasses, draws, *images.shape[1:])


def run_dataset(dataset):
  rows, counts, spread = [], {}, {}
  for method in [m for m in METHODS if m in FLAGS.methods]:
    config = load(dataset, method)
    workdir = os.path.join(FLAGS.out, f"{dataset}_{method}")
    spec = wmgm.METHOD if method == "wmgm" else wsgm_method.METHOD
    if method == "wmgm":   # the coarse score model is WSGM's: copy it, train the generator only
      source = os.path.join(FLAGS.out, f"{dataset}_wsgm")
      if not os.path.isdir(os.path.join(workdir, "coarse")):
        if not os.path.isdir(os.path.join(source, "coarse")):
          raise SystemExit(f"error: --methods={','.join(FLAGS.methods)}: WMGM's coarse model is WSGM's, and "
                           f"{source} has none; list wsgm too")
        shutil.copytree(os.path.join(source, "coarse"), os.path.join(workdir, "coarse"))
        shutil.copy(os.path.join(source, "stats.npz"), os.path.join(workdir, "stats.npz"))
    start = time.time()
    train.train(config, workdir, spec)
    logging.info("%s %s trained in %.0fs", dataset, method, time.time() - start)
    held = evaluation.heldout(config)
    ref = evaluation.prepare(config, held)
    reference, channels = held.reference, held.reference.shape[-1]
    counts[method] = parameter_counts(config, workdir, spec, channels)
    is_phi4 = config.data.name == "phi4"
    lo, hi = (-3, 3) if is_phi4 else (-1, 1)
    for n in [int(s) for s in FLAGS.steps]:
      config.sampling.steps = n
      images, _, seconds = sampling.generate(config, workdir, len(reference), jax.random.key(config.seed + 1),
                                             channels, spec)
      row = dict(dataset=dataset, method=method, steps=n, seconds_per_image=seconds, heldout=held.note,
                 network_evaluations=network_evaluations(method, config),
                 metrics=evaluation.score(images, ref, config))
      if is_phi4:
        row["binder_u4"] = phi4.observables(images, config.data.phi4.beta, config.data.phi4.lam)["binder_u4"]
      rows.append(row)
      print(f"{dataset} {method} N={n}: {evaluation.summary(row['metrics'], TABLE)}", flush=True)
      if n == 16:
        image_io.save_grid(os.path.join(FLAGS.out, f"{dataset}_{method}_N16.png"), images[:32], lo=lo, hi=hi)
        if config.pyramid.levels:
          draws = conditional_draws(config, workdir, spec, reference)
          spread[method] = metrics.bootstrap(np.mean, draws.std(axis=1).mean(axis=(1, 2, 3)))   # (value, se over x_J)
          image_io.save_grid(os.path.join(FLAGS.out, f"{dataset}_{method}_draws_N16.png"),
                             draws.reshape(-1, *draws.shape[2:]), ncols=draws.shape[1], lo=lo, hi=hi)
  return rows, counts, spread


TABLE = ("log_spectrum_error", "pixel_histogram_w1", "coefficients/scale_1/D", "swd/level_0", "swd/level_1",
         "swd/level_2")


def plot(rows, path):
  """Metrics vs N with bootstrap error bars; the gray band: the noise floor + 2 of its standard errors."""
  panels = (("log_spectrum_error", "log-spectrum error"), ("pixel_histogram_w1", "pixel histogram W1 / std"),
            ("coefficients/scale_1/D", "finest diagonal band W1 / std"), ("swd/level_0", "SWD, finest level"))
  datasets = sorted({r["dataset"] for r in rows})
  fig, axes = plots.new_figure(len(panels), width=4.0)
  for ax, (key, title) in zip(axes, panels):
    for d, ls in zip(datasets, ("-", "--", ":")):
      for m, color in zip(METHODS, ("C3", "C0", "C2")):
        sel = [r for r in rows if r["dataset"] == d and r["method"] == m]
        ax.errorbar([r["steps"] for r in sel], [r["metrics"][key]["value"] for r in sel],
                    [r["metrics"][key]["se"] for r in sel], color=color, ls=ls, marker="o", capsize=2, label=f"{d} {m}")
      floor = next(r["metrics"][key] for r in rows if r["dataset"] == d)
      if floor["floor"] is not None:
        ax.axhspan(1e-4, floor["floor"] + 2 * floor["floor_se"], color="gray", alpha=0.25)
    ax.set(yscale="log", xlabel="steps per scale N", title=title)
    plots.log_axis_ticks(ax, sorted({r["steps"] for r in rows}))
  axes[0].legend(fontsize=7)
  plots.save(fig, path)


def cell(record):
  """'value +- se', '*' when outside the noise floor + 2 standard errors."""
  return f"{record['value']:.3f}+-{record['se']:.3f}{'' if record['within'] or record['floor'] is None else '*'}"


def main(argv):
  del argv
  unknown = set(FLAGS.methods) - set(METHODS)
  if unknown or not FLAGS.methods:
    raise SystemExit(f"error: --methods={','.join(FLAGS.methods)}: choose from {','.join(METHODS)}")
  checkpoint.quiet_orbax_logs()
  os.makedirs(FLAGS.out, exist_ok=True)
  rows, counts, spreads = [], {}, {}
  for dataset in FLAGS.datasets:
    r, c, spreads[dataset] = run_dataset(dataset)
    rows += r
    counts[dataset] = c
  path = outputs.write_json_run(FLAGS.out, "wmgm_comparison", dict(rows=rows, parameters=counts,
                                                                      conditional_spread=spreads,
                                                                      device=jax.devices()[0].platform))
  plot(rows, os.path.join(FLAGS.out, "wmgm_comparison.png"))
  for dataset in FLAGS.datasets:
    first = next(r for r in rows if r["dataset"] == dataset)
    print(f"{dataset}: {first['heldout']}; noise floor (+- its se): "
          + ", ".join(f"{k} {first['metrics'][k]['floor']:.3f}+-{first['metrics'][k]['floor_se']:.3f}"
                      for k in TABLE if first["metrics"][k]["floor"] is not None))
  print(f"{'data':>8} {'method':>6} {'N':>3} {'NFE':>4} {'s/img':>8} " + " ".join(f"{k:>18}" for k in TABLE)
        + "   (*: outside floor + 2 se)")
  for r in rows:
    print(f"{r['dataset']:>8} {r['method']:>6} {r['steps']:>3} {r['network_evaluations']:>4} "
          f"{r['seconds_per_image']:8.5f} " + " ".join(f"{cell(r['metrics'][k]):>18}" for k in TABLE)
          + (f"  U4 {r['binder_u4'][0]:.3f}+-{r['binder_u4'][1]:.3f}" if "binder_u4" in r else ""))
  print("trainable parameters:", json.dumps(counts))
  print("conditional spread at N = 16 (mean per-pixel std of 8 draws given one x_J):", json.dumps(spreads))
  print(f"wrote {path} (and {FLAGS.out}/wmgm_comparison.json, the newest) and wmgm_comparison.png")


if __name__ == "__main__":
  app.run(main)
