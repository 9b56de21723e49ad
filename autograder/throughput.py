"""How long autograding takes: N copies of every lab's solution, graded serially and in parallel.

``python -m autograder throughput --submissions 8 --jobs 2`` builds a scratch course per run,
submits each lab's worked solution for N students, and times ``autograde`` with ``jobs=1``
(plain nbgrader, one after another) and with ``jobs`` workers; both gradebooks must agree.
"""

import tempfile
import time

from . import course, gradebook
from .autograde import autograde


def timed_run(directory, labs, students, jobs):
    """Seconds to autograde every lab for every student in a new scratch course, and the
    gradebook's snapshot."""
    scratch = course.scratch_course(directory, labs)
    course.release(labs, scratch)
    for lab in labs:
        for student in students:
            course.submit(scratch, lab, student, course.solution_notebook(lab, scratch))
    started = time.monotonic()
    outcomes = autograde(labs, course=scratch, jobs=jobs)
    seconds = time.monotonic() - started
    failed = [o for o in outcomes if o.status != "graded" or o.score != o.max_score]
    if failed:
        raise RuntimeError(f"solutions did not get full marks: {failed}")
    return seconds, gradebook.snapshot(gradebook.path(scratch))


def measure(submissions=8, jobs=2, labs=None):
    """{"serial": seconds, "parallel": seconds, "speedup": ratio}; raises if the two gradebooks
    differ."""
    labs = labs or course.lab_names()
    students = [f"student{i:02d}" for i in range(1, submissions + 1)]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        parallel, parallel_book = timed_run(a, labs, students, jobs)
        serial, serial_book = timed_run(b, labs, students, 1)
    if parallel_book["submissions"] != serial_book["submissions"]:
        raise RuntimeError("the parallel gradebook differs from the serial one")
    return {"serial": serial, "parallel": parallel, "speedup": serial / parallel}
