"""`--mode=sample` for generative methods (WSGM, WMGM): load a method's trained models and generate with its
Method.make_generator (coarse to fine, batch sharded), or super-resolve a given low-pass.

It writes WORKDIR/samples/samples_{k}.npz (image and the intermediate low-passes, float32)
and samples.png. With --config.sampling.lowpass=FILE.npz it super-resolves the given low-pass instead.
"""
import os
import time
from typing import List, NamedTuple, Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import checkpoint, data, images as image_io, outputs, parallel
from lib.errors import InputError
from lib.progress import Stages
from wsgm import pyramid, sde, solvers, train
from wsgm.methods import Method


def load_models(config, workdir, channels: int, names, method: Method, step: Optional[int] = None):
  """({name: (model, EMA params)} from each model's latest checkpoint, or its checkpoint `step` (names: all of
  the method's when None), the normalization statistics or None); a missing checkpoint or step is named."""
  checkpoint.check_config(workdir, config, method.architecture_fields)
  stats = None
  if config.pyramid.levels and method.normalization == "standardize":
    if not os.path.exists(train.stats_path(workdir)):
      raise InputError(f"no normalization stats {train.stats_path(workdir)}: run --mode=train first")
    stats = train.load_stats(workdir)
  models = {}
  size = config.data.image_size
  dummy = jnp.zeros((1, size, size, channels))
  replicated = parallel.replicated(parallel.data_mesh())   # parameters on every device of every process
  for name in names or method.model_names(config):
    directory = os.path.join(workdir, name, "checkpoints")
    mngr = checkpoint.manager(directory, read_only=True) if os.path.isdir(directory) else None
    if mngr is None or mngr.latest_step() is None:
      raise InputError(f"model {name!r} has no checkpoint in {directory}: train it with "
                       f"--mode=train --config.train.scale={name.replace('scale_', '')}")
    init_fn, _, model = method.make_steps(config, name, stats, channels)
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                        jax.eval_shape(init_fn, jax.random.key(0), dummy))
    if step is not None and step not in mngr.all_steps():
      raise InputError(f"model {name!r} has no checkpoint at step {step} in {directory}: it has steps "
                       f"{sorted(mngr.all_steps())}")
    state = checkpoint.restore(mngr, like, step)   # that step, or the newest intact one (read-only: nothing moved)
    logging.info("%s: restored step %d", name, int(state.step))
    models[name] = (model, state.ema_params)
  return models, stats


def per_scale_specs(config) -> dict:
  """{model: sampler spec} from sampling.per_scale ('model=spec' entries, e.g.
  'scale_1=dpm_solver_pp_2m_sde:time_grid=logsnr,t_min=0.001,t_max=3'), each checked; one clear error naming
  the entry otherwise."""
  names, out = pyramid.model_names(config.pyramid.levels), {}
  for entry in config.sampling.per_scale:
    name, eq, spec = (part.strip() for part in entry.partition("="))
    if not eq or name not in names:
      raise InputError(f"sampling.per_scale entry {entry!r}: need 'model=sampler spec' with a model in {names}")
    if name in out:
      raise InputError(f"sampling.per_scale names {name!r} twice")
    solvers.parse_spec(spec)
    out[name] = spec
  return out


def scale_sampling(config, name: str):
  """The config model `name` samples with: config itself, or a copy whose sampling fields are its
  sampling.per_scale spec's (the fields the spec leaves unnamed at solvers.SPEC_DEFAULTS, as in eval.samplers)
  with sampling.steps kept: the same N at every scale, each scale its own sampler and grid."""
  spec = per_scale_specs(config).get(name)
  if spec is None:
    return config
  run = config.copy_and_resolve_references()
  solvers.apply_spec(run.sampling, spec)
  return run


def scale_solver(config, name: str = "coarse", steps=None):
  """(sampler, time grid of `steps`, default sampling.steps) of model `name`: config.sampling's, or its
  sampling.per_scale entry's (scale_sampling); both checked."""
  run = scale_sampling(config, name)
  return solvers.from_config(run.sampling), sde.sampling_times(run, steps)


def solver_parts(config, mesh, name: str = "coarse"):
  """(sampler, time grid, noise placement on the mesh) of model `name` (scale_solver)."""
  sampler, times = scale_solver(config, name)
  shard = lambda x: jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh))
  return sampler, times, shard


class Generated(NamedTuple):
  images: np.ndarray
  lowpasses: List[np.ndarray]   # coarsest first
  seconds_per_image: float      # sampling wall time, compilation excluded


def stages(config, name: str, batches: int, scales: int):
  """A lib/progress.Stages logging each finished scale of each batch, or None (sampling.progress=False: the
  compiled sampler then holds no host callback and can come from JAX's persistent compilation cache)."""
  return Stages(name, batches, scales) if config.sampling.progress else None


