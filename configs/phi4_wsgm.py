"""WSGM on lattice phi^4 at its critical point (beta = 0.68, lambda = 1), L x L with the coarsest low-pass
fixed at 8x8: J = log2(L / 8) (L = 32 by default: J = 2). The MCMC data (Metropolis + Swendsen-Wang sign
updates, tau_int of a few sweeps) are made on first use and cached in runs/phi4_data: 128 chains x 16 fields
for training, 32 x 16 held out. --mode=eval samples with N = 4 ... 64 steps per scale and compares every N
with the MCMC fields (wsgm/evaluation.py).

J follows the lattice size, given either as the config's argument (ml_collections' config string) or as
data.image_size: pyramid.levels is computed from data.image_size when it is read (a lazy FieldReference), unless
it is set itself.
python main.py --config=configs/phi4_wsgm.py --mode=train --workdir=runs/phi4_wsgm          # L = 32, J = 2
python main.py --config=configs/phi4_wsgm.py:64 --mode=train --workdir=runs/phi4_wsgm_L64   # L = 64, J = 3
python main.py --config=configs/phi4_wsgm.py --config.data.image_size=64 ...                # the same, J = 3
python main.py --config=configs/phi4_wsgm.py --config.data.image_size=64 --config.pyramid.levels=2 ...   # J = 2
"""
from configs import default
from lib.errors import InputError

COARSEST = 8   # the coarse model's grid at every lattice size


def levels_for(size) -> int:
  """J with an 8x8 coarsest low-pass: L = 8 * 2^J, J >= 1; anything else is one clear error."""
  try:
    size = int(size)
  except (TypeError, ValueError):
    raise InputError(f"phi^4 lattice size {size!r}: need an integer L = 8 * 2^J (16, 32, 64, 128, ...)") from None
  levels = (size // COARSEST).bit_length() - 1
  if size < 2 * COARSEST or COARSEST << levels != size:
    raise InputError(f"phi^4 lattice size L={size}: need L = {COARSEST} * 2^J with J >= 1 (16, 32, 64, 128, ...), "
                     f"so that the coarsest low-pass is {COARSEST}x{COARSEST}")
  return levels


def get_config(size="32"):
  c = default.get_config()
  c.name = "phi4_wsgm"
  c.data.name = "phi4"
  levels_for(size)   # a bad argument is refused here, at once
  c.data.image_size = int(size)
  # FieldReference's own operators (+, *, ...) are built on _apply_op; log2 has no operator.
  c.pyramid.levels = c.data.get_ref("image_size")._apply_op(levels_for)
  c.data.stats_examples = 2048
  c.model.base_channels = 32
  c.model.channel_mult = (1, 2)
  # Periodic convolutions: the lattice is a torus, and with zero padding 28 of the 64 pixels of an 8x8 grid sit on
  # an edge where the network sees zeros instead of their neighbours. Measured (README, "Periodic convolutions"):
  # at N = 16 the log-spectrum error against 1024 held-out MCMC fields is 0.021 +- 0.003 with them and
  # 0.038 +- 0.004 with zero padding, the same data, seeds and training steps.
  c.model.padding = "CIRCULAR"
  c.train.steps = 2000
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.ema_decay = 0.995
  c.data.phi4.chains = 128
  c.data.phi4.burn_in = 300
  c.data.phi4.pilot = 600
  # SDE-DPM-Solver++(2M) on a log-SNR grid to t_min = 1e-3, then a Tweedie step (17 network calls per scale at
  # N = 16): among the best on exact Gaussian scores (WSGM: spectral error <= 0.1 in 5-6 steps per scale at
  # every L; this grid and t_min are its best there), and on the trained models the best measured (README,
  # "Samplers on the learned phi^4 WSGM"): at N = 16 its log-spectrum error is 0.039 +- 0.004 against 0.324 for
  # Euler-Maruyama, while the deterministic samplers (ode_heun, dpm_solver_pp_2m) plateau at ~0.6 (a few
  # draws blow up: the learned conditional scores are under-restoring near the prior, which the flow amplifies
  # and fresh noise does not). Training draws t = T u^2 (train.time_grid = "quadratic"), which covers all of
  # (0, T], so the sampling-only log-SNR grid runs on the same models.
  # The horizon stays sde.T (sampling.t_max = 0). From t_max = 3 the exact Gaussian error at N = 16 is 0.043
  # instead of 0.067 at every L, and one of three 6000-step models has U4 and the log-spectrum error within
  # floor + 2 se at N = 16 from there in each of three draws (the other two: once at the edge, or out); but this
  # config's 2000-step model is worse from t = 3 at every N >= 16 (0.027-0.029 against 0.018-0.024; README,
  # "A shorter sampling horizon"). With --config.train.steps=6000, try --config.sampling.t_max=3.
  # No learning-rate decay: held at 1e-3 to 6000 steps and then decayed (train.decay_start), the detail models
  # memorize the 2048 training fields (bench/heldout_loss.py: held-out loss up, training loss down, in two
  # training runs) and chi falls by a fifth (README, "Memorization"). What met U4 and the log-spectrum target at
  # N = 16 in two training runs x two reference splits (at the edge on one split): --config.data.phi4.chains=512
  # (8192 fields: no memorization) --config.train.steps=6000 --config.sampling.t_max=3.
  c.sampling.sampler = "dpm_solver_pp_2m_sde"
  c.sampling.time_grid = "logsnr"
  c.sampling.t_min = 1e-3
  c.sampling.steps = 16
  c.eval.num_samples = 256        # of the 512 held-out fields: 256 reference, 256 for the noise floor
  c.eval.quality_metrics = ("log_spectrum_error", "pixel_histogram_w1", "phi4/binder_u4_error",
                            "phi4/susceptibility_error")
  c.eval.steps_sweep = (4, 8, 16, 32, 64)
  return c
