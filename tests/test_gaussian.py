import json
import jax
import ml_collections
import numpy as np
import pytest

from configs import default
from wsgm import gaussian, pyramid, sde, solvers
from wsgm.methods import gaussian_theorem


def _uniform(steps, T):
  return np.asarray(sde.time_grid("uniform", steps, T), np.float64)


def _scalar_em_variances(lam, T, steps):
  """An independent implementation, written here from the definitions: the reverse Euler-Maruyama recursion of
  one Fourier mode of variance lam under the exact Gaussian score. OU forward, sigma_t^2 = lam e^{-2t} +
  1 - e^{-2t}; on the uniform grid T = t_0 > ... > t_N = 0 with h = T / N, x <- x (1 + h - 2h / sigma_t^2) +
  sqrt(2h) z from x ~ N(0, 1), so the variance goes v <- (1 + h - 2h / sigma_t^2)^2 v + 2h."""
  t = np.linspace(T, 0, steps + 1)
  v = np.ones_like(lam)
  for k in range(steps):
    h = t[k] - t[k + 1]
    v = (1 + h - 2 * h / (lam * np.exp(-2 * t[k]) + 1 - np.exp(-2 * t[k]))) ** 2 * v + 2 * h
  return v


@pytest.mark.parametrize("size", [16, 32, 64])
def test_sgm_kl_and_spectral_error_match_the_scalar_recursion(size):
  """The closed form (gaussian.sgm_output, from the sampler's own step) against _scalar_em_variances: KL(true ||
  generated) per dimension = mean over modes of (lam / v - 1 + log(v / lam)) / 2 at T = 5, N = 64, and the max
  relative spectral error max |v / lam - 1| at N = 256, best integer T."""
  spectrum = gaussian.target_spectrum(size)
  lam = np.asarray(spectrum, np.float64).ravel()
  v = _scalar_em_variances(lam, 5.0, 64)
  kl = np.mean(0.5 * (lam / v - 1 + np.log(v / lam)))
  assert gaussian.sgm_output(spectrum, _uniform(64, 5.0)).kl_per_dim == pytest.approx(kl, rel=1e-9)
  best = min(gaussian.sgm_output(spectrum, _uniform(256, T)).max_relative_spectral_error for T in range(1, 9))
  assert best == pytest.approx(min(np.abs(_scalar_em_variances(lam, T, 256) / lam - 1).max() for T in range(1, 9)),
                               rel=1e-9)
  assert 0.01 < kl < 0.05 and 0.05 < best < 0.2   # the regime the table reports (the EM bias is not negligible)


def test_power_spectrum_convention():
  p = gaussian.target_spectrum(8)
  assert p.mean() == pytest.approx(1.0)
  assert p[0, 0] == p[0, 1] == p[1, 0] == p.max()
  assert p[0, 2] == pytest.approx(p[0, 1] / 4)


def _dense_kl(true_cov, samples):
  """KL(N(0, true_cov) || N(0, empirical covariance)) in nats, dense."""
  emp = np.cov(samples.reshape(samples.shape[0], -1), rowvar=False)
  d = true_cov.shape[0]
  solve = np.linalg.solve(emp, true_cov)
  return 0.5 * (np.trace(solve) - d - np.linalg.slogdet(solve)[1])


def _dense_cov(spectrum):
  """Pixel covariance C[n, m] = c(n - m) of the stationary field (tiny grids only)."""
  size = spectrum.shape[0]
  autocov = np.fft.ifft2(spectrum).real
  idx = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1).reshape(-1, 2)
  diff = (idx[:, None, :] - idx[None, :, :]) % size
  return autocov[diff[..., 0], diff[..., 1]]


N_MC = 200_000


