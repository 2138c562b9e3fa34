"""WMGM (Xiao et al. 2024): score-based diffusion for the low band, an adversarial generator for the details.

The coarsest low-pass x_J is sampled by WSGM's score model (the same `coarse` model, trained the same way,
with N reverse-SDE steps). Each finer scale's normalized details come from one pass of a generator
G(z, x_j) (z ~ N(0, I) of the details' shape; the UNet of wsgm/models/unet.py with the low-pass as
conditioning channels and its time input fixed at 0), shared across scales or one per scale
(wmgm.shared_generator). Sampling therefore costs N + J network evaluations instead of (J + 1) N.

Training of G at scale j (multi-scale adversarial learning, MSAL), with x_{j-1} = IDWT(x_j, xbar_j):
  L_G = w_adv softplus(-D(x^_{j-1})) + w_mse |G(z, x_j) - xbar_j|^2 + w_ssim (1 - SSIM(x^_{j-1}, x_{j-1}))
on normalized details; the discriminator D scores the reconstruction x^_{j-1} = IDWT(x_j, G) in image units
(x_{j-1} / 2^{j-1}), so one fully convolutional D serves every scale. D is updated every wmgm.d_every G
steps with the non-saturating loss. Both optimizers clip the global gradient norm before AdamW.
"""
from typing import Any, Dict, List

import flax
import jax
import jax.numpy as jnp
import optax

from lib import ssim as ssim_lib
from lib.errors import InputError
from wsgm import pyramid, sampling, train, wavelets
from wsgm.methods import Method, wsgm
from wsgm.models import unet
from wsgm.models.discriminator import Discriminator
from wsgm.models.unet import UNet

ARCHITECTURE_FIELDS = wsgm.ARCHITECTURE_FIELDS + ("wmgm.shared_generator", "wmgm.generator", "wmgm.discriminator")
SHARED = "generator"


class GanState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any             # generator
  ema_params: Any         # generator EMA, used for sampling
  opt_state: Any
  d_params: Any
  d_opt_state: Any
  rng: jax.Array


def model_names(config) -> List[str]:
  """The coarse score model, then one shared generator or one generator per scale (coarse to fine)."""
  if config.wmgm.shared_generator:
    return ["coarse", SHARED]
  return pyramid.model_names(config.pyramid.levels)


def generator_name(config, scale: int) -> str:
  return SHARED if config.wmgm.shared_generator else f"scale_{scale}"


def validate(config) -> None:
  wsgm.validate(config)
  levels, size, w = config.pyramid.levels, config.data.image_size, config.wmgm
  details = sorted(set(sampling.per_scale_specs(config)) - {"coarse"})
  if details:
    raise InputError(f"sampling.per_scale names {details}: WMGM's details come from its generator in one pass; "
                     "only 'coarse' has a sampler")
  if levels < 1:
    raise InputError(f"pyramid.levels={levels}: WMGM needs J >= 1 (the generator makes the detail bands)")
  if config.train.accumulate != 1:
    raise InputError(f"train.accumulate={config.train.accumulate}: WMGM's adversarial step has no gradient "
                     "accumulation; use 1")
  unet.check_config(w.generator, "wmgm.generator", size >> levels)
  if size >> (levels - 1) < 7:
    raise InputError(f"data.image_size={size} with J={levels}: the coarsest reconstruction is smaller than SSIM's "
                     "7x7 window")
  for field in ("adversarial_weight", "mse_weight", "ssim_weight"):
    if w[field] < 0:
      raise InputError(f"wmgm.{field}={w[field]}: need a non-negative weight")
  if w.d_every < 1:
    raise InputError(f"wmgm.d_every={w.d_every}: need >= 1 (discriminator updates every d_every generator steps)")


