"""WSGM on 32x32 patches of scikit-image's grass, gravel and brick photos, J = 2.

python main.py --config=configs/textures_wsgm.py --mode=train --workdir=runs/textures_wsgm
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "textures_wsgm"
  c.data.name = "textures"
  c.data.texture = "all"
  c.data.image_size = 32
  c.data.num_examples = 4096
  c.pyramid.levels = 2
  c.model.base_channels = 32
  c.model.channel_mult = (1, 2)
  c.train.steps = 1500
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.ema_decay = 0.995
  c.sampling.steps = 16
  c.eval.num_samples = 72         # the 144 non-overlapping held-out patches: 72 reference, 72 noise floor
  return c
