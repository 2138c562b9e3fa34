import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt

from wsgm import pyramid, wavelets

WAVELETS = ("haar", "db2", "db4")


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(0).standard_normal((2, 16, 16, 2)).astype(np.float32)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels", (1, 2, 3))
def test_matches_pywavelets_periodization(images, wavelet, levels):
  pyr = wavelets.decompose(jnp.asarray(images), wavelet, levels)
  ref = pywt.wavedec2(images.astype(np.float64), wavelet, mode="periodization", level=levels, axes=(1, 2))
  np.testing.assert_allclose(pyr.lowpass, ref[0], atol=2e-6)
  assert pyr.lowpass.shape == (2, 16 >> levels, 16 >> levels, 2)
  for j in range(1, levels + 1):
    bands = ref[-j]   # (cH, cV, cD) of scale j, packed band-major on channels
    np.testing.assert_allclose(pyr.details[j - 1], np.concatenate(bands, axis=-1), atol=2e-6)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels", (1, 2, 3))
def test_perfect_reconstruction_and_parseval(images, wavelet, levels):
  x = jnp.asarray(images)
  pyr = wavelets.decompose(x, wavelet, levels)
  np.testing.assert_allclose(wavelets.reconstruct(pyr, wavelet), images, atol=1e-5)
  energy = jnp.sum(pyr.lowpass ** 2) + sum(jnp.sum(d ** 2) for d in pyr.details)
  np.testing.assert_allclose(energy, np.sum(images.astype(np.float64) ** 2), rtol=1e-5)


def test_jit_and_grad(images):
  x = jnp.asarray(images)
  decompose = jax.jit(wavelets.decompose, static_argnums=(1, 2))
  np.testing.assert_allclose(decompose(x, "db2", 2).lowpass, wavelets.decompose(x, "db2", 2).lowpass, atol=1e-6)
  # Orthonormal => ||W x||^2 = ||x||^2, whose gradient is 2x.
  energy = lambda x: sum(jnp.sum(a ** 2) for a in jax.tree.leaves(wavelets.decompose(x, "db4", 2)))
  np.testing.assert_allclose(jax.grad(energy)(x), 2 * images, atol=1e-4)


def test_lowpasses_match_decomposition(images):
  x = jnp.asarray(images)
  lows = wavelets.lowpasses(x, "haar", 3)
  assert [a.shape[1] for a in lows] == [8, 4, 2]
  np.testing.assert_allclose(lows[-1], wavelets.decompose(x, "haar", 3).lowpass, atol=1e-6)


def test_normalization_round_trip_and_saving(images, tmp_path):
  x = jnp.asarray(images * 3.0 + 1.0)
  stats = pyramid.fit_stats(x, "db2", 2)
  assert stats.low_std.shape == (2, 2) and stats.detail_std.shape == (2, 6)
  pyr = wavelets.decompose(x, "db2", 2)
  for j in (1, 2):
    d = stats.details(pyr.details[j - 1], j)
    np.testing.assert_allclose(jnp.mean(d, (0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(d, (0, 1, 2)), 1, atol=1e-4)
    np.testing.assert_allclose(stats.details(d, j, inverse=True), pyr.details[j - 1], atol=1e-5)
  low = stats.lowpass(pyr.lowpass, 2)
  np.testing.assert_allclose(stats.lowpass(low, 2, inverse=True), pyr.lowpass, atol=1e-5)
  path = str(tmp_path / "stats.npz")
  pyramid.save_stats(path, stats)
  loaded = pyramid.load_stats(path)
  for a, b in zip(stats, loaded):
    np.testing.assert_array_equal(a, b)


def test_refine_stops_at_last_with_the_same_draws(images):
  """refine(last=j) is the first j - last + 1 steps of the full refine: the same keys, the same x_{last-1}."""
  x = jnp.asarray(images)
  stats = pyramid.fit_stats(x, "haar", 3)
  draw = lambda j, key, cond: (jax.random.normal(key, cond.shape[:-1] + (3 * cond.shape[-1],)), j)
  low = wavelets.decompose(x, "haar", 3).lowpass
  full = pyramid.refine(jax.random.key(0), low, 3, draw, stats, "haar")
  assert full.image.shape == x.shape and full.reports == (3, 2, 1)
  for last in (3, 2):
    part = pyramid.refine(jax.random.key(0), low, 3, draw, stats, "haar", last=last)
    nxt = full.lowpasses[4 - last] if last > 1 else full.image
    np.testing.assert_array_equal(part.image, nxt)
    assert part.reports == full.reports[:4 - last]
  with pytest.raises(ValueError, match="last=4"):
    pyramid.refine(jax.random.key(0), low, 3, draw, stats, "haar", last=4)


@pytest.mark.parametrize("call, message", [
    (lambda x: wavelets.decompose(x, "haar", 5), "not divisible by 2^J = 32"),
    (lambda x: wavelets.decompose(x[:, :12], "haar", 3), "image size 12"),
    (lambda x: wavelets.decompose(x, "haar", 0), "J=0"),
    (lambda x: wavelets.decompose(x, "morlet7", 1), "unknown wavelet 'morlet7'"),
    (lambda x: wavelets.decompose(x, "bior2.2", 1), "'bior2.2' is not orthogonal"),
    (lambda x: wavelets.idwt(x[:, :8, :8], x[:, :8, :8], "haar"), "need 3C channels"),
    (lambda x: pyramid.fit_stats(jnp.ones_like(x), "haar", 1), "constant"),
])
def test_bad_input_names_the_value(images, call, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("^", r"\^")):
    call(jnp.asarray(images))
