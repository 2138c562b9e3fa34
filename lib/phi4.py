"""Lattice phi^4 on a periodic L x L grid, sampled by checkerboard Metropolis plus embedded-Ising cluster
updates in JAX.

S(phi) = sum_x [ -beta sum_{mu=1,2} phi_x phi_{x+mu} + phi_x^2 + lam (phi_x^2 - 1)^2 ]   (lam = 1: beta_c ~ 0.68)

Sites of one colour of the checkerboard have no neighbours of that colour, so all of them are updated at
once, exactly (each site's acceptance depends only on the other colour). Metropolis alone slows down
critically (tau ~ 200-700 sweeps at L = 8 near beta_c, growing like L^2), so each sweep is followed by a
Swendsen-Wang update of the signs (Brower & Tamayo 1989): with phi = s |phi| the hopping term is an Ising
model in s with couplings beta |phi_x| |phi_y|, and flipping whole clusters decorrelates m in a few sweeps.
Many independent chains run in parallel. Burn-in and thinning come from the measured integrated
autocorrelation times of the magnetization and the action; thinning by less would give correlated fields.
"""
import dataclasses
import hashlib
import json
import os
import time
from typing import Tuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lib import outputs
from lib.errors import InputError


@dataclasses.dataclass(frozen=True)
class Phi4:
  size: int = 32
  beta: float = 0.68
  lam: float = 1.0
  chains: int = 256
  samples_per_chain: int = 16
  burn_in: int = 2000          # sweeps, before the autocorrelation pilot
  pilot: int = 2000            # sweeps used to measure autocorrelation times
  step_size: float = 1.5       # Metropolis proposal phi + step_size * U(-1, 1)
  hits: int = 2                # Metropolis hits per site per sweep
  cluster: bool = True         # a Swendsen-Wang sign update after every Metropolis sweep
  seed: int = 0

  def key(self) -> str:
    """Cache key: every parameter that changes the law or the sample."""
    text = json.dumps(dataclasses.asdict(self), sort_keys=True)
    return f"phi4_L{self.size}_b{self.beta:g}_l{self.lam:g}_" + hashlib.sha1(text.encode()).hexdigest()[:12]


def _site_terms(phi, xp):
  """Per site of (..., L, L): the hopping phi_x (phi_{x+e1} + phi_{x+e2}), phi_x^2 and (phi_x^2 - 1)^2, the terms
  of the action density (xp: numpy or jax.numpy)."""
  sq = phi ** 2
  return phi * (xp.roll(phi, 1, -1) + xp.roll(phi, 1, -2)), sq, (sq - 1) ** 2


def action(phi: jax.Array, beta: float, lam: float) -> jax.Array:
  """S(phi) for a batch of fields (..., L, L)."""
  hop, sq, quartic = _site_terms(phi, jnp)
  return jnp.sum(-beta * hop + sq + lam * quartic, axis=(-2, -1))


def action_terms(fields: np.ndarray) -> dict:
  """Per field (N, L, L, 1), the site averages S / V is made of: S / V = -beta hopping + phi2 + lam quartic, with
  hopping = <phi_x (phi_{x+e1} + phi_{x+e2})> (nearest-neighbour correlation: the spectrum's business), phi2 =
  <phi_x^2> and quartic = <(phi_x^2 - 1)^2> (the one-point law's: how far the field leaves the wells)."""
  hop, sq, quartic = _site_terms(np.asarray(fields[..., 0], np.float64), np)
  return dict(hopping=hop.mean((1, 2)), phi2=sq.mean((1, 2)), quartic=quartic.mean((1, 2)))


def action_term_differences(generated, target, beta: float, lam: float, paired: bool = False) -> dict:
  """{S/V and each of its terms: generated mean - target mean, its se, relative to the target}; paired
  (generated[i] made from target[i]'s low-pass): the se of the per-field differences, else both sets' se."""
  g, t = (action_terms(x) for x in (generated, target))
  for d in (g, t):
    d["S/V"] = -beta * d["hopping"] + d["phi2"] + lam * d["quartic"]
  se = lambda x: float(np.std(x, ddof=1) / np.sqrt(len(x)))
  out = {}
  for k in ("S/V", "hopping", "phi2", "quartic"):
    diff = float(g[k].mean() - t[k].mean())
    out[k] = {"difference": diff, "se": se(g[k] - t[k]) if paired else float(np.hypot(se(g[k]), se(t[k]))),
              "relative": diff / float(t[k].mean())}
  return out


def _local(phi, h, beta, lam):
  """Terms of S that involve one site with value phi and neighbour sum h."""
  sq = phi ** 2
  return -beta * phi * h + sq + lam * (sq - 1) ** 2


