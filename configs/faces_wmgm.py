"""WMGM on the scikit-image LFW faces, 32x32 gray, J = 2: the coarse 8x8 low-pass by the same score model as
configs/faces_wsgm.py, the 16x16 and 32x32 detail bands by one shared adversarial generator.

python main.py --config=configs/faces_wmgm.py --mode=train --workdir=runs/faces_wmgm
"""
from configs import faces_wsgm


def get_config():
  c = faces_wsgm.get_config()
  c.name = "faces_wmgm"
  c.experiment = "wmgm"
  c.wmgm.generator.base_channels = 32
  c.wmgm.generator.channel_mult = (1, 2)
  c.wmgm.g_learning_rate = 5e-4      # 1000 steps on CPU; the authors' 1e-4 is for long GPU runs
  c.wmgm.d_learning_rate = 5e-5
  return c
