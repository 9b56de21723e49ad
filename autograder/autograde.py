"""Autograding many submissions: one nbgrader process per submission, in parallel.

Each submission (a lab of a student) is graded by its own ``nbgrader autograde <lab> --student
<id>`` process. With ``jobs=1`` the processes run one after another on the course gradebook:
that is plain nbgrader, the reference. With ``jobs > 1`` they run side by side, each on a private
copy of the gradebook (SQLite does not take concurrent writers well), and each graded submission
is then merged into the course gradebook in a fixed order
(:func:`gradebook.merge_graded_submission`), so the gradebook ends up as the serial run leaves it
(``tests/test_autograde.py`` compares them).

Every run first backs the gradebook up (``grading/backups/``, :func:`gradebook.backup`). A
submission that fails is reported and skipped, never allowed to stop the others; what each one
did (timeouts, a crash, restored functions) is in ``grading/reports/<lab>/<student>.json``
(written by :class:`autograder.execution.GuardedExecute`) and nbgrader's log next to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import gradebook, sandbox
from .checks import as_student_list, check_positive_int, check_positive_seconds
from .course import BIN, Course, nbgrader_environment

__all__ = ["NBGRADER_OVERHEAD_SECONDS", "Outcome", "submitted_students", "report_path",
           "autograde", "chosen_submissions", "format_outcomes"]

# Time on top of the wall-clock limit for nbgrader itself (start-up, sanitizing, saving).
NBGRADER_OVERHEAD_SECONDS = 120


@dataclass
class Outcome:
    """How one submission's grading went."""
    lab: str
    student: str
    status: str                   # "graded", or why it could not be graded
    stopped: str | None = None    # why execution stopped early (a crash, the wall-clock limit)
    events: list = field(default_factory=list)
    seconds: float = 0.0          # the whole nbgrader process, start-up included
    execution_seconds: float | None = None   # the notebook's own run (kernel start to last cell)
    scores: dict = field(default_factory=dict)   # grade_id -> (score, max_score)

    @property
    def score(self) -> float:
        return sum(s for s, _ in self.scores.values() if s is not None)

    @property
    def max_score(self) -> float:
        return sum(m for _, m in self.scores.values())


def submitted_students(course: Course, lab: str) -> list[str]:
    """Students with a submission of ``lab`` in the course's submitted folder, sorted."""
    return course.students_in(course.submitted_directory, lab)


def report_path(course: Course, lab: str, student: str, suffix: str = ".json") -> Path:
    """The grading report of one submission (``suffix=".log"``: nbgrader's log)."""
    return course.reports_folder / lab / f"{student}{suffix}"


def autograde(labs: Iterable[str] | None = None, students: Iterable[str] | None = None,
              course: Course | None = None, jobs: int = 1, timeout: float | None = None,
              limit: float | None = None, nbgrader_options: Iterable[str] = (),
              unsafe_no_sandbox: bool = False) -> list[Outcome]:
    """Autograde ``students``' submissions (default: all submitted) of ``labs`` (default: all).

    jobs     processes side by side (1: plain nbgrader, one after another)
    timeout  seconds per cell (default: ``Execute.timeout`` of nbgrader_config.py)
    limit    seconds per submission, wall clock (default: ``GuardedExecute.wall_clock_limit``)
    nbgrader_options  more nbgrader command-line options, e.g. ``["--IgnorePattern.enabled=False"]``
    unsafe_no_sandbox  run the kernels unsandboxed, as you, seeing every file and the network
             (default False: each kernel runs in :mod:`autograder.sandbox`, and grading refuses
             to start where bubblewrap cannot run)

    course    the :class:`Course` (default: this repository's)

    Returns an :class:`Outcome` per submission, in (lab, student) order.
    """
    course = course or Course()
    labs = course.known_labs(labs)
    check_positive_int(jobs, "jobs")
    check_positive_seconds(timeout, "timeout")
    check_positive_seconds(limit, "limit")
    if not unsafe_no_sandbox:
        sandbox.check_available()
    submitted = {lab: submitted_students(course, lab) for lab in labs or course.lab_names()}
    tasks = chosen_submissions(submitted, students, every_lab=not labs, course=course)

    gradebook.backup(course)
    for lab in dict.fromkeys(lab for lab, _ in tasks):
        gradebook.ensure_lab(course, lab)

    options = _options(timeout, limit, unsafe_no_sandbox) + list(nbgrader_options)
    hard_limit = (limit or course.wall_clock_limit) + NBGRADER_OVERHEAD_SECONDS
    if jobs == 1:
        outcomes = [_grade(course, lab, student, options, hard_limit) for lab, student in tasks]
    else:
        outcomes = _grade_in_parallel(course, tasks, options, hard_limit, jobs)
    for outcome in outcomes:
        if outcome.status == "graded":
            outcome.scores = gradebook.cell_scores(course, outcome.lab, outcome.student)
    return outcomes


