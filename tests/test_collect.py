"""Collecting submissions: from a folder laid out per student and from a learning platform's zip.

Each test gets its own copy of one released scratch course, so gradebooks never mix; no notebook is
executed (zip collection runs ``nbgrader zip_collect``, a few seconds).
"""

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import collect
from autograder.course import Course
from autograder.scratch import scratch_course

LAB = "00_orientation"


@pytest.fixture(scope="module")
def released_course(tmp_path_factory):
    scratch = scratch_course(tmp_path_factory.mktemp("released") / "course", [LAB])
    scratch.release([LAB])
    return scratch.path


@pytest.fixture
def root(released_course, tmp_path):
    """A private copy of the released course: its own gradebook and submissions."""
    return Path(shutil.copytree(released_course, tmp_path / "course"))


def submission(root, student):
    """The released notebook, marked with ``student`` so each copy can be told apart."""
    notebook = json.loads(Course(root).release_notebook(LAB).read_text())
    notebook["metadata"]["collect_test_student"] = student
    return json.dumps(notebook)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def snapshot(directory, with_times=True):
    """{relative path: (sha256, mtime)} of every file under ``directory``."""
    return {str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_mtime_ns if with_times else None)
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}


def outside_grading(root):
    return {path: digest for path, digest in snapshot(root).items()
            if not path.startswith("grading/")}


def collected(root, student):
    return root / "grading" / "submitted" / student / LAB / f"{LAB}.ipynb"


def gradebook_students(root):
    with Gradebook(f"sqlite:///{root}/grading/gradebook.db") as gradebook:
        return sorted(student.id for student in gradebook.students)


# --- a folder laid out per student ---------------------------------------------------------------

def test_folder_collect_copies_each_notebook_and_adds_the_students(root, tmp_path):
    folder = tmp_path / "inbox"
    for student in ("alice", "bob", "carol.d@uni-x"):
        write(folder / student / f"{LAB}.ipynb", submission(root, student))
    before = snapshot(folder)

    result = collect.collect_folder(folder, LAB, course=Course(root))

    assert result.collected == ["alice", "bob", "carol.d@uni-x"] and result.skipped == []
    for student in result.collected:
        assert collected(root, student).read_text() == submission(root, student)
    assert gradebook_students(root) == ["alice", "bob", "carol.d@uni-x"]
    assert snapshot(folder) == before   # same bytes, same modification times, nothing added


def test_folder_collect_accepts_the_nbgrader_exchange_layout(root, tmp_path):
    folder = tmp_path / "exchange"
    write(folder / "alice" / LAB / f"{LAB}.ipynb", submission(root, "alice"))
    write(folder / "alice" / LAB / "timestamp.txt", "2024-03-01 09:30:00 UTC")
    write(folder / "bob" / f"{LAB}.ipynb", submission(root, "bob"))
    before = snapshot(folder)

    result = collect.collect_folder(folder, LAB, course=Course(root))

    assert result.collected == ["alice", "bob"]
    assert collected(root, "alice").read_text() == submission(root, "alice")
    assert (collected(root, "alice").parent / "timestamp.txt").read_text() \
        == "2024-03-01 09:30:00 UTC"
    assert not (collected(root, "bob").parent / "timestamp.txt").exists()
    assert snapshot(folder) == before


def test_folder_collect_skips_odd_entries_with_a_reason(root, tmp_path):
    folder = tmp_path / "inbox"
    write(folder / "alice" / f"{LAB}.ipynb", submission(root, "alice"))
    write(folder / "dave" / "my_work.ipynb", submission(root, "dave"))
    write(folder / "eve" / f"{LAB}.ipynb", "{ this is not json")
    write(folder / "fay" / f"{LAB}.ipynb", json.dumps({"cells": "not a list"}))
    write(folder / "gus" / f"{LAB}.ipynb", submission(root, "gus"))
    write(folder / "gus" / LAB / f"{LAB}.ipynb", submission(root, "gus"))
    write(folder / "bad name" / f"{LAB}.ipynb", submission(root, "bad name"))
    write(folder / "-rf" / f"{LAB}.ipynb", submission(root, "-rf"))
    write(folder / "README.txt", "grades due Friday")

    result = collect.collect_folder(folder, LAB, course=Course(root))

    assert result.collected == ["alice"]
    reasons = {skipped.entry: skipped.reason for skipped in result.skipped}
    assert sorted(reasons) == ["-rf", "README.txt", "bad name", "dave", "eve", "fay", "gus"]
    assert reasons["dave"] == f"no {LAB}.ipynb"
    assert "not valid notebook JSON" in reasons["eve"]
    assert "not a Jupyter notebook" in reasons["fay"]
    assert "both" in reasons["gus"]
    assert "'bad name'" in reasons["bad name"] and "not allowed" in reasons["bad name"]
    assert "'-rf'" in reasons["-rf"]
    assert reasons["README.txt"] == "not a student folder"
    assert gradebook_students(root) == ["alice"]
    assert sorted(p.name for p in (root / "grading" / "submitted").iterdir()) == ["alice"]


