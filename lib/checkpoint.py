"""Orbax checkpoints, one CheckpointManager per model (per scale), plus the run's config metadata.

Scales are separate directories so that they can be trained as separate jobs. Orbax writes each step to a
temporary directory and renames it when complete, so a process killed mid-save leaves the previous
checkpoint intact and `latest_step` never points at a partial one.
"""
import json
import logging as logging_std
import os
from typing import Iterable, Optional

from absl import logging
import jax
import orbax.checkpoint as ocp

from lib.errors import InputError


class _QuietOrbax(logging_std.Filter):
  """Orbax logs every save phase at INFO through absl; keep its warnings and errors only."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or "orbax" not in record.pathname


def quiet_orbax_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietOrbax())


def manager(directory: str, max_to_keep: int = 3, read_only: bool = False) -> ocp.CheckpointManager:
  """read_only: for sampling and evaluation, which must neither create nor clean up anything."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
                                         cleanup_tmp_directories=not read_only)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)


def restore(mngr: ocp.CheckpointManager, like, step: Optional[int] = None):
  """Restore `step` (default: latest) into the structure, shapes, dtypes and shardings of `like`
  (a pytree of arrays or jax.ShapeDtypeStruct). Returns None when there is no checkpoint."""
  step = mngr.latest_step() if step is None else step
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  return mngr.restore(step, args=ocp.args.StandardRestore(abstract))


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: tree}


def _as_json(config) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def check_config(workdir: str, config, must_match: Iterable[str]) -> None:
  """Refuse (naming the fields) if WORKDIR/config.json differs from `config` in any field under the
  `must_match` prefixes. No saved config: nothing to check."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = _flatten(json.load(f))
  now = _flatten(_as_json(config))
  differ = sorted(k for k in set(saved) | set(now)
                  if any(k == p or k.startswith(p + ".") for p in must_match) and saved.get(k) != now.get(k))
  if differ:
    details = ", ".join(f"{k}: saved {saved.get(k)!r} vs given {now.get(k)!r}" for k in differ)
    raise InputError(f"workdir {workdir} was made with a different config ({details}); use a new --workdir")


def write_or_check_config(workdir: str, config, must_match: Iterable[str]) -> None:
  """First run: write WORKDIR/config.json. Later runs: `check_config`; nothing on disk is touched."""
  check_config(workdir, config, must_match)
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path) and jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(path, "w") as f:
      json.dump(_as_json(config), f, indent=1, sort_keys=True)
