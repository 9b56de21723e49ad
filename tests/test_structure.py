"""autograder.structure: a submission is graded as the release with the student's answers in.

Each JSON edit of issue 22 §7–8 and each structure that made nbgrader fail is rebuilt into a
notebook nbgrader can grade, and the repair is named."""

import copy

import nbformat
import pytest

from autograder import cells
from autograder.course import Course
from autograder.structure import rebuilt

LAB = "00_orientation"


@pytest.fixture(scope="module")
def release():
    return nbformat.read(Course().release_folder / LAB / f"{LAB}.ipynb", as_version=4)


def by_id(notebook_cells, grade_id):
    return [c for c in notebook_cells if cells.grade_id(c) == grade_id]


def sources(notebook_cells):
    return [c.source for c in notebook_cells]


def test_an_untouched_release_is_itself(release):
    result, problems = rebuilt(release, copy.deepcopy(release))
    assert problems == []
    assert sources(result) == sources(release.cells)
    assert [c.metadata for c in result] == [c.metadata for c in release.cells]


def test_the_answers_are_the_students(release):
    submitted = copy.deepcopy(release)
    by_id(submitted.cells, "pick_engine")[0].source = "def pick_engine(s):\n    return 'x86'"
    result, problems = rebuilt(release, submitted)
    assert problems == []
    assert by_id(result, "pick_engine")[0].source == "def pick_engine(s):\n    return 'x86'"


def test_a_locked_cell_without_its_metadata_is_restored_and_the_edit_kept_as_own_code(release):
    submitted = copy.deepcopy(release)
    setup = by_id(submitted.cells, "setup")[0]
    setup.metadata = {}
    setup.source += "\nimport utils.grading\nutils.grading.assert_answer = print"
    result, problems = rebuilt(release, submitted)
    [restored] = by_id(result, "setup")
    assert restored.source == by_id(release.cells, "setup")[0].source
    assert restored.metadata == by_id(release.cells, "setup")[0].metadata
    [own] = [c for c in result if "assert_answer = print" in c.source]
    assert not cells.nbgrader_metadata(own)
    assert any("'setup' was missing" in p for p in problems), problems


@pytest.mark.parametrize("edit, phrase", [
    ("delete_test", "'test_macs' was missing"),
    ("duplicate_test", "'test_macs' appears more than once"),
    ("test_not_graded", "metadata of cell 'test_macs' was edited"),
    ("answer_marked_graded", "metadata of cell 'macs' was edited"),
    ("new_graded_cell", "nbgrader metadata the lab does not have"),
])
def test_a_structural_edit_is_repaired_and_named(release, edit, phrase):
    submitted = copy.deepcopy(release)
    index = next(i for i, c in enumerate(submitted.cells) if cells.grade_id(c) == "test_macs")
    if edit == "delete_test":
        del submitted.cells[index]
    elif edit == "duplicate_test":
        submitted.cells.insert(index, copy.deepcopy(submitted.cells[index]))
    elif edit == "test_not_graded":
        submitted.cells[index].metadata.nbgrader.grade = False
    elif edit == "answer_marked_graded":
        answer = by_id(submitted.cells, "macs")[0]
        answer.metadata.nbgrader.update(grade=True, points=5)
    else:
        extra = copy.deepcopy(submitted.cells[index])
        extra.metadata.nbgrader.update(grade_id="bonus", points=10)
        extra.source = "pass"
        submitted.cells.insert(index, extra)
    result, problems = rebuilt(release, submitted)
    assert any(phrase in p for p in problems), problems
    graded = [c for c in result if cells.is_graded(c)]
    assert [cells.grade_id(c) for c in graded] == [cells.grade_id(c) for c in release.cells
                                                  if cells.is_graded(c)]
    assert all(c.metadata == by_id(release.cells, cells.grade_id(c))[0].metadata for c in graded)


def test_an_edited_unlocked_cell_runs_before_the_releases_own(release):
    """The test inputs come from cells without metadata (lab 00's ``baseline``): the release's
    version runs after the student's edit of it, so what a test reads is the lab's."""
    submitted = copy.deepcopy(release)
    index = next(i for i, c in enumerate(submitted.cells)
                 if c.cell_type == "code" and "load_baseline" in c.source)
    original = submitted.cells[index].source
    submitted.cells[index].source = "baseline = None"
    result, problems = rebuilt(release, submitted)
    assert problems == []
    texts = sources(result)
    assert texts.index("baseline = None") < texts.index(original)
