"""The course wiring: the committed release is exactly what nbgrader generates from the
solutions, the solutions score full marks, the untouched release scores zero."""

import filecmp
import json

import pytest

from autograder import course

LABS = course.lab_names()
notebooks = pytest.mark.notebooks


def test_every_lab_has_solution_and_release():
    assert LABS[0] == "00_orientation"
    released = sorted(p.name for p in (course.REPO / "labs").iterdir() if p.is_dir())
    assert released == LABS


@notebooks
def test_release_regenerates_exactly_the_committed_labs(tmp_path):
    scratch = course.scratch_course(tmp_path, LABS)
    course.release(LABS, scratch)
    comparison = filecmp.dircmp(course.REPO / "labs", scratch / "labs")
    mismatched = []
    stack = [comparison]
    while stack:
        c = stack.pop()
        mismatched += c.left_only + c.right_only + c.diff_files + c.funny_files
        stack.extend(c.subdirs.values())
        # dircmp compares by stat signature first; compare contents explicitly
        mismatched += filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)[1]
    assert not mismatched, f"run `make release`: labs/ differs from a fresh release in {mismatched}"


@pytest.mark.parametrize("lab", LABS)
def test_release_has_no_outputs_solutions_or_hidden_tests(lab):
    text = course.release_notebook(lab).read_text()
    nb = json.loads(text)
    assert all(not cell.get("outputs") for cell in nb["cells"] if cell["cell_type"] == "code")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{lab}: the release still contains '{marker}'"


@pytest.mark.parametrize("lab", LABS)
def test_solutions_are_committed_executed(lab):
    nb = json.loads(course.solution_notebook(lab).read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code_cells), f"{lab}: run `make solutions`"
    errors = [o for c in code_cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{lab}: the committed solution has errors"


@notebooks
@pytest.mark.parametrize("lab", LABS)
def test_autograde_solution_full_marks_release_zero(lab, tmp_path):
    scores = course.check_lab(lab, tmp_path)
    solution, release = scores["solution"], scores["release"]
    assert solution and set(solution) == set(release)
    assert {k: s for k, (s, m) in solution.items() if s != m} == {}, "solution lost points"
    assert {k: s for k, (s, _) in release.items() if s != 0} == {}, "untouched release scored"
