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


def test_log_spectrum_error(fields_pair):
  a, b = fields_pair
  assert metrics.log_spectrum_error(a, a) == 0
  assert metrics.log_spectrum_error(2 * a, a) == pytest.approx(np.log(4), rel=1e-9)
  assert metrics.log_spectrum_error(a, b) < 0.1           # same law: sampling noise only


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


@pytest.fixture(scope="module")
def gaussian_eval():
  """The evaluation on Gaussian fields: 32 reference and 32 floor fields held out, scored with few resamples."""
  from configs import default
  from wsgm import evaluation
  c = default.get_config()
  c.data.name, c.data.image_size, c.data.num_examples = "gaussian", 16, 512
  c.eval.num_samples, c.eval.bootstrap, c.eval.swd_draws, c.eval.swd_patches = 32, 30, 2, 256
  held = evaluation.heldout(c)
  return c, evaluation.prepare(c, held)


def test_noise_floor_is_positive_and_same_law_samples_sit_within_it(gaussian_eval):
  from wsgm import evaluation
  c, ref = gaussian_eval
  assert len(ref.heldout.reference) == len(ref.heldout.floor_set) == 32
  assert not np.any([np.array_equal(a, b) for a in ref.heldout.reference for b in ref.heldout.floor_set])
  spectrum = fields.target_spectrum(16)
  same_law = np.asarray(fields.sample_field(jax.random.key(7), spectrum, 32))   # fresh draws of the data's law
  records = evaluation.score(same_law, ref, c)
  for name in ("log_spectrum_error", "pixel_histogram_w1", "swd/level_0"):
    floor, se = ref.floor[name]
    assert floor > 0 and se > 0, (name, floor, se)          # ~0 only in expectation: 32 vs 32 fields differ
    assert records[name]["within"], (name, records[name])
  assert records["swd/level_0"]["draw_spread"] > 0


def test_a_shifted_distribution_is_flagged_outside_the_floor(gaussian_eval):
  from wsgm import evaluation
  c, ref = gaussian_eval
  shifted = 1.5 * np.asarray(fields.sample_field(jax.random.key(8), fields.target_spectrum(16), 32))
  records = evaluation.score(shifted, ref, c)
  assert records["log_spectrum_error"]["within"] is False and records["pixel_histogram_w1"]["within"] is False
  # 1.5x the field: 2.25x the power at every shell, log 2.25 = 0.81 up to sampling noise
  assert records["log_spectrum_error"]["value"] == pytest.approx(np.log(2.25), abs=0.15)


def test_no_floor_when_the_heldout_set_is_too_small(gaussian_eval):
  from wsgm import evaluation
  c, _ = gaussian_eval
  held = evaluation.heldout(c, num=40)                   # 64 held out: not two sets of 40
  assert held.floor_set is None and "no noise floor" in held.note and "64 images" in held.note
  records = evaluation.score(held.reference, evaluation.prepare(c, held), c)
  r = records["log_spectrum_error"]                      # the reference against itself: 0, and nothing to judge by
  assert r["value"] == 0 and r["floor"] is None and r["within"] is None


def test_steps_to_quality_is_the_smallest_qualifying_n_per_metric():
  from wsgm import evaluation
  def row(n, a, b):
    return dict(steps=n, metrics={"a": metrics.record(a, 0.01, 0.1, 0.01), "b": metrics.record(b, 0.01, 0.1, 0.01)})
  rows = [row(64, 0.1, 0.1), row(8, 0.5, 0.1), row(32, 0.1, 0.5), row(16, 0.12, 0.5), row(4, 0.9, 0.9)]
  assert evaluation.steps_to_quality(rows, ("a", "b")) == {"a": 16, "b": 8, "all": 64}
  assert evaluation.steps_to_quality(rows[1:], ("a", "b"))["all"] is None
  # within: value <= floor + 2 sqrt(se^2 + floor_se^2) = 0.1 + 0.0283
  assert metrics.record(0.128, 0.01, 0.1, 0.01)["within"] and not metrics.record(0.129, 0.01, 0.1, 0.01)["within"]


def test_fast_quantiles_equal_numpy():
  x = np.random.default_rng(0).standard_normal(1001)
  q = metrics.quantile_grid(x.size)
  np.testing.assert_allclose(metrics.quantiles(x, q), np.quantile(x, q), rtol=0, atol=1e-12)


