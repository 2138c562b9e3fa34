"""Data parallelism: one 1-D device mesh, batch sharded along "data", parameters replicated; jit inserts
the gradient all-reduce. Works the same on 1 CPU, 8 GPUs or a multi-host TPU slice."""
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from lib.errors import InputError


def maybe_initialize_distributed(enabled: bool) -> None:
  """Multi-host: connect the processes (coordinator address etc. come from the environment on TPU/SLURM)."""
  if enabled:
    jax.distributed.initialize()


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
