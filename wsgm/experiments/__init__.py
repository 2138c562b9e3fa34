"""Which modes each experiment (config.experiment) supports, and the function that runs each."""
import functools

from lib.errors import InputError
from wsgm import evaluation, sampling, train, wmgm
from wsgm.experiments import gaussian_theorem, lcm

MODES = {
    "gaussian": {"eval": gaussian_theorem.evaluate},
    "wsgm": {"train": train.train, "sample": sampling.sample, "eval": evaluation.evaluate},
    "lcm": {"train": lcm.train_models, "sample": lcm.sample, "eval": lcm.evaluate},
    "wmgm": {"train": functools.partial(train.train, method=wmgm.METHOD),
             "sample": functools.partial(sampling.sample, generation=wmgm.GENERATION),
             "eval": functools.partial(evaluation.evaluate, generation=wmgm.GENERATION)},
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