def generate(config, workdir, num: int, key, channels: int, method: Method) -> Generated:
  """num samples (drawn in whole batches), as numpy, with the time per image once compiled."""
  mesh = parallel.data_mesh()
  parallel.check_divisible(config.sampling.batch_size, "sampling.batch_size")
  models, stats = load_models(config, workdir, channels, None, method)
  keys = jax.random.split(key, -(-num // config.sampling.batch_size))
  progress = stages(config, "sampling", len(keys), config.pyramid.levels + 1)
  # Compiled ahead of time so that the timing below is sampling alone, comparable across N and methods.
  logging.info("sampling: compiling %d images per call, %d steps per scale", config.sampling.batch_size,
               config.sampling.steps)
  generator = method.make_generator(config, models, stats, channels, mesh, progress).lower(keys[0]).compile()
  start, outs = time.perf_counter(), []
  for b, k in enumerate(keys):
    if progress:
      progress.start_batch(b)
    outs.append(parallel.to_host(generator(k)))   # gathered whole on every process
    if progress:
      progress.end_batch()
  seconds = (time.perf_counter() - start) / (len(keys) * config.sampling.batch_size)
  images = np.concatenate([o.image for o in outs])[:num]
  lows = [np.concatenate([o.lowpasses[i] for o in outs])[:num] for i in range(config.pyramid.levels)]
  return Generated(images, lows, seconds)


def lowpass_input(config):
  """Read sampling.lowpass and infer its scale j from its size."""
  path = config.sampling.lowpass
  if not os.path.isfile(path):
    raise InputError(f"sampling.lowpass={path!r}: no such file")
  try:
    with np.load(path) as f:
      if not hasattr(f, "files") or "lowpass" not in f.files:
        raise InputError(f"sampling.lowpass={path!r}: needs an .npz with an array named 'lowpass' (N, h, w, C)")
      low = np.asarray(f["lowpass"], np.float32)
  except InputError:
    raise
  except Exception as e:   # empty, truncated or not an .npz at all
    raise InputError(f"sampling.lowpass={path!r}: not a readable .npz ({type(e).__name__}: {e})") from None
  channels = data.channels(config.data)
  if low.ndim != 4 or low.shape[-1] != channels or not len(low):
    raise InputError(f"sampling.lowpass {path}: shape {low.shape}; need (N >= 1, h, w, {channels}) for "
                     f"data.name={config.data.name!r}")
  if not np.all(np.isfinite(low)):
    raise InputError(f"sampling.lowpass {path}: holds NaN or inf values")
  size = config.data.image_size
  ratio = size // low.shape[1] if low.ndim == 4 and low.shape[1] == low.shape[2] else 0
  scale = int(np.log2(ratio)) if ratio else -1
  if ratio < 2 or 2 ** scale != ratio or low.shape[1] * ratio != size or scale > config.pyramid.levels:
    raise InputError(f"sampling.lowpass {path}: shape {low.shape} is not a low-pass x_j of a {size}x{size} "
                     f"image for j in 1..{config.pyramid.levels}")
  return low, scale


def sample(config, workdir: str, method: Method) -> None:
  method.validate(config)
  out_dir = os.path.join(workdir, "samples")
  os.makedirs(out_dir, exist_ok=True)
  key = jax.random.key(config.seed)
  if config.sampling.lowpass:
    low, scale = lowpass_input(config)
    mesh = parallel.data_mesh()
    parallel.check_divisible(len(low), "number of low-passes in sampling.lowpass")
    models, stats = load_models(config, workdir, low.shape[-1], method.superres_models(config, scale), method)
    resolver = method.make_super_resolver(config, models, stats, scale, mesh, stages(config, "super-resolution", 1,
                                                                                     scale))
    out = parallel.to_host(resolver(key, jnp.asarray(low)))
    images, lows = out.image, list(out.lowpasses)
    prefix = "superres"
  else:
    images, lows, _ = generate(config, workdir, config.sampling.num_samples, key, data.channels(config.data),
                               method)
    prefix = "samples"
  path = save_samples(out_dir, prefix, images, lows[0] if lows else None,
                      **{f"lowpass_{i}": low for i, low in enumerate(lows)})
  logging.info("wrote %d samples to %s", len(images), path)
  print(f"wrote {path} and its PNG ({len(images)} images, {config.sampling.steps} steps per scale)")


def save_samples(out_dir: str, prefix: str, images, lowpass=None, value_range=(-1.0, 1.0), **arrays) -> str:
  """OUT_DIR/<prefix>_<k>.npz (array `image` and `arrays`) and its PNG grid(s), k one past the largest index
  already there: earlier files are never overwritten (lib/outputs). Refuses non-finite images."""
  bad = int(np.sum(~np.isfinite(np.asarray(images)).reshape(len(images), -1).all(axis=1)))
  if bad:
    raise InputError(f"{bad} of {len(images)} generated images hold NaN or inf (diverged models or inputs); "
                     f"nothing written to {out_dir}")
  path = outputs.new_path(out_dir, prefix, ".npz")
  outputs.save_npz(path, image=images, **arrays)
  image_io.save_grid(path[:-4] + ".png", images, lo=value_range[0], hi=value_range[1])
  if lowpass is not None:
    image_io.save_grid(path[:-4] + "_lowpass.png", lowpass)
  return path
