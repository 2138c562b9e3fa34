"""Read a PyTorch `torch.save` archive of tensors (a state_dict) as numpy arrays, without torch.

The zip format (torch >= 1.6): `<prefix>/data.pkl` is a pickle whose tensors are records
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` and whose storages are
persistent ids `('storage', torch.<Type>Storage, key, location, numel)`, the raw little-endian bytes of storage
`key` being the file `<prefix>/data/<key>`.

A pickle can run arbitrary code: `pickle.load` calls whatever global the stream names. This reader resolves
only the few names a state_dict uses (an OrderedDict, the tensor-rebuild records, the storage types), each
mapped to a function of this module, and refuses any other global with an error naming it; nothing from
torch is imported or called.
"""
import collections
import io
import pickle
import zipfile
from typing import Dict

import ml_dtypes
import numpy as np

from lib.errors import InputError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
  def __init__(self, name: str):
    self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *unused):
  """The array a tensor record describes (a copy, so it owns its memory)."""
  del unused   # requires_grad, backward hooks, metadata: meaningless for arrays
  item = storage.dtype.itemsize
  if len(size) and min(size) == 0:
    return np.zeros(size, storage.dtype)
  extent = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
  if offset < 0 or extent > len(storage):
    raise InputError(f"tensor record (offset {offset}, size {tuple(size)}, stride {tuple(stride)}) reaches past its "
                     f"storage of {len(storage)} elements")
  view = np.lib.stride_tricks.as_strided(storage[offset:], tuple(size), tuple(s * item for s in stride))
  return np.array(view)


def _rebuild_parameter(data, requires_grad=None, hooks=None, *unused):
  del requires_grad, hooks, unused
  return data


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
  def __init__(self, stream, archive: zipfile.ZipFile, prefix: str, path: str):
    super().__init__(stream)
    self._archive, self._prefix, self._path, self._storages = archive, prefix, path, {}

  def find_class(self, module, name):
    if (module, name) not in _GLOBALS:
      raise InputError(f"{self._path}: the pickle names {module}.{name}, which a state_dict of tensors never "
                       f"needs; refusing to load it (allowed: {sorted('.'.join(k) for k in _GLOBALS)})")
    return _GLOBALS[(module, name)]

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
      raise InputError(f"{self._path}: unexpected persistent id {pid!r} (want ('storage', type, key, location, numel))")
    _, kind, key, _, numel = pid
    if key not in self._storages:
      name = f"{self._prefix}/data/{key}"
      try:
        raw = self._archive.read(name)
      except KeyError:
        raise InputError(f"{self._path}: storage {name} is missing from the archive") from None
      if len(raw) < numel * kind.dtype.itemsize:
        raise InputError(f"{self._path}: storage {name} holds {len(raw)} bytes, fewer than {numel} x "
                         f"{kind.dtype.itemsize} for its {kind.name}")
      self._storages[key] = np.frombuffer(raw, kind.dtype, numel)
    return self._storages[key]


def load(path: str) -> Dict[str, np.ndarray]:
  """{key: array} of a torch zip archive holding a dict of tensors (a state_dict)."""
  try:
    archive = zipfile.ZipFile(path)
  except (OSError, zipfile.BadZipFile) as e:
    raise InputError(f"{path}: not a readable torch zip archive ({e})") from None
  with archive:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
      raise InputError(f"{path}: expected one <prefix>/data.pkl in the archive, found {pickles}")
    prefix = pickles[0].split("/")[0]
    names = set(archive.namelist())
    if f"{prefix}/byteorder" in names and archive.read(f"{prefix}/byteorder").strip() != b"little":
      raise InputError(f"{path}: big-endian storages are not supported")
    try:
      obj = _Unpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, path).load()
    except InputError:
      raise
    except Exception as e:   # a malformed stream: say which file, in one line
      raise InputError(f"{path}: unreadable pickle ({type(e).__name__}: {e})") from None
  if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
    raise InputError(f"{path}: the archive holds a {type(obj).__name__}, not a dict of tensors (a state_dict)")
  return dict(obj)
