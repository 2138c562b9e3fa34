"""Probability-flow ODE likelihood (wsgm/likelihood.py) against closed-form Gaussian log-densities."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsgm import gaussian, likelihood, pyramid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))


@pytest.fixture(scope="module")
def field():
  spectrum = gaussian.target_spectrum(8)
  return spectrum, gaussian.sample_field(jax.random.key(0), spectrum, 3)


def _ode(score_fn, x, steps, **kw):
  c = likelihood.LikelihoodConfig(t_min=1e-5, T=8.0, steps=steps, exact_trace=True, **kw)
  return np.asarray(jax.jit(lambda x: likelihood.ode_log_likelihood(score_fn, x, c)["log_p"])(x))


def test_ode_log_density_converges_to_the_closed_form(field):
  """Exact score of a stationary Gaussian field: the error falls ~4x per doubling of the steps (Heun), and at
  128 steps it is below 0.02 nats per 64-pixel field."""
  spectrum, x = field
  closed = likelihood.closed_form_stationary(x, spectrum)
  errors = [np.abs(_ode(gaussian.stationary_score_fn(spectrum), x, n) - closed).max() for n in (32, 64, 128)]
  assert errors[-1] < 0.02, errors
  for coarse, fine in zip(errors, errors[1:]):
    assert 3 < coarse / fine < 5, errors


def test_per_scale_terms_sum_to_the_pixel_likelihood(field):
  """WSGM's factorization with exact per-scale scores: coarse + conditionals + normalization log-Jacobians
  equals the closed-form pixel log-density (and the per-scale dimensions sum to the image's)."""
  spectrum, x = field
  blocks = gaussian.wavelet_blocks(spectrum, "haar", 2)
  coarse = blocks[-1]
  lowpass = gaussian.stationary_score_fn(coarse.lowpass_spectrum / coarse.low_std ** 2)
  scores = {"coarse": lambda y, t, cond: lowpass(y, t)}
  for j, block in enumerate(blocks, start=1):
    scores[f"scale_{j}"] = gaussian.conditional_score_fn(block)
  c = likelihood.LikelihoodConfig(t_min=1e-5, T=8.0, steps=128, exact_trace=True)
  parts = likelihood.pyramid_log_likelihood(x, scores, gaussian.exact_stats(blocks), "haar", 2, c, jax.random.key(0))
  total = sum(np.asarray(v) for v in parts.values())
  np.testing.assert_allclose(total, likelihood.closed_form_stationary(x, spectrum), atol=0.03)
  assert set(parts) == set(pyramid.model_names(2))
  assert sum(likelihood.pyramid_dims(x.shape, 2).values()) == 64


def test_hutchinson_is_unbiased_on_a_small_network():
  """Mean over Rademacher probes of v^T J v equals the exact trace of a small random network's Jacobian
  (two tanh layers on a 4x4 input), within 3 standard errors (the estimator's spread, measured)."""
  k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
  w1, w2 = jax.random.normal(k1, (16, 32)) / 4, jax.random.normal(k2, (32, 16)) / 4
  fn = lambda y: (jnp.tanh(jnp.tanh(y.reshape(len(y), 16) @ w1) @ w2)).reshape(y.shape)
  x = jax.random.normal(k3, (1, 4, 4, 1))
  exact = float(likelihood._trace_exact(fn, x)[0])
  probes = jax.random.rademacher(jax.random.key(4), (2000,) + x.shape, jnp.float32)
  estimates = np.asarray(jax.jit(jax.vmap(lambda v: likelihood._trace_hutchinson(fn, x, [v])[0]))(probes))
  assert np.std(estimates) > 0.1 * abs(exact)        # the estimator is noisy: the check is not trivial
  assert abs(estimates.mean() - exact) < 3 * estimates.std() / np.sqrt(len(estimates))


@pytest.mark.parametrize("settings, message", [
    (dict(t_min=0.0), "t_min=0.0"),
    (dict(t_min=9.0, T=8.0), "t_min=9.0"),
    (dict(probes=0), "probes=0"),
    (dict(steps=0), "steps=0"),
])
def test_bad_settings(settings, message):
  with pytest.raises(ValueError, match=message):
    likelihood.check(likelihood.LikelihoodConfig(**settings))


def test_eval_mode_reports_bits_per_dim_per_scale(tiny_config, trained_workdir):
  """--mode=eval with eval.likelihood on a trained tiny WSGM: the per-scale shares sum to the total, every
  value is finite, and the JSON records the settings; WMGM (no score model for the details) is refused."""
  import json
  from tests.overrides import override
  from wsgm import evaluation
  from wsgm.methods import wmgm, wsgm as wsgm_method
  c = override(tiny_config, **{"eval.likelihood": True, "eval.likelihood_images": 8, "eval.likelihood_steps": 8})
  reference = evaluation.heldout(c, 8).reference
  result = evaluation.likelihood_eval(c, trained_workdir, wsgm_method.METHOD, reference)
  shares = [v["bits_per_dim_share"] for v in result["scales"].values()]
  assert set(result["scales"]) == {"coarse", "scale_1"} and np.all(np.isfinite(shares))
  assert sum(shares) == pytest.approx(result["bits_per_dim"], rel=1e-9) and result["bits_per_dim_se"] > 0
  saved = json.load(open(os.path.join(trained_workdir, "eval", f"{c.name}_likelihood.json")))
  assert saved["settings"]["steps"] == 8 and saved["num_images"] == 8
  with pytest.raises(ValueError, match="no score model at every scale"):
    evaluation.likelihood_eval(c, trained_workdir, wmgm.METHOD, reference)


def test_dequantize_fills_each_8bit_cell_uniformly():
  """x = 2 u / 255 - 1 -> 2 (u + U) / 255 - 1: every value stays in its level's cell [x, x + 2/255), U's mean
  is 1/2 and its variance 1/12 (within 5 standard errors), and the discrete bits/dim add log2(127.5)."""
  u = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1))
  x = jnp.asarray(2 * u / 255 - 1, jnp.float32)
  y = np.asarray(likelihood.dequantize(x, jax.random.key(0)), np.float64)
  fraction = (y - np.asarray(x, np.float64)) * 255 / 2
  assert fraction.min() >= -1e-4 and fraction.max() < 1 + 1e-4
  n = fraction.size
  assert abs(fraction.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n) and abs(fraction.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
  assert likelihood.dequantized_bpd(np.array([-100.0]), 10)[0] == pytest.approx(100 / (10 * np.log(2)) + np.log2(127.5))


def test_eval_dequantizes_8bit_data(tiny_config, trained_workdir, monkeypatch):
  """A dataset of 8-bit levels (here the tiny faces, declared 8-bit) is scored at dequantized points: another
  density value than the raw points', reported with the discrete data's bits/dim (+ log2(127.5)) and its error."""
  from lib import data
  from tests.overrides import override
  from wsgm import evaluation
  from wsgm.methods import wsgm as wsgm_method
  c = override(tiny_config, **{"eval.likelihood": True, "eval.likelihood_images": 8, "eval.likelihood_steps": 8})
  reference = evaluation.heldout(c, 8).reference
  raw = evaluation.likelihood_eval(c, trained_workdir, wsgm_method.METHOD, reference)
  assert "dequantized_bits_per_dim" not in raw
  monkeypatch.setattr(data, "EIGHT_BIT", data.EIGHT_BIT + (c.data.name,))
  result = evaluation.likelihood_eval(c, trained_workdir, wsgm_method.METHOD, reference)
  assert result["dequantization"].startswith("uniform") and result["bits_per_dim"] != raw["bits_per_dim"]
  assert result["dequantized_bits_per_dim"] == pytest.approx(result["bits_per_dim"] + np.log2(127.5), rel=1e-9)
  assert result["dequantized_bits_per_dim_se"] == pytest.approx(result["bits_per_dim_se"], rel=1e-6)
  # Paired comparisons (bench/likelihood_compare.py) take records of the same points only.
  import likelihood_compare as compare
  same = compare.paired(result, result)
  assert same["difference"] == 0 and same["se"] == 0 and same["a"] == result["bits_per_dim"]
  with pytest.raises(ValueError, match="scored different points"):
    compare.paired(result, raw)
