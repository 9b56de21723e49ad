"""Grade each lab's solution and release as every CPU class would (``make cpu-classes``).

A grade must not depend on the grader's CPU. On the ``x86`` quantized engine oneDNN's int8
kernels give other integers on AVX2, AVX-512 VNNI and AMX CPUs, and float kernels round
differently on AVX2 and AVX-512 (:mod:`utils.cpu`). This command grades, for each class up to
the machine's own, every lab's worked solution (full marks expected) and untouched release
(zero expected) through nbgrader in the sandbox, with the class emulated by
:func:`utils.cpu.emulation_env` (the sandbox passes those variables to the kernel), and prints
one table::

    lab              AVX2          AVX-512       AVX-512 VNNI  AMX
    00_orientation   8/8, 0        8/8, 0        8/8, 0        8/8, 0

Each cell is ``solution score/full marks, release score``. The exit status is 1 when any
solution misses a point or any release earns one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from utils import cpu

__all__ = ["LabScores", "classes_to_check", "grade_under", "format_table", "all_as_expected",
           "check_every_class"]

# Run in a fresh Python: the libraries read the class's variables when they load.
_GRADE = """
import json, sys, tempfile
from autograder.scratch import grade_solution_and_release
result = {}
for lab in sys.argv[1:]:
    with tempfile.TemporaryDirectory() as tmp:
        scores = grade_solution_and_release(lab, tmp)
    result[lab] = {student: sum(s for s, _ in cells.values()) for student, cells in scores.items()}
    result[lab]["full"] = sum(m for _, m in scores["solution"].values())
print(json.dumps(result))
"""


@dataclass(frozen=True)
class LabScores:
    """One lab graded under one class: the solution's score, its full marks, the release's."""

    solution: float
    full: float
    release: float

    @property
    def as_expected(self) -> bool:
        return self.solution == self.full and self.release == 0

    def __str__(self) -> str:
        mark = "" if self.as_expected else " !"
        return f"{self.solution:g}/{self.full:g}, {self.release:g}{mark}"


def classes_to_check(hardware: str | None) -> list[str]:
    """The classes of :data:`utils.cpu.CLASSES` up to ``hardware`` (a CPU cannot emulate a class
    above its own); ``[]`` when the CPU is not x86-64 with AVX2."""
    if hardware is None:
        return []
    names = list(cpu.CLASSES)
    return names[:names.index(hardware) + 1]


def grade_under(name: str, labs: Sequence[str]) -> dict[str, LabScores]:
    """Grade ``labs`` (solution and release) in a new process with class ``name`` emulated."""
    env = {**os.environ, **cpu.emulation_env(name)}
    run = subprocess.run([sys.executable, "-c", _GRADE, *labs], env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise RuntimeError(f"grading under {name} failed:\n{run.stderr[-3000:]}")
    found = json.loads(run.stdout.strip().splitlines()[-1])
    return {lab: LabScores(s["solution"], s["full"], s["release"]) for lab, s in found.items()}


def format_table(results: dict[str, dict[str, LabScores]]) -> str:
    """{class: {lab: LabScores}} as one table, a row per lab and a column per class."""
    classes = list(results)
    labs = sorted({lab for by_lab in results.values() for lab in by_lab})
    lines = [f"{'lab':16s} " + " ".join(f"{name:13s}" for name in classes)]
    for lab in labs:
        lines.append(f"{lab:16s} " + " ".join(
            f"{str(results[name].get(lab, '-')):13s}" for name in classes))
    return "\n".join(lines)


def all_as_expected(results: dict[str, dict[str, LabScores]]) -> bool:
    return all(s.as_expected for by_lab in results.values() for s in by_lab.values())


def check_every_class(labs: Sequence[str], print_line: Callable[[str], None] = print,
                      grade: Callable[[str, Sequence[str]], dict[str, LabScores]] = grade_under
                      ) -> dict[str, dict[str, LabScores]]:
    """Grade ``labs`` under each class up to this machine's; print progress and the table."""
    machine = cpu.cpu_class()
    print_line(f"this machine: {machine}")
    results = {}
    for name in classes_to_check(machine.hardware):
        print_line(f"grading {', '.join(labs)} with the {name} class emulated "
                   f"({cpu.emulation_env(name)})")
        results[name] = grade(name, labs)
    print_line(format_table(results))
    return results
