"""The course's nbgrader gradebook (``Course.gradebook_path``): backups, snapshots, merging,
and the scores of one submission.

Parallel autograding gives each worker its own copy of the gradebook (:func:`copy_to`) and merges
each graded submission back (:mod:`autograder.records`, in the layout of
:func:`submission_record`); :func:`snapshot` is the gradebook's content without nbgrader's
random row ids, so a parallel run can be compared with a serial one.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .course import Course

__all__ = ["url", "backup", "copy_to", "fields", "submission_record", "snapshot", "has_lab",
           "ensure_lab", "cell_scores"]

STUDENT_FIELDS = ("first_name", "last_name", "email", "lms_user_id")
SUBMISSION_FIELDS = ("timestamp", "extension")
NOTEBOOK_FIELDS = ("flagged", "late_submission_penalty")
GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")


def url(db_path: str | os.PathLike) -> str:
    """The SQLAlchemy URL of the sqlite gradebook file ``db_path``."""
    return f"sqlite:///{db_path}"


def backup(course: Course) -> Path | None:
    """Copy the gradebook to ``grading/backups/gradebook-<UTC time>.db`` (SQLite's online
    backup, consistent even mid-write); returns the copy's path, or None without a gradebook."""
    source = course.gradebook_path
    if not source.exists():
        return None
    folder = course.grading_folder / "backups"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"gradebook-{stamp}.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def copy_to(course: Course, target: str | os.PathLike) -> str | os.PathLike:
    """A consistent copy of the course gradebook at ``target`` (a worker's private gradebook)."""
    with sqlite3.connect(course.gradebook_path) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def fields(row, names) -> dict:
    """{name: row's value} for the column ``names`` of a gradebook row."""
    return {name: getattr(row, name) for name in names}


def submission_record(submission) -> dict:
    """One graded submission's rows as plain data, keyed by names: its fields, and per notebook
    {<fields>, "grades": {grade_id: fields}, "comments": {grade_id: fields}}."""
    return {
        **fields(submission, SUBMISSION_FIELDS),
        "notebooks": {
            notebook.name: {
                **fields(notebook, NOTEBOOK_FIELDS),
                "grades": {g.name: fields(g, GRADE_FIELDS) for g in notebook.grades},
                "comments": {c.name: fields(c, COMMENT_FIELDS) for c in notebook.comments},
            }
            for notebook in submission.notebooks},
    }


def snapshot(db_path: str | os.PathLike) -> dict:
    """Everything autograding writes, keyed by names instead of random ids:
    {"students": {id: fields}, "submissions": {(lab, student): submission_record(...)}}."""
    with Gradebook(url(db_path)) as gradebook:
        return {"students": {s.id: fields(s, STUDENT_FIELDS) for s in gradebook.students},
                "submissions": {(assignment.name, submission.student_id):
                                submission_record(submission)
                                for assignment in gradebook.assignments
                                for submission in assignment.submissions}}


def has_lab(course: Course, lab: str) -> bool:
    """Whether ``lab`` is in the course's gradebook (False while there is no gradebook)."""
    if not course.gradebook_path.exists():
        return False   # (opening a gradebook that does not exist would create one)
    with Gradebook(course.gradebook_url, course.course_id) as gradebook:
        try:
            gradebook.find_assignment(lab)
        except MissingEntry:
            return False
    return True


def ensure_lab(course: Course, lab: str) -> None:
    """Put ``lab`` (its notebooks, graded cells and the source of locked cells) in the gradebook,
    as ``nbgrader generate_assignment`` does, without touching the committed ``labs/``."""
    if has_lab(course, lab):
        return
    with tempfile.TemporaryDirectory() as scratch:
        course.run_nbgrader("generate_assignment", lab, "--force",
                            f"--CourseDirectory.release_directory={scratch}")


def cell_scores(course: Course, lab: str, student: str) -> dict[str, tuple]:
    """{grade_id: (score, max_score)} of the autograded test cells of one graded submission."""
    with Gradebook(course.gradebook_url) as gradebook:
        notebook = gradebook.find_submission_notebook(lab, lab, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades
                if grade.cell.cell_type == "code"}
