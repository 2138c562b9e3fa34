"""LCM's modes: train (the shared trainer with LCM's method), sample (synthesis or super-resolution by
stochastic ascent) and eval (denoising, super-resolution and synthesis against held-out images).

Files: low-passes are read and written as raw orthonormal coefficients x_j, the same units as WSGM's
samples, so a low-pass saved by either method can be super-resolved by the other.
"""
import json
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, parallel, ssim as ssim_lib
from wsgm import evaluation, lcm, sampling, train, wavelets


def train_models(config, workdir: str) -> dict:
  return train.train(config, workdir, lcm.METHOD)


def _setup(config, workdir, channels, names=None):
  lcm.validate(config)
  ascent = lcm.ascent_config(config)
  parallel.check_divisible(config.sampling.batch_size, "sampling.batch_size")
  models, _ = sampling.load_models(config, workdir, channels, names, method=lcm.METHOD)
  mesh = parallel.data_mesh()
  constrain = lambda x: jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh))
  return lcm.residuals(models), ascent, constrain


def _batched(fn, inputs_or_count, batch_size, key):
  """Run a jitted fn(key, batch) or fn(key) over whole batches and concatenate (rounded up, then cut)."""
  if isinstance(inputs_or_count, int):
    count = inputs_or_count
    outs = [jax.device_get(fn(k)) for k in jax.random.split(key, -(-count // batch_size))]
  else:
    count = len(inputs_or_count)
    batches = -(-count // batch_size)   # cyclic padding to whole batches, cut again below
    padded = np.resize(inputs_or_count, (batches * batch_size,) + inputs_or_count.shape[1:])
    keys = jax.random.split(key, len(padded) // batch_size)
    outs = [jax.device_get(fn(k, jnp.asarray(padded[i * batch_size:(i + 1) * batch_size])))
            for i, k in enumerate(keys)]
  return jax.tree.map(lambda *xs: np.concatenate(xs)[:count], *outs)


def synthesize(config, fns, ascent, constrain, num, key, channels):
  levels, size = config.pyramid.levels, config.data.image_size
  shape = (config.sampling.batch_size, size >> levels, size >> levels, channels)
  fn = jax.jit(lambda k: lcm.synthesize(k, shape, fns, config.pyramid.wavelet, levels, ascent, constrain))
  return _batched(fn, num, config.sampling.batch_size, key)


def super_resolve(config, fns, ascent, constrain, lowpass_image_units, scale, key):
  fn = jax.jit(lambda k, low: lcm.super_resolve(k, low, scale, fns, config.pyramid.wavelet, ascent, constrain))
  return _batched(fn, lowpass_image_units, config.sampling.batch_size, key)


def _iteration_summary(iterations, levels):
  names = ["coarse"] + [f"scale_{j}" for j in range(levels, 0, -1)]
  names = names[len(names) - len(iterations):]
  return {n: dict(mean=float(np.mean(i)), max=int(np.max(i))) for n, i in zip(names, iterations)}


def _save_sample_file(out_dir, prefix, out, levels_sampled):
  index = len([f for f in os.listdir(out_dir) if f.startswith(prefix) and f.endswith(".npz")])
  path = os.path.join(out_dir, f"{prefix}_{index}.npz")   # never overwrite earlier samples
  lows = {f"lowpass_{i}": low / lcm.unit(levels_sampled - i) for i, low in enumerate(out.lowpasses)}
  np.savez(path, image=out.image, diverged=out.diverged, **lows,
           **{f"iterations_{i}": it for i, it in enumerate(out.iterations)})
  image_io.save_grid(os.path.join(out_dir, f"{prefix}_{index}.png"), out.image)
  return path


def sample(config, workdir: str) -> None:
  out_dir = os.path.join(workdir, "samples")
  channels = data.channels(config.data)
  key = jax.random.key(config.seed)
  if config.sampling.lowpass:
    low, scale = sampling.lowpass_input(config)
    fns, ascent, constrain = _setup(config, workdir, low.shape[-1], [f"scale_{j}" for j in range(1, scale + 1)])
    out = super_resolve(config, fns, ascent, constrain, low * lcm.unit(scale), scale, key)
    prefix, levels_sampled = "superres", scale
  else:
    fns, ascent, constrain = _setup(config, workdir, channels)
    out = synthesize(config, fns, ascent, constrain, config.sampling.num_samples, key, channels)
    prefix, levels_sampled = "samples", config.pyramid.levels
  os.makedirs(out_dir, exist_ok=True)
  path = _save_sample_file(out_dir, prefix, out, levels_sampled)
  summary = _iteration_summary(out.iterations, levels_sampled)
  logging.info("ascent iterations per model: %s", summary)
  print(f"wrote {path} ({len(out.image)} images, {int(out.diverged.sum())} diverged: flagged in 'diverged'); "
        f"ascent iterations per model: {json.dumps(summary)}")


def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
  """Mean over images of 10 log10(range^2 / MSE), range = 2 for images in [-1, 1]."""
  mse = np.mean((np.asarray(estimate, np.float64) - clean) ** 2, axis=(1, 2, 3))
  return float(np.mean(10 * np.log10(4.0 / mse)))


def ssim(estimate: np.ndarray, clean: np.ndarray) -> float:
  return float(jnp.mean(ssim_lib.ssim(jnp.asarray(estimate), jnp.asarray(clean), data_range=2.0)))


def denoising(config, fns, clean, key):
  """[{sigma (1/255 of the range), PSNR of the noisy and of the denoised images}] and display rows."""
  fn = jax.jit(lambda y: lcm.denoise(y, fns, config.pyramid.wavelet, config.pyramid.levels))
  rows, table = [clean[:8]], []
  for sigma, k in zip(config.eval.denoise_sigmas, jax.random.split(key, len(config.eval.denoise_sigmas))):
    std = sigma / 255 * 2.0      # the [-1, 1] range is 2 wide
    noisy = clean + std * np.asarray(jax.random.normal(k, clean.shape))
    denoised = np.asarray(fn(jnp.asarray(noisy, jnp.float32)))
    table.append(dict(sigma=sigma, psnr_noisy=psnr(noisy, clean), psnr_denoised=psnr(denoised, clean)))
    rows += [noisy[:8], denoised[:8]]
  return table, np.concatenate(rows)


def superres_vs_bicubic(config, fns, ascent, constrain, clean, key):
  """Sample the details of every scale given each held-out image's coarsest low-pass, eval.superres_draws
  times; compare one draw and the mean of the draws (~ E[x | x_J], the fair match for PSNR: a posterior
  sample has twice the MMSE error) with the original, and with bicubic interpolation of the low-pass."""
  levels, draws = config.pyramid.levels, config.eval.superres_draws
  low = np.asarray(wavelets.decompose(jnp.asarray(clean), config.pyramid.wavelet, levels).lowpass) * lcm.unit(levels)
  out = super_resolve(config, fns, ascent, constrain, np.concatenate([low] * draws), levels, key)
  images = out.image.reshape((draws,) + clean.shape)
  ok = ~out.diverged.reshape(draws, -1).any(axis=0)    # scored on images whose draws all converged
  mean = images.mean(axis=0)
  bicubic = np.asarray(jax.image.resize(jnp.asarray(low), clean.shape, "cubic"))
  result = dict(draws=draws, psnr=psnr(images[0][ok], clean[ok]), ssim=ssim(images[0][ok], clean[ok]),
                psnr_mean_of_draws=psnr(mean[ok], clean[ok]), ssim_mean_of_draws=ssim(mean[ok], clean[ok]),
                bicubic_psnr=psnr(bicubic, clean), bicubic_ssim=ssim(bicubic, clean),
                iterations=_iteration_summary(out.iterations, levels), diverged=int((~ok).sum()))
  return result, np.concatenate([bicubic[:8], images[0][:8], mean[:8], clean[:8]])


def evaluate(config, workdir: str) -> None:
  out_dir = os.path.join(workdir, "eval")
  clean = evaluation.reference_images(config, config.eval.num_samples)
  fns, ascent, constrain = _setup(config, workdir, clean.shape[-1])
  levels = config.pyramid.levels
  d_key, sr_key, s_key = jax.random.split(jax.random.key(config.seed + 1), 3)
  os.makedirs(out_dir, exist_ok=True)
  result = dict(config=config.name, levels=levels, receptive_field=config.lcm.receptive_field,
                num_images=len(clean))
  result["denoising"], grid = denoising(config, fns, clean, d_key)
  image_io.save_grid(os.path.join(out_dir, "denoising.png"), grid)
  if levels:
    result["super_resolution"], grid = superres_vs_bicubic(config, fns, ascent, constrain, clean, sr_key)
    image_io.save_grid(os.path.join(out_dir, "superres.png"), grid)
  out = synthesize(config, fns, ascent, constrain, len(clean), s_key, clean.shape[-1])
  iterations = _iteration_summary(out.iterations, levels)
  converged = out.image[~out.diverged]    # scored on converged samples only; the count is reported
  result["synthesis"] = dict(iterations=iterations, network_evaluations=sum(v["mean"] for v in iterations.values()),
                             diverged=int(out.diverged.sum()), **evaluation.compare(converged, clean, config))
  with open(os.path.join(out_dir, "lcm.json"), "w") as f:
    json.dump(result, f, indent=1)
  image_io.save_grid(os.path.join(out_dir, "samples.png"), converged[:64])
  image_io.save_grid(os.path.join(out_dir, "data.png"), clean[:64])
  print("denoising PSNR (dB): " + ", ".join(f"sigma {r['sigma']}: {r['psnr_noisy']:.2f} -> {r['psnr_denoised']:.2f}"
                                            for r in result["denoising"]))
  if levels:
    sr = result["super_resolution"]
    print(f"super-resolution x{2 ** levels}: one draw PSNR {sr['psnr']:.2f} dB / SSIM {sr['ssim']:.3f}, mean of "
          f"{sr['draws']} draws {sr['psnr_mean_of_draws']:.2f} dB / {sr['ssim_mean_of_draws']:.3f}, bicubic "
          f"{sr['bicubic_psnr']:.2f} dB / {sr['bicubic_ssim']:.3f}; {sr['diverged']} images with a diverged ascent (excluded)")
  print(f"synthesis: {result['synthesis']['diverged']} of {len(clean)} ascents diverged (excluded); "
        f"spectrum error {result['synthesis']['spectrum_error']:.3f}, "
        f"{result['synthesis']['network_evaluations']:.0f} denoiser calls per image; iterations {json.dumps(iterations)}")
  print(f"wrote {out_dir}/lcm.json, denoising.png, superres.png, samples.png, data.png")
