"""Does a trained WSGM pyramid overfit? Each model's denoising loss on training images against held-out ones.

For every model of the workdir and every checkpoint step it keeps (EMA parameters, eval mode), the loss
|eps_theta(x_t, t, cond) - z|^2 per coefficient on `--samples` training images (the first of the training
stream) and as many held-out ones, at `--times` fixed times t_k = T u_k^2, u_k = (k + 1/2) / K (the training
distribution's quantile midpoints, train.time_grid), with the *same* noise z for image i in both sets. A
held-out loss above the training loss, beyond its standard error (paired over i: same z and t, the images
independent), is memorization: the model has learned its training set, not the law. Per t_k, where it sits
(small t: the finest details; large t: the global structure). An untrained or underfit model has no gap. A
model's noise depends only on the model, so its held-out losses at two steps, or in two workdirs of the same
config, are paired image by image: each row gives the change from the model's previous step with its paired se.

  python bench/heldout_loss.py --config=configs/phi4_wsgm.py --workdir=runs/phi4_circ_6k --samples=512 \
      --config.data.phi4.chains=128   # the workdir's data flags: which fields it was trained on

JSON (WORKDIR/bench/heldout_loss_<k>.json, a new k each run), heldout_loss_<k>.png (the gap per t_k and model, one
line per checkpoint step) and heldout_loss_<k>.npz (the per-image losses of every row, [image, time]).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from ml_collections import config_flags  # noqa: E402
import numpy as np  # noqa: E402

from lib import checkpoint, data, outputs, plots  # noqa: E402
from lib.errors import InputError  # noqa: E402
from wsgm import experiments, pyramid, sampling, sde  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
  """Defined when run as a script only: the tests import this module beside other benchmarks with their own
  --steps, --samples, ..."""
  config_flags.DEFINE_config_file("config", "configs/phi4_wsgm.py", "The workdir's WSGM config.")
  flags.DEFINE_string("workdir", None, "A trained WSGM workdir.")
  flags.DEFINE_bool("from_workdir", False, experiments.FROM_WORKDIR_HELP)
  flags.DEFINE_integer("samples", 512, "Images per set (training, held-out).")
  flags.DEFINE_integer("times", 8, "Fixed diffusion times per image.")
  flags.DEFINE_list("steps", ["all"], "Checkpoint steps to score: all (every kept one) or a list.")
  flags.mark_flag_as_required("workdir")


def fixed_times(config, count: int) -> np.ndarray:
  """t_k = train_times(u_k), u_k = (k + 1/2) / count: the training time distribution's quantile midpoints."""
  if count < 1:
    raise InputError(f"--times={count}: need at least one time")
  u = (np.arange(count) + 0.5) / count
  return np.asarray(sde.config_train_times(config)(jnp.asarray(u, jnp.float32)))


def errors_fn(model):
  """denoising_errors of one model, compiled once for all its checkpoints and both image sets."""
  return jax.jit(lambda params, target, cond, t, z: wsgm_method.denoising_errors(params, model, target, cond, t, z))


def model_losses(errors, params, target, cond, times, key) -> np.ndarray:
  """(images, times) per-coefficient losses of one model on its (target, cond) (pyramid.model_io); image i's
  noise at t_k is drawn from (key, k, i), so two image sets scored with the same key share it image by image."""
  out = []
  for k, t in enumerate(times):
    z = jax.random.normal(jax.random.fold_in(key, k), target.shape, target.dtype)
    out.append(np.asarray(errors(params, target, cond, jnp.full(target.shape[:1], t, jnp.float32), z)))
  return np.stack(out, axis=1)


def compare(train_losses: np.ndarray, heldout_losses: np.ndarray) -> dict:
  """Loss on each set (mean +- se over images of their mean over times), the held-out minus training gap with
  its paired se, and the gap per time (paired se each)."""
  n = len(train_losses)
  mean_se = lambda v: (float(v.mean()), float(v.std(ddof=1) / np.sqrt(n)))
  gap = heldout_losses - train_losses
  per_t = gap.mean(0), gap.std(0, ddof=1) / np.sqrt(n)
  return {"train": mean_se(train_losses.mean(1)), "heldout": mean_se(heldout_losses.mean(1)),
          "gap": mean_se(gap.mean(1)), "gap_per_t": [[float(m), float(s)] for m, s in zip(*per_t)],
          "train_per_t": train_losses.mean(0).tolist()}


