"""The LCM authors' released CelebA denoisers in our pipeline (wsgm/methods/lcm_pretrained.py).

  python bench/lcm_pretrained.py apply --model=PATH/model.pt --input=IN.npy --output=OUT.npy
      one imported denoiser on a float32 array in the authors' layout (N, C, H, W; a conditional model's
      channels [low-pass, 3 noisy detail bands]); writes the network's raw output (N, C_out, H, W), to compare
      with their network on the same input.
  python bench/lcm_pretrained.py compare --weights=DENOISERS --reference=DIR
      every model.pt under DENOISERS against reference outputs DIR/index.json (name, path) + DIR/<name>_in.npy,
      DIR/<name>_torch.npy made with the authors' PyTorch classes: max |ours - theirs| / max |theirs|.
  python bench/lcm_pretrained.py images --output=runs/lcm_pretrained/skimage_photos.npz
      the real grayscale images this machine has offline: 160x160 crops of scikit-image's photos, one of them a
      human face (the astronaut), in [0, 1]: not CelebA, so only comparisons between models on them mean much.
  python bench/lcm_pretrained.py denoise --weights=DENOISERS --images=IMAGES.npz
      denoising PSNR vs receptive field, flat pixel-domain models against the J = 2 multi-scale models.
  python bench/lcm_pretrained.py synthesize --weights=DENOISERS --size=160 --num=4 --draws=3
      synthesis with configs/lcm_celeba<size>_pretrained.py: denoiser calls per scale, seconds per image, a grid
      of the synthesized 40x40 low-passes, the images, and `draws` more super-resolutions of each low-pass.
  python bench/lcm_pretrained.py bands --weights=DENOISERS --images=IMAGES.npz
      checks our detail-band convention against the one the released models were trained on: J = 2 RF 13
      denoising PSNR with the bands fed in our order and signs, and with H/V swapped or a band's sign flipped.
DENOISERS is a copy of the authors' `denoisers/` folder (with flat/ and multi_scale/ inside).
"""
import json
import os
import sys
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib import images as image_io, plots  # noqa: E402
from wsgm import wavelets  # noqa: E402
from wsgm.methods import lcm, lcm_modes, lcm_pretrained  # noqa: E402

flags.DEFINE_string("model", None, "apply: a released model.pt")
flags.DEFINE_string("input", None, "apply: input .npy (N, C, H, W)")
flags.DEFINE_string("output", None, "apply: output .npy (not overwritten if it exists)")
flags.DEFINE_string("weights", None, "compare: the folder holding the released denoisers")
flags.DEFINE_string("reference", None, "compare: folder with index.json and the reference inputs / outputs")
flags.DEFINE_string("out", "runs/lcm_pretrained", "where JSON / PNG results go")
flags.DEFINE_string("images", None, "denoise: .npz with array 'images' (N, H, W, 1) in [0, 1]")
flags.DEFINE_list("rfs", ["5", "9", "13", "23", "43"], "denoise: receptive fields")
flags.DEFINE_integer("size", 160, "synthesize: 160 (J = 2) or 320 (J = 3)")
flags.DEFINE_integer("num", 4, "synthesize: images")
flags.DEFINE_integer("draws", 3, "synthesize: extra super-resolutions of each synthesized low-pass")
flags.DEFINE_integer("seed", 0, "synthesize / denoise: PRNG seed")
FLAGS = flags.FLAGS


def apply(model_path, input_path):
  model, params, conditional = lcm_pretrained.load_archive(model_path)
  return lcm_pretrained.apply_authors_layout(model, params, np.load(input_path), conditional), model


def cmd_apply():
  if os.path.exists(FLAGS.output):
    raise SystemExit(f"--output={FLAGS.output} exists; not overwriting it")
  out, model = apply(FLAGS.model, FLAGS.input)
  np.save(FLAGS.output, out)
  print(f"{FLAGS.model}: RF {model.receptive_field}, depth {model.depth}, width {model.width}; wrote {FLAGS.output} "
        f"{out.shape}")


def cmd_compare():
  index = json.load(open(os.path.join(FLAGS.reference, "index.json")))
  rows = []
  for item in index:
    rel = item["path"].split("denoisers/")[-1]
    path = os.path.join(FLAGS.weights, rel)
    ours, model = apply(path, os.path.join(FLAGS.reference, item["name"] + "_in.npy"))
    theirs = np.load(os.path.join(FLAGS.reference, item["name"] + "_torch.npy"))
    diff = float(np.max(np.abs(ours - theirs)))
    rows.append(dict(model=rel, receptive_field=model.receptive_field, depth=model.depth, shape=list(theirs.shape),
                     max_abs_diff=diff, max_abs_reference=float(np.max(np.abs(theirs))),
                     relative=diff / float(np.max(np.abs(theirs)))))
    print(f"{rel:75s} RF {model.receptive_field:2d}  max|diff| {diff:.2e}  relative {rows[-1]['relative']:.2e}")
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, "faithfulness.json"), "w") as f:
    json.dump(rows, f, indent=1)
  print(f"{len(rows)} models; worst relative difference {max(r['relative'] for r in rows):.2e}; "
        f"wrote {FLAGS.out}/faithfulness.json")


