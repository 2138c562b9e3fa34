"""WSGM paper, Theorem 1 as an experiment: exact-score SGM vs WSGM on 1/|omega|^2 Gaussian fields.

python main.py --config=configs/gaussian_wsgm.py --mode=eval --workdir=/tmp/gaussian
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "gaussian_wsgm"
  c.experiment = "gaussian"
  c.pyramid.wavelet = "haar"
  c.sampling.time_grid = "uniform"   # the theorem's setting: N uniform Euler-Maruyama steps on [0, T]
  c.gaussian.likelihood_fields = 4   # probability-flow ODE bits/dim vs the closed form (wsgm/likelihood.py)
  c.gaussian.likelihood_sizes = (16, 32)
  return c
