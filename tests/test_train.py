import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import checkpoint, data
from tests.overrides import override
from wsgm import pyramid, train
from wsgm.methods import wsgm as wsgm_method


@pytest.fixture(scope="module")
def faces(tiny_config):
  return jnp.asarray(data.load_array(tiny_config.data, "train"))


def test_model_io_shapes_and_normalization(tiny_config, faces):
  stats = pyramid.fit_stats(faces, "haar", 1)
  target, cond = pyramid.model_io(faces, "scale_1", stats, "haar", 1)
  assert target.shape == (len(faces), 8, 8, 3) and cond.shape == (len(faces), 8, 8, 1)
  np.testing.assert_allclose(jnp.std(target, (0, 1, 2)), 1, rtol=1e-3)
  coarse, none = pyramid.model_io(faces, "coarse", stats, "haar", 1)
  assert none is None and np.array_equal(coarse, cond)
  raw, _ = pyramid.model_io(faces, "coarse", None, "haar", 0)
  assert raw is faces


def test_ema_warms_up_then_uses_the_configured_decay():
  init, params = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
  first = train.ema_update(init, params, jnp.int32(0), 0.999)      # decay min(0.999, 1/10)
  np.testing.assert_allclose(first["w"], 0.9, rtol=1e-6)
  late = train.ema_update(init, params, jnp.int32(100_000), 0.999)  # warmup over: the configured decay
  np.testing.assert_allclose(late["w"], 0.001, rtol=1e-4)


@pytest.mark.parametrize("name", ["coarse", "scale_1"])
def test_a_few_steps_lower_the_loss(tiny_config, faces, name):
  stats = pyramid.fit_stats(faces, "haar", 1)
  init_fn, step_fn, model = wsgm_method.make_steps(tiny_config, name, stats, 1)
  batch = faces[:8]
  state = jax.jit(init_fn)(jax.random.key(0), batch)
  target, cond = pyramid.model_io(batch, name, stats, "haar", 1)
  eval_loss = jax.jit(lambda p: wsgm_method.loss_fn(p, model, target, cond, jax.random.key(9), 5.0, "quadratic", False))
  before = float(eval_loss(state.params))
  step_fn = jax.jit(step_fn)
  for i in range(40):
    state, _ = step_fn(state, faces[(8 * i) % 160:(8 * i) % 160 + 8])
  after = float(eval_loss(state.params))
  assert int(state.step) == 40
  assert after < 0.85 * before, (before, after)


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_checkpoint_round_trip_is_bit_identical(tiny_config, faces, tmp_path):
  init_fn, step_fn, _ = wsgm_method.make_steps(tiny_config, "coarse", pyramid.fit_stats(faces, "haar", 1), 1)
  state = jax.jit(init_fn)(jax.random.key(0), faces[:8])
  state, _ = jax.jit(step_fn)(state, faces[:8])
  mngr = checkpoint.manager(str(tmp_path / "ckpt"))
  checkpoint.save(mngr, 1, state)
  mngr.wait_until_finished()
  like = jax.tree.map(jnp.zeros_like, state)
  restored = checkpoint.restore(checkpoint.manager(str(tmp_path / "ckpt")), like)
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  assert _leaves_equal(restored, state)
  assert checkpoint.restore(checkpoint.manager(str(tmp_path / "empty")), like) is None


def test_resumed_run_equals_uninterrupted_run(tiny_config, tmp_path):
  """Stop after 4 steps, resume to 8: the same state, bit for bit (parameters, the EMA parameters sampling
  uses, optimizer state, RNG), as 8 steps straight: the data order and the RNG continue from the checkpoint.
  For the embedded datasets; a tfds stream draws a new shuffle when resumed (README)."""
  only_coarse = {"train.scale": "coarse"}
  train.train(override(tiny_config, **only_coarse, **{"train.steps": 4}), str(tmp_path / "a"), wsgm_method.METHOD)
  resumed = train.train(override(tiny_config, **only_coarse), str(tmp_path / "a"), wsgm_method.METHOD)["coarse"]
  straight = train.train(override(tiny_config, **only_coarse), str(tmp_path / "b"), wsgm_method.METHOD)["coarse"]
  assert int(resumed.step) == int(straight.step) == 8
  assert _leaves_equal(resumed, straight)    # the whole TrainState
  assert sorted(os.listdir(tmp_path / "a" / "coarse" / "checkpoints")) == ["4", "8"]


def test_mismatched_config_is_refused_and_nothing_is_touched(tiny_config, tmp_path):
  workdir = str(tmp_path)
  checkpoint.write_or_check_config(workdir, tiny_config, wsgm_method.ARCHITECTURE_FIELDS)
  before = open(tmp_path / "config.json").read()
  other = override(tiny_config, **{"model.base_channels": 16, "pyramid.wavelet": "db2", "train.steps": 99})
  with pytest.raises(ValueError, match=r"model.base_channels: saved 8 vs given 16.*pyramid.wavelet") as e:
    checkpoint.write_or_check_config(workdir, other, wsgm_method.ARCHITECTURE_FIELDS)
  assert "train.steps" not in str(e.value)     # training length may change between runs
  assert open(tmp_path / "config.json").read() == before
  checkpoint.write_or_check_config(workdir, override(tiny_config, **{"train.steps": 99}), wsgm_method.ARCHITECTURE_FIELDS)
  assert json.load(open(tmp_path / "config.json"))["train"]["steps"] == 8


def test_unknown_train_scale_is_refused(tiny_config):
  with pytest.raises(ValueError, match=r"train.scale='7'.*'coarse', 'scale_1'"):
    train.selected_models(override(tiny_config, **{"train.scale": "7"}), wsgm_method.METHOD)
  assert train.selected_models(override(tiny_config, **{"train.scale": "1"}), wsgm_method.METHOD) == ["scale_1"]


@pytest.mark.parametrize("overrides, message", [
    ({"pyramid.levels": 5}, r"not divisible by 2\^J = 32"),
    ({"model.channel_mult": (1, 2, 2, 2, 2)}, "the 8x8 coarsest grid cannot"),
    ({"model.norm_groups": 3}, "norm_groups=3"),
    ({"pyramid.wavelet": "coif99"}, "unknown wavelet 'coif99'"),
])
def test_bad_config_is_refused(tiny_config, overrides, message):
  with pytest.raises(ValueError, match=message):
    wsgm_method.validate(override(tiny_config, **overrides))
