"""Verdicts decided outside the student's process (issue 22).

* :mod:`autograder.plain`: what crosses from the kernel is plain data, read by PyTorch's
  restricted unpickler; anything else is a failed comparison, never an ``==`` the sender wrote.
* Graded: lab 00 opts in (its source notebook's metadata). Each attack of
  ``tests/attacks.py:CHECKER_ATTACKS`` is graded twice in one batch: in a course where the lab's
  tests run in the kernel under the seal (the attack must gain points there, or it tests nothing)
  and in the course as shipped, where it must gain none over the wrong answer it rides on.
"""

import io
import json
import os
import pickle
from dataclasses import dataclass

import nbformat
import pytest
import torch

from attacks import CHECKER_ATTACKS
from autograder import autograde, cells, plain
from autograder.course import Course
from autograder.labs import manifest
from autograder.mutants import write_submission
from autograder.scratch import scratch_course, submit
from autograder.verdict import opts_in
from utils import benchmark

LAB = "00_orientation"
FULL_MARKS = 8


# -- plain data ------------------------------------------------------------------------------------
def round_trip(value, allowed=()):
    return plain.decode(plain.encode(value), allowed)


@pytest.mark.parametrize("value", [None, True, 3, 2.5, float("nan"), "x", (1, [2.0, "a"]),
                                   {"a": (1,), 2: None}, torch.float16, torch.Size([2, 3])],
                         ids=repr)
def test_plain_values_keep_their_exact_type(value):
    back = round_trip(value)
    assert type(back) is type(value)
    assert repr(back) == repr(value)


def test_tensors_arrive_as_plain_tensors_with_their_values():
    class Agreeable(torch.Tensor):
        def __eq__(self, other):
            return torch.ones((), dtype=torch.bool)

    sent = torch.arange(6.0).reshape(2, 3).as_subclass(Agreeable)
    back = round_trip(sent)
    assert type(back) is torch.Tensor and torch.equal(back, torch.arange(6.0).reshape(2, 3))
    quantized = torch.quantize_per_tensor(torch.tensor([0.5, -1.0]), 0.5, 3, torch.quint8)
    back = round_trip(quantized)
    assert back.is_quantized and back.q_scale() == 0.5 and back.q_zero_point() == 3
    assert torch.equal(back.int_repr(), quantized.int_repr())


def test_other_types_arrive_as_unsupported_which_equals_nothing():
    class EqualToEverything(int):
        def __eq__(self, other):
            return True

    back = round_trip([EqualToEverything(3), object()])
    assert all(type(item) is plain.Unsupported for item in back)
    assert back[0] != 3 and not back[0] == back[0]
    assert "EqualToEverything" in repr(back[0])


def test_a_dataclass_is_rebuilt_only_when_the_grader_names_it():
    result = benchmark.Speedup(2.0, 2e-3, 1e-3, (2e-3,), (1e-3,), 1, "a", "b")
    assert round_trip(result, (benchmark.Speedup,)) == result
    assert type(round_trip(result)) is plain.Unsupported

    @dataclass
    class Speedup:                      # same name, another class: not the grader's
        ratio: float

    assert type(round_trip(Speedup(9.0), (benchmark.Speedup,))) is plain.Unsupported


def test_exceptions_are_raised_again_as_their_first_builtin_class():
    class Mine(ValueError):
        pass

    with pytest.raises(ValueError, match="supported must"):
        plain.decode(plain.encode_raised(Mine("supported must contain x86")))
    with pytest.raises(plain.RemoteError, match="Boom"):
        plain.decode(plain.encode_raised(type("Boom", (Exception,), {})("no")))


def test_a_pickle_that_runs_code_is_refused():
    class Payload:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    crafted = io.BytesIO()
    torch.save(["value", ["int", Payload()]], crafted)
    with pytest.raises(pickle.UnpicklingError):
        plain.decode(crafted.getvalue())
    with pytest.raises(ValueError, match="not plain data"):
        plain.decode(plain.encode(1)[:0] + _saved({"value": 1}))


def _saved(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_nbgrader_alone_scores_a_displayed_value_ahead_of_the_error():
    """Why test cells keep no execute_result: nbgrader reads the first one as the score, and a
    value it cannot read as a number gives full marks, even with the error after it."""
    from nbgrader.utils import determine_grade

    cell = nbformat.v4.new_code_cell("assert_answer(...)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 2, "grade_id": "t",
        "schema_version": 3}})
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "'full marks'"}),
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong",
                                           traceback=[])]
    assert determine_grade(cell) == (2, 2)
    cell.outputs = cell.outputs[1:]
    assert determine_grade(cell) == (0, 2)


