"""Pixel-space SGM baseline for configs/phi4_wsgm.py: J = 0, one model on the 32x32 field, same budget of
steps; the UNet goes one level deeper so its receptive field still covers the lattice."""
from configs import phi4_wsgm


def get_config():
  c = phi4_wsgm.get_config()
  c.name = "phi4_sgm"
  c.pyramid.levels = 0
  c.model.channel_mult = (1, 2, 2)
  return c
