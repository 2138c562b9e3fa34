"""Each sampler, run on a 1-D Gaussian N(0, lam) with its exact score, is a linear recursion
x <- a_k x + b_k z (DPM-Solver++(2M): on the pair (x, previous denoised value)); the output variance of that
recursion (written out here independently of the solver code) must match the variance of the jitted sampler's
samples, and the exact law gaussian.sampler_gains derives from the solver's own step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default, phi4_wsgm
from wsgm import gaussian, sde, solvers

LAM, T, STEPS, N_SAMPLES = 0.05, 3.0, 6, 400_000


def _sigma2(t):
  return LAM * np.exp(-2 * t) + 1 - np.exp(-2 * t)


def _coefficients(name, t, t_next):
  """(a, b^2) of one step from t to t_next for score(x) = -x / sigma2(t)."""
  h = t - t_next
  s, s_next = 1 - 1 / _sigma2(t), 1 - 1 / _sigma2(t_next)
  if name == "euler_maruyama":
    return 1 + h * (1 - 2 / _sigma2(t)), 2 * h
  if name == "ode_euler":
    return 1 + h * s, 0.0
  if name == "ode_heun":
    return (1 + 0.5 * h * (s + s_next * (1 + h * s)) if t_next > 0 else 1 + h * s), 0.0
  m, m_next = np.exp(-t), np.exp(-t_next)
  var, var_next = 1 - m ** 2, 1 - m_next ** 2
  if name == "ancestral":
    a2 = (m / m_next) ** 2
    tweedie = (1 - var / _sigma2(t)) / m
    return m_next * (1 - a2) / var * tweedie + np.sqrt(a2) * var_next / var, var_next * (1 - a2) / var
  if name.startswith("ddim"):   # x' = a' D + sqrt(s'^2 - sig^2) eps + sig z, D = a lam x / sigma2, eps = s x / sigma2
    eta = float(name.split("=")[1]) if "=" in name else 0.0
    sig2 = eta ** 2 * var_next / var * (1 - m ** 2 / m_next ** 2)
    return m_next * m * LAM / _sigma2(t) + np.sqrt(var_next - sig2) * np.sqrt(var) / _sigma2(t), sig2
  raise AssertionError(name)


def _half_log_snr(t, xp=np):
  """lambda(t) = log(a / s) of the OU process, written here independently of the solver's."""
  return xp.log(xp.exp(-t) / xp.sqrt(-xp.expm1(-2 * t)))


def _variance_2m(times, stochastic=False):
  """DPM-Solver++(2M) on (x, D_prev): x' = k x + w [(1 + 1/2r) D - D_prev / 2r] + b z, D = c(t) x, with
  k = s'/s, w = a' - a s'/s, b = 0 (ODE), or, with e = a s' / (a' s) (= e^{-h}), k = e s'/s, w = a' (1 - e^2),
  b = s' sqrt(1 - e^2) (SDE)."""
  cov = np.diag([1.0, 0.0])
  for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
    m, m_next, s, s_next = np.exp(-t), np.exp(-t_next), np.sqrt(1 - np.exp(-2 * t)), np.sqrt(1 - np.exp(-2 * t_next))
    c = m * LAM / _sigma2(t)
    e = m * s_next / (m_next * s)
    k, w, b2 = (e * s_next / s, m_next * (1 - e ** 2), s_next ** 2 * (1 - e ** 2)) if stochastic else \
        (s_next / s, m_next - m * s_next / s, 0.0)
    if i == 0 or t_next == 0:
      step = np.array([[k + w * c, 0.0], [c, 0.0]])
    else:
      r = (_half_log_snr(t) - _half_log_snr(times[i - 1])) / (_half_log_snr(t_next) - _half_log_snr(t))
      step = np.array([[k + w * (1 + 0.5 / r) * c, -w * 0.5 / r], [c, 0.0]])
    cov = step @ cov @ step.T + np.diag([b2, 0.0])
  return cov[0, 0]


