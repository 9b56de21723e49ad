"""Wrong versions (mutants) of every graded answer, which the labs' test cells must reject.

Each lab has a module ``lab_<NN_name>.py`` here (e.g. ``lab_01_pruning.py`` for
``solutions/01_pruning``) defining ``MUTANTS``, a list of :class:`Mutant`. ``tests/test_mutants.py``
runs each lab's solution notebook once in one kernel, then for each mutant executes the wrong
source in place of the answer cell, re-runs the cells named in ``rerun``, and checks that the
test cell ``caught_by`` raises; then it restores the right answer.
"""

import importlib
from dataclasses import dataclass


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
