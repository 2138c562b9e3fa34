"""Bias-free CNN denoiser with a set receptive field (Mohan et al. 2020; Kadkhodaie, Guth, Mallat, Simoncelli
2023).

No additive constant anywhere (convolutions without bias, no normalization offsets, zero padding), so the
network is positively homogeneous: f(a y) = a f(y) for a > 0. The denoiser then generalizes across noise
levels, and its output norm measures the noise it removes, which the stochastic-ascent sampler uses as its
noise estimate. The receptive field is set by how many of the `depth` layers are 3x3 (the rest are 1x1):
RF = 1 + 2 x (#3x3 layers), at a fixed depth and width, so models of different RF have the same depth.

The network predicts the residual (the noise): denoised = y - f(y, cond). Conditional models get the
clean low-pass concatenated to the noisy details, so homogeneity holds jointly in (y, cond).

Two layouts of the 3x3 layers: "even" spreads them evenly over the depth (ours); "authors" is the rule of
the paper's released code (`BF_CNN_RF`, depth 21: layers 0 and 20 are 3x3, layer l in 1..19 is 3x3 when
l % (20 / ((RF - 1) / 2 - 1)) == 0, their RF 9 built with RF = 8 in that formula, which is what gives 9), so
their trained weights load unchanged (wsgm/methods/lcm_pretrained.py). `first_linear` drops the ReLU after the first
layer, as their networks do. Their bias-free batch-norm is x / running_sd * gammas at inference, a per-channel
scale that folds into the preceding convolution, so it needs no layer here.
"""
from typing import Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import InputError


LAYOUTS = ("even", "authors")
AUTHORS_RECEPTIVE_FIELDS = (5, 9, 13, 23, 43)


def authors_kernel_sizes(depth: int, receptive_field: int) -> Tuple[int, ...]:
  """The 1x1 / 3x3 placement of the LCM authors' BF_CNN_RF (see the module docstring), same float arithmetic."""
  if depth != 21 or receptive_field not in AUTHORS_RECEPTIVE_FIELDS:
    raise InputError(f"layout 'authors' with depth={depth}, receptive_field={receptive_field}: the authors' rule is "
                     f"defined for depth 21 and RF in {AUTHORS_RECEPTIVE_FIELDS}")
  rf = 8 if receptive_field == 9 else receptive_field
  period = (depth - 1) / ((rf - 1) / 2 - 1)
  sizes = (3,) + tuple(1 if l % period != 0 else 3 for l in range(1, depth - 1)) + (3,)
  assert 1 + (len(sizes) - sizes.count(1)) * 2 == receptive_field, sizes
  return sizes


def kernel_sizes(depth: int, receptive_field: int, layout: str = "even") -> Tuple[int, ...]:
  """Per-layer kernel side: (RF - 1) / 2 layers of 3x3 spread evenly over `depth` layers, 1x1 elsewhere."""
  if layout not in LAYOUTS:
    raise InputError(f"layout={layout!r}: choose from {LAYOUTS}")
  if layout == "authors":
    return authors_kernel_sizes(depth, receptive_field)
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
  layout: str = "even"          # where the 3x3 layers go (see kernel_sizes)
  first_linear: bool = False    # no ReLU after the first layer (the authors' networks)

  @nn.compact
  def __call__(self, y: jax.Array, cond: Optional[jax.Array] = None) -> jax.Array:
    """y: (N, H, W, C) noisy input; cond: (N, H, W, Cc) clean conditioning or None. Returns the noise."""
    h = y if cond is None else jnp.concatenate([y, cond], axis=-1)
    sizes = kernel_sizes(self.depth, self.receptive_field, self.layout)
    he = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")   # ReLU keeps the signal scale
    for i, k in enumerate(sizes[:-1]):
      h = nn.Conv(self.width, (k, k), use_bias=False, kernel_init=he)(h)
      h = h if (i == 0 and self.first_linear) else nn.relu(h)
    # Zero-initialized output: training starts from the identity denoiser (f = 0) instead of noise.
    k = sizes[-1]
    return nn.Conv(self.out_channels, (k, k), use_bias=False, kernel_init=nn.initializers.zeros)(h)
