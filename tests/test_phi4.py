import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import metrics, phi4


@pytest.mark.parametrize("cluster", [False, True])
def test_mcmc_leaves_the_gaussian_limit_invariant(cluster):
  """lam = 0: S = phi^T Q phi / 2 with Q = 2 - beta (adjacency), diagonal in Fourier with eigenvalue
  2 - 2 beta (cos k1 + cos k2). The sampled spectrum must be 1 / that, mode by mode, with Metropolis
  alone and with the Swendsen-Wang sign updates (valid for any even single-site potential)."""
  size, beta = 8, 0.2
  run = phi4._make_run(beta, 0.0, 1.5, 2, cluster)
  phi, _ = run(jax.random.key(0), jnp.zeros((512, size, size)), 200)
  samples = []
  for i in range(40):
    phi, _ = run(jax.random.key(i + 1), phi, 4)
    samples.append(np.asarray(phi))
  fields = np.concatenate(samples)
  empirical = (np.abs(np.fft.fft2(fields, norm="ortho")) ** 2).mean(0)
  k = 2 * np.pi * np.fft.fftfreq(size)
  exact = 1 / (2 - 2 * beta * (np.cos(k)[:, None] + np.cos(k)[None, :]))
  assert np.abs(empirical / exact - 1).max() < 0.06
  assert exact.max() / exact.min() > 1.7          # modes differ by far more than the 6% tolerance


def _union_find_labels(right, down):
  """Independent reference: smallest site index per cluster, by union-find in Python (periodic lattice)."""
  size = right.shape[0]
  parent = list(range(size * size))

  def find(i):
    while parent[i] != i:
      i = parent[i]
    return i

  for y in range(size):
    for x in range(size):
      for bond, other in ((right[y, x], y * size + (x + 1) % size), (down[y, x], ((y + 1) % size) * size + x)):
        if bond:
          a, b = find(y * size + x), find(other)
          parent[max(a, b)] = min(a, b)
  return np.array([find(i) for i in range(size * size)]).reshape(size, size)


@pytest.mark.parametrize("density", [0.3, 0.5, 0.7])
def test_cluster_labels_equal_union_find(density):
  rng = np.random.default_rng(int(density * 10))
  right, down = rng.random((2, 3, 12, 12)) < density
  labels = np.asarray(phi4.cluster_labels(jnp.asarray(right), jnp.asarray(down)))
  for c in range(3):
    np.testing.assert_array_equal(labels[c], _union_find_labels(right[c], down[c]))


def test_observables_on_known_fields():
  ordered = np.concatenate([np.ones((50, 4, 4, 1)), -np.ones((50, 4, 4, 1))])
  obs = phi4.observables(ordered, beta=0.3, lam=1.0)
  assert obs["binder_u4"][0] == pytest.approx(2 / 3)
  assert obs["abs_magnetization"][0] == pytest.approx(1.0)
  assert obs["susceptibility"][0] == pytest.approx(0.0, abs=1e-12)
  assert obs["action_density"][0] == pytest.approx(1 - 2 * 0.3)   # per site: -2 beta + 1 + 0
  gaussian_m = np.random.default_rng(0).standard_normal(20000)
  value, error = metrics.bootstrap(metrics.binder_cumulant, gaussian_m)
  assert abs(value) < 4 * error and 0 < error < 0.02


def test_action_terms_make_the_action_density():
  """S / V = -beta hopping + phi2 + lam quartic, field by field, against lib/phi4.action; a checkerboard of
  +-2 has hopping -8, phi2 4 and quartic 9, so S = 16 (8 beta + 4 + 9 lam) on its 16 sites."""
  fields = np.random.default_rng(0).normal(size=(6, 8, 8, 1))
  t = phi4.action_terms(fields)
  s = np.asarray(phi4.action(jnp.asarray(fields[..., 0], jnp.float32), 0.68, 1.3)) / 64
  np.testing.assert_allclose(-0.68 * t["hopping"] + t["phi2"] + 1.3 * t["quartic"], s, rtol=1e-5)
  board = 2.0 * (-1.0) ** np.add.outer(np.arange(4), np.arange(4))[None, ..., None]
  assert {k: float(v[0]) for k, v in phi4.action_terms(board).items()} == {"hopping": -8.0, "phi2": 4.0, "quartic": 9.0}
  assert float(phi4.action(jnp.asarray(board[..., 0]), 0.68, 1.3)[0]) == pytest.approx(16 * (0.68 * 8 + 4 + 1.3 * 9))


def test_action_term_differences_paired_and_not():
  """Fields scaled by 1.1 against themselves: phi2 and hopping 21% up exactly; paired, the se is that of the
  per-field differences (0 for identical sets), unpaired that of the two means."""
  fields = np.random.default_rng(1).normal(size=(50, 8, 8, 1))
  d = phi4.action_term_differences(1.1 * fields, fields, 0.68, 1.0, paired=True)
  assert d["phi2"]["relative"] == pytest.approx(0.21) and d["hopping"]["relative"] == pytest.approx(0.21)
  assert all(phi4.action_term_differences(fields, fields, 0.68, 1.0, paired=True)[k]["se"] == 0 for k in d)
  unpaired = phi4.action_term_differences(1.1 * fields, fields, 0.68, 1.0)
  se = lambda x: np.std(x, ddof=1) / np.sqrt(len(x))
  phi2 = phi4.action_terms(fields)["phi2"]
  assert unpaired["phi2"]["se"] == pytest.approx(np.hypot(se(1.21 * phi2), se(phi2)))
  assert unpaired["phi2"]["difference"] == pytest.approx(d["phi2"]["difference"])


