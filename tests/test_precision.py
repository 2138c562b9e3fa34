"""bfloat16 compute (model.dtype) on float32 parameters: what stays float32, and how close bf16 runs stay to
float32 ones."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import data
from lib.errors import InputError
from tests.overrides import override
from wsgm import pyramid, sampling
from wsgm.methods import wsgm as wsgm_method


def test_bfloat16_training_tracks_float32(tiny_config):
  """100 steps of the tiny scale_1 model from the same initialization and batches: the bf16 run's mean loss
  over its last 50 steps is within 2% of the float32 run's (measured: 0.05% at 150 steps); parameters,
  optimizer state and losses stay float32; the network's output is float32 and computed in bf16."""
  faces = jnp.asarray(data.load_array(tiny_config.data, "train"))
  stats = pyramid.fit_stats(faces, "haar", 1)
  losses, models = {}, {}
  for dtype in ("float32", "bfloat16"):
    init_fn, step_fn, models[dtype] = wsgm_method.make_steps(override(tiny_config, **{"model.dtype": dtype}),
                                                             "scale_1", stats, 1)
    state, step, history = jax.jit(init_fn)(jax.random.key(0), faces[:8]), jax.jit(step_fn), []
    for i in range(100):
      state, metrics = step(state, faces[(8 * i) % len(faces):(8 * i) % len(faces) + 8])
      history.append(metrics["loss"])
    assert all(x.dtype in (jnp.float32, jnp.int32, jnp.uint32) for x in jax.tree.leaves(state))
    losses[dtype], params = np.asarray(jax.device_get(history)), state.params
  assert losses["bfloat16"].dtype == np.float32 and np.all(np.isfinite(losses["bfloat16"]))
  late = {k: v[50:].mean() for k, v in losses.items()}
  assert late["float32"] < 0.8 * losses["float32"][:10].mean()   # it trained
  assert abs(late["bfloat16"] / late["float32"] - 1) < 0.02, late
  # The same (trained) parameters through both: float32 out; bf16 keeps 8 bits of mantissa, so ~1e-2 relative
  # over the network, not the ~1e-7 of float32 reordering (which would mean bf16 was not used)
  target, cond = pyramid.model_io(faces[:8], "scale_1", stats, "haar", 1)
  t = jnp.full((8,), 0.3)
  out = {k: jax.jit(m.apply)(params, target, t, cond) for k, m in models.items()}
  assert out["float32"].dtype == out["bfloat16"].dtype == jnp.float32
  relative = float(jnp.linalg.norm(out["bfloat16"] - out["float32"]) / jnp.linalg.norm(out["float32"]))
  assert 1e-3 < relative < 5e-2, relative
  assert "bf16" in jax.jit(models["bfloat16"].apply).lower(params, target, t, cond).as_text()


def test_float32_weights_sample_with_bfloat16_compute(tiny_config, trained_workdir):
  """The same checkpoint (model.dtype is not part of what a checkpoint is), the same key: bf16 samples stay
  within 5% (relative RMS) of the float32 ones, and differ from them (bf16 was used)."""
  key = jax.random.key(5)
  f32 = sampling.generate(tiny_config, trained_workdir, 8, key, 1, wsgm_method.METHOD).images
  bf16 = sampling.generate(override(tiny_config, **{"model.dtype": "bfloat16"}), trained_workdir, 8, key, 1,
                           wsgm_method.METHOD).images
  assert bf16.dtype == np.float32 and np.all(np.isfinite(bf16))
  relative = np.linalg.norm(bf16 - f32) / np.linalg.norm(f32)
  print(f"bf16 vs float32 samples: relative RMS difference {relative:.4f}")
  assert 0 < relative < 0.05, relative


def test_unknown_compute_dtype_is_one_clear_error(tiny_config):
  with pytest.raises(InputError, match="model.dtype='float16': the compute dtype is one of"):
    wsgm_method.validate(override(tiny_config, **{"model.dtype": "float16"}))


def test_bfloat16_parameters_keep_their_optimizer_state_in_bfloat16(tiny_config):
  """model.param_dtype=bfloat16: parameters, Adam's moments and the EMA are stored in bf16 (half the memory);
  the loss stays float32 and finite, and a few steps move the parameters."""
  faces = jnp.asarray(data.load_array(tiny_config.data, "train"))[:8]
  config = override(tiny_config, **{"model.dtype": "bfloat16", "model.param_dtype": "bfloat16"})
  init_fn, step_fn, _ = wsgm_method.make_steps(config, "coarse", pyramid.fit_stats(faces, "haar", 1), 1)
  state = jax.jit(init_fn)(jax.random.key(0), faces)
  start, step = state.params, jax.jit(step_fn)
  for _ in range(3):
    state, metrics = step(state, faces)
  floats = [x for x in jax.tree.leaves((state.params, state.ema_params, state.opt_state))
            if jnp.issubdtype(x.dtype, jnp.floating) and x.ndim > 0]
  assert floats and all(x.dtype == jnp.bfloat16 for x in floats)
  assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(state.params)))


def test_unknown_parameter_dtype_is_one_clear_error(tiny_config):
  with pytest.raises(InputError, match="model.param_dtype='float16': the parameters' dtype is one of"):
    wsgm_method.validate(override(tiny_config, **{"model.param_dtype": "float16"}))
