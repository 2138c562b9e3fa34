import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import checkpoint, data
from lib.errors import InputError
from tests.overrides import override
from wsgm import pyramid, sde, train, wavelets
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
  eval_loss = jax.jit(lambda p: wsgm_method.loss_fn(p, model, target, cond, jax.random.key(9),
                                                      lambda u: sde.train_times(u, 5.0), False))
  before = float(eval_loss(state.params))
  step_fn = jax.jit(step_fn)
  for i in range(40):
    state, _ = step_fn(state, faces[(8 * i) % len(faces):(8 * i) % len(faces) + 8])   # 120 faces: whole batches
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
  For the embedded datasets; a tfds stream draws a new shuffle when resumed (README). With a cosine decay and
  two accumulated micro-batches per step (and the state's buffers donated to each step); the decay ends at
  step 8 in both runs (train.decay_steps)."""
  only_coarse = {"train.scale": "coarse", "train.schedule": "cosine", "train.warmup_steps": 2,
                 "train.final_lr_fraction": 0.1, "train.decay_steps": 8, "train.accumulate": 2}
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


def test_from_workdir_takes_the_saved_fields_and_keeps_the_command_line(tiny_config, tmp_path):
  """--from_workdir (checkpoint.adopt_saved_config): the architecture and data fields come from config.json, the
  rest (train.steps) and the command line's --config.X stay; without it the refusal names the flags to give."""
  ARCH = wsgm_method.ARCHITECTURE_FIELDS
  made = override(tiny_config, **{"model.base_channels": 16, "model.channel_mult": (1, 2), "pyramid.wavelet": "db2",
                                  "data.seed": 3, "train.steps": 99})
  checkpoint.write_or_check_config(str(tmp_path), made, ARCH)
  with pytest.raises(InputError, match=re.escape("give its values (--config.data.seed=3 --config.model.base_channels=16 "
                                                 "--config.model.channel_mult='(1, 2)' --config.pyramid.wavelet=db2), "
                                                 "or --from_workdir")):
    checkpoint.check_config(str(tmp_path), tiny_config, ARCH)
  config, taken = checkpoint.adopt_saved_config(str(tmp_path), tiny_config, ARCH)
  assert taken == [("data.seed", 3, 0), ("model.base_channels", 16, 8), ("model.channel_mult", (1, 2), [1]),
                   ("pyramid.wavelet", "db2", "haar")]
  assert config.model.channel_mult == (1, 2) and config.train.steps == 8 and tiny_config.model.base_channels == 8
  checkpoint.check_config(str(tmp_path), config, ARCH)   # now the workdir's
  kept, taken = checkpoint.adopt_saved_config(str(tmp_path), tiny_config, ARCH, given=["model.base_channels"])
  assert kept.model.base_channels == 8 and "model.base_channels" not in [k for k, _, _ in taken]
  with pytest.raises(InputError, match="model.base_channels: saved 16 vs given 8"):
    checkpoint.check_config(str(tmp_path), kept, ARCH)
  with pytest.raises(InputError, match="--from_workdir: .*config.json does not exist"):
    checkpoint.adopt_saved_config(str(tmp_path / "new"), tiny_config, ARCH)


def test_from_workdir_follows_a_lazy_field(tmp_path):
  """phi^4's J follows data.image_size (a lazy reference): taking the saved L = 64 gives J = 3 without setting J,
  and eval.num_samples follows the saved chains."""
  from configs import phi4_wsgm
  made = override(phi4_wsgm.get_config("64"), **{"data.phi4.chains": 128})
  checkpoint.write_or_check_config(str(tmp_path), made, wsgm_method.ARCHITECTURE_FIELDS)
  config, taken = checkpoint.adopt_saved_config(str(tmp_path), phi4_wsgm.get_config(), wsgm_method.ARCHITECTURE_FIELDS)
  assert [k for k, _, _ in taken] == ["data.image_size", "data.phi4.chains"]
  assert config.pyramid.levels == 3 and config.eval.num_samples == made.eval.num_samples


@pytest.mark.parametrize("section, field, other, message", [
    ("model", "padding", "CIRCULAR", "model.padding: saved 'SAME' vs given 'CIRCULAR'"),
    ("data", "symmetries", ("negate",), r"data.symmetries: saved \[\] vs given \['negate'\]"),
    ("train", "t_min", 1e-3, "train.t_min: saved 0.0 vs given 0.001"),
])
def test_workdir_made_before_a_field_existed_reads_as_the_old_behaviour(tiny_config, tmp_path, section, field,
                                                                      other, message):
  checkpoint.write_or_check_config(str(tmp_path), tiny_config, wsgm_method.ARCHITECTURE_FIELDS)
  saved = json.load(open(tmp_path / "config.json"))
  del saved[section][field]                          # as written by the code before the field
  json.dump(saved, open(tmp_path / "config.json", "w"))
  checkpoint.check_config(str(tmp_path), tiny_config, wsgm_method.ARCHITECTURE_FIELDS)   # the old value: accepted
  with pytest.raises(ValueError, match=message):
    checkpoint.check_config(str(tmp_path), override(tiny_config, **{f"{section}.{field}": other}),
                            wsgm_method.ARCHITECTURE_FIELDS)


@pytest.mark.parametrize("padding, equivariant", [("CIRCULAR", True), ("SAME", False)])
def test_circular_padding_makes_the_unet_commute_with_periodic_shifts(padding, equivariant):
  """A field on a torus (phi^4, Gaussian fields): with periodic convolutions the score network of a shifted
  field is the shifted score (for shifts by a multiple of its stride, 2 for one halving); zero padding is not."""
  from wsgm.models.unet import UNet
  model = UNet(out_channels=3, base_channels=8, channel_mult=(1, 2), norm_groups=4, padding=padding)
  x, cond = jax.random.normal(jax.random.key(0), (2, 8, 8, 3)), jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
  t = jnp.array([0.3, 2.0])
  params = jax.jit(model.init)(jax.random.key(2), x, t, cond)
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(3), p.shape), params)   # no zero layers
  shift = lambda a: jnp.roll(a, (2, -4), axis=(1, 2))
  apply = jax.jit(model.apply)   # one compilation for both calls (eager flax is slow op by op)
  out, shifted = apply(params, x, t, cond), apply(params, shift(x), t, shift(cond))
  assert np.allclose(shift(out), shifted, atol=1e-5) == equivariant
  assert float(jnp.abs(out).mean()) > 0.1


