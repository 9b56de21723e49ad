"""How fast autograding goes: N copies of each lab's solution graded three ways, and a projection.

``python -m autograder throughput --submissions 8 --jobs 2`` builds a scratch course per run,
submits each lab's worked solution for N students, and times ``autograde`` on Dask three ways:
one worker (one submission after another), ``jobs`` workers of an embedded ``LocalCluster``,
and a cluster of separately started processes (``dask scheduler`` and ``jobs`` ``dask worker``
processes on 127.0.0.1, used through ``scheduler=``). The gradebooks of the three must agree.

Throughput is in **submissions per core-minute**: submissions / CPU minutes of every process
the run started (nbgrader, kernels, Dask's scheduler and workers), what one core kept busy gets
through; unlike wall time it hardly moves when other jobs share the machine. From each lab's rate
on the dask CLI cluster it **projects** the wall time of 1,000 students x 6 labs on W workers of
one core each (a projection, not a measurement: it assumes every worker's core is its own and
grading scales linearly; a real cluster adds start-up, queueing and filesystem costs).

Where the time goes, per submission: ``execution`` is the notebook's own run (kernel start to
last cell, from the grading report), ``nbgrader`` the whole ``nbgrader autograde`` process around
it; the difference is nbgrader's start-up and bookkeeping. CPU time counts every process this one
started and waited for: nbgrader, kernels, and Dask's workers and scheduler.
"""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import time
from dataclasses import dataclass

from . import cluster, gradebook
from .autograde import autograde
from .checks import check_positive_int
from .course import Course
from .scratch import scratch_course, submit

__all__ = ["TimedRun", "MODES", "children_cpu_seconds", "timed_run", "measure",
           "project_hours", "format_measure"]

MODES = ("serial", "jobs", "cluster")     # one worker; an embedded cluster; dask CLI processes
COURSE_STUDENTS, COURSE_LABS = 1000, 6


@dataclass(frozen=True)
class TimedRun:
    """One autograding run of every submission of one lab."""
    lab: str
    mode: str                  # one of MODES
    workers: int
    wall_seconds: float        # the whole run: cluster start, grading, merging
    nbgrader_seconds: float    # summed over submissions: each nbgrader process
    execution_seconds: float   # summed over submissions: each notebook's own run
    cpu_seconds: float         # CPU time of every process started (user + system)
    submissions: int

    @property
    def per_core_minute(self) -> float:
        """Submissions per core-minute: submissions / CPU minutes."""
        return self.submissions / (self.cpu_seconds / 60)

    @property
    def per_worker_minute(self) -> float:
        """Submissions per worker per minute of wall time (on a machine shared with other jobs,
        far below :attr:`per_core_minute`)."""
        return self.submissions / (self.workers * self.wall_seconds / 60)

    @property
    def cores_busy(self) -> float:
        """CPU time over wall time: how many cores the run kept busy on average."""
        return self.cpu_seconds / self.wall_seconds

    @property
    def overhead_fraction(self) -> float:
        """The part of the nbgrader processes' time not spent running the notebooks."""
        return 1 - self.execution_seconds / self.nbgrader_seconds


