"""Each lab's wrong answers, graded by nbgrader: the partial score each one must get.

``tests/test_mutants.py`` checks every wrong answer (mutant) is caught by its test cell, in one
kernel. Here the first mutant of each lab is submitted as a whole notebook and autograded, as a
student's would be; a wrong answer also costs the later test cells that build on it, so each
submission states every test cell it loses and its total.
"""

import pytest

from autograder import autograde, course
from autograder.mutants import lab_mutants, write_submission

pytestmark = pytest.mark.notebooks

# lab: (the test cells the lab's first mutant loses, its score, the lab's full marks)
EXPECTED = {
    # prefers fbgemm over x86
    "00_orientation": ({"test_pick_engine"}, 7, 8),
    # keeps the smallest magnitudes: the global masks and the pruned fine-tuned model built on
    # magnitude_mask fail too
    "01_pruning": ({"test_magnitude_mask", "test_global_masks", "test_finetune"}, 15, 23),
    # floor instead of round
    "02_quantization": ({"test_discretize"}, 20, 21),
    # takes the first supported engine (qnnpack): the speed test then measures qnnpack on x86
    "03_fx_ptq": ({"test_pick_engine", "test_speed"}, 13, 15),
    # fake quantization without clamping
    "04_fx_qat": ({"test_fake_quant_forward"}, 13, 15),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    labs = course.lab_names()
    scratch = course.scratch_course(tmp_path_factory.mktemp("course"), labs)
    course.release(labs, scratch)
    for lab in labs:
        path = write_submission(course.solution_notebook(lab, scratch), lab_mutants(lab)[0],
                                scratch / f"{lab}-mutant.ipynb")
        course.submit(scratch, lab, "mutant", path)
    return {o.lab: o for o in autograde.autograde(labs, course=scratch, jobs=2)}


def test_every_lab_states_its_expected_partial_score():
    assert set(EXPECTED) == set(course.lab_names())


@pytest.mark.parametrize("lab", sorted(EXPECTED))
def test_a_wrong_answer_gets_its_partial_score(outcomes, lab):
    outcome = outcomes[lab]
    lost, score, full = EXPECTED[lab]
    assert outcome.status == "graded" and outcome.stopped is None, outcome
    assert outcome.events == [], "a solution-based submission must not trip the integrity checks"
    assert {g for g, (s, m) in outcome.scores.items() if s != m} == lost
    assert (outcome.score, outcome.max_score) == (score, full)
