"""Smallest useful LCM: tiny_wsgm's 16x16 faces, J = 1 and training/sampling sizes, with 8-channel bias-free
CNNs of depth 4. Shared by the LCM tests so that they reuse compiled functions."""
from tests.configs import tiny_wsgm


def get_config():
  c = tiny_wsgm.get_config()
  c.name = "tiny_lcm"
  c.experiment = "lcm"
  c.lcm.width = 8
  c.lcm.depth = 4
  c.lcm.receptive_field = 5
  c.lcm.coarse_depth = 4
  c.lcm.coarse_receptive_field = 7
  c.eval.denoise_sigmas = (20, 60)
  c.ascent.h0 = 0.05
  c.ascent.beta_coarse = 0.5
  c.ascent.sigma_final = 0.05
  c.ascent.max_iters = 200
  c.ascent.max_iters_details = 200
  return c