def _variance_3m_sde(times):
  """SDE-DPM-Solver++(3M) on (x, D_prev, D_prev2), each a row vector over that basis: with e = e^{-h}, H = 2h,
  c0 = 1 - e^2, c1 = 1 - c0 / H, c2 = 1 - 2 c1 / H, x' = e s'/s x + a' (c0 D + c1 D1 + c2 D2) + s' sqrt(c0) z,
  D1 = h (D - D_prev) / h1 on the second step, and on later ones the divided differences
  q0 = h (D - D_prev) / h1, q1 = h (D_prev - D_prev2) / h2, D1 = q0 + (q0 - q1) h1 / (h1 + h2),
  D2 = h (q0 - q1) / (h1 + h2); first order on the first step and on one landing on t = 0 (x' = D)."""
  cov = np.diag([1.0, 0.0, 0.0])
  basis = np.eye(3)
  for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
    d, d_prev, d_prev2 = np.exp(-t) * LAM / _sigma2(t) * basis[0], basis[1], basis[2]
    if t_next == 0:
      x_next, b2 = d, 0.0
    else:
      m_next, s, s_next = np.exp(-t_next), np.sqrt(1 - np.exp(-2 * t)), np.sqrt(1 - np.exp(-2 * t_next))
      h = _half_log_snr(t_next) - _half_log_snr(t)
      e, big = np.exp(-h), 2 * h
      c0 = 1 - e ** 2
      c1 = 1 - c0 / big
      c2 = 1 - 2 * c1 / big
      d1 = d2 = 0.0
      if i >= 1:
        h1 = _half_log_snr(t) - _half_log_snr(times[i - 1])
        q0 = h * (d - d_prev) / h1
        d1 = q0
        if i >= 2:
          h2 = _half_log_snr(times[i - 1]) - _half_log_snr(times[i - 2])
          q1 = h * (d_prev - d_prev2) / h2
          d1 = q0 + (q0 - q1) * h1 / (h1 + h2)
          d2 = h * (q0 - q1) / (h1 + h2)
      x_next, b2 = e * s_next / s * basis[0] + m_next * (c0 * d + c1 * d1 + c2 * d2), s_next ** 2 * c0
    step = np.stack([x_next, d, d_prev])
    cov = step @ cov @ step.T + np.diag([b2, 0.0, 0.0])
  return cov[0, 0]


def closed_form_variance(name, times):
  if name in ("dpm_solver_pp_2m", "dpm_solver_pp_2m_sde"):
    return _variance_2m(times, stochastic=name.endswith("_sde"))
  if name == "dpm_solver_pp_3m_sde":
    return _variance_3m_sde(times)
  v = 1.0
  for t, t_next in zip(times[:-1], times[1:]):
    if name == "euler_maruyama:corrector_steps=1":   # Langevin at t (step 2 (0.16 s)^2), then EM
      e = 2 * (0.16 ** 2) * (1 - np.exp(-2 * t))
      v = (1 - e / _sigma2(t)) ** 2 * v + 2 * e
    a, b2 = _coefficients(name if name.startswith("ddim") else name.split(":")[0], t, t_next)
    v = a * a * v + b2
  return v


SPECS = sorted(solvers.SAMPLERS) + ["ddim:eta=0.5", "euler_maruyama:corrector_steps=1"]


def _sampler(spec, **extra):
  o = dict(solvers.parse_spec(spec), **extra)
  return solvers.make_sampler(o["sampler"], o.get("eta", 0.0), o.get("corrector_steps", 0), o.get("snr", 0.16),
                              o.get("final_denoise", False))


def _stepper(spec):
  return solvers.stepper_of(solvers.parse_spec(spec))


@pytest.fixture(scope="module")
def times():
  return np.asarray(sde.time_grid("quadratic", STEPS, T), np.float64)


