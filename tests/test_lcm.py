import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import checkpoint, data
from tests.overrides import override
from wsgm import experiments, pyramid, solvers, wavelets
from wsgm.methods import lcm
from wsgm.models.bfcnn import BiasFreeCNN, kernel_sizes


def _random_params(model, *inputs, seed=0):
  """Non-zero weights everywhere (the output layer starts at zero, which would make any test of f trivial)."""
  params = model.init(jax.random.key(seed), *inputs)
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
  return jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, p.shape) for k, p in zip(keys, leaves)])


def test_bias_free_cnn_is_positively_homogeneous():
  """f(a y, a cond) = a f(y, cond): no additive constant anywhere."""
  model = BiasFreeCNN(out_channels=3, width=8, depth=5, receptive_field=7)
  y, cond = jax.random.normal(jax.random.key(2), (2, 12, 12, 3)), jax.random.normal(jax.random.key(3), (2, 12, 12, 1))
  params = _random_params(model, y, cond)
  f = jax.jit(lambda y, c: model.apply(params, y, c))
  base = f(y, cond)
  assert float(jnp.abs(base).mean()) > 1e-2
  for a in (0.25, 3.0):
    np.testing.assert_allclose(f(a * y, a * cond), a * base, rtol=1e-4, atol=1e-5 * a)


@pytest.mark.parametrize("rf", [1, 5, 9, 13])
def test_measured_receptive_field_equals_configured(rf):
  """Gradient of one output pixel w.r.t. the input is non-zero on exactly an RF x RF square."""
  depth, width, size = 7, 6, 32
  model = BiasFreeCNN(out_channels=1, width=width, depth=depth, receptive_field=rf)
  y = jax.random.normal(jax.random.key(0), (1, size, size, 1))
  params = _random_params(model, y)
  grad = jax.grad(lambda y: model.apply(params, y)[0, size // 2, size // 2].sum())(y)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0, ..., 0])) > 0)
  assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (rf, rf)
  sizes = kernel_sizes(depth, rf)
  assert sizes.count(3) == (rf - 1) // 2 and len(sizes) == depth
  count = sum(p.size for p in jax.tree.leaves(params))
  channels = [1] + [width] * (depth - 1) + [1]
  assert count == sum(k * k * cin * cout for k, cin, cout in zip(sizes, channels[:-1], channels[1:]))


def test_lcm_config_parameter_counts_and_rf():
  """The paper's architecture (width 64, depth 21): RF 5 -> 43 spans 83k -> 706k parameters per model."""
  from configs import lcm_celeba
  c = lcm_celeba.get_config()
  counts = {}
  for rf in (5, 43):
    c.lcm.receptive_field = rf
    model = lcm.make_model(c, "scale_1", 1)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 20, 20, 3)), jnp.zeros((1, 20, 20, 1)))
    counts[rf] = sum(np.prod(p.shape) for p in jax.tree.leaves(shapes))
  assert 80e3 < counts[5] < 90e3 and 700e3 < counts[43] < 712e3, counts


@pytest.mark.parametrize("depth, rf, message", [(4, 6, "odd RF"), (4, 11, "needs 5 3x3 layers")])
def test_bad_receptive_field_is_refused(depth, rf, message):
  with pytest.raises(ValueError, match=message):
    kernel_sizes(depth, rf)


def _gaussian_ascent_setup():
  """Prior N(0, diag c) on d coordinates, signal on the first k only (like images, most directions carry
  little energy); the exact blind denoiser reads the noise level off the signal-free coordinates."""
  d, k = 2048, 256
  cs = np.linspace(0.1, 2.0, k)
  c = jnp.asarray(np.concatenate([cs, np.zeros(d - k)]), jnp.float32)

  def residual(y):
    s2 = jnp.mean(y[:, k:] ** 2, axis=1, keepdims=True)
    return s2 / (c + s2) * y

  def exact(v0, h0, beta, sigma_final, fixed_step=False, relative_stop=False):
    """Large-d limit of the sampler: per-coordinate variance (signal) and noise variance (null) recursion.
    fixed_step: h = h0; relative_stop: stop once sigma_t <= sigma_final x std(y) of the updated state."""
    v, n, t = np.full(k, v0), v0, 1
    while True:
      h = h0 if fixed_step else h0 * t / (1 + h0 * (t - 1))
      f2 = (k * np.mean((n / (cs + n)) ** 2 * v) + (d - k) * n) / d   # E ||f(y)||^2 / d
      g2 = ((1 - beta * h) ** 2 - (1 - h) ** 2) * f2
      v, n = (1 - h * n / (cs + n)) ** 2 * v + g2, (1 - h) ** 2 * n + g2
      scale = np.sqrt((k * np.mean(v) + (d - k) * n) / d) if relative_stop else 1.0
      if np.sqrt(f2) <= sigma_final * scale:
        return v, t
      t += 1

  return d, cs, residual, exact


