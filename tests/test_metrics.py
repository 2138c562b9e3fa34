import numpy as np
import pytest

from lib import fields, metrics
import jax


@pytest.fixture(scope="module")
def fields_pair():
  spectrum = fields.target_spectrum(16)
  a = np.asarray(fields.sample_field(jax.random.key(0), spectrum, 512))
  b = np.asarray(fields.sample_field(jax.random.key(1), spectrum, 512))
  return a, b


def test_spectrum_error(fields_pair):
  a, b = fields_pair
  assert metrics.spectrum_error(a, a) == 0
  assert metrics.spectrum_error(2 * a, a) == pytest.approx(np.log(4), rel=1e-9)
  assert metrics.spectrum_error(a, b) < 0.1           # same law: sampling noise only


def test_radial_average_of_a_known_spectrum():
  k, p = metrics.radial_average(fields.target_spectrum(32))
  # 1/|omega|^2: shell powers fall like 1/|k|^2 (up to the rounding of |k| to shells)
  assert p[2] / p[8] == pytest.approx(16, rel=0.15)


def test_marginal_distance():
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal(20000), rng.standard_normal(20000)
  assert metrics.marginal_distance(x + 0.5, y) == pytest.approx(0.5, abs=0.03)
  assert metrics.marginal_distance(x, y) < 0.03


def test_laplacian_swd_separates_blurred_images(fields_pair):
  a, b = fields_pair
  assert [level.shape[1] for level in metrics.laplacian_pyramid(a)] == [16, 8]
  same = metrics.laplacian_swd(a, b, directions=32)
  blurred = metrics.laplacian_swd(a, metrics._blur(b), directions=32)   # fine details removed
  assert len(same) == 2
  assert same[0] < 0.25 * blurred[0], (same, blurred)


def test_ssim_equals_scikit_image():
  import jax.numpy as jnp
  from skimage.metrics import structural_similarity
  from lib.ssim import ssim
  rng = np.random.default_rng(0)
  a = rng.uniform(-1, 1, (3, 16, 20, 3))
  b = np.clip(a + 0.3 * rng.standard_normal(a.shape), -1, 1)
  ours = np.asarray(ssim(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), 2.0))
  reference = [structural_similarity(x, y, data_range=2.0, channel_axis=-1) for x, y in zip(a, b)]
  np.testing.assert_allclose(ours, reference, atol=1e-5)
  np.testing.assert_allclose(ssim(jnp.asarray(a), jnp.asarray(a), 2.0), 1.0, atol=1e-6)
