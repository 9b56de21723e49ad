"""A graded submission's rows of the gradebook as plain data, and merging that data back.

A grading task (:func:`autograder.autograde.grade_submission`) grades into a private gradebook on
its worker and returns :func:`read_submission`'s record, a dict of names and values: the
submission's fields, and per notebook its fields, grades and comments (the layout of one
submission in :func:`autograder.gradebook.snapshot`), plus the student's fields. The client
writes it into the course gradebook with :func:`merge_submission`. The record is the size of one
submission whatever the size of the gradebook, so it travels cheaply from a cluster's worker.
"""

from __future__ import annotations

import os
import warnings

from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from . import gradebook
from .gradebook import NOTEBOOK_FIELDS, STUDENT_FIELDS

__all__ = ["read_submission", "merge_submission"]


def read_submission(db_path: str | os.PathLike, lab: str, student: str) -> dict:
    """``student``'s graded submission of ``lab`` in gradebook file ``db_path``:
    {"student": fields, <submission fields>, "notebooks": {name: {<fields>, "grades": {...},
    "comments": {...}}}}."""
    with Gradebook(gradebook.url(db_path)) as book:
        graded = book.find_submission(lab, student)
        return {"student": gradebook.fields(graded.student, STUDENT_FIELDS),
                **gradebook.submission_record(graded)}


def merge_submission(record: dict, target: str | os.PathLike, lab: str, student: str) -> None:
    """Write ``record`` (:func:`read_submission`) as ``student``'s submission of ``lab`` into
    gradebook file ``target``, field by field, creating the student and submission if needed
    (grading it again updates the same rows: a submission is never there twice)."""
    with Gradebook(gradebook.url(target)) as dst, warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warning (harmless;
        # nbgrader autograde itself emits it into its log)
        warnings.simplefilter("ignore", SAWarning)
        dst.update_or_create_student(student, **record["student"])
        fields = {name: record[name] for name in gradebook.SUBMISSION_FIELDS}
        dst.update_or_create_submission(lab, student, **fields)
        for name, notebook in record["notebooks"].items():
            into = dst.find_submission_notebook(name, lab, student)
            _set(into, {field: notebook[field] for field in NOTEBOOK_FIELDS})
            for grade, values in notebook["grades"].items():
                _set(dst.find_grade(grade, name, lab, student), values)
            for comment, values in notebook["comments"].items():
                _set(dst.find_comment(comment, name, lab, student), values)
        dst.db.commit()


def _set(row, values):
    for name, value in values.items():
        setattr(row, name, value)
