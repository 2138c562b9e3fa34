"""The papers' systems, one home each; everything else in wsgm/ is machinery they share.

- `wsgm.py`: WSGM (Guth, Coste, De Bortoli, Mallat 2022): a score model on the coarsest low-pass and a
  conditional score model per scale, trained by denoising score matching, sampled coarse to fine with the
  same reverse-SDE steps at every scale. `gaussian_theorem.py`: the paper's theorem on Gaussian fields,
  with exact scores and closed-form output laws (wsgm/gaussian.py).
- `wmgm.py`: WMGM (Xiao et al. 2024): WSGM's score model for the low band, one adversarial generator pass per
  scale for the details.
- `lcm.py`: LCM (Kadkhodaie, Guth, Mallat, Simoncelli 2023): bias-free conditional denoisers, denoising and
  synthesis by stochastic ascent; `lcm_modes.py` its sample and eval modes, `lcm_pretrained.py` the authors'
  released denoisers.

Shared machinery: wsgm/pyramid.py (the factorization, the normalizations, coarse-to-fine generation),
wsgm/train.py (one trainer for every method's models), wsgm/sampling.py and wsgm/evaluation.py (sample and
eval of generative methods), wsgm/solvers.py and wsgm/sde.py (samplers, time grids), wsgm/experiments.py
((experiment, mode) -> the function that runs it).

Each method hands the machinery a `Method`.
"""
from typing import Any, Callable, List, NamedTuple, Optional, Tuple


class Method(NamedTuple):
  """What the shared trainer and sampler need to know about a method.

  name: config.experiment's value. validate(config) raises InputError on bad fields. architecture_fields: the
  config fields that fix what a checkpoint means (a workdir trained with other values is not resumed).
  normalization: "standardize" (statistics fitted on data and saved in WORKDIR/stats.npz) or "scale_units"
  (nothing fitted): wsgm/pyramid.py says why each. model_names(config): its models, in sampling order, each with
  its own checkpoints. make_steps(config, name, stats, channels) -> (init_fn(key, images) -> state,
  train_step(state, images) -> (state, metrics), model); a state has `step`, and `ema_params` for sampling.

  Generative methods sampled by wsgm/sampling.py also give make_generator(config, models, stats, channels,
  mesh, progress=None) -> jitted key -> pyramid.PyramidSample; make_super_resolver(config, models, stats, scale,
  mesh, progress=None) -> jitted (key, x_scale) -> PyramidSample (progress: a lib/progress.Stages told of each
  finished scale); superres_models(config, scale) -> the models that needs.
  Score-based ones give make_scores(config, models) -> {name: score(y, t, cond)} (likelihoods).
  make_preview(config, name, stats, channels) -> jitted (params, key, images) -> a few images in [-1, 1] drawn
  by that model alone (train.sample_every: the trainer shows them in TensorBoard)."""
  name: str
  validate: Callable[[Any], None]
  architecture_fields: Tuple[str, ...]
  normalization: str
  make_steps: Callable
  model_names: Callable[[Any], List[str]]
  make_generator: Optional[Callable] = None
  make_super_resolver: Optional[Callable] = None
  superres_models: Optional[Callable[[Any, int], List[str]]] = None
  make_scores: Optional[Callable] = None
  make_preview: Optional[Callable] = None
