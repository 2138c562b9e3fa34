"""bench/heldout_loss.py: the held-out loss is the training loss's own integrand, the two image sets share their
noise image by image, every kept checkpoint is scored, and nothing earlier is overwritten."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from lib import data
from lib.errors import InputError
from wsgm import pyramid, sampling, sde
from wsgm.methods import wsgm as wsgm_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import heldout_loss  # noqa: E402


def test_fixed_times_are_the_training_distributions_quantile_midpoints(tiny_config):
  times = heldout_loss.fixed_times(tiny_config, 4)   # train.time_grid = quadratic: t = T u^2
  np.testing.assert_allclose(times, tiny_config.sde.T * ((np.arange(4) + 0.5) / 4) ** 2, rtol=1e-6)
  with pytest.raises(InputError, match="--times=0: need at least one time"):
    heldout_loss.fixed_times(tiny_config, 0)


def test_losses_are_the_training_loss_and_pair_the_sets(tiny_config, trained_workdir):
  c = tiny_config
  images = next(data.batches(c.data, "train", 8, c.data.seed))
  channels = images.shape[-1]
  models, stats = sampling.load_models(c, trained_workdir, channels, ["scale_1"], wsgm_method.METHOD, step=4)
  model, params = models["scale_1"]
  target, cond = pyramid.model_io(images, "scale_1", stats, c.pyramid.wavelet, c.pyramid.levels)
  # loss_fn's draw of (t, z), scored per example: their mean is the training loss itself
  key = jax.random.key(3)
  t_key, z_key, _ = jax.random.split(key, 3)
  t = sde.train_times(jax.random.uniform(t_key, (8,)), c.sde.T, c.train.time_grid)
  z = jax.random.normal(z_key, target.shape)
  per_example = wsgm_method.denoising_errors(params, model, target, cond, t, z)
  assert per_example.shape == (8,)
  loss = wsgm_method.loss_fn(params, model, target, cond, key, sde.config_train_times(c), train=False)
  np.testing.assert_allclose(float(np.mean(per_example)), float(loss), rtol=1e-5)
  # the same images and key give the same losses (noise by image index): a gap of exactly 0
  times = heldout_loss.fixed_times(c, 3)
  errors = heldout_loss.errors_fn(model)
  a, b = (heldout_loss.model_losses(errors, params, target, cond, times, jax.random.key(5)) for _ in range(2))
  assert a.shape == (8, 3) and np.array_equal(a, b)
  same = heldout_loss.compare(a, b)
  assert same["gap"] == (0.0, 0.0) and same["train"] == same["heldout"]
  shifted = heldout_loss.compare(a, a + 0.25)
  np.testing.assert_allclose(shifted["gap"][0], 0.25, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(shifted["gap_per_t"])[:, 0], 0.25, rtol=1e-6)
  with pytest.raises(InputError, match=r"no checkpoint at step 5 .* it has steps \[4, 8\]"):
    sampling.load_models(c, trained_workdir, channels, ["scale_1"], wsgm_method.METHOD, step=5)


def test_the_bench_scores_every_kept_step_and_keeps_earlier_runs(trained_workdir):
  run = lambda *extra: subprocess.run([sys.executable, "bench/heldout_loss.py", "--config=tests/configs/tiny_wsgm.py",
                                       f"--workdir={trained_workdir}", "--samples=4", "--times=2", *extra],
                                      cwd=ROOT, capture_output=True, text=True, timeout=300)
  for k in range(2):
    result = run(*["--from_workdir"][:k])   # the second run reads the workdir's fields (none differ here)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("config.json: nothing differs" in result.stdout) == bool(k)
    path = os.path.join(trained_workdir, "bench", f"heldout_loss_{k}.json")
    rows = json.load(open(path))["rows"]
    assert sorted(rows) == ["coarse step 4", "coarse step 8", "scale_1 step 4", "scale_1 step 8"]
    assert all(len(r["gap_per_t"]) == 2 and np.isfinite(r["gap"]).all() for r in rows.values())
    assert os.path.getsize(path[:-len(".json")] + ".png") > 0
    assert "heldout_change" in rows["scale_1 step 8"] and "heldout_change" not in rows["scale_1 step 4"]
    per_image = np.load(path[:-len(".json")] + ".npz")
    np.testing.assert_allclose(per_image["scale_1/8/heldout"].mean(1).mean(), rows["scale_1 step 8"]["heldout"][0],
                               rtol=1e-6)
    change = per_image["scale_1/8/heldout"].mean(1) - per_image["scale_1/4/heldout"].mean(1)
    np.testing.assert_allclose(change.mean(), rows["scale_1 step 8"]["heldout_change"][0], rtol=1e-5, atol=1e-9)
  first, second = (json.load(open(os.path.join(trained_workdir, "bench", f"heldout_loss_{k}.json"))) for k in (0, 1))
  assert first == second   # fixed keys: the same numbers, and the first run's file is still there