@pytest.mark.parametrize("name", SPECS)
def test_sampler_matches_its_discretization(name, times):
  score = lambda x, t: -x / (LAM * jnp.exp(-2 * t) - jnp.expm1(-2 * t))
  run = jax.jit(lambda key: _sampler(name)(
      score, jax.random.normal(jax.random.key(1), (N_SAMPLES,)), jnp.asarray(times, jnp.float32), key))
  empirical = float(jnp.var(run(jax.random.key(2))))
  expected = closed_form_variance(name, times)
  # 4 standard errors of a variance estimate from N_SAMPLES Gaussian samples.
  assert abs(empirical / expected - 1) < 4 * np.sqrt(2 / N_SAMPLES), (name, empirical, expected)
  # With 6 steps the discretization is far from exact, so the check tells samplers apart.
  assert abs(expected / LAM - 1) > 0.05
  # The exact law derived from the solver's own step (float64) is this recursion too.
  _, var = gaussian.sampler_gains(_stepper(name), False, np.array([LAM]), times)
  np.testing.assert_allclose(var, expected, rtol=1e-9)


def test_samplers_differ_from_each_other(times):
  variances = [closed_form_variance(name, times) for name in SPECS]
  assert len({round(v, 4) for v in variances}) == len(variances)


@pytest.mark.parametrize("spec", SPECS)
def test_exact_law_matches_monte_carlo_with_a_mean_and_a_final_denoising_step(spec):
  """N(mu, lam) with mu != 0, a grid ending at t_min > 0 and a Tweedie step: the mean alpha mu and the
  variance of gaussian.sampler_gains equal the jitted sampler's sample moments."""
  mu, lam, n = 1.5, 0.2, 200_000
  grid = sde.time_grid("logsnr", 5, 3.0, t_min=0.01)
  score = lambda x, t: -(x - jnp.exp(-t) * mu) / (lam * jnp.exp(-2 * t) - jnp.expm1(-2 * t))
  x = jax.jit(lambda k: _sampler(spec, final_denoise=True)(score, jax.random.normal(jax.random.key(1), (n,)), grid, k))(
      jax.random.key(2))
  alpha, var = gaussian.sampler_gains(_stepper(spec), True, np.array([lam]), np.asarray(grid, np.float64))
  assert float(jnp.mean(x)) == pytest.approx(alpha[0] * mu, abs=4 * np.sqrt(var[0] / n))
  assert float(jnp.var(x)) == pytest.approx(var[0], rel=4 * np.sqrt(2 / n))


def test_ddim_with_eta_one_is_the_ancestral_sampler(times):
  score = lambda x, t: -x / (LAM * jnp.exp(-2 * t) - jnp.expm1(-2 * t))
  x = jax.random.normal(jax.random.key(1), (1000,))
  grid = jnp.asarray(times, jnp.float32)
  np.testing.assert_allclose(solvers.make_sampler("ddim", eta=1.0)(score, x, grid, jax.random.key(3)),
                             solvers.get_sampler("ancestral")(score, x, grid, jax.random.key(3)), atol=2e-5)


def test_em_law_from_the_step_equals_the_independent_closed_form(times):
  lam = np.array([0.01, 0.3, 2.0, 7.0])
  grids = np.stack([times, np.asarray(sde.time_grid("uniform", STEPS, 5.0), np.float64)])
  for got, want in zip(gaussian.sampler_gains(_stepper("euler_maruyama"), False, lam, grids),
                       gaussian.em_gains(lam, grids)):
    np.testing.assert_allclose(got, want, rtol=1e-9)   # sampler_gains merges values of lam equal to 1e-11


@pytest.mark.parametrize("spec, order, limit", [("ddim", 1, 0.02), ("dpm_solver_pp_2m", 2, 1e-4),
                                                 ("dpm_solver_pp_2m_sde", 2, 3e-4), ("dpm_solver_pp_3m_sde", 2, 1e-4)])
