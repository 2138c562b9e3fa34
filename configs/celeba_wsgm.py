"""WSGM on CelebA 64x64 RGB (center crop 140, as in score_sde), J = 2: a 16x16 coarsest low-pass.
Needs a prepared tfds directory (see README); meant for GPUs/TPUs.

python main.py --config=configs/celeba_wsgm.py --mode=train --workdir=runs/celeba_wsgm \
    --config.data.data_dir=/path/to/tensorflow_datasets
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "celeba_wsgm"
  c.data.name = "celeb_a"
  c.data.image_size = 64
  c.data.crop = 140
  c.data.workers = 8
  c.data.stats_examples = 4096
  c.pyramid.levels = 2
  c.model.base_channels = 128
  c.model.channel_mult = (1, 2, 2)
  c.model.num_res_blocks = 2
  c.model.attn_resolutions = (8,)
  c.model.dropout = 0.1
  c.model.norm_groups = 32
  c.train.steps = 200_000
  c.train.batch_size = 128
  c.train.learning_rate = 2e-4
  c.train.warmup_steps = 5000
  c.train.ema_decay = 0.9999
  c.train.log_every = 500
  c.train.checkpoint_every = 10_000
  c.sampling.steps = 64
  c.sampling.batch_size = 128
  c.sampling.num_samples = 1024
  c.eval.num_samples = 2048
  return c