def test_shell_log_ratios_exact_and_paired():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(64, 16, 16, 1))
  same = metrics.shell_log_ratios(a, a, True, 20)
  assert same["error"] == 0 and same["error_se"] == 0 and not np.any(same["log_ratio_se"])
  double = metrics.shell_log_ratios(2 * a, a, True, 20)   # 4x the power in every shell, whatever the draw
  np.testing.assert_allclose(double["log_ratio"], np.log(4), rtol=1e-12)
  np.testing.assert_allclose(double["log_ratio_se"], 0, atol=1e-12)
  assert len(double["log_ratio"]) == 8                          # shells |k| = 1 .. 8 of a 16 x 16 grid
  # Unpaired, two draws of white noise: no bias, only noise, and the bootstrap sees that noise.
  b = rng.normal(size=a.shape)
  other = metrics.shell_log_ratios(a, b, False, 200)
  assert other["error"] < 4 * other["error_se"] + 0.05 and min(other["log_ratio_se"]) > 0
  # Unpaired resamples the generated set only, as the eval's records do: its se is metrics.bootstrap's.
  _, se = metrics.bootstrap(lambda p: metrics.log_spectrum_distance(p.mean(0), metrics.radial_power(b).mean(0)),
                            metrics.radial_power(a), 200, 0)
  np.testing.assert_allclose(other["error_se"], se, rtol=1e-12)


def test_bootstrap_vector_statistic_elementwise():
  x = np.random.default_rng(1).normal(size=(50, 3))
  value, se = metrics.bootstrap(lambda v: v.mean(0), x, 100, 3)
  for c in range(3):
    v, s = metrics.bootstrap(lambda v: v[:, c].mean(), x, 100, 3)
    assert abs(value[c] - v) < 1e-12 and abs(se[c] - s) < 1e-12


@pytest.mark.parametrize("samplers, expected", [
    ((), [("dpm_solver_pp_2m_sde", "logsnr", 1e-3)] * 2),   # none named: config.sampling as it is
    (("euler_maruyama",), [("euler_maruyama", "quadratic", 0.0)] * 2),   # a spec: its fields, the rest defaults
])
def test_sweep_runs_the_configs_own_sampler_when_none_is_named(gaussian_eval, monkeypatch, tmp_path, samplers,
                                                               expected):
  """eval.samplers empty: every N runs config.sampling unchanged (its grid and t_min too), not the project's
  defaults for its sampler's name."""
  from wsgm import evaluation, sampling
  c, ref = gaussian_eval
  c = c.copy_and_resolve_references()
  c.sampling.sampler, c.sampling.time_grid, c.sampling.t_min = "dpm_solver_pp_2m_sde", "logsnr", 1e-3
  c.eval.steps_sweep, c.eval.samplers, c.eval.quality_metrics = (2, 4), samplers, ("log_spectrum_error",)
  seen = []

  def generate(run, workdir, num, key, channels, method):
    seen.append((run.sampling.sampler, run.sampling.time_grid, run.sampling.t_min))
    return ref.heldout.floor_set, None, 0.0
  monkeypatch.setattr(sampling, "generate", generate)
  first = evaluation.sweep(c, str(tmp_path), None, ref)
  assert seen == expected
  # Each row records the sampling settings it ran with, e.g. the grid's start (0: sde.T).
  ran = [r["sampling"] for r in first["rows"]]
  assert [(s["sampler"], s["time_grid"], s["t_min"]) for s in ran] == expected
  assert [(r["steps"], s["steps"], s["t_max"]) for r, s in zip(first["rows"], ran)] == [(2, 2, 0.0), (4, 4, 0.0)]
  # A second sweep: quality.png is the newest, each run's figures are kept beside its numbered JSON.
  evaluation.sweep(c, str(tmp_path), None, ref)
  eval_dir = tmp_path / "eval"
  for k in (0, 1):
    assert (eval_dir / f"{c.name}_steps_{k}.json").exists() and (eval_dir / f"{c.name}_steps_{k}_quality.png").exists()
  assert (eval_dir / "quality.png").read_bytes() == (eval_dir / f"{c.name}_steps_1_quality.png").read_bytes()
