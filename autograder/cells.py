"""nbgrader's cell metadata (``cell.metadata.nbgrader``), read in one place.

A cell of a lab is one of: an answer cell (``solution``: the student writes it), an autograded
test (``grade`` with points and no solution: hidden and visible asserts), an autograded answer
(``grade`` and ``solution``: the cell's own output is scored), or a locked cell (nbgrader puts
its source back). The rules are nbgrader's own (:mod:`nbgrader.utils`); this module only gives
them short names and takes a cell either as an ``nbformat.NotebookNode`` or as the plain dict
``json.load`` gives.
"""

from collections.abc import Mapping
from typing import Any

from nbformat import NotebookNode, from_dict
from nbgrader import utils as nbgrader_utils

__all__ = ["nbgrader_metadata", "grade_id", "points", "is_code", "is_graded", "is_answer",
           "is_locked", "is_autograded_test", "is_locked_code", "grade_index", "SKIP_KEY",
           "skip_reason", "skipped_when_grading"]

#: ``cell.metadata.autograder[SKIP_KEY]``: why a demonstration cell is not run when grading
SKIP_KEY = "skip_when_grading"

Cell = Mapping[str, Any]


def _node(cell: Cell) -> NotebookNode:
    """``cell`` as the NotebookNode nbgrader.utils expects (attribute access)."""
    return cell if isinstance(cell, NotebookNode) else from_dict(cell)


def nbgrader_metadata(cell: Cell) -> dict:
    """The cell's ``metadata.nbgrader`` ({} for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell: Cell) -> str | None:
    """The cell's nbgrader ``grade_id`` (None when it has none)."""
    return nbgrader_metadata(cell).get("grade_id")


def points(cell: Cell) -> float:
    """The points a graded cell is worth (as nbgrader reads them: a float)."""
    if not is_graded(cell):
        raise ValueError(f"cell {grade_id(cell)!r} is not graded: it has no points")
    return float(nbgrader_metadata(cell)["points"])


def is_code(cell: Cell) -> bool:
    return cell.get("cell_type") == "code"


def is_graded(cell: Cell) -> bool:
    """A cell with points (an autograded test, an autograded answer or a manually graded one)."""
    return bool(nbgrader_utils.is_grade(_node(cell)))


def is_answer(cell: Cell) -> bool:
    """A cell the student writes (nbgrader's ``solution`` cell)."""
    return bool(nbgrader_utils.is_solution(_node(cell)))


def is_locked(cell: Cell) -> bool:
    """A cell whose source nbgrader restores from the source notebook (nbgrader's rule: graded
    cells that are not answers, and cells marked ``locked``)."""
    return bool(nbgrader_utils.is_locked(_node(cell)))


def is_autograded_test(cell: Cell) -> bool:
    """An autograded test cell: a code cell with points and no solution."""
    return is_code(cell) and is_graded(cell) and not is_answer(cell)


def is_locked_code(cell: Cell) -> bool:
    """A code cell the student cannot change (nbgrader restores it from the source)."""
    return is_code(cell) and is_locked(cell)


def skip_reason(cell: Cell) -> str | None:
    """Why the autograder does not run ``cell`` (``metadata.autograder.skip_when_grading``), or
    None when it runs it.

    Only a locked code cell that is not graded can be skipped: an ungraded demonstration
    (a timing, a study over seeds) that no graded cell builds on. A mark on any other cell is an
    authoring error and raises ValueError. The mark comes from the release: the grader rebuilds
    every locked cell, metadata included, from it (:mod:`autograder.structure`).
    """
    reason = cell.get("metadata", {}).get("autograder", {}).get(SKIP_KEY)
    if reason is None:
        return None
    if not (is_locked_code(cell) and not is_graded(cell)):
        raise ValueError(f"cell {grade_id(cell)!r}: only a locked, ungraded code cell can be "
                         f"skipped when grading")
    if not (isinstance(reason, str) and reason.strip()):
        raise ValueError(f"cell {grade_id(cell)!r}: {SKIP_KEY} must be the reason, a non-empty "
                         f"string, got {reason!r}")
    return reason


def skipped_when_grading(cells: list) -> list[str | None]:
    """grade_ids of the cells of ``cells`` that the autograder does not run (:func:`skip_reason`),
    in order."""
    return [grade_id(cell) for cell in cells if skip_reason(cell)]


def grade_index(cells: list) -> dict:
    """grade_id -> position of the cell in ``cells``, for the cells that have one."""
    return {grade_id(cell): i for i, cell in enumerate(cells) if grade_id(cell)}
