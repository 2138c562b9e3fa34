"""Pixel-space SGM baseline for configs/faces_wsgm.py: J = 0, the same code path, one model on 32x32."""
from configs import faces_wsgm


def get_config():
  c = faces_wsgm.get_config()
  c.name = "faces_sgm"
  c.pyramid.levels = 0
  c.model.channel_mult = (1, 2, 2)
  return c
