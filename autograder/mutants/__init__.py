"""Wrong versions (mutants) of every graded answer, which the labs' test cells must reject.

This module builds them (:class:`Mutant`, :func:`edited`, :func:`edited_many`,
:func:`equal_to_everything`); each lab's manifest lists its own as ``MUTANTS``
(``autograder/labs/lab_<NN_name>.py``, read with :func:`autograder.labs.manifest`).
``tests/test_mutants.py`` runs each lab's solution notebook once in one kernel, then for each
mutant executes the wrong source in place of the answer cell, re-runs the cells named in
``rerun``, and checks that the test cell ``caught_by`` raises; then it restores the right answer.

Every mutant has a stable id, ``"<answer>/<slug>"``: the grade_id of the answer cell it replaces,
a slash, and a few words for the mistake (``"magnitude_mask/keeps-smallest"``). Ids are unique
within a lab; tests name mutants by id (``tests/test_autograde_labs.py``), never by their prose.
"""

import ast
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import cells

__all__ = ["Mutant", "MUTANT_ID", "SOLUTIONS", "SOLUTION_MARKERS",
           "solution_answers", "edited", "edited_many", "write_submission", "EVERYTHING_KINDS",
           "equal_to_everything", "equal_to_everything_mutants"]

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
#: a mutant id: the answer cell's grade_id, a slash, a slug of letters, digits, "_" and "-"
MUTANT_ID = re.compile(r"(?P<answer>\w+)/[\w-]+")


def _answer_cell(mutant_id: str) -> str:
    """The answer cell a mutant id names (the part before the slash); ValueError if malformed."""
    match = MUTANT_ID.fullmatch(mutant_id) if isinstance(mutant_id, str) else None
    if match is None:
        raise ValueError(f"a mutant id is 'answer_cell/what-goes-wrong', got {mutant_id!r}")
    return match["answer"]


@dataclass(frozen=True, kw_only=True)
class Mutant:
    id: str           # "<answer>/<slug>": the answer cell it replaces, then the mistake, short
    source: str       # the wrong cell source (a complete replacement of the cell)
    caught_by: str    # grade_id of the test cell that must fail for it
    why: str          # the mistake it models, in a few words
    rerun: tuple[str, ...] = ()  # grade_ids of cells between answer and test that rebuild state

    def __post_init__(self) -> None:
        _answer_cell(self.id)
        object.__setattr__(self, "rerun", tuple(self.rerun))

    @property
    def answer(self) -> str:
        """grade_id of the answer cell the mutant replaces (the part of its id before the slash)."""
        return _answer_cell(self.id)


@functools.cache
def solution_answers(lab: str) -> dict[str, str]:
    """grade_id -> source of each answer cell of ``lab``'s solution, without the marker lines."""
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    return {grade_id:
            "\n".join(line for line in cell.source.splitlines()
                      if line.strip() not in SOLUTION_MARKERS)
            for cell in nb.cells if cells.is_code(cell) and cells.is_answer(cell)
            and (grade_id := cells.grade_id(cell)) is not None}   # answers always have one


def edited(lab: str, id: str, *, old: str, new: str, caught_by: str, why: str,
           rerun: Iterable[str] = ()) -> Mutant:
    """The mutant ``id`` made by one edit of the solution: ``old`` replaced by ``new`` in the
    answer cell ``id`` names (the part before the slash).

    Raises ValueError when ``old`` is no longer in the solution, so mutants cannot silently
    drift away from the answers they mutate.
    """
    return edited_many(lab, id, edits=[(old, new)], caught_by=caught_by, why=why, rerun=rerun)


def edited_many(lab: str, id: str, *, edits: Sequence[tuple[str, str]], caught_by: str, why: str,
                rerun: Iterable[str] = ()) -> Mutant:
    """The mutant ``id`` made by several edits ``[(old, new), ...]`` of the answer cell ``id``
    names, applied in order.

    Raises ValueError unless each ``old`` occurs exactly once in the source as edited so far (an
    ambiguous snippet could edit a docstring instead of the code), and unless the edits change
    the code itself: a mutant whose edits only touch docstrings or comments is the right answer.
    """
    answer = _answer_cell(id)
    right = solution_answers(lab)[answer]
    source = right
    for old, new in edits:
        found = source.count(old)
        if found != 1:
            where = "is not" if found == 0 else f"occurs {found} times"
            raise ValueError(f"mutant {id!r}: {old!r} {where} in the solution of {answer!r}; "
                             f"an edit needs a snippet that occurs exactly once")
        source = source.replace(old, new, 1)
    if _code_of(source) == _code_of(right):
        raise ValueError(f"mutant {id!r}: its edits change only docstrings or comments of "
                         f"{answer!r}, not its code")
    return Mutant(id=id, source=source, caught_by=caught_by, why=why, rerun=tuple(rerun))


