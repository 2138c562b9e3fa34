"""Fully convolutional discriminator for WMGM's adversarial detail generator.

Strided convolutions, then a mean over positions: it scores an image of any size, so one discriminator
judges the reconstruction at every scale of the pyramid.
"""
import flax.linen as nn
import jax


class Discriminator(nn.Module):
  width: int = 32
  depth: int = 2          # stride-2 stages; each doubles the channels

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (N, H, W, C) -> (N,) logits, real vs generated."""
    h = nn.leaky_relu(nn.Conv(self.width, (3, 3))(x), 0.2)
    for i in range(self.depth):
      h = nn.leaky_relu(nn.Conv(self.width * 2 ** (i + 1), (4, 4), strides=(2, 2))(h), 0.2)
    h = nn.leaky_relu(nn.Conv(self.width * 2 ** self.depth, (3, 3))(h), 0.2)
    return nn.Dense(1)(h.mean(axis=(1, 2)))[:, 0]
