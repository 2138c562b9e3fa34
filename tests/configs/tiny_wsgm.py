"""Smallest useful WSGM: 16x16 faces, J = 1, an 8-channel single-level UNet. Shared by the tests so that
they reuse compiled functions (same shapes) through the persistent compilation cache."""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "tiny_wsgm"
  c.data.name = "faces"
  c.data.image_size = 16
  c.data.stats_examples = 64
  c.pyramid.levels = 1
  c.model.base_channels = 8
  c.model.channel_mult = (1,)
  c.model.norm_groups = 4
  c.train.steps = 8
  c.train.batch_size = 8
  c.train.learning_rate = 2e-3
  c.train.warmup_steps = 1
  c.train.log_every = 4
  c.train.checkpoint_every = 4
  c.sampling.steps = 4
  c.sampling.batch_size = 8
  c.sampling.num_samples = 8
  c.sampling.progress = False   # no host callback: the compiled sampler is shared through the persistent cache
  c.eval.num_samples = 16
  c.eval.swd_directions = 16
  c.eval.swd_patches = 256
  c.eval.swd_draws = 2
  c.eval.bootstrap = 10
  return c
