import itertools

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import default
from lib import data


def _cfg(**kw):
  c = ml_collections.ConfigDict(default.get_config().data.to_dict())
  c.update(kw)
  return c


@pytest.mark.parametrize("name, size, count", [("faces", 16, 120), ("textures", 32, 96), ("digits", 16, 1617),
                                               ("gaussian", 16, 96)])
def test_embedded_sets(name, size, count):
  cfg = _cfg(name=name, image_size=size, num_examples=96)
  train = data.load_array(cfg, "train")
  assert train.shape == (count, size, size, 1) and train.dtype == np.float32
  if name != "gaussian":
    assert train.min() >= -1 and train.max() <= 1 and train.std() > 0.1
  test = data.load_array(cfg, "test")
  assert test.shape[1:] == train.shape[1:]
  assert not any(np.array_equal(test[0], t) for t in train)   # held out
  np.testing.assert_array_equal(data.load_array(cfg, "train"), train)   # deterministic


@pytest.mark.parametrize("symmetries", [(), ("shift", "dihedral", "negate")])
def test_batches_are_deterministic_and_resume_in_order(symmetries):
  cfg = _cfg(name="digits", image_size=8, symmetries=symmetries)
  stream = list(itertools.islice(data.batches(cfg, "train", 64, seed=3), 30))   # crosses an epoch (25/epoch)
  again = list(itertools.islice(data.batches(cfg, "train", 64, seed=3), 30))
  assert all(np.array_equal(a, b) for a, b in zip(stream, again))
  resumed = list(itertools.islice(data.batches(cfg, "train", 64, seed=3, start_step=23), 7))
  assert all(np.array_equal(a, b) for a, b in zip(stream[23:], resumed))
  other = next(data.batches(cfg, "train", 64, seed=4))
  assert not np.array_equal(other, stream[0])


@pytest.mark.parametrize("grayscale, channels", [(False, 3), (True, 1)])
def test_celeba_loader_under_mock_data(grayscale, channels):
  cfg = _cfg(name="celeb_a", image_size=20, crop=140, grayscale=grayscale)   # 20: sizes need not be 2^k
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    batch = next(data.batches(cfg, "train", 4, seed=0))
  assert batch.shape == (4, 20, 20, channels) and batch.dtype == np.float32
  assert -1 <= batch.min() and batch.max() <= 1
  assert data.channels(cfg) == channels


@pytest.mark.parametrize("cfg, message", [
    (_cfg(name="imagenet"), "unknown dataset data.name='imagenet'"),
    (_cfg(name="faces", image_size=7), "data.image_size=7"),
    (_cfg(name="textures", texture="wood"), "data.texture='wood'"),
    (_cfg(name="celeb_a", data_dir="/nonexistent/tfds"), "not prepared in data_dir=/nonexistent/tfds.*tfds build celeb_a"),
])
def test_bad_dataset_errors(cfg, message):
  with pytest.raises(ValueError, match=message):
    next(data.batches(cfg, "train", 4, seed=0))


