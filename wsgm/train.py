"""The trainer every method shares: one model at a time, each with its own checkpoints.

A method (wsgm/methods) gives each model's init_fn and train_step; this file runs them: the data stream,
the normalization statistics, the jitted step over a 1-D device mesh (batch sharded, state replicated, so the
same code runs on 1 CPU or many accelerators), logging, checks for non-finite steps, checkpoints and resume.
It also holds the pieces most methods' steps are made of: the optimizer, the state, EMA, one gradient step.
"""
import itertools
import os
from typing import Any, Tuple

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import checkpoint, data, images as image_io, parallel
from lib.errors import InputError
from lib.progress import Progress
from wsgm import pyramid
from wsgm.methods import Method

# Config fields that fix what a checkpoint means or how its run continues: a workdir trained with other values
# cannot be resumed. DATA_FIELDS define the training data and its order (every method); RESUME_SAFE_FIELDS
# are the data fields that may change between runs (where data lives, worker counts, a cache's place, how many
# examples fit the normalization stats, which are fitted once and then read back from stats.npz, the size of
# phi^4's held-out run, which training never reads).
DATA_FIELDS = ("data.name", "data.image_size", "data.texture", "data.grayscale", "data.crop", "data.hq_resolution",
               "data.num_examples", "data.seed", "data.phi4.beta", "data.phi4.lam", "data.phi4.chains",
               "data.phi4.samples_per_chain", "data.phi4.burn_in", "data.phi4.pilot",
               "data.symmetries")
RESUME_SAFE_FIELDS = ("data.data_dir", "data.workers", "data.stats_examples", "data.phi4.cache_dir",
                      "data.phi4.test_chains")


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any
  ema_params: Any
  opt_state: Any
  rng: jax.Array          # raw uint32 key data: a plain array for orbax


SCHEDULES = ("constant", "cosine", "linear")


def learning_rate(config) -> optax.Schedule:
  """Linear warmup over train.warmup_steps to train.learning_rate, then (train.schedule) constant, or a cosine or
  linear decay to train.final_lr_fraction x the peak at train.decay_steps (0: train.steps; a run continued
  with a larger train.steps and decay_steps = 0 stretches the rest of its decay). train.decay_start > 0 holds the
  peak until that step and decays from there (warmup-stable-decay): a run trained at a constant rate can be
  continued with a decay phase, its earlier steps on the same schedule."""
  t = config.train
  warmup_end = max(t.warmup_steps, 1)
  warmup = optax.linear_schedule(0.0, t.learning_rate, warmup_end)
  if t.schedule == "constant":
    return warmup
  begin = max(t.decay_start, warmup_end)
  span, final = max((t.decay_steps or t.steps) - begin, 1), t.learning_rate * t.final_lr_fraction
  decay = (optax.cosine_decay_schedule(t.learning_rate, span, alpha=t.final_lr_fraction) if t.schedule == "cosine"
           else optax.linear_schedule(t.learning_rate, final, span))
  # decay_start = 0: begin == warmup_end and the held piece is empty (the later boundary wins)
  return optax.join_schedules([warmup, optax.constant_schedule(t.learning_rate), decay], [warmup_end, begin])


def validate(config) -> None:
  """train.schedule and train.accumulate, for every method's trainer (checked before anything is written)."""
  data.check_symmetries(config.data.symmetries)
  t = config.train
  if t.schedule not in SCHEDULES:
    raise InputError(f"train.schedule={t.schedule!r}: choose from {SCHEDULES}")
  if t.decay_steps < 0:
    raise InputError(f"train.decay_steps={t.decay_steps}: need >= 0 (0: train.steps)")
  if t.decay_start and not t.warmup_steps <= t.decay_start < (t.decay_steps or t.steps):
    raise InputError(f"train.decay_start={t.decay_start}: need 0 (decay from the end of warmup) or a step in "
                     f"[train.warmup_steps={t.warmup_steps}, {t.decay_steps or t.steps}) (the decay's end)")
  if not 0 <= t.final_lr_fraction <= 1:
    raise InputError(f"train.final_lr_fraction={t.final_lr_fraction}: need a fraction of the peak in [0, 1]")
  if isinstance(t.accumulate, bool) or not isinstance(t.accumulate, int) or t.accumulate < 1:
    raise InputError(f"train.accumulate={t.accumulate!r}: need a positive integer (micro-batches per step)")
  if isinstance(t.sample_every, bool) or not isinstance(t.sample_every, int) or t.sample_every < 0:
    raise InputError(f"train.sample_every={t.sample_every!r}: need a step count >= 0 (0: no sample grids)")
  if t.sample_every and not (1 <= t.sample_count <= t.batch_size and t.sample_steps >= 1):
    raise InputError(f"train.sample_count={t.sample_count}, train.sample_steps={t.sample_steps}: the grid every "
                     f"train.sample_every={t.sample_every} steps needs 1..train.batch_size={t.batch_size} images "
                     "and at least 1 step (or train.sample_every=0)")
  micro, devices = t.batch_size // t.accumulate, jax.device_count()
  if t.batch_size % t.accumulate or micro % devices:
    raise InputError(f"train.batch_size={t.batch_size} with train.accumulate={t.accumulate}: every micro-batch "
                     f"must hold the same whole number of examples on each of the {devices} devices")