# -- graded: lab 00 ---------------------------------------------------------------------------
def with_attack(notebook, code, path):
    nb = nbformat.read(notebook, as_version=4)
    first = next(c for c in nb.cells if cells.is_answer(c))
    first.source = code + "\n" + first.source
    nbformat.write(nb, path)
    return path


def base_student(mutant_id):
    """The student id of the wrong version an attack rides on (``median_ratio/mean`` ->
    ``base-median_ratio-mean``)."""
    return "base-" + mutant_id.replace("/", "-")


def attack_student(name):
    return name.replace("_", "-")


def submissions(course, folder, kind):
    """{student: notebook}: each attack and each wrong version one rides on; for the course as
    shipped (``kind == "outside"``) also the solution and the blank release."""
    solution, release = course.solution_notebook(LAB), course.release_notebook(LAB)
    mutants = {m.id: m for m in manifest(LAB).mutants}
    found = {"solution": solution, "blank": release} if kind == "outside" else {}
    for name, (code, base) in CHECKER_ATTACKS.items():
        if base is None:
            if kind == "outside":
                found[attack_student(name)] = with_attack(release, code, folder / f"{name}.ipynb")
            continue
        wrong = write_submission(solution, mutants[base], folder / f"{base_student(base)}.ipynb")
        found[base_student(base)] = wrong
        found[attack_student(name)] = with_attack(wrong, code, folder / f"{name}.ipynb")
    return found


def course_with_tests_in_kernel(folder):
    """A course whose lab 00 does not opt in: its tests run in the kernel, under the seal."""
    course = scratch_course(folder, [LAB])
    source = course.source_folder / LAB / f"{LAB}.ipynb"
    nb = json.loads(source.read_text())
    del nb["metadata"]["autograder"]
    source.write_text(json.dumps(nb, indent=1))
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{"outside" | "in_kernel": {student: Outcome}}, both courses graded in one batch each."""
    results = {}
    for kind in ("outside", "in_kernel"):
        folder = tmp_path_factory.mktemp(kind)
        course = (scratch_course(folder / "course", [LAB]) if kind == "outside"
                  else course_with_tests_in_kernel(folder / "course"))
        course.release([LAB])
        notebooks = submissions(course, folder, kind)
        for student, notebook in notebooks.items():
            submit(course, LAB, student, notebook)
        outcomes = autograde.autograde([LAB], list(notebooks), course=course, jobs=2)
        results[kind] = {o.student: o for o in outcomes}
    return results




@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_an_answer_cell_binds_its_functions_and_the_names_it_assigns():
    from autograder.verdict_process import defined_names

    source = ("%matplotlib inline\nimport math\nTABLE = {}\nTABLE[math.pi] = 1\n"
              "a, (b, c) = 1, (2, 3)\nn: int = 4\n\n\ndef f(x):\n    y = x\n    return y\n\n\n"
              "class Box:\n    size = 1\n")
    assert defined_names(source) == (["f", "Box"], ["TABLE", "a", "b", "c", "n"])


def test_lab_00_opts_in():
    assert opts_in(Course().source_folder / LAB / f"{LAB}.ipynb")


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_honest_submissions_keep_their_scores(graded):
    assert graded["outside"]["solution"].score == FULL_MARKS, graded["outside"]["solution"]
    assert graded["outside"]["blank"].score == 0, graded["outside"]["blank"]
    for base in {base for _, base in CHECKER_ATTACKS.values() if base}:
        outside = graded["outside"][base_student(base)]
        assert outside.scores == graded["in_kernel"][base_student(base)].scores
        assert 0 < outside.score < FULL_MARKS and outside.events == [], outside


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
@pytest.mark.parametrize("name", sorted(CHECKER_ATTACKS))
def test_an_attack_on_the_checker_gains_nothing_outside_the_kernel(graded, name):
    base = CHECKER_ATTACKS[name][1]
    base = "blank" if base is None else base_student(base)
    student = attack_student(name)
    if name != "displayhook":       # dropped from test cells in every lab: see the test above
        assert graded["in_kernel"][student].score > graded["in_kernel"][base].score, (
            f"{name} gains nothing even with the tests in the kernel: it tests nothing",
            graded["in_kernel"][student].scores)
    outside = graded["outside"][student]
    assert outside.status == "graded" and outside.stopped is None, outside
    assert outside.score == graded["outside"][base].score < FULL_MARKS, outside.scores
