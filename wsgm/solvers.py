"""Reverse-time samplers for the OU process x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z, as pure functions of a
score function; and LCM's stochastic ascent.

Every sampler has the signature `sampler(score_fn, x_T, times, key) -> x_0` where `score_fn(x, t) ->
grad log p_t(x)` takes a scalar time, `times` is a decreasing grid from T to t_min (see sde.time_grid), and
x_T is drawn by the caller from the N(0, I) prior. With t_min > 0 (`final_denoise`) a last Tweedie step
E[x_0 | x_{t_min}] = (x + s^2 score) / a maps the state to t = 0 (one more network evaluation).

Each sampler is one `Stepper`: a step from t to t_next, written once. `run` scans it over the grid with
random noise (a jitted sampler compiles one step whatever the number of steps); wsgm/gaussian.py
differentiates the same step to get the sampler's exact output law when the score is that of a Gaussian
(every step is then affine in the state, the injected noise and the target's mean).

Notation: a = e^{-t}, s = sqrt(1 - e^{-2t}) (sde.mean_coeff, sde.std), D(x, t) = (x + s^2 score) / a the
denoised (data) prediction, eps = -s score the noise prediction, lambda = log(a / s) half the log-SNR.
"""
from typing import Callable, NamedTuple, Optional

from absl import logging
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from wsgm import sde
from lib.errors import InputError

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]


class Stepper(NamedTuple):
  """step(carry, score_fn, t_prev, t, t_next, noise) -> carry, where carry = (x, history...) starts as
  (x_T,) + (zeros_like(x_T),) * history, noise is a tuple of `noises` standard normal arrays shaped like x,
  and t_prev = (the two previous grid times) from previous_times: the grid's first time where the grid has
  none (multistep methods then fall back to a lower order)."""
  step: Callable
  noises: int
  history: int = 0


def previous_times(times: jax.Array) -> jax.Array:
  """(steps, 2): for the step from times[i], (times[i - 1], times[i - 2]), each times[0] before the grid starts.
  What solvers.run and gaussian.sampler_gains scan the steppers with."""
  i = np.arange(times.shape[0] - 1)
  return jnp.stack([times[np.maximum(i - 1, 0)], times[np.maximum(i - 2, 0)]], axis=1)


def denoised(score_fn: ScoreFn, x: jax.Array, t) -> jax.Array:
  """Tweedie: E[x_0 | x_t = x] = (x + s^2 score) / a."""
  return (x + sde.std(t) ** 2 * score_fn(x, t)) / sde.mean_coeff(t)


def _euler_maruyama(carry, score_fn, t_prev, t, t_next, noise):
  """Reverse SDE dx = [x + 2 score] ds + sqrt(2) dW, score taken at the start of each step."""
  (x,), h = carry, t - t_next
  return (x + h * (x + 2.0 * score_fn(x, t)) + jnp.sqrt(2.0 * h) * noise[0],)


def _ancestral(carry, score_fn, t_prev, t, t_next, noise):
  """DDPM-style: estimate x_0 by Tweedie, then draw x_{t_next} from the exact OU posterior
  q(x_{t_next} | x_t, x_0). The last step (t_next = 0) returns the Tweedie estimate itself."""
  (x,) = carry
  m, m_next = sde.mean_coeff(t), sde.mean_coeff(t_next)
  var, var_next = sde.std(t) ** 2, sde.std(t_next) ** 2
  a2 = (m / m_next) ** 2                      # squared decay of the forward step t_next -> t
  x0_hat = (x + var * score_fn(x, t)) / m
  mean = m_next * (1.0 - a2) / var * x0_hat + jnp.sqrt(a2) * var_next / var * x
  return (mean + jnp.sqrt(var_next * (1.0 - a2) / var) * noise[0],)


def _flow(score_fn, x, t):
  """Probability-flow velocity in reverse time: dx/ds = x + score(x, t)."""
  return x + score_fn(x, t)


def _ode_euler(carry, score_fn, t_prev, t, t_next, noise):
  """Deterministic probability-flow ODE, explicit Euler."""
  (x,) = carry
  return (x + (t - t_next) * _flow(score_fn, x, t),)


