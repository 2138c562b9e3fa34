"""Writing results so that nothing already written is lost: numbered files that are never overwritten,
written atomically (a temporary file renamed into place), and strict JSON.

- `new_path(directory, prefix, ext)` claims `prefix_<k>ext` with k = (largest existing index) + 1, never the
  count of files (deleting samples_0 must not make the next run overwrite samples_1), and creates it
  exclusively, so two processes writing at once get different indices.
- `write_json` maps NaN and infinities to null: Python's json writes bare NaN, which is not JSON.
- With several processes (lib/parallel), process 0 alone writes: every process computes the same gathered
  results, the others return the path they would have written without touching the disk.
"""
import json
import math
import os
import re
import shutil
import tempfile
from typing import Any, Callable

import jax
import numpy as np


def _indices(directory: str, prefix: str, ext: str):
  pattern = re.compile(re.escape(prefix) + r"_(\d+)" + re.escape(ext) + "$")
  for name in os.listdir(directory) if os.path.isdir(directory) else ():
    match = pattern.match(name)
    if match:
      yield int(match.group(1))


def next_index(directory: str, prefix: str, ext: str) -> int:
  return max(_indices(directory, prefix, ext), default=-1) + 1


def writes() -> bool:
  """Whether this process writes files: process 0 of a multi-process run, or the only process."""
  return jax.process_index() == 0


def new_path(directory: str, prefix: str, ext: str) -> str:
  """A fresh `directory/prefix_<k>ext`, created empty (exclusively) so no other writer can take it."""
  index = next_index(directory, prefix, ext)
  if not writes():
    return os.path.join(directory, f"{prefix}_{index}{ext}")
  os.makedirs(directory, exist_ok=True)
  while True:
    path = os.path.join(directory, f"{prefix}_{index}{ext}")
    try:
      os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
      return path
    except FileExistsError:
      index += 1


def atomic_write(path: str, write: Callable[[Any], None], mode: str = "wb") -> str:
  """write(file) into a temporary file beside `path`, then rename it onto `path` (readers never see a
  half-written file; a crash leaves the old content or nothing)."""
  if not writes():
    return path
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, mode) as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def save_npz(path: str, **arrays) -> str:
  return atomic_write(path, lambda f: np.savez(f, **arrays))


def strict(obj):
  """obj with NaN / inf floats (also inside numpy scalars and arrays) replaced by None."""
  if isinstance(obj, dict):
    return {k: strict(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [strict(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return strict(obj.tolist())
  if isinstance(obj, (float, np.floating)):
    return float(obj) if math.isfinite(obj) else None
  if isinstance(obj, np.integer):
    return int(obj)
  if isinstance(obj, np.bool_):
    return bool(obj)
  return obj


def write_json(path: str, obj, **kwargs) -> str:
  text = json.dumps(strict(obj), allow_nan=False, indent=1, **kwargs)
  return atomic_write(path, lambda f: f.write(text), "w")


def write_json_run(directory: str, name: str, obj) -> str:
  """One file per run, `name_<k>.json`, never overwritten, plus `name.json`, a copy of the newest."""
  path = new_path(directory, name, ".json")
  write_json(path, obj)
  write_json(os.path.join(directory, f"{name}.json"), obj)
  return path


def keep_with_run(path: str, run_json: str) -> str:
  """A figure just written to `path` (e.g. eval/quality.png, the newest) also kept beside its run's numbered
  JSON as `<run>_<name>` (eval/phi4_3_quality.png), so the next run's newest copy does not lose it."""
  kept = os.path.join(os.path.dirname(run_json),
                      f"{os.path.splitext(os.path.basename(run_json))[0]}_{os.path.basename(path)}")
  with open(path, "rb") as src:
    atomic_write(kept, lambda f: shutil.copyfileobj(src, f))
  return kept
