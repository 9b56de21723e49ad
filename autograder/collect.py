"""Collect students' submissions of a lab into the course, ready for ``nbgrader autograde``.

Submissions come in one of two layouts; both end up as nbgrader expects them::

    grading/submitted/<student>/<lab>/<lab>.ipynb      (plus timestamp.txt when there is one)

with every collected student added to the gradebook. The originals are only read, never moved or
modified. A lab must have been released in the course first (``make release``, i.e. ``nbgrader
generate_assignment``): that is what puts the lab in the gradebook.

1. A folder laid out per student (``collect_folder``): one sub-folder per student, named with the
   student's id, holding the lab's notebook either directly or in a folder named after the lab
   (what nbgrader's own exchange hands back)::

       folder/alice/00_orientation.ipynb
       folder/bob/00_orientation/00_orientation.ipynb
       folder/bob/00_orientation/timestamp.txt          (optional, copied along)

2. A zip downloaded from a learning platform (``collect_zip``), one file per student named after
   the student, collected with nbgrader's ``zip_collect``. The zip is copied to
   ``grading/downloaded/<lab>/archive/`` and extracted to ``grading/downloaded/<lab>/extracted/``
   (nbgrader's ``archive`` and ``extracted`` steps, moved under the git-ignored ``grading/``).
   The default file names are Canvas's: see ``DEFAULT_ZIP_REGEXP``.

Both return a ``CollectResult``: the students collected and the entries skipped, each with a
reason (a class of 200 is not held up by one odd submission).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from . import gradebook
from .course import Course

__all__ = ["STUDENT_ID", "STUDENT_ID_RULE", "DEFAULT_ZIP_REGEXP", "ARCHIVE_NAME", "Skipped",
           "CollectResult", "format_collect_result", "check_released", "add_students",
           "problem_with", "collect_folder", "find_notebook", "copy_notebook", "collect_zip",
           "discard", "check_regexp", "run_zip_collect", "log_messages", "skipped_files",
           "collected_files", "name_in_zip"]

# A student id names a folder and a gradebook row: letters, digits, _ - . @, not starting with
# a dot or a dash (so never ".", "..", a hidden folder or something that reads as an option).
STUDENT_ID = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_.@-]*")
STUDENT_ID_RULE = "letters, digits, _ - . @, starting with a letter, digit, _ or @"

# Canvas names each file of a "Download Submissions" zip
#     <login>_<user id>_<submission id>_<file name>        alice_1001_2001_00_orientation.ipynb
#     <login>_LATE_<user id>_<submission id>_<file name>   a late submission
# and a re-uploaded file gets a "-1", "-2", ... before its extension: 00_orientation-1.ipynb.
# The login (no "_") is the student id; the file name without the "-<n>" is the notebook name.
DEFAULT_ZIP_REGEXP = (r"(?P<student_id>[A-Za-z0-9.@-]+)(?:_LATE)?_\d+_\d+_"
                      r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb")

ARCHIVE_NAME = "submissions"                 # the copy of the zip: archive/submissions.zip


@dataclass
class Skipped:
    entry: str    # a student folder, or a file name in the zip
    reason: str


@dataclass
class CollectResult:
    lab: str
    collected: list = field(default_factory=list)   # student ids, sorted
    skipped: list = field(default_factory=list)     # Skipped entries

    def __str__(self) -> str:
        return format_collect_result(self)


def format_collect_result(result: CollectResult) -> str:
    """One line for the instructor, e.g. ``collected 3 submissions of 00_orientation: alice, bob,
    carol; skipped 1: dave (no 00_orientation.ipynb)``."""
    plural = "" if len(result.collected) == 1 else "s"
    text = f"collected {len(result.collected)} submission{plural} of {result.lab}"
    if result.collected:
        text += ": " + ", ".join(result.collected)
    if result.skipped:
        text += f"; skipped {len(result.skipped)}: "
        text += ", ".join(f"{s.entry} ({s.reason})" for s in result.skipped)
    return text


# --- the course: its gradebook and submitted folders --------------------------------------------

def check_released(course: Course, lab: str) -> None:
    """Fail unless ``lab`` is a lab of the course and was released (so is in the gradebook)."""
    labs = course.lab_names()
    if lab not in labs:
        raise ValueError(f"lab: {lab!r} is not a lab of this course; expected one of {labs}")
    if not gradebook.has_lab(course, lab):
        raise ValueError(f"lab: {lab!r} is not in the gradebook: it was never released "
                         f"in this course; run the release first (make release)")


def add_students(course: Course, students: list[str]) -> None:
    """Add ``students`` to the gradebook (those already there are left as they are)."""
    with Gradebook(course.gradebook_url, course.course_id) as book:
        for student in students:
            book.update_or_create_student(student)


def problem_with(student: str, notebook: str | os.PathLike) -> str | None:
    """Why ``notebook`` cannot be ``student``'s submission, or None when it can."""
    if not STUDENT_ID.fullmatch(student):
        return f"student id {student!r} is not allowed: use {STUDENT_ID_RULE}"
    try:
        content = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{Path(notebook).name} is not valid notebook JSON"
    if not (isinstance(content, dict) and content.get("nbformat") == 4
            and isinstance(content.get("cells"), list)):
        return f"{Path(notebook).name} is not a Jupyter notebook (nbformat 4)"
    return None