def sweep(key, phi, beta, lam, step_size, hits):
  """One sweep = `hits` Metropolis updates of every site, colour by colour. phi: (chains, L, L)."""
  size = phi.shape[-1]
  parity = (jnp.arange(size)[:, None] + jnp.arange(size)[None, :]) % 2
  for colour in (0, 1):
    mask = parity == colour
    h = jnp.roll(phi, 1, -1) + jnp.roll(phi, -1, -1) + jnp.roll(phi, 1, -2) + jnp.roll(phi, -1, -2)
    for _ in range(hits):
      key, k_prop, k_acc = jax.random.split(key, 3)
      proposal = phi + step_size * jax.random.uniform(k_prop, phi.shape, minval=-1, maxval=1)
      delta = _local(proposal, h, beta, lam) - _local(phi, h, beta, lam)
      accept = mask & (jnp.log(jax.random.uniform(k_acc, phi.shape)) < -delta)
      phi = jnp.where(accept, proposal, phi)
  return phi


def cluster_labels(bond_right: jax.Array, bond_down: jax.Array) -> jax.Array:
  """Connected components of the periodic lattice whose open bonds are bond_right[x] (x -- x + e_2) and
  bond_down[x] (x -- x + e_1), shapes (chains, L, L): each site gets the smallest flat site index of its
  cluster. Min-label propagation with pointer jumping; labels[x] <= x and stays in x's cluster throughout,
  so the fixed point is the cluster minimum."""
  chains, size, _ = bond_right.shape
  start = jnp.broadcast_to(jnp.arange(size * size).reshape(size, size), bond_right.shape)

  def step(labels):
    new = labels
    for bond, shift, axis in ((bond_right, -1, -1), (jnp.roll(bond_right, 1, -1), 1, -1),
                              (bond_down, -1, -2), (jnp.roll(bond_down, 1, -2), 1, -2)):
      new = jnp.where(bond, jnp.minimum(new, jnp.roll(labels, shift, axis)), new)
    flat = new.reshape(chains, -1)
    return jnp.take_along_axis(flat, flat, axis=1).reshape(labels.shape)   # pointer jumping

  def cond(state):
    labels, previous = state
    return jnp.any(labels != previous)

  labels, _ = jax.lax.while_loop(cond, lambda state: (step(state[0]), state[0]), (step(start), start))
  return labels


def cluster_update(key, phi, beta):
  """Swendsen-Wang on the signs of phi at fixed |phi|: aligned neighbours are bonded with probability
  1 - exp(-2 beta |phi_x| |phi_y|), and every cluster flips with probability 1/2."""
  k_right, k_down, k_flip = jax.random.split(key, 3)
  chains, size, _ = phi.shape
  magnitude = jnp.abs(phi)

  def bonds(k, shift, axis):
    aligned = phi * jnp.roll(phi, shift, axis) > 0
    p = -jnp.expm1(-2.0 * beta * magnitude * jnp.roll(magnitude, shift, axis))
    return aligned & (jax.random.uniform(k, phi.shape) < p)

  labels = cluster_labels(bonds(k_right, -1, -1), bonds(k_down, -1, -2))
  flip = jax.random.bernoulli(k_flip, 0.5, (chains, size * size))
  flip = jnp.take_along_axis(flip, labels.reshape(chains, -1), axis=1).reshape(phi.shape)
  return jnp.where(flip, -phi, phi)


def _make_run(beta, lam, step_size, hits, cluster):
  """Jitted (key, phi, n) -> (phi after n sweeps, per-sweep (magnetization, action density) per chain)."""
  @jax.jit
  def run(key, phi, keys):
    def body(phi, k):
      k_local, k_cluster = jax.random.split(k)
      phi = sweep(k_local, phi, beta, lam, step_size, hits)
      if cluster:
        phi = cluster_update(k_cluster, phi, beta)
      return phi, (phi.mean(axis=(-2, -1)), action(phi, beta, lam) / phi[0].size)
    return jax.lax.scan(body, phi, keys)
  return lambda key, phi, n: run(key, phi, jax.random.split(key, n))


def integrated_autocorrelation(series: np.ndarray, c: float = 5.0) -> float:
  """tau_int of a (time, chains) series, averaged over chains, with Sokal's automatic window: the smallest
  W with W >= c tau(W). tau = 0.5 for independent samples."""
  x = series - series.mean(axis=0)
  n = x.shape[0]
  f = np.fft.rfft(x, 2 * n, axis=0)
  acf = np.fft.irfft(np.abs(f) ** 2, axis=0)[:n].mean(axis=1)
  acf /= acf[0]
  tau = 0.5
  for w in range(1, n):
    tau += acf[w]
    if w >= c * tau:
      return float(tau)
  return float(tau)   # window never closed: the run is too short to trust, caller checks tau vs length


