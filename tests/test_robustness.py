"""Nothing a user wrote is lost, and bad input is one clear line: one test per case of the robustness issue
(divergence, overwriting, a failed first run, silent no-ops, one-line errors, corrupted checkpoints and
caches, concurrent trains, fields that define a checkpoint). Checksums show that no earlier file changed."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lib import checkpoint, outputs
from lib.errors import InputError
from tests.overrides import override
from wsgm import experiments, sampling, train
from wsgm.methods import wsgm as wsgm_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COARSE = {"train.scale": "coarse"}


def checksums(directory) -> dict:
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      out[os.path.relpath(path, directory)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
  return out


@pytest.fixture
def coarse_workdir(tiny_config, tmp_path_factory):
  """A workdir whose coarse model is trained to step 8 (checkpoints 4 and 8)."""
  workdir = str(tmp_path_factory.mktemp("coarse"))
  train.train(override(tiny_config, **COARSE), workdir, wsgm_method.METHOD)
  return workdir


def test_1_a_diverging_run_stops_before_saving_and_keeps_the_good_checkpoints(tiny_config, coarse_workdir):
  before = checksums(coarse_workdir + "/coarse/checkpoints")
  bad = override(tiny_config, **COARSE, **{"train.learning_rate": 1e6, "train.steps": 16})
  with pytest.raises(InputError, match=r"model coarse diverged: non-finite .* step (9|1[0-6]) .*Last good checkpoint: "
                                       r"step 8 .*\(kept\)"):
    train.train(bad, coarse_workdir, wsgm_method.METHOD)
  assert checksums(coarse_workdir + "/coarse/checkpoints") == before
  assert not os.path.exists(os.path.join(coarse_workdir, "train.lock"))   # released on the way out


def test_2_outputs_are_never_overwritten(tmp_path):
  images = np.zeros((2, 4, 4, 1), np.float32)
  first = sampling.save_samples(str(tmp_path), "samples", images)
  second = sampling.save_samples(str(tmp_path), "samples", images + 1)
  os.remove(first)
  kept = checksums(tmp_path)
  third = sampling.save_samples(str(tmp_path), "samples", images + 2)
  assert [os.path.basename(p) for p in (first, second, third)] == ["samples_0.npz", "samples_1.npz", "samples_2.npz"]
  assert all(checksums(tmp_path)[k] == v for k, v in kept.items())
  with pytest.raises(InputError, match="1 of 2 generated images hold NaN"):
    sampling.save_samples(str(tmp_path), "samples", np.stack([images[0], np.full((4, 4, 1), np.nan)]))
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".npz")) == ["samples_1.npz", "samples_2.npz"]
  # eval JSON: one file per run, kept, strict JSON (NaN -> null), plus <name>.json = the newest
  a = outputs.write_json_run(str(tmp_path), "run", {"x": float("nan"), "y": [1.0, float("inf")]})
  b = outputs.write_json_run(str(tmp_path), "run", {"x": 2.0})
  assert json.loads(open(a).read(), parse_constant=lambda c: pytest.fail(f"bare {c}")) == {"x": None, "y": [1.0, None]}
  assert json.load(open(b)) == json.load(open(tmp_path / "run.json")) == {"x": 2.0}


def test_3_a_failed_first_run_does_not_lock_the_workdir(tiny_config, tmp_path):
  with pytest.raises(InputError, match="unknown dataset data.name='mnist'"):
    train.train(override(tiny_config, **COARSE, **{"data.name": "mnist"}), str(tmp_path), wsgm_method.METHOD)
  assert not os.path.exists(tmp_path / "config.json")
  checkpoint.write_or_check_config(str(tmp_path), tiny_config, wsgm_method.ARCHITECTURE_FIELDS)   # a good run may start


@pytest.mark.parametrize("field", ["train.steps", "train.batch_size", "train.log_every", "train.checkpoint_every",
                                   "sampling.num_samples", "sampling.batch_size"])
@pytest.mark.parametrize("value", [0, -5])
def test_4_5_zero_or_negative_counts_are_refused(tiny_config, tmp_path, field, value):
  mode = "train" if field.startswith("train") else "sample"
  with pytest.raises(InputError, match=f"{field}={value}: need a positive integer"):
    experiments.run(override(tiny_config, **{field: value}), str(tmp_path), mode)
  assert not os.listdir(tmp_path)


def test_4_steps_below_the_saved_step_and_non_finite_inputs(tiny_config, coarse_workdir, tmp_path):
  with pytest.raises(InputError, match="train.steps=4 is below model coarse's saved step 8"):
    train.train(override(tiny_config, **COARSE, **{"train.steps": 4}), coarse_workdir, wsgm_method.METHOD)
  low = tmp_path / "low.npz"
  np.savez(low, lowpass=np.full((2, 8, 8, 1), np.nan, np.float32))
  with pytest.raises(InputError, match="holds NaN or inf"):
    sampling.lowpass_input(override(tiny_config, **{"sampling.lowpass": str(low)}))
  stats = os.path.join(coarse_workdir, "stats.npz")
  with np.load(stats) as f:
    arrays = {k: f[k] for k in f.files}
  np.savez(stats, **{k: np.full_like(v, np.nan) for k, v in arrays.items()})
  with pytest.raises(InputError, match="stats.npz holds NaN or inf"):
    train.load_stats(coarse_workdir)


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable .npz"), (b"not a zip at all", "not a readable .npz"),
    ("wrong_channels", r"shape \(2, 8, 8, 3\); need \(N >= 1, h, w, 1\)"), ("no_key", "array named 'lowpass'"),
    ("missing", "sampling.lowpass=.*: no such file")])
def test_5_bad_lowpass_files_are_one_line_and_leave_nothing(tiny_config, tmp_path, content, message):
  path = tmp_path / "low.npz"
  if content == "wrong_channels":
    np.savez(path, lowpass=np.zeros((2, 8, 8, 3), np.float32))
  elif content == "no_key":
    np.savez(path, low=np.zeros((2, 8, 8, 1), np.float32))
  elif content == "missing":
    pass
  else:
    path.write_bytes(content)
  with pytest.raises(InputError, match=message):
    experiments.run(override(tiny_config, **{"sampling.lowpass": str(path)}), str(tmp_path / "w"), "sample")
  assert not os.path.exists(tmp_path / "w" / "samples") or not os.listdir(tmp_path / "w" / "samples")


def test_5_truncated_config_and_stats_are_named(tiny_config, tmp_path):
  (tmp_path / "config.json").write_text('{"model": {"base_')
  with pytest.raises(InputError, match="config.json is unreadable"):
    checkpoint.check_config(str(tmp_path), tiny_config, wsgm_method.ARCHITECTURE_FIELDS)
  (tmp_path / "stats.npz").write_bytes(b"PK\x03\x04trunc")
  with pytest.raises(InputError, match="stats.npz is unreadable"):
    train.load_stats(str(tmp_path))


def run_main(*args):
  return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--config=tests/configs/tiny_wsgm.py", "--config.train.stepz=3"], "unknown config field --config.train.stepz; "
                                                                        "did you mean train.steps"),
    (["--config=configs/no_such_config.py"], "--config=configs/no_such_config.py: no such config file"),
    (["--config=tests/configs/tiny_wsgm.py", "--config.eval.steps_sweep=(2,4)", "--config.eval.steps_sweep=(4,)"],
     "--config.eval.steps_sweep is given 2 times: a tuple field given again is appended to, not replaced "
     "(here (2, 4, 4)); give it once"),
    (["--config=tests/configs/tiny_wsgm.py", "--workdir=/sys/wsgm_read_only/w"], "Operation not permitted"),
    (["--config=tests/configs/tiny_wsgm.py", "--workdir=WORKDIR_IS_A_FILE"], "is a file, not a directory"),
])
def test_5_command_line_errors_are_one_line(tmp_path, args, message):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  args = [a.replace("WORKDIR_IS_A_FILE", str(a_file)) for a in args]
  if not any(a.startswith("--workdir") for a in args):
    args.append(f"--workdir={tmp_path / 'w'}")
  result = run_main(*args, "--mode=train")
  lines = result.stderr.strip().splitlines()
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
  assert lines[-1].startswith("error: ") and message in lines[-1], lines[-3:]
  assert a_file.read_text() == "x"


@pytest.mark.parametrize("bench", ["heldout_loss", "scale_errors", "sampler_per_scale"])
def test_a_bench_with_a_config_flag_refuses_a_repeated_tuple_field(tmp_path, bench):
  """The benchmarks that parse --config themselves check it as main.py does, before touching a workdir."""
  result = subprocess.run([sys.executable, f"bench/{bench}.py", "--config=tests/configs/tiny_wsgm.py",
                           "--config.eval.steps_sweep=(2,4)", "--config.eval.steps_sweep=(4,)",
                           f"--workdir={tmp_path / 'w'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  lines = result.stderr.strip().splitlines()
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
  assert lines[-1] == ("error: --config.eval.steps_sweep is given 2 times: a tuple field given again is appended "
                       "to, not replaced (here (2, 4, 4)); give it once"), lines[-3:]
  assert not os.path.exists(tmp_path / "w")


def _corrupt(step_dir):
  for root, _, files in os.walk(step_dir):
    for name in files:
      if os.sep + "d" + os.sep in os.path.join(root, name) + os.sep or root.endswith(os.sep + "d"):
        open(os.path.join(root, name), "wb").close()


def test_6_a_corrupted_latest_checkpoint_falls_back_and_is_kept(tiny_config, coarse_workdir):
  directory = os.path.join(coarse_workdir, "coarse", "checkpoints")
  _corrupt(os.path.join(directory, "8"))
  damaged = checksums(os.path.join(directory, "8"))
  state = train.train(override(tiny_config, **COARSE, **{"train.steps": 12}), coarse_workdir, wsgm_method.METHOD)["coarse"]
  assert int(state.step) == 12
  names = sorted(os.listdir(directory))
  aside = [n for n in names if n.startswith("corrupt_8_")]
  assert len(aside) == 1 and checksums(os.path.join(directory, aside[0])) == damaged   # kept, byte for byte
  assert {"4", "12"} <= set(names)
  for step in (n for n in os.listdir(directory) if n.isdigit()):                        # nothing intact left
    _corrupt(os.path.join(directory, step))
  with pytest.raises(InputError, match="no intact checkpoint in .* are all unreadable or non-finite"):
    train.train(override(tiny_config, **COARSE, **{"train.steps": 16}), coarse_workdir, wsgm_method.METHOD)


def test_6_a_corrupted_phi4_cache_is_set_aside_and_made_again(tmp_path):
  from lib import phi4
  p = phi4.Phi4(size=4, beta=0.5, lam=1.0, chains=8, samples_per_chain=2, burn_in=200, pilot=200)
  fields = phi4.load_or_generate(p, str(tmp_path))
  path = tmp_path / (p.key() + ".npz")
  path.write_bytes(path.read_bytes()[:100])
  again = phi4.load_or_generate(p, str(tmp_path))
  assert again.shape == fields.shape and np.all(np.isfinite(again))
  assert any(n.startswith(p.key() + ".npz.corrupt-") for n in os.listdir(tmp_path))


def test_7_a_second_train_on_one_workdir_is_refused(tmp_path):
  with checkpoint.workdir_lock(str(tmp_path)):
    with pytest.raises(InputError, match=f"is being trained by process {os.getpid()}"):
      with checkpoint.workdir_lock(str(tmp_path)):
        pass
  assert not os.path.exists(tmp_path / "train.lock")
  gone = subprocess.Popen([sys.executable, "-c", "pass"])
  gone.wait()                                            # a lock left by a process that died is stale
  import socket
  (tmp_path / "train.lock").write_text(f"{gone.pid} {socket.gethostname()}")
  with checkpoint.workdir_lock(str(tmp_path)):
    assert open(tmp_path / "train.lock").read().split()[0] == str(os.getpid())


def test_8_every_data_sde_model_pyramid_field_is_checked_on_resume_or_declared_safe(tiny_config):
  from wsgm.methods import lcm, wmgm

  covered = lambda f, listed: any(f == p or f.startswith(p + ".") for p in listed)
  for section in ("data", "sde", "model", "pyramid"):
    for f in (f for f in checkpoint.field_paths(tiny_config) if f.startswith(section + ".")):
      assert covered(f, wsgm_method.ARCHITECTURE_FIELDS) or f in train.RESUME_SAFE_FIELDS, f
      if section in ("data", "pyramid"):
        assert covered(f, lcm.ARCHITECTURE_FIELDS) or f in train.RESUME_SAFE_FIELDS, f
  assert set(wsgm_method.ARCHITECTURE_FIELDS) <= set(wmgm.ARCHITECTURE_FIELDS)
  assert "train.time_grid" in wsgm_method.ARCHITECTURE_FIELDS
