"""WMGM on the scikit-image LFW faces, 32x32 gray, J = 2: the coarse 8x8 low-pass by the same score model as
configs/faces_wsgm.py, the 16x16 and 32x32 detail bands by one shared adversarial generator.

python main.py --config=configs/faces_wmgm.py --mode=train --workdir=runs/faces_wmgm
"""
from configs import faces_wsgm


def from_wsgm(c, name):
  """A WSGM config turned into WMGM on the same data and coarse model (also used by textures_/phi4_wmgm)."""
  c.name = name
  c.experiment = "wmgm"
  c.wmgm.g_learning_rate = 5e-4      # ~1000-step CPU runs; the authors' 1e-4 / 1e-5 are for long GPU runs
  c.wmgm.d_learning_rate = 5e-5
  return c


def get_config():
  return from_wsgm(faces_wsgm.get_config(), "faces_wmgm")
