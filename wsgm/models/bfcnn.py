"""Bias-free CNN denoiser with a set receptive field (Mohan et al. 2020; Kadkhodaie, Guth, Mallat, Simoncelli
2023).

No additive constant anywhere (convolutions without bias, no normalization offsets, zero padding), so the
network is positively homogeneous: f(a y) = a f(y) for a > 0. The denoiser then generalizes across noise
levels, and its output norm measures the noise it removes, which the stochastic-ascent sampler uses as its
noise estimate. The receptive field is set by how many of the `depth` layers are 3x3 (the rest are 1x1):
RF = 1 + 2 x (#3x3 layers), at a fixed depth and width, so models of different RF have the same depth.

The network predicts the residual (the noise): denoised = y - f(y, cond). Conditional models get the
clean low-pass concatenated to the noisy details, so homogeneity holds jointly in (y, cond).
"""
from typing import Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import InputError


def kernel_sizes(depth: int, receptive_field: int) -> Tuple[int, ...]:
  """Per-layer kernel side: (RF - 1) / 2 layers of 3x3 spread evenly over `depth` layers, 1x1 elsewhere."""
  if receptive_field < 1 or receptive_field % 2 == 0:
    raise InputError(f"receptive_field={receptive_field}: need an odd RF >= 1 (RF = 1 + 2 x #3x3 layers)")
  wide = (receptive_field - 1) // 2
  if wide > depth:
    raise InputError(f"receptive_field={receptive_field} needs {wide} 3x3 layers; depth={depth} has only {depth}")
  positions = set(np.round(np.linspace(0, depth - 1, wide)).astype(int).tolist()) if wide else set()
  return tuple(3 if i in positions else 1 for i in range(depth))


class BiasFreeCNN(nn.Module):
  out_channels: int
  width: int = 64
  depth: int = 21
  receptive_field: int = 43

  @nn.compact
  def __call__(self, y: jax.Array, cond: Optional[jax.Array] = None) -> jax.Array:
    """y: (N, H, W, C) noisy input; cond: (N, H, W, Cc) clean conditioning or None. Returns the noise."""
    h = y if cond is None else jnp.concatenate([y, cond], axis=-1)
    sizes = kernel_sizes(self.depth, self.receptive_field)
    he = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")   # ReLU keeps the signal scale
    for k in sizes[:-1]:
      h = nn.relu(nn.Conv(self.width, (k, k), use_bias=False, kernel_init=he)(h))
    # Zero-initialized output: training starts from the identity denoiser (f = 0) instead of noise.
    k = sizes[-1]
    return nn.Conv(self.out_channels, (k, k), use_bias=False, kernel_init=nn.initializers.zeros)(h)