def test_unknown_train_scale_is_refused(tiny_config):
  with pytest.raises(ValueError, match=r"train.scale='7'.*'coarse', 'scale_1'"):
    train.selected_models(override(tiny_config, **{"train.scale": "7"}), wsgm_method.METHOD)
  assert train.selected_models(override(tiny_config, **{"train.scale": "1"}), wsgm_method.METHOD) == ["scale_1"]


@pytest.mark.parametrize("overrides, message", [
    ({"pyramid.levels": 5}, r"not divisible by 2\^J = 32"),
    ({"model.channel_mult": (1, 2, 2, 2, 2)}, "the 8x8 coarsest grid cannot"),
    ({"model.norm_groups": 3}, "norm_groups=3"),
    ({"model.padding": "WRAP"}, r"model.padding='WRAP': use one of \('SAME', 'CIRCULAR'\)"),
    ({"pyramid.wavelet": "coif99"}, "unknown wavelet 'coif99'"),
])
def test_bad_config_is_refused(tiny_config, overrides, message):
  with pytest.raises(ValueError, match=message):
    wsgm_method.validate(override(tiny_config, **overrides))


def test_learning_rate_warms_up_then_decays_to_the_final_fraction(tiny_config):
  base = {"train.learning_rate": 1e-3, "train.warmup_steps": 10, "train.steps": 110, "train.final_lr_fraction": 0.1}
  lr = lambda schedule, step: float(train.learning_rate(override(tiny_config, **base, **{"train.schedule": schedule}))(step))
  for schedule in train.SCHEDULES:
    assert lr(schedule, 0) == 0 and lr(schedule, 5) == pytest.approx(5e-4) and lr(schedule, 10) == pytest.approx(1e-3)
  assert lr("constant", 110) == pytest.approx(1e-3)
  # halfway through the decay (step 60 of 10..110): cosine at (1 + cos(pi / 2)) / 2 of the way, linear halfway
  assert lr("cosine", 60) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + np.cos(np.pi / 2)))
  assert lr("linear", 60) == pytest.approx(0.55e-3)
  assert lr("cosine", 110) == pytest.approx(1e-4) and lr("linear", 110) == pytest.approx(1e-4)
  longer = override(tiny_config, **{**base, "train.schedule": "linear", "train.steps": 200, "train.decay_steps": 110})
  assert float(train.learning_rate(longer)(60)) == pytest.approx(0.55e-3)   # the same decay, continued to 200
  # warmup-stable-decay: the peak held to step 60, then the cosine over 60..110 (halfway at 85)
  held = lambda step: float(train.learning_rate(override(tiny_config, **{**base, "train.schedule": "cosine",
                                                                         "train.decay_start": 60}))(step))
  assert held(5) == pytest.approx(5e-4) and held(35) == pytest.approx(1e-3) and held(60) == pytest.approx(1e-3)
  assert held(85) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + np.cos(np.pi / 2))) and held(110) == pytest.approx(1e-4)