def make_optimizer(config) -> optax.GradientTransformation:
  t = config.train
  return optax.chain(optax.clip_by_global_norm(t.grad_clip),
                     optax.adamw(learning_rate(config), weight_decay=t.weight_decay))


def init_state(key, params, optimizer) -> TrainState:
  return TrainState(jnp.zeros((), jnp.int32), params, params, optimizer.init(params),
                    jax.random.key_data(jax.random.fold_in(key, 1)))


def ema_update(ema_params, params, step, ema_decay: float):
  """EMA with warmup: the decay is min(ema_decay, (1 + step) / (10 + step)). A fixed decay keeps weight
  ema_decay^steps on the initial parameters, whose final layer is zero: after 400 steps at 0.995, phi^4 score
  models predicted eps ~11% too small and the reverse SDE blew the fields up ~3x."""
  decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema_params, params)


def apply_gradients(state: TrainState, optimizer, ema_decay: float, loss_of, batch,
                    accumulate: int = 1) -> Tuple[TrainState, dict]:
  """One optimizer + EMA step on loss_of(params, key, batch) -> scalar (a mean over the batch); the state's
  RNG advances. Shared by every method whose model is a single network trained on one loss (WSGM score
  models, LCM denoisers). accumulate = k > 1: the batch is cut into k micro-batches (micro-batch i takes
  examples i, i + k, ..., so each stays spread over all devices), their gradients are computed one after the
  other in a scan and averaged: one update of the whole batch with the memory of one micro-batch. Each
  micro-batch draws its noise from the step's key folded with i."""
  key, step_key = jax.random.split(jax.random.wrap_key_data(state.rng))
  grad_fn = jax.value_and_grad(loss_of)
  if accumulate == 1:
    loss, grads = grad_fn(state.params, step_key, batch)
  else:
    micro = jax.tree.map(lambda x: x.reshape(-1, accumulate, *x.shape[1:]).swapaxes(0, 1), batch)

    def add(total, i_and_batch):
      i, b = i_and_batch
      return jax.tree.map(jnp.add, total, grad_fn(state.params, jax.random.fold_in(step_key, i), b)), None

    zero = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, state.params))
    total, _ = jax.lax.scan(add, zero, (jnp.arange(accumulate), micro))
    loss, grads = jax.tree.map(lambda v: v / accumulate, total)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema = ema_update(state.ema_params, params, state.step, ema_decay)
  return TrainState(state.step + 1, params, ema, opt_state, jax.random.key_data(key)), {"loss": loss}


def stats_path(workdir):
  return os.path.join(workdir, "stats.npz")


def load_stats(workdir):
  """WORKDIR/stats.npz, checked: it is what the models were trained with, so it is never refitted silently."""
  path = stats_path(workdir)
  try:
    stats = pyramid.load_stats(path)
  except Exception as e:   # truncated or not an .npz
    raise InputError(f"{path} is unreadable ({type(e).__name__}: {e}); the models were trained with it: restore "
                     "it from a backup, or train in a new --workdir") from None
  if not checkpoint.all_finite(stats):
    raise InputError(f"{path} holds NaN or inf: the normalization is broken; restore it or train anew")
  return stats


def fit_or_load_stats(config, workdir, method):
  """Per-scale normalization: fitted once on training data, then always read back (resumes and sampling
  must use exactly the statistics the models were trained with)."""
  if config.pyramid.levels == 0 or method.normalization != "standardize":
    return None
  path = stats_path(workdir)
  found = os.path.exists(path)
  parallel.sync("stats looked for")   # every process decides before process 0 can write it
  if found:
    return load_stats(workdir)
  # Fitted on the global batch (each process holds a share), the same statistics on every process.
  images = parallel.gather_examples(next(data.batches(config.data, "train", config.data.stats_examples,
                                                      config.data.seed)))
  stats = pyramid.fit_stats(jnp.asarray(images), config.pyramid.wavelet, config.pyramid.levels)
  pyramid.save_stats(path, stats)   # process 0 writes (lib/outputs)
  return stats


def selected_models(config, method):
  """train.scale: "all", "coarse", a scale j (its model "scale_j") or a model's own name."""
  names = method.model_names(config)
  if config.train.scale == "all":
    return names
  name = config.train.scale if config.train.scale in names else f"scale_{config.train.scale}"
  if name not in names:
    raise InputError(f"train.scale={config.train.scale!r}: use 'all' or one of {names} (scale_j as j)")
  return [name]


