"""Time-conditioned UNet (DDPM / score_sde style) with optional conditioning channels; predicts epsilon.

WSGM uses one per scale: the coarsest is unconditional on the normalized low-pass x_J; each finer one sees
the noisy normalized details (3C channels) concatenated with the normalized low-pass x_j (C channels) at the
same resolution and predicts the 3C-channel noise.

dtype is the compute dtype (model.dtype): with bfloat16 the convolutions, dense layers and attention run in
bfloat16 on float32 parameters (flax casts them per call; GroupNorm's statistics stay float32), and the
output is float32, so the losses, the optimizer and the SDE state never see bfloat16. param_dtype
(model.param_dtype) stores the parameters, and with them the gradients, Adam's moments and the EMA, in that
dtype: bfloat16 halves their memory at the cost of bf16 rounding on every update (float32 is the default
and the tested training path; bf16 parameters are for models that do not fit otherwise).
"""
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.errors import InputError


PADDINGS = ("SAME", "CIRCULAR")


def check_config(m, field: str, grid: int) -> None:
  """UNet fields `m` (named `field` in messages, e.g. "model") against the grid it runs on: every halving
  must divide the grid and every level's width must divide into the GroupNorm groups."""
  mult = tuple(m.channel_mult)
  if grid % 2 ** (len(mult) - 1):
    raise InputError(f"{field}.channel_mult={mult} halves the grid {len(mult) - 1} times; the {grid}x{grid} "
                     f"coarsest grid cannot")
  if m.padding not in PADDINGS:
    raise InputError(f"{field}.padding={m.padding!r}: use one of {PADDINGS} (SAME: zeros beyond the image's "
                     "edges; CIRCULAR: periodic, for fields on a torus)")
  for k in mult:
    if (m.base_channels * k) % m.norm_groups:
      raise InputError(f"{field}.base_channels * {k} is not divisible by {field}.norm_groups={m.norm_groups}")


def noise_feature(t: jax.Array) -> jax.Array:
  """0.25 log sigma of the OU noise-to-signal ratio sigma^2 = e^{2t} - 1 (EDM's c_noise): spreads the
  training times t = T u^2, crowded near 0, evenly over the embedding."""
  return 0.125 * jnp.log(jnp.expm1(2.0 * jnp.maximum(t, 1e-6)))


def sinusoidal_embedding(x: jax.Array, dim: int) -> jax.Array:
  freqs = jnp.exp(jnp.linspace(0.0, jnp.log(1000.0), dim // 2))
  angles = x[:, None] * freqs[None, :]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class ResBlock(nn.Module):
  channels: int
  groups: int
  dropout: float
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  padding: str = "SAME"

  @nn.compact
  def __call__(self, x, temb, train):
    h = nn.swish(nn.GroupNorm(self.groups, dtype=self.dtype, param_dtype=self.param_dtype)(x))
    h = nn.Conv(self.channels, (3, 3), padding=self.padding, dtype=self.dtype, param_dtype=self.param_dtype)(h)
    dense = nn.Dense(self.channels, dtype=self.dtype, param_dtype=self.param_dtype)
    h = h + dense(nn.swish(temb))[:, None, None, :]
    h = nn.swish(nn.GroupNorm(self.groups, dtype=self.dtype, param_dtype=self.param_dtype)(h))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = nn.Conv(self.channels, (3, 3), padding=self.padding, kernel_init=nn.initializers.zeros,
                dtype=self.dtype, param_dtype=self.param_dtype)(h)
    if x.shape[-1] != self.channels:
      x = nn.Conv(self.channels, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return (x + h) / jnp.sqrt(2.0).astype(h.dtype)


class Attention(nn.Module):
  groups: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    n, h, w, c = x.shape
    y = nn.GroupNorm(self.groups, dtype=self.dtype, param_dtype=self.param_dtype)(x).reshape(n, h * w, c)
    y = nn.MultiHeadDotProductAttention(num_heads=1, out_kernel_init=nn.initializers.zeros, dtype=self.dtype,
                                        param_dtype=self.param_dtype)(y)
    return (x + y.reshape(n, h, w, c)) / jnp.sqrt(2.0).astype(y.dtype)


class UNet(nn.Module):
  out_channels: int
  base_channels: int = 32
  channel_mult: Sequence[int] = (1, 2)
  num_res_blocks: int = 1
  attn_resolutions: Sequence[int] = ()
  dropout: float = 0.0
  norm_groups: int = 8
  dtype: Any = jnp.float32        # compute dtype
  param_dtype: Any = jnp.float32  # parameters (and so the optimizer state); float32 unless memory-bound
  padding: str = "SAME"           # every 3x3 convolution's: "SAME" (zeros) or "CIRCULAR" (periodic images)

  @nn.compact
  def __call__(self, x, t, cond: Optional[jax.Array] = None, train: bool = False):
    """x: (N, H, W, C) noisy input; t: (N,) times; cond: (N, H, W, Cc) or None."""
    temb = sinusoidal_embedding(noise_feature(t), self.base_channels)
    dense = lambda features: nn.Dense(features, dtype=self.dtype, param_dtype=self.param_dtype)
    conv = lambda features, **kw: nn.Conv(features, (3, 3), padding=self.padding, dtype=self.dtype,
                                          param_dtype=self.param_dtype, **kw)
    temb = dense(4 * self.base_channels)(nn.swish(dense(4 * self.base_channels)(temb)))
    h = x if cond is None else jnp.concatenate([x, cond], axis=-1)
    h = conv(self.base_channels)(h)
    skips = [h]
    block = lambda ch: ResBlock(ch, self.norm_groups, self.dropout, self.dtype, self.param_dtype, self.padding)
    for level, mult in enumerate(self.channel_mult):
      for _ in range(self.num_res_blocks):
        h = block(self.base_channels * mult)(h, temb, train)
        if h.shape[1] in self.attn_resolutions:
          h = Attention(self.norm_groups, self.dtype, self.param_dtype)(h)
        skips.append(h)
      if level < len(self.channel_mult) - 1:
        h = conv(h.shape[-1], strides=(2, 2))(h)
        skips.append(h)
    h = block(h.shape[-1])(h, temb, train)
    h = Attention(self.norm_groups, self.dtype, self.param_dtype)(h)
    h = block(h.shape[-1])(h, temb, train)
    for level, mult in reversed(list(enumerate(self.channel_mult))):
      for _ in range(self.num_res_blocks + 1):
        h = block(self.base_channels * mult)(jnp.concatenate([h, skips.pop()], axis=-1), temb, train)
        if h.shape[1] in self.attn_resolutions:
          h = Attention(self.norm_groups, self.dtype, self.param_dtype)(h)
      if level > 0:
        n, hh, ww, c = h.shape
        h = conv(c)(jax.image.resize(h, (n, 2 * hh, 2 * ww, c), "nearest"))
    h = nn.swish(nn.GroupNorm(self.norm_groups, dtype=self.dtype, param_dtype=self.param_dtype)(h))
    return conv(self.out_channels, kernel_init=nn.initializers.zeros)(h).astype(jnp.float32)
