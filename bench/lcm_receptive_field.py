"""The LCM paper's experiment: denoising PSNR vs receptive field, multi-scale conditional model vs a flat
pixel-domain denoiser of the same RF (same width and depth), on held-out images.

Expected (Kadkhodaie et al. 2023, Fig. 4): conditioned on the coarser low-pass, a small RF nearly matches a
large one; in pixels a small RF loses several dB. The global low-pass model does not depend on the RF, so it
is trained once and shared. A third curve gives the multi-scale denoiser the clean coarsest low-pass, so
only the local conditional models act (their RF is what varies). Workdirs are reused: a second run only
re-evaluates. PSNRs carry bootstrap errors over images, and every model's difference to the flat denoiser of
the same RF is paired (the same images and noise). Writes OUT/lcm_rf_<k>.json (lcm_rf.json: the newest), lcm_rf.png.

python bench/lcm_receptive_field.py --out=runs/lcm_rf                # faces, RF 5..23, ~20 min on 2 CPU cores
python bench/lcm_receptive_field.py --out=runs/lcm_rf --config=configs/lcm_celeba.py --rfs=5,9,13,23,43 \
    --steps=100000 --config_overrides=data.data_dir=/data/tfds        # the paper's setting, on accelerators
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lib import checkpoint, metrics, outputs, plots  # noqa: E402
from wsgm import evaluation, pyramid, sampling, train, wavelets  # noqa: E402
from wsgm.methods import lcm, lcm_modes  # noqa: E402

flags.DEFINE_string("out", "runs/lcm_rf", "Output directory (one workdir per model set inside).")
flags.DEFINE_string("config", "configs/lcm_faces.py", "LCM config file to start from.")
flags.DEFINE_list("rfs", ["5", "9", "13", "23"], "Receptive fields of the conditional / flat denoisers.")
flags.DEFINE_integer("steps", 1000, "Training steps per model.")
flags.DEFINE_list("config_overrides", [], "Extra field=value overrides, e.g. data.data_dir=/data/tfds.")
FLAGS = flags.FLAGS
KINDS = ("multiscale", "multiscale_clean_lowpass", "flat")


def load_config(rf, levels=None):
  """The --config file with this RF, training length and overrides; levels=None keeps the file's J."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("lcm_config", FLAGS.config)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.train.steps, c.train.checkpoint_every, c.lcm.receptive_field = FLAGS.steps, FLAGS.steps, rf
  if levels is not None:
    c.pyramid.levels = levels
  for item in FLAGS.config_overrides:
    field, value = item.split("=", 1)
    node = c
    *parents, leaf = field.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = type(node[leaf])(value)
  return c


