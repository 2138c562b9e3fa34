"""Paired likelihood difference of two models on the same held-out points.

Reads two `--mode=eval --config.eval.likelihood=True` records (WORKDIR/eval/<name>_likelihood_<k>.json, or the
newest copy <name>_likelihood.json) and prints bits/dim(A) - bits/dim(B) with its bootstrap standard error over
the images, resampled in pairs: the images are the same, so the per-image difference removes the spread that
both models share (it is much smaller than the two errors combined as if independent). Records of different
points (another count, dequantization draw or held-out set: the stored images' SHA-256 differ) are refused.

python bench/likelihood_compare.py runs/wmgm_textures/textures_wsgm/eval/textures_wsgm_likelihood.json \
  runs/wmgm_textures/textures_sgm/eval/textures_sgm_likelihood.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from lib import metrics  # noqa: E402
from lib.errors import InputError  # noqa: E402


def paired(a: dict, b: dict) -> dict:
  """{difference, se, a, b, a_se, b_se, num_images} of two likelihood records, A - B in bits/dim."""
  for name, record in (("A", a), ("B", b)):
    if "per_image_bits_per_dim" not in record:
      raise InputError(f"record {name} ({record.get('config')!r}) has no per-image bits/dim: re-run its eval")
  if a["images_sha256"] != b["images_sha256"]:
    raise InputError(f"the two records scored different points ({a['num_images']} vs {b['num_images']} images, "
                     f"sha256 {a['images_sha256'][:12]} vs {b['images_sha256'][:12]}): a paired difference "
                     "needs the same held-out images, count and dequantization draw")
  diff, se = metrics.bootstrap(np.mean, np.subtract(a["per_image_bits_per_dim"], b["per_image_bits_per_dim"]))
  return dict(difference=diff, se=se, a=a["bits_per_dim"], a_se=a["bits_per_dim_se"], b=b["bits_per_dim"],
              b_se=b["bits_per_dim_se"], num_images=a["num_images"])


def main(argv):
  if len(argv) != 3:
    raise SystemExit(f"usage: {argv[0]} A_likelihood.json B_likelihood.json")
  records = [json.load(open(path)) for path in argv[1:]]
  try:
    r = paired(*records)
  except InputError as e:
    raise SystemExit(f"error: {e}")
  a, b = (rec["config"] for rec in records)
  print(f"{a}: {r['a']:.4f} +- {r['a_se']:.4f} bits/dim; {b}: {r['b']:.4f} +- {r['b_se']:.4f}; "
        f"{a} - {b} = {r['difference']:+.4f} +- {r['se']:.4f} (paired over {r['num_images']} images; "
        f"unpaired error {np.hypot(r['a_se'], r['b_se']):.4f})")


if __name__ == "__main__":
  main(sys.argv)
