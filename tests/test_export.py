"""The instructor's view of the grades: nbgrader's grades CSV and the per-exercise summary.

One scratch course for the module: lab 00 autograded for three students whose per-cell scores
are known in advance: the solution (full marks), the untouched release (zero on every graded
cell) and one mutant (zero on its ``caught_by`` cell only).
"""

import csv
import dataclasses
from types import SimpleNamespace

import nbformat
import pytest

from autograder import cells
from autograder.course import Course
from autograder.export import (
    COLUMNS,
    ExerciseSummary,
    exercise_summary,
    export_grades,
    format_summary,
    plot_summary,
    summarize,
    write_summary,
)
from autograder.labs import manifest
from autograder.mutants import write_submission
from autograder.scratch import grade_submissions, scratch_course

pytestmark = [pytest.mark.notebooks, pytest.mark.needs("bubblewrap")]

LAB = "00_orientation"
MUTANT = manifest(LAB).mutant("macs/ignores-groups")


def lab_test_cells():
    """(grade_id, points) of the lab's test cells, in notebook order."""
    nb = nbformat.read(Course().solution_notebook(LAB), as_version=4)
    return [(cells.grade_id(cell), cells.points(cell))
            for cell in nb.cells if cells.is_graded(cell)]


def expected_score(student, grade_id, points):
    """The score each student was built to get on each cell."""
    if student == "solution":
        return points
    if student == "release":
        return 0.0
    return 0.0 if grade_id == MUTANT.caught_by else points


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    scratch = scratch_course(tmp / "course", [LAB])
    scratch.release([LAB])
    solution = scratch.solution_notebook(LAB)
    submissions = {"solution": solution, "release": scratch.release_notebook(LAB),
                   "mutant": write_submission(solution, MUTANT, tmp / "mutant.ipynb")}
    return SimpleNamespace(course=scratch, scores=grade_submissions(scratch, LAB, submissions))


@pytest.fixture(scope="module")
def rows(graded):
    return exercise_summary(graded.course)


def test_the_students_score_as_built(graded):
    for student, scores in graded.scores.items():
        expected = {grade_id: (expected_score(student, grade_id, points), points)
                    for grade_id, points in lab_test_cells()}
        assert scores == expected, student


def test_summary_numbers(rows):
    expected = []
    for grade_id, points in lab_test_cells():
        scores = [expected_score(student, grade_id, points)
                  for student in ("solution", "release", "mutant")]
        expected.append(ExerciseSummary(
            lab=LAB, grade_id=grade_id, max_points=points, mean_score=sum(scores) / 3,
            students=3, wrong=sum(score < points for score in scores), needs_manual_grading=0))
    assert rows == expected
    assert [row.wrong for row in rows if row.grade_id == MUTANT.caught_by] == [2]


def test_summary_of_named_labs(graded, rows):
    assert exercise_summary(graded.course, labs=[LAB]) == rows


def test_summary_rejects_bad_labs(graded):
    with pytest.raises(ValueError, match="labs: 'no_such_lab': unknown lab"):
        exercise_summary(graded.course, labs=["no_such_lab"])
    with pytest.raises(TypeError, match="labs"):
        exercise_summary(graded.course, labs=LAB)


def test_nothing_graded_yet(tmp_path):
    scratch = scratch_course(tmp_path, [LAB])
    for call in (lambda: exercise_summary(scratch),
                 lambda: export_grades(tmp_path / "grades.csv", scratch)):
        with pytest.raises(FileNotFoundError, match="nothing graded yet: run autograde first"):
            call()
    scratch.release([LAB])     # the gradebook exists now, without submissions
    with pytest.raises(FileNotFoundError, match="nothing graded yet: run autograde first"):
        exercise_summary(scratch)
    with pytest.raises(ValueError, match="labs: '00_orientation': no autograded submissions"):
        exercise_summary(scratch, labs=[LAB])


def grade(auto=None, manual=None):
    """A stand-in for nbgrader.api.Grade: score is manual if set, else auto, else 0."""
    score = manual if manual is not None else auto if auto is not None else 0.0
    return SimpleNamespace(auto_score=auto, manual_score=manual, score=score)


def test_ungraded_written_answers_need_manual_grading_and_are_not_wrong():
    grades = [grade(auto=1.0), grade(auto=0.0), grade(), grade(manual=0.5), grade(auto=0.0,
                                                                                  manual=1.0)]
    row = summarize("01_pruning", "local_vs_global_answer", 1.0, grades)
    assert row == ExerciseSummary("01_pruning", "local_vs_global_answer", 1.0,
                                  mean_score=(1.0 + 0.0 + 0.5 + 1.0) / 4, students=5, wrong=2,
                                  needs_manual_grading=1)
    assert summarize("l", "g", 1.0, [grade()]).mean_score is None


def test_write_summary(rows, tmp_path):
    csv_path, png_path = write_summary(rows, tmp_path / "summary.csv", tmp_path / "summary.png")
    with open(csv_path, newline="") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == COLUMNS == ["lab", "grade_id", "max_points", "mean_score",
                                                "students", "wrong", "needs_manual_grading"]
        table = list(reader)
    assert table == [{k: str(v) for k, v in dataclasses.asdict(row).items()} for row in rows]
    assert png_path.read_bytes().startswith(b"\x89PNG") and png_path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="rows"):
        write_summary([], tmp_path / "empty.csv", tmp_path / "empty.png")


def test_plot_groups_exercises_under_their_lab(rows):
    axes = plot_summary(rows).axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == \
        [LAB] + [row.grade_id for row in rows]
    annotations = [text.get_text() for text in axes.texts]
    assert annotations == [f"{row.wrong}/{row.students} wrong" for row in rows]


def test_format_summary(rows):
    lines = format_summary(rows).splitlines()
    assert lines[0].split() == ["lab", "exercise", "points", "mean", "wrong", "to", "grade"]
    assert len(lines) == len(rows) + 1 and len({len(line) for line in lines}) == 1
    for line, row in zip(lines[1:], rows):
        assert line.split() == [LAB, row.grade_id, f"{row.max_points:g}",
                                f"{row.mean_score:.2f}", f"{row.wrong}/3", "0"]


def test_export_grades(graded, tmp_path):
    path = export_grades(tmp_path / "grades.csv", graded.course)
    with open(path, newline="") as file:
        table = {row["student_id"]: row for row in csv.DictReader(file)}
    total = sum(points for _, points in lab_test_cells())
    mutant_total = total - dict(lab_test_cells())[MUTANT.caught_by]
    assert {student: (row["assignment"], float(row["score"]), float(row["max_score"]))
            for student, row in table.items()} == {
        "solution": (LAB, total, total), "release": (LAB, 0.0, total),
        "mutant": (LAB, mutant_total, total)}
