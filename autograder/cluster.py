"""Where autograding runs: a Dask cluster, embedded on this machine or an existing one.

``autograde --jobs N`` starts an embedded ``distributed.LocalCluster`` of N worker processes of
one thread each (one submission at a time per worker); ``autograde --scheduler tcp://HOST:PORT``
sends the same tasks to a running cluster: ``dask scheduler`` and ``dask worker`` processes
started by hand (:func:`command_line_cluster` does it on 127.0.0.1), or a Slurm allocation
(:mod:`autograder.slurm`). The task and the merging are the same either way
(:func:`autograder.autograde.autograde`).

Workers need a shared filesystem: the kit, its Python environment and the course at the same
absolute paths as the client, and bubblewrap installed. :func:`check_worker` checks this on each
worker before its first task and says what is missing.

Nothing is lost: a worker that dies mid-task (killed, out of memory, its node gone) has its task
re-run on another worker by the scheduler; after ``distributed.scheduler.allowed-failures`` such
deaths (:data:`ALLOWED_FAILURES` on an embedded cluster) the task is given up as
``KilledWorker``, and that submission alone is reported failed. Each nbgrader process dies with
the worker thread that started it (``PR_SET_PDEATHSIG``), and stops when its task is cancelled
(the client was interrupted), so no orphan goes on writing the submission's folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .course import BIN, REPO, Course

__all__ = ["ALLOWED_FAILURES", "scheduler_config", "as_environment", "WorkerSetupError",
           "has_dashboard", "open_client", "dashboard_note", "worker_expectations",
           "check_worker", "check_workers",
           "deaths", "still_wanted", "die_with_parent", "local_scratch", "CommandLineCluster",
           "command_line_cluster"]

ALLOWED_FAILURES = 3      # worker deaths a task may cause before it is given up (Dask's default)


def scheduler_config(allowed_failures: int = ALLOWED_FAILURES) -> dict:
    """The scheduler settings grading sets: the worker deaths a task may cause."""
    return {"distributed.scheduler.allowed-failures": allowed_failures}


def as_environment(config: dict) -> dict:
    """Dask settings as the ``DASK_...`` environment variables a ``dask scheduler`` reads."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in config.items()}


class WorkerSetupError(RuntimeError):
    """A worker cannot grade: the kit, the course or bubblewrap is not where the client has it."""


def has_dashboard() -> bool:
    """Whether Dask's dashboard can run here (it needs bokeh, not a dependency of the kit)."""
    return importlib.util.find_spec("bokeh") is not None


@contextlib.contextmanager
def open_client(jobs: int = 1, scheduler: str | None = None,
                allowed_failures: int = ALLOWED_FAILURES) -> Iterator:
    """A ``distributed.Client``: of an embedded LocalCluster of ``jobs`` single-thread worker
    processes, or of the running cluster whose scheduler is at ``scheduler``
    (``tcp://HOST:PORT``; ``jobs`` and ``allowed_failures`` are then the cluster's own)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with dask.config.set(scheduler_config(allowed_failures)):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               host="127.0.0.1", memory_limit=0, silence_logs=logging.ERROR,
                               dashboard_address="127.0.0.1:0")
    with cluster, Client(cluster) as client:
        yield client


def dashboard_note(client) -> str:
    """Where the cluster's dashboard is, or that there is none."""
    if has_dashboard() and "dashboard" in client.scheduler_info().get("services", {}):
        return f"dashboard: {client.dashboard_link}"
    return "no dashboard (it needs bokeh, which is not installed)"


# -- the worker's set-up ---------------------------------------------------------------------------
def worker_expectations(course: Course, sandboxed: bool = True) -> dict:
    """What a worker must have, as the client has it: the kit's folder, nbgrader of the kit's
    environment, the course's folder and submissions, and bubblewrap unless unsandboxed."""
    return {"kit": str(REPO), "nbgrader": str(BIN / "nbgrader"), "course": str(course.path),
            "submitted": str(course.submitted_folder), "sandboxed": sandboxed}


_checked: set[str] = set()     # expectations this process has already met


