"""The grader's end of the verdict process: tests decided outside the student's kernel.

An integrity seal inside the student's interpreter cannot win: anything in that process, the seal
included, is reachable through ``gc`` and ``ctypes``. So a lab that opts in (its source notebook's
metadata says ``{"autograder": {"verdict": "outside"}}``) is graded by a second process, started
here, that never runs student code (:mod:`autograder.verdict_process`). The kernel still runs the
submission as the student sees it; for each test cell the kernel reaches,
:meth:`VerdictProcess.verdict` runs the *instructor's* test there and answers the calls it
makes to the student's functions through ``serve`` (which asks the kernel). The test cell's
outputs are then replaced by what that trusted run printed, and by its error if it failed, so
the score nbgrader reads from them is the verdict's: nothing the kernel printed or displayed
counts.

This module imports no torch (it runs in every nbgrader process).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .verdict_process import Verdict, receive, send

__all__ = ["OPT_IN", "opts_in", "VerdictProcess", "VerdictUnavailable"]

#: Notebook metadata of a lab graded by the verdict process.
OPT_IN = {"autograder": {"verdict": "outside"}}


def opts_in(notebook_path: Path) -> bool:
    """Whether the source notebook at ``notebook_path`` asks for verdicts outside the kernel."""
    try:
        metadata = json.loads(Path(notebook_path).read_text()).get("metadata", {})
    except (OSError, ValueError):
        return False
    return metadata.get("autograder", {}).get("verdict") == "outside"


class VerdictUnavailable(Exception):
    """The verdict process stopped or did not answer in time: the grader's failure, reported."""


class VerdictProcess:
    """``python -m autograder.verdict_process`` on one source notebook, for one submission.

    source         the lab's source notebook (solutions and hidden tests)
    answers        the submission's answer-cell sources by grade_id (for the hidden tests'
                   per-submission random seeds)
    serve          ``serve(kind, name, payload) -> bytes``: runs ``"call"`` or ``"value"`` in the
                   kernel; raises to say the kernel gave no answer
    environment    the process's environment (the student's id for the seeds)
    """

    def __init__(self, source: Path, answers: dict[str, str],
                 serve: Callable[[str, str, bytes | None], bytes], environment: dict[str, str]):
        self.serve = serve
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.verdict_process", str(source)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment, bufsize=0,
            cwd=Path(__file__).resolve().parent.parent)
        assert self.process.stdin and self.process.stdout       # both are pipes
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        send(self.stdin, ("start", answers))
        send(self.stdin, ("prepare",))           # the setup cells run beside the kernel's
        self.failure: str | None = None

    def verdict(self, grade_id: str, seconds: float) -> Verdict:
        """The verdict of test ``grade_id``, within ``seconds`` (kernel calls included)."""
        if self.failure:
            raise VerdictUnavailable(self.failure)
        deadline = time.monotonic() + seconds
        try:
            send(self.stdin, ("until", grade_id))
            while True:
                message = self._receive(deadline)
                if message[0] == "verdict":
                    send(self.stdin, ("prepare",))   # on to the next test meanwhile
                    return message[1]
                if message[0] == "ready":
                    continue
                self._answer(message)
        except (EOFError, OSError, TimeoutError) as error:
            self.failure = f"the verdict process stopped: {error}"
            self.close()
            raise VerdictUnavailable(self.failure) from None

    def _answer(self, message: tuple[Any, ...]) -> None:
        kind, name, *payload = message
        try:
            data = self.serve(kind, name, payload[0] if payload else None)
        except Exception as error:
            send(self.stdin, ("reply", False, f"the kernel gave no answer: {error}"))
        else:
            send(self.stdin, ("reply", True, data))

    def _receive(self, deadline: float) -> Any:
        stream = self.stdout
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([stream], [], [], left)[0]:
            raise TimeoutError("no verdict in time")
        return receive(stream)

    def close(self) -> None:
        """Stop the process (it holds nothing worth waiting for)."""
        if self.process.poll() is None:
            try:
                send(self.stdin, ("exit",))
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()

