"""The autograder on submissions built to break it.

Every submission below is lab 00's solution (or its release) with one thing done to it, and
states the score it must get (lab 00 has 8 points: six test cells worth 1, 1, 1, 2, 1, 2) and what
the grading report must say. They are graded together on an embedded Dask cluster of two workers
(``jobs=2``) in one scratch course; plain nbgrader grading some of them one after another must
leave the same gradebook.
"""

import json
import os
import shutil
from dataclasses import dataclass

import nbformat
import pytest

import utils.grading
from attacks import EQUAL_TO_EVERYTHING, SHELL_ATTACKS
from autograder import autograde, cells, execution, gradebook
from autograder.course import Course
from autograder.labs import manifest
from autograder.scratch import scratch_course, submit

pytestmark = [pytest.mark.notebooks, pytest.mark.needs("bubblewrap")]

LAB = "00_orientation"
FULL_MARKS = manifest(LAB).full_marks
CELL_TIMEOUT = 20      # seconds; lab 00's slowest cell takes about 5 s on a loaded 2-core machine


# -- building submissions: edits of the solution notebook ----------------------------------------
def replace(grade_id, source):
    def edit(nb):
        nb.cells[cells.grade_index(nb.cells)[grade_id]].source = source
    return edit


def prepend(grade_id, code):
    def edit(nb):
        cell = nb.cells[cells.grade_index(nb.cells)[grade_id]]
        cell.source = code + "\n" + cell.source
    return edit


def delete(grade_id):
    def edit(nb):
        del nb.cells[cells.grade_index(nb.cells)[grade_id]]
    return edit


def set_points(grade_id, points):
    def edit(nb):
        nb.cells[cells.grade_index(nb.cells)[grade_id]].metadata.nbgrader["points"] = points
    return edit


WRONG_PICK_ENGINE = replace("pick_engine", "def pick_engine(supported):\n    return 'fbgemm'")
WRONG_MEDIAN = ("def median_ratio(baseline_times, candidate_times):\n"
                "    return sum(baseline_times) / sum(candidate_times)")
SWAPPED_SPEEDUP = """def width_speedup(x):
    torch.manual_seed(0)
    wide = models.BenchmarkCNN(width=32).eval()
    narrow = models.BenchmarkCNN(width=16).eval()
    return benchmark.speedup(narrow, wide, x, threads=1, rounds=5)  # baseline, candidate swapped"""
FAKE_SPEEDUP = """_real_speedup = benchmark.speedup
def _rigged(*args, **kwargs):
    result = _real_speedup(*args, **kwargs)
    return type(result)(**{**result.__dict__, "ratio": 3.0})
benchmark.speedup = _rigged"""
# Logs into the submission's own folder (the only one the sandbox lets it write), which nbgrader
# keeps as grading/autograded/<student>/<lab>/.
LOG_CASES = """import os, statistics
def median_ratio(baseline_times, candidate_times):
    student = os.environ.get("AUTOGRADER_STUDENT", "none")
    with open(student, "a") as log:
        log.write(repr(baseline_times) + "\\n")   # the cases the tests drew
    with open(student + ".env", "w") as env:
        env.write(os.environ.get("OMP_WAIT_POLICY", "unset"))
    return statistics.median(baseline_times) / statistics.median(candidate_times)"""
WARNING_PICK_ENGINE = """import warnings
from torch.ao.quantization import get_default_qconfig
def pick_engine(supported):
    warnings.warn("a library warning", UserWarning)
    get_default_qconfig("qnnpack")          # torch.ao's deprecation warnings
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in supported:
            return engine
    raise ValueError(f"supported has no quantized engine: {supported}")"""


ALL_TESTS = ("test_pick_engine", "test_count_parameters", "test_state_dict_bytes", "test_macs",
             "test_median_ratio", "test_width_speedup")


