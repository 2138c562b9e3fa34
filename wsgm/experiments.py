"""Which modes each experiment (config.experiment) supports, and the function that runs each: (config, workdir).

Generative methods (WSGM, WMGM) run the shared trainer, sampler and evaluator with their Method; LCM trains
with the shared trainer and has its own sample and eval (stochastic ascent, denoising); the Gaussian theorem
is an exact computation with an eval mode only.
"""
import functools

from lib.errors import InputError
from wsgm import evaluation, sampling, train
from wsgm.methods import gaussian_theorem, lcm_modes, wmgm, wsgm


def generative_modes(method):
  return {"train": functools.partial(train.train, method=method),
          "sample": functools.partial(sampling.sample, method=method),
          "eval": functools.partial(evaluation.evaluate, method=method)}


MODES = {
    "gaussian": {"eval": gaussian_theorem.evaluate},
    "wsgm": generative_modes(wsgm.METHOD),
    "wmgm": generative_modes(wmgm.METHOD),
    "lcm": {"train": lcm_modes.train_models, "sample": lcm_modes.sample, "eval": lcm_modes.evaluate},
}


# Counts each mode needs to be positive (an empty run would exit 0 having done nothing, or divide by zero).
POSITIVE = {
    "train": ("train.steps", "train.batch_size", "train.log_every", "train.checkpoint_every", "train.max_to_keep"),
    "sample": ("sampling.num_samples", "sampling.batch_size", "sampling.steps"),
    "eval": ("eval.num_samples", "sampling.batch_size", "sampling.steps"),
}


def check_counts(config, mode: str) -> None:
  for path in POSITIVE.get(mode, ()):
    node = config
    for part in path.split("."):
      node = node[part]
    if isinstance(node, bool) or not isinstance(node, int) or node <= 0:
      raise InputError(f"{path}={node!r}: need a positive integer")


def run(config, workdir: str, mode: str) -> None:
  check_counts(config, mode)
  if config.experiment not in MODES:
    raise InputError(f"unknown experiment {config.experiment!r}: choose from {sorted(MODES)}")
  modes = MODES[config.experiment]
  if mode not in modes:
    raise InputError(f"--mode={mode} is not available for experiment {config.experiment!r} "
                     f"(config {config.name!r}); it supports: {', '.join(sorted(modes))}")
  modes[mode](config, workdir)
