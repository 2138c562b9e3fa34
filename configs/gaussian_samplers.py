"""Exact ranking of samplers on 1/|omega|^2 Gaussian fields, SGM vs WSGM (the exact-score experiment of
configs/gaussian_wsgm.py, every sampler of wsgm/solvers.py, best T, time grid and t_min per sampler).

python main.py --config=configs/gaussian_samplers.py --mode=eval --workdir=runs/gaussian_samplers
"""
from configs import gaussian_wsgm


def get_config():
  c = gaussian_wsgm.get_config()
  c.name = "gaussian_samplers"
  c.gaussian.samplers = ("euler_maruyama", "ancestral", "ode_euler", "ode_heun", "ddim", "ddim:eta=0.5",
                         "dpm_solver_pp_2m", "dpm_solver_pp_2m_sde", "dpm_solver_pp_3m_sde",
                         "euler_maruyama:corrector_steps=1")
  c.sampling.time_grid = "quadratic"   # for the Monte-Carlo checks (the ranking searches the grids)
  c.gaussian.likelihood_fields = 0     # (configs/gaussian_wsgm.py has the likelihood check)
  return c
