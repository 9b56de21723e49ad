"""Every lab also runs on ARM machines, where PyTorch has only the qnnpack engine.

There is no ARM machine in CI, so each solution is executed with
``torch.backends.quantized.supported_engines`` reporting only ``['qnnpack']``: the labs choose
their engine from that list, so this exercises their ARM code paths (qnnpack kernels, skipped
x86-only measurements). No cell may fail and no graded test cell may write to stderr.
"""

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import cells
from autograder.course import Course

ONLY_QNNPACK = """\
import torch
type(torch.backends.quantized).supported_engines = property(lambda self: ["qnnpack"])
"""


@pytest.mark.notebooks
@pytest.mark.parametrize("lab", Course().lab_names())
def test_lab_runs_with_only_qnnpack(lab):
    path = Course().solution_notebook(lab)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(ONLY_QNNPACK))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, cell in enumerate(nb.cells)
              if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{lab} fails on a qnnpack-only machine: {errors}"
    stderr = [cells.grade_id(cell) for cell in nb.cells
              if cells.is_code(cell) and cells.is_graded(cell)
              and any(o.get("name") == "stderr" for o in cell.outputs)]
    assert not stderr, f"{lab}: graded cells write to stderr on a qnnpack-only machine: {stderr}"
