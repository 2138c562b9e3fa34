"""Entry point: python main.py --config=configs/X.py --workdir=DIR --mode=train|eval|sample.

Kept short on purpose: all logic lives in importable, testable libraries (wsgm/, lib/).
"""
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from lib import checkpoint, parallel
from lib.errors import InputError
from wsgm import experiments

config_flags.DEFINE_config_file("config", None, "ml_collections config file; override fields as --config.a.b=v")
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and evaluation outputs.")
flags.DEFINE_enum("mode", None, ["train", "eval", "sample"], "What to run.")
flags.mark_flags_as_required(["config", "workdir", "mode"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  checkpoint.quiet_orbax_logs()
  parallel.maybe_initialize_distributed(FLAGS.config.distributed)
  try:
    experiments.run(FLAGS.config, FLAGS.workdir, FLAGS.mode)
  except InputError as e:   # bad config or input: one clear line, non-zero exit, no traceback
    logging.flush()
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
