"""LCM's modes: train (the shared trainer with LCM's method), sample (synthesis or super-resolution by
stochastic ascent) and eval (denoising, super-resolution and synthesis against held-out images).

Files: low-passes are read and written as raw orthonormal coefficients x_j, the same units as WSGM's
samples, so a low-pass saved by either method can be super-resolved by the other.

With lcm.weights_dir set, the models are the LCM authors' released denoisers (wsgm/methods/lcm_pretrained.py)
instead of our checkpoints: sample and eval run them; eval.images (a .npz of images) replaces the dataset.
"""
import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import data, images as image_io, metrics, outputs, parallel, ssim as ssim_lib
from lib.errors import InputError
from wsgm import evaluation, pyramid, sampling, train, wavelets
from wsgm.methods import lcm, lcm_pretrained


def train_models(config, workdir: str) -> dict:
  """The shared trainer with LCM's Method; released models (lcm.weights_dir) are not trained."""
  if config.lcm.weights_dir:
    raise InputError(f"lcm.weights_dir={config.lcm.weights_dir!r} names released models, which are not trained "
                     "here: use --mode=sample or --mode=eval (or clear lcm.weights_dir to train our own)")
  return train.train(config, workdir, lcm.METHOD)


def _setup(config, workdir, channels, names=None):
  lcm.validate(config)
  ascent = lcm.ascent_config(config)
  parallel.check_divisible(config.sampling.batch_size, "sampling.batch_size")
  if config.lcm.weights_dir:
    models = lcm_pretrained.load_models(config, names)
  else:
    models, _ = sampling.load_models(config, workdir, channels, names, lcm.METHOD)
  mesh = parallel.data_mesh()
  constrain = lambda x: jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh))
  return lcm.residuals(models), ascent, constrain


