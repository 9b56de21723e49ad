"""Every lab autograded by nbgrader as a class would submit it: the score each submission earns.

For each lab, one scratch course grades, in parallel:

* the untouched release: zero on every graded cell;
* the worked solution: full marks;
* the wrong versions its manifest lists (``WRONG_VERSIONS`` in ``autograder/labs/lab_NN.py``),
  each submitted as a whole notebook, as a student making that mistake would. A wrong answer can
  also cost the later test cells that build on it, so each states every test cell it loses; its
  score is the full marks less those cells' points, as the solution notebook gives them.

``tests/test_mutants.py`` checks that *every* mutant is caught by its own test cell, in one
kernel; here the grader itself is shown to turn those mistakes into the right partial scores.

The solution's full marks also prove that the demonstrations the release marks as not run when
grading (``cells.skip_reason``: timings, studies over seeds) feed no graded cell.

The grade must not depend on the CPU. The solutions are executed on this CPU's own class by
nbval (``make test``); here every submission is graded as an AVX2 CPU would grade it
(:func:`utils.cpu.emulation_env`), the class furthest from AVX-512 VNNI and AMX servers, so one
run covers two classes (``make cpu-classes`` grades the solutions under every class).
"""

import os
from unittest import mock

import nbformat
import pytest

from attacks import SHELL_ATTACKS
from autograder import autograde, cells
from autograder.course import Course
from autograder.labs import manifest
from autograder.mutants import write_submission
from autograder.scratch import scratch_course, submit
from utils import cpu

pytestmark = [pytest.mark.notebooks, pytest.mark.needs("bubblewrap")]

# The blank release with the shell attacks of tests/test_autograde.py (each shown there to turn
# every failing test cell of lab 00 into a pass when unguarded) stacked in its first answer cell.
ATTACKS = ("input_transformer", "post_transformer", "transform_cell", "ast_transformer",
           "custom_exception_handler", "event_callback", "errors_not_sent")


def attacked_release(release, path):
    nb = nbformat.read(release, as_version=4)
    first = next(c for c in nb.cells if cells.is_answer(c))
    first.source = "\n".join(SHELL_ATTACKS[a][0] for a in ATTACKS) + "\n" + first.source
    nbformat.write(nb, path)
    return path


def marked_cells(lab):
    """grade_ids of the cells of ``lab``'s release that are not run when grading."""
    release = nbformat.read(Course().release_notebook(lab), as_version=4)
    return cells.skipped_when_grading(release.cells)


def wrong_versions(lab):
    """(student, WrongVersion) of each wrong version of ``lab``: the student is ``wrongN`` (an
    nbgrader student id), the mutant id names its pytest case."""
    return [(f"wrong{i}", wrong) for i, wrong in enumerate(manifest(lab).wrong_versions, start=1)]


def submissions(lab, scratch):
    """{student: (notebook, the test cells it loses, its score)} for one lab."""
    lab_manifest = manifest(lab)
    release = scratch.release_notebook(lab)
    test_cells = {cells.grade_id(cell) for cell in nbformat.read(release, as_version=4).cells
                  if cells.is_autograded_test(cell)}
    cases = {"solution": (scratch.solution_notebook(lab), set(), lab_manifest.full_marks),
             "untouched_release": (release, test_cells, 0),
             "attacked_release": (attacked_release(release, scratch.path / f"{lab}-attacked.ipynb"),
                                  test_cells, 0)}
    for student, wrong in wrong_versions(lab):
        path = write_submission(scratch.solution_notebook(lab), lab_manifest.mutant(wrong.mutant),
                                scratch.path / f"{lab}-{student}.ipynb")
        cases[student] = (path, wrong.loses, lab_manifest.score_without(wrong.loses))
    return cases


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{(lab, student): (Outcome, expected lost cells, expected score)}."""
    labs = Course().lab_names()
    scratch = scratch_course(tmp_path_factory.mktemp("course"), labs)
    scratch.release(labs)
    expected = {}
    for lab in labs:
        for student, (notebook, lost, score) in submissions(lab, scratch).items():
            submit(scratch, lab, student, notebook)
            expected[lab, student] = (lost, score)
    lowest = cpu.emulation_env("AVX2") if cpu.cpu_class().hardware else {}
    with mock.patch.dict(os.environ, lowest):       # nbgrader and its kernels start capped
        outcomes = autograde.autograde(labs, course=scratch, jobs=2)
    return {(o.lab, o.student): (o, *expected[o.lab, o.student]) for o in outcomes}


def cases():
    """(lab, student) of every submission, named ``<lab>-<student>``, or ``<lab>-<mutant id>`` for
    a wrong version (``01_pruning-magnitude_mask/keeps-smallest``)."""
    params = []
    for lab in Course().lab_names():
        named = [(student, student) for student in ("solution", "untouched_release",
                                                    "attacked_release")]
        named += [(student, wrong.mutant) for student, wrong in wrong_versions(lab)]
        params += [pytest.param(lab, student, id=f"{lab}-{name}") for student, name in named]
    return params


@pytest.mark.parametrize("lab, student", cases())
def test_each_submission_gets_its_stated_score(graded, lab, student):
    outcome, lost, score = graded[lab, student]
    assert outcome.status == "graded" and outcome.stopped is None, outcome
    if student == "attacked_release":
        restored = " ".join(e["detail"] for e in outcome.events if e["kind"] == "restored")
        for label in ("cleanup_transforms", "input_transformers_post", "shell.transform_cell",
                      "ast_transformers", "custom_exceptions", "callback", "kernel.session.send"):
            assert label in restored, (label, outcome.events)
    else:
        assert outcome.events == [], \
            "a submission built from the lab must not trip the integrity checks"
    assert outcome.max_score == manifest(lab).full_marks
    # the demonstrations the release marks (cells.skip_reason) were not run, and nothing else
    assert [label.split("(")[-1].rstrip(")") for label in outcome.skipped] == marked_cells(lab)
    assert {g for g, (s, m) in outcome.scores.items() if s != m} == lost, outcome.scores
    assert outcome.score == score
    if student == "untouched_release":
        assert all(s == 0 for s, _ in outcome.scores.values()), outcome.scores