# --- 1. a folder laid out per student ------------------------------------------------------------

def collect_folder(folder: str | os.PathLike, lab: str, course: Course | None = None
                   ) -> CollectResult:
    """Copy each student's notebook of ``lab`` from ``folder`` into the course's submissions.

    ``folder`` holds one folder per student, named with the student's id, containing
    ``<lab>.ipynb`` or ``<lab>/<lab>.ipynb`` (and optionally a ``timestamp.txt`` next to it).
    A collected submission replaces the student's earlier one. Skipped, with a reason: entries
    that are not folders, student ids that are not safe (see ``STUDENT_ID``), folders without the
    notebook or with both layouts, and notebooks that are not valid notebook JSON.
    ``course``: the :class:`Course` (default: this repository's).
    """
    folder = Path(folder)
    course = course or Course()
    if not folder.is_dir():
        raise ValueError(f"folder: {str(folder)!r} is not a directory (expected one folder "
                         f"per student, each holding {lab}.ipynb)")
    submitted = course.submitted_folder.resolve()
    if folder.resolve().is_relative_to(submitted):
        raise ValueError(f"folder: {str(folder)!r} is inside the course's submissions "
                         f"{str(submitted)!r}; collect from a folder outside it")
    check_released(course, lab)

    result = CollectResult(lab)
    for entry in sorted(folder.iterdir()):
        notebook, reason = find_notebook(entry, lab)
        if notebook is not None:    # found (reason is None)
            reason = problem_with(entry.name, notebook)
        if reason:
            result.skipped.append(Skipped(entry.name, reason))
        else:
            assert notebook is not None
            copy_notebook(notebook, course.submission_folder(lab, entry.name), lab)
            result.collected.append(entry.name)
    add_students(course, result.collected)
    return result


def find_notebook(student_folder: Path, lab: str) -> tuple[Path | None, str | None]:
    """(notebook, None): the one notebook of ``lab`` in ``student_folder``; else (None, reason)."""
    if not student_folder.is_dir():
        return None, "not a student folder"
    found = [notebook for notebook in (student_folder / f"{lab}.ipynb",
                                       student_folder / lab / f"{lab}.ipynb")
             if notebook.is_file()]
    if not found:
        return None, f"no {lab}.ipynb"
    if len(found) > 1:
        return None, f"both {lab}.ipynb and {lab}/{lab}.ipynb: keep one"
    return found[0], None


