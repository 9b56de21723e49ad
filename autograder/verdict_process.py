"""The trusted side of grading: runs the lab's own tests where no student code ever runs.

``python -m autograder.verdict_process <source notebook>`` is started by the grader
(:class:`autograder.verdict.VerdictProcess`) beside the student's kernel. It executes the
*instructor's* notebook, hidden tests included, cell by cell:

* every cell that is not an answer cell (setup, helpers, data, test cells) runs here from the
  source notebook, whatever the submission did to its own copy;
* an answer cell does not run: each function or class it defines becomes a
  :class:`RemoteAnswer`, which sends the call to the student's kernel and reads the reply as
  plain data (:mod:`autograder.plain`); each other name it assigns is fetched from the kernel
  as plain data;
* a test cell's verdict is whether it raised *here*. Its assertions, tolerances, expected values
  and hidden random cases are computed in this process; the student's kernel only ever sees the
  arguments of the calls it answers.

The grader talks to this process over its stdin and stdout, in length-prefixed pickles
(:func:`send`, :func:`receive`): both ends are the grader's own code. What the student's kernel
sent passes through as bytes and is read only here, by :func:`autograder.plain.decode`.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import linecache
import os
import pickle
import struct
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Verdict", "RemoteAnswer", "TrustedRun", "send", "receive", "without_magics", "main"]

_HEADER = struct.Struct("!Q")


def send(stream: IO[bytes], message: Any) -> None:
    """Write one message (a pickle, prefixed by its length)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """Read one message written by :func:`send` (``EOFError`` when the other end closed)."""
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes (an unbuffered pipe returns what has arrived: read until all have)."""
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            raise EOFError("the other end of the verdict channel closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Verdict:
    """One test cell's result: passed, or the exception (class name and message) that failed it;
    ``stdout`` is what the test printed, shown to the student as the cell's output."""
    passed: bool
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    traceback: tuple[str, ...] = ()


class RemoteCallFailed(Exception):
    """The student's kernel gave no answer (it died, timed out, or its answering code broke)."""


class Channel:
    """This process's end of the line to the grader: requests out, replies in."""

    def __init__(self, incoming: IO[bytes], outgoing: IO[bytes]):
        self.incoming, self.outgoing = incoming, outgoing
        self.pending: list[Any] = []      # the grader's commands that came while a call waited

    def request(self, *message: Any) -> bytes:
        """Ask the grader to run ``message`` in the student's kernel; the reply's bytes.

        A call made while running ahead waits for the grader's next test; the grader's
        ``("until", ...)`` may come first, and is kept for after the reply."""
        send(self.outgoing, message)
        while True:
            answer = receive(self.incoming)
            if answer[0] == "reply":
                break
            self.pending.append(answer)
        _, ok, data = answer
        if not ok:
            raise RemoteCallFailed(data)
        return data

    def next_command(self) -> Any:
        """The grader's next command: one kept back during a call first."""
        return self.pending.pop(0) if self.pending else receive(self.incoming)


class RemoteAnswer:
    """A name the student's answer cell defines, living in their kernel.

    Calling it sends the arguments to the kernel (pickled: they are the grader's own objects)
    and returns the reply decoded as plain data; an exception the student's function raised is
    raised again here (:func:`autograder.plain.raise_decoded`). Passed as an argument to another
    remote call, it stands for the kernel's own object of that name.
    """

    def __init__(self, name: str, channel: Channel, source: str = "",
                 dataclasses_allowed: tuple[type, ...] = ()):
        self.__name__ = self.__qualname__ = name
        self.source_text = source          # what utils.grading.submission_seed hashes
        self._channel = channel
        self._dataclasses = dataclasses_allowed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        from . import plain

        buffer = io.BytesIO()
        torch.save((args, kwargs), buffer)
        reply = self._channel.request("call", self.__name__, buffer.getvalue())
        return plain.decode(reply, self._dataclasses)

    def __reduce__(self):
        from . import answers

        return answers.answer, (self.__name__,)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}>"