@dataclass
class Case:
    edits: tuple = ()
    score: float = FULL_MARKS
    wrong: tuple = ()          # test cells scoring 0
    stopped: str | None = None   # a phrase the report's reason for stopping contains
    event: str | None = None     # a kind of event the report lists
    detail: str | None = None    # a phrase in that event's detail
    release: bool = False      # start from the untouched release instead of the solution


def attack_case(name):
    code, detail, base = SHELL_ATTACKS[name]
    if base == "release":
        return Case((prepend("pick_engine", code),), release=True, score=0, wrong=ALL_TESTS,
                    event="restored", detail=detail)
    return Case((replace("median_ratio", WRONG_MEDIAN), prepend("pick_engine", code)), score=7,
                wrong=("test_median_ratio",), event="restored", detail=detail)


CASES = {
    "solution": Case(),
    "untouched_release": Case(release=True, score=0, wrong=(
        "test_pick_engine", "test_count_parameters", "test_state_dict_bytes", "test_macs",
        "test_median_ratio", "test_width_speedup")),
    "test_cell_edited_to_pass": Case((WRONG_PICK_ENGINE, replace("test_pick_engine", "pass")),
                                     score=7, wrong=("test_pick_engine",)),
    "test_cell_deleted": Case((WRONG_PICK_ENGINE, delete("test_pick_engine")),
                              score=7, wrong=("test_pick_engine",), event="structure",
                              detail="'test_pick_engine' was missing"),
    "test_points_changed": Case((set_points("test_pick_engine", 100), WRONG_PICK_ENGINE),
                                score=7, wrong=("test_pick_engine",), event="structure",
                                detail="metadata of cell 'test_pick_engine' was edited"),
    "infinite_loop": Case((prepend("width_speedup", "while True:\n    pass"),),
                          score=6, wrong=("test_width_speedup",), event="timeout"),
    "loop_ignoring_interrupt": Case((prepend("width_speedup", "import signal\nsignal.signal("
                                             "signal.SIGINT, signal.SIG_IGN)\n"
                                             "while True:\n    pass"),),
                                    score=6, wrong=("test_width_speedup",), event="timeout",
                                    stopped="ignored the interrupt"),
    "os_exit": Case((prepend("width_speedup", "import os\nos._exit(0)"),),
                    score=6, wrong=("test_width_speedup",), stopped="kernel died"),
    "segfault": Case((prepend("width_speedup", "import ctypes\nctypes.string_at(0)"),),
                     score=6, wrong=("test_width_speedup",), stopped="kernel died"),
    "print_100_mb": Case((prepend("median_ratio", "print('x' * 100_000_000)"),),
                         event="output_truncated"),
    "patches_isclose": Case((replace("median_ratio", "import math\nmath.isclose = lambda *a, **k: "
                                     "True\n" + WRONG_MEDIAN),),
                            score=7, wrong=("test_median_ratio",), event="restored",
                            detail="math.isclose"),
    "patches_utils_reference": Case((replace("width_speedup",
                                             FAKE_SPEEDUP + "\n" + SWAPPED_SPEEDUP),),
                                    score=6, wrong=("test_width_speedup",), event="restored",
                                    detail="utils.benchmark.speedup"),
    "patches_during_test": Case((replace("median_ratio", WRONG_MEDIAN.replace(
        "\n    return", "\n    import math\n    math.isclose = torch.allclose = torch.equal = "
        "lambda *a, **k: True\n    return")),),
        score=7, wrong=("test_median_ratio",), event="tampered_during_test",
        detail="math.isclose, torch.allclose, torch.equal"),
    "warns": Case((replace("pick_engine", WARNING_PICK_ENGINE),)),
    "equal_to_everything": Case((replace("pick_engine", EQUAL_TO_EVERYTHING),), release=True,
                                score=0, wrong=ALL_TESTS),
    **{f"shell_{name}": attack_case(name) for name in SHELL_ATTACKS},
}


def build(course, name, case):
    source = (course.release_notebook if case.release else course.solution_notebook)(LAB)
    nb = nbformat.read(source, as_version=4)
    for edit in case.edits:
        edit(nb)
    path = course.path / "built" / f"{name}.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab_course(tmp_path_factory):
    """A scratch course with lab 00 released."""
    course = scratch_course(tmp_path_factory.mktemp("course"), [LAB])
    course.release([LAB])
    return course


