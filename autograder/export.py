"""Grades for the instructor: nbgrader's grades CSV, and which exercises the class struggled with.

``export_grades`` writes nbgrader's CSV (one row per student and lab, with the totals).
``exercise_summary`` reads the gradebook cell by cell: for each graded cell (test cell, written
answer or task) its mean score and how many students lost points on it. ``write_summary`` saves
that table as CSV and as a bar plot; ``format_summary`` prints it in the terminal.

A written answer nobody has graded yet has no score (nbgrader's ``Grade.score`` then reads 0):
it counts under ``needs_manual_grading``, never as wrong, and stays out of the mean.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from nbgrader.api import Assignment, Gradebook, Notebook

from . import cells
from .checks import check_not_string
from .course import Course

__all__ = ["ExerciseSummary", "COLUMNS", "existing_gradebook", "open_gradebook", "export_grades",
           "is_ungraded", "summarize", "source_cell_order", "graded_cells", "lab_summary",
           "summarized_labs", "exercise_summary", "outcome", "format_summary",
           "write_summary_csv", "plot_positions", "plot_summary", "write_summary"]


@dataclass(frozen=True)
class ExerciseSummary:
    """How the class did on one graded cell."""
    lab: str
    grade_id: str
    max_points: float
    mean_score: float | None     # over the students whose score is known; None if nobody's is
    students: int                # submissions of the lab
    wrong: int                   # students scoring below max_points
    needs_manual_grading: int    # students whose answer waits for a grader

    @property
    def mean_fraction(self) -> float | None:
        """The mean score as a fraction of the cell's points (None when not known)."""
        if self.mean_score is None or not self.max_points:
            return None
        return self.mean_score / self.max_points


COLUMNS = [field.name for field in dataclasses.fields(ExerciseSummary)]


def existing_gradebook(course: Course) -> Path:
    """The course's sqlite gradebook; FileNotFoundError while there is none."""
    path = course.gradebook_path
    if not path.is_file():
        raise FileNotFoundError(f"nothing graded yet: run autograde first (no gradebook {path})")
    return path


def open_gradebook(course: Course) -> Gradebook:
    """The course's nbgrader Gradebook (use it in a ``with`` block)."""
    existing_gradebook(course)
    return Gradebook(course.gradebook_url)


def export_grades(path: str | os.PathLike, course: Course | None = None) -> Path:
    """Write nbgrader's grades CSV (``nbgrader export``: one row per student and lab) to
    ``path``; returns it. ``course``: the :class:`Course` (default: this repository's)."""
    course = course or Course()
    existing_gradebook(course)   # fail clearly when nothing is graded yet
    path = Path(path).resolve()
    course.run_nbgrader("export", f"--to={path}")
    return path


# --- the per-exercise summary --------------------------------------------------------------

def is_ungraded(grade) -> bool:
    """True while neither the autograder nor a grader has scored this answer."""
    return grade.auto_score is None and grade.manual_score is None


def summarize(lab: str, grade_id: str, max_points: float,
              grades: Collection) -> ExerciseSummary:
    """One :class:`ExerciseSummary` from a cell's grades (one per submission); each grade has
    ``score``, ``auto_score`` and ``manual_score`` like :class:`nbgrader.api.Grade`."""
    scores = [grade.score for grade in grades if not is_ungraded(grade)]
    return ExerciseSummary(
        lab=lab, grade_id=grade_id, max_points=max_points,
        mean_score=sum(scores) / len(scores) if scores else None,
        students=len(grades),
        wrong=sum(score < max_points for score in scores),
        needs_manual_grading=len(grades) - len(scores))


def source_cell_order(course: Course, lab: str, notebook: str) -> dict[str, int]:
    """grade_id -> position of the cell in the source notebook ({} if it is gone)."""
    path = course.source_folder / lab / f"{notebook}.ipynb"
    if not path.is_file():
        return {}
    return cells.grade_index(nbformat.read(path, as_version=4).cells)


def graded_cells(course: Course, notebook: Notebook) -> list:
    """The gradebook's graded cells (grade and task cells) of ``notebook``, in the order of the
    source notebook."""
    order = source_cell_order(course, notebook.assignment.name, notebook.name)
    graded = notebook.grade_cells + notebook.task_cells
    return sorted(graded, key=lambda cell: (order.get(cell.name, len(order)), cell.name))


def lab_summary(course: Course, assignment: Assignment) -> list[ExerciseSummary]:
    """The rows of one lab (an nbgrader Assignment): one per graded cell, in notebook order."""
    return [summarize(assignment.name, cell.name, cell.max_score, cell.grades)
            for notebook in assignment.notebooks
            for cell in graded_cells(course, notebook)]