def make_generator_model(config, channels: int) -> UNet:
  g = config.wmgm.generator
  return UNet(out_channels=3 * channels, base_channels=g.base_channels, channel_mult=tuple(g.channel_mult),
              num_res_blocks=g.num_res_blocks, attn_resolutions=tuple(g.attn_resolutions), dropout=0.0,
              norm_groups=g.norm_groups, padding=g.padding)


def generate_details(model, params, z, low_normalized):
  """One generator pass: normalized details from noise z and the normalized low-pass."""
  return model.apply(params, z, jnp.zeros(z.shape[:1]), low_normalized)


def optimizer(learning_rate: float, config) -> optax.GradientTransformation:
  """Clips the gradient itself (before AdamW sees it), so the clip bounds what the optimizer is fed."""
  return optax.chain(optax.clip_by_global_norm(config.train.grad_clip),
                     optax.adamw(learning_rate, b1=config.wmgm.beta1, b2=0.999,
                                 weight_decay=config.wmgm.weight_decay))


def scale_data(images, stats, wavelet: str, scales) -> Dict[int, tuple]:
  """{j: (normalized x_j, normalized xbar_j, x_j, x_{j-1} in image units)} for the scales asked."""
  lows, details = wavelets.analyze(images, wavelet, max(scales))
  lows = (images,) + lows
  return {j: (stats.lowpass(lows[j], j), stats.details(details[j - 1], j), lows[j],
              lows[j - 1] * pyramid.scale_unit(j - 1)) for j in scales}