def test_exponential_integrators_are_exact_in_the_limit(spec, order, limit):
  """DDIM(eta = 0), DPM-Solver++(2M) and the SDE forms of (2M) and (3M) with the exact score converge to the
  exact law: mean gain 1 and variance lam (up to the prior's e^{-T} and t_min's s^2 / lam offsets, ~1e-5 here),
  with the error falling as steps^-order (log-SNR grid). (3M)'s law is second order too: along a path of the
  SDE, D(lambda) carries the injected noise and is not smooth, so its quadratic extrapolation gains no order."""
  lam = np.array([0.01, 0.3, 2.0])
  errors = []
  for steps in (64, 256, 1024):
    grid = np.asarray(sde.time_grid("logsnr", steps, 12.0, t_min=1e-8), np.float64)
    alpha, var = gaussian.sampler_gains(_stepper(spec), True, lam, grid)
    errors.append(max(np.abs(alpha - 1).max(), np.abs(var / lam - 1).max()))
  assert errors[-1] < limit, errors
  for coarse, fine in zip(errors, errors[1:]):   # x4 steps: error / 4^order (within a factor 1.6)
    assert coarse / fine > 4 ** order / 1.6, errors


def test_3m_sde_step_integrates_a_quadratic_denoiser_exactly():
  """Its third-order step (two previous values on the grid) with no noise, for a denoiser D(lambda) quadratic
  in half the log-SNR (the score (a D - x) / s^2), equals the exact solution of the reverse SDE's mean,
  x' = e^{-h} (s'/s) x + a' int_0^h 2 e^{-2(h-u)} D(lambda + u) du, by quadrature (float64)."""
  from scipy.integrate import quad
  coef = (0.3, -0.7, 0.25)
  d_of = lambda lam: coef[0] + coef[1] * lam + coef[2] * lam ** 2
  grid = np.array([2.0, 1.1, 0.6, 0.25])
  with jax.enable_x64(True):
    score = lambda x, t: (jnp.exp(-t) * d_of(_half_log_snr(t, jnp)) - x) / -jnp.expm1(-2 * t)
    t_prev = solvers.previous_times(jnp.asarray(grid))
    np.testing.assert_array_equal(t_prev, [[2.0, 2.0], [2.0, 2.0], [1.1, 2.0]])
    x, (t, t_next) = 0.9, grid[2:]
    carry = tuple(jnp.asarray(v) for v in (x, d_of(_half_log_snr(grid[1])), d_of(_half_log_snr(grid[0]))))
    got = _stepper("dpm_solver_pp_3m_sde").step(carry, score, t_prev[2], t, t_next, (jnp.asarray(0.0),))[0]
  h = _half_log_snr(t_next) - _half_log_snr(t)
  integral = quad(lambda u: 2 * np.exp(-2 * (h - u)) * d_of(_half_log_snr(t) + u), 0, h, epsabs=1e-14)[0]
  exact = np.exp(-h) * np.sqrt(-np.expm1(-2 * t_next) / -np.expm1(-2 * t)) * x + np.exp(-t_next) * integral
  assert float(got) == pytest.approx(exact, abs=1e-12)


def test_observed_run_returns_the_same_sample_and_one_observation_per_step(times):
  """solvers.run's `observe` (a diagnostic) sees the state at the start of every step and changes nothing."""
  score = lambda x, t: -x / (LAM * jnp.exp(-2 * t) - jnp.expm1(-2 * t))
  x, grid, key = jax.random.normal(jax.random.key(1), (64,)), jnp.asarray(times, jnp.float32), jax.random.key(2)
  stepper = _stepper("dpm_solver_pp_2m_sde")
  plain = solvers.run(stepper, True, score, x, grid, key)
  out, (norms, ts) = solvers.run(stepper, True, score, x, grid, key, observe=lambda y, t: (jnp.sum(y ** 2), t))
  np.testing.assert_array_equal(out, plain)
  assert norms.shape == (STEPS,) and float(norms[0]) == pytest.approx(float(jnp.sum(x ** 2)), rel=1e-6)
  np.testing.assert_array_equal(ts, grid[:-1])


def test_a_spec_is_the_same_sampler_in_every_config():
  """apply_spec sets what a spec names and resets the rest to configs/default.py's values, whatever sampler the
  config defaults to."""
  defaults = default.get_config().sampling
  assert solvers.SPEC_DEFAULTS == {field: defaults[field] for field in solvers.SPEC_FIELDS}
  sampling = phi4_wsgm.get_config().sampling   # SDE-DPM-Solver++(2M), log-SNR grid, t_min > 0
  assert (sampling.time_grid, sampling.t_min > 0) == ("logsnr", True)
  solvers.apply_spec(sampling, "euler_maruyama:corrector_steps=1")
  assert (sampling.sampler, sampling.corrector_steps, sampling.time_grid, sampling.t_min) == \
      ("euler_maruyama", 1, "quadratic", 0.0)


