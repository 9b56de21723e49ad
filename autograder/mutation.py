"""Run a solution notebook, then check that its test cells reject each mutant.

One kernel per notebook: the solution cells run once, in order, up to the last cell a mutant
needs; then each mutant is swapped in, its test cell run (it must raise), and the right answer
swapped back. This costs one notebook execution per lab instead of one per mutant.

Mutants of the same answer that re-run the same cells are tried one after another, and the cells
they re-run are restored once after the last of them: the next mutant of the group re-runs those
cells itself, from its own answer, so restoring them in between would only be overwritten. (Lab
05 re-runs a fine-tuning cell for four mutants of one answer: four restores become one.)
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from . import cells
from .mutants import Mutant

__all__ = ["MutantResult", "run_mutants"]


@dataclass
class MutantResult:
    mutant: Mutant
    caught: bool      # its test cell raised
    message: str      # the last line of the error, or "the test cell passed"


def _last_needed_cell(index, mutants):
    ids = {m.answer for m in mutants} | {m.caught_by for m in mutants}
    ids |= {r for m in mutants for r in m.rerun}
    missing = sorted(ids - set(index))
    if missing:
        raise KeyError(f"mutants name cells that are not in the notebook: {missing}")
    return max(index[i] for i in ids)


def run_mutants(notebook_path: str | Path, mutants: Sequence[Mutant],
                timeout: int = 300) -> list[MutantResult]:
    """Execute the solution and try every mutant; returns a list of :class:`MutantResult`."""
    path = Path(notebook_path)
    nb = nbformat.read(path, as_version=4)
    index = cells.grade_index(nb.cells)
    last = _last_needed_cell(index, mutants)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    results = {}
    # NotebookClient.execute_cell stores the cell it ran back into nb.cells: keep the right
    # sources apart, or restoring "the answer" would run the mutant again
    sources = [cell.source for cell in nb.cells]
    with client.setup_kernel():
        for i in range(last + 1):
            if nb.cells[i].cell_type == "code":
                client.execute_cell(nb.cells[i], i)

        def run(cell_id, source=None):
            i = index[cell_id]
            cell = copy.deepcopy(nb.cells[i])
            cell.source = sources[i] if source is None else source
            client.execute_cell(cell, i)

        for group in _groups(mutants):
            for i in group:
                mutant = mutants[i]
                try:
                    run(mutant.answer, mutant.source)
                    for cell_id in mutant.rerun:
                        run(cell_id)
                    run(mutant.caught_by)
                    results[i] = MutantResult(mutant, False, "the test cell passed")
                except CellExecutionError as error:
                    results[i] = MutantResult(mutant, True, str(error).strip().splitlines()[-1])
                finally:
                    run(mutant.answer)
            for cell_id in mutants[group[0]].rerun:
                run(cell_id)
    return [results[i] for i in range(len(mutants))]


def _groups(mutants):
    """Indices of the mutants grouped by (answer, cells re-run), in order of first appearance."""
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, mutant in enumerate(mutants):
        groups.setdefault((mutant.answer, tuple(mutant.rerun)), []).append(i)
    return list(groups.values())
