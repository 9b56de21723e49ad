"""How long autograding takes: N copies of every lab's solution, graded serially and in parallel.

``python -m autograder throughput --submissions 8 --jobs 2`` builds a scratch course per run,
submits each lab's worked solution for N students, and times ``autograde`` with ``jobs=1``
(plain nbgrader, one after another) and with ``jobs`` workers; both gradebooks must agree.

Where the time goes, per submission: ``execution`` is the notebook's own run (kernel start to
last cell, from the grading report), ``nbgrader`` the whole ``nbgrader autograde`` process around
it; the difference is nbgrader's start-up and bookkeeping. Throughput bounded by the labs' own
compute means the overhead is a small part of the total, and ``jobs`` workers on ``jobs`` cores
come close to ``jobs`` times faster.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass

from . import gradebook
from .autograde import autograde
from .checks import check_positive_int
from .course import Course
from .scratch import scratch_course, submit

__all__ = ["TimedRun", "children_cpu_seconds", "timed_run", "measure", "format_measure"]


@dataclass(frozen=True)
class TimedRun:
    """One autograding run of every submission."""
    jobs: int
    wall_seconds: float        # the whole run, merging included
    nbgrader_seconds: float    # summed over submissions: each nbgrader process
    execution_seconds: float   # summed over submissions: each notebook's own run
    cpu_seconds: float         # CPU time of nbgrader and the kernels (user + system)
    submissions: int

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
    nbgrader waits for its kernel, so a kernel's time counts once nbgrader has ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(directory: str | os.PathLike, labs: list[str], students: list[str], jobs: int
              ) -> tuple[TimedRun, dict]:
    """Autograde every lab for every student in a new scratch course with ``jobs`` workers;
    returns (:class:`TimedRun`, the gradebook's snapshot)."""
    scratch = scratch_course(directory, labs)
    scratch.release(labs)
    for lab in labs:
        for student in students:
            submit(scratch, lab, student, scratch.solution_notebook(lab))
    cpu_before, started = children_cpu_seconds(), time.monotonic()
    outcomes = autograde(labs, course=scratch, jobs=jobs)
    wall, cpu = time.monotonic() - started, children_cpu_seconds() - cpu_before
    failed = [o for o in outcomes if o.status != "graded" or o.score != o.max_score]
    if failed:
        raise RuntimeError(f"solutions did not get full marks: {failed}")
    run = TimedRun(jobs=jobs, wall_seconds=wall,
                   nbgrader_seconds=sum(o.seconds for o in outcomes),
                   execution_seconds=sum(o.execution_seconds or 0 for o in outcomes),
                   cpu_seconds=cpu,
                   submissions=len(outcomes))
    return run, gradebook.snapshot(scratch.gradebook_path)


def measure(submissions: int = 8, jobs: int = 2, labs: list[str] | None = None) -> dict:
    """{"serial": TimedRun, "parallel": TimedRun, "speedup": serial wall / parallel wall};
    raises if the two gradebooks differ."""
    check_positive_int(submissions, "submissions")
    check_positive_int(jobs, "jobs")
    labs = labs or Course().lab_names()
    students = [f"student{i:02d}" for i in range(1, submissions + 1)]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        parallel, parallel_book = timed_run(a, labs, students, jobs)
        serial, serial_book = timed_run(b, labs, students, 1)
    if parallel_book["submissions"] != serial_book["submissions"]:
        raise RuntimeError("the parallel gradebook differs from the serial one")
    return {"serial": serial, "parallel": parallel,
            "speedup": serial.wall_seconds / parallel.wall_seconds}


def format_measure(result: dict) -> str:
    """The measurement as a few lines for the terminal (and the closing note)."""
    serial, parallel = result["serial"], result["parallel"]
    lines = [f"{serial.submissions} submissions; the two gradebooks are identical"]
    for run in (serial, parallel):
        lines.append(f"  jobs={run.jobs}: {run.wall_seconds:.0f} s wall; per submission "
                     f"{run.nbgrader_seconds / run.submissions:.1f} s nbgrader, "
                     f"{run.execution_seconds / run.submissions:.1f} s of it running the notebook "
                     f"(overhead {100 * run.overhead_fraction:.0f} %); "
                     f"{run.cores_busy:.2f} cores busy on average")
    lines.append(f"  speedup {result['speedup']:.2f}x with {parallel.jobs} jobs")
    return "\n".join(lines)
