"""The LCM authors' released denoisers in our pipeline: the torch-free archive reader (lib/torch_archive.py)
and the mapping onto BiasFreeCNN (wsgm/methods/lcm_pretrained.py).

The fixtures in tests/fixtures were written by torch 2.13 (`torch.save` of a state_dict with DataParallel's
`module.` prefix) from the authors' own classes of their repository's code/network.py, run in a side
environment, with random weights and batch-norm statistics (gains chosen to keep activations of order one):
- lcm_bfcnn_rf13_width4: their conditional BF_CNN_RF (RF 13, 21 layers) of width 4, input [low-pass, 3 bands];
- lcm_bfcnn_low_width4: their low-pass BF_CNN (20 layers, all 3x3, first layer linear) of width 4;
with one fixed input each (NCHW, their channel order) and the output their network gave in eval mode.
"""
import json
import os
import pickle
import shutil
import zipfile

import jax
import numpy as np
import pytest

from lib import torch_archive
from lib.errors import InputError
from tests.overrides import override
from wsgm import experiments
from wsgm.methods import lcm, lcm_pretrained
from wsgm.models.bfcnn import kernel_sizes

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _fixture(name):
  base = os.path.join(FIXTURES, f"lcm_bfcnn_{name}_width4")
  return base + ".pt", np.load(base + "_input.npy"), np.load(base + "_output.npy")


@pytest.mark.parametrize("name, rf, conditional", [("rf13", 13, True), ("low", 41, False)])
def test_imported_network_equals_the_authors_output(name, rf, conditional):
  path, x, expected = _fixture(name)
  model, params, is_conditional = lcm_pretrained.load_archive(path)
  assert (model.receptive_field, model.width, is_conditional) == (rf, 4, conditional)
  out = lcm_pretrained.apply_authors_layout(model, params, x, is_conditional)
  assert out.shape == expected.shape and float(np.std(expected)) > 1e-3
  assert np.max(np.abs(out - expected)) <= 1e-5 * np.max(np.abs(expected))


def test_archive_reads_tensors_with_their_keys_shapes_and_values():
  path, _, _ = _fixture("rf13")
  state = torch_archive.load(path)
  assert len(state) == 21 + 2 * 19 and all(k.startswith("module.") for k in state)
  assert state["module.conv_layers.0.weight"].shape == (4, 4, 3, 3)      # OIHW: 4 kernels, [low, 3 bands] in
  assert state["module.conv_layers.1.weight"].shape == (4, 4, 1, 1)      # layer 1 is 1x1 at RF 13
  assert state["module.BN_layers.0.running_sd"].shape == (1, 4, 1, 1)
  assert np.all(state["module.BN_layers.3.running_sd"] >= 0.5) and state["module.conv_layers.0.weight"].dtype == np.float32


class _RunsCode:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return os.system, (f"touch {self.marker}",)


def _archive(path, payload: bytes, extra=()):
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", payload)
    for name, data in extra:
      z.writestr(name, data)
  return path


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
  marker = tmp_path / "ran"
  payload = pickle.dumps({"module.conv_layers.0.weight": _RunsCode(marker)}, protocol=2)
  path = _archive(tmp_path / "evil.pt", payload)
  with pytest.raises(InputError, match=r"names posix\.system"):
    torch_archive.load(str(path))
  assert not marker.exists()
  # and a plain builtin call: eval is not a tensor-rebuild record either
  path = _archive(tmp_path / "eval.pt", b"\x80\x02cbuiltins\neval\nq\x00X\x05\x00\x00\x001 + 1q\x01\x85q\x02Rq\x03.")
  with pytest.raises(InputError, match=r"names builtins\.eval"):
    torch_archive.load(str(path))


def test_broken_archives_give_one_clear_error(tmp_path):
  path, _, _ = _fixture("rf13")
  (tmp_path / "not_a_zip.pt").write_bytes(b"hello")
  with pytest.raises(InputError, match="not a readable torch zip archive"):
    torch_archive.load(str(tmp_path / "not_a_zip.pt"))
  with zipfile.ZipFile(path) as z:   # drop one storage file
    names = [n for n in z.namelist() if not n.endswith("/data/0")]
    missing = _archive(tmp_path / "missing.pt", z.read(names[[n.endswith("data.pkl") for n in names].index(True)]),
                       [(n.replace(names[0].split("/")[0], "archive"), z.read(n)) for n in names
                        if not n.endswith("data.pkl")])
  with pytest.raises(InputError, match="storage archive/data/0 is missing"):
    torch_archive.load(str(missing))
  with pytest.raises(InputError, match="not a dict of tensors"):
    torch_archive.load(str(_archive(tmp_path / "list.pt", pickle.dumps([1, 2], protocol=2))))


def test_mismatched_state_dicts_name_the_key():
  path, _, _ = _fixture("rf13")
  state = torch_archive.load(path)
  model, channels, conditional = lcm_pretrained.model_from_state(state)
  broken = dict(state)
  del broken["module.BN_layers.7.gammas"]
  with pytest.raises(InputError, match=r"missing \['BN_layers.7.gammas'\]"):
    lcm_pretrained.to_params(broken, model, channels, conditional)
  rf5 = model.clone(receptive_field=5)   # the config says RF 5, the archive holds RF 13
  with pytest.raises(InputError, match=r"conv_layers.4.weight has shape \(4, 4, 3, 3\)"):
    lcm_pretrained.to_params(state, rf5, channels, conditional)


