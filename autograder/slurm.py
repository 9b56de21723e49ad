"""Grading a whole course on a Slurm cluster: Dask workers started as Slurm jobs.

The recipe, on the cluster's login node, in the kit's folder (the kit, its ``.venv`` and the
course on a filesystem every node shares, at the same path; bubblewrap on every node)::

    .venv/bin/pip install -e '.[cluster]'          # dask-jobqueue
    .venv/bin/python -m autograder.slurm --nodes 4 --cores 32 --memory 64GB --walltime 02:00:00

submits 4 Slurm jobs, each of ``--cores`` single-thread Dask workers (one submission per core),
grades every submission not graded yet on them (:func:`autograder.autograde.autograde` with
the cluster's scheduler: the same tasks, checks and merging as ``autograde --jobs``), and
cancels the jobs at the end. The scheduler and the gradebook stay on the login node; workers
never write the gradebook. ``--queue`` and ``--account`` are the Slurm partition and account.
Interrupted, or out of walltime, run it again: it grades only what is missing.

:func:`slurm_cluster` is the one place with the settings; its ``job_script()`` is what Slurm
gets (``tests/test_cluster.py`` checks it, no Slurm needed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .cluster import scheduler_config
from .course import BIN, REPO, Course

__all__ = ["slurm_cluster", "main"]


def slurm_cluster(cores: int = 32, memory: str = "64GB", walltime: str = "02:00:00",
                  queue: str | None = None, account: str | None = None,
                  log_directory: str | os.PathLike | None = None):
    """A ``dask_jobqueue.SLURMCluster`` whose every job runs ``cores`` Dask workers of one
    thread, from the kit's Python environment, in the kit's folder, with node-local scratch;
    the jobs' logs go to ``log_directory`` (default: ``grading/slurm-logs``).
    No job is submitted until it is scaled (``cluster.scale(jobs=N)``). Its scheduler runs here,
    with :func:`autograder.cluster.scheduler_config`."""
    import dask
    from dask_jobqueue import SLURMCluster

    with dask.config.set(scheduler_config()):
        return SLURMCluster(
            cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue,
            account=account, job_name="autograde", python=sys.executable,
            job_script_prologue=[f"cd {REPO}", f"export PATH={BIN}:$PATH"],
            local_directory="$TMPDIR",
            log_directory=str(log_directory or Course().grading_folder / "slurm-logs"))


def main(argv: Sequence[str] | None = None) -> int:
    from .autograde import autograde, format_outcomes

    cli = argparse.ArgumentParser(prog="python -m autograder.slurm", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("labs", nargs="*", help="lab names (default: every lab)")
    cli.add_argument("--nodes", type=int, default=1, help="Slurm jobs to start (default: 1)")
    cli.add_argument("--cores", type=int, default=32, help="workers per job (default: 32)")
    cli.add_argument("--memory", default="64GB", help="memory per job (default: 64GB)")
    cli.add_argument("--walltime", default="02:00:00", help="per job (default: 02:00:00)")
    cli.add_argument("--queue", help="Slurm partition")
    cli.add_argument("--account", help="Slurm account")
    cli.add_argument("--force", action="store_true", help="grade again what is graded already")
    args = cli.parse_args(argv)
    with slurm_cluster(args.cores, args.memory, args.walltime, args.queue,
                       args.account) as cluster:
        cluster.scale(jobs=args.nodes)
        print(f"scheduler {cluster.scheduler_address}; Slurm jobs submitted", file=sys.stderr)
        outcomes = autograde(args.labs, scheduler=cluster.scheduler_address, force=args.force,
                             progress=True)
    print(format_outcomes(outcomes))
    return int(any(o.status != "graded" for o in outcomes))


if __name__ == "__main__":
    sys.exit(main())
