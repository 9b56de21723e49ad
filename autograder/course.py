"""The course on disk: which labs exist, releasing them, and autograding in a scratch course.

The repository root is the nbgrader course (``nbgrader_config.py``): ``solutions/`` is the source
directory, ``labs/`` the release directory, ``grading/`` (git-ignored) everything grading makes.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def lab_names(course=REPO):
    """Names of the labs: folders ``solutions/<lab>/`` holding ``<lab>.ipynb``, sorted."""
    return sorted(p.parent.name for p in (Path(course) / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def solution_notebook(lab, course=REPO):
    return Path(course) / "solutions" / lab / f"{lab}.ipynb"


def release_notebook(lab, course=REPO):
    return Path(course) / "labs" / lab / f"{lab}.ipynb"


def run_nbgrader(*args, course=REPO, check=True):
    """Run the ``nbgrader`` command of this environment in ``course`` (its bin first on PATH:
    nbgrader runs ``alembic`` from PATH)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, check=check,
                          capture_output=True, text=True)


def release(labs=None, course=REPO):
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` (nbgrader generate_assignment)."""
    for lab in labs or lab_names(course):
        shutil.rmtree(Path(course) / "labs" / lab, ignore_errors=True)
        run_nbgrader("generate_assignment", lab, "--force", course=course)


def scratch_course(directory, labs=None):
    """A new course in ``directory`` holding the config and the solutions of ``labs``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", directory)
    for lab in labs or lab_names():
        shutil.copytree(REPO / "solutions" / lab, directory / "solutions" / lab,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return directory


def submit(course, lab, student, notebook):
    """Place ``notebook`` as ``student``'s submission of ``lab`` (copied, never moved)."""
    target = Path(course) / "grading" / "submitted" / student / lab
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, target / f"{lab}.ipynb")


def cell_scores(course, lab, student):
    """{grade_id: (score, max_score)} of the autograded test cells of one submission."""
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + str(Path(course) / "grading" / "gradebook.db")
    with Gradebook(db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(lab, lab, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades
                if grade.cell.cell_type == "code"}


def autograde(course, lab, submissions, jobs=1):
    """Submit and autograde ``{student: notebook path}`` for ``lab``; returns {student:
    cell_scores} (see :func:`autograder.autograde.autograde` for the outcomes in full)."""
    from .autograde import autograde as autograde_submissions

    for student, notebook in submissions.items():
        submit(course, lab, student, notebook)
    outcomes = autograde_submissions([lab], list(submissions), course=course, jobs=jobs)
    return {outcome.student: outcome.scores for outcome in outcomes}


def check_lab(lab, directory):
    """Release ``lab`` in a scratch course, autograde its solution and its untouched release.

    Returns {"solution": scores, "release": scores}; the solution should score full marks and
    the untouched release zero on every graded cell.
    """
    course = scratch_course(directory, [lab])
    release([lab], course)
    return autograde(course, lab, {"solution": solution_notebook(lab, course),
                                   "release": release_notebook(lab, course)})


def execute_in_place(notebook, timeout=600):
    """Execute a notebook and save it with its outputs (the committed worked solutions)."""
    subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                    "--inplace", f"--ExecutePreprocessor.timeout={timeout}", str(notebook)],
                   check=True, cwd=Path(notebook).parent)
