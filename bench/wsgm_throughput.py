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
--settings=default,glibc_arena1,xnnpack --rounds=3 compares CPU run settings (CPU_SETTINGS: allocator
environment, XLA flags) in interleaved rounds, with the minor page faults per training step.
--dtypes=float32,bfloat16 times both compute dtypes (model.dtype). Every row has the finest model's FLOPs per
training step from XLA's cost analysis, the FLOP/s achieved per device and its ratio to a large matrix
product's FLOP/s in the same dtype on the same device (model FLOP utilization).
Writes OUT/throughput_<k>.json (throughput.json: the newest) and OUT/throughput.png.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


# CPU run settings compared by --settings (environment added to the worker's): glibc's allocator kept from
# returning large blocks to the OS (no mmap per activation, so no page faults on every fresh buffer; "malloc"
# through the MALLOC_*_ variables, "glibc_arena1" through GLIBC_TUNABLES with a single arena, since XLA's
# worker threads otherwise allocate from their own arenas, which glibc shrinks), XLA's XNNPACK and oneDNN
# kernels for convolutions and matmuls, fast math.
CPU_SETTINGS = {
    "default": {},
    "malloc": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2 ** 40), "MALLOC_TOP_PAD_": str(2 ** 28)},
    "glibc_arena1": {"GLIBC_TUNABLES": f"glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold={2 ** 40}:"
                                       "glibc.malloc.arena_max=1"},
    "xnnpack": {"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"},
    "onednn": {"XLA_FLAGS": "--xla_cpu_use_onednn=true"},
    "fastmath": {"XLA_FLAGS": "--xla_cpu_enable_fast_math=true"},
}


def _minor_faults() -> int:
  import resource
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _steps_per_s(step_fn, state, batch, repeats, faults=None):
  """Steps/s of step_fn after one warm-up step; faults (a list): the minor page faults per step appended."""
  import jax
  state, metrics = step_fn(state, batch)
  jax.block_until_ready(metrics)
  start, first = time.perf_counter(), _minor_faults()
  for _ in range(repeats):
    state, metrics = step_fn(state, batch)
  jax.block_until_ready(metrics)
  if faults is not None:
    faults.append((_minor_faults() - first) / repeats)
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


def matmul_peak(dtype, size):
  """FLOP/s of a size^3 matrix product in `dtype` on the first device (median of 5 after a warm-up): the
  ceiling model FLOP utilization is measured against."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  a = jax.random.normal(jax.random.key(0), (size, size)).astype(dtype)
  b = jax.random.normal(jax.random.key(1), (size, size)).astype(dtype)
  f = jax.jit(lambda x, y: x @ y)
  f(a, b).block_until_ready()
  times = []
  for _ in range(5):
    start = time.perf_counter()
    f(a, b).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * size ** 3 / float(np.median(times)), str(jnp.dtype(dtype))


def step_flops(jitted, *args) -> float:
  """FLOPs of one call from XLA's cost analysis of the compiled program (None where the backend gives none)."""
  cost = jitted.lower(*args).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"]) if cost and "flops" in cost else None