def make_gan_steps(config, name, stats, channels):
  levels, wavelet, w = config.pyramid.levels, config.pyramid.wavelet, config.wmgm
  scales = list(range(1, levels + 1)) if name == SHARED else [pyramid.scale_of(name)]
  generator = make_generator_model(config, channels)
  discriminator = Discriminator(w.discriminator.width, w.discriminator.depth)
  g_opt, d_opt = optimizer(w.g_learning_rate, config), optimizer(w.d_learning_rate, config)

  def reconstruct(low, fake_normalized, j):   # x^_{j-1} in image units
    return pyramid.merge(low, fake_normalized, j, stats, wavelet) * pyramid.scale_unit(j - 1)

  def init_fn(key, images):
    g_key, d_key, state_key = jax.random.split(key, 3)
    low_n, details_n, _, real = scale_data(images, stats, wavelet, scales)[scales[0]]
    g_params = generator.init(g_key, details_n, jnp.zeros(len(images)), low_n)
    d_params = discriminator.init(d_key, real)
    return GanState(jnp.zeros((), jnp.int32), g_params, g_params, g_opt.init(g_params), d_params,
                    d_opt.init(d_params), jax.random.key_data(state_key))

  def train_step(state, images):
    key, z_key = jax.random.split(jax.random.wrap_key_data(state.rng))
    batch = scale_data(images, stats, wavelet, scales)
    zs = {j: jax.random.normal(jax.random.fold_in(z_key, j), batch[j][1].shape) for j in scales}

    def g_loss(g_params):
      terms, fakes = {"adversarial": 0.0, "mse": 0.0, "ssim": 0.0}, {}
      for j in scales:
        low_n, details_n, low, real = batch[j]
        fake_n = generate_details(generator, g_params, zs[j], low_n)
        fakes[j] = reconstruct(low, fake_n, j)
        terms["adversarial"] += jnp.mean(jax.nn.softplus(-discriminator.apply(state.d_params, fakes[j])))
        terms["mse"] += jnp.mean((fake_n - details_n) ** 2)
        terms["ssim"] += jnp.mean(ssim_lib.ssim(fakes[j], real, data_range=2.0))
      total = (w.adversarial_weight * terms["adversarial"] + w.mse_weight * terms["mse"]
               + w.ssim_weight * (len(scales) - terms["ssim"]))
      return total, (terms, fakes)

    (g_value, (terms, fakes)), g_grads = jax.value_and_grad(g_loss, has_aux=True)(state.params)

    def d_loss(d_params):
      total = 0.0
      for j in scales:
        total += jnp.mean(jax.nn.softplus(-discriminator.apply(d_params, batch[j][3])))
        total += jnp.mean(jax.nn.softplus(discriminator.apply(d_params, jax.lax.stop_gradient(fakes[j]))))
      return total

    def update_d(_):   # D's backward pass runs only on the steps whose update is applied (1 in d_every)
      d_value, d_grads = jax.value_and_grad(d_loss)(state.d_params)
      updates, d_opt_state = d_opt.update(d_grads, state.d_opt_state, state.d_params)
      return optax.apply_updates(state.d_params, updates), d_opt_state, d_value

    def keep_d(_):     # forward only, for the logged loss
      return state.d_params, state.d_opt_state, d_loss(state.d_params)

    d_params, d_opt_state, d_value = jax.lax.cond(state.step % w.d_every == 0, update_d, keep_d, None)
    updates, opt_state = g_opt.update(g_grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = train.ema_update(state.ema_params, params, state.step, config.train.ema_decay)
    metrics = dict(g_loss=g_value, d_loss=d_value, g_grad_norm=optax.tree.norm(g_grads),
                   **{k: v / len(scales) for k, v in terms.items()})
    return GanState(state.step + 1, params, ema, opt_state, d_params, d_opt_state, jax.random.key_data(key)), metrics

  return init_fn, train_step, generator


def make_steps(config, name, stats, channels):
  """Method.make_steps: the coarse model is WSGM's score model; generators train adversarially."""
  if name == "coarse":
    return wsgm.make_steps(config, name, stats, channels)
  return make_gan_steps(config, name, stats, channels)


def _detail_functions(config, models):
  """[G of scale j as (z, t, cond) -> details for j = 1..J]: the pyramid's conditional-sampler interface."""
  def generator(name):   # looked up when called: super-resolution loads only the generators it needs
    def details(z, t, cond):
      model, params = models[name]
      return generate_details(model, params, z, cond)
    return details
  return [generator(generator_name(config, j)) for j in range(1, config.pyramid.levels + 1)]


def _one_pass(fn, z, times, key):
  """WMGM's details 'sampler': one generator evaluation on the noise z ~ N(0, I) drawn for it."""
  del key
  return fn(z, times[0])


def _detail_draw(config, models, mesh):
  _, times, shard = sampling.solver_parts(config, mesh)
  return pyramid.sampler_draw(_detail_functions(config, models), _one_pass, times, shard)


def make_generator(config, models, stats, channels, mesh, progress=None):
  """jitted key -> PyramidSample: N reverse-SDE steps for x_J, then one generator pass per scale."""
  sampler, times, shard = sampling.solver_parts(config, mesh)
  coarse, _ = wsgm.score_functions(models, 0)
  levels, size = config.pyramid.levels, config.data.image_size
  shape = (config.sampling.batch_size, size >> levels, size >> levels, channels)
  details = _detail_functions(config, models)
  draw = _detail_draw(config, models, mesh)
  return jax.jit(lambda key: pyramid.sample_coarse_to_fine(
      key, shape, coarse, details, stats, config.pyramid.wavelet, sampler, times, shard, detail_draw=draw,
      progress=progress))


def make_super_resolver(config, models, stats, scale, mesh, progress=None):
  """jitted (key, x_scale) -> PyramidSample: one generator pass per scale from the given low-pass."""
  draw = _detail_draw(config, models, mesh)
  return jax.jit(lambda key, low: pyramid.refine(key, low, scale, draw, stats, config.pyramid.wavelet,
                                                             progress))


def superres_models(config, scale: int) -> List[str]:
  return sorted({generator_name(config, j) for j in range(1, scale + 1)})


METHOD = Method("wmgm", validate, ARCHITECTURE_FIELDS, "standardize", make_steps, model_names, make_generator,
                make_super_resolver, superres_models)
