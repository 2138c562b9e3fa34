"""Pixel-space SGM baseline for configs/celeba_wsgm.py: J = 0 on 64x64."""
from configs import celeba_wsgm


def get_config():
  c = celeba_wsgm.get_config()
  c.name = "celeba_sgm"
  c.pyramid.levels = 0
  c.model.channel_mult = (1, 2, 2, 2)
  c.model.attn_resolutions = (16,)
  return c