def _ode_heun(carry, score_fn, t_prev, t, t_next, noise):
  """Probability-flow ODE, Heun's 2nd-order method; the step that lands on t = 0 stays Euler because an
  epsilon-parametrized score is undefined there (std(0) = 0)."""
  (x,), h = carry, t - t_next
  d = _flow(score_fn, x, t)
  x_euler = x + h * d
  t_safe = jnp.where(t_next > 0, t_next, t)   # never evaluate the score at t = 0
  x_heun = x + 0.5 * h * (d + _flow(score_fn, x_euler, t_safe))
  return (jnp.where(t_next > 0, x_heun, x_euler),)


def _ddim(eta: float):
  def step(carry, score_fn, t_prev, t, t_next, noise):
    """DDIM (Song et al. 2021) for the OU process: x' = a' D + sqrt(s'^2 - sigma^2) eps + sigma z with
    sigma = eta (s'/s) sqrt(1 - a^2/a'^2). eta = 0 is deterministic and equals DPM-Solver++ first order;
    eta = 1 is the ancestral sampler. Landing on t = 0 it returns D."""
    (x,) = carry
    a, s, a_next, s_next = sde.mean_coeff(t), sde.std(t), sde.mean_coeff(t_next), sde.std(t_next)
    score = score_fn(x, t)
    d, eps = (x + s ** 2 * score) / a, -s * score
    sigma = eta * s_next / s * jnp.sqrt(jnp.maximum(1.0 - (a / a_next) ** 2, 0.0))
    out = a_next * d + jnp.sqrt(jnp.maximum(s_next ** 2 - sigma ** 2, 0.0)) * eps
    return (out + sigma * noise[0],) if eta else (out,)
  return step


def _half_log_snr(t):
  return jnp.log(sde.mean_coeff(t) / sde.std(t))


def _multistep_ratios(t_prev, t, t_next):
  """What the multistep solvers share: h = lambda' - lambda and the ratios r0 = (lambda - lambda_-1) / h,
  r1 = (lambda_-1 - lambda_-2) / h of the previous grid times t_prev = (t_-1, t_-2), with the masks `second`
  (there is a t_-1 and the step does not land on t = 0, lambda' = inf) and `third` (there is a t_-2 too).
  Where masked out they are 1 (finite, unused)."""
  tp1, tp2 = t_prev[0], t_prev[1]
  second = (tp1 > t) & (t_next > 0)
  third = second & (tp2 > tp1)
  lam = _half_log_snr(t)
  lam1 = _half_log_snr(jnp.where(second, tp1, 1.0))
  h = jnp.where(t_next > 0, _half_log_snr(jnp.where(t_next > 0, t_next, 1.0)) - lam, 1.0)
  r0 = jnp.where(second, (lam - lam1) / h, 1.0)
  r1 = jnp.where(third, (lam1 - _half_log_snr(jnp.where(third, tp2, 1.0))) / h, 1.0)
  return second, third, h, r0, r1


def _sde_kernel(t, t_next):
  """The reverse SDE's exponential integrator over one step: e^{-h} = a s' / (a' s) (exactly 0 landing on
  t = 0) and 1 - e^{-2h} (1 there), the weight of the data prediction and the injected noise's variance."""
  decay = sde.mean_coeff(t) * sde.std(t_next) / (sde.mean_coeff(t_next) * sde.std(t))
  keep = jnp.where(decay > 0, -jnp.expm1(2.0 * jnp.log(jnp.where(decay > 0, decay, 1.0))), 1.0)
  return decay, keep


def _second_order_denoised(score_fn, x, d_prev, t_prev, t, t_next):
  """What both forms of DPM-Solver++(2M) share: D = D(x, t) and the multistep estimate D + (D - D_prev) / (2r),
  r = (lambda - lambda_prev) / h, h = lambda' - lambda. The first step (no D_prev) and the one landing on
  t = 0 (lambda' = inf) use D itself (first order)."""
  d = denoised(score_fn, x, t)
  second, _, _, r, _ = _multistep_ratios(t_prev, t, t_next)
  return d, jnp.where(second, d + (0.5 / r) * (d - d_prev), d)


def _dpm_solver_pp_2m(carry, score_fn, t_prev, t, t_next, noise):
  """DPM-Solver++(2M) (Lu et al. 2022), multistep in the data prediction: with h = lambda' - lambda and
  r = (lambda - lambda_prev) / h, x' = (s'/s) x + a' (1 - e^{-h}) [(1 + 1/(2r)) D - D_prev / (2r)]. The first
  step, and the last one when it lands on t = 0 (lambda' = inf), are first order (= DDIM, eta = 0)."""
  x, d_prev = carry
  a, s, a_next, s_next = sde.mean_coeff(t), sde.std(t), sde.mean_coeff(t_next), sde.std(t_next)
  d, d_use = _second_order_denoised(score_fn, x, d_prev, t_prev, t, t_next)
  return (s_next / s * x + (a_next - a * s_next / s) * d_use, d)