def chosen_submissions(submitted: dict[str, list[str]], students: Iterable[str] | None = None,
                       every_lab: bool = False, course: Course | None = None
                       ) -> list[tuple[str, str]]:
    """The (lab, student) pairs to grade, lab by lab; ``submitted`` is {lab: students who
    submitted it}. ``students=None`` takes every submission. Named students must have submitted
    every lab named; with ``every_lab`` (no lab named) the labs they submitted are taken, and
    each must have submitted at least one."""
    students = as_student_list(students)
    if students is None:
        return [(lab, student) for lab, names in submitted.items() for student in names]
    folder = (course or Course()).submitted_folder
    if every_lab:
        nowhere = sorted(set(students) - {s for names in submitted.values() for s in names})
        if nowhere:
            raise ValueError(f"students {nowhere} have no submission of any lab in {folder} "
                             "(collect them first)")
    else:
        for lab, names in submitted.items():
            missing = sorted(set(students) - set(names))
            if missing:
                raise ValueError(f"students {missing} have no submission of {lab} in {folder} "
                                 "(collect them first)")
    return [(lab, student) for lab, names in submitted.items() for student in students
            if student in names]


def _options(timeout, limit, unsafe_no_sandbox=False):
    options = ["--SandboxedKernelManager.unsafe_no_sandbox=True"] if unsafe_no_sandbox else []
    if timeout:
        options.append(f"--Execute.timeout={int(timeout)}")
    if limit:
        options.append(f"--GuardedExecute.wall_clock_limit={float(limit)}")
    return options


def _grade_in_parallel(course, tasks, options, hard_limit, jobs):
    with tempfile.TemporaryDirectory(prefix="autograde-") as scratch:
        def work(task):
            lab, student = task
            private = gradebook.copy_to(course, Path(scratch) / f"{lab}-{student}.db")
            db_option = f"--CourseDirectory.db_url={gradebook.url(private)}"
            return _grade(course, lab, student, options + [db_option], hard_limit), private

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(work, tasks))      # in task order, whatever finished first
        for (outcome, private), (lab, student) in zip(results, tasks):
            if outcome.status == "graded":
                gradebook.merge_graded_submission(private, course.gradebook_path, lab, student)
    return [outcome for outcome, _ in results]


def _grade(course, lab, student, options, hard_limit):
    """Run ``nbgrader autograde`` for one submission; its log goes next to its report."""
    report = report_path(course, lab, student)
    report.unlink(missing_ok=True)
    log = report_path(course, lab, student, suffix=".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(BIN / "nbgrader"), "autograde", lab, f"--student={student}",
               "--force", *options]
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=course.root, env=nbgrader_environment(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=hard_limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)     # nbgrader and the kernel it started
            process.wait()
            code = None
    seconds = round(time.monotonic() - started, 1)
    if code is None:
        status = f"killed: nbgrader ran longer than {hard_limit:g} s (see {log})"
    elif code != 0:
        status = f"nbgrader failed with exit code {code} (see {log})"
    else:
        status = "graded"
    details = json.loads(report.read_text()) if report.exists() else {}
    return Outcome(lab, student, status, stopped=details.get("stopped"),
                   events=details.get("events", []), seconds=seconds,
                   execution_seconds=details.get("seconds"))


def format_outcomes(outcomes: Iterable[Outcome]) -> str:
    """One line per submission: score, time, and what went wrong if anything did."""
    lines = []
    for o in outcomes:
        score = f"{o.score:g}/{o.max_score:g}" if o.status == "graded" else "-"
        notes = [o.status] if o.status != "graded" else []
        notes += [o.stopped] if o.stopped else []
        notes += [f"{e['kind']} in {e['cell']}" for e in o.events]
        lines.append(f"{o.lab:16s} {o.student:20s} {score:>9s} {o.seconds:7.1f} s  "
                     + ("; ".join(notes) or "ok"))
    return "\n".join(lines)