def test_sgm_exact_kl_by_monte_carlo():
  size, steps, T = 4, 4, 3.0
  spectrum = gaussian.target_spectrum(size)
  times = sde.time_grid("uniform", steps, T)
  x0 = jax.random.normal(jax.random.key(0), (N_MC, size, size, 1))
  x = jax.jit(lambda k: solvers.euler_maruyama(gaussian.stationary_score_fn(spectrum), x0, times, k))(jax.random.key(1))
  mc = _dense_kl(_dense_cov(spectrum), np.asarray(x, np.float64))
  exact = gaussian.sgm_output(spectrum, np.asarray(times, np.float64)).kl_per_dim * size ** 2
  assert exact > 0.5                          # far from converged: the check is not trivially passed
  assert mc == pytest.approx(exact, rel=0.03)


def _exact_wsgm_sampler(spectrum, blocks, wavelet, times, n):
  coarse = blocks[-1]
  m = coarse.lowpass_spectrum.shape[0]
  return jax.jit(lambda k: pyramid.sample_coarse_to_fine(
      k, (n, m, m, 1), gaussian.stationary_score_fn(coarse.lowpass_spectrum / coarse.low_std ** 2),
      [gaussian.conditional_score_fn(b) for b in blocks], gaussian.exact_stats(blocks), wavelet,
      solvers.euler_maruyama, times).image)


@pytest.mark.parametrize("wavelet", ("haar", "db2"))
def test_wsgm_exact_kl_by_monte_carlo(wavelet):
  """Chain-rule KL of the whole coarse-to-fine pipeline vs the dense KL of its real samples (8x8, J=1)."""
  size, steps, T = 8, 4, 3.0
  spectrum = gaussian.target_spectrum(size)
  blocks = gaussian.wavelet_blocks(spectrum, wavelet, 1)
  times = sde.time_grid("uniform", steps, T)
  x = _exact_wsgm_sampler(spectrum, blocks, wavelet, times, N_MC)(jax.random.key(3))
  mc = _dense_kl(_dense_cov(spectrum), np.asarray(x, np.float64))
  exact = gaussian.wsgm_output(spectrum, blocks, np.asarray(times, np.float64)).kl_per_dim * size ** 2
  assert exact > 0.5
  assert mc == pytest.approx(exact, rel=0.03)


def test_blocks_agree_with_the_jax_transform():
  """Band order and normalization of the float64 blocks equal those of wavelets.dwt on sampled fields."""
  spectrum = gaussian.target_spectrum(16)
  blocks = gaussian.wavelet_blocks(spectrum, "db2", 2)
  fields = gaussian.sample_field(jax.random.key(0), spectrum, 4000)
  stats = pyramid.fit_stats(fields, "db2", 2)
  exact = gaussian.exact_stats(blocks)
  np.testing.assert_allclose(stats.detail_std, exact.detail_std, rtol=0.03)
  np.testing.assert_allclose(stats.low_std, exact.low_std, rtol=0.05)
  for b in blocks:   # the per-frequency transfer is unitary and the true spectrum survives the round trip
    np.testing.assert_allclose(b.transfer @ b.transfer.conj().swapaxes(-1, -2), np.broadcast_to(np.eye(4), b.transfer.shape), atol=1e-12)
  t = blocks[0].transfer
  np.testing.assert_allclose(gaussian._fine_diagonal(t.conj().swapaxes(-1, -2) @ blocks[0].channel_cov @ t), spectrum, rtol=1e-10)


@pytest.fixture(scope="module")
def small_config():
  c = default.get_config()
  c.experiment = "gaussian"
  c.sampling.time_grid = "uniform"
  c.gaussian.sizes = (16, 64)
  c.gaussian.steps = (8, 16, 32, 64, 128, 256, 512)
  c.gaussian.T_values = (2.0, 3.0, 5.0)
  c.gaussian.mc_samples = 4000
  return c


def test_monte_carlo_spectrum_matches_closed_form(small_config):
  result, _ = gaussian_theorem.monte_carlo_check(small_config, jax.random.key(0))
  for method in ("sgm", "wsgm"):
    assert result[method]["max_rel_dev_closed_form"] < 5 * result["standard_error"]
    assert result[method]["max_rel_dev_true"] > 0.5   # 16 steps are far from exact: closed form is not P