def test_authors_layer_layout():
  """Their rule (layer l in 1..19 is 3x3 iff l % (20 / ((RF - 1) / 2 - 1)) == 0, RF 9 built as 8): the 3x3
  layers sit exactly where the released archives have them, and RF = 1 + 2 x #3x3."""
  expected = {5: [0, 20], 9: [0, 8, 16, 20], 13: [0, 4, 8, 12, 16, 20], 23: list(range(0, 21, 2)),
              43: list(range(21))}
  for rf, positions in expected.items():
    sizes = kernel_sizes(21, rf, "authors")
    assert [i for i, k in enumerate(sizes) if k == 3] == positions and 1 + 2 * len(positions) == rf
  with pytest.raises(InputError, match="depth 21 and RF in"):
    kernel_sizes(21, 7, "authors")
  with pytest.raises(InputError, match="layout='odd'"):
    kernel_sizes(21, 13, "odd")


@pytest.fixture
def weights_dir(tmp_path):
  """A released-models folder with the tiny fixtures in the authors' folder names (J = 2, RF 13)."""
  root = tmp_path / "multi_scale" / "celebA_160x160_gray"
  for folder, name in (("noise_range_0to255_RF_40x40_low", "low"), ("noise_range_0to255_RF_13x13_scale_0", "rf13"),
                       ("noise_range_0to255_RF_13x13_scale_1", "rf13")):
    (root / folder).mkdir(parents=True)
    shutil.copy(_fixture(name)[0], root / folder / "model.pt")
  return root


@pytest.fixture
def pretrained(weights_dir):
  from configs import lcm_celeba160_pretrained
  return override(lcm_celeba160_pretrained.get_config(), **{
      "lcm.weights_dir": str(weights_dir), "lcm.width": 4, "data.image_size": 16, "ascent.max_iters": 12, "ascent.max_iters_details": 12,
      "sampling.num_samples": 2, "sampling.batch_size": 2, "eval.num_samples": 2, "eval.superres_draws": 1,
      "eval.denoise_sigmas": (20,)})


def test_pretrained_config_units_and_start():
  """The authors' noise convention: every model trains on sigma in [0, 1] of its own scale's units, so every
  ascent starts at 1, where our "pixel" convention starts scale j at 2^-j."""
  from configs import lcm_celeba160_pretrained
  c = lcm_celeba160_pretrained.get_config()
  assert lcm.ascent_config(c).sigma_init == (1.0, 1.0, 1.0)
  assert lcm.ascent_config(override(c, **{"lcm.noise_units": "pixel"})).sigma_init == (1.0, 0.5, 0.25)
  with pytest.raises(InputError, match="ascent.stop='sometimes'"):
    lcm.ascent_config(override(c, **{"ascent.stop": "sometimes"}))


def test_released_models_run_through_sample_and_eval(pretrained, tmp_path):
  workdir = str(tmp_path / "run")
  experiments.run(pretrained, workdir, "sample")
  with np.load(os.path.join(workdir, "samples", "samples_0.npz")) as f:
    assert f["image"].shape == (2, 16, 16, 1) and f["lowpass_0"].shape == (2, 4, 4, 1)
    assert np.all(np.isfinite(f["image"]))
    for i in range(3):   # coarse, scale_2, scale_1: each at most max_iters + the final denoising call
      assert np.all((f[f"iterations_{i}"] >= 1) & (f[f"iterations_{i}"] <= 13))
  images = np.asarray(jax.random.uniform(jax.random.key(0), (3, 16, 16, 1)))
  np.savez(tmp_path / "images.npz", images=images)
  experiments.run(override(pretrained, **{"eval.images": str(tmp_path / "images.npz")}), workdir, "eval")
  with open(os.path.join(workdir, "eval", "lcm.json")) as f:
    result = json.load(f)
  assert result["num_images"] == 2 and result["denoising"][0]["sigma"] == 20
  assert set(result["synthesis"]["iterations"]) == {"coarse", "scale_2", "scale_1"}
  assert result["super_resolution"]["num_images"] == 2
  first = open(os.path.join(workdir, "eval", "lcm_0.json")).read()
  experiments.run(override(pretrained, **{"eval.images": str(tmp_path / "images.npz"), "eval.synthesis": False}),
                  workdir, "eval")                                  # a second eval: a new file, the first kept
  with open(os.path.join(workdir, "eval", "lcm_1.json")) as f:
    assert "synthesis" not in json.load(f)
  assert open(os.path.join(workdir, "eval", "lcm_0.json")).read() == first


def test_released_models_are_not_trained_and_bad_inputs_are_named(pretrained, tmp_path):
  with pytest.raises(InputError, match="released models, which are not trained here"):
    experiments.run(pretrained, str(tmp_path / "w"), "train")
  with pytest.raises(InputError, match="lcm.weights_dir=.* is not a directory"):
    lcm_pretrained.load_models(override(pretrained, **{"lcm.weights_dir": str(tmp_path / "nowhere")}))
  with pytest.raises(InputError, match="no released model for 'scale_1' \\(RF 23"):
    lcm_pretrained.load_models(override(pretrained, **{"lcm.receptive_field": 23}))
  np.savez(tmp_path / "bad.npz", images=np.zeros((2, 18, 18, 1)))
  with pytest.raises(InputError, match="divisible by 2\\^J = 4"):
    experiments.run(override(pretrained, **{"eval.images": str(tmp_path / "bad.npz")}), str(tmp_path / "w"), "eval")