def measure(sizes, batch, steps, repeats, methods, dtypes=("float32",)):
  import jax
  import numpy as np
  from configs import faces_wsgm
  from lib import parallel
  from wsgm import pyramid, solvers
  from wsgm.methods import wsgm as wsgm_method

  mesh, rows = parallel.data_mesh(), []
  peak_size = 8192 if jax.devices()[0].platform != "cpu" else 2048
  peaks = {dtype: matmul_peak(dtype, peak_size)[0] for dtype in dtypes}
  for method, size, dtype in [(m, s, d) for m in methods for s in sizes for d in dtypes]:
    config = faces_wsgm.get_config()
    config.data.image_size, config.pyramid.levels = size, int(np.log2(size // 8)) if method == "wsgm" else 0
    config.train.batch_size = config.sampling.batch_size = batch
    config.sampling.steps = steps
    solvers.apply_spec(config.sampling, "euler_maruyama")   # one network call per step
    config.model.dtype = dtype
    images = jax.random.normal(jax.random.key(0), (batch, size, size, 1))
    stats = pyramid.fit_stats(images, "haar", config.pyramid.levels) if config.pyramid.levels else None
    batch_on_mesh = parallel.global_batch(mesh, np.asarray(images))
    models, step_time, faults = {}, None, []
    for name in pyramid.model_names(config.pyramid.levels):
      init_fn, step_fn, model = wsgm_method.make_steps(config, name, stats, 1)
      state = jax.jit(init_fn, out_shardings=parallel.replicated(mesh))(jax.random.key(1), batch_on_mesh)
      models[name] = (model, state.ema_params)
      if name == pyramid.model_names(config.pyramid.levels)[-1]:   # the finest model
        jitted = jax.jit(step_fn)
        flops = step_flops(jitted, state, batch_on_mesh)
        step_time = 1 / _steps_per_s(jitted, state, batch_on_mesh, repeats, faults)
    generator = wsgm_method.make_generator(config, models, stats, 1, mesh)
    jax.block_until_ready(generator(jax.random.key(2)).image)
    start = time.perf_counter()
    for i in range(max(repeats // 10, 1)):
      out = generator(jax.random.key(3 + i))
    jax.block_until_ready(out.image)
    sample_time = (time.perf_counter() - start) / max(repeats // 10, 1)
    achieved = None if flops is None else flops / step_time / jax.device_count()   # per device
    rows.append(dict(method=method, dtype=dtype, devices=jax.device_count(), platform=jax.devices()[0].platform,
                     device_kind=jax.devices()[0].device_kind, size=size, levels=config.pyramid.levels, batch=batch,
                     steps_per_scale=steps, train_steps_per_s=1 / step_time, train_images_per_s=batch / step_time,
                     sample_images_per_s=batch / sample_time, train_flops_per_step=flops,
                     train_flops_per_s_per_device=achieved, matmul_peak_flops_per_s=peaks[dtype],
                     model_flop_utilization=None if achieved is None else achieved / peaks[dtype],
                     train_minor_page_faults_per_step=faults[0],
                     setting=os.environ.get("WSGM_BENCH_SETTING", "default"),
                     malloc_env={k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))},
                     xla_flags=os.environ.get("XLA_FLAGS", "")))
    print(json.dumps(rows[-1]), flush=True)
  return rows


def plot(rows, path):
  from lib import plots
  fig, axes = plots.new_figure(2)
  for method, devices, dtype in sorted({(r["method"], r["devices"], r.get("dtype", "float32")) for r in rows}):
    sel = [r for r in rows if r["devices"] == devices and r["method"] == method and r.get("dtype", "float32") == dtype]
    for ax, key in zip(axes, ("train_steps_per_s", "sample_images_per_s")):
      ax.loglog([r["size"] for r in sel], [r[key] for r in sel], "o-" if method == "wsgm" else "s--",
                label=f"{method} {dtype}, {devices} device(s)")
  for ax, title in zip(axes, ("training (finest model)", f"sampling, {rows[0]['steps_per_scale']} steps per scale")):
    ax.set(xlabel="image size", title=f"{title}, {rows[0]['platform']}")
    ax.legend()
  axes[0].set_ylabel("steps / s")
  axes[1].set_ylabel("images / s")
  plots.save(fig, path)


def print_settings(rows):
  """Per (method, size, dtype, devices) and setting: the median over rounds of the training step time, its
  range, the median MFU, page faults per step, and the median step time relative to the default's."""
  import numpy as np
  cases = sorted({(r["method"], r["size"], r.get("dtype", "float32"), r["devices"]) for r in rows
                  if r["method"] != "wmgm"})
  for case in cases:
    sel = [r for r in rows if (r["method"], r["size"], r.get("dtype", "float32"), r["devices"]) == case]
    base = np.median([1 / r["train_steps_per_s"] for r in sel if r["setting"] == "default"] or [np.nan])
    for setting in dict.fromkeys(r["setting"] for r in sel):
      mine = [r for r in sel if r["setting"] == setting]
      t = [1 / r["train_steps_per_s"] for r in mine]
      print(f"{case[0]} L={case[1]} {case[2]} {case[3]} dev, {setting:9s}: {1e3 * np.median(t):7.1f} ms/step "
            f"[{1e3 * min(t):.1f}, {1e3 * max(t):.1f}] x{np.median(t) / base:.2f} of default, MFU "
            f"{100 * np.median([r['model_flop_utilization'] for r in mine]):.1f}%, "
            f"{np.median([r['train_minor_page_faults_per_step'] for r in mine]):.0f} page faults/step, "
            f"{np.median([r['sample_images_per_s'] for r in mine]):.1f} samples/s")


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="runs/bench")
  parser.add_argument("--sizes", default="16,32,64")
  parser.add_argument("--devices", default="1,2,4,8", help="simulated CPU device counts; 0 = attached devices")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--steps", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--methods", default="wsgm", help="wsgm, sgm (pixel space, J = 0) and/or wmgm")
  parser.add_argument("--dtypes", default="float32", help="model.dtype (compute) values: float32 and/or bfloat16")
  parser.add_argument("--settings", default="default", help=f"CPU settings to compare: {', '.join(CPU_SETTINGS)}")
  parser.add_argument("--rounds", type=int, default=1, help="repeat the settings in turn this many times "
                      "(interleaved, so that a slow spell of the machine hits every setting alike)")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  if args.worker:
    methods = args.methods.split(",")
    if "wmgm" in methods:
      measure_wmgm(sizes, args.batch, args.repeats)
    if set(methods) - {"wmgm"}:
      measure(sizes, args.batch, args.steps, args.repeats, [m for m in methods if m != "wmgm"],
              args.dtypes.split(","))
    return
  settings = args.settings.split(",")
  unknown = [name for name in settings if name not in CPU_SETTINGS]
  if unknown:
    sys.exit(f"error: --settings={args.settings}: unknown {unknown}; choose from {sorted(CPU_SETTINGS)}")
  rows = []
  for round_ in range(args.rounds):
    for setting in settings:
      for devices in [int(d) for d in args.devices.split(",")]:
        env = dict(os.environ, WSGM_BENCH_SETTING=setting)
        env.update({k: v for k, v in CPU_SETTINGS[setting].items() if k != "XLA_FLAGS"})
        flags = [CPU_SETTINGS[setting].get("XLA_FLAGS", "")]
        if devices:
          flags.append(f"--xla_force_host_platform_device_count={devices}")
          env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = " ".join(f for f in flags if f)
        cmd = [sys.executable, __file__, "--worker", f"--sizes={args.sizes}", f"--batch={args.batch}",
               f"--steps={args.steps}", f"--repeats={args.repeats}", f"--methods={args.methods}",
               f"--dtypes={args.dtypes}"]
        print(f"round {round_ + 1}/{args.rounds}, setting {setting}, devices={devices or 'attached'} ...", flush=True)
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        rows += [dict(json.loads(line), round=round_) for line in out.splitlines() if line.startswith("{")]
  from lib import outputs
  path = outputs.write_json_run(args.out, "throughput", rows)   # throughput_<k>.json, never overwritten
  if len(settings) > 1:
    print_settings(rows)
  for r in rows:
    if r.get("model_flop_utilization") is not None:
      print(f"{r['method']} {r['dtype']} L={r['size']} {r['devices']} device(s): {r['train_flops_per_step']:.3g} FLOP/step, "
            f"{r['train_flops_per_s_per_device'] / 1e9:.1f} GFLOP/s per device = {100 * r['model_flop_utilization']:.1f}% "
            f"of a {r['dtype']} matmul's {r['matmul_peak_flops_per_s'] / 1e9:.0f} GFLOP/s; "
            f"{r['sample_images_per_s']:.1f} samples/s")
  if any(r["method"] != "wmgm" for r in rows):
    plot([r for r in rows if r["method"] != "wmgm"], os.path.join(args.out, "throughput.png"))
    print(f"wrote {path} (and throughput.json, the newest) and throughput.png")
  else:
    print(f"wrote {path} (and throughput.json, the newest)")


if __name__ == "__main__":
  main()
