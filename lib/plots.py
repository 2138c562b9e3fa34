"""PNG figures. The Agg backend renders without a display (CI, TPU VMs, Colab runtimes)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import matplotlib.ticker  # noqa: E402

from lib import outputs  # noqa: E402


def new_figure(ncols: int, width: float = 5.0, height: float = 4.0):
  fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
  return fig, axes[0]


def save(fig, path: str) -> None:
  fig.tight_layout()
  outputs.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
  plt.close(fig)


def log_axis_ticks(ax, values) -> None:
  """Log-scaled x axis labelled exactly at `values` (steps N, receptive fields): the default log locator puts
  overlapping minor labels like 6x10^0 on ranges under a few decades."""
  ax.set_xscale("log", base=2)
  ax.set_xticks(list(values), [str(v) for v in values])
  ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
