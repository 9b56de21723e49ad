"""Wrong versions (mutants) of every graded answer, which the labs' test cells must reject.

Each lab has a module ``lab_<NN_name>.py`` here (e.g. ``lab_01_pruning.py`` for
``solutions/01_pruning``) defining ``MUTANTS``, a list of :class:`Mutant`. ``tests/test_mutants.py``
runs each lab's solution notebook once in one kernel, then for each mutant executes the wrong
source in place of the answer cell, re-runs the cells named in ``rerun``, and checks that the
test cell ``caught_by`` raises; then it restores the right answer.
"""

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

import nbformat

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Mutant:
    answer: str       # grade_id of the answer cell the mutant replaces
    source: str       # the wrong cell source (a complete replacement of the cell)
    caught_by: str    # grade_id of the test cell that must fail for it
    why: str          # the mistake it models, in a few words
    rerun: tuple = ()  # grade_ids of cells between answer and test that rebuild state from it


def lab_mutants(lab):
    """The ``MUTANTS`` list of lab ``lab`` (e.g. ``"01_pruning"``); [] when it has none."""
    try:
        module = importlib.import_module(f"{__name__}.lab_{lab}")
    except ModuleNotFoundError:
        return []
    return list(module.MUTANTS)


@functools.lru_cache(maxsize=None)
def solution_answers(lab):
    """grade_id -> source of each answer cell of ``lab``'s solution, without the marker lines."""
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]:
            "\n".join(line for line in cell.source.splitlines()
                      if line.strip() not in SOLUTION_MARKERS)
            for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}


def edited(lab, answer, old, new, caught_by, why, rerun=()):
    """A mutant made by one edit of the solution: ``old`` replaced by ``new`` in answer ``answer``.

    Raises ValueError when ``old`` is no longer in the solution, so mutants cannot silently
    drift away from the answers they mutate.
    """
    return edited_many(lab, answer, [(old, new)], caught_by, why, rerun)


def edited_many(lab, answer, edits, caught_by, why, rerun=()):
    """A mutant made by several edits ``[(old, new), ...]`` of answer ``answer``, applied in order
    (each ``old`` must be in the source as edited so far, else ValueError)."""
    source = solution_answers(lab)[answer]
    for old, new in edits:
        if old not in source:
            raise ValueError(f"mutant {why!r}: {old!r} is not in the solution of {answer!r}")
        source = source.replace(old, new, 1)
    return Mutant(answer=answer, source=source, caught_by=caught_by, why=why, rerun=tuple(rerun))


def write_submission(solution, mutant, path):
    """Write to ``path`` a copy of the notebook ``solution`` with ``mutant``'s source in its
    answer cell: the whole notebook a student making that mistake would submit."""
    from ..mutation import cell_index

    nb = nbformat.read(solution, as_version=4)
    nb.cells[cell_index(nb)[mutant.answer]].source = mutant.source
    nbformat.write(nb, path)
    return path
