"""Datasets as NHWC float32 batches: embedded sets that need no download, and tfds CelebA via grain.

Embedded (offline) sets live in memory: `faces` (scikit-image lfw_subset, the 100 face crops), `textures`
(patches of scikit-image's grass / gravel / brick photos), `digits` (scikit-learn), `gaussian` (1/|omega|^2
fields, lib/fields.py), `phi4` (lattice phi^4 MCMC, lib/phi4.py). Images are scaled to [-1, 1]; fields keep
their physical values. Test splits
are disjoint from training ones: faces split by image (a mirror image never crosses the split), textures'
test patches tile the bottom fifth of each photo without overlap.
`celeb_a` / `celeb_a_hq/<size>` read a prepared tfds directory through `tfds.data_source` (no TensorFlow).
"""
from typing import Iterator

import grain.python as grain
import jax
import numpy as np

from lib import fields
from lib.errors import InputError

EMBEDDED = ("faces", "textures", "digits", "gaussian", "phi4")
TFDS = ("celeb_a", "celeb_a_hq")
TEXTURES = ("grass", "gravel", "brick")
# Sets whose images are 8-bit levels u scaled to [-1, 1] as 2 u / 255 - 1 (textures: raw crops, exactly on that
# grid; CelebA: 8-bit photos, resized): their likelihood is reported for uniformly dequantized data.
EIGHT_BIT = ("textures",) + TFDS


class DataError(InputError):
  """Unknown or unprepared dataset, or a bad data config value."""


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  """Antialiased resize of (N, H, W[, C]) images to size x size."""
  import skimage.transform  # deferred: slow import, only the embedded sets need it
  out = [skimage.transform.resize(im, (size, size), anti_aliasing=True, preserve_range=True) for im in images]
  return np.stack(out).astype(np.float32)


def _to_unit_range(images: np.ndarray, lo: float, hi: float) -> np.ndarray:
  images = (images.astype(np.float32) - lo) / (hi - lo) * 2 - 1
  return images[..., None] if images.ndim == 3 else images


FACES_HELDOUT = 40   # of the 100 faces: two disjoint halves of 20, a reference and a noise-floor set


def _faces(cfg, split):
  """Split by image: the last FACES_HELDOUT faces are held out, none of them nor their mirror images in
  training; the training faces are augmented with their mirror images (faces are left-right symmetric)."""
  import skimage.data
  faces = skimage.data.lfw_subset()[:100]       # the last 100 of lfw_subset are non-face patches
  cut = len(faces) - FACES_HELDOUT
  faces = _to_unit_range(_resize(faces[:cut] if split == "train" else faces[cut:], cfg.image_size), 0.0, 1.0)
  return np.concatenate([faces, faces[:, :, ::-1]]) if split == "train" else faces


