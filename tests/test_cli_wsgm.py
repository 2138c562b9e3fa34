"""The learned pipeline through main.py, in subprocesses, as a user (or a preempted job) runs it."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "--config=tests/configs/tiny_wsgm.py"


def run_main(*args, env=None, timeout=300):
  return subprocess.run([sys.executable, "main.py", TINY, *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout, env=env)


def ok(result):
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def steps_saved(workdir, name):
  directory = os.path.join(workdir, name, "checkpoints")
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit()) if os.path.isdir(directory) else []


@pytest.mark.parametrize("levels", [1, 0])
def test_train_sample_eval_end_to_end(tmp_path, levels):
  w = str(tmp_path)
  common = [f"--workdir={w}", f"--config.pyramid.levels={levels}"]
  ok(run_main("--mode=train", *common))
  names = ["coarse", "scale_1"][:levels + 1]
  assert all(steps_saved(w, n) == [4, 8] for n in names)
  assert os.path.exists(os.path.join(w, "stats.npz")) == bool(levels)
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(w, "coarse", "tb")))
  first = ok(run_main("--mode=sample", *common))
  assert "wrote" in first.stdout
  ok(run_main("--mode=sample", *common, "--config.seed=1"))
  s0, s1 = np.load(os.path.join(w, "samples", "samples_0.npz")), np.load(os.path.join(w, "samples", "samples_1.npz"))
  assert s0["image"].shape == (8, 16, 16, 1) and not np.array_equal(s0["image"], s1["image"])   # nothing overwritten
  assert os.path.exists(os.path.join(w, "samples", "samples_0.png"))
  if levels:
    assert s0["lowpass_0"].shape == (8, 8, 8, 1)
    ok(run_main("--mode=eval", *common))
    result = json.load(open(os.path.join(w, "eval", "tiny_wsgm.json")))
    records = result["metrics"]
    assert {"log_spectrum_error", "pixel_histogram_w1", "swd/level_0", "coefficients/scale_1/D",
            "coefficients/lowpass_1"} <= set(records)
    assert all(set(r) >= {"value", "se", "floor", "floor_se", "within"} and r["se"] > 0 and r["floor"] > 0
               for r in records.values())
    assert result["num_reference"] == result["distinct_reference_images"] == 16
    assert all(os.path.exists(os.path.join(w, "eval", f)) for f in ("spectra.png", "samples.png", "data.png"))
    np.savez(tmp_path / "low.npz", lowpass=s0["lowpass_0"])
    sr = ok(run_main("--mode=sample", *common, f"--config.sampling.lowpass={tmp_path / 'low.npz'}"))
    assert "superres_0.npz" in sr.stdout
    bad = run_main("--mode=sample", *common, "--config.sampling.lowpass=/nonexistent.npz")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("error: sampling.lowpass=")


def test_sigkill_mid_training_resumes_from_last_checkpoint(tmp_path):
  w = str(tmp_path)
  args = [sys.executable, "main.py", TINY, "--mode=train", f"--workdir={w}", "--config.train.scale=coarse",
          "--config.train.checkpoint_every=5", "--config.train.log_every=5"]
  proc = subprocess.Popen(args + ["--config.train.steps=100000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not steps_saved(w, "coarse") and time.time() < deadline:
    time.sleep(0.2)
  time.sleep(1.0)          # let it run on past the first checkpoint
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  saved = steps_saved(w, "coarse")
  assert saved and proc.returncode == -signal.SIGKILL
  last = saved[-1]
  result = subprocess.run(args + [f"--config.train.steps={last + 5}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"coarse: resuming from step {last}" in result.stderr
  assert steps_saved(w, "coarse")[-1] == last + 5


DEVICE_SCRIPT = """
import json, jax, jax.numpy as jnp
from tests.configs import tiny_wsgm
from lib import data, parallel
from wsgm import pyramid
from wsgm.methods import wsgm as wsgm_method
c = tiny_wsgm.get_config()
images = data.load_array(c.data, "train")
stats = pyramid.fit_stats(jnp.asarray(images[:64]), "haar", 1)
init_fn, step_fn, _ = wsgm_method.make_steps(c, "scale_1", stats, 1)
mesh = parallel.data_mesh()
state = jax.jit(init_fn, out_shardings=parallel.replicated(mesh))(jax.random.key(0), parallel.global_batch(mesh, images[:8]))
step_fn, losses = jax.jit(step_fn), []
for i in range(3):
  batch = parallel.global_batch(mesh, images[8 * i:8 * i + 8])
  state, loss = step_fn(state, batch)
  losses.append(float(loss["loss"]))
print(json.dumps(dict(devices=jax.device_count(), shards=len(batch.addressable_shards), losses=losses)))
"""


def test_eight_devices_give_the_same_loss_as_one():
  out = {}
  for n in (1, 8):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    result = subprocess.run([sys.executable, "-c", DEVICE_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out[n] = json.loads(result.stdout.strip().splitlines()[-1])
  assert out[8]["devices"] == 8 and out[8]["shards"] == 8 and out[1]["shards"] == 1
  np.testing.assert_allclose(out[8]["losses"], out[1]["losses"], rtol=1e-4)
  assert out[1]["losses"][0] != out[1]["losses"][2]      # the steps really trained
