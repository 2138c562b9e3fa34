"""Progress lines with rate and ETA, and TensorBoard scalars (tensorboardX: no TensorFlow needed)."""
import time

from absl import logging
import jax


class Progress:
  """Logs `name step/total, metrics, steps/s, ETA` every `every` steps; writes scalars on process 0."""

  def __init__(self, name: str, start: int, total: int, every: int, logdir: str = None):
    self.name, self.total, self.every = name, total, every
    self.last_step, self.last_time = start, time.time()
    self.writer = None
    if logdir and jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self.writer = SummaryWriter(logdir)

  def update(self, step: int, metrics: dict) -> None:
    if step % self.every and step != self.total:
      return
    now = time.time()
    rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    values = ", ".join(f"{k} {float(v):.4f}" for k, v in metrics.items())
    logging.info("%s step %d/%d: %s, %.2f steps/s, ETA %.0fs", self.name, step, self.total, values, rate, eta)
    if self.writer:
      for k, v in metrics.items():
        self.writer.add_scalar(f"{self.name}/{k}", float(v), step)
      self.writer.add_scalar(f"{self.name}/steps_per_sec", rate, step)
      self.writer.flush()

  def close(self) -> None:
    if self.writer:
      self.writer.close()