def summarized_labs(course: Course, labs: Iterable[str] | None, graded: list[str]
                    ) -> list[str]:
    """``labs`` (None: every graded lab) after checking each has autograded submissions."""
    check_not_string(labs, "labs", "lab names")
    if labs is None:
        if not graded:
            raise FileNotFoundError("nothing graded yet: run autograde first")
        return graded
    for lab in labs:
        if lab not in graded:
            problem = ("no autograded submissions yet: run autograde first"
                       if lab in course.lab_names() else "unknown lab")
            raise ValueError(f"labs: {lab!r}: {problem} (graded labs: {graded})")
    return list(labs)


def exercise_summary(course: Course | None = None, labs: Iterable[str] | None = None
                     ) -> list[ExerciseSummary]:
    """One :class:`ExerciseSummary` per graded cell of ``labs`` (default: every lab with
    autograded submissions), lab by lab, in notebook cell order. ``course``: the
    :class:`Course` (default: this repository's)."""
    course = course or Course()
    with open_gradebook(course) as gradebook:
        graded = [a.name for a in gradebook.assignments if a.submissions]
        return [row for lab in summarized_labs(course, labs, graded)
                for row in lab_summary(course, gradebook.find_assignment(lab))]


# --- showing the summary -------------------------------------------------------------------

def outcome(row: ExerciseSummary) -> str:
    """``"k/n wrong"``, plus how many answers still wait for a grader."""
    text = f"{row.wrong}/{row.students} wrong"
    if row.needs_manual_grading:
        text += f", {row.needs_manual_grading} to grade"
    return text


def format_summary(rows: list[ExerciseSummary]) -> str:
    """The summary as a fixed-width text table."""
    lab_width = max([len("lab"), *(len(row.lab) for row in rows)])
    id_width = max([len("exercise"), *(len(row.grade_id) for row in rows)])
    lines = [f"{'lab':{lab_width}}  {'exercise':{id_width}}  {'points':>6}  {'mean':>6}  "
             f"{'wrong':>7}  {'to grade':>8}"]
    for row in rows:
        mean = "-" if row.mean_score is None else f"{row.mean_score:.2f}"
        lines.append(f"{row.lab:{lab_width}}  {row.grade_id:{id_width}}  {row.max_points:>6g}  "
                     f"{mean:>6}  {f'{row.wrong}/{row.students}':>7}  "
                     f"{row.needs_manual_grading:>8}")
    return "\n".join(lines)


def write_summary_csv(rows: list[ExerciseSummary], path: str | os.PathLike) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in rows)


def plot_positions(rows: list[ExerciseSummary]) -> tuple[list, list]:
    """Bar positions top to bottom: a heading line per lab, then its exercises.

    Returns (y of each row, [(y, label, is_heading)] for the tick labels)."""
    bar_y, ticks, y = [], [], 0
    for lab, group in itertools.groupby(rows, key=lambda row: row.lab):
        ticks.append((y, lab, True))
        y += 1
        for row in group:
            bar_y.append(y)
            ticks.append((y, row.grade_id, False))
            y += 1
    return bar_y, ticks


def plot_summary(rows: list[ExerciseSummary]) -> Figure:
    """A matplotlib Figure (Agg canvas, never shown): per exercise, a horizontal bar of the mean
    score as a fraction of its points, annotated with how many got it wrong; grouped by lab."""
    bar_y, ticks = plot_positions(rows)
    figure = Figure(figsize=(8, 1.2 + 0.3 * len(ticks)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    fractions = [row.mean_fraction or 0.0 for row in rows]
    axes.barh(bar_y, fractions, color="tab:blue")
    for y, fraction, row in zip(bar_y, fractions, rows):
        axes.text(fraction + 0.01, y, outcome(row), va="center", fontsize=8)
    axes.set_yticks([y for y, _, _ in ticks], [label for _, label, _ in ticks])
    for label, (_, _, heading) in zip(axes.get_yticklabels(), ticks):
        label.set_fontweight("bold" if heading else "normal")
    axes.set_ylim(len(ticks) - 0.5, -0.5)   # first exercise at the top
    axes.set_xlim(0, 1.35)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    axes.axvline(1.0, color="grey", linewidth=0.8)
    axes.set_xlabel("mean score / points")
    axes.set_title("Mean score per exercise")
    return figure


def write_summary(rows: list[ExerciseSummary], csv_path: str | os.PathLike,
                  png_path: str | os.PathLike) -> tuple[Path, Path]:
    """Save the summary as a CSV table and a PNG bar plot; returns both paths."""
    if not rows:
        raise ValueError("rows: the summary is empty (nothing to write)")
    write_summary_csv(rows, csv_path)
    plot_summary(rows).savefig(png_path, dpi=120)
    return Path(csv_path), Path(png_path)