def denoising_psnr(config, workdir, clean, clean_lowpass=False):
  """{sigma: (PSNR, its bootstrap error over images, per-image PSNRs)} of the denoised held-out images (and
  {sigma: PSNR} of the noisy ones). clean_lowpass: the coarsest
  low-pass is given clean instead of denoised by the global model, so only the local conditional models
  act: the part of the multi-scale denoiser whose receptive field the sweep varies."""
  models, _ = sampling.load_models(config, workdir, clean.shape[-1], None, lcm.METHOD)
  fns = lcm.residuals(models)
  if clean_lowpass:
    levels = config.pyramid.levels
    low = wavelets.decompose(jnp.asarray(clean), config.pyramid.wavelet, levels).lowpass * pyramid.scale_unit(levels)
    fns["coarse"] = lambda y, cond: y - low
  table, _ = lcm_modes.denoising(config, fns, clean, jax.random.key(1))   # the same noise for every model: paired
  return ({r["sigma"]: (r["psnr_denoised"], r["psnr_denoised_se"], np.array(r["psnr_denoised_per_image"])) for r in table},
          {r["sigma"]: r["psnr_noisy"] for r in table})


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  os.makedirs(FLAGS.out, exist_ok=True)
  rfs = [int(r) for r in FLAGS.rfs]
  template = load_config(rfs[0])
  levels = template.pyramid.levels
  clean = evaluation.heldout(template).reference
  shared = os.path.join(FLAGS.out, "multiscale_coarse")
  template.train.scale = "coarse"
  train.train(template, shared, lcm.METHOD)
  rows, noisy, start = [], None, time.time()
  for i, rf in enumerate(rfs):
    row = dict(rf=rf)
    for kind, lv in (("multiscale", levels), ("flat", 0)):
      config = load_config(rf, lv)
      workdir = os.path.join(FLAGS.out, f"{kind}_rf{rf}")
      if kind == "multiscale" and not os.path.isdir(os.path.join(workdir, "coarse")):
        shutil.copytree(os.path.join(shared, "coarse"), os.path.join(workdir, "coarse"))
      for scale in ([str(j) for j in range(1, lv + 1)] if lv else ["coarse"]):
        config.train.scale = scale
        train.train(config, workdir, lcm.METHOD)
      config.train.scale = "all"
      row[kind], noisy = denoising_psnr(config, workdir, clean)
      if kind == "multiscale":
        row["multiscale_clean_lowpass"], _ = denoising_psnr(config, workdir, clean, clean_lowpass=True)
    for kind in KINDS:   # paired over images: kind minus the flat denoiser, with its bootstrap error
      row[kind] = {s: dict(psnr=v[0], se=v[1], minus_flat=metrics.bootstrap(np.mean, v[2] - row["flat"][s][2]))
                   for s, v in row[kind].items()}
    for kind in KINDS:
      for v in row[kind].values():
        v["minus_flat"] = list(v["minus_flat"])
    rows.append(row)
    logging.info("RF %d done (%d/%d), %.0fs elapsed, ETA %.0fs", rf, i + 1, len(rfs), time.time() - start,
                 (time.time() - start) / (i + 1) * (len(rfs) - i - 1))
  result = dict(config=FLAGS.config, dataset=template.data.name, image_size=template.data.image_size,
                levels=levels, width=template.lcm.width, depth=template.lcm.depth, train_steps=FLAGS.steps,
                num_images=len(clean), psnr_noisy=noisy, rows=rows)
  path = outputs.write_json_run(FLAGS.out, "lcm_rf", result)
  plot(result, os.path.join(FLAGS.out, "lcm_rf.png"))
  sigmas = list(noisy)
  print(f"PSNR (dB) of {len(clean)} denoised held-out images +- bootstrap error over images; [paired difference to "
        "the flat denoiser of the same RF +- its error]; columns: pixel noise sigma (x/255)")
  print(f"{'RF':>4} {'model':>26} " + " ".join(f"{s:>24}" for s in sigmas))
  print(f"{'':>4} {'noisy':>26} " + " ".join(f"{noisy[s]:24.2f}" for s in sigmas))
  for row in rows:
    for kind in KINDS:
      print(f"{row['rf']:>4} {kind:>26} " + " ".join(
          f"{v['psnr']:6.2f}+-{v['se']:.2f} [{v['minus_flat'][0]:+.2f}+-{v['minus_flat'][1]:.2f}]"
          for v in row[kind].values()))
  print(f"wrote {path} (and {FLAGS.out}/lcm_rf.json, the newest) and lcm_rf.png")


def plot(result, path):
  sigmas = list(result["psnr_noisy"])
  fig, axes = plots.new_figure(len(sigmas), width=3.2)
  rfs = [r["rf"] for r in result["rows"]]
  for ax, s in zip(axes, sigmas):
    for kind, style in zip(KINDS, ("C0o-", "C0^:", "C3s--")):
      ax.errorbar(rfs, [r[kind][s]["psnr"] for r in result["rows"]], [r[kind][s]["se"] for r in result["rows"]],
                  fmt=style, capsize=2, label=kind)
    ax.set(xlabel="receptive field", title=f"sigma = {s}/255")
    plots.log_axis_ticks(ax, rfs)
  axes[0].set_ylabel("PSNR (dB)")
  axes[0].legend()
  plots.save(fig, path)


if __name__ == "__main__":
  app.run(main)
