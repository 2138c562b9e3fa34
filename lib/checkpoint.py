"""Orbax checkpoints, one CheckpointManager per model (per scale), plus the run's config metadata.

Scales are separate directories so that they can be trained as separate jobs. Orbax writes each step to a
temporary directory and renames it when complete, so a process killed mid-save leaves the previous
checkpoint intact and `latest_step` never points at a partial one. A step damaged afterwards (a deleted or
truncated file) or holding non-finite values is skipped on restore for the newest intact one; training sets
it aside as `corrupt_<step>_<time>` (never deleted), outside orbax's rotation.

One training process per workdir: `workdir_lock` holds WORKDIR/train.lock (pid and host) for the run.
"""
import contextlib
import copy
import json
import logging as logging_std
import os
import socket
import sys
import tempfile
import time
from typing import Iterable, Optional

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from lib import outputs, parallel
from lib.errors import InputError


class _QuietOrbax(logging_std.Filter):
  """Orbax logs every save phase at INFO through absl; keep its warnings and errors only."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or "orbax" not in record.pathname


def quiet_orbax_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietOrbax())


_LOOP_NOISE = ("Traceback (most recent call last):", "asyncio/base_events.py", "self._check_closed()",
               "Event loop is closed", "RuntimeError", ":")


class _UnretrievedRestoreErrors(logging_std.Filter):
  """The same failed restore leaves futures whose exception nobody retrieves; asyncio logs each at
  garbage collection. `restore` reports the failure once itself."""

  def filter(self, record):
    return "Future exception was never retrieved" not in record.getMessage()


def _drop_closed_loop(hook):
  def drop(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
      hook(unraisable)
  drop.drops_closed_loop = True
  return drop


@contextlib.contextmanager
def _without_closed_loop_noise():
  """After a failed orbax restore, tensorstore's completion callbacks for the reads still in flight call into
  orbax's closed asyncio loop and each prints a traceback to file descriptor 2 from a C++ thread (hundreds,
  no way to catch them in Python). Capture fd 2 during the attempt and write back all but those lines."""
  if not getattr(sys.unraisablehook, "drops_closed_loop", False):
    sys.unraisablehook = _drop_closed_loop(sys.unraisablehook)
  asyncio_log = logging_std.getLogger("asyncio")
  if not any(isinstance(f, _UnretrievedRestoreErrors) for f in asyncio_log.filters):
    asyncio_log.addFilter(_UnretrievedRestoreErrors())
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    failed = False
    try:
      yield
    except BaseException:
      failed = True
      raise
    finally:
      if failed:
        time.sleep(0.5)   # let the stragglers land in the capture, not on the terminal
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
              if not any(part in line for part in _LOOP_NOISE[:4]) and line.strip() not in _LOOP_NOISE]
      if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


def manager(directory: str, max_to_keep: int = 3, read_only: bool = False) -> ocp.CheckpointManager:
  """read_only: for sampling and evaluation, which must neither create nor clean up anything."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
                                         cleanup_tmp_directories=not read_only)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)


def all_finite(tree) -> bool:
  return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree.leaves(tree)
             if np.issubdtype(np.asarray(x).dtype, np.inexact))


def _set_aside(mngr: ocp.CheckpointManager, step: int) -> str:
  src = os.path.join(str(mngr.directory), str(step))
  dst = os.path.join(str(mngr.directory), f"corrupt_{step}_{time.strftime('%Y%m%d-%H%M%S')}")
  if outputs.writes():   # process 0 moves it; every process found the same step damaged
    os.rename(src, dst)
  parallel.sync(f"set aside {src}")
  mngr.reload()
  return dst


def restore(mngr: ocp.CheckpointManager, like, step: Optional[int] = None, set_aside: bool = False):
  """Restore `step` (default: the newest intact one) into the structure, shapes, dtypes and shardings of
  `like` (a pytree of arrays or jax.ShapeDtypeStruct). Returns None when there is no checkpoint. A step that
  cannot be read or holds NaN / inf is skipped with one log line (and with set_aside, renamed out of the
  rotation, never deleted); if no step is intact, an InputError names the directory."""
  steps = sorted(mngr.all_steps(), reverse=True) if step is None else [step]
  if not steps:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  for s in steps:
    try:
      with _without_closed_loop_noise():
        state = mngr.restore(s, args=ocp.args.StandardRestore(abstract))
      problem = None if all_finite(state) else "it holds NaN or inf"
    except Exception as e:   # orbax / tensorstore raise many types for damaged files; report, fall back
      problem = f"unreadable: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    if problem is None:
      if s != steps[0]:
        logging.warning("%s: restored step %d, the newest intact checkpoint", mngr.directory, s)
      return state
    where = f"; set aside as {_set_aside(mngr, s)}" if set_aside else ""
    logging.warning("%s: checkpoint step %d skipped, %s%s", mngr.directory, s, problem, where)
  raise InputError(f"no intact checkpoint in {mngr.directory}: steps {steps} are all unreadable or non-finite "
                   "(left on disk)")


