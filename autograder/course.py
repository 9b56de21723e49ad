"""The course on disk: which labs exist, releasing them, and autograding in a scratch course.

The repository root is the nbgrader course (``nbgrader_config.py``): ``solutions/`` is the source
directory, ``labs/`` the release directory, ``grading/`` (git-ignored) everything grading makes.
"""

import difflib
import json
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


def checked_labs(labs, course=REPO):
    """``labs`` as a list without repeats ([] for None), after checking each is a lab of
    ``course``."""
    known = lab_names(course)
    labs = list(dict.fromkeys(labs or ()))
    unknown = sorted(set(labs) - set(known))
    if unknown:
        raise ValueError(f"labs must be among {known}, got unknown {unknown}")
    return labs


def checked_students(students):
    """``students`` as a list without repeats (None stays None: every student)."""
    if students is None:
        return None
    if isinstance(students, str):
        raise TypeError(f"students: give a list of student ids, not the string {students!r}")
    return list(dict.fromkeys(students))


def release(labs=None, course=REPO):
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` (nbgrader generate_assignment).

    Returns what changed, one line per file (see :func:`describe_changes`)."""
    labs = checked_labs(labs, course) or lab_names(course)
    released = Path(course) / "labs"
    before = files_under(released, labs)
    for lab in labs:
        shutil.rmtree(released / lab, ignore_errors=True)
        run_nbgrader("generate_assignment", lab, "--force", course=course)
    return describe_changes(before, files_under(released, labs))


def files_under(folder, labs):
    """{path relative to ``folder``: bytes} of every file in ``folder/<lab>/`` for ``labs``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for lab in labs for p in sorted((Path(folder) / lab).rglob("*")) if p.is_file()}


def describe_changes(before, after):
    """Lines saying how the files ``after`` differ from ``before`` (both {path: bytes}):
    ``added``, ``removed`` or ``changed``; for a notebook, how many cells were changed, added
    and removed. [] when nothing changed."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in before:
            lines.append(f"{path}: added")
        elif path not in after:
            lines.append(f"{path}: removed")
        elif before[path] != after[path]:
            detail = cell_changes(before[path], after[path]) if path.endswith(".ipynb") else ""
            lines.append(f"{path}: changed" + (f" ({detail})" if detail else ""))
    return lines


def cell_changes(old, new):
    """``"cells: 2 changed, 1 added"``: how notebook ``new`` differs from ``old`` (JSON bytes),
    matching cells by type and source; "" when only metadata differs."""
    def cells(text):
        return [(cell["cell_type"], "".join(cell["source"])) for cell in json.loads(text)["cells"]]

    counts = {"changed": 0, "added": 0, "removed": 0}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=cells(old), b=cells(new),
                                                       autojunk=False).get_opcodes():
        if tag == "replace":
            common = min(i2 - i1, j2 - j1)
            counts["changed"] += common
            counts["removed"] += (i2 - i1) - common
            counts["added"] += (j2 - j1) - common
        elif tag == "delete":
            counts["removed"] += i2 - i1
        elif tag == "insert":
            counts["added"] += j2 - j1
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    return "cells: " + ", ".join(parts) if parts else ""


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
