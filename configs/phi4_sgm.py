"""Pixel-space SGM baseline for configs/phi4_wsgm.py: J = 0, one model on the L x L field, same UNet width and
periodic convolutions, same data and training steps, same sampler (SDE-DPM-Solver++(2M): among the two best for
SGM too on exact Gaussian scores, README "Samplers ranked exactly"; not yet measured on the learned SGM), but
from sde.T (sampling.t_max = 0), not t = 3: pixel-space long-range modes have variances growing like L^2 and are
not forgotten by t = 3 (exact Gaussian, N = 16: max relative spectral error 0.34 at L = 128 from t = 3 against
0.069 from t = 5; README, "A shorter sampling horizon"). The UNet halves
the grid down to 8x8, as deep as WSGM's pyramid (L = 32: channel_mult (1, 2, 2)), so its receptive field covers
the lattice at every size. That depth is fixed by the config's argument (`:64`); --config.data.image_size=64
alone keeps the L = 32 UNet (3 levels, down to 16x16).

python main.py --config=configs/phi4_sgm.py:64 --mode=train --workdir=runs/phi4_sgm_L64
"""
from configs import phi4_wsgm


def get_config(size="32"):
  c = phi4_wsgm.get_config(size)
  c.name = "phi4_sgm"
  c.model.channel_mult = (1,) + (2,) * c.pyramid.levels
  c.pyramid.levels = 0
  c.sampling.t_max = 0.0
  c.sampling.t_min = 1e-3       # one sampler for its one model, as measured (phi4_wsgm's per-scale choice is WSGM's)
  c.sampling.per_scale = ()
  return c