def test_scaling_claim(small_config):
  """The paper's claim, measured: SGM needs more steps as L grows, WSGM does not."""
  records = gaussian_theorem.exact_records(small_config)
  steps = lambda method, size: gaussian_theorem.steps_to_threshold(records, method, size, "max_relative_spectral_error", 0.1)
  assert steps("sgm", 64) > 2 * steps("sgm", 16)
  assert steps("wsgm", 64) < 1.3 * steps("wsgm", 16)
  assert steps("wsgm", 64) < steps("sgm", 16)


def test_steps_to_threshold_interpolates():
  records = [dict(method="sgm", L=8, steps=n, T=1.0, max_relative_spectral_error=v) for n, v in ((4, 0.4), (8, 0.1), (16, 0.01))]
  find = lambda thr: gaussian_theorem.steps_to_threshold(records, "sgm", 8, "max_relative_spectral_error", thr)
  assert find(0.1) == pytest.approx(8) and find(0.5) == 4 and find(0.001) is None
  assert find(0.2) == pytest.approx(4 * 2 ** 0.5)


def test_bad_sizes_and_sampler(small_config):
  bad = ml_collections.ConfigDict(small_config.to_dict())
  bad.gaussian.sizes = (24,)
  with pytest.raises(ValueError, match="gaussian.sizes entry 24"):
    gaussian_theorem.evaluate(bad, "/nonexistent")
  bad = ml_collections.ConfigDict(small_config.to_dict())
  bad.sampling.sampler = "ode_rk4"
  with pytest.raises(ValueError, match="unknown sampler 'ode_rk4'"):
    gaussian_theorem.evaluate(bad, "/nonexistent")
  bad = ml_collections.ConfigDict(small_config.to_dict())
  bad.gaussian.samplers = ("ddim:eta=2",)
  with pytest.raises(ValueError, match="sampling.eta=2.0"):
    gaussian_theorem.evaluate(bad, "/nonexistent")


def test_sampler_ranking_end_to_end(small_config, tmp_path):
  """The exact ranking on a small grid: DPM-Solver++(2M) reaches the spectral threshold in fewer steps than
  Euler-Maruyama for both methods (on this small grid 19 vs 34 for SGM); each Monte-Carlo run of a jitted sampler matches its closed form."""
  c = ml_collections.ConfigDict(small_config.to_dict())
  c.gaussian.sizes, c.gaussian.steps, c.gaussian.T_values = (16,), (8,), (3.0, 5.0)
  c.gaussian.samplers = ("euler_maruyama", "dpm_solver_pp_2m")
  c.gaussian.ranking_steps = (4, 16, 64)
  c.gaussian.time_grids, c.gaussian.t_min_values = ("quadratic", "logsnr"), (0.0, 1e-2)
  c.gaussian.mc_samples = 2000
  gaussian_theorem.evaluate(c, str(tmp_path))
  records = json.load(open(tmp_path / "eval" / "gaussian_samplers.json"))
  steps = lambda spec, method: gaussian_theorem.steps_to_threshold(records, method, 16, "max_relative_spectral_error", 0.1, spec)
  for method in ("sgm", "wsgm"):
    assert steps("dpm_solver_pp_2m", method) < steps("euler_maruyama", method)
  assert {r["max_relative_spectral_error_at"]["time_grid"] for r in records} <= {"quadratic", "logsnr"}
  for r in json.load(open(tmp_path / "eval" / "gaussian_samplers_mc.json")):
    for method in ("sgm", "wsgm"):
      assert r[method]["max_rel_dev_closed_form"] < 5 * r["standard_error"], r


def test_a_ranking_spec_fixes_the_grid_fields_it_names(small_config):
  """The ranking searches T, time grid and t_min, except those a sampler spec sets (its t_max is the T)."""
  combos = lambda spec: gaussian_theorem._grid_combos(small_config, solvers.parse_spec(spec))
  assert combos("dpm_solver_pp_2m_sde:time_grid=logsnr,t_min=0.001,t_max=3") == [(3.0, "logsnr", 0.001)]
  assert {T for T, _, _ in combos("dpm_solver_pp_2m_sde:time_grid=logsnr,t_min=0.001")} == {2.0, 3.0, 5.0}