def _no_overwrite(path):
  if os.path.exists(path):
    raise SystemExit(f"{path} exists; not overwriting it (choose another --out)")
  return path


def cmd_images():
  """160x160 gray crops in [0, 1] of scikit-image photos (skimage.data), each named."""
  import skimage.color
  import skimage.data
  import skimage.transform

  def gray(image):
    return skimage.color.rgb2gray(image) if image.ndim == 3 else image / 255.0

  def crop(image, scale, top, left):
    image = skimage.transform.rescale(gray(image), scale, anti_aliasing=True)
    return image[top:top + 160, left:left + 160]

  specs = [("astronaut_face", skimage.data.astronaut(), 0.5, 10, 50), ("camera", skimage.data.camera(), 0.5, 20, 60),
           ("coffee", skimage.data.coffee(), 0.5, 20, 70), ("chelsea", skimage.data.chelsea(), 0.6, 0, 60),
           ("rocket", skimage.data.rocket(), 0.5, 40, 100), ("coins", skimage.data.coins(), 0.6, 10, 40),
           ("moon", skimage.data.moon(), 0.5, 40, 40), ("brick", skimage.data.brick(), 0.5, 40, 40)]
  images = np.stack([crop(im, sc, t, l) for _, im, sc, t, l in specs])[..., None].astype(np.float32)
  assert images.shape == (len(specs), 160, 160, 1), images.shape
  os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
  np.savez(_no_overwrite(FLAGS.output), images=images, names=np.array([n for n, *_ in specs]))
  image_io.save_grid(FLAGS.output[:-4] + ".png", images, ncols=8, lo=0.0, hi=1.0)
  print(f"wrote {FLAGS.output} {images.shape} ({', '.join(n for n, *_ in specs)}) and its PNG")


def pretrained_config(size, levels, rf, weights):
  from configs import lcm_celeba160_pretrained, lcm_celeba320_pretrained
  c = (lcm_celeba160_pretrained if size == 160 else lcm_celeba320_pretrained).get_config()
  kind = "flat" if levels == 0 else "multi_scale"
  c.pyramid.levels, c.lcm.receptive_field = levels, rf
  c.lcm.weights_dir = os.path.join(weights, kind, f"celebA_{size}x{size}_gray")
  return c


def cmd_denoise():
  with np.load(FLAGS.images) as f:
    clean = np.asarray(f["images"], np.float32)
  out_dir = FLAGS.out
  os.makedirs(out_dir, exist_ok=True)
  path = _no_overwrite(os.path.join(out_dir, "denoise_rf.json"))
  rows = []
  for kind, levels in (("flat", 0), ("multi_scale", 2)):
    for rf in map(int, FLAGS.rfs):
      config = pretrained_config(160, levels, rf, FLAGS.weights)
      fns = lcm.residuals(lcm_pretrained.load_models(config))
      table, grid = lcm_modes.denoising(config, fns, clean, jax.random.key(FLAGS.seed))
      rows.append(dict(kind=kind, receptive_field=rf, table=table))
      print(f"{kind:11s} RF {rf:2d}: " + ", ".join(f"{r['sigma']}: {r['psnr_denoised']:.2f}" for r in table), flush=True)
      if rf == 13:
        image_io.save_grid(os.path.join(out_dir, f"denoise_{kind}_rf13.png"), grid, lo=0.0, hi=1.0)
  noisy = {r["sigma"]: r["psnr_noisy"] for r in rows[0]["table"]}
  with open(path, "w") as f:
    json.dump(dict(images=FLAGS.images, num_images=len(clean), noisy_psnr=noisy, rows=rows), f, indent=1)
  sigmas = [r["sigma"] for r in rows[0]["table"]]
  fig, axes = plots.new_figure(len(sigmas), 3.2, 3.0)
  for ax, (i, sigma) in zip(axes, enumerate(sigmas)):
    for kind in ("flat", "multi_scale"):
      pts = [(r["receptive_field"], r["table"][i]["psnr_denoised"]) for r in rows if r["kind"] == kind]
      ax.plot(*zip(*pts), "o-", label=kind)
    ax.axhline(noisy[sigma], color="gray", ls=":", label="noisy")
    plots.log_axis_ticks(ax, [int(r) for r in FLAGS.rfs])
    ax.set_title(f"sigma = {sigma}/255")
    ax.set_xlabel("receptive field")
  axes[0].set_ylabel("PSNR (dB)")
  axes[0].legend()
  plots.save(fig, os.path.join(out_dir, "denoise_rf.png"))
  print(f"wrote {path} and denoise_rf.png")


