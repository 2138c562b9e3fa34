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
  return c