@pytest.mark.parametrize("h0, beta, fixed_step, relative_stop",
                         [(0.01, 0.1, False, False), (0.0005, 0.1, False, False),
                          (0.05, 0.2, True, False), (0.01, 0.1, False, True)])   # the LCM authors' two variants
def test_ascent_on_gaussian_matches_its_exact_recursion(h0, beta, fixed_step, relative_stop):
  d, cs, residual, exact = _gaussian_ascent_setup()
  y0 = 2.0 * jax.random.normal(jax.random.key(0), (1024, d))
  out = jax.jit(lambda y, key: solvers.stochastic_ascent(residual, y, key, h0, beta, 0.01, 5000, fixed_step,
                                                         relative_stop))(y0, jax.random.key(1))
  empirical = np.asarray(out.sample).var(axis=0)[:len(cs)]
  variance, steps = exact(4.0, h0, beta, 0.01, fixed_step, relative_stop)
  assert abs(np.mean(empirical / variance) - 1) < 0.02         # 1024 samples x 256 coordinates
  assert abs(float(np.median(out.iterations)) - steps) <= 0.05 * steps
  assert np.all(np.asarray(out.sigma) <= 0.01)
  if fixed_step or relative_stop:   # the variants change the step count, checked above: fixed h needs more
    assert steps > exact(4.0, h0, beta, 0.01)[1]
  elif h0 < 0.001:   # small steps: the sampler's law converges to the prior
    assert abs(np.mean(empirical / cs) - 1) < 0.08, np.mean(empirical / cs)
  else:            # large steps: a visible O(h) deficit, the reason h0 and beta are config fields
    assert np.mean(empirical / cs) < 0.9


def test_ascent_flags_a_diverging_chain_and_keeps_it_finite():
  """Example 0's denoiser points outward (f = -y / 2: y grows geometrically); example 1's is a fine
  denoiser of N(0, 1) in 64 dims. The first must be flagged and stopped while finite, the second converge."""
  def residual(y):
    s2 = jnp.maximum(jnp.mean(y ** 2, axis=1, keepdims=True) - 1.0, 0.0)   # exact blind N(0, I) denoiser
    good = s2 / (1.0 + s2) * y
    return jnp.where(jnp.arange(2)[:, None] == 0, -0.5 * y, good)
  y0 = 3.0 * jax.random.normal(jax.random.key(0), (2, 64))
  out = solvers.stochastic_ascent(residual, y0, jax.random.key(1), 0.05, 0.5, 0.01, 10_000)
  assert out.diverged.tolist() == [True, False]
  assert np.all(np.isfinite(np.asarray(out.sample))) and int(out.iterations[0]) < 100
  assert float(out.sigma[1]) <= 0.01


@pytest.fixture(scope="module")
def tiny_lcm():
  from tests.configs import tiny_lcm
  return tiny_lcm.get_config()


@pytest.fixture(scope="module")
def faces(tiny_lcm):
  return jnp.asarray(data.load_array(tiny_lcm.data, "test"))


def _oracle(clean, levels, wavelet="haar"):
  """Residual functions that return exactly the noise, given the clean image: an ideal denoiser."""
  if levels == 0:
    return {"coarse": lambda y, cond: y - clean}
  pyr = wavelets.decompose(clean, wavelet, levels)
  fns = {"coarse": lambda y, cond: y - pyr.lowpass * pyramid.scale_unit(levels)}
  for j in range(1, levels + 1):
    fns[f"scale_{j}"] = (lambda target: lambda y, cond: y - target)(pyr.details[j - 1] * pyramid.scale_unit(j))
  return fns


@pytest.mark.parametrize("levels", [0, 2])
def test_denoise_with_ideal_denoisers_returns_the_clean_image(faces, levels):
  noisy = faces + 0.3 * jax.random.normal(jax.random.key(0), faces.shape)
  np.testing.assert_allclose(lcm.denoise(noisy, _oracle(faces, levels), "haar", levels), faces, atol=2e-5)


