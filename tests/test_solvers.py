"""Each sampler, run on a 1-D Gaussian N(0, lam) with its exact score, is a linear recursion
x <- a_k x + b_k z; the output variance of that recursion (written out here independently of the solver
code) must match the variance of the jitted sampler's samples."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
  if name == "ancestral":
    m, m_next = np.exp(-t), np.exp(-t_next)
    var, var_next = 1 - m ** 2, 1 - m_next ** 2
    a2 = (m / m_next) ** 2
    tweedie = (1 - var / _sigma2(t)) / m
    return m_next * (1 - a2) / var * tweedie + np.sqrt(a2) * var_next / var, var_next * (1 - a2) / var
  raise AssertionError(name)


def closed_form_variance(name, times):
  v = 1.0
  for t, t_next in zip(times[:-1], times[1:]):
    a, b2 = _coefficients(name, t, t_next)
    v = a * a * v + b2
  return v


@pytest.fixture(scope="module")
def times():
  return np.asarray(sde.time_grid("quadratic", STEPS, T), np.float64)


@pytest.mark.parametrize("name", sorted(solvers.SAMPLERS))
def test_sampler_matches_its_discretization(name, times):
  score = lambda x, t: -x / (LAM * jnp.exp(-2 * t) - jnp.expm1(-2 * t))
  run = jax.jit(lambda key: solvers.get_sampler(name)(
      score, jax.random.normal(jax.random.key(1), (N_SAMPLES,)), jnp.asarray(times, jnp.float32), key))
  empirical = float(jnp.var(run(jax.random.key(2))))
  expected = closed_form_variance(name, times)
  # 4 standard errors of a variance estimate from N_SAMPLES Gaussian samples.
  assert abs(empirical / expected - 1) < 4 * np.sqrt(2 / N_SAMPLES), (name, empirical, expected)
  # With 6 steps the discretization is far from exact, so the check tells samplers apart.
  assert abs(expected / LAM - 1) > 0.05


def test_samplers_differ_from_each_other(times):
  variances = [closed_form_variance(name, times) for name in sorted(solvers.SAMPLERS)]
  assert len({round(v, 4) for v in variances}) == len(variances)


def test_em_gains_is_the_euler_maruyama_recursion(times):
  _, var = gaussian.em_gains(np.array([LAM]), times)
  np.testing.assert_allclose(var, closed_form_variance("euler_maruyama", times), rtol=1e-12)


def test_em_gains_mean_is_exact_in_the_limit():
  alpha, var = gaussian.em_gains(np.array([0.3, 2.0]), np.asarray(sde.time_grid("uniform", 20000, 8.0), np.float64))
  np.testing.assert_allclose(alpha, 1, atol=2e-3)
  np.testing.assert_allclose(var, [0.3, 2.0], rtol=2e-3)


def test_time_grids():
  for kind in sde.TIME_GRIDS:
    g = np.asarray(sde.time_grid(kind, 8, 5.0))
    assert g.shape == (9,) and g[0] == pytest.approx(5.0) and g[-1] == 0 and np.all(np.diff(g) < 0)
  np.testing.assert_allclose(sde.time_grid("quadratic", 2, 4.0), [4.0, 1.0, 0.0])


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
])
def test_bad_input(call, message):
  with pytest.raises(ValueError, match=message):
    call()
