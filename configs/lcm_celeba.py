"""LCM as in the paper: CelebA 160x160 gray, Haar, J = 3 (20x20 coarsest low-pass), bias-free CNNs of
width 64 and depth 21; conditional denoisers of receptive field 13 (the paper sweeps 5..43), a global
20-layer model on the low-pass; Adam 1e-3, batch 512 (shard it over your accelerators). Needs a prepared
tfds directory: --config.data.data_dir=DIR (see README).

python main.py --config=configs/lcm_celeba.py --workdir=DIR --mode=train --config.data.data_dir=/data/tfds
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "lcm_celeba"
  c.experiment = "lcm"
  c.data.name = "celeb_a"
  c.data.image_size = 160
  c.data.crop = 140
  c.data.grayscale = True
  c.pyramid.levels = 3
  c.lcm.width = 64
  c.lcm.depth = 21
  c.lcm.receptive_field = 13
  c.lcm.coarse_depth = 20
  c.lcm.coarse_receptive_field = 41
  c.train.steps = 100_000
  c.train.batch_size = 512
  c.train.learning_rate = 1e-3
  c.train.warmup_steps = 1000
  c.train.ema_decay = 0.999
  c.train.checkpoint_every = 5000
  c.train.log_every = 500
  c.sampling.batch_size = 64
  c.eval.num_samples = 256
  return c
