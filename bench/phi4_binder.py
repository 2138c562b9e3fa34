"""Physics check of the phi^4 MCMC data: Binder cumulant U4 vs L across the critical point. Run by hand:

  python bench/phi4_binder.py --out=runs/phi4_binder --cache=runs/phi4_data

Each sweep is checkerboard Metropolis plus a Swendsen-Wang update of the signs (lib/phi4.py), which keeps
tau_int(m) at a few sweeps near beta_c; --no_cluster runs local Metropolis alone, whose tau_int(m) is
~200-900 sweeps at L = 8 (measured by --reference_sizes) and grows like L^2 (it then needs --burn_in/--pilot of tens of thousands).

Ising universality: at beta_c ~ 0.68, U4 -> 0.6107 as L grows; below beta_c (0.66) U4 decreases with L
(disorder), above (0.70) it increases towards 2/3 (order).
Reference (--reference_sizes, default 8,16): the same lattices sampled by local checkerboard Metropolis
alone, no cluster updates: another Markov chain with the same stationary law, so U4 must agree within the
errors of both; its autocorrelation times are 100x longer, hence its own (long) burn-in and pilot.
Writes OUT/phi4_binder_<k>.json (observables with bootstrap errors, autocorrelation times; never
overwritten) and phi4_binder.png.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib import outputs, phi4, plots  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="runs/phi4_binder")
  parser.add_argument("--cache", default="runs/phi4_data")
  parser.add_argument("--sizes", default="8,16,32")
  parser.add_argument("--betas", default="0.66,0.68,0.70")
  parser.add_argument("--chains", type=int, default=256)
  parser.add_argument("--samples_per_chain", type=int, default=16)
  parser.add_argument("--burn_in", type=int, default=500)
  parser.add_argument("--pilot", type=int, default=1000)
  parser.add_argument("--no_cluster", action="store_true", help="local Metropolis only (slow near beta_c)")
  parser.add_argument("--reference_sizes", default="8,16", help="sizes also sampled by local Metropolis alone")
  parser.add_argument("--reference_burn_in", type=int, default=20000)
  parser.add_argument("--reference_pilot", type=int, default=40000)
  args = parser.parse_args()
  reference_sizes = {int(s) for s in args.reference_sizes.split(",") if s}
  rows = []
  for beta in [float(b) for b in args.betas.split(",")]:
    for size in [int(s) for s in args.sizes.split(",")]:
      p = phi4.Phi4(size=size, beta=beta, chains=args.chains, samples_per_chain=args.samples_per_chain,
                    burn_in=args.burn_in, pilot=args.pilot, cluster=not args.no_cluster)
      fields = phi4.load_or_generate(p, args.cache)
      obs = phi4.observables(fields, beta, p.lam)
      rows.append(dict(beta=beta, L=size, fields=len(fields), **phi4.cached_report(p, args.cache),
                       **{k: list(v) for k, v in obs.items()}))
      if size in reference_sizes:   # local Metropolis alone, its own seed
        q = phi4.Phi4(size=size, beta=beta, chains=args.chains, samples_per_chain=args.samples_per_chain,
                      burn_in=args.reference_burn_in, pilot=args.reference_pilot, cluster=False, seed=p.seed + 7)
        ref = phi4.observables(phi4.load_or_generate(q, args.cache), beta, q.lam)
        rows[-1]["reference"] = dict(method="local checkerboard Metropolis, no cluster updates",
                                     binder_u4=list(ref["binder_u4"]), **phi4.cached_report(q, args.cache))
      r = rows[-1].get("reference")
      print(f"beta={beta:.2f} L={size:>3}: U4 = {obs['binder_u4'][0]:.3f} +- {obs['binder_u4'][1]:.3f}"
            + (f" (Metropolis alone: {r['binder_u4'][0]:.3f} +- {r['binder_u4'][1]:.3f}, tau_m "
               f"{r['tau_magnetization']:.0f} sweeps)" if r else "")
            + f", tau_m = {rows[-1]['tau_magnetization']:.1f} sweeps", flush=True)
  path = outputs.write_json_run(args.out, "phi4_binder", rows)
  fig, axes = plots.new_figure(1)
  for beta in sorted({r["beta"] for r in rows}):
    sel = [r for r in rows if r["beta"] == beta]
    axes[0].errorbar([r["L"] for r in sel], [r["binder_u4"][0] for r in sel], [r["binder_u4"][1] for r in sel],
                     marker="o", capsize=3, label=f"beta={beta:.2f}")
  axes[0].axhline(0.6107, color="gray", ls="--", label="Ising U4* = 0.6107")
  axes[0].set(xscale="log", xlabel="L", ylabel="Binder cumulant U4", title="phi^4 (lambda = 1), MCMC data")
  axes[0].legend()
  plots.save(fig, os.path.join(args.out, "phi4_binder.png"))
  print("\n" + "\n".join(f"{'beta':>6} " + " ".join(f"{'L=' + str(s):>15}" for s in args.sizes.split(",")) for _ in [0]))
  for beta in sorted({r["beta"] for r in rows}):
    cells = [f"{r['binder_u4'][0]:.3f}+-{r['binder_u4'][1]:.3f}" for r in rows if r["beta"] == beta]
    print(f"{beta:>6.2f} " + " ".join(f"{c:>15}" for c in cells))
  print(f"wrote {path} (and phi4_binder.json, the newest) and phi4_binder.png")


if __name__ == "__main__":
  main()