@pytest.fixture(scope="module")
def graded(lab_course, tmp_path_factory):
    cases = dict(CASES, logs_cases_a=Case((replace("median_ratio", LOG_CASES),)),
                 logs_cases_b=Case((replace("median_ratio", LOG_CASES),)))
    for name, case in cases.items():
        submit(lab_course, LAB, name, build(lab_course, name, case))
    outcomes = autograde.autograde([LAB], course=lab_course, jobs=2, timeout=CELL_TIMEOUT)
    return {o.student: o for o in outcomes}, lab_course.autograded_folder


def logged(autograded, student, suffix=""):
    """What ``student``'s LOG_CASES submission wrote in its own folder."""
    return (autograded / student / LAB / f"{student}{suffix}").read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_submission_gets_the_score_it_earned(graded, name):
    outcome, case = graded[0][name], CASES[name]
    assert outcome.status == "graded", outcome.status
    assert outcome.max_score == FULL_MARKS, "the points of the original test cells count"
    assert outcome.score == case.score, outcome.scores
    assert sorted(g for g, (s, _) in outcome.scores.items() if s == 0) == sorted(case.wrong)
    if case.stopped:
        assert case.stopped in (outcome.stopped or ""), outcome.stopped
    else:
        assert outcome.stopped is None, outcome.stopped
    kinds = [e["kind"] for e in outcome.events]
    if case.event:
        assert case.event in kinds, outcome.events
        assert any((case.detail or "") in e["detail"]
                   for e in outcome.events if e["kind"] == case.event)
    else:
        assert kinds == [], outcome.events


def test_a_huge_print_is_capped_in_the_graded_notebook(graded, lab_course):
    graded_notebook = lab_course.autograded_folder / "print_100_mb" / LAB / f"{LAB}.ipynb"
    assert graded_notebook.stat().st_size < 1_000_000
    assert "output truncated by the autograder" in graded_notebook.read_text()


def test_hidden_tests_draw_cases_per_student(graded):
    first, second = [logged(graded[1], s) for s in ("logs_cases_a", "logs_cases_b")]
    assert graded[0]["logs_cases_a"].score == graded[0]["logs_cases_b"].score == FULL_MARKS
    assert first != second, "two students with the same code must get different random cases"
    assert execution.STUDENT_VARIABLE == utils.grading.STUDENT_VARIABLE


def test_kernels_wait_passively_at_openmp_barriers(graded):
    """Two-thread kernels graded side by side must not spin on each other's cores."""
    expected = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    assert logged(graded[1], "logs_cases_a", ".env") == expected


def test_regrading_is_idempotent_and_backs_up_the_gradebook(graded, lab_course):
    before = gradebook.snapshot(lab_course.gradebook_path)
    drawn = logged(graded[1], "logs_cases_a")
    backups = set((lab_course.grading_folder / "backups").glob("*.db"))
    chosen = ["solution", "logs_cases_a", "untouched_release"]
    assert autograde.autograde([LAB], chosen, course=lab_course, jobs=2) == [], "graded already"
    assert set((lab_course.grading_folder / "backups").glob("*.db")) == backups, "nothing to do"
    regraded = autograde.autograde([LAB], chosen, course=lab_course, jobs=2, force=True)
    assert [o.student for o in regraded] == chosen
    assert gradebook.snapshot(lab_course.gradebook_path) == before
    # nbgrader regrades into a fresh copy of the submission: the log holds this run's cases only
    assert logged(graded[1], "logs_cases_a") == drawn, "the same cases, drawn again"
    new_backups = set((lab_course.grading_folder / "backups").glob("*.db")) - backups
    assert len(new_backups) == 1
    assert gradebook.snapshot(new_backups.pop()) == before


