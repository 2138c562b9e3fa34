"""WMGM as in the paper: CelebA-HQ 128x128 RGB, Haar, J = 2 (32x32 low-pass by the score model), one
attention-UNet generator shared across scales, discriminator on the reconstruction; losses 0.1 adversarial
+ 20 MSE + 0.5 (1 - SSIM); AdamW, lr_G 1e-4, lr_D 1e-5, D every 4 G steps. Needs the prepared tfds
celeb_a_hq/128 (manual download): --config.data.data_dir=DIR.

python main.py --config=configs/celebahq_wmgm.py --workdir=DIR --mode=train --config.data.data_dir=/data/tfds
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "celebahq_wmgm"
  c.experiment = "wmgm"
  c.data.name = "celeb_a_hq"
  c.data.hq_resolution = 128
  c.data.image_size = 128
  c.pyramid.levels = 2
  c.model.base_channels = 128
  c.model.channel_mult = (1, 2, 2, 2)
  c.model.num_res_blocks = 2
  c.model.attn_resolutions = (16,)
  c.model.dropout = 0.1
  c.model.norm_groups = 32
  c.wmgm.generator.base_channels = 64
  c.wmgm.generator.channel_mult = (1, 2, 2)
  c.wmgm.generator.num_res_blocks = 2
  c.wmgm.generator.attn_resolutions = (16,)
  c.wmgm.discriminator.width = 64
  c.wmgm.discriminator.depth = 3
  c.train.steps = 200_000
  c.train.batch_size = 64
  c.train.checkpoint_every = 5000
  c.train.log_every = 500
  c.sampling.steps = 32
  c.eval.num_samples = 1024
  return c
