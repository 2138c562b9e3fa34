"""The learned pipeline through main.py, in subprocesses, as a user (or a preempted job) runs it."""
import json
import os
import subprocess
import sys

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


@pytest.mark.parametrize("levels", [1])   # J = 0 through main.py: tests/test_distributed.py
def test_train_sample_eval_end_to_end(tmp_path, levels):
  w = str(tmp_path)
  common = [f"--workdir={w}", f"--config.pyramid.levels={levels}"]
  ok(run_main("--mode=train", *common))
  names = ["coarse", "scale_1"][:levels + 1]
  assert all(steps_saved(w, n) == [4, 8] for n in names)
  assert os.path.exists(os.path.join(w, "stats.npz")) == bool(levels)
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(w, "coarse", "tb")))
  first = ok(run_main("--mode=sample", *common))
  assert "wrote" in first.stdout   # numbered files, never overwritten: tests/test_robustness.py
  s0 = np.load(os.path.join(w, "samples", "samples_0.npz"))
  assert s0["image"].shape == (8, 16, 16, 1) and np.all(np.isfinite(s0["image"]))
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
    assert "superres_0.npz" in sr.stdout   # a bad sampling.lowpass file: tests/test_robustness.py
    # A workdir trained with a data flag, sampled without repeating it: refused naming the flag, or taken from
    # its config.json with --from_workdir (the adoption rules: tests/test_train.py).
    w2 = str(tmp_path / "seeded")
    ok(run_main("--mode=train", f"--workdir={w2}", "--config.data.seed=1", "--config.train.scale=1"))
    refused = run_main("--mode=sample", f"--workdir={w2}")
    assert refused.returncode != 0 and "give its values (--config.data.seed=1)" in refused.stderr.splitlines()[-1]
    taken = ok(run_main("--mode=sample", f"--workdir={w2}", "--from_workdir", f"--config.sampling.lowpass={tmp_path / 'low.npz'}"))
    assert "data.seed=1 (config: 0)" in taken.stdout and "superres_0.npz" in taken.stdout
