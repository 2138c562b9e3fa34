"""WMGM on the same data and coarse score model as configs/textures_wsgm.py: the coarsest low-pass by diffusion,
the detail bands by one shared adversarial generator (see configs/faces_wmgm.py)."""
from configs import textures_wsgm


def get_config():
  c = textures_wsgm.get_config()
  c.name = "textures_wmgm"
  c.experiment = "wmgm"
  c.wmgm.g_learning_rate = 5e-4      # short CPU runs; the authors' 1e-4 is for long GPU runs
  c.wmgm.d_learning_rate = 5e-5
  return c
