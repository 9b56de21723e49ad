"""autograder.authoring writes the cell metadata nbgrader's "Create Assignment" toolbar writes."""

import nbformat

from autograder import authoring


def test_cells_carry_nbgrader_metadata(tmp_path):
    path = tmp_path / "lab.ipynb"
    authoring.write_notebook([
        authoring.markdown("# Lab", grade_id="intro"),
        authoring.code("import utils"),
        authoring.answer("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "f"),
        authoring.tests("assert f(2) == 4\nprint('ok')", "test_f", points=2),
        authoring.written("Why?", "why", points=1),
    ], path)
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    meta = [cell.metadata.get("nbgrader") for cell in nb.cells]
    assert meta[0]["locked"] and not meta[0]["grade"] and not meta[0]["solution"]
    assert meta[1] is None
    assert meta[2]["solution"] and not meta[2]["grade"] and not meta[2]["locked"]
    assert meta[3]["grade"] and meta[3]["locked"] and meta[3]["points"] == 2
    assert meta[4]["grade"] and meta[4]["solution"] and nb.cells[4].cell_type == "markdown"
    assert {m["schema_version"] for m in meta if m} == {3}
    assert nb.metadata.kernelspec.name == "python3"
