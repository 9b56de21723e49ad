"""Students' feedback HTML: the hidden tests' source never shows; the visible tests and the
failing assertion's message do.

One scratch course for the module: lab 00 released, then autograded for the solution and two
wrong submissions, one failing a visible assert and one failing a hidden assert (whose
traceback quotes the hidden lines).
"""

import html
import re
from types import SimpleNamespace

import nbformat
import pytest
from nbgrader.converters import GenerateFeedback
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from autograder import cells
from autograder.course import Course
from autograder.feedback import (
    HIDDEN_PLACEHOLDER,
    HideHiddenTests,
    feedback_path,
    generate_feedback,
)
from autograder.labs import manifest
from autograder.mutants import edited, write_submission
from autograder.scratch import grade_submissions, scratch_course

pytestmark = [pytest.mark.notebooks, pytest.mark.needs("bubblewrap")]

LAB = "00_orientation"
COURSE = Course()
BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# Fails the first (visible) assert of a test cell that also holds hidden tests.
VISIBLE_WRONG = manifest(LAB).mutant("count_parameters/counts-tensors")
# Passes the visible asserts of test_macs (its depthwise case has C_in == groups) and fails a
# hidden one, which draws grouped convolutions with groups=2 and more input channels.
HIDDEN_WRONG = edited(LAB, "macs/grouped-as-depthwise", old="(conv.in_channels // conv.groups)",
                      new="(1 if conv.groups > 1 else conv.in_channels)", caught_by="test_macs",
                      why="treats every grouped convolution as depthwise")
WRONG = {"visible_wrong": VISIBLE_WRONG, "hidden_wrong": HIDDEN_WRONG}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- helpers -------------------------------------------------------------------------------

def hidden_blocks(source):
    """The lines of the hidden blocks of a cell source, marker lines included."""
    lines, hidden = [], False
    for line in source.splitlines():
        hidden = hidden or line.strip() == BEGIN
        if hidden:
            lines.append(line)
        hidden = hidden and line.strip() != END
    return lines


def hidden_lines():
    """Every line only the hidden tests have (stripped): in a hidden block of the solution and
    nowhere in the student release."""
    released = {line.strip() for cell in nbformat.read(COURSE.release_notebook(LAB), 4).cells
                for line in cell.source.splitlines()}
    solution = nbformat.read(COURSE.solution_notebook(LAB), 4)
    lines = {line.strip() for cell in solution.cells for line in hidden_blocks(cell.source)}
    return sorted(line for line in lines if line and line not in released)


def visible_test_lines():
    """The lines of the test cells as the student release shows them (stripped)."""
    release = nbformat.read(COURSE.release_notebook(LAB), 4)
    return [line.strip() for cell in release.cells
            if cells.is_graded(cell) and cells.is_code(cell)
            for line in cell.source.splitlines() if line.strip()]


def page_text(path):
    """What a reader of the HTML page sees: tags stripped, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def assert_hides_hidden_tests(text):
    leaked = [line for line in hidden_lines() if line in text]
    assert not leaked, f"the feedback shows {len(leaked)} hidden-test lines, e.g. {leaked[:3]}"


def error_of(scratch, student, cell_id):
    """The error output of cell ``cell_id`` in ``student``'s autograded notebook."""
    path = scratch.autograded_folder / student / LAB / f"{LAB}.ipynb"
    (cell,) = [c for c in nbformat.read(path, 4).cells if cells.grade_id(c) == cell_id]
    (error,) = [output for output in cell.outputs if output.output_type == "error"]
    return error


def dotted_name(cls):
    return f"{cls.__module__}.{cls.__name__}"


NBGRADER_DEFAULTS = GenerateFeedback.class_traits()["preprocessors"].default()


# --- fixtures: one scratch course, autograded once -----------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feedback")
    scratch = scratch_course(tmp / "course", [LAB])
    scratch.release([LAB])
    solution = scratch.solution_notebook(LAB)
    submissions = {"solution": solution}
    submissions.update({student: write_submission(solution, mutant, tmp / f"{student}.ipynb")
                        for student, mutant in WRONG.items()})
    return SimpleNamespace(course=scratch, scores=grade_submissions(scratch, LAB, submissions))


@pytest.fixture(scope="module")
def pages(graded):
    """{student: text of the feedback page}, made with the course's configuration."""
    paths = generate_feedback(LAB, course=graded.course)
    return {path.parent.parent.name: page_text(path) for path in paths}


@pytest.fixture(scope="module")
def default_pages(graded):
    """{student: text of the feedback page}, made with nbgrader's default preprocessors only."""
    defaults = [f"--GenerateFeedback.preprocessors={dotted_name(cls)}"
                for cls in NBGRADER_DEFAULTS]
    directory = "grading/feedback_nbgrader_defaults"
    graded.course.run_nbgrader("generate_feedback", LAB, "--force", *defaults,
                               f"--CourseDirectory.feedback_directory={directory}")
    return {student: page_text(graded.course.path / directory / student / LAB / f"{LAB}.html")
            for student in WRONG}


