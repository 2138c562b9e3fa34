"""The LCM authors' released CelebA denoisers (Kadkhodaie, Guth, Mallat, Simoncelli, ICLR 2023) as our models.

Their repository (LabForComputationalVision/local-probability-models-of-images, MIT) publishes PyTorch
state_dicts under `denoisers/`. This module maps one onto our `BiasFreeCNN` (wsgm/models/bfcnn.py) so that
our pyramid, denoising and stochastic ascent (wsgm/methods/lcm.py) run them unchanged:

- Archives are read without torch (lib/torch_archive.py); keys carry DataParallel's `module.` prefix.
- Conditional and flat models are their `BF_CNN_RF` (depth 21, width 64, their 1x1 / 3x3 placement:
  `layout="authors"`); the low-pass model is their `BF_CNN` (20 layers, all 3x3). Both have a linear first
  layer (`first_linear=True`).
- `conv_layers.l.weight` is OIHW -> our HWIO `Conv_l/kernel`; the bias-free batch-norm after conv l
  (`BN_layers.{l-1}`: x / running_sd * gammas per channel) is folded into that conv's output channels.
- Their conditional input is [low-pass, 3 noisy detail bands]; ours concatenates [details, low-pass]
  (BiasFreeCNN(y, cond)), so the first layer's input channels are permuted.
- Their units are ours: grayscale in [0, 1], Haar, scale j's coefficients (low-pass included) divided by 2^j
  (pyramid.ScaleUnits); their training noise is sigma in [0, 1] in *each scale's* units (`lcm.noise_units="scale"`).

Folders inside `lcm.weights_dir` (their `denoisers/<flat|multi_scale>/<data>/`): our `coarse` is
`noise_range_0to255_RF_40x40_low` (J > 0) or `noise_range_0to255_RF_<RF>x<RF>` (flat, J = 0); our `scale_j`
is their `..._RF_<RF>x<RF>_scale_<j-1>` (their scale 0 is the finest, our j = 1).
"""
import os
from typing import Dict, Tuple

import jax
import numpy as np

from lib import torch_archive
from lib.errors import InputError
from wsgm.methods import lcm
from wsgm.models.bfcnn import BiasFreeCNN, kernel_sizes


def folder(name: str, levels: int, receptive_field: int) -> str:
  """Their folder name of our model `name` (see the module docstring)."""
  rf = f"RF_{receptive_field}x{receptive_field}"
  if name == "coarse":
    return f"noise_range_0to255_{rf}" if levels == 0 else "noise_range_0to255_RF_40x40_low"
  return f"noise_range_0to255_{rf}_scale_{int(name.split('_')[1]) - 1}"


def to_params(state: Dict[str, np.ndarray], model: BiasFreeCNN, in_channels: int, conditional: bool,
              source: str = "state_dict") -> dict:
  """Flax params of `model` from the authors' state_dict; an error naming the key for any mismatch."""
  state = _strip(state)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros((1, 8, 8, in_channels), np.float32)))
  depth = len(template["params"])
  expected = {f"conv_layers.{l}.weight" for l in range(depth)}
  expected |= {f"BN_layers.{l}.{f}" for l in range(depth - 2) for f in ("running_sd", "gammas")}
  if set(state) != expected:
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    raise InputError(f"{source}: keys do not match a depth-{depth} bias-free CNN: missing {missing[:4]}"
                     f"{'...' if len(missing) > 4 else ''}, unexpected {extra[:4]}{'...' if len(extra) > 4 else ''}")
  params = {}
  for l in range(depth):
    key = f"conv_layers.{l}.weight"
    want = template["params"][f"Conv_{l}"]["kernel"].shape          # HWIO
    kernel = np.asarray(state[key], np.float64).transpose(2, 3, 1, 0)
    if kernel.shape != want:
      raise InputError(f"{source}: {key} has shape {state[key].shape} (OIHW), our layer {l} needs "
                       f"{(want[3], want[2], want[0], want[1])}: another receptive field, width or channel count")
    if 1 <= l <= depth - 2:
      sd, gammas = (np.asarray(state[f"BN_layers.{l - 1}.{f}"], np.float64).reshape(-1) for f in ("running_sd", "gammas"))
      if sd.shape != (want[3],) or gammas.shape != (want[3],) or not np.all(sd > 0):
        raise InputError(f"{source}: BN_layers.{l - 1} needs {want[3]} positive running_sd and {want[3]} gammas")
      kernel = kernel * (gammas / sd)
    if l == 0 and conditional:   # theirs: [low-pass, details]; ours: [details, low-pass]
      kernel = np.concatenate([kernel[:, :, 1:], kernel[:, :, :1]], axis=2)
    params[f"Conv_{l}"] = {"kernel": kernel.astype(np.float32)}
  return {"params": params}


