"""Autograding many submissions on a Dask cluster: one nbgrader process per submission.

Each submission (a lab of a student) is a task (:func:`grade_submission`): on a worker, its own
``nbgrader autograde <lab> --student <id>`` process grades it, its kernel in the sandbox, into a
private copy of the gradebook; the task returns data only, the :class:`Outcome` and the
submission's gradebook rows (:func:`autograder.records.read_submission`). The graded notebook
and the report are written by nbgrader into the course's folders (a shared filesystem on a
cluster). The client merges the rows into the one course gradebook in (lab, student) order
(:func:`autograder.records.merge_submission`), each as soon as those before it are merged, so
the gradebook ends up as plain nbgrader grading one after another leaves it
(``tests/test_autograde.py`` compares them). A worker never writes the course gradebook.

The tasks run on an embedded ``LocalCluster`` of ``jobs`` workers, or on the running cluster at
``scheduler`` (:mod:`autograder.cluster`). A worker killed mid-task has its task re-run
elsewhere; a submission whose grading kills workers again and again ends failed, with the
reason in its report, while the others are graded. A submission in the gradebook is graded
already: running again after an interruption grades only what is missing (``force``: all).

Every run that grades first backs the gradebook up (``grading/backups/``,
:func:`gradebook.backup`). A submission that fails is reported and skipped, never allowed to stop
the others; what each one did (timeouts, a crash, restored functions) is in
``grading/reports/<lab>/<student>.json`` (written by :class:`autograder.execution.GuardedExecute`)
and nbgrader's log next to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from . import cluster, gradebook, records, sandbox
from .checks import as_student_list, check_positive_int, check_positive_seconds
from .course import BIN, Course, nbgrader_environment

__all__ = ["NBGRADER_OVERHEAD_SECONDS", "Outcome", "submitted_students", "report_path",
           "graded_submissions", "autograde", "chosen_submissions", "grade_submission",
           "format_outcomes", "format_summary"]

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
    retries: int = 0              # times its worker died mid-task and it was run again
    skipped: list = field(default_factory=list)   # demonstration cells not run (cells.skip_reason)

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


def graded_submissions(course: Course) -> set[tuple[str, str]]:
    """The (lab, student) pairs the course gradebook holds a graded submission of."""
    if not course.gradebook_path.exists():
        return set()
    with Gradebook(course.gradebook_url) as book:
        return {(lab.name, submission.student_id) for lab in book.assignments
                for submission in lab.submissions}


def autograde(labs: Iterable[str] | None = None, students: Iterable[str] | None = None,
              course: Course | None = None, jobs: int = 1, timeout: float | None = None,
              limit: float | None = None, nbgrader_options: Iterable[str] = (),
              unsafe_no_sandbox: bool = False, scheduler: str | None = None,
              force: bool = False, progress: bool = False) -> list[Outcome]:
    """Autograde ``students``' submissions (default: all submitted) of ``labs`` (default: all)
    that the gradebook does not hold yet (``force``: all of them again).

    jobs     workers of the embedded Dask cluster (1: one submission after another)
    scheduler  the address (``tcp://HOST:PORT``) of a running Dask scheduler to grade on
             instead; its workers must see the kit and the course at the same paths
    timeout  seconds per cell (default: ``Execute.timeout`` of nbgrader_config.py)
    limit    seconds per submission, wall clock (default: ``GuardedExecute.wall_clock_limit``)
    nbgrader_options  more nbgrader command-line options, e.g. ``["--IgnorePattern.enabled=False"]``
    unsafe_no_sandbox  run the kernels unsandboxed, as you, seeing every file and the network
             (default False: each kernel runs in :mod:`autograder.sandbox`, and grading refuses
             to start where bubblewrap cannot run)
    progress  a progress bar (count, rate, time left) and a summary on stderr

    course    the :class:`Course` (default: this repository's)

    Returns an :class:`Outcome` per submission graded in this run, in (lab, student) order.
    """
    course = course or Course()
    labs = course.known_labs(labs)
    check_positive_int(jobs, "jobs")
    check_positive_seconds(timeout, "timeout")
    check_positive_seconds(limit, "limit")
    if scheduler is not None and not (isinstance(scheduler, str) and "://" in scheduler):
        raise ValueError(f"scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
    if not unsafe_no_sandbox:
        sandbox.check_available()
    submitted = {lab: submitted_students(course, lab) for lab in labs or course.lab_names()}
    tasks = chosen_submissions(submitted, students, every_lab=not labs, course=course)
    done = set() if force else graded_submissions(course)
    todo = [task for task in tasks if task not in done]
    if progress and len(todo) < len(tasks):
        print(f"{len(tasks) - len(todo)} submissions already graded, skipped (--force grades "
              "them again)", file=sys.stderr)
    if not todo:
        return []

    gradebook.backup(course)
    for lab in dict.fromkeys(lab for lab, _ in todo):
        gradebook.ensure_lab(course, lab)
    options = _options(timeout, limit, unsafe_no_sandbox) + list(nbgrader_options)
    hard_limit = (limit or course.wall_clock_limit) + NBGRADER_OVERHEAD_SECONDS
    expected = cluster.worker_expectations(course, sandboxed=not unsafe_no_sandbox)
    started = time.monotonic()
    with cluster.open_client(jobs, scheduler) as client:
        workers = cluster.check_workers(client, expected)
        if progress:
            print(f"grading {len(todo)} submissions on {workers} Dask workers; "
                  f"{cluster.dashboard_note(client)}", file=sys.stderr)
        seed = client.scatter(_gradebook_bytes(course), broadcast=True)

        def submit(lab, student):
            return client.submit(grade_submission, course.root, lab, student, options,
                                 hard_limit, seed, expected, key=f"grade-{lab}-{student}",
                                 pure=False)
        outcomes = _collect(client, course, submit, todo, progress)
    if progress:
        print(format_summary(outcomes, time.monotonic() - started), file=sys.stderr)
    return outcomes


def _gradebook_bytes(course):
    """The course gradebook as it is now (each task's private gradebook starts from it)."""
    with tempfile.TemporaryDirectory() as scratch:
        return Path(gradebook.copy_to(course, Path(scratch) / "seed.db")).read_bytes()


def _collect(client, course, submit, todo, progress):
    """Grade each of ``todo`` by ``submit(lab, student)`` (a future), in order, with no more
    tasks out than the cluster has threads (a worker holds only the task it runs, so its death
    counts against that one submission alone); merge each result into the gradebook in order."""
    from distributed import as_completed
    from tqdm import tqdm

    results: list = [None] * len(todo)
    position: dict = {}
    finished = as_completed()
    merged = failed = retried = 0

    def top_up():
        room = max(sum(client.nthreads().values()), 1) - finished.count()
        for i in range(len(position), min(len(position) + room, len(todo))):
            future = submit(*todo[i])
            position[future.key] = i
            finished.add(future)

    top_up()
    with tqdm(total=len(todo), unit="submission", desc="grading", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        for future in finished:
            i = position[future.key]
            outcome, record = _result(client, course, future, *todo[i])
            results[i] = (outcome, record)
            future.release()                      # the cluster may forget it now
            top_up()
            while merged < len(results) and results[merged] is not None:
                _merge(course, *results[merged])
                merged += 1
            failed += outcome.status != "graded"
            retried += outcome.retries > 0
            bar.set_postfix(failed=failed, retried=retried, refresh=False)
            bar.update()
    return [outcome for outcome, _ in results]


def _result(client, course, future, lab, student):
    """(Outcome, gradebook record or None) of a finished task."""
    from distributed.scheduler import KilledWorker

    retries = cluster.deaths(client, future.key)
    if future.status == "finished":
        outcome, record = future.result()
        outcome.retries = retries
        return outcome, record
    if future.status != "error":
        return Outcome(lab, student, f"failed: its task was {future.status}"), None
    error = future.exception()
    if isinstance(error, KilledWorker):
        reason = (f"failed: the workers grading it died {retries} times, more than the "
                  f"{error.allowed_failures} deaths allowed (distributed.scheduler."
                  f"allowed-failures), the last one {error.last_worker.address}")
        _write_failure_report(course, lab, student, reason)
        return Outcome(lab, student, reason, stopped=reason, retries=retries - 1), None
    return Outcome(lab, student, f"failed: {type(error).__name__}: {error}",
                   retries=retries), None


def _write_failure_report(course, lab, student, reason):
    """The report of a submission no worker could finish grading (its log may be cut short)."""
    report = report_path(course, lab, student)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"student": student, "lab": lab, "notebook": None,
                                  "stopped": reason, "events": []}, indent=1) + "\n")


def _merge(course, outcome, record):
    if record is not None:
        records.merge_submission(record, course.gradebook_path, outcome.lab, outcome.student)
        outcome.scores = gradebook.cell_scores(course, outcome.lab, outcome.student)


def grade_submission(root: str, lab: str, student: str, options: list[str], hard_limit: float,
                     seed: bytes, expected: dict) -> tuple[Outcome, dict | None]:
    """The task, on a worker: grade one submission with its own nbgrader process into a private
    gradebook made from ``seed`` (the course gradebook's bytes); returns (the Outcome, the
    submission's gradebook record, or None if it was not graded). Checks the worker first
    (:func:`cluster.check_worker`)."""
    cluster.check_worker(expected)
    course = Course(root)
    with tempfile.TemporaryDirectory(prefix="grade-", dir=cluster.local_scratch()) as scratch:
        private = Path(scratch) / "gradebook.db"
        private.write_bytes(seed)
        db_option = f"--CourseDirectory.db_url={gradebook.url(private)}"
        outcome = _grade(course, lab, student, options + [db_option], hard_limit)
        graded = outcome.status == "graded"
        return outcome, records.read_submission(private, lab, student) if graded else None


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


def _grade(course, lab, student, options, hard_limit):
    """Run ``nbgrader autograde`` for one submission; its log goes next to its report. It is
    killed past ``hard_limit`` seconds, when its task is cancelled, and with its worker."""
    report = report_path(course, lab, student)
    report.unlink(missing_ok=True)
    log = report_path(course, lab, student, suffix=".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(BIN / "nbgrader"), "autograde", lab, f"--student={student}",
               "--force", *options]
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=course.root, env=nbgrader_environment(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=cluster.die_with_parent)
        code, why = _wait(process, started + hard_limit)
    seconds = round(time.monotonic() - started, 1)
    if why == "cancelled":
        status = "cancelled: the client went away"
    elif code is None:
        status = f"killed: nbgrader ran longer than {hard_limit:g} s (see {log})"
    elif code != 0:
        status = f"nbgrader failed with exit code {code} (see {log})"
    else:
        status = "graded"
    details = json.loads(report.read_text()) if report.exists() else {}
    return Outcome(lab, student, status, stopped=details.get("stopped"),
                   events=details.get("events", []), seconds=seconds,
                   execution_seconds=details.get("seconds"), skipped=details.get("skipped", []))


def _wait(process, deadline):
    """(exit code, None) when ``process`` ends; (None, "limit") past ``deadline`` or
    (None, "cancelled") once its task is cancelled, killing its process group."""
    while True:
        try:
            return process.wait(timeout=min(1.0, max(deadline - time.monotonic(), 0.01))), None
        except subprocess.TimeoutExpired:
            why = ("limit" if time.monotonic() >= deadline
                   else None if cluster.still_wanted() else "cancelled")
            if why:
                os.killpg(process.pid, signal.SIGKILL)    # nbgrader and the kernel it started
                process.wait()
                return None, why


def format_outcomes(outcomes: Iterable[Outcome]) -> str:
    """One line per submission: score, time, and what went wrong if anything did."""
    lines = []
    for o in outcomes:
        score = f"{o.score:g}/{o.max_score:g}" if o.status == "graded" else "-"
        notes = [o.status] if o.status != "graded" else []
        notes += [o.stopped] if o.stopped else []
        notes += [f"{e['kind']} in {e['cell']}" for e in o.events]
        notes += [f"run {o.retries + 1} times: its worker died"] if o.retries else []
        lines.append(f"{o.lab:16s} {o.student:20s} {score:>9s} {o.seconds:7.1f} s  "
                     + ("; ".join(notes) or "ok"))
    return "\n".join(lines)


def format_summary(outcomes: list[Outcome], seconds: float) -> str:
    """One line: how many submissions were graded, failed and retried, and the time taken."""
    graded = sum(o.status == "graded" for o in outcomes)
    retried = sum(o.retries > 0 for o in outcomes)
    rate = 60 * len(outcomes) / seconds if seconds else 0
    return (f"graded {graded}, failed {len(outcomes) - graded}, retried {retried} "
            f"(a worker died); {seconds:.0f} s, {rate:.1f} submissions per minute")
