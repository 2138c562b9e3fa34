"""LCM (Kadkhodaie et al. 2023) on the LFW faces shipped with scikit-image, 32x32 gray, J = 2: a global
bias-free CNN on the 8x8 low-pass and conditional denoisers of receptive field 13 at 16x16 and 8x8. Sized
for 2 CPU cores (the authors use width 64 and depth 21; see configs/lcm_celeba.py).

python main.py --config=configs/lcm_faces.py --workdir=runs/lcm_faces --mode=train
python main.py --config=configs/lcm_faces.py --workdir=runs/lcm_faces --mode=eval
Flat pixel-domain denoiser of the same RF: add --config.pyramid.levels=0 (and another --workdir).
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "lcm_faces"
  c.experiment = "lcm"
  c.data.name = "faces"
  c.data.image_size = 32
  c.pyramid.levels = 2
  c.lcm.width = 32
  c.lcm.depth = 11
  c.lcm.receptive_field = 13
  c.lcm.coarse_depth = 8
  c.lcm.coarse_receptive_field = 15     # covers the 8x8 low-pass: a global model
  c.train.steps = 2000
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.ema_decay = 0.995
  c.train.checkpoint_every = 500
  c.sampling.num_samples = 64
  c.eval.num_samples = 20
  return c
