"""autograder.authoring writes the cell metadata nbgrader's "Create Assignment" toolbar writes."""

import nbformat

from autograder import authoring, cells


def test_cells_carry_nbgrader_metadata(tmp_path):
    path = tmp_path / "lab.ipynb"
    authoring.write_notebook([
        authoring.markdown("# Lab", grade_id="intro"),
        authoring.code("import utils"),
        authoring.answer("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                         "    ### END SOLUTION", "f"),
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


def test_cells_reads_what_authoring_writes():
    """autograder.cells (the reader, on nbgrader.utils) agrees with the writer cell by cell."""
    nb = authoring.new_notebook([
        authoring.markdown("# Lab", grade_id="intro"),
        authoring.code("import utils"),
        authoring.answer("def f(x):\n    return 2 * x", "f"),
        authoring.tests("assert f(2) == 4\nprint('ok')", "test_f", points=2),
        authoring.written("Why?", "why", points=1),
    ])
    assert [cells.grade_id(c) for c in nb.cells] == ["intro", None, "f", "test_f", "why"]
    assert [cells.is_answer(c) for c in nb.cells] == [False, False, True, False, True]
    assert [cells.is_autograded_test(c) for c in nb.cells] == [False, False, False, True, False]
    assert [cells.is_locked(c) for c in nb.cells] == [True, False, False, True, False]
    assert (cells.points(nb.cells[3]), cells.points(nb.cells[4])) == (2.0, 1.0)
    assert cells.grade_index(nb.cells) == {"intro": 0, "f": 2, "test_f": 3, "why": 4}