def test_super_resolution_with_ideal_denoisers_recovers_the_image(faces):
  """Ascent whose denoiser knows the answer lands within ~sigma_final of it, in image units at every scale."""
  a = lcm.AscentConfig(h0=0.05, beta_coarse=0.5, beta_details=0.5, sigma_final=0.002, max_iters=2000,
                       sigma_init=(1.0, 0.5, 0.25))
  low = wavelets.decompose(faces, "haar", 2).lowpass * pyramid.scale_unit(2)
  out = lcm.super_resolve(jax.random.key(0), low, 2, _oracle(faces, 2), "haar", a)
  assert float(jnp.abs(out.image - faces).max()) < 0.05
  np.testing.assert_allclose(out.lowpasses[0], low)
  assert all(10 < int(i.min()) and int(i.max()) < 2000 for i in out.iterations) and not out.diverged.any()


def test_a_few_steps_lower_the_denoising_loss(tiny_lcm, faces):
  init_fn, step_fn, model = lcm.make_steps(tiny_lcm, "scale_1", None, 1)
  batch = faces[:8]
  state = jax.jit(init_fn)(jax.random.key(0), batch)
  target, cond = pyramid.model_io(batch, "scale_1", lcm.UNITS, "haar", 1)
  loss = jax.jit(lambda p: lcm.loss_fn(p, model, target, cond, jax.random.key(9), lcm.sigma_max(tiny_lcm, "scale_1")))
  before = float(loss(state.params))
  step_fn = jax.jit(step_fn)
  for i in range(30):
    state, _ = step_fn(state, faces[(8 * i) % 16:(8 * i) % 16 + 8])
  after = float(loss(state.params))
  assert after < 0.85 * before, (before, after)


def test_lcm_modes_end_to_end(tiny_lcm, tmp_path):
  """train -> eval -> sample -> super-resolution of the saved low-pass, as main.py dispatches them."""
  w = str(tmp_path)
  experiments.run(tiny_lcm, w, "train")
  assert sorted(os.listdir(os.path.join(w, "scale_1", "checkpoints"))) == ["4", "8"]
  assert not os.path.exists(os.path.join(w, "stats.npz"))   # LCM works in fixed per-scale units
  experiments.run(tiny_lcm, w, "eval")
  result = json.load(open(os.path.join(w, "eval", "lcm.json")))
  # eval-only settings may change between runs; the architecture may not
  checkpoint.check_config(w, override(tiny_lcm, **{"eval.denoise_sigmas": (5,), "ascent.h0": 0.1}), lcm.ARCHITECTURE_FIELDS)
  with pytest.raises(ValueError, match="lcm.receptive_field: saved 5 vs given 7"):
    checkpoint.check_config(w, override(tiny_lcm, **{"lcm.receptive_field": 7}), lcm.ARCHITECTURE_FIELDS)
  assert [r["sigma"] for r in result["denoising"]] == [20, 60]
  assert result["denoising"][1]["psnr_noisy"] < result["denoising"][0]["psnr_noisy"]
  assert {"psnr", "ssim", "psnr_mean_of_draws", "bicubic_psnr", "bicubic_ssim"} <= set(result["super_resolution"])
  assert set(result["synthesis"]["iterations"]) == {"coarse", "scale_1"}
  for png in ("denoising.png", "superres.png", "samples.png"):
    assert os.path.exists(os.path.join(w, "eval", png))
  experiments.run(tiny_lcm, w, "sample")
  s = np.load(os.path.join(w, "samples", "samples_0.npz"))
  assert s["image"].shape == (8, 16, 16, 1) and s["lowpass_0"].shape == (8, 8, 8, 1)
  assert s["iterations_0"].shape == (8,) and s["iterations_0"].min() >= 1 and s["diverged"].shape == (8,)
  np.savez(tmp_path / "low.npz", lowpass=s["lowpass_0"][:5])    # fewer than a batch: padded, then cut
  experiments.run(override(tiny_lcm, **{"sampling.lowpass": str(tmp_path / "low.npz")}), w, "sample")
  out = np.load(os.path.join(w, "samples", "superres_0.npz"))
  # the given low-pass (orthonormal units, as WSGM writes it) is kept exactly by the super-resolution
  assert out["image"].shape == (5, 16, 16, 1)
  np.testing.assert_allclose(wavelets.dwt(jnp.asarray(out["image"]), "haar")[0], s["lowpass_0"][:5], atol=1e-5)


def test_lcm_bad_ascent_config_is_refused(tiny_lcm):
  with pytest.raises(ValueError, match="ascent.beta_details=1.5"):
    lcm.ascent_config(override(tiny_lcm, **{"ascent.beta_details": 1.5}))
