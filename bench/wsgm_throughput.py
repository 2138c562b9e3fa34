"""Throughput of WSGM (and pixel-space SGM) training and sampling vs image size and number of devices:

  python bench/wsgm_throughput.py --out=runs/bench                 # CPU, 1/2/4/8 simulated devices
  python bench/wsgm_throughput.py --out=runs/bench --devices=0     # whatever devices are attached (GPU)
  python bench/wsgm_throughput.py --out=runs/scaling --sizes=32,64,128 --devices=1 --methods=wsgm,sgm

For each image size S the WSGM pyramid goes down to an 8x8 low-pass (J = log2(S/8)); SGM is J = 0; the
model is the faces_wsgm UNet. Train: steps/s of the finest model (the largest grid). Sample: images/s of
full generation, `--steps` steps per scale. Untrained weights: speed does not depend on them. Simulated CPU
devices share the same cores, so they measure sharding overhead, not speed-up.
--methods=wmgm times WMGM's generator step (faces_wmgm, shared generator over J = 2 scales) with the
discriminator updated every step (d_every = 1: what every step cost when D's gradient was computed
unconditionally) and every 4 steps (the authors' d_every, D's backward pass inside the lax.cond).
Writes OUT/throughput.json and OUT/throughput.png.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _steps_per_s(step_fn, state, batch, repeats):
  import jax
  state, metrics = step_fn(state, batch)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(repeats):
    state, metrics = step_fn(state, batch)
  jax.block_until_ready(metrics)
  return repeats / (time.perf_counter() - start)


def measure_wmgm(sizes, batch, repeats):
  import jax
  import numpy as np
  from configs import faces_wmgm
  from lib import parallel
  from wsgm import pyramid
  from wsgm.methods import wmgm

  mesh, rows = parallel.data_mesh(), []
  for size in sizes:
    config = faces_wmgm.get_config()
    config.data.image_size, config.train.batch_size = size, batch
    images = jax.random.normal(jax.random.key(0), (batch, size, size, 1))
    stats = pyramid.fit_stats(images, "haar", config.pyramid.levels)
    on_mesh = parallel.global_batch(mesh, np.asarray(images))
    runs = {}
    for d_every in (1, 4):
      config.wmgm.d_every = d_every
      init_fn, step_fn, _ = wmgm.make_steps(config, wmgm.SHARED, stats, 1)
      state = jax.jit(init_fn, out_shardings=parallel.replicated(mesh))(jax.random.key(1), on_mesh)
      runs[d_every] = (jax.jit(step_fn), state)
    # alternate rounds of 4 steps (one whole D period) and take medians: robust to load drifting meanwhile
    samples = {d: [] for d in runs}
    for _ in range(max(repeats // 4, 3)):
      for d in runs:
        samples[d].append(_steps_per_s(runs[d][0], runs[d][1], on_mesh, 4))
    rates = {d: float(np.median(v)) for d, v in samples.items()}
    rows.append(dict(method="wmgm", devices=jax.device_count(), platform=jax.devices()[0].platform, size=size,
                     batch=batch, train_steps_per_s_d_every_1=rates[1], train_steps_per_s_d_every_4=rates[4],
                     speedup=rates[4] / rates[1]))
    print(json.dumps(rows[-1]), flush=True)
  return rows


def measure(sizes, batch, steps, repeats, methods):
  import jax
  import numpy as np
  from configs import faces_wsgm
  from lib import parallel
  from wsgm import pyramid
  from wsgm.methods import wsgm as wsgm_method

  mesh, rows = parallel.data_mesh(), []
  for method, size in [(m, s) for m in methods for s in sizes]:
    config = faces_wsgm.get_config()
    config.data.image_size, config.pyramid.levels = size, int(np.log2(size // 8)) if method == "wsgm" else 0
    config.train.batch_size = config.sampling.batch_size = batch
    config.sampling.steps = steps
    images = jax.random.normal(jax.random.key(0), (batch, size, size, 1))
    stats = pyramid.fit_stats(images, "haar", config.pyramid.levels) if config.pyramid.levels else None
    batch_on_mesh = parallel.global_batch(mesh, np.asarray(images))
    models, step_time = {}, None
    for name in pyramid.model_names(config.pyramid.levels):
      init_fn, step_fn, model = wsgm_method.make_steps(config, name, stats, 1)
      state = jax.jit(init_fn, out_shardings=parallel.replicated(mesh))(jax.random.key(1), batch_on_mesh)
      models[name] = (model, state.ema_params)
      if name == pyramid.model_names(config.pyramid.levels)[-1]:   # the finest model
        step_time = 1 / _steps_per_s(jax.jit(step_fn), state, batch_on_mesh, repeats)
    generator = wsgm_method.make_generator(config, models, stats, 1, mesh)
    jax.block_until_ready(generator(jax.random.key(2)).image)
    start = time.perf_counter()
    for i in range(max(repeats // 10, 1)):
      out = generator(jax.random.key(3 + i))
    jax.block_until_ready(out.image)
    sample_time = (time.perf_counter() - start) / max(repeats // 10, 1)
    rows.append(dict(method=method, devices=jax.device_count(), platform=jax.devices()[0].platform, size=size,
                     levels=config.pyramid.levels, batch=batch, steps_per_scale=steps,
                     train_steps_per_s=1 / step_time, train_images_per_s=batch / step_time,
                     sample_images_per_s=batch / sample_time))
    print(json.dumps(rows[-1]), flush=True)
  return rows


def plot(rows, path):
  from lib import plots
  fig, axes = plots.new_figure(2)
  for method, devices in sorted({(r["method"], r["devices"]) for r in rows}):
    sel = [r for r in rows if r["devices"] == devices and r["method"] == method]
    for ax, key in zip(axes, ("train_steps_per_s", "sample_images_per_s")):
      ax.loglog([r["size"] for r in sel], [r[key] for r in sel], "o-" if method == "wsgm" else "s--",
                label=f"{method}, {devices} device(s)")
  for ax, title in zip(axes, ("training (finest model)", f"sampling, {rows[0]['steps_per_scale']} steps per scale")):
    ax.set(xlabel="image size", title=f"{title}, {rows[0]['platform']}")
    ax.legend()
  axes[0].set_ylabel("steps / s")
  axes[1].set_ylabel("images / s")
  plots.save(fig, path)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="runs/bench")
  parser.add_argument("--sizes", default="16,32,64")
  parser.add_argument("--devices", default="1,2,4,8", help="simulated CPU device counts; 0 = attached devices")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--steps", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--methods", default="wsgm", help="wsgm, sgm (pixel space, J = 0) and/or wmgm")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  if args.worker:
    methods = args.methods.split(",")
    if "wmgm" in methods:
      measure_wmgm(sizes, args.batch, args.repeats)
    if set(methods) - {"wmgm"}:
      measure(sizes, args.batch, args.steps, args.repeats, [m for m in methods if m != "wmgm"])
    return
  rows = []
  for devices in [int(d) for d in args.devices.split(",")]:
    env = dict(os.environ)
    if devices:
      env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
      env["JAX_PLATFORMS"] = "cpu"
    cmd = [sys.executable, __file__, "--worker", f"--sizes={args.sizes}", f"--batch={args.batch}",
           f"--steps={args.steps}", f"--repeats={args.repeats}", f"--methods={args.methods}"]
    print(f"devices={devices or 'attached'} ...", flush=True)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "throughput.json"), "w") as f:
    json.dump(rows, f, indent=1)
  if any(r["method"] != "wmgm" for r in rows):
    plot([r for r in rows if r["method"] != "wmgm"], os.path.join(args.out, "throughput.png"))
    print(f"wrote {args.out}/throughput.json and throughput.png")
  else:
    print(f"wrote {args.out}/throughput.json")


if __name__ == "__main__":
  main()
