"""Pixel-space SGM baseline for configs/textures_wsgm.py: J = 0, one model on 32x32."""
from configs import textures_wsgm


def get_config():
  c = textures_wsgm.get_config()
  c.name = "textures_sgm"
  c.pyramid.levels = 0
  c.model.channel_mult = (1, 2, 2)
  return c