def test_accumulated_micro_batches_equal_one_big_batch(tiny_config):
  """A mean-square loss over 16 examples: 4 micro-batches of 4, averaged, give the update of the whole batch
  (float32: the sums differ only in their order; a missing 1/k would be a factor 4)."""
  config = override(tiny_config, **{"train.learning_rate": 0.1, "train.warmup_steps": 0})
  x, y = jax.random.normal(jax.random.key(0), (16, 5)), jax.random.normal(jax.random.key(1), (16,))
  loss_of = lambda p, key, batch: jnp.mean((batch[0] @ p["w"] + p["b"] - batch[1]) ** 2)
  optimizer = train.make_optimizer(config)
  state = train.init_state(jax.random.key(2), {"w": jnp.ones(5), "b": jnp.zeros(())}, optimizer)
  step = jax.jit(lambda s, k: train.apply_gradients(s, optimizer, 0.99, loss_of, (x, y), k), static_argnums=1)
  one, four = step(step(state, 1)[0], 1), step(step(state, 4)[0], 4)   # two steps: the first one's rate is 0
  for a, b in zip(jax.tree.leaves(one[0]), jax.tree.leaves(four[0])):   # with Adam's moments (scale-sensitive)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
  np.testing.assert_allclose(one[1]["loss"], four[1]["loss"], rtol=1e-6)
  assert not np.allclose(one[0].params["w"], state.params["w"])   # the step moved the parameters


@pytest.mark.parametrize("field, value, message", [
    ("train.schedule", "exponential", "train.schedule='exponential': choose from"),
    ("train.final_lr_fraction", 1.5, "train.final_lr_fraction=1.5"),
    ("train.decay_start", 2000, "train.decay_start=2000: need 0 (decay from the end of warmup) or a step in"),
    ("train.accumulate", 0, "train.accumulate=0: need a positive integer"),
    ("train.accumulate", 3, "train.batch_size=8 with train.accumulate=3"),
    ("train.sample_every", -5, "train.sample_every=-5: need a step count >= 0"),
    ("train.sample_count", 9, "train.sample_count=9, train.sample_steps=16"),
])
def test_bad_schedule_or_accumulation_is_one_clear_error(tiny_config, tmp_path, field, value, message):
  config = override(tiny_config, **{field: value, "train.batch_size": 8})
  with pytest.raises(InputError, match=re.escape(message)):
    train.train(config, str(tmp_path), wsgm_method.METHOD)
  assert not os.listdir(tmp_path)


def _tensorboard_images(logdir):
  """{(tag, step): (height, width)} of the images in a TensorBoard log directory's event files (TFRecords:
  length, its crc, an Event proto, its crc)."""
  import struct
  from tensorboardX.proto import event_pb2
  from PIL import Image
  import io
  found = {}
  for name in os.listdir(logdir):
    with open(os.path.join(logdir, name), "rb") as f:
      raw = f.read()
    at = 0
    while at < len(raw):
      (length,) = struct.unpack("<Q", raw[at:at + 8])
      event = event_pb2.Event.FromString(raw[at + 12:at + 12 + length])
      at += 16 + length
      for value in event.summary.value:
        if value.HasField("image"):
          found[value.tag, event.step] = Image.open(io.BytesIO(value.image.encoded_image_string)).size[::-1]
  return found


def test_training_shows_each_model_drawing_in_tensorboard(tiny_config, tmp_path):
  """train.sample_every: a grid of train.sample_count images drawn by the model in training, at those steps."""
  config = override(tiny_config, **{"train.steps": 4, "train.sample_every": 2, "train.sample_count": 4,
                                    "train.sample_steps": 2, "train.scale": "coarse"})
  train.train(config, str(tmp_path), wsgm_method.METHOD)
  # One row of 4 images of 8x8 with 1 px borders, upscaled x 8 to ~64 px.
  assert _tensorboard_images(str(tmp_path / "coarse" / "tb")) == {("coarse/samples", 2): (8 * 10, 8 * 37),
                                                                   ("coarse/samples", 4): (8 * 10, 8 * 37)}
  # A scale's model is watched given the data's own low-pass: its draw keeps the batch's x_1 exactly.
  stats = train.load_stats(str(tmp_path))
  images = jnp.asarray(next(data.batches(config.data, "train", 8, 0)))
  init_fn, _, _ = wsgm_method.make_steps(config, "scale_1", stats, 1)
  params = jax.jit(init_fn)(jax.random.key(0), images).params
  drawn = wsgm_method.make_preview(config, "scale_1", stats, 1)(params, jax.random.key(0), images)
  assert drawn.shape == (4, 16, 16, 1) and np.all(np.isfinite(drawn))
  np.testing.assert_allclose(wavelets.decompose(drawn, "haar", 1).lowpass,
                             wavelets.decompose(images[:4], "haar", 1).lowpass, atol=1e-5)
