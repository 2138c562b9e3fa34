"""Two processes for real (jax.distributed on localhost, gloo CPU collectives, 2 devices each), through the
user's command line: `main.py --config.distributed=True` with JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID. Training is SIGKILLed mid-run, resumed, and must end where one process with 4 devices and one
with 1 device end; sampling in 2 processes writes every image once. The tiny model is pixel-space (J = 0, one
network) to keep the compilations few."""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from lib import checkpoint
from tests.configs import tiny_wsgm
from tests.overrides import override
from wsgm import sampling, train
from wsgm.methods import wsgm as wsgm_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12          # the resumed run's end; the kill comes just after the checkpoint of step 4
ARGS = ["--config=tests/configs/tiny_wsgm.py", "--config.pyramid.levels=0", "--alsologtostderr"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(workdir, mode, steps, processes, log, every=STEPS):
  """`processes` main.py processes sharing 4 CPU devices, checkpointing every `every` steps; returns the Popen
  objects."""
  port, procs = _free_port(), []
  for i in range(processes):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={4 // processes}")
    extra = []
    if processes > 1:
      env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(i))
      extra = ["--config.distributed=True"]
    with open(f"{log}.{i}.log", "w") as out:
      procs.append(subprocess.Popen(
          [sys.executable, "main.py", *ARGS, f"--workdir={workdir}", f"--mode={mode}", f"--config.train.steps={steps}",
           f"--config.train.checkpoint_every={every}", f"--config.train.log_every={every}", *extra],
          cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
  return procs


def _finish(procs, log, timeout=300):
  for i, p in enumerate(procs):
    rc = p.wait(timeout=timeout)
    assert rc == 0, f"{log}: process {i} exited {rc}:\n" + open(f"{log}.{i}.log").read()[-3000:]
  return [open(f"{log}.{i}.log").read() for i in range(len(procs))]


def _steps(workdir):
  directory = os.path.join(workdir, "coarse", "checkpoints")
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit()) if os.path.isdir(directory) else []


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("distributed")
  two, four, log = str(tmp / "two"), str(tmp / "four"), str(tmp / "log")
  # The reference (1 process, 4 devices) runs beside the 2-process run that gets SIGKILLed once its first
  # checkpoint is final; the killed run is resumed to the same step, then samples.
  reference = _launch(four, "train", STEPS, 1, log + "_four")
  killed = _launch(two, "train", 10 ** 6, 2, log + "_killed", every=4)
  deadline = time.time() + 300
  while 4 not in _steps(two) and time.time() < deadline and all(p.poll() is None for p in killed):
    time.sleep(0.05)
  for p in killed:
    p.send_signal(signal.SIGKILL)
    p.wait()
  killed_at = _steps(two)
  assert killed_at and killed_at[-1] < STEPS, (killed_at, open(log + "_killed.0.log").read()[-3000:])
  resumed = _finish(_launch(two, "train", STEPS, 2, log + "_resumed"), log + "_resumed")
  sampled = _finish(_launch(two, "sample", STEPS, 2, log + "_sample"), log + "_sample")
  _finish(reference, log + "_four")
  return dict(two=two, four=four, killed_at=killed_at[-1], resumed=resumed, sampled=sampled, tmp=tmp)


def _config(**overrides):
  return override(tiny_wsgm.get_config(), **{"pyramid.levels": 0, "train.steps": STEPS, **overrides})


def test_killed_two_process_run_resumes_to_the_one_process_parameters(runs):
  assert all(f"coarse: resuming from step {runs['killed_at']}" in text for text in runs["resumed"])
  assert _steps(runs["two"])[-1] == _steps(runs["four"])[-1] == STEPS
  assert not os.path.exists(os.path.join(runs["two"], "stats.npz"))   # J = 0: nothing to standardize
  # Both processes hold the same replica: each logged the fingerprint of its own copy, and the trainer
  # compared them across processes before returning.
  prints = [text.split(f"coarse: trained to step {STEPS}; parameter fingerprint ")[1].split()[0]
            for text in runs["resumed"]]
  assert prints[0] == prints[1], prints
  # 1 device, in this process: the third run of the same global batches.
  one = train.train(_config(), str(runs["tmp"] / "one"), wsgm_method.METHOD)["coarse"]
  restored = {w: checkpoint.restore(checkpoint.manager(os.path.join(runs[w], "coarse", "checkpoints"),
                                                       read_only=True), one, STEPS) for w in ("two", "four")}
  # Same data, same keys, same updates; what may differ is the order in which the 4 per-device partial
  # gradients are summed (over 2 processes by gloo, over 4 devices of one process by XLA, or in one
  # device's reduction): float32 rounding, ~1e-7 relative per step, carried through 12 Adam steps.
  for w, state in restored.items():
    assert int(state.step) == STEPS
    np.testing.assert_allclose(_flat(state.params), _flat(one.params), rtol=0,
                               atol=1e-5 * np.abs(_flat(one.params)).max(), err_msg=w)
  assert not np.array_equal(_flat(one.params), _flat(one.ema_params))   # it trained


def test_two_process_sampling_writes_every_image_once(runs):
  two = runs["two"]
  assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(two, "samples", "*"))) == \
      ["samples_0.npz", "samples_0.png"]
  assert all("wrote" in text for text in runs["sampled"][:1])
  with np.load(os.path.join(two, "samples", "samples_0.npz")) as f:
    mine = f["image"]
  # The same draw in this process (1 device; the noise does not depend on how the batch is sharded).
  config = _config()
  ref = sampling.generate(config, two, config.sampling.num_samples, jax.random.key(config.seed), 1,
                          wsgm_method.METHOD).images
  assert mine.shape == ref.shape == (8, 16, 16, 1)
  # Each image is found exactly once among the 2-process images, and the other way round.
  distance = np.abs(mine[:, None] - ref[None]).reshape(len(mine), len(ref), -1).max(-1)
  match = distance < 1e-3
  assert (match.sum(0) == 1).all() and (match.sum(1) == 1).all(), distance