def cmd_synthesize():
  size = FLAGS.size
  levels = {160: 2, 320: 3}[size]
  config = pretrained_config(size, levels, 13, FLAGS.weights)
  config.sampling.batch_size = FLAGS.num
  out_dir = FLAGS.out
  os.makedirs(out_dir, exist_ok=True)
  path = _no_overwrite(os.path.join(out_dir, f"synthesis_{size}.json"))
  fns, ascent, constrain = lcm_modes._setup(config, None, 1)
  start = time.perf_counter()
  out, seconds = lcm_modes.synthesize(config, fns, ascent, constrain, FLAGS.num, jax.random.key(FLAGS.seed), 1)
  wall = time.perf_counter() - start
  low = out.lowpasses[0]                      # the (rescaled) 40x40 low-pass the details were drawn given
  draws, draws_diverged = [out.image], [out.diverged]
  for k in range(FLAGS.draws):
    again, _ = lcm_modes.super_resolve(config, fns, ascent, constrain, low, levels, jax.random.key(FLAGS.seed + 1 + k))
    draws.append(again.image)
    draws_diverged.append(again.diverged)
  names = ["coarse"] + [f"scale_{j}" for j in range(levels, 0, -1)]
  its = {n: dict(mean=float(np.mean(i)), min=int(np.min(i)), max=int(np.max(i)), per_image=np.asarray(i).tolist())
         for n, i in zip(names, out.iterations)}
  finest = lambda images: np.asarray(wavelets.decompose(jnp.asarray(images), "haar", levels).details[0])
  detail_std = [np.std(finest(d), axis=(1, 2, 3)).tolist() for d in draws]
  result = dict(config=config.name, size=size, levels=levels, num=FLAGS.num, iterations=its,
                denoiser_calls_per_image=sum(v["mean"] for v in its.values()), seconds_per_image=seconds,
                wall_seconds_with_compilation=wall, diverged=int(np.sum(out.diverged)),
                diverged_per_draw=[np.asarray(d).astype(int).tolist() for d in draws_diverged],
                extra_draws=FLAGS.draws, finest_detail_std=detail_std,   # per draw, per image (image units)
                conditional_spread=float(np.mean(np.std(np.stack(draws), axis=0))),
                ascent=dict(config.ascent), authors_reported=dict(
                    coarse="5,359-14,208 iterations (fixed h0 = 0.01)", conditional="60-98 per scale (adaptive h)"))
  with open(path, "w") as f:
    json.dump(result, f, indent=1)
  np.savez(path[:-5] + ".npz", lowpass=low, diverged=np.stack(draws_diverged), **{f"draw_{i}": d for i, d in enumerate(draws)})
  up = np.asarray(jax.image.resize(jnp.asarray(low), out.image.shape, "nearest"))
  grid = np.concatenate([up] + draws)          # rows: low-pass (nearest-upsampled), then the draws
  image_io.save_grid(os.path.join(out_dir, f"synthesis_{size}.png"), grid, ncols=FLAGS.num, lo=0.0, hi=1.0)
  print(f"{size}x{size}: {FLAGS.num} images, {result['diverged']} diverged; denoiser calls per image "
        + ", ".join(f"{n} {v['mean']:.0f} ({v['min']}-{v['max']})" for n, v in its.items())
        + f"; {seconds:.1f} s per image (compiled; {wall:.0f} s wall in all); wrote {path} and synthesis_{size}.png")


def cmd_bands():
  with np.load(FLAGS.images) as f:
    clean = np.asarray(f["images"], np.float32)
  config = pretrained_config(160, 2, 13, FLAGS.weights)
  config.eval.denoise_sigmas = (20, 60)
  base = lcm.residuals(lcm_pretrained.load_models(config))

  def wrap(f, perm, sign):   # the network sees the bands permuted / sign-flipped, its output mapped back
    perm, sign = jnp.array(perm), jnp.array(sign, jnp.float32)
    inv = jnp.argsort(perm)
    return lambda y, cond: f((y * sign)[..., perm], cond)[..., inv] * sign

  rows = []
  for perm in ((0, 1, 2), (1, 0, 2)):
    for sign in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1)):
      fns = {k: (v if k == "coarse" else wrap(v, perm, sign)) for k, v in base.items()}
      table, _ = lcm_modes.denoising(config, fns, clean, jax.random.key(FLAGS.seed))
      rows.append(dict(order="HVD" if perm == (0, 1, 2) else "VHD", signs=list(sign),
                       psnr={r["sigma"]: r["psnr_denoised"] for r in table}))
      print(f"bands {rows[-1]['order']} signs {sign}: " + ", ".join(f"sigma {s}: {p:.2f} dB" for s, p in
                                                                   rows[-1]["psnr"].items()), flush=True)
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(_no_overwrite(os.path.join(FLAGS.out, "bands.json")), "w") as f:
    json.dump(rows, f, indent=1)


def main(argv):
  commands = {"apply": cmd_apply, "compare": cmd_compare, "images": cmd_images, "denoise": cmd_denoise,
              "synthesize": cmd_synthesize, "bands": cmd_bands}
  if len(argv) != 2 or argv[1] not in commands:
    raise SystemExit(f"usage: {argv[0]} {{{'|'.join(commands)}}} [flags]")
  commands[argv[1]]()


if __name__ == "__main__":
  app.run(main)
