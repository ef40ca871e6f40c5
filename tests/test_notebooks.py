"""Every notebook in notebooks/ executes top to bottom (nbclient) in the venv's own Python.

Cells tagged ``figure`` must show an image inline (``image/png`` in their executed outputs): the
walkthrough uses ``%matplotlib inline`` and ``IPython.display.Image``, so figures appear in Jupyter too.

The kernel is the "python3" kernel of ipykernel, which jupyter_client starts with ``sys.executable``:
run under ``.venv/bin/python -m pytest`` (scripts/test.sh), the notebook imports the same ``aivf``.
``AIVF_WALKTHROUGH_OUT`` sends the notebook's outputs to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("AIVF_WALKTHROUGH_OUT", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    # the kernel imports the aivf of this checkout, even where the venv's editable install points elsewhere
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    figures = [cell for cell in notebook.cells if "figure" in cell.metadata.get("tags", [])]
    for cell in figures:  # a figure cell shows its figure inline (a PNG output), not only a path to one
        assert any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])), cell.source[:200]
    if path.name == "walkthrough.ipynb":  # the journey reached its end: a report and a ranked cohort
        assert len(figures) >= 3  # keyframes, training curves, ROC + reliability
        assert (tmp_path / "walkthrough" / "eval" / "report.html").is_file()
        assert (tmp_path / "walkthrough" / "rank" / "ranked.csv").is_file()


def test_notebooks_are_stored_without_outputs():
    """Outputs (paths, timings, images) would go stale and bloat diffs; the test suite regenerates them."""
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name


def test_there_is_a_walkthrough():
    assert (ROOT / "notebooks" / "walkthrough.ipynb").is_file()
    assert os.path.getsize(ROOT / "notebooks" / "walkthrough.ipynb") > 1000
