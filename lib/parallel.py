"""Data parallelism: one 1-D device mesh, batch sharded along "data", parameters replicated; jit inserts
the gradient all-reduce. Works the same on 1 CPU, 8 GPUs, a multi-host TPU slice or several processes on one
machine (CPU devices, gloo collectives): every process runs the same program on its share of each batch."""
import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from lib.errors import InputError

# A cluster JAX does not detect by itself (bare GPU hosts, several processes on one machine) is described by
# these three variables, set the same way on every process except the id.
CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def maybe_initialize_distributed(enabled: bool) -> None:
  """config.distributed: connect the processes before anything touches a device. TPU VMs, SLURM and Open MPI
  are detected by JAX; elsewhere CLUSTER_ENV names the coordinator (host:port of process 0), the number of
  processes and this one's id."""
  if not enabled:
    return
  env = {k: os.environ.get(k) for k in CLUSTER_ENV}
  if not env["JAX_NUM_PROCESSES"] and not env["JAX_PROCESS_ID"]:
    jax.distributed.initialize()   # auto-detected cluster (JAX_COORDINATOR_ADDRESS may still be given)
    return
  missing = [k for k, v in env.items() if not v]
  if missing:
    raise InputError(f"--config.distributed=True with {', '.join(f'{k}={v}' for k, v in env.items() if v)}: "
                     f"also set {', '.join(missing)}")
  try:
    count, index = int(env["JAX_NUM_PROCESSES"]), int(env["JAX_PROCESS_ID"])
  except ValueError:
    raise InputError(f"JAX_NUM_PROCESSES={env['JAX_NUM_PROCESSES']!r}, JAX_PROCESS_ID={env['JAX_PROCESS_ID']!r}: "
                     "need integers") from None
  if not 0 <= index < count:
    raise InputError(f"JAX_PROCESS_ID={index}: need 0 <= id < JAX_NUM_PROCESSES={count}")
  jax.distributed.initialize(env["JAX_COORDINATOR_ADDRESS"], count, index)


def sync(name: str) -> None:
  """Every process waits here until all have arrived (a no-op with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def to_host(tree):
  """Device arrays -> numpy on every process: a batch sharded over several processes is gathered whole."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return jax.tree.map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True))
                      if isinstance(x, jax.Array) and not x.is_fully_addressable else np.asarray(x), tree)


def data_mesh() -> jax.sharding.Mesh:
  # Auto axes: jit propagates the batch sharding from the inputs and honours with_sharding_constraint
  # on freshly drawn noise; nothing here needs explicit-sharding types.
  return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_divisible(batch_size: int, field: str) -> None:
  if batch_size % jax.device_count():
    raise InputError(f"{field}={batch_size} is not divisible by the {jax.device_count()} devices")


def global_batch(mesh, local: np.ndarray) -> jax.Array:
  """Assemble the global batch from this process's contiguous share, sharded over the mesh."""
  return jax.make_array_from_process_local_data(batch_sharding(mesh), local)


def gather_examples(local: np.ndarray) -> np.ndarray:
  """Every process's share of a batch (numpy, examples first), concatenated in process order on every process."""
  return local if jax.process_count() == 1 else np.asarray(multihost_utils.process_allgather(local, tiled=True))


def replica_fingerprint(tree) -> float:
  """A number that changes with any parameter: sum over leaves of sum(x * (1 + position / size)), computed by
  this process from its own replica (the first local device's copy), in float64 on the host."""
  total = 0.0
  for leaf in jax.tree.leaves(tree):
    x = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf, np.float64).ravel()
    total += float(np.dot(x, 1.0 + np.arange(x.size) / max(x.size, 1)))
  return total


def check_replicas(tree, what: str) -> float:
  """This process's replica_fingerprint of a replicated pytree; with several processes, all must be equal
  (the same update applied to the same parameters everywhere), or a RuntimeError names them."""
  mine = replica_fingerprint(tree)
  if jax.process_count() > 1:
    every = np.asarray(multihost_utils.process_allgather(np.array([mine]), tiled=True))
    if np.any(every != mine):
      raise RuntimeError(f"{what}: the replicas on the {len(every)} processes differ (fingerprints "
                         f"{', '.join(f'{v:.17g}' for v in every)})")
  return mine
