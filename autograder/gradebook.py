"""The course's nbgrader gradebook (``Course.gradebook_path``): backups, snapshots, merging,
and the scores of one submission.

Parallel autograding gives each worker its own copy of the gradebook and then merges each
graded submission back with :func:`merge_graded_submission`; :func:`snapshot` is the
gradebook's content without nbgrader's random row ids, so a parallel run can be compared with a
serial one.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from .course import Course

__all__ = ["url", "backup", "copy_to", "snapshot", "merge_graded_submission", "has_lab",
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


def _fields(row, names):
    return {name: getattr(row, name) for name in names}


def snapshot(db_path: str | os.PathLike) -> dict:
    """Everything autograding writes, keyed by names instead of random ids:
    {"students": {id: fields}, "submissions": {(lab, student): {fields, "notebooks": {...}}}}."""
    with Gradebook(url(db_path)) as gradebook:
        students = {s.id: _fields(s, STUDENT_FIELDS) for s in gradebook.students}
        submissions = {}
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                notebooks = {
                    notebook.name: {
                        **_fields(notebook, NOTEBOOK_FIELDS),
                        "grades": {g.name: _fields(g, GRADE_FIELDS) for g in notebook.grades},
                        "comments": {c.name: _fields(c, COMMENT_FIELDS) for c in notebook.comments},
                    }
                    for notebook in submission.notebooks}
                submissions[(assignment.name, submission.student_id)] = {
                    **_fields(submission, SUBMISSION_FIELDS), "notebooks": notebooks}
    return {"students": students, "submissions": submissions}


def merge_graded_submission(source: str | os.PathLike, target: str | os.PathLike, lab: str,
                            student: str) -> int:
    """Copy ``student``'s graded submission of ``lab`` from gradebook file ``source`` into
    ``target``, field by field, creating the student and submission there if needed."""
    with Gradebook(url(source)) as src, Gradebook(url(target)) as dst, warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warning (harmless;
        # nbgrader autograde itself emits it into its log)
        warnings.simplefilter("ignore", SAWarning)
        graded = src.find_submission(lab, student)
        dst.update_or_create_student(student, **_fields(graded.student, STUDENT_FIELDS))
        merged = dst.update_or_create_submission(lab, student,
                                                 **_fields(graded, SUBMISSION_FIELDS))
        for notebook in graded.notebooks:
            into = dst.find_submission_notebook(notebook.name, lab, student)
            _set(into, _fields(notebook, NOTEBOOK_FIELDS))
            for grade in notebook.grades:
                _set(dst.find_grade(grade.name, notebook.name, lab, student),
                     _fields(grade, GRADE_FIELDS))
            for comment in notebook.comments:
                _set(dst.find_comment(comment.name, notebook.name, lab, student),
                     _fields(comment, COMMENT_FIELDS))
        dst.db.commit()
        return merged.id


def _set(row, values):
    for name, value in values.items():
        setattr(row, name, value)


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
