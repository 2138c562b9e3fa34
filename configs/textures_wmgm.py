"""WMGM on the same data and coarse score model as configs/textures_wsgm.py: the coarsest low-pass by diffusion,
the detail bands by one shared adversarial generator (see configs/faces_wmgm.py)."""
from configs import faces_wmgm, textures_wsgm


def get_config():
  return faces_wmgm.from_wsgm(textures_wsgm.get_config(), "textures_wmgm")