def test_folder_collect_replaces_an_earlier_submission(root, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "alice" / LAB / f"{LAB}.ipynb", submission(root, "alice, first"))
    write(first / "alice" / LAB / "timestamp.txt", "2024-03-01 09:30:00 UTC")
    write(second / "alice" / f"{LAB}.ipynb", submission(root, "alice, second"))

    collect.collect_folder(first, LAB, course=Course(root))
    collect.collect_folder(second, LAB, course=Course(root))

    target = collected(root, "alice").parent
    assert sorted(p.name for p in target.iterdir()) == [f"{LAB}.ipynb"]   # no stale timestamp
    assert collected(root, "alice").read_text() == submission(root, "alice, second")


# --- a zip from a learning platform --------------------------------------------------------------

def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def canvas_zip(root, path):
    return make_zip(path, {
        f"alice_1001_2001_{LAB}.ipynb": submission(root, "alice"),
        f"bob_LATE_1002_2002_{LAB}.ipynb": submission(root, "bob"),
        f"carol_1003_2003_{LAB}-1.ipynb": submission(root, "carol"),
        "dave_1004_2004_my notebook.ipynb": submission(root, "dave"),
        f"eve_1005_2005_{LAB}.ipynb": "{ this is not json",
        f"{LAB}.ipynb": submission(root, "nobody"),
        "notes.txt": "not a submission",
    })


