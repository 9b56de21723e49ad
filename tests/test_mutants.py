"""Every graded answer has wrong versions, and the lab's test cells reject each of them."""

import pytest

from autograder import authoring, course
from autograder.mutants import Mutant, lab_mutants
from autograder.mutation import grade_id, run_mutants

import nbformat

LABS = course.lab_names()


def graded_answers(lab):
    nb = nbformat.read(course.solution_notebook(lab), as_version=4)
    return {grade_id(c) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


@pytest.mark.parametrize("lab", LABS)
def test_every_graded_answer_has_a_mutant(lab):
    mutated = {m.answer for m in lab_mutants(lab)}
    assert graded_answers(lab) <= mutated, f"{lab}: no mutant for {graded_answers(lab) - mutated}"


@pytest.mark.notebooks
@pytest.mark.parametrize("lab", LABS)
def test_tests_reject_every_mutant(lab):
    results = run_mutants(course.solution_notebook(lab), lab_mutants(lab))
    missed = [f"{r.mutant.answer}: {r.mutant.why}" for r in results if not r.caught]
    assert not missed, f"{lab}: these wrong answers passed the tests: {missed}"


def toy_lab(folder, *cells):
    """A solution notebook made of ``cells``, written to ``folder``; returns its path."""
    path = folder / "lab.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
    return path


@pytest.mark.notebooks
def test_each_mutant_runs_with_the_right_answers_restored(tmp_path):
    """A mutant is tried against the solution, not against the mutants tried before it."""
    path = toy_lab(tmp_path, authoring.answer("def f():\n    return 1", "f"),
                   authoring.tests("assert f() == 1\nprint('ok')", "test_f", points=1),
                   authoring.answer("def g():\n    return 1", "g"),
                   authoring.tests("assert g() == f() == 1\nprint('ok')", "test_g", points=1))
    wrong_f = Mutant("f", "def f():\n    return 2", "test_f", "f wrong")
    right_g = Mutant("g", "def g():\n    return 1", "test_g", "g right (an equivalent mutant)")
    caught = [r.caught for r in run_mutants(path, [wrong_f, right_g])]
    assert caught == [True, False]


@pytest.mark.notebooks
def test_cells_rerun_by_a_group_of_mutants_are_restored_after_it(tmp_path):
    """Mutants of one answer that re-run the same cell are tried back to back, each from its own
    answer, and the re-run cell is restored from the right answer before any other mutant."""
    path = toy_lab(tmp_path, authoring.answer("def f():\n    return 1", "f"),
                   authoring.code("y = f()", "use_f"),
                   authoring.tests("assert y == 1\nprint('ok')", "test_f", points=1),
                   authoring.answer("def g():\n    return 1", "g"),
                   authoring.tests("assert g() == y == 1\nprint('ok')", "test_g", points=1))
    rerun = ("use_f",)
    mutants = [Mutant("f", "def f():\n    return 2", "test_f", "f wrong", rerun),
               Mutant("g", "def g():\n    return 1", "test_g", "g right"),
               Mutant("f", "def f():\n    return 1", "test_f", "f right", rerun),
               Mutant("f", "def f():\n    return 3", "test_f", "f wrong again", rerun),
               Mutant("g", "def g():\n    return 1", "test_g", "g right, after the f group")]
    caught = [r.caught for r in run_mutants(path, mutants)]
    assert caught == [True, False, False, True, False]
