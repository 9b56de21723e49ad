"""Each lab's manifest (autograder/labs/) agrees with its notebook and with the README."""

import re
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.labs import WrongVersion, manifest, manifests

LABS = Course().lab_names()
README = Path(__file__).resolve().parents[1] / "README.md"
MANIFESTS = Path(__file__).resolve().parents[1] / "autograder" / "labs"


def test_every_lab_has_a_manifest_and_every_manifest_a_lab():
    assert [m.lab for m in manifests()] == LABS
    modules = sorted(p.stem.removeprefix("lab_") for p in MANIFESTS.glob("lab_*.py"))
    assert modules == LABS, "a manifest module without a lab, or the other way round"


def test_an_unknown_lab_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"lab must be one of \['00_orientation'"):
        manifest("07_nothing")


@pytest.mark.parametrize("lab", LABS)
def test_wrong_versions_name_mutants_and_the_cells_they_lose(lab):
    lab_manifest = manifest(lab)
    ids = [wrong.mutant for wrong in lab_manifest.wrong_versions]
    assert ids and len(ids) == len(set(ids)), f"{lab}: no wrong versions, or one listed twice"
    for wrong in lab_manifest.wrong_versions:
        mutant = lab_manifest.mutant(wrong.mutant)
        assert mutant.caught_by in wrong.loses, \
            f"{lab} {wrong.mutant}: its own test cell {mutant.caught_by!r} must be among those lost"
        assert 0 <= lab_manifest.score_without(wrong.loses) < lab_manifest.full_marks


@pytest.mark.parametrize("lab", LABS)
def test_claim_constants_each_have_a_reason(lab):
    for number, reason in manifest(lab).claim_constants.items():
        assert re.fullmatch(r"[-−]?[\d,]+(\.\d+)?( ?(%|x|×))?", number), number
        assert len(reason.split()) >= 4, f"{lab}: {number!r} needs its reason, got {reason!r}"


def test_scores_come_from_the_notebooks_points():
    lab00 = manifest("00_orientation")
    assert lab00.full_marks == sum(lab00.test_points.values()) == 8
    assert lab00.score_without({"test_macs"}) == 8 - lab00.test_points["test_macs"]
    assert lab00.score_without(set()) == lab00.full_marks
    with pytest.raises(ValueError, match="not autograded test cells: \\['macs'\\]"):
        lab00.score_without({"macs"})         # the answer cell, not its test
    with pytest.raises(KeyError, match="has no mutant 'macs/typo'"):
        lab00.mutant("macs/typo")
    with pytest.raises(TypeError, match="loses must be a collection"):
        WrongVersion("macs/ignores-groups", "test_macs")


def readme_points():
    """{lab number "NN": "autograded + manual"} from the README's table of labs."""
    rows = re.findall(r"^\| (\d\d) [^|]*\|[^|]*\| ([\d +]+) \|$", README.read_text(), re.M)
    return dict(rows)


def test_the_readme_states_each_labs_points():
    def stated(m):
        points = f"{m.full_marks:g}"
        return points + (f" + {m.manual_points:g}" if m.manual_points else "")

    assert readme_points() == {m.lab[:2]: stated(m) for m in manifests()}
