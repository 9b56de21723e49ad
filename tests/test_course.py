"""The course wiring: the committed release is exactly what nbgrader generates from the
solutions, with no outputs, solutions or hidden tests, and a release says what it changed.
(Autograding the solutions and releases: ``tests/test_autograde_labs.py``.)"""

import filecmp
import json

import pytest

from autograder.course import Course, describe_changes
from autograder.scratch import scratch_course

COURSE = Course()
LABS = COURSE.lab_names()
notebooks = pytest.mark.notebooks


def test_every_lab_has_solution_and_release():
    assert LABS[0] == "00_orientation"
    released = sorted(p.name for p in COURSE.release_folder.iterdir() if p.is_dir())
    assert released == LABS


@notebooks
def test_release_regenerates_exactly_the_committed_labs(tmp_path):
    scratch = scratch_course(tmp_path, LABS)
    changes = scratch.release(LABS)
    assert changes and all(line.endswith(": added") for line in changes), changes
    comparison = filecmp.dircmp(COURSE.release_folder, scratch.release_folder)
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
    text = COURSE.release_notebook(lab).read_text()
    nb = json.loads(text)
    assert all(not cell.get("outputs") for cell in nb["cells"] if cell["cell_type"] == "code")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{lab}: the release still contains '{marker}'"


@pytest.mark.parametrize("lab", LABS)
def test_solutions_are_committed_executed(lab):
    nb = json.loads(COURSE.solution_notebook(lab).read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code_cells), f"{lab}: run `make solutions`"
    errors = [o for c in code_cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{lab}: the committed solution has errors"


@notebooks
def test_release_says_what_changed(tmp_path):
    lab = LABS[0]
    scratch = scratch_course(tmp_path, [lab])
    scratch.release([lab])
    assert scratch.release([lab]) == [], "releasing again changes nothing"
    solution = scratch.solution_notebook(lab)
    nb = json.loads(solution.read_text())
    markdown = next(cell for cell in nb["cells"] if cell["cell_type"] == "markdown")
    markdown["source"] = "".join(markdown["source"]) + "\nOne more sentence."
    solution.write_text(json.dumps(nb))
    assert scratch.release([lab]) == [f"{lab}/{lab}.ipynb: changed (cells: 1 changed)"]


def test_describe_changes_names_each_file_and_counts_cells():
    def notebook(*sources):
        return json.dumps({"cells": [{"cell_type": "code", "source": s} for s in sources]}).encode()

    before = {"a/a.ipynb": notebook("x", "y", "z"), "a/data.txt": b"1", "a/old.txt": b"1"}
    after = {"a/a.ipynb": notebook("x", "Y", "z", "w"), "a/data.txt": b"2", "a/new.txt": b"1"}
    assert describe_changes(before, after) == [
        "a/a.ipynb: changed (cells: 1 changed, 1 added)", "a/data.txt: changed",
        "a/new.txt: added", "a/old.txt: removed"]
    assert describe_changes(before, before) == []
    assert describe_changes({"n.ipynb": notebook("x", "y")}, {"n.ipynb": notebook("y")}) \
        == ["n.ipynb: changed (cells: 1 removed)"]


def test_release_rejects_an_unknown_lab():
    with pytest.raises(ValueError, match="labs must be among"):
        COURSE.release(["99_nolab"])