def check_worker(expected: dict) -> None:
    """Raise :class:`WorkerSetupError`, naming the host and what is missing, unless this process
    has the kit, its nbgrader, the course and bubblewrap where ``expected`` says; each set of
    expectations is checked once per process (before the worker's first task)."""
    token = json.dumps(expected, sort_keys=True)
    if token in _checked:
        return
    problems = []
    if str(REPO) != expected["kit"]:
        problems.append(f"the kit is imported from {REPO}, not {expected['kit']}")
    if not os.access(expected["nbgrader"], os.X_OK):
        problems.append(f"no nbgrader at {expected['nbgrader']} (the kit's environment)")
    for what in ("course", "submitted"):
        if not Path(expected[what]).is_dir():
            problems.append(f"no {what} folder {expected[what]}")
    if expected["sandboxed"]:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as error:
            problems.append(f"bubblewrap cannot run: {str(error).splitlines()[0]}")
    if problems:
        raise WorkerSetupError(
            f"worker on {socket.gethostname()} (pid {os.getpid()}) cannot grade: "
            + "; ".join(problems) + ". Workers need the kit, its Python environment and the "
            "course at the same paths as the client (a shared filesystem), and bubblewrap.")
    _checked.add(token)


def check_workers(client, expected: dict) -> int:
    """Run :func:`check_worker` on every worker connected now (those joining later check before
    their first task); returns how many there are. Raises WorkerSetupError."""
    try:
        return len(client.run(check_worker, expected))
    except WorkerSetupError:
        raise
    except Exception as error:     # e.g. a worker that cannot import the kit at all
        raise WorkerSetupError(f"a worker cannot run the kit's check: {error!r}. Start workers "
                               f"from the kit's environment ({BIN}) on a shared filesystem."
                               ) from error


# -- inside a task ---------------------------------------------------------------------------------
def deaths(client, key: str) -> int:
    """How many workers died while running task ``key`` (the scheduler's count)."""
    def count(key, dask_scheduler=None):
        task = dask_scheduler.tasks.get(key)
        return task.suspicious if task is not None else 0
    return client.run_on_scheduler(count, key)


def still_wanted() -> bool:
    """False once the task running in this thread was cancelled (its client went away)."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:        # not on a Dask worker
        return True
    task = worker.state.tasks.get(worker.get_current_task())
    return task is not None and task.state not in ("cancelled", "released", "forgotten")


def die_with_parent() -> None:
    """In a child process before exec: SIGKILL it when the thread that started it ends (Linux
    ``prctl(PR_SET_PDEATHSIG)``), e.g. when its worker is killed."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def local_scratch() -> str:
    """A folder for a task's private files: the worker's own directory, which Dask clears of
    dead workers' leftovers, else the system's temporary folder."""
    from distributed import get_worker

    try:
        return get_worker().local_directory
    except ValueError:
        return tempfile.gettempdir()


# -- a cluster of separate processes on this machine ----------------------------------------------
@dataclass
class CommandLineCluster:
    """``dask scheduler`` and ``dask worker`` processes started by :func:`command_line_cluster`."""
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]


@contextlib.contextmanager
def command_line_cluster(workers: int = 2, allowed_failures: int = ALLOWED_FAILURES,
                         timeout: float = 60) -> Iterator[CommandLineCluster]:
    """A scheduler and ``workers`` workers (one process, one thread each) started with the
    ``dask`` command on 127.0.0.1, as an instructor would on a cluster's nodes, the scheduler
    with :func:`scheduler_config`; stopped at exit."""
    env = {**os.environ, **as_environment(scheduler_config(allowed_failures))}
    with tempfile.TemporaryDirectory(prefix="dask-cluster-") as folder:
        file = Path(folder) / "scheduler.json"
        def start(*args: str) -> subprocess.Popen:
            return subprocess.Popen([str(BIN / "dask"), *args], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        scheduler = start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(file))
        started: list[subprocess.Popen] = []
        try:
            address = _wait_for_address(file, scheduler, timeout)
            started += [start("worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                              "--no-dashboard", "--local-directory", folder)
                        for _ in range(workers)]
            _wait_for_workers(address, workers, timeout)
            yield CommandLineCluster(address, scheduler, started)
        finally:
            for process in [*started, scheduler]:
                process.terminate()
            for process in [*started, scheduler]:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_address(file: Path, scheduler: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with code {scheduler.returncode}")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            return json.loads(file.read_text())["address"]
        time.sleep(0.2)
    raise RuntimeError(f"dask scheduler wrote no address in {timeout:g} s")


def _wait_for_workers(address: str, count: int, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout=f"{timeout}s") as client:
        client.wait_for_workers(count, timeout=timeout)
