"""phi^4 across lattice sizes: the size-derived pyramid and bench/phi4_sizes.py's per-size path."""
import json
import os
import subprocess
import sys

import pytest

from configs import phi4_sgm, phi4_wsgm
from lib.errors import InputError
from tests.overrides import override

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import phi4_sizes  # noqa: E402


@pytest.mark.parametrize("size, levels, sgm_mult", [(16, 1, (1, 2)), (32, 2, (1, 2, 2)), (64, 3, (1, 2, 2, 2)),
                                                    (128, 4, (1, 2, 2, 2, 2))])
def test_size_picks_the_pyramid_with_an_8x8_coarsest_grid(size, levels, sgm_mult):
  wsgm, sgm = phi4_wsgm.get_config(str(size)), phi4_sgm.get_config(str(size))
  assert (wsgm.data.image_size, wsgm.pyramid.levels) == (size, levels) and size >> levels == 8
  assert (sgm.data.image_size, sgm.pyramid.levels, tuple(sgm.model.channel_mult)) == (size, 0, sgm_mult)
  assert phi4_wsgm.get_config().data.image_size == 32   # no argument: the L = 32 default
  # The size as a field: J follows data.image_size unless pyramid.levels is set itself.
  by_field = phi4_wsgm.get_config()
  by_field.data.image_size = size
  assert by_field.pyramid.levels == levels
  assert json.loads(by_field.to_json_best_effort())["pyramid"]["levels"] == levels
  by_field.pyramid.levels = 1
  assert by_field.pyramid.levels == 1 and by_field.data.image_size == size


def test_eval_splits_the_heldout_fields_in_half_whatever_the_data():
  """eval.num_samples follows the phi^4 data: half of the held-out run's fields are the reference, the other half
  the noise floor, so pinning the earlier 2048-field data keeps a floor; set itself, it wins. SGM samples from
  sde.T, WSGM from t = 3."""
  config = phi4_wsgm.get_config()
  assert (config.data.phi4.chains, config.eval.num_samples, config.sampling.t_max) == (512, 1024, 3.0)
  assert override(config, **{"data.phi4.chains": 128}).eval.num_samples == 256          # 32 x 16 held out
  assert override(config, **{"data.phi4.test_chains": 64}).eval.num_samples == 512
  assert override(config, **{"data.phi4.chains": 4}).eval.num_samples == 8               # at least one chain
  assert override(config, **{"eval.num_samples": 64, "data.phi4.chains": 128}).eval.num_samples == 64
  assert json.loads(override(config, **{"data.phi4.chains": 128}).to_json_best_effort())["eval"]["num_samples"] == 256
  assert (phi4_sgm.get_config().sampling.t_max, phi4_sgm.get_config().eval.num_samples) == (0.0, 1024)


@pytest.mark.parametrize("size", [16, 32, 128])
def test_wsgm_samples_the_coarse_model_with_3m_and_the_details_with_2m(size):
  """WSGM's coarse low-pass by SDE-DPM-Solver++(3M) to t_min = 1e-3, every detail scale by the 2M solver to
  t_min = 3e-3, the same N and grid; SGM (one model) keeps one sampler, from sde.T to 1e-3."""
  from wsgm import sampling
  config = phi4_wsgm.get_config(str(size))

  def fields(name):
    s = sampling.scale_sampling(config, name).sampling
    return s.sampler, s.time_grid, s.t_min, s.t_max, s.steps

  assert fields("coarse") == ("dpm_solver_pp_3m_sde", "logsnr", 1e-3, 3.0, 16)
  for j in range(1, config.pyramid.levels + 1):
    assert fields(f"scale_{j}") == ("dpm_solver_pp_2m_sde", "logsnr", 3e-3, 3.0, 16)
  sgm = phi4_sgm.get_config(str(size))
  assert sgm.sampling.per_scale == ()
  # The bench's --sampler is every model's, the coarse one's included.
  pinned = phi4_sizes.make_config("wsgm", size, [4], sampler="euler_maruyama")
  assert {sampling.scale_sampling(pinned, name).sampling.sampler
          for name in ["coarse"] + [f"scale_{j}" for j in range(1, pinned.pyramid.levels + 1)]} == {"euler_maruyama"}
  assert (sgm.sampling.sampler, sgm.sampling.t_min, sgm.sampling.t_max) == ("dpm_solver_pp_2m_sde", 1e-3, 0.0)


def test_bench_settings_override_the_configs():
  """--set=FIELD=VALUE (configs.parse_settings): literals parsed, other text kept as a string; J still follows a
  size set that way; a misspelled field and a malformed setting are one clear error each."""
  config = phi4_sizes.make_config("wsgm", 16, [4], settings=["model.padding=SAME", "data.symmetries=()",
                                                             "train.learning_rate=5e-4"])
  assert (config.model.padding, config.data.symmetries, config.train.learning_rate) == ("SAME", (), 5e-4)
  assert override(phi4_wsgm.get_config(), **{"data.image_size": 64}).pyramid.levels == 3
  with pytest.raises(KeyError, match="no config field 'model.paddng'"):
    phi4_sizes.make_config("wsgm", 16, [4], settings=["model.paddng=SAME"])
  with pytest.raises(ValueError, match="setting 'model.padding': need FIELD=VALUE"):
    phi4_sizes.make_config("wsgm", 16, [4], settings=["model.padding"])


