"""LCM with the authors' released J = 3 denoisers: grayscale 320x320 faces, Haar, 40x40 low-pass, conditional
models of RF 13 at scales 1-3 (their folder `denoisers/multi_scale/celebA_320x320_gray`). Same units and
ascent settings as configs/lcm_celeba160_pretrained.py, which explains each.

python main.py --config=configs/lcm_celeba320_pretrained.py --workdir=runs/lcm320 --mode=sample \
  --config.lcm.weights_dir=PATH/denoisers/multi_scale/celebA_320x320_gray
"""
from configs import lcm_celeba160_pretrained


def get_config():
  c = lcm_celeba160_pretrained.get_config()
  c.name = "lcm_celeba320_pretrained"
  c.data.image_size = 320
  c.pyramid.levels = 3
  c.lcm.receptive_field = 13         # the only RF released at 320
  c.sampling.num_samples = 2
  c.sampling.batch_size = 2
  c.eval.num_samples = 4
  return c
