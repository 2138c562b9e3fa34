"""Which modes each experiment (config.experiment) supports, and the function that runs each: (config, workdir).

Generative methods (WSGM, WMGM) run the shared trainer, sampler and evaluator with their Method; LCM trains
with the shared trainer and has its own sample and eval (stochastic ascent, denoising); the Gaussian theorem
is an exact computation with an eval mode only.
"""
import functools

import configs
from lib import checkpoint
from lib.errors import InputError
from wsgm import evaluation, sampling, train
from wsgm.methods import gaussian_theorem, lcm, lcm_modes, wmgm, wsgm


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


# The fields that make an experiment's trained models (checked against WORKDIR/config.json; --from_workdir).
ARCHITECTURE_FIELDS = {m.name: m.architecture_fields for m in (wsgm.METHOD, wmgm.METHOD, lcm.METHOD)}
FROM_WORKDIR_HELP = ("Take the fields that made the workdir's models (architecture, pyramid, SDE, data) from "
                     "WORKDIR/config.json instead of repeating its training flags; a --config.X of one of them "
                     "must agree with it.")


def from_workdir(config, workdir: str, argv):
  """`--from_workdir`: `config` with WORKDIR/config.json's architecture and data fields (checkpoint.
  adopt_saved_config), each field taken printed on one line; the command line's --config.X (in argv) are kept."""
  if config.experiment not in ARCHITECTURE_FIELDS:
    raise InputError(f"--from_workdir: experiment {config.experiment!r} (config {config.name!r}) trains no models")
  config, taken = checkpoint.adopt_saved_config(workdir, config, ARCHITECTURE_FIELDS[config.experiment],
                                                configs.override_names(argv))
  line = ", ".join(f"{k}={v!r} (config: {was!r})" for k, v, was in taken) or "nothing differs"
  print(f"from {workdir}/config.json: {line}")
  return config


def flag_config(flag_values, argv):
  """The config of main.py or a benchmark from its parsed flags (--config, --workdir, --from_workdir): --config
  itself, or with --from_workdir the workdir's fields on it (from_workdir)."""
  if flag_values.from_workdir:
    return from_workdir(flag_values.config, flag_values.workdir, argv)
  return flag_values.config


def bench_config(flag_values, argv):
  """A benchmark's start on a trained workdir: a repeated-sequence override refused in one line (as main.py does),
  orbax's logs quieted, and flag_config's config."""
  configs.refuse_repeated_sequence(argv, flag_values.config)
  checkpoint.quiet_orbax_logs()
  return flag_config(flag_values, argv)


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
