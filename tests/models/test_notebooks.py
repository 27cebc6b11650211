"""The data science notebooks run top to bottom on the sample data (nbclient, the venv's python3 kernel)."""

from __future__ import annotations

import nbformat
import pytest
from models_testlib import MODEL_NAMES, REPO
from nbclient import NotebookClient

from factory.catalog import load_model_spec


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_notebook_runs_and_trains_with_the_pipeline_functions(name):
    notebook = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for call in ("prep.clean(", "transform.split(", "train.fit(", "evaluate.compute_metrics("):
        assert call in source  # the pipeline's own functions, not a copy of them
    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream").splitlines()
    gate_lines = [line for line in printed if "   gate {" in line]
    assert len(gate_lines) == len(load_model_spec(REPO / "models" / name).gate.thresholds)
    assert all(line.endswith("pass") for line in gate_lines), gate_lines


IMAGE_CALLS = {name: ("prep.prepare(", "transform.split(", "train.fit(", "evaluate.choose(")
               for name in ("digits", "shapes_detector")}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMAGE_CALLS))
def test_the_image_model_notebook_runs_and_trains_with_the_pipeline_functions(name):
    """Image models train with torch: their notebooks run in the slow suite."""
    notebook = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for call in IMAGE_CALLS[name]:
        assert call in source
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream").splitlines()
    gate_lines = [line for line in printed if "   gate {" in line]
    assert len(gate_lines) == len(load_model_spec(REPO / "models" / name).gate.metrics)
    assert all(line.endswith("pass") for line in gate_lines), gate_lines