def _strip(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def model_from_state(state: Dict[str, np.ndarray], source: str = "state_dict") -> Tuple[BiasFreeCNN, int, bool]:
  """(model, input channels, conditional?) read off a released state_dict: depth 21 is a BF_CNN_RF (its RF from
  where the 3x3 layers are, checked against the authors' rule), depth 20 their all-3x3 BF_CNN."""
  state = _strip(state)
  depth = sum(1 for k in state if k.startswith("conv_layers.") and k.endswith(".weight"))
  try:
    shapes = [state[f"conv_layers.{l}.weight"].shape for l in range(depth)]
  except KeyError as e:
    raise InputError(f"{source}: conv layers are not numbered 0..{depth - 1} (missing {e.args[0]})") from None
  if depth < 2 or any(len(s) != 4 for s in shapes):
    raise InputError(f"{source}: expected >= 2 OIHW conv_layers.*.weight, found shapes {shapes[:3]}")
  sizes = tuple(s[2] for s in shapes)
  width, in_channels, out_channels = shapes[0][0], shapes[0][1], shapes[-1][0]
  rf = 1 + 2 * sum(1 for k in sizes if k == 3)
  layout = "authors" if depth == 21 else "even"
  if kernel_sizes(depth, rf, layout) != sizes:
    raise InputError(f"{source}: kernel sizes {sizes} follow neither the authors' BF_CNN_RF rule nor an all-3x3 BF_CNN")
  conditional = in_channels == out_channels + 1
  return BiasFreeCNN(out_channels, width, depth, rf, layout, True), in_channels, conditional


def load_archive(path: str) -> Tuple[BiasFreeCNN, dict, bool]:
  """(model, params, conditional?) of one released model.pt, whatever its kind."""
  state = torch_archive.load(path)
  model, channels, conditional = model_from_state(state, path)
  return model, to_params(state, model, channels, conditional, path), conditional


def validate(config) -> None:
  m = config.lcm
  if not m.weights_dir:
    raise InputError("lcm.weights_dir is empty: point it at the authors' denoisers/<flat|multi_scale>/<data> folder "
                     "(their repository LabForComputationalVision/local-probability-models-of-images, `denoisers/`)")
  if not os.path.isdir(m.weights_dir):
    raise InputError(f"lcm.weights_dir={m.weights_dir!r} is not a directory")
  if config.data.grayscale is not True:
    raise InputError(f"data.grayscale={config.data.grayscale}: the released denoisers are grayscale")
  if config.pyramid.levels and config.pyramid.wavelet != "haar":
    raise InputError(f"pyramid.wavelet={config.pyramid.wavelet!r}: the released denoisers work on Haar coefficients")
  if m.noise_units != "scale":
    raise InputError(f"lcm.noise_units={m.noise_units!r}: the released denoisers were trained with noise in each "
                     "scale's units ('scale')")
  if m.layout != "authors" or m.first_linear is not True:
    raise InputError(f"lcm.layout={m.layout!r}, lcm.first_linear={m.first_linear}: the released denoisers need "
                     "'authors' and True (their 1x1 / 3x3 placement and linear first layer)")


def load_models(config, names=None) -> Dict[str, Tuple[BiasFreeCNN, dict]]:
  """{name: (model, params)} of the released models a config names (all of them by default)."""
  validate(config)
  levels = config.pyramid.levels
  out = {}
  for name in names or ["coarse"] + [f"scale_{j}" for j in range(1, levels + 1)]:
    path = os.path.join(config.lcm.weights_dir, folder(name, levels, config.lcm.receptive_field), "model.pt")
    if not os.path.isfile(path):
      raise InputError(f"no released model for {name!r} (RF {config.lcm.receptive_field}, J = {levels}): {path} "
                       "does not exist")
    conditional = name != "coarse"   # grayscale: [details (3), low-pass (1)] in, 3 bands out
    model = lcm.make_model(config, name, 1)
    out[name] = (model, to_params(torch_archive.load(path), model, 4 if conditional else 1, conditional, path))
  return out


def apply_authors_layout(model: BiasFreeCNN, params: dict, x_nchw: np.ndarray, conditional: bool) -> np.ndarray:
  """The network's raw output in the authors' layout: input (N, C, H, W) in their channel order
  ([low-pass, details] for a conditional model), output (N, C_out, H, W). For comparing with their network."""
  x = np.asarray(x_nchw, np.float32).transpose(0, 2, 3, 1)
  if conditional:
    out = model.apply(params, x[..., 1:], x[..., :1])
  else:
    out = model.apply(params, x)
  return np.asarray(out).transpose(0, 3, 1, 2)