def generate(p: Phi4) -> Tuple[np.ndarray, dict]:
  """Fields (chains * samples_per_chain, L, L, 1) float32 and a report (acceptance-free summary: taus,
  thinning, sweeps, seconds)."""
  start = time.time()
  run = _make_run(p.beta, p.lam, p.step_size, p.hits, p.cluster)
  key = jax.random.key(p.seed)
  key, k0 = jax.random.split(key)
  phi = jax.random.normal(k0, (p.chains, p.size, p.size))
  key, k = jax.random.split(key)
  phi, _ = run(k, phi, p.burn_in)
  key, k = jax.random.split(key)
  phi, (m, s) = run(k, phi, p.pilot)
  tau_m = integrated_autocorrelation(np.asarray(m))
  tau_s = integrated_autocorrelation(np.asarray(s))
  tau = max(tau_m, tau_s)
  if p.pilot < 20 * tau or p.burn_in < 10 * tau:
    raise InputError(f"phi4 beta={p.beta} L={p.size}: autocorrelation time {tau:.0f} sweeps is too long for "
                     f"burn_in={p.burn_in} / pilot={p.pilot} (need >= 10 tau / 20 tau); raise them")
  thin = int(np.ceil(2 * tau))
  fields = []
  for i in range(p.samples_per_chain):
    key, k = jax.random.split(key)
    phi, _ = run(k, phi, thin)
    fields.append(np.asarray(phi))
    done = i + 1
    eta = (time.time() - start) / done * (p.samples_per_chain - done)
    if done % max(p.samples_per_chain // 4, 1) == 0:
      logging.info("phi4 L=%d beta=%g: %d/%d samples per chain, ETA %.0fs", p.size, p.beta, done,
                   p.samples_per_chain, eta)
  fields = np.stack(fields, axis=1).reshape(-1, p.size, p.size, 1).astype(np.float32)
  report = dict(tau_magnetization=tau_m, tau_action=tau_s, thinning=thin,
                sweeps=p.burn_in + p.pilot + thin * p.samples_per_chain, seconds=time.time() - start)
  return fields, report


def load_or_generate(p: Phi4, cache_dir: str) -> np.ndarray:
  """Fields from CACHE_DIR/<key>.npz, made once. The file stores its parameters; a file whose parameters
  differ from `p` is an error, never silently reused. An unreadable (truncated) cache is reported, set aside
  as <key>.npz.corrupt-<time> (not deleted) and made again."""
  path = os.path.join(cache_dir, p.key() + ".npz")
  if os.path.exists(path):
    try:
      with np.load(path) as f:
        stored, fields = json.loads(str(f["params"])), np.asarray(f["fields"])
    except Exception as e:   # truncated / not an .npz: regenerate rather than fail or reuse garbage
      aside = f"{path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
      os.rename(path, aside)
      logging.warning("phi4 cache %s is unreadable (%s: %s); set aside as %s, generating it again", path,
                      type(e).__name__, e, aside)
    else:
      if stored != dataclasses.asdict(p):
        raise InputError(f"phi4 cache {path} holds parameters {stored}, not {dataclasses.asdict(p)}")
      return fields
  fields, report = generate(p)
  # atomic: a killed run never leaves a half-written cache
  outputs.save_npz(path, fields=fields, params=json.dumps(dataclasses.asdict(p)), report=json.dumps(report))
  logging.info("phi4: wrote %s (%s)", path, report)
  return fields


def cached_report(p: Phi4, cache_dir: str) -> dict:
  """The generation report (autocorrelation times, thinning, sweeps, seconds) stored with the cache."""
  with np.load(os.path.join(cache_dir, p.key() + ".npz")) as f:
    return json.loads(str(f["report"]))


def field_statistics(fields: np.ndarray, beta: float, lam: float) -> dict:
  """Per field (N, L, L, 1): magnetization m and action density s = S / V, the inputs of every observable."""
  phi = np.asarray(fields[..., 0], np.float64)
  s = np.asarray(action(jnp.asarray(phi, jnp.float32), beta, lam), np.float64) / phi[0].size
  return dict(m=phi.mean(axis=(1, 2)), s=s)


def observable_values(stats: dict, volume: int) -> dict:
  """{name: value} from field_statistics: <|m|>, Binder U4, susceptibility chi = V (<m^2> - <|m|>^2), <S>/V."""
  from lib import metrics
  m = stats["m"]
  return dict(abs_magnetization=float(np.mean(np.abs(m))), binder_u4=metrics.binder_cumulant(m),
              susceptibility=float(volume * (np.mean(m ** 2) - np.mean(np.abs(m)) ** 2)),
              action_density=float(np.mean(stats["s"])))


def observables(fields: np.ndarray, beta: float, lam: float) -> dict:
  """{name: (value, bootstrap error)} of observable_values for fields (N, L, L, 1)."""
  from lib import metrics
  volume = int(np.prod(fields.shape[1:3]))
  value, se = metrics.bootstrap(lambda st: observable_values(st, volume), field_statistics(fields, beta, lam))
  return {k: (value[k], se[k]) for k in value}