def main(argv):
  del argv
  config = experiments.bench_config(FLAGS, sys.argv)
  n = FLAGS.samples
  times = fixed_times(config, FLAGS.times)
  train_set = next(data.batches(config.data, "train", n, config.data.seed))
  heldout = next(data.batches(config.data, "test", n, config.data.seed))
  if len(train_set) < n or len(heldout) < n:
    raise SystemExit(f"error: --samples={n}: the data have {len(train_set)} training and {len(heldout)} held-out "
                     "images")
  key = jax.random.key(config.seed + 7)
  rows, per_image = {}, {}
  for index, name in enumerate(wsgm_method.METHOD.model_names(config)):
    model_key = jax.random.fold_in(key, index)   # a model's noise is the same at every step and in every workdir
    previous = None
    directory = os.path.join(FLAGS.workdir, name, "checkpoints")
    kept = sorted(checkpoint.manager(directory, read_only=True).all_steps()) if os.path.isdir(directory) else []
    if not kept:
      raise SystemExit(f"error: model {name!r} has no checkpoint in {directory}")
    steps = kept if FLAGS.steps == ["all"] else [int(s) for s in FLAGS.steps]
    errors = sets = None
    for step in steps:
      models, stats = sampling.load_models(config, FLAGS.workdir, train_set.shape[-1], [name], wsgm_method.METHOD,
                                           step)
      model, params = models[name]
      if errors is None:   # the model's inputs (stats.npz is the same at every step) and its compiled loss, once
        errors = errors_fn(model)
        sets = [pyramid.model_io(jnp.asarray(images), name, stats, config.pyramid.wavelet, config.pyramid.levels)
                for images in (train_set, heldout)]
      losses = [model_losses(errors, params, target, cond, times, model_key) for target, cond in sets]
      row = f"{name} step {step}"
      rows[row] = r = dict(compare(*losses), model=name, step=step)
      per_image[f"{name}/{step}/train"], per_image[f"{name}/{step}/heldout"] = losses
      change = ""
      if previous is not None:   # the same held-out images and noise: the change is paired image by image
        d = losses[1].mean(1) - previous.mean(1)
        r["heldout_change"] = [float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))]
        change = f" (change {r['heldout_change'][0]:+.5f} +- {r['heldout_change'][1]:.5f})"
      previous = losses[1]
      print(f"{name:8s} step {step:6d}: train {r['train'][0]:.4f} +- {r['train'][1]:.4f}, held-out "
            f"{r['heldout'][0]:.4f} +- {r['heldout'][1]:.4f}{change}, gap {r['gap'][0]:+.4f} +- {r['gap'][1]:.4f} | "
            "per t: " + " ".join(f"{m:+.4f}" for m, _ in r["gap_per_t"]), flush=True)
  out_dir = os.path.join(FLAGS.workdir, "bench")
  path = outputs.new_path(out_dir, "heldout_loss", ".json")
  outputs.write_json(path, {"config": config.name, "workdir": FLAGS.workdir, "samples": n, "times": times.tolist(),
                            "rows": rows})
  names = list(dict.fromkeys(r["model"] for r in rows.values()))
  fig, axes = plots.new_figure(len(names), 4.5, 3.6)
  for ax, name in zip(axes, names):
    for r in (r for r in rows.values() if r["model"] == name):
      m, s = np.asarray(r["gap_per_t"]).T
      ax.errorbar(times, m, yerr=2 * s, marker="o", ms=3, capsize=2, label=f"step {r['step']}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set(title=name, xlabel="t", ylabel="held-out - training loss (+- 2 se)")
    ax.legend(fontsize=7)
  stem = path[:-len(".json")]
  plots.save(fig, stem + ".png")
  outputs.save_npz(stem + ".npz", **per_image)
  print(f"wrote {path}, {stem}.png and {stem}.npz (per-image losses, [image, time], for paired comparisons)")


if __name__ == "__main__":
  define_flags()
  app.run(main)