def _batched(fn, inputs_or_count, batch_size, key):
  """Run a jitted fn(key, batch) or fn(key) over whole batches and concatenate (rounded up, then cut); compiled
  ahead of time, so the seconds per item it also returns exclude compilation."""
  if isinstance(inputs_or_count, int):
    count = inputs_or_count
    keys = jax.random.split(key, -(-count // batch_size))
    batches = [(k,) for k in keys]
  else:
    count = len(inputs_or_count)
    batches = -(-count // batch_size)   # cyclic padding to whole batches, cut again below
    padded = np.resize(inputs_or_count, (batches * batch_size,) + inputs_or_count.shape[1:])
    keys = jax.random.split(key, len(padded) // batch_size)
    batches = [(k, jnp.asarray(padded[i * batch_size:(i + 1) * batch_size])) for i, k in enumerate(keys)]
  compiled = fn.lower(*batches[0]).compile()
  start, outs = time.perf_counter(), []
  for i, args in enumerate(batches):
    outs.append(jax.device_get(compiled(*args)))
    logging.info("LCM batch %d/%d done (%.0f s)", i + 1, len(batches), time.perf_counter() - start)
  seconds = (time.perf_counter() - start) / (len(batches) * batch_size)
  return jax.tree.map(lambda *xs: np.concatenate(xs)[:count], *outs), seconds


def synthesize(config, fns, ascent, constrain, num, key, channels):
  """(LcmSample of num images, seconds per image)."""
  levels, size = config.pyramid.levels, config.data.image_size
  shape = (config.sampling.batch_size, size >> levels, size >> levels, channels)
  fn = jax.jit(lambda k: lcm.synthesize(k, shape, fns, config.pyramid.wavelet, levels, ascent, constrain))
  return _batched(fn, num, config.sampling.batch_size, key)


def super_resolve(config, fns, ascent, constrain, lowpass_image_units, scale, key):
  fn = jax.jit(lambda k, low: lcm.super_resolve(k, low, scale, fns, config.pyramid.wavelet, ascent, constrain))
  return _batched(fn, lowpass_image_units, config.sampling.batch_size, key)


def _iteration_summary(iterations, levels):
  names = pyramid.model_names(levels)
  names = names[len(names) - len(iterations):]
  return {n: dict(mean=float(np.mean(i)), max=int(np.max(i))) for n, i in zip(names, iterations)}


def value_range(config):
  """Images span [1 - eval.data_range, 1]: [-1, 1] for our data, [0, 1] for the LCM authors'."""
  return 1.0 - config.eval.data_range, 1.0


def _save_sample_file(config, out_dir, prefix, out, levels_sampled):
  lows = {f"lowpass_{i}": low / pyramid.scale_unit(levels_sampled - i) for i, low in enumerate(out.lowpasses)}
  return sampling.save_samples(out_dir, prefix, out.image, None, value_range(config), diverged=out.diverged,
                               **lows, **{f"iterations_{i}": it for i, it in enumerate(out.iterations)})


def sample(config, workdir: str) -> None:
  out_dir = os.path.join(workdir, "samples")
  channels = data.channels(config.data)
  key = jax.random.key(config.seed)
  if config.sampling.lowpass:
    low, scale = sampling.lowpass_input(config)
    fns, ascent, constrain = _setup(config, workdir, low.shape[-1], [f"scale_{j}" for j in range(1, scale + 1)])
    out, seconds = super_resolve(config, fns, ascent, constrain, low * pyramid.scale_unit(scale), scale, key)
    prefix, levels_sampled = "superres", scale
  else:
    fns, ascent, constrain = _setup(config, workdir, channels)
    out, seconds = synthesize(config, fns, ascent, constrain, config.sampling.num_samples, key, channels)
    prefix, levels_sampled = "samples", config.pyramid.levels
  path = _save_sample_file(config, out_dir, prefix, out, levels_sampled)
  summary = _iteration_summary(out.iterations, levels_sampled)
  logging.info("ascent iterations per model: %s", summary)
  print(f"wrote {path} ({len(out.image)} images, {int(out.diverged.sum())} diverged: flagged in 'diverged'); "
        f"ascent iterations per model: {json.dumps(summary)}; {seconds:.2f} s per image")


def psnr_per_image(estimate: np.ndarray, clean: np.ndarray, data_range: float) -> np.ndarray:
  """10 log10(range^2 / MSE) per image (range = 2 for images in [-1, 1], 1 for [0, 1])."""
  mse = np.mean((np.asarray(estimate, np.float64) - clean) ** 2, axis=(1, 2, 3))
  return 10 * np.log10(data_range ** 2 / mse)


def psnr(estimate: np.ndarray, clean: np.ndarray, data_range: float) -> float:
  return float(np.mean(psnr_per_image(estimate, clean, data_range)))


def ssim(estimate: np.ndarray, clean: np.ndarray, data_range: float) -> float:
  return float(jnp.mean(ssim_lib.ssim(jnp.asarray(estimate), jnp.asarray(clean), data_range=data_range)))


def denoising(config, fns, clean, key):
  """[{sigma (1/255 of the range), PSNR of the noisy and of the denoised images}] and display rows."""
  fn = jax.jit(lambda y: lcm.denoise(y, fns, config.pyramid.wavelet, config.pyramid.levels))
  rows, table, data_range = [clean[:8]], [], config.eval.data_range
  for sigma, k in zip(config.eval.denoise_sigmas, jax.random.split(key, len(config.eval.denoise_sigmas))):
    std = sigma / 255 * data_range
    noisy = clean + std * np.asarray(jax.random.normal(k, clean.shape))
    denoised = np.asarray(fn(jnp.asarray(noisy, jnp.float32)))
    before, after = psnr_per_image(noisy, clean, data_range), psnr_per_image(denoised, clean, data_range)
    mean, se = metrics.bootstrap(np.mean, after)      # standard errors: bootstrap over images
    gain, gain_se = metrics.bootstrap(np.mean, after - before)
    table.append(dict(sigma=sigma, psnr_noisy=float(np.mean(before)), psnr_denoised=mean, psnr_denoised_se=se,
                      gain=gain, gain_se=gain_se, psnr_denoised_per_image=[float(v) for v in after]))
    rows += [noisy[:8], denoised[:8]]
  return table, np.concatenate(rows)


def superres_vs_bicubic(config, fns, ascent, constrain, clean, key):
  """Sample the details of every scale given each held-out image's coarsest low-pass, eval.superres_draws
  times; compare one draw and the mean of the draws (~ E[x | x_J], the fair match for PSNR: a posterior
  sample has twice the MMSE error) with the original, and with bicubic interpolation of the low-pass."""
  levels, draws = config.pyramid.levels, config.eval.superres_draws
  low = np.asarray(wavelets.decompose(jnp.asarray(clean), config.pyramid.wavelet, levels).lowpass) * pyramid.scale_unit(levels)
  out, seconds = super_resolve(config, fns, ascent, constrain, np.concatenate([low] * draws), levels, key)
  images = out.image.reshape((draws,) + clean.shape)
  ok = ~out.diverged.reshape(draws, -1).any(axis=0)    # LCM and bicubic both scored on the images whose draws all converged
  mean = images.mean(axis=0)
  bicubic = np.asarray(jax.image.resize(jnp.asarray(low), clean.shape, "cubic"))
  r = config.eval.data_range
  scored = {"psnr": images[0], "psnr_mean_of_draws": mean, "bicubic_psnr": bicubic}
  result = dict(draws=draws, iterations=_iteration_summary(out.iterations, levels), diverged=int((~ok).sum()),
                num_images=int(len(clean)), seconds_per_draw=seconds)
  for name, estimate in scored.items():   # None where no image's draws all converged
    result[name], result[name + "_se"] = metrics.bootstrap(np.mean, psnr_per_image(estimate[ok], clean[ok], r)) \
        if ok.any() else (None, None)
    result[name.replace("psnr", "ssim")] = ssim(estimate[ok], clean[ok], r) if ok.any() else None
  if ok.any():   # paired over the same images: does the posterior mean beat bicubic?
    gain = psnr_per_image(mean[ok], clean[ok], r) - psnr_per_image(bicubic[ok], clean[ok], r)
    result["mean_of_draws_minus_bicubic_db"], result["mean_of_draws_minus_bicubic_se"] = metrics.bootstrap(np.mean, gain)
  return result, np.concatenate([bicubic[:8], images[0][:8], mean[:8], clean[:8]])


def eval_images(config):
  """The clean images eval scores against: eval.images (a .npz with array "images" (N, H, W, C), any size
  divisible by 2^J), else the dataset's held-out images; None for released models given no images."""
  path, levels = config.eval.images, config.pyramid.levels
  if not path:
    return None if config.lcm.weights_dir else evaluation.heldout(config).reference
  try:
    with np.load(path) as f:
      if "images" not in f:
        raise InputError(f"eval.images={path!r}: needs an array named 'images' (N, H, W, C); it has {sorted(f)}")
      images = np.asarray(f["images"], np.float32)
  except (OSError, ValueError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f"eval.images={path!r}: not a readable .npz ({e})") from None
  channels = data.channels(config.data)
  if images.ndim != 4 or images.shape[-1] != channels or images.shape[1] % 2 ** levels or images.shape[2] % 2 ** levels:
    raise InputError(f"eval.images={path!r}: shape {images.shape}; need (N, H, W, {channels}) with H and W "
                     f"divisible by 2^J = {2 ** levels}")
  if not np.all(np.isfinite(images)):
    raise InputError(f"eval.images={path!r}: holds non-finite values")
  return images[:config.eval.num_samples]


def evaluate(config, workdir: str) -> None:
  out_dir = os.path.join(workdir, "eval")
  clean = eval_images(config)
  channels = data.channels(config.data) if clean is None else clean.shape[-1]
  fns, ascent, constrain = _setup(config, workdir, channels)
  levels, size = config.pyramid.levels, config.data.image_size
  lo, hi = value_range(config)
  d_key, sr_key, s_key = jax.random.split(jax.random.key(config.seed + 1), 3)
  os.makedirs(out_dir, exist_ok=True)
  result = dict(config=config.name, levels=levels, receptive_field=config.lcm.receptive_field,
                images=config.eval.images or (None if clean is None else config.data.name),
                num_images=0 if clean is None else len(clean))
  lines = []
  if clean is not None:
    result["denoising"], grid = denoising(config, fns, clean, d_key)
    image_io.save_grid(os.path.join(out_dir, "denoising.png"), grid, lo=lo, hi=hi)
    lines.append("denoising PSNR (dB): " + ", ".join(f"sigma {r['sigma']}: {r['psnr_noisy']:.2f} -> "
                                                     f"{r['psnr_denoised']:.2f}" for r in result["denoising"]))
    image_io.save_grid(os.path.join(out_dir, "data.png"), clean[:64], lo=lo, hi=hi)
  if clean is not None and levels:
    result["super_resolution"], grid = superres_vs_bicubic(config, fns, ascent, constrain, clean, sr_key)
    image_io.save_grid(os.path.join(out_dir, "superres.png"), grid, lo=lo, hi=hi)
    sr, f = result["super_resolution"], lambda v, d: "n/a" if v is None else f"{v:.{d}f}"
    lines.append(f"super-resolution x{2 ** levels}: one draw PSNR {f(sr['psnr'], 2)} dB / SSIM {f(sr['ssim'], 3)}, "
                 f"mean of {sr['draws']} draws {f(sr['psnr_mean_of_draws'], 2)} dB / {f(sr['ssim_mean_of_draws'], 3)}, "
                 f"bicubic {f(sr['bicubic_psnr'], 2)} dB / {f(sr['bicubic_ssim'], 3)}; mean of draws minus bicubic "
                 f"{f(sr.get('mean_of_draws_minus_bicubic_db'), 2)} +- {f(sr.get('mean_of_draws_minus_bicubic_se'), 2)}"
                 f" dB (paired; all on the {sr['num_images'] - sr['diverged']} of {sr['num_images']} images whose "
                 "draws converged)")
  if not config.eval.synthesis:
    path = outputs.write_json_run(out_dir, "lcm", result)
    print("\n".join(lines + [f"wrote {path} (and {out_dir}/lcm.json, the newest) and PNGs; no synthesis "
                              "(eval.synthesis=False)"]))
    return
  comparable = clean is not None and clean.shape[1:3] == (size, size)
  num = len(clean) if comparable else config.eval.num_samples
  out, seconds = synthesize(config, fns, ascent, constrain, num, s_key, channels)
  iterations = _iteration_summary(out.iterations, levels)
  converged = out.image[~out.diverged]    # diverged ascents are counted and reported, and not scored
  result["synthesis"] = dict(num_samples=num, iterations=iterations, seconds_per_image=seconds,
                             network_evaluations=sum(v["mean"] for v in iterations.values()),
                             diverged=int(out.diverged.sum()), num_scored=len(converged))
  if comparable and len(converged):
    held = (evaluation.Heldout(clean, None, "eval.images: no noise floor") if config.eval.images
            else evaluation.heldout(config))
    result["synthesis"]["metrics"] = evaluation.score(converged, evaluation.prepare(config, held), config)
    result["synthesis"]["heldout"] = held.note
  elif comparable:
    result["synthesis"]["metrics"] = "none: every ascent diverged or did not converge"
  path = outputs.write_json_run(out_dir, "lcm", result)
  if len(converged):
    image_io.save_grid(os.path.join(out_dir, "samples.png"), converged[:64], lo=lo, hi=hi)
  syn = result["synthesis"]
  lines.append(f"synthesis: {syn['diverged']} of {num} ascents diverged (excluded)"
               + (f"; {evaluation.summary(syn['metrics'], ['log_spectrum_error'])}"
                  if isinstance(syn.get("metrics"), dict) else "")
               + f"; {syn['network_evaluations']:.0f} denoiser calls and {seconds:.2f} s per image; iterations "
               f"{json.dumps(iterations)}")
  print("\n".join(lines))
  print(f"wrote {path} (and {out_dir}/lcm.json, the newest) and PNGs")
