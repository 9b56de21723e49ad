"""Every lab autograded by nbgrader as a class would submit it: the score each submission earns.

For each lab, one scratch course grades, in parallel:

* the untouched release: zero on every graded cell;
* the worked solution: full marks;
* the wrong versions the lab's issue names (from ``autograder/mutants/``), each submitted as a
  whole notebook, as a student making that mistake would. A wrong answer can also cost the later
  test cells that build on it, so each states every test cell it loses and its total.

``tests/test_mutants.py`` checks that *every* mutant is caught by its own test cell, in one
kernel; here the grader itself is shown to turn those mistakes into the right partial scores.

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
from autograder.mutants import lab_mutants, write_submission
from autograder.scratch import scratch_course, submit
from utils import cpu

pytestmark = [pytest.mark.notebooks, pytest.mark.needs("bubblewrap")]

# lab: its full marks (autograded points; written answers are graded by hand)
FULL_MARKS = {"00_orientation": 8, "01_pruning": 23, "02_quantization": 21, "03_fx_ptq": 15,
              "04_fx_qat": 15, "05_pipeline": 25}

# lab: [(the mutant's id in autograder/mutants/lab_<lab>.py, the test cells it loses, its score)]
WRONG_VERSIONS = {
    "00_orientation": [
        ("pick_engine/prefers-fbgemm", {"test_pick_engine"}, 7),
        ("median_ratio/mean", {"test_median_ratio"}, 7),
        ("count_parameters/equal-to-everything-int", {"test_count_parameters"}, 7),
    ],
    "01_pruning": [
        # the global masks are built on magnitude_mask; the fine-tuned AGP model too, but its
        # check (check_finetune) is not graded, so the mistake is not charged a third time
        ("magnitude_mask/keeps-smallest", {"test_magnitude_mask", "test_global_masks"}, 18),
        ("magnitude_mask/truncates-count", {"test_magnitude_mask", "test_global_masks"}, 18),
        ("ln_structured_mask/wrong-dim", {"test_ln_structured"}, 21),
        ("magnitude_mask/equal-to-everything-tensor",
         {"test_magnitude_mask", "test_global_masks"}, 18),
        # recover's two tests grade different steps: the BatchNorm statistics (and eval mode),
        # then the fine-tuned accuracy of a model cut by the reference pruning
        ("recover/no-optimizer-step", {"test_recover"}, 20),
        ("recover/train-mode", {"test_recover_bn"}, 21),
    ],
    "02_quantization": [
        ("discretize/floor", {"test_discretize"}, 20),
        # later test cells run the answers they build on as PyTorch's (answers_graded_earlier):
        # a wrong calculate_qparams no longer costs test_quantize and test_per_channel too
        ("qparams/zero-not-in-range", {"test_qparams_seed", "test_qparams_observer"}, 17),
        # ... nor a wrong per_channel_qparams the bit-width sweep (test_sweep)
        ("per_channel/min-max-along-axis", {"test_per_channel"}, 19),
        ("integer_linear/int8-bias", {"test_integer_linear"}, 18),
        ("calibration/percentile_range-equal-to-everything-tuple", {"test_calibration"}, 19),
    ],
    "03_fx_ptq": [
        # an uncalibrated model costs test_ptq_fx alone: the benchmark's size and speed checks
        # and the qconfig comparisons (which only re-use ptq_fx) are not graded, and the readers
        # are graded on models built by reference_ptq
        ("ptq_fx/no-calibration", {"test_ptq_fx"}, 12),
        ("ptq_fx/converts-uncalibrated-copy", {"test_ptq_fx"}, 12),
        ("readers/weight-scale", {"test_qparams"}, 12),
        ("ptq_fx/equal-to-everything-tuple", {"test_ptq_fx"}, 12),
        # nothing later builds on fold_conv_bn (the int8 weights are compared with utils.bn_folding)
        ("fold_conv_bn/forgets-eps", {"test_fold"}, 13),
    ],
    "04_fx_qat": [
        ("finetune/observers-never-disabled", {"test_finetune"}, 12),
        ("finetune/eval-mode", {"test_finetune"}, 12),
        ("convert/no-deepcopy", {"test_convert"}, 13),
        # test 4 runs on a reference low-bit mapping: a wrong one costs test_low_bit alone
        ("low_bit/low_bit_qconfig_mapping-equal-to-everything-object", {"test_low_bit"}, 13),
    ],
    "05_pipeline": [
        # a failed test swaps the reference's result in for the later sections (reference_answers)
        ("choose_ratios/returns-none", {"test_choose"}, 23),
        ("stage_metrics/mean-of-batch-means", {"test_metrics"}, 23),
        # an unwritten first exercise of section 2 costs its own 5 points, not every later test's
        ("prune_and_finetune/raises", {"test_prune"}, 20),
        ("fold_bn/forgets-eps", {"test_fold"}, 23),
        # the replay's predictions and layers are far off, but nothing later builds on the replay
        ("integer_replay/stays-on-input-grid", {"test_replay"}, 22),
    ],
}


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


def mutant(lab, mutant_id):
    [found] = [m for m in lab_mutants(lab) if m.id == mutant_id]
    return found


def wrong_versions(lab):
    """(student, mutant id, the test cells it loses, its score) of each wrong version of ``lab``:
    the student is ``wrongN`` (an nbgrader student id), the mutant id names its pytest case."""
    return [(f"wrong{i}", *row) for i, row in enumerate(WRONG_VERSIONS[lab], start=1)]


def submissions(lab, scratch):
    """{student: (notebook, the test cells it loses, its score)} for one lab."""
    full = FULL_MARKS[lab]
    release = scratch.release_notebook(lab)
    test_cells = {cells.grade_id(cell) for cell in nbformat.read(release, as_version=4).cells
                  if cells.is_autograded_test(cell)}
    cases = {"solution": (scratch.solution_notebook(lab), set(), full),
             "untouched_release": (release, test_cells, 0),
             "attacked_release": (attacked_release(release, scratch.path / f"{lab}-attacked.ipynb"),
                                  test_cells, 0)}
    for student, mutant_id, lost, score in wrong_versions(lab):
        path = write_submission(scratch.solution_notebook(lab), mutant(lab, mutant_id),
                                scratch.path / f"{lab}-{student}.ipynb")
        cases[student] = (path, lost, score)
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


def test_every_lab_is_graded_here():
    assert set(FULL_MARKS) == set(WRONG_VERSIONS) == set(Course().lab_names())


def cases():
    """(lab, student) of every submission, named ``<lab>-<student>``, or ``<lab>-<mutant id>`` for
    a wrong version (``01_pruning-magnitude_mask/keeps-smallest``)."""
    params = []
    for lab in sorted(WRONG_VERSIONS):
        named = [(student, student) for student in ("solution", "untouched_release",
                                                    "attacked_release")]
        named += [(student, mutant_id) for student, mutant_id, _, _ in wrong_versions(lab)]
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
    assert outcome.max_score == FULL_MARKS[lab]
    assert {g for g, (s, m) in outcome.scores.items() if s != m} == lost, outcome.scores
    assert outcome.score == score
    if student == "untouched_release":
        assert all(s == 0 for s, _ in outcome.scores.values()), outcome.scores