def _dpm_solver_pp_2m_sde(carry, score_fn, t_prev, t, t_next, noise):
  """SDE-DPM-Solver++(2M) (Lu et al. 2022, the reverse SDE's exponential integrator in the data prediction;
  k-diffusion's dpmpp_2m_sde, midpoint form): with e^{-h} = a s' / (a' s),
  x' = (s'/s) e^{-h} x + a' (1 - e^{-2h}) [D + (D - D_prev) / (2r)] + s' sqrt(1 - e^{-2h}) z.
  Its first order (the first step, and the last one when it lands on t = 0) is the ancestral sampler."""
  x, d_prev = carry
  s, a_next, s_next = sde.std(t), sde.mean_coeff(t_next), sde.std(t_next)
  d, d_use = _second_order_denoised(score_fn, x, d_prev, t_prev, t, t_next)
  decay, keep = _sde_kernel(t, t_next)
  return (decay * s_next / s * x + a_next * keep * d_use + s_next * jnp.sqrt(keep) * noise[0], d)


def _dpm_solver_pp_3m_sde(carry, score_fn, t_prev, t, t_next, noise):
  """SDE-DPM-Solver++(3M): the reverse SDE's exponential integrator in the data prediction with D(lambda)
  extrapolated by the quadratic through the last three denoised values. With u = lambda - lambda_t in [0, h],
  h = lambda' - lambda_t and H = 2h, the exact step for a given D(lambda) is
  x' = e^{-h} (s'/s) x + a' int_0^h 2 e^{-2(h-u)} D(lambda_t + u) du + s' sqrt(1 - e^{-H}) z, and with
  D(lambda_t + u) = D + (u/h) D1 + (u/h)^2 D2 the integral is c0 D + c1 D1 + c2 D2, c0 = 1 - e^{-H},
  c1 = 1 - c0 / H, c2 = 1 - 2 c1 / H (exact for a quadratic D: tested by quadrature). D1 and D2 (= h D' and
  h^2 D'' / 2 at lambda_t) are the divided differences on the non-uniform lambda grid, as in DPM-Solver++(3M)
  (Lu et al. 2022); k-diffusion's dpmpp_3m_sde weighs D2 by -phi_3 = 1/2 - c1 / H = c2 / 2, half the exact
  weight. Its law on Gaussians is still second order in the steps (tests/test_solvers.py). Second order
  (D2 = 0, D1 = h (D - D_prev) / h1) on the second step, first (the ancestral sampler) on the first and on one
  landing on t = 0."""
  x, d1, d2 = carry
  d = denoised(score_fn, x, t)
  second, third, h, r0, r1 = _multistep_ratios(t_prev, t, t_next)
  slope0, slope1 = (d - d1) / r0, (d1 - d2) / r1
  first_term = jnp.where(third, slope0 + (slope0 - slope1) * r0 / (r0 + r1), jnp.where(second, slope0, 0.0))
  second_term = jnp.where(third, (slope0 - slope1) / (r0 + r1), 0.0)
  s, a_next, s_next = sde.std(t), sde.mean_coeff(t_next), sde.std(t_next)
  decay, c0 = _sde_kernel(t, t_next)
  H = 2.0 * h
  c1 = 1.0 - c0 / H
  c2 = 1.0 - 2.0 * c1 / H
  drift = a_next * (c0 * d + c1 * first_term + c2 * second_term)
  return (decay * s_next / s * x + drift + s_next * jnp.sqrt(c0) * noise[0], d, d1)


