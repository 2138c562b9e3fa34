"""Structural similarity (Wang et al. 2004) in JAX: differentiable, so it serves as a training loss (WMGM's
1 - SSIM term) and as an evaluation metric. Same definition as scikit-image's default
`structural_similarity` (7x7 uniform window, K1 = 0.01, K2 = 0.03, sample covariances, mean over the
windows that fit inside the image, channels averaged), which the tests compare against.
"""
import jax
import jax.numpy as jnp


def ssim(a: jax.Array, b: jax.Array, data_range: float, window: int = 7) -> jax.Array:
  """Per-image SSIM of NHWC batches a, b: shape (N,)."""
  if a.shape[1] < window or a.shape[2] < window:
    raise ValueError(f"ssim: images {a.shape[1:3]} are smaller than the {window}x{window} window")
  channels = a.shape[-1]
  kernel = jnp.full((window, window, 1, channels), 1.0 / window ** 2, a.dtype)

  def mean(x):   # depthwise uniform filter over the windows that fit inside the image
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=channels)

  n = window ** 2
  unbiased = n / (n - 1.0)
  mu_a, mu_b = mean(a), mean(b)
  var_a = unbiased * (mean(a * a) - mu_a ** 2)
  var_b = unbiased * (mean(b * b) - mu_b ** 2)
  cov = unbiased * (mean(a * b) - mu_a * mu_b)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
  return jnp.mean(s, axis=(1, 2, 3))