@contextlib.contextmanager
def workdir_lock(workdir: str):
  """WORKDIR/train.lock, created exclusively with this process's pid and host, removed on exit. A lock whose
  process is gone (same host) is stale and replaced, with a log line; a live one is an InputError."""
  if not outputs.writes():   # process 0 holds it for the run
    yield
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "train.lock")
  me = f"{os.getpid()} {socket.gethostname()}"
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      break
    except FileExistsError:
      try:
        with open(path) as f:
          pid, host = (f.read().split() + ["", ""])[:2]
      except OSError:
        pid, host = "", ""
      alive = host == socket.gethostname() and pid.isdigit() and _alive(int(pid))
      if alive or (host and host != socket.gethostname()):
        raise InputError(f"workdir {workdir} is being trained by process {pid} on {host or '?'} ({path}); wait for "
                         "it, or remove the lock if that process is gone") from None
      logging.warning("removing stale lock %s (process %s is gone)", path, pid or "?")
      os.remove(path)
  else:
    raise InputError(f"could not take the lock {path}")
  with os.fdopen(fd, "w") as f:
    f.write(me)
  try:
    yield
  finally:
    with contextlib.suppress(OSError):
      os.remove(path)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: tree}


def field_paths(config) -> list:
  """Every leaf field of a config as a dotted path ("train.steps", "data.phi4.beta", ...)."""
  return sorted(_flatten(_as_json(config)))


def _as_json(config) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


# Fields under an architecture prefix that say how a model computes, not what was trained: they may differ
# between the runs of one workdir (float32 weights sampled with bfloat16 compute).
COMPUTE_FIELDS = ("model.dtype",)
# Fields added to the configs after workdirs were made without them: a saved config that lacks one was made
# with this value (what the code did before the field existed).
LATER_FIELDS = {"model.padding": "SAME", "wmgm.generator.padding": "SAME", "data.symmetries": [], "train.t_min": 0.0}


def _saved_config(workdir: str) -> Optional[dict]:
  """WORKDIR/config.json flattened ({"a.b": value}), None if there is none; unreadable: one clear error."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return _flatten(json.load(f))
  except (OSError, ValueError) as e:
    raise InputError(f"{path} is unreadable ({type(e).__name__}: {e}); it records how this workdir was made: "
                     "restore it, or use a new --workdir") from None


_MISSING = object()   # a field one config has and the other has not


def _differences(saved: dict, config, must_match: Iterable[str]) -> list:
  """[(field, saved value, current value)] of the fields under the `must_match` prefixes that differ (a field
  one side lacks: _MISSING on that side)."""
  now = _flatten(_as_json(config))
  saved = {**{k: v for k, v in LATER_FIELDS.items() if k in now}, **saved}
  return [(k, saved.get(k, _MISSING), now.get(k, _MISSING)) for k in sorted(set(saved) | set(now))
          if k not in COMPUTE_FIELDS and any(k == p or k.startswith(p + ".") for p in must_match)
          and saved.get(k, _MISSING) != now.get(k, _MISSING)]


def _flag(field: str, value) -> str:
  """The command-line override that sets `field` to a config.json value: --config.a.b=v."""
  text = repr(tuple(value)) if isinstance(value, list) else str(value)
  return f"--config.{field}={text if text.replace('.', '').replace('-', '').isalnum() else repr(text)}"


def check_config(workdir: str, config, must_match: Iterable[str]) -> None:
  """Refuse (naming the fields, and the flags that would match them) if WORKDIR/config.json differs from
  `config` in any field under the `must_match` prefixes. No saved config: nothing to check."""
  saved = _saved_config(workdir)
  differ = [] if saved is None else _differences(saved, config, must_match)
  if differ:
    shown = lambda v: "(none)" if v is _MISSING else repr(v)
    details = ", ".join(f"{k}: saved {shown(old)} vs given {shown(new)}" for k, old, new in differ)
    flags = " ".join(_flag(k, old) for k, old, new in differ if old is not _MISSING and new is not _MISSING)
    raise InputError(f"workdir {workdir} was made with a different config ({details}); use a new --workdir, or "
                     f"give its values ({flags}), or --from_workdir to take them from its config.json")


def adopt_saved_config(workdir: str, config, must_match: Iterable[str], given: Iterable[str] = ()):
  """`--from_workdir`: a copy of `config` whose fields under the `must_match` prefixes (the models'
  architecture and data) take WORKDIR/config.json's values, except the fields in `given` (the command line's
  --config.X: check_config then refuses those that differ). Returns (config, [(field, saved, was)]). Fields
  are taken one at a time, in order, so that a lazy field (phi^4's pyramid.levels follows data.image_size) is
  compared after what it follows. No config.json, or a saved field this config cannot hold: one clear error."""
  saved = _saved_config(workdir)
  if saved is None:
    raise InputError(f"--from_workdir: {os.path.join(workdir, 'config.json')} does not exist (the workdir has not "
                     "been trained); drop --from_workdir")
  config, given, taken = copy.deepcopy(config), set(given), []
  while True:
    todo = [d for d in _differences(saved, config, must_match)
            if d[0] not in given and d[1] is not _MISSING and d[2] is not _MISSING]
    if not todo:
      return config, taken
    field, value, was = todo[0]
    if any(field == f for f, _, _ in taken):
      raise InputError(f"--from_workdir: {field}={value!r} from {workdir}/config.json cannot be set on this config "
                       f"(it reads {was!r}); give it on the command line")
    *parents, leaf = field.split(".")
    node = config
    for part in parents:
      node = node[part]
    if isinstance(node[leaf], tuple) and isinstance(value, list):   # JSON has lists where configs have tuples
      value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    node[leaf] = value
    taken.append((field, value, was))


def write_or_check_config(workdir: str, config, must_match: Iterable[str]) -> None:
  """First run: write WORKDIR/config.json. Later runs: `check_config`; nothing on disk is touched. Call it
  only once the config and data are known to be good: a failed first run must not lock the workdir."""
  check_config(workdir, config, must_match)
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    os.makedirs(workdir, exist_ok=True)
    outputs.write_json(path, _as_json(config), sort_keys=True)