def _textures(cfg, split):
  """Training: num_examples random (overlapping) patches from the top four fifths of each photo. Test: every
  non-overlapping patch tiling the bottom fifth (with 32 px patches of the 512 px photos, 3 x 16 per photo)."""
  import skimage.data
  names = TEXTURES if cfg.texture == "all" else (cfg.texture,)
  for name in names:
    if name not in TEXTURES:
      raise DataError(f"data.texture={cfg.texture!r}: choose from {TEXTURES} or 'all'")
  rng = np.random.default_rng(cfg.seed)
  size, patches = cfg.image_size, []
  for name in names:
    photo = getattr(skimage.data, name)().astype(np.float32)
    cut = photo.shape[0] * 4 // 5
    if split == "train":
      rows = photo[:cut]
      ys = rng.integers(0, rows.shape[0] - size + 1, cfg.num_examples // len(names))
      xs = rng.integers(0, rows.shape[1] - size + 1, cfg.num_examples // len(names))
    else:
      rows = photo[cut:]
      ys, xs = [a.ravel() for a in np.meshgrid(np.arange(0, rows.shape[0] - size + 1, size),
                                                np.arange(0, rows.shape[1] - size + 1, size), indexing="ij")]
    patches += [rows[y:y + size, x:x + size] for y, x in zip(ys, xs)]
  if not patches:
    raise DataError(f"data.image_size={size}: larger than the textures' held-out strip")
  return _to_unit_range(np.stack(patches), 0.0, 255.0)


def _digits(cfg, split):
  from sklearn.datasets import load_digits
  digits = load_digits().images
  cut = len(digits) * 9 // 10
  digits = digits[:cut] if split == "train" else digits[cut:]
  return _to_unit_range(_resize(digits, cfg.image_size), 0.0, 16.0)


def _gaussian(cfg, split):
  count = cfg.num_examples if split == "train" else max(cfg.num_examples // 8, 64)
  key = jax.random.key(cfg.seed + (0 if split == "train" else 1))
  return np.asarray(fields.sample_field(key, fields.target_spectrum(cfg.image_size), count))


def heldout_chains(chains: int, test_chains: int) -> int:
  """Chains of the phi4 held-out run: data.phi4.test_chains, or a quarter of the training chains when that is 0."""
  return test_chains or max(chains // 4, 1)


def phi4_params(cfg, split):
  """The MCMC run (lib/phi4.Phi4) of a phi4 split: the test split is an independent run (other seed,
  data.phi4.test_chains chains, or a quarter of the training chains when that is 0)."""
  from lib import phi4
  c = cfg.phi4
  test_chains = c.test_chains
  if test_chains < 0:
    raise DataError(f"data.phi4.test_chains={test_chains}: need a number of chains >= 1, or 0 for a quarter of "
                    f"data.phi4.chains")
  chains = c.chains if split == "train" else heldout_chains(c.chains, test_chains)
  return phi4.Phi4(size=cfg.image_size, beta=c.beta, lam=c.lam, samples_per_chain=c.samples_per_chain,
                   chains=chains, burn_in=c.burn_in,
                   pilot=c.pilot, seed=cfg.seed + (0 if split == "train" else 1))


def _phi4(cfg, split):
  """MCMC fields at data.phi4.beta, made once and cached under data.phi4.cache_dir."""
  from lib import phi4
  return phi4.load_or_generate(phi4_params(cfg, split), cfg.phi4.cache_dir)


_LOADERS = {"faces": _faces, "textures": _textures, "digits": _digits, "gaussian": _gaussian, "phi4": _phi4}


def _check(cfg, split):
  if split not in ("train", "test"):
    raise DataError(f"split={split!r}: use 'train' or 'test'")
  if cfg.name not in EMBEDDED + TFDS:
    raise DataError(f"unknown dataset data.name={cfg.name!r}: choose from {EMBEDDED + TFDS}")
  if cfg.image_size < 4 or cfg.image_size % 2:   # the pyramid checks divisibility by 2^J itself
    raise DataError(f"data.image_size={cfg.image_size}: use an even size >= 4")


def channels(cfg) -> int:
  """Colour channels of a dataset's images."""
  return 3 if cfg.name in TFDS and not cfg.grayscale else 1


def load_array(cfg, split: str) -> np.ndarray:
  """A whole embedded split in memory, (N, S, S, C) float32."""
  _check(cfg, split)
  if cfg.name not in EMBEDDED:
    raise DataError(f"data.name={cfg.name!r} is streamed, not held in memory; use batches()")
  return _LOADERS[cfg.name](cfg, split)


# Symmetries of a data law that training may apply (data.symmetries): each training image is replaced by its
# image under a random element of the group they generate, a fresh one per image and step. Exact for a law
# that is invariant under them, e.g. phi^4 on a periodic lattice (translations, the square's rotations and
# reflections, phi -> -phi); "hflip" alone is the usual mirror augmentation of faces.
SYMMETRIES = ("shift", "dihedral", "hflip", "negate")


def check_symmetries(symmetries) -> tuple:
  symmetries = tuple(symmetries)
  unknown = [s for s in symmetries if s not in SYMMETRIES]
  if unknown:
    raise DataError(f"data.symmetries={symmetries}: unknown {unknown}; choose from {SYMMETRIES} (shift: periodic "
                    "translations, dihedral: the 8 rotations and reflections of the square, hflip: left-right "
                    "mirror, negate: x -> -x)")
  return symmetries


def augment(images: np.ndarray, symmetries, rng: np.random.Generator) -> np.ndarray:
  """Each (H, W, C) image of a batch mapped by its own random element of the group `symmetries` generate:
  a rotation by a multiple of 90 degrees and a transpose (dihedral), a left-right mirror (hflip), a periodic
  translation by any (dy, dx) (shift), a sign (negate)."""
  if not symmetries:
    return images
  n, h, w, _ = images.shape
  if "dihedral" in symmetries and h != w:
    raise DataError(f"data.symmetries 'dihedral' needs square images, not {h}x{w}")
  out = []
  for x in images:
    if "dihedral" in symmetries:
      x = np.rot90(x, rng.integers(4), axes=(0, 1))
      x = np.swapaxes(x, 0, 1) if rng.integers(2) else x
    if "hflip" in symmetries and rng.integers(2):
      x = x[:, ::-1]
    if "shift" in symmetries:
      x = np.roll(x, (rng.integers(h), rng.integers(w)), axis=(0, 1))
    if "negate" in symmetries and rng.integers(2):
      x = -x
    out.append(x)
  return np.stack(out).astype(images.dtype, copy=False)


def _array_batches(images, batch_size, seed, start_step, shard, num_shards) -> Iterator[np.ndarray]:
  """Endless epochs, each a fresh permutation drawn from (seed, epoch): the same order on every run, and
  starting at batch `start_step` continues that order exactly."""
  if len(images) < batch_size:
    raise DataError(f"batch size {batch_size} is larger than the dataset ({len(images)} examples)")
  local = batch_size // num_shards
  per_epoch = len(images) // batch_size
  epoch, index = divmod(start_step, per_epoch)
  while True:
    order = np.random.default_rng([seed, epoch]).permutation(len(images))
    for start in range(index * batch_size, per_epoch * batch_size, batch_size):
      yield images[order[start + shard * local: start + (shard + 1) * local]]
    epoch, index = epoch + 1, 0


class _CelebAPreprocess(grain.MapTransform):
  """Center crop to a square of side `crop` (CelebA's face region), resize, optionally to gray (ITU-R 601
  luma, as the LCM paper's gray CelebA), scale to [-1, 1]."""

  def __init__(self, crop: int, size: int, grayscale: bool):
    self.crop, self.size, self.grayscale = crop, size, grayscale

  def map(self, example):
    from PIL import Image
    image = example["image"]
    h, w = image.shape[:2]
    side = min(self.crop or min(h, w), h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = Image.fromarray(image[top:top + side, left:left + side])
    image = np.asarray(image.resize((self.size, self.size), Image.BICUBIC), np.float32)
    if self.grayscale:
      image = image @ np.array([[0.299], [0.587], [0.114]], np.float32)
    return image / 127.5 - 1.0


def _tfds_source(cfg, split):
  import tensorflow_datasets as tfds
  name = cfg.name if cfg.name != "celeb_a_hq" else f"celeb_a_hq/{cfg.hq_resolution}"
  try:
    return tfds.data_source(name, split=split, data_dir=cfg.data_dir or None, download=False)
  except Exception as e:   # tfds raises several types for a missing or unbuilt dataset
    raise DataError(
        f"dataset {name!r} is not prepared in data_dir={cfg.data_dir or '~/tensorflow_datasets'} ({type(e).__name__}); "
        f"prepare it once with `tfds build {name} --data_dir=DIR` (CelebA-HQ needs its manual download, see "
        "the tfds catalog) and pass --config.data.data_dir=DIR") from e


def _tfds_batches(cfg, split, batch_size, seed) -> Iterator[np.ndarray]:
  source = _tfds_source(cfg, split)
  sampler = grain.IndexSampler(num_records=len(source), shuffle=True, seed=seed, num_epochs=None,
                               shard_options=grain.ShardByJaxProcess(drop_remainder=True))
  loader = grain.DataLoader(
      data_source=source, sampler=sampler, worker_count=cfg.workers,
      operations=[_CelebAPreprocess(cfg.crop, cfg.image_size, cfg.grayscale),
                  grain.Batch(batch_size // jax.process_count(), drop_remainder=True)])
  return iter(loader)


def batches(cfg, split: str, batch_size: int, seed: int, start_step: int = 0) -> Iterator[np.ndarray]:
  """Endless deterministic batches for this process: its contiguous 1/process_count share of each global
  batch of `batch_size` examples (see lib/parallel.py for assembling the global array). A resumed run
  passes its step: embedded sets continue the same order; tfds sets draw a new shuffle for that step. The
  training split's images go through data.symmetries (`augment`), drawn from the step: a resumed run draws
  the same ones."""
  _check(cfg, split)
  symmetries = check_symmetries(cfg.symmetries) if split == "train" else ()
  shard = jax.process_index()
  stream = (_tfds_batches(cfg, split, batch_size, seed + start_step) if cfg.name in TFDS else
            _array_batches(load_array(cfg, split), batch_size, seed, start_step, shard, jax.process_count()))
  if not symmetries:
    return stream
  # each step's draws from (seed, step, process): a resumed run draws the same ones
  return (augment(b, symmetries, np.random.default_rng([seed, start_step + i, shard, 1])) for i, b in enumerate(stream))