def test_evaluation_reference_covers_every_texture():
  """The held-out textures are stored photo by photo; the eval reference must not be one photo's prefix."""
  from wsgm import evaluation
  config = default.get_config()
  config.data.name, config.data.image_size, config.data.num_examples = "textures", 16, 96
  reference = evaluation.heldout(config, 30).reference
  test = data.load_array(config.data, "test")
  per_photo = len(test) // 3
  rows = [int(np.flatnonzero((test == r).all(axis=(1, 2, 3)))[0]) // per_photo for r in reference]
  assert set(rows) == {0, 1, 2}


def test_texture_test_patches_tile_the_heldout_strip_without_overlap():
  import skimage.data
  cfg = _cfg(name="textures", image_size=32, texture="brick")
  test = data.load_array(cfg, "test")
  photo = skimage.data.brick().astype(np.float32)
  strip = photo[photo.shape[0] * 4 // 5:]
  assert len(test) == (strip.shape[0] // 32) * (strip.shape[1] // 32) == 48
  tiles = strip[:96].reshape(3, 32, 16, 32).transpose(0, 2, 1, 3).reshape(48, 32, 32) / 255 * 2 - 1
  np.testing.assert_allclose(test[..., 0], tiles, atol=1e-6)


def test_faces_split_by_image_and_mirror():
  cfg = _cfg(name="faces", image_size=16)
  train, test = data.load_array(cfg, "train"), data.load_array(cfg, "test")
  assert len(test) == data.FACES_HELDOUT == 40 and len(train) == 2 * 60      # mirrors: training only
  np.testing.assert_array_equal(train[60:], train[:60, :, ::-1])
  seen = {a.tobytes() for a in train}
  assert not any(t.tobytes() in seen or t[:, ::-1].tobytes() in seen for t in test)
  assert len({t.tobytes() for t in test}) == 40


def test_phi4_heldout_run_size():
  """The held-out MCMC run: a quarter of the training chains by default, data.phi4.test_chains when set, its own
  seed either way; a negative count is one clear error."""
  cfg = default.get_config().data
  cfg.phi4.chains = 128
  train, test = data.phi4_params(cfg, "train"), data.phi4_params(cfg, "test")
  assert (train.chains, test.chains) == (128, 32) and train.seed != test.seed
  cfg.phi4.test_chains = 128
  assert data.phi4_params(cfg, "test").chains == 128 and data.phi4_params(cfg, "train").chains == 128
  cfg.phi4.test_chains = -1
  with pytest.raises(data.DataError, match="data.phi4.test_chains=-1"):
    data.phi4_params(cfg, "test")


def _orbit(x, symmetries):
  """Every image of x (H, W, C) under the group `symmetries` generate (data.augment's)."""
  images = [x]
  if "dihedral" in symmetries:
    images = [np.rot90(a, k, axes=(0, 1)) for a in images for k in range(4)]
    images += [np.swapaxes(a, 0, 1) for a in images]
  if "hflip" in symmetries:
    images += [a[:, ::-1] for a in images]
  if "shift" in symmetries:
    images = [np.roll(a, (dy, dx), axis=(0, 1)) for a in images for dy in range(x.shape[0]) for dx in range(x.shape[1])]
  if "negate" in symmetries:
    images += [-a for a in images]
  return images


@pytest.mark.parametrize("symmetries", [("negate",), ("hflip",), ("dihedral",), ("shift", "dihedral", "negate")])
def test_symmetries_map_each_training_image_into_its_orbit(symmetries):
  """Each augmented image is its un-augmented counterpart under some group element, the elements vary from
  image to image, and the test split is never augmented."""
  plain = next(data.batches(_cfg(name="digits", image_size=8), "train", 64, seed=3))
  cfg = _cfg(name="digits", image_size=8, symmetries=symmetries)
  augmented = next(data.batches(cfg, "train", 64, seed=3))
  changed = 0
  for a, x in zip(augmented, plain):
    assert any(np.array_equal(a, y) for y in _orbit(x, symmetries))
    changed += not np.array_equal(a, x)
  assert changed > 16   # not the identity every time (about half for a group of two, nearly all for D4 and more)
  np.testing.assert_array_equal(next(data.batches(cfg, "test", 64, seed=3)),
                                next(data.batches(_cfg(name="digits", image_size=8), "test", 64, seed=3)))


def test_dihedral_draws_all_eight_elements():
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  rng = np.random.default_rng(0)
  seen = {data.augment(x, ("dihedral",), rng).tobytes() for _ in range(200)}
  assert len(seen) == 8


def test_bad_symmetry_is_one_clear_error():
  with pytest.raises(data.DataError, match=r"data.symmetries=\('mirror',\): unknown \['mirror'\]"):
    next(data.batches(_cfg(name="digits", image_size=8, symmetries=("mirror",)), "train", 64, seed=3))
