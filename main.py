"""Entry point: python main.py --config=configs/X.py --workdir=DIR --mode=train|eval|sample.

Kept short on purpose: all logic lives in importable, testable libraries (wsgm/, lib/).
"""
import difflib
import os
import runpy
import sys

from absl import app, flags, logging
from ml_collections import config_flags

import configs
from lib import checkpoint, parallel
from lib.errors import InputError
from wsgm import experiments

config_flags.DEFINE_config_file("config", None, "ml_collections config file; override fields as --config.a.b=v")
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and evaluation outputs.")
flags.DEFINE_enum("mode", None, ["train", "eval", "sample"], "What to run.")
flags.DEFINE_bool("from_workdir", False, experiments.FROM_WORKDIR_HELP)
flags.mark_flags_as_required(["config", "workdir", "mode"])
FLAGS = flags.FLAGS


def _explain(argv, error) -> str:
  """One line for a command line that does not parse: an unknown --config.X names the closest fields."""
  specs = [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
  overrides = configs.override_names(argv)
  path, _, arg = specs[0].partition(":") if specs else ("", "", "")   # FILE[:ARG], ARG passed to get_config
  if specs and not os.path.isfile(path):
    return f"--config={path}: no such config file"
  try:
    fields = checkpoint.field_paths(runpy.run_path(path)["get_config"](*([arg] if arg else []))) if specs else []
  except InputError as e:   # the config's argument is wrong: its own message
    return f"--config={specs[0]}: {e}"
  except Exception:   # the config file itself is broken: the parser's own message says how
    fields = []
  for name in overrides:
    if fields and name not in fields:
      close = difflib.get_close_matches(name, fields, n=3, cutoff=0.5)
      return f"unknown config field --config.{name}" + (f"; did you mean {', '.join(close)}?" if close else "")
  return " ".join(str(error).split())[:500]


def parse_flags(argv):
  try:
    rest = FLAGS(argv)
    FLAGS.config.name   # the config file loads lazily: fail here, not mid-run
  except Exception as e:   # bad flags or overrides: one line, no traceback
    sys.exit(f"error: {_explain(argv, e)}")
  configs.refuse_repeated_sequence(argv, FLAGS.config)
  return rest


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  if os.path.exists(FLAGS.workdir) and not os.path.isdir(FLAGS.workdir):
    sys.exit(f"error: --workdir={FLAGS.workdir} is a file, not a directory")
  try:
    parallel.maybe_initialize_distributed(FLAGS.config.distributed)
    config = experiments.flag_config(FLAGS, sys.argv)
    experiments.run(config, FLAGS.workdir, FLAGS.mode)
  except InputError as e:   # bad config or input: one clear line, non-zero exit, no traceback
    logging.flush()
    sys.exit(f"error: {e}")
  except OSError as e:      # the workdir is a file, read-only, full...: say so in one line
    logging.flush()
    sys.exit(f"error: {e.strerror or e}: {e.filename or FLAGS.workdir}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