def copy_notebook(notebook: str | os.PathLike, target: Path, lab: str) -> None:
    """Make ``target`` hold a copy of ``notebook`` as ``<lab>.ipynb``, with its timestamp.txt."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copyfile(notebook, target / f"{lab}.ipynb")
    timestamp = Path(notebook).parent / "timestamp.txt"
    if timestamp.is_file():
        shutil.copyfile(timestamp, target / "timestamp.txt")


# --- 2. a zip from a learning platform -----------------------------------------------------------

def collect_zip(archive: str | os.PathLike, lab: str, course: Course | None = None,
                regexp: str = DEFAULT_ZIP_REGEXP) -> CollectResult:
    """Collect the submissions of ``lab`` in a learning platform's zip with ``nbgrader
    zip_collect``.

    Each notebook's file name (without its folders) must match ``regexp`` as a whole (no ``^`` or
    ``$`` needed); its named groups ``student_id`` and ``file_id`` give the student and the
    notebook name (``file_id`` without ``.ipynb``, which nbgrader adds back). The default,
    ``DEFAULT_ZIP_REGEXP``, accepts Canvas's names::

        <login>_<user id>_<submission id>_<lab>.ipynb          alice_1001_2001_00_orientation.ipynb
        <login>_LATE_<user id>_<submission id>_<lab>.ipynb     a late submission
        <login>_..._<lab>-<n>.ipynb                           a resubmission, e.g. 00_orientation-1

    where ``<login>`` (letters, digits, ``. @ -``) becomes the student id. Skipped, with a reason:
    files that are not notebooks or do not match ``regexp``, notebooks not named after the lab
    (nbgrader autogrades only ``<lab>.ipynb``), unsafe student ids and invalid notebooks. A
    collected submission replaces the student's earlier one; two notebooks of one student in the
    zip make nbgrader stop (RuntimeError). ``archive`` itself is only copied.
    ``course``: the :class:`Course` (default: this repository's).
    """
    archive = Path(archive)
    course = course or Course()
    if not archive.is_file():
        raise ValueError(f"archive: {str(archive)!r} is not a file (expected a .zip "
                         f"downloaded from the learning platform)")
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"archive: {str(archive)!r} is not a zip file")
    check_regexp(regexp)
    check_released(course, lab)

    downloaded = course.folder(course.downloaded_directory)
    archive_folder = downloaded / lab / "archive"
    shutil.rmtree(archive_folder, ignore_errors=True)   # only this zip is collected
    archive_folder.mkdir(parents=True)
    shutil.copyfile(archive, archive_folder / f"{ARCHIVE_NAME}.zip")

    log = run_zip_collect(course, lab, regexp)
    extracted = downloaded / lab / "extracted" / ARCHIVE_NAME
    result = CollectResult(lab)
    for file, reason in skipped_files(log, lab):
        result.skipped.append(Skipped(name_in_zip(file, extracted), reason))
    for student, notebook in collected_files(course, log, lab):
        problem = problem_with(student, notebook)
        if problem:
            discard(Path(notebook).parent)
            result.skipped.append(Skipped(student, problem))
        else:
            result.collected.append(student)
    result.collected.sort()
    add_students(course, result.collected)
    return result


def discard(submission: Path) -> None:
    """Remove a submission folder nbgrader filled (autograde could not take it), and its student's
    folder when that is left empty."""
    shutil.rmtree(submission, ignore_errors=True)
    if submission.parent.is_dir() and not any(submission.parent.iterdir()):
        submission.parent.rmdir()


def check_regexp(regexp: str) -> None:
    """Fail unless ``regexp`` compiles and has the named groups nbgrader needs."""
    try:
        groups = re.compile(regexp).groupindex
    except re.error as error:
        raise ValueError(f"regexp: {regexp!r} is not a regular expression ({error})") from None
    missing = [name for name in ("student_id", "file_id") if name not in groups]
    if missing:
        raise ValueError(f"regexp: {regexp!r} lacks the named group(s) "
                         + ", ".join(f"(?P<{name}>...)" for name in missing))


def run_zip_collect(course: Course, lab: str, regexp: str) -> str:
    """Run ``nbgrader zip_collect`` on ``grading/downloaded/<lab>/``; returns its log."""
    # nbgrader matches the regexp from the start of each extracted file's full path: let the
    # path's folders go by and match the file name as a whole.
    named_regexp = f".*/(?=[^/]*$)(?:{regexp})$"
    process = course.run_nbgrader(
        "zip_collect", lab, "--force", "--strict", "--log-level=INFO",
        f"--ZipCollectApp.downloaded_directory={course.downloaded_directory}",
        f"--FileNameCollectorPlugin.named_regexp={named_regexp}", check=False)
    if process.returncode != 0:
        messages = log_messages(process.stderr)
        errors = [message for level, message in messages if level in ("ERROR", "CRITICAL")]
        parsed = [message for _, message in messages if message.startswith("Parsing file: ")]
        raise RuntimeError(f"nbgrader zip_collect {lab} failed: "
                           + ("; ".join(errors) or process.stderr.strip()[-2000:])
                           + (f" ({parsed[-1]})" if parsed else ""))
    return process.stderr


def log_messages(log: str) -> list[tuple[str, str]]:
    """(level, message) of each line nbgrader logged, e.g. ``[ZipCollectApp | INFO] ...``."""
    return re.findall(r"^\[\w+ \| (\w+)\] (.*)$", log, flags=re.MULTILINE)


def skipped_files(log: str, lab: str) -> list[tuple[str, str]]:
    """(file, reason) of each file ``zip_collect`` parsed and skipped, in the order it logged."""
    skipped: list[tuple[str, str]] = []
    file = ""    # nbgrader logs "Parsing file: ..." before it skips that file
    for _, message in log_messages(log):
        if message.startswith("Parsing file: "):
            file = message.removeprefix("Parsing file: ")
        elif message.startswith("Skipped notebook with invalid name"):
            skipped.append((file, f"not named {lab}.ipynb"))
        elif message.startswith("Skipped submission with no match information"):
            is_notebook = file.endswith(".ipynb")
            skipped.append((file, "name does not match the regexp" if is_notebook
                            else "not a notebook"))
        elif message.startswith("Skipped"):
            skipped.append((file, message))
    return skipped


def collected_files(course: Course, log: str, lab: str) -> list[tuple[str, str]]:
    """(student, notebook) of each notebook ``zip_collect`` copied into the submissions."""
    # the student id is what nbgrader put between the two ends of the submission folder
    start, end = course.format_path(course.submitted_directory, "\0", lab).split("\0")
    copied = [message.removeprefix("  Copying to: ") for _, message in log_messages(log)
              if message.startswith("  Copying to: ")]
    folders = [(os.path.dirname(notebook), notebook) for notebook in copied]
    return [(folder[len(start):-len(end)], notebook) for folder, notebook in folders
            if folder.startswith(start) and folder.endswith(end)]


def name_in_zip(file: str, extracted: Path) -> str:
    """``file``'s path inside the zip (it was extracted to ``extracted``)."""
    try:
        return str(Path(file).relative_to(extracted))
    except ValueError:
        return Path(file).name
