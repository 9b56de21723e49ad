"""Build nbgrader notebooks from a list of cells, for lab authors and for tests.

The committed ``solutions/<lab>/<lab>.ipynb`` is the source of truth (instructors may edit it in
JupyterLab with nbgrader's "Create Assignment" toolbar). This module writes the same cell
metadata nbgrader's toolbar writes, so a lab can also be drafted as a Python list::

    cells = [
        markdown("# Lab 00", grade_id="intro"),
        code("import utils"),
        answer("def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION",
               grade_id="f"),
        tests("assert f(2) == 4\\nprint('f: ok')", grade_id="test_f", points=1),
    ]
    write_notebook(cells, "solutions/00_orientation/00_orientation.ipynb")

Cell kinds (nbgrader names): ``answer`` = "Autograded answer" (solution, not graded itself),
``tests`` = "Autograder tests" (graded, locked), ``written`` = "Manually graded answer",
``markdown``/``code`` = read-only cells when given a ``grade_id``.
"""

from os import PathLike

import nbformat
from nbformat import NotebookNode

__all__ = ["SCHEMA_VERSION", "KERNELSPEC", "markdown", "code", "answer", "tests", "written",
           "new_notebook", "write_notebook"]

SCHEMA_VERSION = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader(grade_id: str | None, grade: bool = False, solution: bool = False,
              locked: bool = False, points: float | None = None) -> dict:
    meta: dict[str, object] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                               "schema_version": SCHEMA_VERSION, "solution": solution,
                               "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(text: str, grade_id: str | None = None) -> NotebookNode:
    """A markdown cell; read-only for students when it has a ``grade_id``."""
    meta = _nbgrader(grade_id, locked=True) if grade_id else {}
    return nbformat.v4.new_markdown_cell(text, metadata=meta)


def code(source: str, grade_id: str | None = None) -> NotebookNode:
    """A code cell; read-only for students when it has a ``grade_id``."""
    meta = _nbgrader(grade_id, locked=True) if grade_id else {}
    return nbformat.v4.new_code_cell(source, metadata=meta)


def answer(source: str, grade_id: str) -> NotebookNode:
    """An autograded answer: the student's code, with the solution between
    ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (removed from the release)."""
    return nbformat.v4.new_code_cell(source, metadata=_nbgrader(grade_id, solution=True))


def tests(source: str, grade_id: str, points: float) -> NotebookNode:
    """Autograder tests worth ``points``; hidden parts go between
    ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``. Must end in a statement (a trailing
    number would be read as partial credit) and write nothing to stderr."""
    return nbformat.v4.new_code_cell(
        source, metadata=_nbgrader(grade_id, grade=True, locked=True, points=points))


def written(text: str, grade_id: str, points: float) -> NotebookNode:
    """A manually graded markdown answer worth ``points``."""
    return nbformat.v4.new_markdown_cell(
        text, metadata=_nbgrader(grade_id, grade=True, solution=True, points=points))


def new_notebook(cells: list[NotebookNode]) -> NotebookNode:
    """A notebook of ``cells`` with the python3 kernelspec the course executes with."""
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_notebook(cells: list[NotebookNode], path: str | PathLike) -> None:
    """Write ``cells`` as a notebook at ``path`` (outputs empty; execute it to fill them)."""
    nbformat.write(new_notebook(cells), str(path))