def test_integrated_autocorrelation_of_ar1():
  rho, n, chains = 0.8, 20000, 8
  rng = np.random.default_rng(0)
  x = np.zeros((n, chains))
  for t in range(1, n):
    x[t] = rho * x[t - 1] + rng.standard_normal(chains)
  assert phi4.integrated_autocorrelation(x) == pytest.approx((1 + rho) / (2 * (1 - rho)), rel=0.1)
  assert phi4.integrated_autocorrelation(rng.standard_normal((n, chains))) == pytest.approx(0.5, abs=0.05)


TINY = phi4.Phi4(size=4, beta=0.3, chains=4, samples_per_chain=3, burn_in=100, pilot=200)


def test_cache_is_keyed_by_parameters(tmp_path):
  fields = phi4.load_or_generate(TINY, str(tmp_path))
  assert fields.shape == (12, 4, 4, 1)
  path = tmp_path / (TINY.key() + ".npz")
  mtime = os.path.getmtime(path)
  np.testing.assert_array_equal(phi4.load_or_generate(TINY, str(tmp_path)), fields)
  assert os.path.getmtime(path) == mtime                             # read back, not regenerated
  other = dataclasses.replace(TINY, beta=0.31)
  assert other.key() != TINY.key() and dataclasses.replace(TINY, seed=1).key() != TINY.key()
  os.rename(path, tmp_path / (other.key() + ".npz"))                  # a file that lies about its key
  with pytest.raises(ValueError, match="holds parameters"):
    phi4.load_or_generate(other, str(tmp_path))


def test_too_short_pilot_is_refused():
  with pytest.raises(ValueError, match="autocorrelation time"):
    phi4.generate(dataclasses.replace(TINY, size=8, beta=0.68, burn_in=10, pilot=20))


def test_phi4_config_trains_samples_and_evaluates_end_to_end(tmp_path):
  """configs/phi4_wsgm.py shrunk to 8x8 (tiny model, tiny MCMC away from criticality) through main.py."""
  import json
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  shrink = ["--config.data.image_size=8", "--config.pyramid.levels=1", "--config.model.base_channels=8",
            "--config.model.channel_mult=(1,)", "--config.model.norm_groups=4", "--config.train.steps=4",
            "--config.train.batch_size=8", "--config.train.checkpoint_every=4", "--config.data.stats_examples=32",
            "--config.data.phi4.beta=0.3", "--config.data.phi4.chains=16", "--config.data.phi4.samples_per_chain=4",
            "--config.data.phi4.burn_in=100", "--config.data.phi4.pilot=200",
            f"--config.data.phi4.cache_dir={tmp_path / 'cache'}", "--config.sampling.batch_size=8",
            "--config.sampling.num_samples=8", "--config.sampling.steps=4", "--config.eval.num_samples=8",
            "--config.eval.swd_directions=16", "--config.eval.bootstrap=10", "--config.eval.swd_patches=256", "--config.eval.steps_sweep=(4,2)", f"--workdir={tmp_path / 'run'}",
            "--config.eval.samplers=('euler_maruyama','dpm_solver_pp_2m:time_grid=logsnr,t_min=0.01')",
            "--config.sampling.per_scale=()"]   # each row's sampler at every scale (the config's own: test_phi4_sizes.py)
  for mode in ("train", "sample", "eval"):
    # Samplers without progress callbacks (tested in test_sampling.py): their compilations come from the
    # persistent cache.
    result = subprocess.run([sys.executable, "main.py", "--config=configs/phi4_wsgm.py", f"--mode={mode}", *shrink,
                             "--config.sampling.progress=False"], cwd=root, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
  report = json.load(open(tmp_path / "run" / "eval" / "phi4.json"))
  specs = ["euler_maruyama", "dpm_solver_pp_2m:time_grid=logsnr,t_min=0.01"]
  assert [(row["sampler"], row["steps"]) for row in report["rows"]] == [(s, n) for s in specs for n in (2, 4)]
  assert set(report["steps_to_quality"]) == set(specs)
  metrics = ("log_spectrum_error", "pixel_histogram_w1", "phi4/binder_u4_error", "phi4/susceptibility_error")
  assert all(set(reached) == {*metrics, "all"} for reached in report["steps_to_quality"].values())
  assert report["num_reference"] == 8 and "8 floor images of 16" in report["heldout"]
  assert all(row["metrics"][k]["floor"] is not None for row in report["rows"] for k in metrics)
  assert [row["network_evaluations_per_scale"] for row in report["rows"]] == [2, 4, 3, 5]   # + the Tweedie step
  observables = {"abs_magnetization", "binder_u4", "susceptibility", "action_density"}
  assert set(report["rows"][0]["phi4"]) == observables and set(report["data_phi4"]) == observables
  assert all(os.path.exists(tmp_path / "run" / "eval" / f) for f in ("quality.png", "fields.png"))
  assert len(os.listdir(tmp_path / "cache")) == 2          # train and test MCMC runs, cached
