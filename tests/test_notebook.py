"""notebooks/colab_tpu.ipynb, executed cell by cell in a Jupyter kernel (nbclient) on CPU with a tiny model."""
import os

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_colab_notebook_runs_on_cpu(tmp_path, monkeypatch):
  workdir = tmp_path / "colab"
  monkeypatch.setenv("WSGM_NOTEBOOK_TINY", "1")   # the kernel inherits this process's environment
  monkeypatch.setenv("WSGM_NOTEBOOK_WORKDIR", str(workdir))
  notebook = nbformat.read(os.path.join(ROOT, "notebooks", "colab_tpu.ipynb"), as_version=4)
  NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
  assert "device(s) on cpu" in text and "tiny_wsgm: 16x16, J = 1" in text
  assert "samples_0.npz: 8 images of 16x16" in text
  assert any("image/png" in o.get("data", {}) for o in outputs)      # the sample grid was shown
  assert "celeba_wsgm: 64x64x3, J = 2" in text
  assert sorted(os.listdir(workdir / "samples")) == ["samples_0.npz", "samples_0.png", "samples_0_lowpass.png"]
