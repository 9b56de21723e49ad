"""``make check LAB=<lab>``: the lab's visible tests on your saved notebook, pass or FAIL each.

It is nbgrader's validation, the same as JupyterLab's Validate button: ``labs/<lab>/<lab>.ipynb``
as saved on disk (save first) runs from the top in a fresh kernel, with this folder's
``nbgrader_config.py``. nbgrader's report comes first (each failing cell with its error), then one
line per visible test cell. Hidden tests run only when your instructor grades, so passing here
is necessary, not sufficient. Written answers (graded by hand) are listed as given or not.
Exit status: 0 when every visible test passes and every written answer is given, 1 otherwise or
when a read-only cell was changed, 2 for a lab name that does not exist.

Usage: python self_check.py <lab>
"""

import sys
from pathlib import Path

from nbgrader import utils as nbgrader_utils
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

KIT = Path(__file__).resolve().parent
LABS = KIT / "labs"


def lab_names():
    """The labs of the kit: folders ``labs/<lab>/`` holding ``<lab>.ipynb``, sorted."""
    return sorted(p.parent.name for p in LABS.glob("*/*.ipynb") if p.stem == p.parent.name)


class RecordingValidator(Validator):
    """nbgrader's Validator that keeps its results and the executed notebook."""

    results = None
    executed = None

    def validate(self, filename):
        self.results = super().validate(filename)
        return self.results

    def _preprocess(self, nb):
        self.executed = super()._preprocess(nb)
        return self.executed


def test_cells(nb):
    """The visible test cells: graded code cells that are not answers."""
    return [cell for cell in nb.cells if cell.cell_type == "code"
            and nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell)]


def failure(cell):
    """Why a test cell failed, in one line ('' if it passed)."""
    score, max_score = nbgrader_utils.determine_grade(cell)
    if score == max_score:
        return ""
    for output in cell.outputs:
        if output.output_type == "error" and output.ename == "NotImplementedError":
            return "NotImplementedError: not answered yet"
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}".strip().rstrip(":")
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            first_line = (output.text.strip().splitlines() or [""])[0]
            return f"wrote to stderr (a graded cell must not): {first_line}"
    return f"{score:g} of {max_score:g} points"


def written_answers(nb):
    """The answers your instructor grades by hand: graded cells you write in."""
    return [cell for cell in nb.cells
            if nbgrader_utils.is_grade(cell) and nbgrader_utils.is_solution(cell)]


def given(cell):
    """A written answer is given once the cell differs from the release (nbgrader's checksum)."""
    score, _ = nbgrader_utils.determine_grade(cell)
    return score is None


def summary(lab, nb):
    """One line per visible test cell and per written answer, then the counts; returns (text,
    number of failing tests plus written answers not given)."""
    lines, failed, missing = [], 0, 0
    for cell in test_cells(nb):
        why = failure(cell)
        failed += bool(why)
        name = cell.metadata.nbgrader.get("grade_id", "?")
        lines.append(f"  {'FAIL' if why else 'pass'}  {name:32s} {why[:100]}".rstrip())
    for cell in written_answers(nb):
        done = given(cell)
        missing += not done
        name = cell.metadata.nbgrader.get("grade_id", "?")
        lines.append(f"  {'done' if done else 'TODO'}  {name:32s} written answer "
                     f"{'given' if done else 'not given yet'} (your instructor grades it)")
    total, written = len(test_cells(nb)), len(written_answers(nb))
    counts = f"{lab}: {total - failed} of {total} visible tests pass"
    if written:
        counts += f"; {written - missing} of {written} written answers given"
    if not failed and not missing:
        counts += " (hidden tests run when your instructor grades)"
    lines.append(counts)
    return "\n".join(lines), failed + missing


def main(argv):
    labs = lab_names()
    if len(argv) != 1 or argv[0] not in labs:
        print(f"LAB must be one of {', '.join(labs)}; got {' '.join(argv) or 'nothing'}\n"
              f"usage: make check LAB=<lab>", file=sys.stderr)
        return 2
    lab = argv[0]
    notebook = LABS / lab / f"{lab}.ipynb"
    print(f"checking {notebook.relative_to(KIT)} (your saved notebook, run from the top) ...",
          flush=True)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(KIT)).load_config()
    validator = RecordingValidator(config=config)
    validator.validate_and_print(str(notebook))
    print()
    if validator.executed is None:   # nbgrader stops before running: a cell's type was changed
        print(f"{lab}: not run, a cell's type was changed (see above); undo that change")
        return 1
    text, failed = summary(lab, validator.executed)
    print(text)
    changed = bool(validator.results.get("changed"))
    if changed:
        print(f"{lab}: a read-only test cell was changed (see above); grading runs the original")
    return int(failed > 0 or changed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
