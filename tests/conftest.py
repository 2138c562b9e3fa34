import os
import tempfile

# One persistent XLA compilation cache for the whole run, subprocesses included (they inherit the
# environment): compiling the same tiny UNet step again costs ~1 s instead of ~10 s on 2 CPU cores.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "wsgm_test_jax_cache"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_config():
  from tests.configs import tiny_wsgm
  return tiny_wsgm.get_config()


@pytest.fixture(scope="session")
def trained_workdir(tiny_config, tmp_path_factory):
  """A tiny WSGM trained for a few steps, shared by the sampling and evaluation tests."""
  from wsgm import train
  from wsgm.methods import wsgm as wsgm_method
  workdir = str(tmp_path_factory.mktemp("tiny_wsgm"))
  train.train(tiny_config, workdir, wsgm_method.METHOD)
  return workdir
