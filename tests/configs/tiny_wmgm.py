"""Smallest useful WMGM: tiny_wsgm's 16x16 faces and coarse model (J = 1), an 8-channel generator and a
small discriminator."""
from tests.configs import tiny_wsgm


def get_config():
  c = tiny_wsgm.get_config()
  c.name = "tiny_wmgm"
  c.experiment = "wmgm"
  c.wmgm.generator.base_channels = 8
  c.wmgm.generator.channel_mult = (1,)
  c.wmgm.generator.norm_groups = 4
  c.wmgm.discriminator.width = 8
  c.wmgm.discriminator.depth = 1
  c.wmgm.g_learning_rate = 1e-3
  c.wmgm.d_learning_rate = 1e-3
  c.wmgm.d_every = 2
  return c