def test_em_gains_is_the_euler_maruyama_recursion(times):
  _, var = gaussian.em_gains(np.array([LAM]), times)
  np.testing.assert_allclose(var, closed_form_variance("euler_maruyama", times), rtol=1e-12)


def test_em_gains_mean_is_exact_in_the_limit():
  alpha, var = gaussian.em_gains(np.array([0.3, 2.0]), np.asarray(sde.time_grid("uniform", 20000, 8.0), np.float64))
  np.testing.assert_allclose(alpha, 1, atol=2e-3)
  np.testing.assert_allclose(var, [0.3, 2.0], rtol=2e-3)


def test_time_grids():
  for kind in sde.TIME_GRIDS:
    t_min = 1e-3 if kind == "logsnr" else 0.0
    g = np.asarray(sde.time_grid(kind, 8, 5.0, t_min))
    assert g.shape == (9,) and g[0] == pytest.approx(5.0) and g[-1] == t_min and np.all(np.diff(g) < 0)
  np.testing.assert_allclose(sde.time_grid("quadratic", 2, 4.0), [4.0, 1.0, 0.0])
  sigma = lambda t: np.sqrt(np.expm1(2 * np.asarray(t, np.float64)))
  rho = sigma(sde.time_grid("rho", 4, 3.0, 0.01, rho=7.0)) ** (1 / 7)     # EDM: linear in sigma^(1/rho)
  np.testing.assert_allclose(np.diff(rho), np.diff(rho)[0], rtol=1e-4)
  log_sigma = np.log(sigma(sde.time_grid("logsnr", 4, 3.0, 0.01)))     # uniform in log sigma
  np.testing.assert_allclose(np.diff(log_sigma), np.diff(log_sigma)[0], rtol=1e-4)


def test_logsnr_training_times_are_the_logsnr_grid_as_a_distribution():
  """train.time_grid = 'logsnr' maps u to the log-SNR sampling grid's own times (u = 1 -> sde.T, 0 -> train.t_min),
  so u ~ U[0, 1] is uniform in log sigma on [t_min, T]; 'quadratic' keeps t = T u^2 at t_min = 0."""
  u = np.linspace(1.0, 0.0, 17)
  t = np.asarray(sde.train_times(jnp.asarray(u, jnp.float32), 5.0, "logsnr", 1e-3))
  np.testing.assert_allclose(t, sde.time_grid("logsnr", 16, 5.0, 1e-3), rtol=1e-6)
  assert t[0] == pytest.approx(5.0, rel=1e-6) and t[-1] == pytest.approx(1e-3, rel=1e-5)
  draws = np.asarray(sde.train_times(jax.random.uniform(jax.random.key(0), (200_000,)), 5.0, "logsnr", 1e-3))
  lo, hi = np.log(sde.noise_to_signal(np.float64([1e-3, 5.0])))
  share_below = np.mean(np.log(sde.noise_to_signal(draws.astype(np.float64))) < (lo + hi) / 2)
  assert share_below == pytest.approx(0.5, abs=0.005) and draws.min() >= 1e-3 * (1 - 1e-5)
  np.testing.assert_allclose(sde.train_times(jnp.asarray([0.5]), 4.0), [1.0])
  times = sde.config_train_times(_trained_from(1e-3))   # the config's fields: sde.T = 5, logsnr, t_min = 1e-3
  np.testing.assert_array_equal(times(jnp.asarray(u, jnp.float32)), t)


def _trained_from(t_min):
  config = phi4_wsgm.get_config()
  config.train.time_grid, config.train.t_min = "logsnr", t_min
  return config


