"""PNG figures. The Agg backend renders without a display (CI, TPU VMs, Colab runtimes)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)


def new_figure(ncols: int, width: float = 5.0, height: float = 4.0):
  fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
  return fig, axes[0]


def save(fig, path: str) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
