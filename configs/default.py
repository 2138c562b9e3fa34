"""Defaults for every field; experiment files override only what differs."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.name = "default"
  c.experiment = "wsgm"          # which system runs: see wsgm/experiments/__init__.py
  c.seed = 0

  c.pyramid = ml_collections.ConfigDict()
  c.pyramid.wavelet = "haar"
  c.pyramid.levels = 2           # J

  c.sde = ml_collections.ConfigDict()
  c.sde.T = 5.0

  c.sampling = ml_collections.ConfigDict()
  c.sampling.sampler = "euler_maruyama"   # see wsgm/solvers.py SAMPLERS
  c.sampling.steps = 16                   # per scale
  c.sampling.time_grid = "uniform"

  # Exact-score Gaussian-field experiment (wsgm/experiments/gaussian_theorem.py).
  c.gaussian = ml_collections.ConfigDict()
  c.gaussian.sizes = (16, 32, 64, 128)
  c.gaussian.steps = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
  c.gaussian.T_values = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
  c.gaussian.lowpass_size = 8        # WSGM decomposes until the low-pass is this size
  c.gaussian.spectral_threshold = 0.1
  c.gaussian.kl_threshold = 1e-3
  c.gaussian.mc_size = 16            # Monte-Carlo cross-check of the closed form with the real samplers
  c.gaussian.mc_steps = 16
  c.gaussian.mc_samples = 4000
  return c
