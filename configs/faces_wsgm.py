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
  # SDE-DPM-Solver++(2M), log-SNR grid to t_min = 1e-3 + a Tweedie step (17 network calls per scale): visibly
  # cleaner faces than Euler-Maruyama's at N = 16 (about the same time), with ~0.6x the data's power at the
  # detail scales' frequencies; on 20 + 20 held-out faces the log-spectrum errors of the two (0.37 +- 0.10 and
  # 0.26 +- 0.05, floor 0.11) are not resolved (README, "Samplers on the learned phi^4 WSGM"). The
  # deterministic samplers (ode_heun, dpm_solver_pp_2m) blow up on a fifth of these models' draws.
  c.sampling.sampler = "dpm_solver_pp_2m_sde"
  c.sampling.time_grid = "logsnr"
  c.sampling.t_min = 1e-3
  c.sampling.steps = 16
  c.sampling.num_samples = 64
  c.eval.num_samples = 20         # the 40 held-out faces: 20 reference, 20 noise floor
  return c
