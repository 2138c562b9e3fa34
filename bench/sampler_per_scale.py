"""Which scale makes a sampler fail on trained WSGM models: one sampler for the coarse model, another for the
details, or a second sampler at one detail scale only. Prints, per combination, the action density S/V with
its bootstrap error and the number of blown-up fields (max |phi| > --blowup) of phi^4 samples.

When along the reverse time it fails: with the reference sampler for the coarse model and the tested one for the
details, each scale's sampling is traced (solvers.run's `observe`): per step, the RMS of each draw's normalized
details and of its noise prediction eps = -s(t) score, the median over the draws that end blown up next to the
median over the others.

  python bench/sampler_per_scale.py --config=configs/phi4_wsgm.py --workdir=runs/phi4_learned/wsgm \
      --steps=16 --samplers=euler_maruyama,ode_heun --config.model.padding=SAME --config.data.phi4.chains=128 \
      --config.train.steps=2000 --config.sampling.t_max=0   # that workdir's training flags
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from ml_collections import config_flags  # noqa: E402
import numpy as np  # noqa: E402

from lib import phi4  # noqa: E402
from wsgm import experiments, pyramid, sampling, sde, solvers  # noqa: E402
from wsgm.methods import wsgm as wsgm_method  # noqa: E402

config_flags.DEFINE_config_file("config", "configs/phi4_wsgm.py", "A phi^4 WSGM config (--config.a.b=v overrides "
                                "it, e.g. --config.model.padding=SAME for a workdir trained with zero padding).")
flags.DEFINE_string("workdir", "runs/phi4_learned/wsgm", "Its trained workdir.")
flags.DEFINE_bool("from_workdir", False, experiments.FROM_WORKDIR_HELP)
flags.DEFINE_integer("steps", 16, "Steps per scale for every sampler (quadratic grid, t_min = 0).")
flags.DEFINE_list("samplers", ["euler_maruyama", "ode_heun"], "Two samplers: the reference and the one tested.")
flags.DEFINE_integer("samples", 256, "Fields per combination.")
flags.DEFINE_float("blowup", 4.0, "A field with max |phi| above this counts as blown up.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = experiments.bench_config(FLAGS, sys.argv)
  levels, size, n = config.pyramid.levels, config.data.image_size, FLAGS.samples
  models, stats = sampling.load_models(config, FLAGS.workdir, 1, None, wsgm_method.METHOD)
  coarse, conditionals = wsgm_method.score_functions(models, levels)
  times = sde.time_grid("quadratic", FLAGS.steps, config.sde.T)
  samplers = {name: solvers.get_sampler(name) for name in FLAGS.samplers}
  draws = {name: pyramid.sampler_draw(conditionals, s, times) for name, s in samplers.items()}
  ref, test = FLAGS.samplers
  combos = [(c, d, None) for c in (ref, test) for d in (ref, test)]
  combos += [(ref, test, j) for j in range(1, levels + 1)]   # the tested sampler at one detail scale only
  for c, d, only in combos:
    draw = draws[d] if only is None else (lambda j, k, cond, only=only: draws[test if j == only else ref](j, k, cond))
    fn = jax.jit(lambda k: pyramid.sample_coarse_to_fine(
        k, (n, size >> levels, size >> levels, 1), coarse, conditionals, stats, config.pyramid.wavelet,
        samplers[c], times, detail_draw=draw).image)
    x = np.asarray(fn(jax.random.key(config.seed + 1)))
    obs = phi4.observables(x, config.data.phi4.beta, config.data.phi4.lam)
    blown = int((np.abs(x).reshape(n, -1).max(axis=1) > FLAGS.blowup).sum())
    details = d if only is None else f"{ref}, {test} at scale_{only} only"
    print(f"coarse {c}, details {details}: S/V {obs['action_density'][0]:.3f} +- {obs['action_density'][1]:.3f}, "
          f"U4 {obs['binder_u4'][0]:.3f}, chi {obs['susceptibility'][0]:.1f}, blown-up fields {blown}/{n}", flush=True)

  trace(config, coarse, conditionals, stats, samplers[ref], solvers.make_stepper(test), times)


def trace(config, coarse, conditionals, stats, coarse_sampler, stepper, times):
  """The reference sampler for the coarse model, the tested stepper for the details, traced per scale."""
  levels, size, n = config.pyramid.levels, config.data.image_size, FLAGS.samples
  rms = lambda a: jnp.sqrt(jnp.mean(a.reshape(a.shape[0], -1) ** 2, axis=1))

  def draw(j, key, cond):
    init_key, sample_key = jax.random.split(key)
    score = lambda y, t: conditionals[j - 1](y, t, cond)
    y = jax.random.normal(init_key, cond.shape[:-1] + (3 * cond.shape[-1],), cond.dtype)
    return solvers.run(stepper, False, score, y, times, sample_key,
                       observe=lambda y, t: (rms(y), rms(sde.std(t) * score(y, t))))

  fn = jax.jit(lambda k: pyramid.sample_coarse_to_fine(
      k, (n, size >> levels, size >> levels, 1), coarse, conditionals, stats, config.pyramid.wavelet,
      coarse_sampler, times, detail_draw=draw))
  out = fn(jax.random.key(config.seed + 1))
  blown = np.abs(np.asarray(out.image)).reshape(n, -1).max(axis=1) > FLAGS.blowup
  print(f"trace: {int(blown.sum())}/{n} blown up; per step, median RMS of the normalized details y and of "
        "eps = -s score, blown-up draws | the others", flush=True)
  for j, (y_rms, eps_rms) in zip(range(levels, 0, -1), out.reports):
    y_rms, eps_rms = np.asarray(y_rms), np.asarray(eps_rms)
    print(f"scale_{j}:     t   y (blown | others)   eps (blown | others)")
    for t, y, e in zip(np.asarray(times[:-1]), y_rms, eps_rms):
      med = lambda v, m: f"{np.median(v[m]):8.3f}" if m.any() else "       -"
      print(f"  {t:10.4f} {med(y, blown)} {med(y, ~blown)}   {med(e, blown)} {med(e, ~blown)}")


if __name__ == "__main__":
  app.run(main)
