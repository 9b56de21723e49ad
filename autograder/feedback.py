"""HTML feedback for students, without the hidden tests' source.

``nbgrader generate_feedback`` turns each autograded notebook into an HTML page for its student.
Autograding puts the hidden tests back into the test cells, and nbgrader's feedback shows them:
in the cell's source, and again in the traceback of a failing hidden assert (IPython prints the
lines around the failing one). :class:`HideHiddenTests` removes both before the page is written;
``nbgrader_config.py`` registers it for ``generate_feedback``.

What the student still sees of a failing test cell is the visible tests and the error's last
line, ``AssertionError: <message>``: the assertion message is the intended feedback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from .checks import as_student_list
from .course import Course

__all__ = ["HIDDEN_PLACEHOLDER", "HideHiddenTests", "last_error_line", "graded_students",
           "feedback_path", "generate_feedback"]

HIDDEN_PLACEHOLDER = "# (hidden tests: not shown)"


class HideHiddenTests(NbGraderPreprocessor):
    """In each cell holding hidden tests: replace every hidden block (marker lines included) by
    one comment line, and cut the cell's error tracebacks down to ``ename: evalue``."""

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS", help="Marks the start of hidden tests"
                              ).tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS", help="Marks the end of hidden tests"
                            ).tag(config=True)
    placeholder = Unicode(HIDDEN_PLACEHOLDER, help="The line shown instead of hidden tests"
                          ).tag(config=True)
    # nbconvert's HTML exporter configures this trait of every preprocessor; NbGraderPreprocessor
    # declares it not configurable, so traitlets would warn (nbgrader's GetGrades does the same).
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value
                                 ).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int
                        ) -> tuple[NotebookNode, dict]:
        """Hide the hidden tests of one cell (other cells pass unchanged)."""
        if self.begin_delimiter in cell.source:
            cell.source = self.without_hidden_tests(cell.source)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [last_error_line(output)]
        return cell, resources

    def without_hidden_tests(self, source: str) -> str:
        """``source`` with each hidden block replaced by the placeholder, indented like the
        block's first marker."""
        lines, hidden = [], False
        for line in source.split("\n"):
            if self.begin_delimiter in line:
                if hidden:
                    raise ValueError(f"nested {self.begin_delimiter!r} in:\n{source}")
                hidden = True
                indent = line[:len(line) - len(line.lstrip())]
                lines.append(indent + self.placeholder)
            elif self.end_delimiter in line:
                hidden = False
            elif not hidden:
                lines.append(line)
        if hidden:
            raise ValueError(f"{self.begin_delimiter!r} without {self.end_delimiter!r} in:\n"
                             f"{source}")
        return "\n".join(lines)


def last_error_line(output: NotebookNode) -> str:
    """The last line of an error's traceback, ``ename: evalue``, without the frames."""
    return f"{output.ename}: {output.evalue}" if output.evalue else output.ename


def graded_students(course: Course, lab: str) -> list[str]:
    """Students with an autograded submission of ``lab``, sorted."""
    return course.students_in(course.autograded_directory, lab)


def feedback_path(course: Course, lab: str, student: str) -> Path:
    """The HTML feedback page of one submission."""
    return course.step_folder(course.feedback_directory, student, lab) / f"{lab}.html"


def generate_feedback(lab: str, students: Iterable[str] | None = None,
                      course: Course | None = None) -> list[Path]:
    """Write the HTML feedback of ``lab`` for ``students`` (default: everyone autograded) with
    ``nbgrader generate_feedback``; returns the HTML paths, in the order of the students.
    ``course``: the :class:`Course` (default: this repository's)."""
    course = course or Course()
    if lab not in course.lab_names():
        raise ValueError(f"lab: unknown lab {lab!r}; the labs are {course.lab_names()}")
    graded = graded_students(course, lab)
    if not graded:
        raise FileNotFoundError(f"nothing graded yet: run autograde first (no autograded {lab!r} "
                                f"in {course.autograded_folder})")
    students = as_student_list(students)
    ungraded = sorted(set(students or ()) - set(graded))
    if ungraded:
        raise ValueError(f"students: no autograded {lab!r} for {ungraded}: run autograde first")

    if students is None:
        course.run_nbgrader("generate_feedback", lab, "--force")
    else:
        for student in students:
            course.run_nbgrader("generate_feedback", lab, "--force", f"--student={student}")
    paths = [feedback_path(course, lab, student) for student in students or graded]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(f"nbgrader generate_feedback wrote no {missing}")
    return paths