def test_sampling_horizon_is_sde_T_unless_t_max_is_set():
  """sampling.t_max = 0 starts the grid at the training horizon sde.T; a shorter t_max starts it there (the same
  spacing over the shorter range); a sampler spec sets it like any sampling field."""
  config = phi4_wsgm.get_config()
  config.sampling.t_max, t_min = 0.0, config.sampling.t_min
  np.testing.assert_array_equal(sde.sampling_times(config), sde.time_grid("logsnr", 16, config.sde.T, t_min))
  config.sampling.t_max = 3.0
  grid = np.asarray(sde.sampling_times(config, 8))
  np.testing.assert_array_equal(grid, sde.time_grid("logsnr", 8, 3.0, t_min))
  assert (grid[0], grid[-1]) == (3.0, np.float32(t_min))
  assert solvers.parse_spec("dpm_solver_pp_2m_sde:time_grid=logsnr,t_min=0.001,t_max=3")["t_max"] == 3.0


def _with_t_max(t_max):
  config = phi4_wsgm.get_config()
  config.sampling.t_max = t_max
  return config


def test_perturb_has_the_ou_marginal():
  x0 = jnp.full((200_000,), 2.0)
  xt = sde.perturb(x0, jnp.asarray(0.7), jax.random.normal(jax.random.key(0), x0.shape))
  assert float(jnp.mean(xt)) == pytest.approx(2 * np.exp(-0.7), abs=0.01)
  assert float(jnp.var(xt)) == pytest.approx(1 - np.exp(-1.4), abs=0.01)


@pytest.mark.parametrize("call, message", [
    (lambda: sde.time_grid("uniform", 0, 5.0), "steps=0"),
    (lambda: sde.time_grid("uniform", 4, -1.0), "T=-1.0"),
    (lambda: sde.time_grid("cosine", 4, 5.0), "unknown time grid 'cosine'"),
    (lambda: solvers.get_sampler("dpm"), "unknown sampler 'dpm'"),
    (lambda: solvers.make_sampler("ddim", eta=1.5), "sampling.eta=1.5"),
    (lambda: sde.time_grid("rho", 4, 5.0, rho=0.0), "sampling.rho=0.0"),
    (lambda: sde.time_grid("uniform", 4, 5.0, t_min=5.0), "sampling.t_min=5.0"),
    (lambda: sde.time_grid("uniform", 4, 5.0, t_min=-0.1), "sampling.t_min=-0.1"),
    (lambda: sde.time_grid("logsnr", 4, 5.0), "set sampling.t_min > 0"),
    (lambda: sde.time_grid("rho", 1024, 3.0), "equal in float32"),
    (lambda: sde.train_times(0.5, 5.0, "rho"), "train.time_grid='rho'"),
    (lambda: sde.train_times(0.5, 5.0, "logsnr"), "set train.t_min > 0"),
    (lambda: sde.train_times(0.5, 5.0, "quadratic", 5.0), "train.t_min=5.0: need 0 <= t_min < sde.T=5.0"),
    (lambda: sde.sampling_times(_trained_from(5e-3)), "sampling.t_min=0.003: below train.t_min=0.005"),
    (lambda: sde.config_train_times(_trained_from(0.0)), "set train.t_min > 0"),   # when built, not when drawn
    (lambda: solvers.parse_spec("ddim:eta"), "is not field=value"),
    (lambda: solvers.parse_spec("ddim:steps=4"), "is not field=value"),
    (lambda: solvers.parse_spec("ddim:eta=big"), "eta='big' is not a float"),
    (lambda: solvers.make_sampler("euler_maruyama", corrector_steps=1, snr=0.0), "sampling.snr=0.0"),
    (lambda: sde.sampling_times(_with_t_max(6.0)), "sampling.t_max=6.0: need 0 < t_max <= sde.T=5.0"),
    (lambda: sde.sampling_times(_with_t_max(-1.0)), "sampling.t_max=-1.0"),
    (lambda: sde.sampling_times(_with_t_max(1e-3)), "sampling.t_min=0.003: need 0 <= t_min < T=0.001"),
])
def test_bad_input(call, message):
  with pytest.raises(ValueError, match=message):
    call()