def test_zip_collect_takes_canvas_names(root, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    archive = canvas_zip(root, downloads / "submissions.zip")
    downloads_before, course_before = snapshot(downloads), outside_grading(root)

    result = collect.collect_zip(archive, LAB, course=Course(root))

    assert result.collected == ["alice", "bob", "carol"]
    for student in result.collected:
        assert collected(root, student).read_text() == submission(root, student)
    reasons = {skipped.entry: skipped.reason for skipped in result.skipped}
    assert reasons == {"dave_1004_2004_my notebook.ipynb": f"not named {LAB}.ipynb",
                       f"{LAB}.ipynb": "name does not match the regexp",
                       "notes.txt": "not a notebook",
                       "eve": f"{LAB}.ipynb is not valid notebook JSON"}
    assert gradebook_students(root) == ["alice", "bob", "carol"]
    submitted = sorted(p.name for p in (root / "grading" / "submitted").iterdir())
    assert submitted == ["alice", "bob", "carol"]
    assert snapshot(downloads) == downloads_before   # the zip unchanged, nothing extracted here
    assert outside_grading(root) == course_before   # zip_collect worked under grading/


def test_zip_collect_with_a_custom_regexp(root, tmp_path):
    # Moodle-like names "<full name>_<participant id>_assignsubmission_file_<file name>"
    regexp = r"[^_]+_(?P<student_id>\d+)_assignsubmission_file_(?P<file_id>.+)\.ipynb"
    archive = make_zip(tmp_path / "moodle.zip", {
        f"Alice Smith_301_assignsubmission_file_{LAB}.ipynb": submission(root, "301"),
        f"Bob Jones_302_assignsubmission_file_{LAB}.ipynb": submission(root, "302"),
        f"carol_1003_2003_{LAB}.ipynb": submission(root, "carol"),
    })

    result = collect.collect_zip(archive, LAB, course=Course(root), regexp=regexp)

    assert result.collected == ["301", "302"]
    assert collected(root, "302").read_text() == submission(root, "302")
    assert [(s.entry, s.reason) for s in result.skipped] \
        == [(f"carol_1003_2003_{LAB}.ipynb", "name does not match the regexp")]
    assert gradebook_students(root) == ["301", "302"]


def test_zip_collect_skips_unsafe_student_ids_of_a_custom_regexp(root, tmp_path):
    regexp = r"(?P<student_id>[^_]+)_(?P<file_id>.+)\.ipynb"
    archive = make_zip(tmp_path / "names.zip", {
        f"erin_{LAB}.ipynb": submission(root, "erin"),
        f"Bad Name_{LAB}.ipynb": submission(root, "Bad Name"),
    })

    result = collect.collect_zip(archive, LAB, course=Course(root), regexp=regexp)

    assert result.collected == ["erin"]
    assert [s.entry for s in result.skipped] == ["Bad Name"]
    assert "not allowed" in result.skipped[0].reason
    assert gradebook_students(root) == ["erin"]
    assert not (root / "grading" / "submitted" / "Bad Name").exists()


def test_zip_collect_stops_on_two_notebooks_of_one_student(root, tmp_path):
    archive = make_zip(tmp_path / "twice.zip", {
        f"alice_1001_2001_{LAB}.ipynb": submission(root, "alice"),
        f"alice_1001_2001_{LAB}-1.ipynb": submission(root, "alice, again"),
    })
    with pytest.raises(RuntimeError, match="Duplicate submission file"):
        collect.collect_zip(archive, LAB, course=Course(root))
    assert gradebook_students(root) == []


# --- collecting twice, bad arguments, the summary ------------------------------------------------

def test_collecting_twice_changes_nothing(root, tmp_path):
    folder = tmp_path / "inbox"
    for student in ("frank", "gina"):
        write(folder / student / f"{LAB}.ipynb", submission(root, student))
    archive = canvas_zip(root, tmp_path / "submissions.zip")

    def collect_both():
        results = (collect.collect_folder(folder, LAB, course=Course(root)),
                   collect.collect_zip(archive, LAB, course=Course(root)))
        state = snapshot(root / "grading", with_times=False)
        del state["gradebook.db"]
        return results, state, gradebook_students(root)

    first, second = collect_both(), collect_both()
    assert first == second
    assert first[2] == ["alice", "bob", "carol", "frank", "gina"]


def bad_arguments(root, tmp_path):
    """{what is wrong: (call, the error message: the argument's name first)}."""
    inbox = tmp_path / "inbox"
    write(inbox / "alice" / f"{LAB}.ipynb", submission(root, "alice"))
    archive = canvas_zip(root, tmp_path / "submissions.zip")
    not_a_zip = write(tmp_path / "submissions_fake.zip", "plain text")
    submitted = root / "grading" / "submitted"

    def folder(path, lab=LAB):
        return lambda: collect.collect_folder(path, lab, course=Course(root))

    def zip_(path, lab=LAB, regexp=collect.DEFAULT_ZIP_REGEXP):
        return lambda: collect.collect_zip(path, lab, course=Course(root), regexp=regexp)

    return {
        "missing folder": (folder(tmp_path / "nowhere"), "folder: .*nowhere.* not a directory"),
        "folder is a file": (folder(not_a_zip), "folder: .* not a directory"),
        "folder is the submissions": (folder(submitted), "folder: .* inside the course's subm"),
        "unknown lab (folder)": (folder(inbox, "99_nope"), "lab: '99_nope' is not a lab of"),
        "unknown lab (zip)": (zip_(archive, "99_nope"), "lab: '99_nope' is not a lab of"),
        "missing archive": (zip_(tmp_path / "nowhere.zip"), "archive: .*nowhere.zip' is not a f"),
        "archive not a zip": (zip_(not_a_zip), "archive: .* is not a zip file"),
        "regexp without groups": (zip_(archive, regexp=r"\w+\.ipynb"),
                                  r"regexp: .* lacks .*student_id.*file_id"),
        "regexp that does not compile": (zip_(archive, regexp="(?P<student_id>["),
                                         "regexp: .* is not a regular expression"),
    }


@pytest.mark.parametrize("wrong", ["missing folder", "folder is a file",
                                   "folder is the submissions", "unknown lab (folder)",
                                   "unknown lab (zip)", "missing archive", "archive not a zip",
                                   "regexp without groups", "regexp that does not compile"])
def test_bad_arguments_are_named_in_the_error(wrong, root, tmp_path):
    call, message = bad_arguments(root, tmp_path)[wrong]
    (root / "grading" / "submitted").mkdir(parents=True, exist_ok=True)
    before = outside_grading(root)
    with pytest.raises(ValueError, match=f"^{message}"):
        call()
    assert gradebook_students(root) == []
    assert not any((root / "grading" / "submitted").iterdir())
    assert outside_grading(root) == before


def test_a_lab_never_released_is_refused(root, tmp_path):
    (root / "grading" / "gradebook.db").unlink()   # as if `make release` never ran
    write(tmp_path / "inbox" / "alice" / f"{LAB}.ipynb", submission(root, "alice"))
    with pytest.raises(ValueError, match=r"^lab: .*never released.*release first"):
        collect.collect_folder(tmp_path / "inbox", LAB, course=Course(root))
    assert not (root / "grading" / "submitted").exists()


def test_summary_names_the_collected_and_the_skipped():
    result = collect.CollectResult(LAB, ["alice", "bob", "carol"],
                                   [collect.Skipped("dave", f"no {LAB}.ipynb")])
    assert str(result) == collect.format_collect_result(result) == (
        f"collected 3 submissions of {LAB}: alice, bob, carol; skipped 1: dave (no {LAB}.ipynb)")
    assert str(collect.CollectResult(LAB, ["alice"])) == f"collected 1 submission of {LAB}: alice"
    assert str(collect.CollectResult(LAB)) == f"collected 0 submissions of {LAB}"
