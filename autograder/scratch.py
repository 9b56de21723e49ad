"""Scratch courses, for the kit's maintainers and tests: a new course in a folder, submissions
placed by hand and graded (their scores: :func:`autograder.gradebook.cell_scores`).

``python -m autograder check`` and the course tests use :func:`grade_solution_and_release`:
the solution of a lab must score full marks and its untouched release zero. This module sits
above :mod:`autograder.autograde` (it grades with it); nothing below imports it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .autograde import autograde
from .course import CONFIG_FILE, REPO, Course

__all__ = ["scratch_course", "submit", "grade_submissions", "grade_solution_and_release"]


def scratch_course(directory: str | os.PathLike, labs: Iterable[str] | None = None,
                   origin: Course | None = None) -> Course:
    """A new course in ``directory`` holding the config and the solutions of ``labs`` (default:
    every lab) of ``origin`` (default: this repository's course)."""
    origin = origin or Course(REPO)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(origin.path / CONFIG_FILE, directory)
    for lab in labs or origin.lab_names():
        shutil.copytree(origin.source_folder / lab, directory / origin.source_directory / lab,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return Course(directory)


def submit(course: Course, lab: str, student: str, notebook: str | os.PathLike) -> None:
    """Place ``notebook`` as ``student``'s submission of ``lab`` (copied, never moved)."""
    target = course.submission_folder(lab, student)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, target / f"{lab}.ipynb")


def grade_submissions(course: Course, lab: str, submissions: dict[str, str | os.PathLike],
                      jobs: int = 1) -> dict[str, dict[str, tuple]]:
    """Submit and autograde ``{student: notebook path}`` for ``lab``; returns {student:
    :func:`autograder.gradebook.cell_scores`} (the outcomes in full:
    :func:`autograder.autograde.autograde`)."""
    for student, notebook in submissions.items():
        submit(course, lab, student, notebook)
    outcomes = autograde([lab], list(submissions), course=course, jobs=jobs)
    return {outcome.student: outcome.scores for outcome in outcomes}


def grade_solution_and_release(lab: str, directory: str | os.PathLike
                               ) -> dict[str, dict[str, tuple]]:
    """Release ``lab`` in a scratch course in ``directory``, autograde its solution and its
    untouched release.

    Returns {"solution": scores, "release": scores}; the solution should score full marks and
    the untouched release zero on every graded cell.
    """
    course = scratch_course(directory, [lab])
    course.release([lab])
    return grade_submissions(course, lab, {"solution": course.solution_notebook(lab),
                                           "release": course.release_notebook(lab)})