def _with_corrector(stepper: Stepper, steps: int, snr: float) -> Stepper:
  """Predictor-corrector (Song et al. 2021): before each predictor step, `steps` Langevin steps at time t,
  x <- x + e score + sqrt(2 e) z. Their step e = 2 (r ||z|| / ||score||)^2 uses the norms of the sample;
  here ||score|| is that of pure noise, sqrt(d) / s(t), so e = 2 r^2 s(t)^2: a fixed function of t that keeps
  the sampler affine in its state (exactly analysable on Gaussians) at a signal-to-noise ratio r = snr."""
  def step(carry, score_fn, t_prev, t, t_next, noise):
    x, e = carry[0], 2.0 * (snr * sde.std(t)) ** 2
    for z in noise[stepper.noises:]:
      x = x + e * score_fn(x, t) + jnp.sqrt(2.0 * e) * z
    return stepper.step((x,) + tuple(carry[1:]), score_fn, t_prev, t, t_next, noise[:stepper.noises])
  return Stepper(step, stepper.noises + steps, stepper.history)


STEPPERS = {
    "euler_maruyama": lambda eta: Stepper(_euler_maruyama, 1),
    "ancestral": lambda eta: Stepper(_ancestral, 1),
    "ode_euler": lambda eta: Stepper(_ode_euler, 0),
    "ode_heun": lambda eta: Stepper(_ode_heun, 0),
    "ddim": lambda eta: Stepper(_ddim(eta), 1 if eta else 0),
    "dpm_solver_pp_2m": lambda eta: Stepper(_dpm_solver_pp_2m, 0, 1),
    "dpm_solver_pp_2m_sde": lambda eta: Stepper(_dpm_solver_pp_2m_sde, 1, 1),
    "dpm_solver_pp_3m_sde": lambda eta: Stepper(_dpm_solver_pp_3m_sde, 1, 2),
}


def make_stepper(name: str, eta: float = 0.0, corrector_steps: int = 0, snr: float = 0.16) -> Stepper:
  if name not in STEPPERS:
    raise InputError(f"unknown sampler {name!r}: choose from {sorted(STEPPERS)}")
  if not 0.0 <= eta <= 1.0:
    raise InputError(f"sampling.eta={eta}: need 0 <= eta <= 1 (0 = deterministic DDIM, 1 = ancestral)")
  if corrector_steps < 0 or (corrector_steps and not snr > 0):
    raise InputError(f"sampling.corrector_steps={corrector_steps}, sampling.snr={snr}: need steps >= 0 and "
                     "snr > 0")
  stepper = STEPPERS[name](float(eta))
  return _with_corrector(stepper, corrector_steps, snr) if corrector_steps else stepper


def _noise(key, count, like):
  if count == 1:
    return (jax.random.normal(key, like.shape, like.dtype),)
  return tuple(jax.random.normal(k, like.shape, like.dtype) for k in jax.random.split(key, count))


def run(stepper: Stepper, final_denoise: bool, score_fn: ScoreFn, x: jax.Array, times: jax.Array,
        key: jax.Array, observe: Optional[Callable] = None):
  """Scan `stepper` over `times` (then, with final_denoise, one Tweedie step from times[-1]). With `observe`
  (a diagnostic), returns (x_0, observe(x, t) stacked over the steps, taken at the start of each)."""
  carry = (x,) + (jnp.zeros_like(x),) * stepper.history
  keys = jax.random.split(key, times.shape[0] - 1)
  t_prev = previous_times(times)

  def body(carry, inp):
    tp, t, t_next, k = inp
    seen = observe(carry[0], t) if observe else None
    return stepper.step(carry, score_fn, tp, t, t_next, _noise(k, stepper.noises, carry[0])), seen

  carry, seen = lax.scan(body, carry, (t_prev, times[:-1], times[1:], keys))
  out = denoised(score_fn, carry[0], times[-1]) if final_denoise else carry[0]
  return (out, seen) if observe else out


def make_sampler(name: str, eta: float = 0.0, corrector_steps: int = 0, snr: float = 0.16,
                 final_denoise: bool = False):
  """sampler(score_fn, x_T, times, key) -> x_0."""
  stepper = make_stepper(name, eta, corrector_steps, snr)
  return lambda score_fn, x, times, key: run(stepper, final_denoise, score_fn, x, times, key)


def from_config(s):
  """The sampler config.sampling describes (sampler, eta, corrector_steps, snr; t_min > 0: final Tweedie)."""
  return make_sampler(s.sampler, s.eta, s.corrector_steps, s.snr, s.t_min > 0)


def get_sampler(name: str):
  """The named sampler with its defaults (DDIM: eta = 0)."""
  return make_sampler(name)


euler_maruyama, ancestral, ode_euler, ode_heun = (get_sampler(n) for n in ("euler_maruyama", "ancestral",
                                                                            "ode_euler", "ode_heun"))
