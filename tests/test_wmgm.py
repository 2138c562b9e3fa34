import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib import checkpoint, data
from tests.overrides import override
from wsgm import experiments, pyramid, wavelets
from wsgm.methods import wmgm


@pytest.fixture(scope="module")
def tiny_wmgm():
  from tests.configs import tiny_wmgm
  return tiny_wmgm.get_config()


@pytest.fixture(scope="module")
def faces(tiny_wmgm):
  return jnp.asarray(data.load_array(tiny_wmgm.data, "train"))


@pytest.mark.parametrize("shared", [True, False])
def test_generator_output_shape_at_every_scale(tiny_wmgm, faces, shared):
  c = override(tiny_wmgm, **{"pyramid.levels": 2, "wmgm.shared_generator": shared})
  stats = pyramid.fit_stats(faces[:64], "haar", 2)
  assert wmgm.model_names(c) == (["coarse", "generator"] if shared else ["coarse", "scale_2", "scale_1"])
  for name in wmgm.model_names(c)[1:]:
    init_fn, _, model = wmgm.make_steps(c, name, stats, 1)
    state = jax.eval_shape(init_fn, jax.random.key(0), faces[:4])
    for j, (low_n, details_n, _, _) in wmgm.scale_data(faces[:4], stats, "haar", [1, 2]).items():
      if not shared and name != f"scale_{j}":
        continue
      out = jax.eval_shape(lambda p: wmgm.generate_details(model, p, details_n, low_n), state.params)
      assert out.shape == (4, 16 >> j, 16 >> j, 3)


@pytest.fixture(scope="module")
def gan(tiny_wmgm, faces):
  stats = pyramid.fit_stats(faces[:64], "haar", 1)
  init_fn, step_fn, _ = wmgm.make_steps(tiny_wmgm, "generator", stats, 1)
  return jax.jit(init_fn), jax.jit(step_fn)


def _distance(a, b):
  return float(optax.tree.norm(jax.tree.map(lambda x, y: x - y, a, b)))


def test_a_few_generator_and_discriminator_steps_change_both_and_stay_finite(tiny_wmgm, faces, gan):
  init_fn, step_fn = gan
  state = init_fn(jax.random.key(0), faces[:8])
  first = state
  d_after_first = None
  for i in range(4):                    # d_every = 2: D moves at steps 0 and 2 only
    state, metrics = step_fn(state, faces[8 * i:8 * i + 8])
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    if i == 0:
      d_after_first = state.d_params
    if i == 1:
      assert _distance(state.d_params, d_after_first) == 0.0   # skipped: not D's turn
  assert _distance(state.params, first.params) > 0 and _distance(state.d_params, first.d_params) > 0
  assert _distance(state.d_params, d_after_first) > 0
  assert int(state.step) == 4
  assert set(metrics) == {"g_loss", "d_loss", "g_grad_norm", "adversarial", "mse", "ssim"}


def test_gradient_clipping_bounds_what_adamw_is_fed(tiny_wmgm, faces):
  """Adam's first moment after one step from zero is (1 - b1) x the gradient it received: with a clip far
  below the raw gradient norm, that gradient must have norm exactly the clip."""
  clip = 1e-3
  c = override(tiny_wmgm, **{"train.grad_clip": clip})
  stats = pyramid.fit_stats(faces[:64], "haar", 1)
  init_fn, step_fn, _ = wmgm.make_steps(c, "generator", stats, 1)
  state, metrics = jax.jit(step_fn)(jax.jit(init_fn)(jax.random.key(0), faces[:8]), faces[:8])
  mu = [s.mu for s in jax.tree.leaves(state.opt_state, is_leaf=lambda s: hasattr(s, "mu"))
        if hasattr(s, "mu")][0]
  fed = float(optax.tree.norm(mu)) / (1 - c.wmgm.beta1)
  assert float(metrics["g_grad_norm"]) > 100 * clip
  assert fed == pytest.approx(clip, rel=1e-4)


def test_gan_checkpoint_round_trip_is_bit_identical(faces, gan, tmp_path):
  init_fn, step_fn = gan
  state, _ = step_fn(init_fn(jax.random.key(0), faces[:8]), faces[:8])
  mngr = checkpoint.manager(str(tmp_path))
  checkpoint.save(mngr, 1, state)
  mngr.wait_until_finished()
  restored = checkpoint.restore(checkpoint.manager(str(tmp_path)), jax.tree.map(jnp.zeros_like, state))
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)))


def test_wmgm_modes_end_to_end(tiny_wmgm, tmp_path):
  """train (score model + generator) -> sample -> super-resolution -> eval, as main.py dispatches them."""
  w = str(tmp_path)
  experiments.run(tiny_wmgm, w, "train")
  assert sorted(os.listdir(os.path.join(w, "generator", "checkpoints"))) == ["4", "8"]
  experiments.run(tiny_wmgm, w, "sample")
  s = np.load(os.path.join(w, "samples", "samples_0.npz"))
  assert s["image"].shape == (8, 16, 16, 1) and np.all(np.isfinite(s["image"]))
  np.testing.assert_allclose(wavelets.dwt(jnp.asarray(s["image"]), "haar")[0], s["lowpass_0"], atol=1e-5)
  np.savez(tmp_path / "low.npz", lowpass=s["lowpass_0"])
  experiments.run(override(tiny_wmgm, **{"sampling.lowpass": str(tmp_path / "low.npz")}), w, "sample")
  sr = np.load(os.path.join(w, "samples", "superres_0.npz"))
  np.testing.assert_allclose(wavelets.dwt(jnp.asarray(sr["image"]), "haar")[0], s["lowpass_0"], atol=1e-5)
  experiments.run(tiny_wmgm, w, "eval")
  result = json.load(open(os.path.join(w, "eval", "tiny_wmgm.json")))
  assert {"log_spectrum_error", "swd/level_0", "coefficients/scale_1/H"} <= set(result["metrics"])


@pytest.mark.parametrize("overrides, message", [
    ({"pyramid.levels": 0}, "WMGM needs J >= 1"),
    ({"wmgm.d_every": 0}, "wmgm.d_every=0"),
    ({"wmgm.mse_weight": -1.0}, "wmgm.mse_weight=-1.0"),
    ({"wmgm.generator.channel_mult": (1, 2, 2, 2, 2)}, "the 8x8 coarsest grid cannot"),
    ({"sampling.per_scale": ("scale_1=ddim",)}, r"sampling.per_scale names \[.scale_1.\]: WMGM.s details"),
])
def test_bad_wmgm_config_is_refused(tiny_wmgm, overrides, message):
  with pytest.raises(ValueError, match=message):
    wmgm.validate(override(tiny_wmgm, **overrides))
