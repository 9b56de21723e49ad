"""One manifest per lab: everything the kit knows about grading that lab, in one module.

Lab ``NN_name`` (``solutions/NN_name/NN_name.ipynb``) has its manifest in ``lab_NN_name.py`` here,
which defines:

* ``MUTANTS``: the wrong versions of every graded answer (:class:`autograder.mutants.Mutant`),
  each of which its test cell must reject (``tests/test_mutants.py``);
* ``WRONG_VERSIONS``: the mutants that are also graded as whole submissions, as a student making
  that mistake would hand them in (``tests/test_autograde_labs.py``), each with every test cell
  it loses (:class:`WrongVersion`): a wrong answer can also cost later cells that build on it;
* ``CLAIM_CONSTANTS``: the numbers of the lab's prose that are constants of the method or the task
  rather than results of the run, each with its reason (``tests/test_claims.py``).

What the notebook already says is read from it, never restated: the points of each test cell,
hence the full marks and the score a wrong version earns (:meth:`Manifest.score_without`). The
README's points column is checked against :attr:`Manifest.full_marks` and
:attr:`Manifest.manual_points`. Adding a lab touches its notebook and its manifest, nothing else.
"""

import functools
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import nbformat

from .. import cells
from ..course import Course
from ..mutants import Mutant

__all__ = ["WrongVersion", "Manifest", "manifest", "manifests"]


@dataclass(frozen=True)
class WrongVersion:
    """A mutant graded as a whole submission: ``loses`` names every autograded test cell it fails
    (its own test cell, and the later ones that build on its result)."""
    mutant: str                 # the mutant's id, "<answer cell>/<slug>"
    loses: frozenset[str]       # grade_ids of the test cells that score 0

    def __init__(self, mutant: str, loses: Iterable[str]) -> None:
        if isinstance(loses, str):
            raise TypeError(f"loses must be a collection of grade_ids, got the string {loses!r}")
        object.__setattr__(self, "mutant", mutant)
        object.__setattr__(self, "loses", frozenset(loses))


@dataclass(frozen=True)
class Manifest:
    """A lab's manifest (its module's lists) and the points its solution notebook gives."""
    lab: str
    mutants: tuple[Mutant, ...]
    wrong_versions: tuple[WrongVersion, ...]
    claim_constants: Mapping[str, str]

    @functools.cached_property
    def test_points(self) -> dict[str, float]:
        """grade_id -> points of each autograded test cell, from the solution notebook."""
        return {str(cells.grade_id(cell)): cells.points(cell) for cell in self._cells()
                if cells.is_autograded_test(cell)}

    @property
    def full_marks(self) -> float:
        """The lab's autograded points: the sum over its test cells."""
        return sum(self.test_points.values())

    @functools.cached_property
    def manual_points(self) -> float:
        """The points of the answers graded by hand (written answers)."""
        return sum(cells.points(cell) for cell in self._cells()
                   if cells.is_graded(cell) and not cells.is_autograded_test(cell))

    def score_without(self, lost: Iterable[str]) -> float:
        """The autograded score of a submission that fails the test cells ``lost`` and passes the
        others (nbgrader gives a failed test cell 0 and a passed one its points)."""
        lost = set(lost)
        unknown = lost - set(self.test_points)
        if unknown:
            raise ValueError(f"{self.lab}: not autograded test cells: {sorted(unknown)}; "
                             f"the lab has {sorted(self.test_points)}")
        return self.full_marks - sum(self.test_points[grade_id] for grade_id in lost)

    def mutant(self, mutant_id: str) -> Mutant:
        """The mutant with id ``mutant_id``; KeyError naming the lab's ids if there is none."""
        for mutant in self.mutants:
            if mutant.id == mutant_id:
                return mutant
        raise KeyError(f"{self.lab} has no mutant {mutant_id!r}; it has "
                       f"{sorted(m.id for m in self.mutants)}")

    def _cells(self) -> list:
        return nbformat.read(Course().solution_notebook(self.lab), as_version=4).cells


@functools.cache
def manifest(lab: str) -> Manifest:
    """The manifest of the kit's lab ``lab`` (e.g. ``"01_pruning"``); ValueError naming the labs
    when ``lab`` is not one."""
    labs = Course().lab_names()
    if lab not in labs:
        raise ValueError(f"lab must be one of {labs}, got {lab!r}")
    module = importlib.import_module(f"{__name__}.lab_{lab}")
    return Manifest(lab=lab, mutants=tuple(module.MUTANTS),
                    wrong_versions=tuple(module.WRONG_VERSIONS),
                    claim_constants=dict(module.CLAIM_CONSTANTS))


def manifests() -> list[Manifest]:
    """The manifest of every lab of the kit, in order."""
    return [manifest(lab) for lab in Course().lab_names()]
