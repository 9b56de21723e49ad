"""Grading on Dask clusters (autograder/cluster.py): nothing lost, nothing graded twice.

A scheduler and two workers started with the ``dask`` command on 127.0.0.1 (as on a cluster's
nodes) grade lab 00 submissions through ``scheduler=``: one worker SIGKILLed in the middle of a
submission leaves every grade as plain nbgrader gives it; a submission whose workers keep dying
ends failed, with the reason in its report, while another is graded; a client interrupted in
the middle and run again grades only what is missing. The embedded cluster (``jobs``) grades
tests/test_autograde.py's submissions; here it checks the workers' set-up. The Slurm recipe's
job script is checked without Slurm.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from autograder import autograde, cluster, gradebook
from autograder.__main__ import parser
from autograder.course import BIN, REPO, Course
from autograder.scratch import scratch_course, submit
from test_autograde import CASES, CELL_TIMEOUT, LAB, WRONG_PICK_ENGINE, Case, build

ALLOWED_FAILURES = 1          # the command-line scheduler's: a second worker death gives up
SCORES = {"solution": 8, "untouched_release": 0, "wrong_engine": 7}


# -- without notebooks -----------------------------------------------------------------------------
def collected_course(folder):
    """A scratch course with lab 00 and an (empty) folder of collected submissions."""
    course = scratch_course(folder, [LAB])
    course.submitted_folder.mkdir(parents=True)
    return course


def test_a_worker_missing_the_kit_or_the_course_says_what_and_why(tmp_path):
    course = collected_course(tmp_path / "course")
    expected = cluster.worker_expectations(course, sandboxed=False)
    cluster.check_worker(expected)                              # all there: no error
    missing = {**expected, "kit": "/elsewhere/kit", "course": str(tmp_path / "not_shared")}
    with pytest.raises(cluster.WorkerSetupError) as error:
        cluster.check_worker(missing)
    message = str(error.value)
    assert f"the kit is imported from {REPO}, not /elsewhere/kit" in message
    assert f"no course folder {tmp_path / 'not_shared'}" in message
    assert "same paths as the client (a shared filesystem)" in message


def test_the_embedded_cluster_checks_each_worker_before_grading(tmp_path):
    course = collected_course(tmp_path / "course")
    missing = {**cluster.worker_expectations(course), "nbgrader": "/nowhere/bin/nbgrader"}
    with cluster.open_client(jobs=1) as client:
        assert cluster.check_workers(client, cluster.worker_expectations(course)) == 1
        with pytest.raises(cluster.WorkerSetupError, match="no nbgrader at /nowhere/bin"):
            cluster.check_workers(client, missing)
        # a worker joining later checks before its first task: the task fails with the reason
        task = client.submit(autograde.grade_submission, course.root, LAB, "alice", [], 60, b"",
                             missing, pure=False)
        with pytest.raises(cluster.WorkerSetupError, match="no nbgrader at /nowhere/bin"):
            task.result()
        assert "no dashboard" in cluster.dashboard_note(client) or "dashboard: http" in \
            cluster.dashboard_note(client)


def test_the_command_line_takes_a_scheduler_and_force():
    args = parser().parse_args(["autograde", LAB, "--scheduler", "tcp://127.0.0.1:8786",
                                "--force"])
    assert (args.scheduler, args.force) == ("tcp://127.0.0.1:8786", True)
    assert parser().parse_args(["autograde"]).force is False
    with pytest.raises(ValueError, match="scheduler must be an address like tcp://HOST:PORT"):
        autograde.autograde([LAB], scheduler="127.0.0.1:8786")


def test_the_slurm_recipe_starts_single_thread_workers_of_the_kit(tmp_path):
    pytest.importorskip("dask_jobqueue", reason="the optional extra: pip install -e '.[cluster]'")
    from autograder.slurm import slurm_cluster

    with slurm_cluster(cores=4, memory="8GB", walltime="00:30:00", queue="short",
                       account="cs101", log_directory=tmp_path) as slurm:
        script = slurm.job_script()
        address = slurm.scheduler_address
    for line in ("#SBATCH -p short", "#SBATCH -A cs101", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --mem=8G", "#SBATCH -t 00:30:00", f"cd {REPO}",
                 f"export PATH={BIN}:$PATH", f"#SBATCH -o {tmp_path}/autograde-%J.out"):
        assert line in script.splitlines(), script
    worker = script.splitlines()[-1]
    assert worker.startswith(f"{sys.executable} -m distributed.cli.dask_worker {address} ")
    assert "--nthreads 1" in worker and "--nworkers 4" in worker, worker


# -- a scheduler and two workers started with the dask command ----------------------------------
@pytest.fixture(scope="module")
def dask_cluster():
    with cluster.command_line_cluster(workers=2, allowed_failures=ALLOWED_FAILURES) as started:
        yield started


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = scratch_course(tmp_path_factory.mktemp("course"), [LAB])
    course.release([LAB])
    notebooks = {"solution": CASES["solution"], "untouched_release": CASES["untouched_release"],
                 "wrong_engine": Case((WRONG_PICK_ENGINE,))}
    for name, case in notebooks.items():
        submit(course, LAB, name, build(course, name, case))
    return course


class Killer(threading.Thread):
    """SIGKILLs each worker process found executing ``student``'s task for ``after`` seconds,
    at most ``times`` times, until stopped."""

    def __init__(self, address, student, after, times):
        super().__init__(daemon=True)
        self.address, self.student, self.after, self.times = address, student, after, times
        self.killed = []
        self.done = threading.Event()

    def run(self):
        from distributed import Client

        seen = {}
        with Client(self.address) as client:
            while not self.done.is_set() and len(self.killed) < self.times:
                executing = client.run(lambda dask_worker: [
                    str(key) for key, task in dask_worker.state.tasks.items()
                    if task.state == "executing"], on_error="ignore")
                for worker, keys in executing.items():
                    if not isinstance(keys, list) or f"grade-{LAB}-{self.student}" not in keys:
                        continue
                    if time.monotonic() - seen.setdefault(worker, time.monotonic()) < self.after:
                        continue
                    pid = client.run(os.getpid, workers=[worker], on_error="ignore").get(worker)
                    if isinstance(pid, int) and pid not in self.killed:
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)
                time.sleep(0.2)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join()


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_a_worker_killed_mid_task_loses_no_grade(dask_cluster, course, tmp_path):
    with Killer(dask_cluster.address, "solution", after=3, times=1) as killer:
        outcomes = autograde.autograde([LAB], list(SCORES), course=course,
                                       scheduler=dask_cluster.address, timeout=CELL_TIMEOUT)
    assert len(killer.killed) == 1, "the worker grading it was killed"
    assert {o.student: (o.status, o.score) for o in outcomes} == {
        student: ("graded", score) for student, score in SCORES.items()}
    assert {o.student: o.retries for o in outcomes} == {"solution": 1, "untouched_release": 0,
                                                       "wrong_engine": 0}
    # plain nbgrader, one process grading one submission after another, gives the same gradebook
    serial = Course(shutil.copytree(course, tmp_path / "serial", ignore=shutil.ignore_patterns(
        "gradebook.db", "backups", "autograded", "reports")))
    gradebook.ensure_lab(serial, LAB)
    serial.run_nbgrader("autograde", LAB, "--force", f"--Execute.timeout={CELL_TIMEOUT}")
    assert (gradebook.snapshot(course.gradebook_path)["submissions"]
            == gradebook.snapshot(serial.gradebook_path)["submissions"])


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_a_submission_that_keeps_killing_workers_fails_alone(dask_cluster, course):
    for student in ("kills_workers", "bystander"):
        submit(course, LAB, student, course.solution_notebook(LAB))
    with Killer(dask_cluster.address, "kills_workers", after=1, times=ALLOWED_FAILURES + 1):
        outcomes = autograde.autograde([LAB], ["bystander", "kills_workers"], course=course,
                                       scheduler=dask_cluster.address, timeout=CELL_TIMEOUT)
    bystander, killer = outcomes
    assert (bystander.status, bystander.score) == ("graded", 8)
    assert killer.status.startswith("failed: the workers grading it died 2 times"), killer.status
    assert "allowed-failures" in killer.status
    report = json.loads(autograde.report_path(course, LAB, "kills_workers").read_text())
    assert report["stopped"] == killer.status
    assert (LAB, "kills_workers") not in autograde.graded_submissions(course)


INTERRUPTED = """
import sys
from autograder.autograde import autograde
from autograder.course import Course
autograde(["{lab}"], {students!r}, course=Course({root!r}), scheduler={address!r})
"""


def nbgrader_processes(students):
    """Pids of running nbgrader processes grading one of ``students``."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            command = open(f"/proc/{entry.name}/cmdline", "rb").read().split(b"\0")
        except (OSError, ValueError):
            continue
        if any(arg.decode(errors="replace") in {f"--student={s}" for s in students}
               for arg in command):
            found.append(int(entry.name))
    return found


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_an_interrupted_run_resumes_with_what_is_missing(dask_cluster, course):
    students = [f"resume_{i}" for i in range(4)]
    for student in students:
        submit(course, LAB, student, course.solution_notebook(LAB))
    script = INTERRUPTED.format(lab=LAB, students=students, root=course.root,
                                address=dask_cluster.address)
    client = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    deadline = time.monotonic() + 600                 # minutes only on an overloaded machine
    while not {(LAB, s) for s in students} & autograde.graded_submissions(course):
        assert client.poll() is None and time.monotonic() < deadline, "nothing graded"
        time.sleep(0.5)
    client.send_signal(signal.SIGINT)                 # Ctrl-C once the first grade is merged
    assert client.wait(timeout=60) != 0
    graded_before = {s for lab, s in autograde.graded_submissions(course) if s in students}
    assert 1 <= len(graded_before) < len(students)
    deadline = time.monotonic() + 10                  # its cancelled tasks stop their nbgrader
    while nbgrader_processes(students) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not nbgrader_processes(students)
    before = gradebook.snapshot(course.gradebook_path)["submissions"]

    outcomes = autograde.autograde([LAB], students, course=course,
                                   scheduler=dask_cluster.address, timeout=CELL_TIMEOUT)
    assert sorted(o.student for o in outcomes) == sorted(set(students) - graded_before)
    assert all(o.status == "graded" and o.score == 8 for o in outcomes), outcomes
    after = gradebook.snapshot(course.gradebook_path)["submissions"]
    assert {s for lab, s in after if s in students} == set(students)
    assert all(after[key] == value for key, value in before.items()), "earlier grades kept"