def _all_finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def train_model(config, workdir, name, stats, mesh, method) -> Any:
  t = config.train
  images = data.batches(config.data, "train", t.batch_size, config.data.seed)
  first = next(images)
  init_fn, train_step, _ = method.make_steps(config, name, stats, first.shape[-1])
  key = jax.random.fold_in(jax.random.key(config.seed), method.model_names(config).index(name))
  state = jax.jit(init_fn, out_shardings=parallel.replicated(mesh))(key, parallel.global_batch(mesh, first))
  directory = os.path.join(workdir, name, "checkpoints")
  mngr = checkpoint.manager(directory, t.max_to_keep)
  restored = checkpoint.restore(mngr, state, set_aside=True)
  if restored is not None:
    state = restored
    logging.info("%s: resuming from step %d", name, int(state.step))
  start = int(state.step)
  if start > t.steps:
    raise InputError(f"train.steps={t.steps} is below model {name}'s saved step {start} ({directory}): nothing to "
                     f"train; raise train.steps to continue it")
  if start == t.steps:
    logging.info("%s: already trained to step %d", name, start)
    return state
  if start:   # continue the data stream where the checkpoint left it (embedded sets: the exact order)
    images = data.batches(config.data, "train", t.batch_size, config.data.seed, start_step=start)
  else:
    images = itertools.chain([first], images)

  def checked_step(state, images):   # flags a non-finite loss or update, checked before anything is saved
    new, metrics = train_step(state, images)
    return new, dict(metrics, finite=_all_finite((new, metrics)))

  step_fn = jax.jit(checked_step, donate_argnums=0)   # the old state's buffers hold the new one: no copy per step
  progress = Progress(name, start, t.steps, t.log_every, os.path.join(workdir, name, "tb"))
  preview = method.make_preview(config, name, stats, first.shape[-1]) if t.sample_every and method.make_preview \
      else None
  if t.sample_every and not preview:
    logging.info("%s: method %s draws no sample grids during training (train.sample_every ignored)", name,
                 method.name)
  preview_key = jax.random.fold_in(jax.random.key(config.seed), 10 ** 6)   # the same noise every time
  history = []

  def flush(step):
    """The pending steps' metrics; stops at the first non-finite one, before it can be saved."""
    fetched = jax.device_get(history)
    history.clear()
    for i, m in enumerate(fetched):
      if not m["finite"]:
        bad = step - len(fetched) + 1 + i
        last = mngr.latest_step()
        raise InputError(f"model {name} diverged: non-finite loss or parameters at step {bad} (loss {m['loss']}); "
                         f"stopped without saving it. Last good checkpoint: "
                         f"{'step ' + str(last) if last is not None else 'none'} in {directory} (kept). Lower "
                         f"train.learning_rate={t.learning_rate} or raise train.warmup_steps={t.warmup_steps}")
    return fetched

  for step in range(start + 1, t.steps + 1):
    batch = parallel.global_batch(mesh, next(images))
    state, step_metrics = step_fn(state, batch)
    history.append(step_metrics)
    if preview and step % t.sample_every == 0:   # what the EMA model draws now, in TensorBoard
      progress.image("samples", image_io.viewable_grid(parallel.to_host(preview(state.ema_params, preview_key,
                                                                                  batch))), step)
    log, save = step % t.log_every == 0 or step == t.steps, step % t.checkpoint_every == 0 or step == t.steps
    if log or save:
      fetched = flush(step)
      if log:
        progress.update(step, {k: np.mean([m[k] for m in fetched]) for k in fetched[0] if k != "finite"})
    if save:
      checkpoint.save(mngr, step, state)
  mngr.wait_until_finished()
  progress.close()
  fingerprint = parallel.check_replicas(state.params, f"model {name} at step {t.steps}")
  logging.info("%s: trained to step %d; parameter fingerprint %.17g (process %d of %d)", name, t.steps,
               fingerprint, jax.process_index(), jax.process_count())
  return state


def train(config, workdir: str, method: Method) -> dict:
  """Trains the selected models in turn; returns {name: final state}. One training process per workdir;
  WORKDIR/config.json is written only once the config and the data have been checked."""
  method.validate(config)
  validate(config)
  names = selected_models(config, method)
  checkpoint.check_config(workdir, config, method.architecture_fields)
  mesh = parallel.data_mesh()
  with checkpoint.workdir_lock(workdir):
    next(data.batches(config.data, "train", config.train.batch_size, config.data.seed))   # the data loads
    checkpoint.write_or_check_config(workdir, config, method.architecture_fields)
    stats = fit_or_load_stats(config, workdir, method)
    logging.info("training %s on %d device(s), global batch %d", names, jax.device_count(), config.train.batch_size)
    return {name: train_model(config, workdir, name, stats, mesh, method) for name in names}
