"""nbgrader's cell metadata as the kit reads it, and the demonstrations skipped when grading."""

import nbformat
import pytest

from autograder import cells
from autograder.course import Course

LABS = Course().lab_names()


def code_cell(nbgrader=None, skip=None):
    cell = nbformat.v4.new_code_cell("x = 1")
    if nbgrader is not None:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": "c", "grade": False,
                                     "solution": False, "locked": False, **nbgrader}
    if skip is not None:
        cell.metadata["autograder"] = {cells.SKIP_KEY: skip}
    return cell


def test_a_locked_ungraded_cell_can_be_skipped_with_its_reason():
    assert cells.skip_reason(code_cell({"locked": True}, skip="a timing")) == "a timing"
    assert cells.skip_reason(code_cell({"locked": True})) is None
    assert cells.skip_reason(code_cell()) is None


@pytest.mark.parametrize("nbgrader", [
    None,                                                   # no nbgrader metadata: not locked
    {"locked": False},                                      # a cell the student may edit
    {"locked": True, "grade": True, "points": 1},           # an autograded test
    {"solution": True},                                     # an answer
], ids=["plain", "unlocked", "test", "answer"])
def test_a_mark_on_any_other_cell_is_an_authoring_error(nbgrader):
    with pytest.raises(ValueError, match="only a locked, ungraded code cell can be skipped"):
        cells.skip_reason(code_cell(nbgrader, skip="a timing"))


@pytest.mark.parametrize("reason", ["", "  ", True, 1])
def test_the_mark_must_say_why(reason):
    with pytest.raises(ValueError, match="skip_when_grading must be the reason"):
        cells.skip_reason(code_cell({"locked": True}, skip=reason))


def marked(notebook):
    return cells.skipped_when_grading(nbformat.read(notebook, as_version=4).cells)


@pytest.mark.parametrize("lab", LABS)
def test_the_release_keeps_the_solutions_marks(lab):
    """The grader reads the mark from the release; every mark there is valid (skip_reason
    raises on one that is not) and is the solution's."""
    course = Course()
    assert marked(course.release_notebook(lab)) == marked(course.solution_notebook(lab))
