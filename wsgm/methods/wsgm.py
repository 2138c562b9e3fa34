"""WSGM (Guth, Coste, De Bortoli, Mallat 2022): wavelet score-based generative models.

p(x_0) = p(x_J) prod_j p(xbar_j | x_j) on an orthonormal wavelet pyramid (wsgm/pyramid.py), every coefficient
standardized per band and channel (pyramid.Standardize). One score model per factor:
- "coarse": an unconditional UNet on the normalized coarsest low-pass x_J;
- "scale_j": a UNet on the normalized details xbar_j, the normalized low-pass x_j as extra input channels.
J = 0 (pyramid.levels = 0) is plain pixel-space SGM, the paper's baseline, on the same code path.

Training (denoising score matching, every model alike): with the OU process of wsgm/sde.py,
x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z, the loss is E_{t, z} |eps_theta(x_t, t, cond) - z|^2, t = T u^2
(train.time_grid) and the score is -eps_theta / sqrt(1 - e^{-2t}).
Sampling: the same reverse-SDE sampler (sampling.sampler) and time grid (sampling.time_grid, sampling.steps)
at every scale, coarse to fine, so the cost grows linearly with the number of pixels; super-resolution runs the
conditional models alone from a given low-pass.

Config fields: model.* (the UNet), pyramid.levels / pyramid.wavelet, sde.T, train.*, sampling.*.
Evaluation is the shared one (wsgm/evaluation.py).
"""
from typing import List

import jax
import jax.numpy as jnp

from lib import parallel
from lib.errors import InputError
from wsgm import pyramid, sampling, sde, train, wavelets
from wsgm.methods import Method
from wsgm.models import unet
from wsgm.models.unet import UNet

# Config fields that fix what a WSGM checkpoint means (train.DATA_FIELDS: what it was trained on).
ARCHITECTURE_FIELDS = ("model", "pyramid", "sde", "train.time_grid", "train.t_min") + train.DATA_FIELDS


COMPUTE_DTYPES = ("float32", "bfloat16")


def validate(config) -> None:
  pyramid.validate(config, "pixel-space SGM")
  unet.check_config(config.model, "model", config.data.image_size >> config.pyramid.levels)
  if config.model.dtype not in COMPUTE_DTYPES:
    raise InputError(f"model.dtype={config.model.dtype!r}: the compute dtype is one of {COMPUTE_DTYPES} "
                     "(parameters follow model.param_dtype)")
  if config.model.param_dtype not in COMPUTE_DTYPES:
    raise InputError(f"model.param_dtype={config.model.param_dtype!r}: the parameters' dtype is one of "
                     f"{COMPUTE_DTYPES}")
  # checked before training too: a run must not end in a sampler it cannot use
  for name in pyramid.model_names(config.pyramid.levels):
    sampling.scale_solver(config, name)
  sde.config_train_times(config)
  parallel.check_divisible(config.train.batch_size, "train.batch_size")


def make_model(config, name: str, channels: int) -> UNet:
  m = config.model
  out = channels if name == "coarse" else 3 * channels
  return UNet(out_channels=out, base_channels=m.base_channels, channel_mult=tuple(m.channel_mult),
              num_res_blocks=m.num_res_blocks, attn_resolutions=tuple(m.attn_resolutions), dropout=m.dropout,
              norm_groups=m.norm_groups, dtype=jnp.dtype(m.dtype), param_dtype=jnp.dtype(m.param_dtype),
              padding=m.padding)


def denoising_errors(params, model, target, cond, t, z):
  """Per example, the mean square of eps_theta(x_t, t, cond) - z over its coefficients, at its own time t and
  noise z (eval mode): loss_fn's integrand, for a loss on held-out data at chosen times."""
  eps = model.apply(params, sde.perturb(target, t, z), t, cond, train=False)
  return jnp.mean((eps - z) ** 2, axis=tuple(range(1, target.ndim)))


def loss_fn(params, model, target, cond, key, times, train=True):
  """The denoising loss at training times t = times(u), u ~ U[0, 1] (sde.config_train_times)."""
  t_key, z_key, dropout_key = jax.random.split(key, 3)
  t = times(jax.random.uniform(t_key, target.shape[:1]))
  z = jax.random.normal(z_key, target.shape, target.dtype)
  eps = model.apply(params, sde.perturb(target, t, z), t, cond, train=train, rngs={"dropout": dropout_key})
  return jnp.mean((eps - z) ** 2)


def make_steps(config, name, stats, channels):
  """Method.make_steps: (init_fn, train_step, model) of one score model."""
  model, optimizer = make_model(config, name, channels), train.make_optimizer(config)
  levels, wavelet, times = config.pyramid.levels, config.pyramid.wavelet, sde.config_train_times(config)
  io = lambda images: pyramid.model_io(images, name, stats, wavelet, levels)

  def init_fn(key, images):
    target, cond = io(images)
    return train.init_state(key, model.init(key, target, jnp.ones(target.shape[:1]), cond), optimizer)

  def train_step(state, images):
    return train.apply_gradients(state, optimizer, config.train.ema_decay,
                                 lambda params, key, x: loss_fn(params, model, *io(x), key, times),
                                 images, config.train.accumulate)

  return init_fn, train_step, model