def defined_names(source: str) -> tuple[list[str], list[str]]:
    """(functions and classes, other names) that a cell's top level defines."""
    tree = ast.parse(without_magics(source))
    functions, assigned = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            functions.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:    # the names bound: not those read in `x[i] = ...`
                assigned += [n.id for n in ast.walk(target)
                             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return functions, [n for n in dict.fromkeys(assigned) if n not in functions]


def without_magics(source: str) -> str:
    """The cell without IPython's ``%magic`` and ``!shell`` lines (this is not IPython)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


class TrustedRun:
    """The source notebook, run here up to each test the kernel reaches (see the module doc)."""

    def __init__(self, notebook: Any, channel: Channel, student_sources: dict[str, str]):
        from utils import benchmark

        self.cells = [c for c in notebook.cells if c.cell_type == "code"]
        self.position = 0
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.verdicts: dict[str, Verdict] = {}
        self.channel = channel
        self.student_sources = student_sources
        self.dataclasses_allowed: tuple[type, ...] = (benchmark.Speedup,)

    def until(self, grade_id: str) -> Verdict:
        """Run the source cells up to the test ``grade_id``; its verdict."""
        while grade_id not in self.verdicts and self.position < len(self.cells):
            self._step()
        return self.verdicts.get(grade_id, Verdict(False, "TestNotFound",
                                                   f"the lab has no test {grade_id!r}"))

    def prepare(self) -> None:
        """Run the source cells up to (not including) the next test cell: done while the
        kernel runs the student's cells, so only the test itself waits for it."""
        from . import cells

        while (self.position < len(self.cells)
               and not cells.is_autograded_test(self.cells[self.position])):
            self._step()

    def _step(self) -> None:
        from . import cells

        cell = self.cells[self.position]
        self.position += 1
        if cells.is_answer(cell):
            self._bind_answers(cell)
            return
        if cells.skip_reason(cell):         # a demonstration the kernel skips too
            return
        outcome = self._execute(cell.source)
        if cells.is_autograded_test(cell):
            self.verdicts[str(cells.grade_id(cell))] = outcome

    def _bind_answers(self, cell: Any) -> None:
        from . import cells, plain

        functions, assigned = defined_names(cell.source)
        source = self.student_sources.get(cells.grade_id(cell) or "", "")
        for name in functions:
            self.namespace[name] = RemoteAnswer(name, self.channel, source,
                                                self.dataclasses_allowed)
        for name in assigned:
            self.namespace.pop(name, None)
            with contextlib.suppress(Exception):    # unbound there: the tests that use it fail
                self.namespace[name] = plain.decode(self.channel.request("value", name),
                                                    self.dataclasses_allowed)

    def _execute(self, source: str) -> Verdict:
        printed = io.StringIO()
        filename = f"<cell {self.position}>"
        text = without_magics(source)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        try:
            code = compile(text, filename, "exec")
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                exec(code, self.namespace)
        except Exception as error:
            return Verdict(False, type(error).__name__, _message(error), printed.getvalue(),
                           _traceback(error))
        return Verdict(True, stdout=printed.getvalue())


def _traceback(error: BaseException) -> tuple[str, ...]:
    """The traceback as the student would see it from their kernel: the test cell's frames
    and the library's, without this process's own machinery."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "/autograder/" not in frame.filename]
    return ("Traceback (most recent call last):\n", *traceback.format_list(frames),
            *traceback.format_exception_only(type(error), error))


def _message(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return text[:4000]


def main(argv: list[str]) -> int:
    """Serve the grader: ``("until", grade_id)`` -> ``("verdict", Verdict)``; ``("prepare",)``
    (run ahead to the next test, no reply); ``("exit",)``.

    A call into the kernel made while running ahead waits in the pipe until the grader reads
    it, which it does only at the next test, when the kernel has run the cells before it."""
    import nbformat

    outgoing = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)                          # C libraries' prints must not corrupt the channel
    sys.stdout = open(os.devnull, "w")
    warnings.simplefilter("ignore")
    channel = Channel(sys.stdin.buffer, outgoing)
    start = receive(channel.incoming)         # ("start", student sources by grade_id)
    run = TrustedRun(nbformat.read(Path(argv[0]), as_version=4), channel, start[1])
    send(outgoing, ("ready",))
    while True:
        try:
            message = channel.next_command()
        except EOFError:
            return 0
        if message[0] == "exit":
            return 0
        if message[0] == "prepare":
            run.prepare()
            continue
        send(outgoing, ("verdict", run.until(message[1])))


if __name__ == "__main__":           # run by name, so its messages pickle as this module's
    from autograder.verdict_process import main as imported_main

    sys.exit(imported_main(sys.argv[1:]))
