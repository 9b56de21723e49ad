"""Every graded answer has wrong versions, and the lab's test cells reject each of them."""

import nbformat
import pytest

from autograder import authoring, cells
from autograder.course import Course
from autograder.labs import manifest
from autograder.mutants import (
    Mutant,
    edited,
    edited_many,
    equal_to_everything,
    solution_answers,
)
from autograder.mutation import run_mutants

LABS = Course().lab_names()


def graded_answers(lab):
    nb = nbformat.read(Course().solution_notebook(lab), as_version=4)
    return {cells.grade_id(c) for c in nb.cells if cells.is_code(c) and cells.is_answer(c)}


@pytest.mark.parametrize("lab", LABS)
def test_every_graded_answer_has_a_mutant(lab):
    mutated = {m.answer for m in manifest(lab).mutants}
    assert graded_answers(lab) <= mutated, f"{lab}: no mutant for {graded_answers(lab) - mutated}"


@pytest.mark.parametrize("lab", LABS)
def test_mutant_ids_are_unique(lab):
    """Tests name a mutant by its id ("answer/slug"), so no two mutants of a lab share one."""
    ids = [m.id for m in manifest(lab).mutants]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"{lab}: mutant ids used more than once: {repeated}"


def test_a_mutant_id_names_its_answer_cell():
    mutant = Mutant(id="magnitude_mask/keeps-smallest", source="", caught_by="t", why="w")
    assert mutant.answer == "magnitude_mask"
    for bad in ("magnitude_mask", "magnitude_mask/", "/keeps-smallest", "a/b c", "a/b/c"):
        with pytest.raises(ValueError, match="mutant id"):
            Mutant(id=bad, source="", caught_by="t", why="w")


def test_builders_take_their_strings_by_keyword():
    """A swapped ``old``/``new`` or ``caught_by``/``why`` cannot slip in by position."""
    with pytest.raises(TypeError):
        Mutant("pick_engine/x", "source", "test_pick_engine", "why")
    with pytest.raises(TypeError):
        edited("00_orientation", "macs/x", "(conv.in_channels // conv.groups)", "1", "test_macs",
               "w")
    with pytest.raises(TypeError):
        edited_many("00_orientation", "macs/x", [("a", "b")], "test_macs", "w")
    with pytest.raises(TypeError):
        equal_to_everything("00_orientation", "macs", "conv2d_macs", "test_macs", "int")
    built = edited("00_orientation", "macs/x", old="(conv.in_channels // conv.groups)", new="1",
                   caught_by="test_macs", why="w")
    assert (built.id, built.answer, built.caught_by) == ("macs/x", "macs", "test_macs")
    right = solution_answers("00_orientation")["macs"]
    assert built.source == right.replace("(conv.in_channels // conv.groups)", "1", 1) != right


def test_an_edit_must_name_one_place_in_the_code():
    """An edit whose snippet occurs twice, or lands only in a docstring or a comment, is refused:
    the mutant would be the right answer, and the test that "catches" it would prove nothing
    (lab 05's quantize_fx/ignores-engine once edited its docstring and passed every test)."""
    with pytest.raises(ValueError, match=r"occurs \d+ times"):
        edited("00_orientation", "macs/ambiguous", old="output_shape", new="shape",
               caught_by="test_macs", why="w")
    with pytest.raises(ValueError, match="only docstrings or comments"):
        edited("00_orientation", "macs/docstring", old="MACs of one call of nn.Linear",
               new="MACs of two calls of nn.Linear", caught_by="test_macs", why="w")
    with pytest.raises(ValueError, match="only docstrings or comments"):
        edited("00_orientation", "median_ratio/comment", old="use quantile(0.5) for",
               new="use torch.median for", caught_by="test_median_ratio", why="w")
    built = edited("00_orientation", "macs/x", old="linear.out_features * linear.in_features",
                   new="linear.out_features", caught_by="test_macs", why="w")
    assert "linear.out_features\n" in built.source + "\n"


@pytest.mark.notebooks
@pytest.mark.parametrize("lab", LABS)
def test_tests_reject_every_mutant(lab):
    results = run_mutants(Course().solution_notebook(lab), manifest(lab).mutants)
    missed = [f"{r.mutant.id}: {r.mutant.why}" for r in results if not r.caught]
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
    wrong_f = Mutant(id="f/returns-2", source="def f():\n    return 2", caught_by="test_f",
                     why="f wrong")
    right_g = Mutant(id="g/returns-1", source="def g():\n    return 1", caught_by="test_g",
                     why="g right (an equivalent mutant)")
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
    mutants = [Mutant(id="f/returns-2", source="def f():\n    return 2", caught_by="test_f",
                      why="f wrong", rerun=rerun),
               Mutant(id="g/returns-1", source="def g():\n    return 1", caught_by="test_g",
                      why="g right"),
               Mutant(id="f/returns-1", source="def f():\n    return 1", caught_by="test_f",
                      why="f right", rerun=rerun),
               Mutant(id="f/returns-3", source="def f():\n    return 3", caught_by="test_f",
                      why="f wrong again", rerun=rerun),
               Mutant(id="g/returns-1-again", source="def g():\n    return 1", caught_by="test_g",
                      why="g right, after the f group")]
    caught = [r.caught for r in run_mutants(path, mutants)]
    assert caught == [True, False, False, True, False]