def score_functions(models, levels):
  """Epsilon-predicting networks -> (coarse score, [conditional score of scale j for j = 1..J])."""
  def coarse(x, t):
    model, params = models["coarse"]
    return sde.score_from_eps(model.apply(params, x, jnp.full(x.shape[:1], t), None), t)

  def conditional(name):   # looked up when called: super-resolution loads only the scales it needs
    def score(y, t, cond):
      model, params = models[name]
      return sde.score_from_eps(model.apply(params, y, jnp.full(y.shape[:1], t), cond), t)
    return score

  return coarse, [conditional(f"scale_{j}") for j in range(1, levels + 1)]


def make_generator(config, models, stats, channels, mesh, progress=None):
  """jitted key -> PyramidSample of sampling.batch_size images, sharded over the mesh."""
  sampler, times, shard = sampling.solver_parts(config, mesh)
  coarse, conditionals = score_functions(models, config.pyramid.levels)
  levels, size = config.pyramid.levels, config.data.image_size
  shape = (config.sampling.batch_size, size >> levels, size >> levels, channels)
  draw = detail_draw(config, conditionals, mesh)
  return jax.jit(lambda key: pyramid.sample_coarse_to_fine(
      key, shape, coarse, conditionals, stats, config.pyramid.wavelet, sampler, times, shard, detail_draw=draw,
      progress=progress))


def detail_draw(config, conditionals, mesh):
  """The DetailDraw of every scale j, each with its own sampler and grid (sampling.solver_parts of scale_j:
  config.sampling unless sampling.per_scale names it)."""
  draws = {j: pyramid.sampler_draw(conditionals, *sampling.solver_parts(config, mesh, f"scale_{j}"))
           for j in range(1, config.pyramid.levels + 1)}
  return lambda j, key, cond: draws[j](j, key, cond)


def make_super_resolver(config, models, stats, scale, mesh, progress=None):
  """jitted (key, x_scale) -> PyramidSample: the details of scales `scale`..1 given the low-pass."""
  _, conditionals = score_functions(models, config.pyramid.levels)
  draw = detail_draw(config, conditionals, mesh)
  return jax.jit(lambda key, low: pyramid.refine(key, low, scale, draw, stats, config.pyramid.wavelet,
                                                             progress))


def make_scores(config, models):
  """{name: score(y, t, cond)} of every model (cond is None for the coarse one)."""
  coarse, conditionals = score_functions(models, config.pyramid.levels)
  scores = {"coarse": lambda y, t, cond: coarse(y, t)}
  scores.update({f"scale_{j}": fn for j, fn in enumerate(conditionals, start=1)})
  return scores


def make_preview(config, name, stats, channels):
  """Method.make_preview: train.sample_count images from train.sample_steps reverse-SDE steps of model `name`
  alone. "coarse" draws x_J from noise; "scale_j" draws details for the batch's own x_j and merges them into
  x_{j-1} (each model is watched on its own, the coarser scales given by data). Low-passes are shown divided
  by 2^level (an orthonormal low-pass of [-1, 1] images lies in [-2^level, 2^level])."""
  model = make_model(config, name, channels)
  levels, wavelet, count = config.pyramid.levels, config.pyramid.wavelet, config.train.sample_count
  sampler, times = sampling.scale_solver(config, name, config.train.sample_steps)

  def preview(params, key, images):
    coarse, conditionals = score_functions({name: (model, params)}, levels)
    if name == "coarse":
      init_key, key = jax.random.split(key)
      size = images.shape[1] >> levels
      x = sampler(coarse, jax.random.normal(init_key, (count, size, size, channels)), times, key)
      return (stats.lowpass(x, levels, inverse=True) if levels else x) / 2.0 ** levels
    j = pyramid.scale_of(name)
    low = wavelets.decompose(images[:count], wavelet, j).lowpass
    details, _ = pyramid.sampler_draw(conditionals, sampler, times)(j, key, stats.lowpass(low, j))
    return pyramid.merge(low, details, j, stats, wavelet) / 2.0 ** (j - 1)

  return jax.jit(preview)


def superres_models(config, scale: int) -> List[str]:
  del config
  return [f"scale_{j}" for j in range(1, scale + 1)]


METHOD = Method("wsgm", validate, ARCHITECTURE_FIELDS, "standardize", make_steps,
                lambda config: pyramid.model_names(config.pyramid.levels), make_generator, make_super_resolver,
                superres_models, make_scores, make_preview)