# --- the configuration ---------------------------------------------------------------------

def test_config_adds_hide_hidden_tests_to_nbgraders_defaults():
    config = PyFileConfigLoader("nbgrader_config.py", path=COURSE.root).load_config()
    configured = [import_item(name) for name in config.GenerateFeedback.preprocessors]
    assert HideHiddenTests in configured
    assert [cls for cls in configured if cls is not HideHiddenTests] == NBGRADER_DEFAULTS


def test_without_hidden_tests_keeps_the_rest_and_the_indentation():
    source = "a = 1\n    ### BEGIN HIDDEN TESTS\n    assert a\n    ### END HIDDEN TESTS\nb = 2"
    assert HideHiddenTests().without_hidden_tests(source) == \
        f"a = 1\n    {HIDDEN_PLACEHOLDER}\nb = 2"


@pytest.mark.parametrize("source", ["### BEGIN HIDDEN TESTS\nx", "### BEGIN HIDDEN TESTS\n"
                                    "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"])
def test_without_hidden_tests_rejects_unbalanced_markers(source):
    with pytest.raises(ValueError, match="BEGIN HIDDEN TESTS"):
        HideHiddenTests().without_hidden_tests(source)


# --- the scratch course is what the checks assume ------------------------------------------

def test_each_wrong_submission_loses_only_its_test_cell(graded):
    solution = graded.scores["solution"]
    assert solution and all(score == points for score, points in solution.values())
    for student, mutant in WRONG.items():
        lost = {cell for cell, (score, points) in graded.scores[student].items() if score < points}
        assert lost == {mutant.caught_by}, student


def test_the_failing_hidden_assert_quotes_hidden_lines_in_its_traceback(graded):
    error = error_of(graded.course, "hidden_wrong", HIDDEN_WRONG.caught_by)
    traceback = ANSI.sub("", "\n".join(error.traceback))
    assert error.ename == "AssertionError"
    assert [line for line in hidden_lines() if line in traceback]


# --- the feedback ---------------------------------------------------------------------------

def test_feedback_pages_for_every_student(graded, pages):
    assert sorted(pages) == sorted(graded.scores)


def test_feedback_shows_no_hidden_test_line(pages):
    for text in pages.values():
        assert_hides_hidden_tests(text)


def test_feedback_shows_one_placeholder_per_hidden_block(pages):
    solution = nbformat.read(COURSE.solution_notebook(LAB), 4)
    blocks = sum(cell.source.count(BEGIN) for cell in solution.cells)
    assert blocks > 0
    for text in pages.values():
        assert text.count(HIDDEN_PLACEHOLDER) == blocks


def test_feedback_shows_the_visible_tests(pages):
    for student, text in pages.items():
        missing = [line for line in visible_test_lines() if line not in text]
        assert not missing, f"{student}: the visible tests {missing[:3]} are missing"


def test_feedback_shows_the_failing_assertion_message(graded, pages):
    for student, mutant in WRONG.items():
        error = error_of(graded.course, student, mutant.caught_by)
        assert error.evalue, f"{student}: expected an assertion message"
        assert f"{error.ename}: {error.evalue}" in pages[student]
        assert "most recent call last" not in pages[student], f"{student}: traceback frames"


def test_without_hide_hidden_tests_the_check_finds_hidden_lines(default_pages):
    for student, text in default_pages.items():
        with pytest.raises(AssertionError, match="hidden-test lines"):
            assert_hides_hidden_tests(text)
        assert "most recent call last" in text, f"{student}: no traceback frames"


# --- generate_feedback's arguments ---------------------------------------------------------

def test_generate_feedback_for_given_students(graded):
    paths = generate_feedback(LAB, ["hidden_wrong"], course=graded.course)
    assert paths == [feedback_path(graded.course, LAB, "hidden_wrong")]


def test_generate_feedback_rejects_bad_input(graded, tmp_path):
    with pytest.raises(ValueError, match="lab: unknown lab 'no_such_lab'"):
        generate_feedback("no_such_lab", course=graded.course)
    with pytest.raises(ValueError, match="students: .*'nobody'"):
        generate_feedback(LAB, ["nobody"], course=graded.course)
    with pytest.raises(TypeError, match="students"):
        generate_feedback(LAB, "solution", course=graded.course)
    ungraded = scratch_course(tmp_path, [LAB])
    with pytest.raises(FileNotFoundError, match="nothing graded yet: run autograde first"):
        generate_feedback(LAB, course=ungraded)
