"""WSGM on the 100 LFW face crops shipped with scikit-image, 32x32 gray, J = 2 (8x8 coarsest low-pass).
Trains on 2 CPU cores in minutes; the faces are few, so expect a model of this small set, not of faces.

python main.py --config=configs/faces_wsgm.py --mode=train --workdir=runs/faces_wsgm
"""
from configs import default


def get_config():
  c = default.get_config()
  c.name = "faces_wsgm"
  c.data.name = "faces"
  c.data.image_size = 32
  c.data.stats_examples = 120     # the 60 training faces and their mirror images
  c.pyramid.levels = 2
  c.model.base_channels = 32
  c.model.channel_mult = (1, 2)
  c.train.steps = 1000
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.ema_decay = 0.995
  c.train.checkpoint_every = 500
  # Euler-Maruyama (default): Heun and DPM-Solver++(2M) give log-spectrum errors of 1.3-1.6 on these models at
  # N = 8-32, against 0.15-0.20 for EM (README); they are exact-score winners only.
  c.sampling.steps = 16
  c.sampling.num_samples = 64
  c.eval.num_samples = 20         # the 40 held-out faces: 20 reference, 20 noise floor
  return c