SAMPLERS = tuple(sorted(STEPPERS))


def _log_ascent(t, active, level):
  logging.info("stochastic ascent: iteration %d, %d chains running, median level %.4g", int(t), int(active),
               float(np.nanmedian(level)) if np.isfinite(level) else float("nan"))


class AscentResult(NamedTuple):
  sample: jax.Array        # (N, ...)
  iterations: jax.Array    # (N,) denoiser calls each example used before it stopped
  sigma: jax.Array         # (N,) its last effective noise estimate (relative to std(y) with relative_stop)
  diverged: jax.Array      # (N,) bool: stopped because its noise grew (see below), not because it converged


def stochastic_ascent(residual_fn: Callable[[jax.Array], jax.Array], y: jax.Array, key: jax.Array, h0: float,
                      beta: float, sigma_final: float, max_iters: int, fixed_step: bool = False,
                      relative_stop: bool = False, log_every: int = 0) -> AscentResult:
  """Coarse-to-fine LCM's sampler: Kadkhodaie & Simoncelli (2021), Algorithm 1, on a batch.

  residual_fn(y) = f(y) ~ y - E[x | y] is a blind denoiser's noise estimate, so sigma_t = ||f(y)|| / sqrt(d)
  is the effective noise level of y. Each step moves a fraction h_t of the way to the denoised image and
  injects fresh noise gamma_t z so that the effective noise shrinks by (1 - beta h_t):
      y <- y - h_t f(y) + gamma_t z,  gamma_t^2 = ((1 - beta h_t)^2 - (1 - h_t)^2) sigma_t^2,
      h_t = h0 t / (1 + h0 (t - 1)).
  beta = 1 is deterministic ascent; small beta keeps more noise and explores more. Each example stops
  once its sigma_t <= sigma_final (its value is frozen from then on); the loop ends when all have stopped
  or after max_iters iterations. Runs in lax.while_loop, so it jits whatever the number of steps.

  Two variants of the authors' code (their `one_scale_synthesis`): `fixed_step` keeps h_t = h0 (they use it
  for the global low-pass model); `relative_stop` stops once sigma_t <= sigma_final x std(y) of the updated
  state, their rule in SNR terms (20 log10(std(y) / sigma_t) >= 20 log10(1 / sigma_final)).
  log_every > 0 logs the iteration, the chains still running and their median level every that many
  iterations (from inside the loop), so a run of thousands of steps shows progress.

  A learned denoiser can point away from the data far from it (f(y) ~ -c y), and by homogeneity the chain
  then grows geometrically. Or its residual stays small while the state grows: a chain that has not converged
  when h_t nears 1 iterates y <- y - f(y), which can amplify patterns the denoiser takes for signal (seen with
  the LCM authors' released conditional models: stripes of RMS ~10x their starting noise, which a relative
  stop accepts). The ascent only removes noise, so both are divergence: an example whose sigma_t exceeds twice
  its first value, whose RMS exceeds that of its starting state once sigma_t has halved (the start is noise
  above the data's spread), or that is not finite, is stopped and flagged
  `diverged`, keeping its last finite state, so callers can count and exclude it.
  """
  dims = y[0].size
  rms = lambda a: jnp.sqrt(jnp.mean(a.reshape(len(a), -1) ** 2, axis=1))
  rms_start = rms(y)

  def cond(state):
    t, _, level, _, _, _, diverged = state
    return (t <= max_iters) & jnp.any((level > sigma_final) & ~diverged)

  def body(state):
    t, y, level, sigma_first, iterations, key, diverged = state
    key, noise_key = jax.random.split(key)
    active = (level > sigma_final) & ~diverged
    h = h0 if fixed_step else h0 * t / (1.0 + h0 * (t - 1.0))
    f = residual_fn(y)
    sigma_t = jnp.sqrt(jnp.sum(f.reshape(len(f), -1) ** 2, axis=1) / dims)
    sigma_first = jnp.where(t == 1, sigma_t, sigma_first)
    now_diverged = active & ~(sigma_t <= 2.0 * sigma_first)     # also catches NaN
    active = active & ~now_diverged
    gamma = sigma_t * jnp.sqrt(jnp.maximum((1.0 - beta * h) ** 2 - (1.0 - h) ** 2, 0.0))
    expand = lambda a: a.reshape((-1,) + (1,) * (y.ndim - 1))
    y_next = y - h * f + expand(gamma) * jax.random.normal(noise_key, y.shape, y.dtype)
    # checked once sigma_t has halved: before, the state is mostly noise and its RMS fluctuates around start
    grown = active & (sigma_t < 0.5 * sigma_first) & ~(rms(y_next) <= rms_start)
    now_diverged, active = now_diverged | grown, active & ~grown
    level_t = sigma_t / jnp.std(y_next.reshape(len(y), -1), axis=1) if relative_stop else sigma_t
    if log_every:
      lax.cond(t % log_every == 0, lambda: jax.debug.callback(_log_ascent, t, jnp.sum(active),
                                                               jnp.nanmedian(jnp.where(active, level_t, jnp.nan))),
               lambda: None)
    return (t + 1, jnp.where(expand(active), y_next, y), jnp.where(active, level_t, level), sigma_first,
            iterations + active.astype(jnp.int32), key, diverged | now_diverged)

  inf = jnp.full(y.shape[:1], jnp.inf, y.dtype)
  start = (jnp.asarray(1.0, y.dtype), y, inf, inf, jnp.zeros(y.shape[:1], jnp.int32), key,
           jnp.zeros(y.shape[:1], bool))
  _, y, level, _, iterations, _, diverged = lax.while_loop(cond, body, start)
  return AscentResult(y, iterations, level, diverged)


