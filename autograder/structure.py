"""A submission, graded as the source notebook with the student's answers put in.

nbgrader restores the cells it can match by ``grade_id`` and trusts the rest of the submitted
notebook's structure; a submission that edits the JSON can therefore keep a locked cell of its own
(its metadata deleted), feed a test from a cell that has no metadata, or end in "nbgrader failed"
with no grade at all (a duplicated test cell, a new graded cell, an answer cell marked graded).

:class:`RestoreStructure` (first of nbgrader's sanitizing steps, ``nbgrader_config.py``) rebuilds
the notebook on the lab's **release**, the notebook the student was given: every cell that is not
an answer cell comes from it, metadata and checksums included, and is re-added when missing (then
nbgrader's ``OverwriteCells`` puts the hidden tests back, as always); each answer cell is the
student's source text under the release's metadata, found by ``grade_id`` (one missing is the
release's blank stub). A code cell the student added,
or a source cell they changed, is kept as their own code, after the source cell it followed, so
it runs where they put it but can never replace the source's. Every repair is listed in the
notebook's metadata (``autograder.structure``) for the grading report.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from . import cells

__all__ = ["lab_notebook_path", "rebuilt", "RestoreStructure"]


def lab_notebook_path(config, ids: dict, step: str) -> Path | None:
    """The lab's notebook in the course folder ``step`` (``"source"``: solutions and hidden
    tests; ``"release"``: what students got) for nbgrader's ``resources["nbgrader"]`` ids."""
    if not ids.get("assignment") or not ids.get("notebook"):
        return None
    coursedir = CourseDirectory(config=config)
    folder = {"source": coursedir.source_directory, "release": coursedir.release_directory}[step]
    return (Path(coursedir.format_path(folder, ".", ids["assignment"]))
            / f"{ids['notebook']}.ipynb")


def _answer(source_cell: NotebookNode, text: str) -> NotebookNode:
    cell = copy.deepcopy(source_cell)
    cell.source = text
    if cells.is_code(cell):
        cell.outputs, cell.execution_count = [], None
    return cell


def _own_code(cell: NotebookNode) -> NotebookNode:
    """A cell the student wrote, as plain code with no nbgrader metadata."""
    return nbformat.v4.new_code_cell(cell.source)


def rebuilt(source: NotebookNode, submitted: NotebookNode) -> tuple[list, list[str]]:
    """(cells of the notebook to grade, the repairs made), from the release (``source``) and
    the submission."""
    answer_ids = {cells.grade_id(c) for c in source.cells if cells.is_answer(c)}
    source_texts = {_normalized(c.source) for c in source.cells if not cells.grade_id(c)}
    positions = {cells.grade_id(c): i for i, c in enumerate(source.cells) if cells.grade_id(c)}
    answers: dict[str | None, NotebookNode] = {}
    extras: dict[int, list[NotebookNode]] = {}   # source position -> own cells after it
    problems: list[str] = []
    seen: set[str | None] = set()
    anchor = -1
    for cell in submitted.cells:
        gid = cells.grade_id(cell)
        if gid in positions:
            original = source.cells[positions[gid]]
            if _settings(cell) != _settings(original):
                problems.append(f"the nbgrader metadata of cell {gid!r} was edited: the lab's "
                                "is used")
            if gid in answer_ids:
                if gid not in answers and cell.cell_type == original.cell_type:
                    answers[gid] = cell
                else:
                    problems.append(f"answer cell {gid!r} appears more than once or changed "
                                    "kind: the first one counts, the others run as own code")
                    if cells.is_code(cell):
                        extras.setdefault(anchor, []).append(_own_code(cell))
                anchor = positions[gid]
            else:
                if gid in seen:
                    problems.append(f"cell {gid!r} appears more than once: the lab's one is "
                                    "used")
                seen.add(gid)
                anchor = max(anchor, positions[gid])
            continue
        if cells.nbgrader_metadata(cell):
            problems.append(f"a cell with nbgrader metadata the lab does not have "
                            f"({gid or 'no grade_id'}): kept as the student's own code")
        if _normalized(cell.source) in source_texts:
            anchor = max(anchor, _position_of_text(source, cell.source, anchor))
        elif cells.is_code(cell) and cell.source.strip():
            extras.setdefault(anchor, []).append(_own_code(cell))
    result: list[NotebookNode] = extras.get(-1, [])[:]
    for position, cell in enumerate(source.cells):
        gid = cells.grade_id(cell)
        if gid in answer_ids:
            if gid in answers:
                result.append(_answer(cell, answers[gid].source))
            else:
                problems.append(f"answer cell {gid!r} is missing: graded as left blank")
                result.append(_answer(cell, cell.source))
        else:
            result.append(_answer(cell, cell.source) if cells.is_code(cell)
                          else copy.deepcopy(cell))
            if gid and not any(cells.grade_id(c) == gid for c in submitted.cells):
                problems.append(f"cell {gid!r} was missing: put back from the lab")
        result += extras.get(position, [])
    return result, problems


def _settings(cell: NotebookNode) -> dict:
    """A cell's nbgrader metadata without the bookkeeping nbgrader adds on release."""
    return {k: v for k, v in cells.nbgrader_metadata(cell).items()
            if k not in ("checksum", "cell_type")}


def _normalized(text: str) -> str:
    """Cell text without trailing blanks (editors add and remove them)."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _position_of_text(source: NotebookNode, text: str, after: int) -> int:
    """The first position after ``after`` of a metadata-free source cell with ``text``."""
    for position, cell in enumerate(source.cells):
        if position > after and not cells.grade_id(cell) and (
                _normalized(cell.source) == _normalized(text)):
            return position
    return after


class RestoreStructure(NbGraderPreprocessor):
    """Rebuild the submission on the lab's source notebook (see the module docstring)."""

    def preprocess(self, nb, resources):
        path = lab_notebook_path(self.config, (resources or {}).get("nbgrader", {}), "release")
        if path is None or not path.exists():
            return nb, resources
        source = nbformat.read(path, as_version=4)
        nb.cells, problems = rebuilt(source, nb)
        nb.metadata.setdefault("autograder", {})["structure"] = problems
        if problems:
            self.log.warning("the submission's structure was repaired: %s", "; ".join(problems))
        return nb, resources
