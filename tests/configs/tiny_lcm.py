"""Smallest useful LCM: 16x16 faces, J = 1, 8-channel bias-free CNNs of depth 4. Shared by the LCM tests so
that they reuse compiled functions."""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "tiny_lcm"
  c.experiment = "lcm"
  c.data.name = "faces"
  c.data.image_size = 16
  c.pyramid.levels = 1
  c.lcm.width = 8
  c.lcm.depth = 4
  c.lcm.receptive_field = 5
  c.lcm.coarse_depth = 4
  c.lcm.coarse_receptive_field = 7
  c.lcm.denoise_sigmas = (20, 60)
  c.train.steps = 8
  c.train.batch_size = 8
  c.train.learning_rate = 2e-3
  c.train.warmup_steps = 1
  c.train.log_every = 4
  c.train.checkpoint_every = 4
  c.ascent.h0 = 0.05
  c.ascent.beta_coarse = 0.5
  c.ascent.sigma_final = 0.05
  c.ascent.max_iters = 200
  c.sampling.batch_size = 8
  c.sampling.num_samples = 8
  c.eval.num_samples = 16
  c.eval.swd_directions = 16
  return c