def children_cpu_seconds() -> float:
    """CPU seconds used so far by this process's finished child processes and theirs (each
    waits for its own: a kernel's time counts once its nbgrader, worker and nanny have ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(directory: str | os.PathLike, lab: str, students: list[str], mode: str,
              jobs: int) -> tuple[TimedRun, dict]:
    """Autograde ``lab`` for every student in a new scratch course, ``mode`` being one of
    :data:`MODES`; returns (:class:`TimedRun`, the gradebook's snapshot)."""
    scratch = scratch_course(directory, [lab])
    scratch.release([lab])
    for student in students:
        submit(scratch, lab, student, scratch.solution_notebook(lab))
    workers = 1 if mode == "serial" else jobs
    cpu_before = children_cpu_seconds()
    with (cluster.command_line_cluster(workers) if mode == "cluster"
          else contextlib.nullcontext()) as started:
        begun = time.monotonic()
        outcomes = autograde([lab], course=scratch, jobs=workers,
                             scheduler=started.address if started else None)
        wall = time.monotonic() - begun
    cpu = children_cpu_seconds() - cpu_before
    failed = [o for o in outcomes if o.status != "graded" or o.score != o.max_score]
    if failed:
        raise RuntimeError(f"solutions did not get full marks: {failed}")
    run = TimedRun(lab=lab, mode=mode, workers=workers, wall_seconds=wall,
                   nbgrader_seconds=sum(o.seconds for o in outcomes),
                   execution_seconds=sum(o.execution_seconds or 0 for o in outcomes),
                   cpu_seconds=cpu, submissions=len(outcomes))
    return run, gradebook.snapshot(scratch.gradebook_path)


def measure(submissions: int = 8, jobs: int = 2, labs: list[str] | None = None) -> list[TimedRun]:
    """Every lab of ``labs`` (default: all) graded in each of :data:`MODES`; raises if the
    gradebooks of a lab differ."""
    check_positive_int(submissions, "submissions")
    check_positive_int(jobs, "jobs")
    labs = labs or Course().lab_names()
    students = [f"student{i:02d}" for i in range(1, submissions + 1)]
    runs = []
    for lab in labs:
        books = []
        for mode in MODES:
            with tempfile.TemporaryDirectory() as folder:
                run, book = timed_run(folder, lab, students, mode, jobs)
            runs.append(run)
            books.append(book["submissions"])
        if any(book != books[0] for book in books):
            raise RuntimeError(f"{lab}: the gradebooks of {MODES} differ")
    return runs


def project_hours(runs: list[TimedRun], workers: int, mode: str = "cluster") -> float:
    """PROJECTED wall hours of 1,000 students x 6 labs on ``workers`` workers, at each measured
    lab's submissions per core-minute in ``mode``; labs not measured are taken to cost the
    measured ones' mean."""
    rates = {run.lab: run.per_core_minute for run in runs if run.mode == mode}
    minutes_each = [1 / rate for rate in rates.values()]        # core-minutes per submission
    mean = sum(minutes_each) / len(minutes_each)
    total = sum(minutes_each) + mean * (COURSE_LABS - len(minutes_each))
    return COURSE_STUDENTS * total / workers / 60


def format_measure(runs: list[TimedRun], project_on: tuple[int, ...] = (2, 64, 256)) -> str:
    """The measurement as a table for the terminal (and the README), then the projection."""
    lines = [f"{'lab':16s} {'mode':18s} {'subs':>4s} {'wall s':>7s} {'per core-min':>12s} "
             f"{'per worker-min':>14s} {'CPU s/sub':>9s} {'overhead':>8s} {'cores busy':>10s}"]
    names = {"serial": "serial (1 worker)", "jobs": "--jobs {}", "cluster": "dask CLI, {} workers"}
    for run in runs:
        lines.append(f"{run.lab:16s} {names[run.mode].format(run.workers):18s} "
                     f"{run.submissions:4d} {run.wall_seconds:7.0f} {run.per_core_minute:12.2f} "
                     f"{run.per_worker_minute:14.2f} "
                     f"{run.cpu_seconds / run.submissions:9.1f} "
                     f"{100 * run.overhead_fraction:7.0f}% {run.cores_busy:10.2f}")
    for lab in dict.fromkeys(run.lab for run in runs):
        wall = {run.mode: run.wall_seconds for run in runs if run.lab == lab}
        lines.append(f"{lab}: --jobs speedup {wall['serial'] / wall['jobs']:.2f}x, dask CLI "
                     f"cluster {wall['serial'] / wall['cluster']:.2f}x over serial; the three "
                     "gradebooks are identical")
    measured = sorted({run.lab for run in runs})
    basis = ("every lab measured" if len(measured) >= COURSE_LABS else
             f"measured {', '.join(measured)}; the other labs assumed to cost as much")
    lines.append(f"PROJECTION, not a measurement ({basis}; CPU per submission on the dask CLI "
                 "cluster, one core per worker, scaling linearly): "
                 f"{COURSE_STUDENTS:,} students x {COURSE_LABS} labs = "
                 + ", ".join(f"{project_hours(runs, w):.1f} h on {w} workers"
                             for w in project_on))
    return "\n".join(lines)
