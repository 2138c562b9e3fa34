"""main.py end to end in a subprocess, as a user runs it."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(*args, timeout=300):
  return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


TINY_GAUSSIAN = ["--config=configs/gaussian_wsgm.py", "--config.gaussian.sizes=(16,32)", "--config.gaussian.steps=(4,8)",
                 "--config.gaussian.T_values=(2.0,5.0)", "--config.gaussian.mc_samples=200"]


def test_gaussian_eval_writes_records_and_plot(tmp_path):
  result = run_main(*TINY_GAUSSIAN, "--mode=eval", f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  records = json.load(open(tmp_path / "eval" / "gaussian.json"))
  assert len(records) == 2 * 2 * 2 * 2   # methods x sizes x steps x T
  assert set(records[0]) >= {"method", "L", "steps", "T", "kl_per_dim", "max_relative_spectral_error"}
  assert {r["method"] for r in records} == {"sgm", "wsgm"}
  assert os.path.getsize(tmp_path / "eval" / "gaussian.png") > 10_000
  assert "SGM spec" in result.stdout and "Monte-Carlo check" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--mode=train"], "--mode=train is not available for experiment 'gaussian'"),
    (["--mode=eval", "--config.pyramid.wavelet=sym"], "unknown wavelet 'sym'"),
    (["--mode=eval", "--from_workdir"], "--from_workdir: experiment 'gaussian' (config 'gaussian_wsgm') trains no models"),
])
def test_bad_mode_or_value_exits_with_one_line(tmp_path, args, message):
  result = run_main(*TINY_GAUSSIAN, f"--workdir={tmp_path}", *args)
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and message in last
  assert "Traceback" not in result.stderr