# config.sampling fields a sampler spec may set, with their types.
SPEC_FIELDS = {"eta": float, "corrector_steps": int, "snr": float, "time_grid": str, "rho": float, "t_min": float,
               "t_max": float}


def parse_spec(spec: str) -> dict:
  """'name' or 'name:field=value,...' -> overrides of config.sampling, e.g. 'ddim:eta=0.5' ->
  {'sampler': 'ddim', 'eta': 0.5}; 'dpm_solver_pp_2m:time_grid=rho,t_min=0.002'. Checked here."""
  name, _, rest = spec.partition(":")
  out = {"sampler": name.strip()}
  for item in filter(None, (i.strip() for i in rest.split(","))):
    key, eq, value = item.partition("=")
    if not eq or key.strip() not in SPEC_FIELDS:
      raise InputError(f"sampler spec {spec!r}: {item!r} is not field=value with a field in {sorted(SPEC_FIELDS)}")
    try:
      out[key.strip()] = SPEC_FIELDS[key.strip()](value.strip())
    except ValueError:
      raise InputError(f"sampler spec {spec!r}: {key.strip()}={value.strip()!r} is not a "
                       f"{SPEC_FIELDS[key.strip()].__name__}") from None
  stepper_of(out)   # checks the sampler fields
  return out


# What a sampler spec leaves unnamed: configs/default.py's sampling values (a test keeps them equal), so a spec
# means the same sampler in every config, whatever sampler that config defaults to.
SPEC_DEFAULTS = {"eta": 0.0, "corrector_steps": 0, "snr": 0.16, "time_grid": "quadratic", "rho": 7.0, "t_min": 0.0,
                 "t_max": 0.0}


def apply_spec(sampling, spec: str) -> None:
  """Set config.sampling to the sampler a spec describes: the fields it names, the others at SPEC_DEFAULTS
  (e.g. 'euler_maruyama' is Euler-Maruyama on the quadratic grid to t = 0 in a config defaulting to another)."""
  for field, value in {**SPEC_DEFAULTS, **parse_spec(spec)}.items():
    sampling[field] = value


def apply_spec_to_all(sampling, spec: str) -> None:
  """Every model samples with spec: apply_spec, and sampling.per_scale (models' own samplers, which would
  override it) cleared."""
  apply_spec(sampling, spec)
  sampling.per_scale = ()


def network_evaluations(sampler: str, steps: int, corrector_steps: int = 0, t_min: float = 0.0) -> int:
  """Score evaluations of one scale's sampling (Heun: two per step, one on the step landing on t = 0; the
  corrector's per step; the final Tweedie step when t_min > 0)."""
  heun = sampler == "ode_heun"
  return steps * (1 + corrector_steps + heun) - (heun and t_min == 0) + (t_min > 0)


def stepper_of(spec: dict) -> Stepper:
  """The Stepper of parse_spec's output (the sampler fields it sets; the rest at their defaults)."""
  return make_stepper(spec["sampler"], spec.get("eta", 0.0), spec.get("corrector_steps", 0), spec.get("snr", 0.16))