def _code_of(source: str) -> str:
    """The code of a cell without its comments and docstrings: the dump of its syntax tree with
    every string statement (a docstring) removed. Cells with IPython magics compare as text."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [s for s in body if not _is_string_statement(s)] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree)


def _is_string_statement(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))


def write_submission(solution: str | Path, mutant: Mutant, path: str | Path) -> str | Path:
    """Write to ``path`` a copy of the notebook ``solution`` with ``mutant``'s source in its
    answer cell: the whole notebook a student making that mistake would submit."""
    nb = nbformat.read(solution, as_version=4)
    nb.cells[cells.grade_index(nb.cells)[mutant.answer]].source = mutant.source
    nbformat.write(nb, path)
    return path


# -- answers that are "equal to everything" ------------------------------------------------------
#: kind -> (base class, how to build one). Each is a subclass whose ``==`` says yes to anything
#: (and whose other comparisons and arithmetic give itself or yes), the cheapest way to pass a
#: test that compares with ``==``, ``torch.equal``, ``math.isclose`` or ``abs(a - b) < tol``.
EVERYTHING_KINDS = {
    "object": ("object", "_EqualToEverything()"),
    "int": ("int", "_EqualToEverything_int(0)"),
    "float": ("float", "_EqualToEverything_float(0.0)"),
    "str": ("str", "_EqualToEverything_str('')"),
    "tuple": ("tuple", "_EqualToEverything_tuple(())"),
    "list": ("list", "_EqualToEverything_list()"),
    "dict": ("dict", "_EqualToEverything_dict()"),
    "tensor": ("torch.Tensor", "torch.zeros(()).as_subclass(_EqualToEverything_tensor)"),
}

_AGREEING_METHODS = '''
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self):
        return 0

    def __bool__(self):
        return True

    def _itself(self, *args, **kwargs):
        return self

    __abs__ = __neg__ = __pos__ = __round__ = __call__ = _itself
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _itself
    __truediv__ = __rtruediv__ = __floordiv__ = __pow__ = __getitem__ = _itself
'''

_OBJECT_EXTRAS = '''
    def __getattr__(self, name):         # .shape, .dtype, .item(), .tolist(): all itself
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __iter__(self):                  # unpacks as any pair: lo, hi = answer
        return iter((self, self))

    def __len__(self):
        return 2

    def __float__(self):
        return 0.0

    def __int__(self):
        return 0

    __index__ = __int__

    def __repr__(self):
        return "EqualToEverything()"
'''

_TENSOR_EXTRAS = '''
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose, torch.Tensor.equal, torch.Tensor.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
'''


def _everything_class(kind):
    base, _ = EVERYTHING_KINDS[kind]
    name = "_EqualToEverything" if kind == "object" else f"_EqualToEverything_{kind}"
    if kind == "tensor":     # keep torch's own attribute and iteration protocol
        methods = _AGREEING_METHODS.replace("__call__ = ", "") + _TENSOR_EXTRAS
    else:
        methods = _AGREEING_METHODS + (_OBJECT_EXTRAS if kind == "object" else "")
    return f"import torch\n\n\nclass {name}({base}):{methods}"


def equal_to_everything_mutants(lab: str,
                                table: Iterable[tuple[str, str, str, str]]) -> list[Mutant]:
    """Two mutants per row of ``table`` — ``(answer cell, function, test cell, typed kind)`` —
    the function returning a plain object equal to everything, and one of ``typed`` (the type the
    test expects; one mutant when ``typed`` is ``"object"``)."""
    return [equal_to_everything(lab, answer, function=function, caught_by=caught_by, kind=kind)
            for answer, function, caught_by, typed in table
            for kind in dict.fromkeys(("object", typed))]


def equal_to_everything(lab: str, answer: str, *, function: str, caught_by: str,
                        kind: str = "object", rerun: Iterable[str] = (),
                        id: str | None = None) -> Mutant:
    """A mutant of answer cell ``answer`` whose ``function`` returns, without doing any work, an
    object equal to everything: an instance of ``kind`` (a key of :data:`EVERYTHING_KINDS`; e.g.
    ``"int"``: a subclass of int whose ``__eq__`` always returns True).

    The cell keeps the solution's source (its other functions stay right) and then redefines
    ``function`` (a top-level function of the cell) to return that object. A strict test cell
    (``utils.grading.assert_answer`` checks the exact type first) must reject it.

    Its id is ``"<answer>/equal-to-everything-<kind>"``, with the function's name before
    ``equal`` when it is not the answer cell's (``"macs/conv2d_macs-equal-to-everything-int"``);
    pass ``id`` when one function is graded by several test cells.
    """
    if kind not in EVERYTHING_KINDS:
        raise ValueError(f"kind must be one of {sorted(EVERYTHING_KINDS)}, got {kind!r}")
    source = solution_answers(lab)[answer]
    if f"\ndef {function}(" not in f"\n{source}":
        raise ValueError(f"mutant of {answer!r}: no top-level function {function!r} in its "
                         "solution")
    wrong = (f"{source}\n\n\n{_everything_class(kind)}\n\n"
             f"def {function}(*args, **kwargs):\n    return {EVERYTHING_KINDS[kind][1]}\n")
    if id is None:
        id = f"{answer}/{'' if function == answer else function + '-'}equal-to-everything-{kind}"
    mutant = Mutant(id=id, source=wrong, caught_by=caught_by,
                    why=f"{function} returns {'an' if kind[0] in 'aeiou' else 'a'} {kind} equal to "
                        "everything (no work)", rerun=tuple(rerun))
    if mutant.answer != answer:
        raise ValueError(f"mutant id {id!r} does not name its answer cell {answer!r}")
    return mutant