def test_parallel_gradebook_equals_serial(graded, lab_course, tmp_path):
    """The same submissions graded one after another by plain nbgrader (one ``nbgrader
    autograde`` process on the course gradebook, no Dask), in a copy of the course without a
    gradebook, leave the same gradebook content."""
    serial = Course(shutil.copytree(lab_course, tmp_path / "serial", ignore=shutil.ignore_patterns(
        "gradebook.db", "backups", "autograded", "reports")))
    students = ["solution", "untouched_release", "os_exit", "patches_isclose", "test_cell_deleted"]
    for folder in serial.submitted_folder.iterdir():
        if folder.name not in students:
            shutil.rmtree(folder)
    gradebook.ensure_lab(serial, LAB)
    serial.run_nbgrader("autograde", LAB, "--force", f"--Execute.timeout={CELL_TIMEOUT}",
                        check=False)       # the submissions that crash their kernel fail it
    parallel = gradebook.snapshot(lab_course.gradebook_path)
    expected = gradebook.snapshot(serial.gradebook_path)
    assert expected["submissions"] == {key: value for key, value in parallel["submissions"].items()
                                       if key[1] in students}


def test_wall_clock_limit_keeps_the_points_earned(lab_course):
    slow = Case((prepend("width_speedup", "import time\ntime.sleep(300)"),))
    submit(lab_course, LAB, "too_slow", build(lab_course, "too_slow", slow))
    [outcome] = autograde.autograde([LAB], ["too_slow"], course=lab_course, timeout=120, limit=45)
    assert "wall-clock limit of 45 s" in outcome.stopped
    assert outcome.score == 6 and outcome.scores["test_width_speedup"] == (0, 2)
    report = json.loads(autograde.report_path(lab_course, LAB, "too_slow").read_text())
    assert report["stopped"] == outcome.stopped


@pytest.mark.parametrize("option, score", [("--IgnorePattern.enabled=True", FULL_MARKS),
                                           ("--IgnorePattern.enabled=False", FULL_MARKS)])
def test_library_warnings_cost_no_points(lab_course, option, score):
    """A student's library warnings cost nothing. Lab 00's tests run outside the kernel
    (autograder/verdict.py): what the kernel writes to stderr is not in the test cell at all,
    with nbgrader's IgnorePattern on (the kit's setting, for labs still tested in the kernel) or
    off. The torch.ao deprecation warnings never reach the graded notebook (utils filters them)."""
    student = f"warns_{option.rsplit('=', 1)[1].lower()}"     # one submission per option
    submit(lab_course, LAB, student, build(lab_course, student, CASES["warns"]))
    [outcome] = autograde.autograde([LAB], [student], course=lab_course, nbgrader_options=[option])
    assert outcome.score == score, outcome.scores
    graded_nb = (lab_course.autograded_folder / student / LAB / f"{LAB}.ipynb").read_text()
    assert "deprecated" not in graded_nb.lower()


@pytest.fixture(scope="module")
def unguarded(lab_course):
    """Each attack's notebook run by plain nbclient (no autograder): the test cells that pass."""
    from concurrent.futures import ThreadPoolExecutor

    from nbclient import NotebookClient

    def run(name):
        nb = nbformat.read(build(lab_course, f"unguarded_{name}", CASES[name]), as_version=4)
        NotebookClient(nb, timeout=CELL_TIMEOUT * 3, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": lab_course.root}}).execute()
        return {cells.grade_id(cell) for cell in nb.cells
                if cells.is_autograded_test(cell)
                and not any(o.output_type == "error" for o in cell.outputs)}

    names = [name for name in CASES if name.startswith("shell_")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names)))


@pytest.mark.parametrize("name", sorted(f"shell_{name}" for name in SHELL_ATTACKS))
def test_each_attack_works_unguarded(unguarded, name):
    """Without the autograder's guard, the attack passes test cells that the graded run fails:
    the guarded score above is the guard's doing, not an attack that never worked."""
    assert unguarded[name] & set(CASES[name].wrong), (
        f"{name} passes none of {CASES[name].wrong} even unguarded: it tests nothing")