@pytest.mark.parametrize("size", ["8", "24", "48", "0", "-16", "abc"])
def test_sizes_that_do_not_fit_are_one_clear_error(size):
  with pytest.raises(InputError, match=f"lattice size .*{size}"):
    phi4_wsgm.get_config(size)


@pytest.mark.parametrize("args, prefix", [
    (["--config=configs/phi4_sgm.py:24"], "error: --config=configs/phi4_sgm.py:24: "),
    (["--config=configs/phi4_wsgm.py", "--config.data.image_size=24"], "error: "),
])
def test_main_names_a_bad_size_in_one_line(tmp_path, args, prefix):
  result = subprocess.run([sys.executable, "main.py", *args, "--mode=train", f"--workdir={tmp_path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert result.stderr.strip().splitlines()[-1:] == [
      prefix + "phi^4 lattice size L=24: need L = 8 * 2^J with J >= 1 (16, 32, 64, 128, ...), so that the coarsest "
      "low-pass is 8x8"]
  assert not os.listdir(tmp_path)


def _rows(values, ses):
  return [dict(steps=n, metrics={"m": dict(value=v, se=s)}) for n, v, s in zip((4, 8, 16, 32), values, ses)]


def test_discretization_steps_is_where_the_excess_stays_inside_the_error_bars():
  # excess over N = 32: 1.0, 0.05, 0.3, 0; 2 combined se: 2 sqrt(0.1^2 + 0.1^2) = 0.283
  assert phi4_sizes.discretization_steps(_rows([1.1, 0.15, 0.4, 0.1], [0.1] * 4), "m") == 32   # N=16 is out
  assert phi4_sizes.discretization_steps(_rows([1.1, 0.15, 0.3, 0.1], [0.1] * 4), "m") == 8
  assert phi4_sizes.discretization_steps(_rows([0.1, 0.15, 0.3, 0.1], [0.1] * 4), "m") == 4
  assert phi4_sizes.discretization_steps(_rows([0.1, -0.5, 0.1, 0.1], [0.1] * 4), "m") == 16  # below counts too


def test_bench_per_size_path_runs_end_to_end(tmp_path):
  """L = 16 pixel-space SGM (one model: the path is the same for WSGM) shrunk: train, sweep, time, report; the
  report's numbers come from the sweep and the timing pass."""
  tiny = {"model.base_channels": 8, "model.norm_groups": 4, "train.steps": 2, "train.batch_size": 8,
          "train.checkpoint_every": 2, "data.stats_examples": 16, "data.phi4.beta": 0.3, "data.phi4.chains": 16,
          "data.phi4.samples_per_chain": 4, "data.phi4.burn_in": 100, "data.phi4.pilot": 200,
          "data.phi4.cache_dir": str(tmp_path / "cache"), "sampling.batch_size": 8, "eval.num_samples": 8,
          "eval.swd_directions": 8, "eval.swd_draws": 2, "eval.bootstrap": 5, "eval.swd_patches": 64}
  config = override(phi4_sizes.make_config("sgm", 16, [4, 2], sampler="euler_maruyama"), **tiny)
  assert (config.pyramid.levels, config.eval.steps_sweep, config.sampling.sampler) == (0, (2, 4), "euler_maruyama")
  wdir = phi4_sizes.workdir(str(tmp_path), 16, "sgm")
  sweep = phi4_sizes.run_one(config, wdir)
  timing = phi4_sizes.time_one(config, wdir)
  result = phi4_sizes.report(str(tmp_path), {(16, "sgm"): config})
  entry = result["sizes"]["16"]["sgm"]
  assert [r["steps"] for r in entry["rows"]] == [2, 4] and entry["levels"] == 0
  assert [r["network_evaluations"] for r in entry["rows"]] == [2, 4]   # N x (J + 1) Euler-Maruyama steps
  assert [r["seconds_per_sample"] for r in entry["rows"]] == [r["seconds_per_sample"] for r in timing["rows"]]
  assert entry["steps_to_quality"] == sweep["steps_to_quality"]["euler_maruyama"]
  assert set(entry["training_limited"]) == set(config.eval.quality_metrics)
  assert entry["training_limited"]["log_spectrum_error"] == sweep["rows"][-1]["metrics"]["log_spectrum_error"]
  assert all(r["floor"] is not None for r in entry["training_limited"].values())   # 16 held out: 8 + 8
  assert set(entry["discretization_steps"]) == {*config.eval.quality_metrics, "all"}
  assert json.load(open(tmp_path / "phi4_sizes.json")) == result
  assert all(os.path.exists(tmp_path / f) for f in ("phi4_sizes.png", "phi4_sizes_fields.png"))
