"""Progress lines with rate and ETA, and TensorBoard scalars (tensorboardX: no TensorFlow needed)."""
import time

from absl import logging

from lib import outputs


class Progress:
  """Logs `name step/total, metrics, steps/s, ETA` every `every` steps; writes scalars on process 0."""

  def __init__(self, name: str, start: int, total: int, every: int, logdir: str = None):
    self.name, self.total, self.every = name, total, every
    self.last_step, self.last_time = start, time.time()
    self.writer = None
    if logdir and outputs.writes():
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

  def image(self, tag: str, mosaic, step: int) -> None:
    """A (H, W, C) uint8 image (lib/images.viewable_grid) in TensorBoard's images tab."""
    if self.writer:
      self.writer.add_image(f"{self.name}/{tag}", mosaic, step, dataformats="HWC")
      self.writer.flush()

  def close(self) -> None:
    if self.writer:
      self.writer.close()


class Stages:
  """Progress of work done in whole batches, each one compiled call that runs several stages (the scales of
  a coarse-to-fine draw): a log line as each stage of each batch finishes (the call reports it from the
  device through `stage_done`), with the time into the batch and an ETA from the batches already done."""

  def __init__(self, name: str, batches: int, stages: int):
    self.name, self.batches, self.stages = name, batches, stages
    self.batch, self.stage, self.started, self.batch_seconds = 0, 0, time.time(), []

  def start_batch(self, batch: int) -> None:
    self.batch, self.stage, self.started = batch, 0, time.time()

  def stage_done(self, label: str) -> None:
    self.stage += 1
    elapsed = time.time() - self.started
    if self.batch_seconds:
      per_batch = sum(self.batch_seconds) / len(self.batch_seconds)
      eta = f"ETA {max(per_batch * (self.batches - self.batch) - elapsed, 0):.0f}s"
    elif self.batches > 1:
      eta = "ETA after the first batch"
    else:
      eta = "the only batch"
    logging.info("%s batch %d/%d: %s done (stage %d/%d), %.1fs into the batch, %s", self.name, self.batch + 1,
                 self.batches, label, self.stage, self.stages, elapsed, eta)

  def end_batch(self) -> None:
    self.batch_seconds.append(time.time() - self.started)
