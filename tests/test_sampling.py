import os
import re
import types
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import parallel, progress
from tests.overrides import override
from wsgm import sampling, solvers, wavelets
from wsgm.methods import wsgm as wsgm_method


def test_same_seed_same_samples(tiny_config, trained_workdir):
  images, lows, seconds = sampling.generate(tiny_config, trained_workdir, 8, jax.random.key(5), 1, wsgm_method.METHOD)
  again = sampling.generate(tiny_config, trained_workdir, 8, jax.random.key(5), 1, wsgm_method.METHOD).images
  other = sampling.generate(tiny_config, trained_workdir, 8, jax.random.key(6), 1, wsgm_method.METHOD).images
  assert images.shape == (8, 16, 16, 1) and [l.shape for l in lows] == [(8, 8, 8, 1)]
  assert np.all(np.isfinite(images)) and seconds > 0
  np.testing.assert_array_equal(images, again)
  assert not np.array_equal(images, other)
  # The image's own low-pass is the sampled coarse low-pass: the details never touch it.
  np.testing.assert_allclose(wavelets.decompose(jnp.asarray(images), "haar", 1).lowpass, lows[0], atol=1e-5)


def test_super_resolution_keeps_the_given_lowpass(tiny_config, trained_workdir):
  low = np.random.default_rng(0).standard_normal((8, 8, 8, 1)).astype(np.float32)
  models, stats = sampling.load_models(tiny_config, trained_workdir, 1, ["scale_1"], wsgm_method.METHOD)
  out = wsgm_method.make_super_resolver(tiny_config, models, stats, 1, parallel.data_mesh())(jax.random.key(0), low)
  assert out.image.shape == (8, 16, 16, 1)
  np.testing.assert_allclose(wavelets.decompose(out.image, "haar", 1).lowpass, low, atol=1e-5)


def test_missing_checkpoint_names_the_scale(tiny_config, trained_workdir, tmp_path):
  workdir = str(tmp_path / "partial")
  shutil.copytree(trained_workdir, workdir)
  shutil.rmtree(os.path.join(workdir, "scale_1"))
  with pytest.raises(ValueError, match=r"model 'scale_1' has no checkpoint.*--config.train.scale=1"):
    sampling.generate(tiny_config, workdir, 8, jax.random.key(0), 1, wsgm_method.METHOD)
  assert not os.path.exists(os.path.join(workdir, "scale_1"))     # reading created nothing
  with pytest.raises(ValueError, match="no normalization stats"):
    sampling.generate(tiny_config, str(tmp_path / "empty"), 8, jax.random.key(0), 1, wsgm_method.METHOD)


def test_sampling_with_another_architecture_is_refused(tiny_config, trained_workdir):
  other = tiny_config.copy_and_resolve_references()
  other.model.base_channels = 16
  with pytest.raises(ValueError, match="model.base_channels: saved 8 vs given 16"):
    sampling.generate(other, trained_workdir, 8, jax.random.key(0), 1, wsgm_method.METHOD)


def test_sampling_logs_each_scale_of_each_batch_with_an_eta(tiny_config, trained_workdir, monkeypatch):
  lines = []
  monkeypatch.setattr(progress, "logging", types.SimpleNamespace(info=lambda fmt, *args: lines.append(fmt % args)))
  config = override(tiny_config, **{"sampling.progress": True})
  images = sampling.generate(config, trained_workdir, 16, jax.random.key(5), 1, wsgm_method.METHOD).images
  stages = [line for line in lines if line.startswith("sampling batch")]
  assert len(stages) == 4, lines
  for line, batch, stage in zip(stages, (1, 1, 2, 2), ("low-pass x_1 8x8", "scale 1 details -> x_0 16x16") * 2):
    assert line.startswith(f"sampling batch {batch}/2: {stage} done (stage {stages.index(line) % 2 + 1}/2)"), line
  assert all(line.endswith("ETA after the first batch") for line in stages[:2])
  assert all(re.search(r", ETA \d+s$", line) for line in stages[2:]), stages
  # Reporting changes nothing drawn.
  quiet = sampling.generate(tiny_config, trained_workdir, 16, jax.random.key(5), 1, wsgm_method.METHOD).images
  np.testing.assert_array_equal(images, quiet)


def test_per_scale_sampler_runs_that_scale_only(tiny_config, trained_workdir):
  """sampling.per_scale 'scale_1=spec': scale_1's details are those of a config whose sampler is that spec (bit for
  bit), while the coarse low-pass is the one config.sampling draws."""
  spec = "dpm_solver_pp_2m_sde:time_grid=logsnr,t_min=0.01"
  gen = lambda c: sampling.generate(c, trained_workdir, 8, jax.random.key(5), 1, wsgm_method.METHOD)
  base = gen(tiny_config)
  mixed = gen(override(tiny_config, **{"sampling.per_scale": (f"scale_1={spec}",)}))
  np.testing.assert_array_equal(mixed.lowpasses[0], base.lowpasses[0])
  assert not np.allclose(mixed.images, base.images)
  whole = tiny_config.copy_and_resolve_references()
  solvers.apply_spec(whole.sampling, spec)
  low = jnp.asarray(base.lowpasses[0])
  models, stats = sampling.load_models(tiny_config, trained_workdir, 1, ["scale_1"], wsgm_method.METHOD)
  superres = lambda c: np.asarray(wsgm_method.make_super_resolver(c, models, stats, 1, parallel.data_mesh())(
      jax.random.key(0), low).image)
  np.testing.assert_array_equal(superres(override(tiny_config, **{"sampling.per_scale": (f"scale_1={spec}",)})),
                                superres(whole))


@pytest.mark.parametrize("entries, message", [
    (("scale_3=ddim",), r"entry 'scale_3=ddim': need 'model=sampler spec' with a model in \['coarse', 'scale_1'\]"),
    (("ddim",), "entry 'ddim': need 'model=sampler spec'"),
    (("scale_1=ddim", "scale_1=ode_heun"), "names 'scale_1' twice"),
    (("scale_1=dpm",), "unknown sampler 'dpm'"),
    (("scale_1=ddim:t_max=9",), "sampling.t_max=9.0: need 0 < t_max <= sde.T"),
])
def test_bad_per_scale_entry_is_refused_before_training(tiny_config, entries, message):
  with pytest.raises(ValueError, match=message):
    wsgm_method.validate(override(tiny_config, **{"sampling.per_scale": entries}))
