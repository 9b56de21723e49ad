"""The course on disk, one object: :class:`Course`, nbgrader's ``CourseDirectory`` of a folder.

The repository root is the kit's nbgrader course (``nbgrader_config.py``): ``solutions/`` is the
source directory, ``labs/`` the release directory, ``grading/`` (git-ignored) everything grading
makes. ``nbgrader_config.py`` is the one place that says where each folder and the gradebook
are; a :class:`Course` reads it and answers with paths. A scratch course (a copy of the config
and some solutions, see :mod:`autograder.scratch`) is a :class:`Course` of another folder.

Names: ``course`` is always a :class:`Course`; a folder is a ``root`` or a ``directory``.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

__all__ = ["REPO", "BIN", "Course", "files_under", "describe_changes", "cell_changes",
           "execute_in_place"]

REPO = Path(__file__).resolve().parent.parent   # the kit's repository: the default course
BIN = Path(sys.executable).parent               # this environment's nbgrader, jupyter, alembic
CONFIG_FILE = "nbgrader_config.py"


def _step_folder(trait: str) -> property:
    """A property: the course's folder named by its ``trait`` (e.g. ``"submitted_directory"``)."""
    return property(lambda course: course.folder(getattr(course, trait)),
                    doc=f"The course's ``{trait}`` as a path.")


class Course(CourseDirectory):
    """nbgrader's ``CourseDirectory`` of ``root`` as its ``nbgrader_config.py`` configures it,
    with the course's folders as paths, its labs, releasing, and a way to run nbgrader in it.

    A Course is also the path of its root (``os.fspath(course)``)."""

    def __init__(self, root: str | os.PathLike = REPO):
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        super().__init__(config=config)

    def __fspath__(self) -> str:
        return self.root

    def __repr__(self) -> str:
        return f"Course({self.root!r})"

    # --- folders and files (all from nbgrader_config.py) ---------------------------------------
    @property
    def path(self) -> Path:
        """The course's root folder."""
        return Path(self.root)

    def folder(self, directory: str) -> Path:
        """One of the course's folders, e.g. ``course.folder(course.submitted_directory)``."""
        return self.path / directory

    # nbgrader's steps as paths: solutions/, labs/, grading/submitted/, ...
    source_folder = _step_folder("source_directory")
    release_folder = _step_folder("release_directory")
    submitted_folder = _step_folder("submitted_directory")
    autograded_folder = _step_folder("autograded_directory")
    feedback_folder = _step_folder("feedback_directory")

    @property
    def downloaded_directory(self) -> str:
        """Where ``nbgrader zip_collect`` works, relative to the root."""
        return self.config.ZipCollectApp.downloaded_directory

    @property
    def reports_folder(self) -> Path:
        """Where :class:`autograder.execution.GuardedExecute` writes its reports."""
        return Path(self.config.GuardedExecute.report_directory)

    @property
    def wall_clock_limit(self) -> float:
        """Seconds one submission may run (``GuardedExecute.wall_clock_limit``: as configured in
        the course's ``nbgrader_config.py``, else the trait's default)."""
        from .execution import GuardedExecute  # nbclient and the sandbox: only when asked

        default = GuardedExecute.class_traits()["wall_clock_limit"].default_value
        return float(self.config.GuardedExecute.get("wall_clock_limit", default))

    @property
    def grading_folder(self) -> Path:
        """The folder of everything grading makes (the gradebook's folder, ``grading/``)."""
        return self.gradebook_path.parent

    @property
    def gradebook_url(self) -> str:
        return self.db_url

    @property
    def gradebook_path(self) -> Path:
        """The sqlite file of the gradebook (``grading/gradebook.db``)."""
        if not self.db_url.startswith("sqlite:///"):
            raise ValueError(f"the gradebook is not a sqlite file: {self.db_url}")
        return Path(self.db_url.removeprefix("sqlite:///"))

    def step_folder(self, directory: str, student: str, lab: str) -> Path:
        """``<root>/<directory>/<student>/<lab>``, as nbgrader lays out one submission."""
        return Path(self.format_path(directory, student, lab))

    def submission_folder(self, lab: str, student: str) -> Path:
        """Where nbgrader looks for ``student``'s submission of ``lab``."""
        return self.step_folder(self.submitted_directory, student, lab)

    def students_in(self, directory: str, lab: str) -> list[str]:
        """Students with a folder of ``lab`` in ``directory`` (e.g. ``submitted_directory``),
        sorted."""
        return sorted(p.parent.name for p in self.folder(directory).glob(f"*/{lab}")
                      if p.is_dir())

    # --- labs ------------------------------------------------------------------------------------
    def lab_names(self) -> list[str]:
        """Names of the labs: folders ``solutions/<lab>/`` holding ``<lab>.ipynb``, sorted."""
        return sorted(p.parent.name for p in self.source_folder.glob("*/*.ipynb")
                      if p.stem == p.parent.name)

    def solution_notebook(self, lab: str) -> Path:
        return self.source_folder / lab / f"{lab}.ipynb"

    def release_notebook(self, lab: str) -> Path:
        return self.release_folder / lab / f"{lab}.ipynb"

    def known_labs(self, labs: Iterable[str] | None) -> list[str]:
        """``labs`` as a list without repeats ([] for None), after checking each is a lab of
        this course."""
        known = self.lab_names()
        labs = list(dict.fromkeys(labs or ()))
        unknown = sorted(set(labs) - set(known))
        if unknown:
            raise ValueError(f"labs must be among {known}, got unknown {unknown}")
        return labs

    # --- nbgrader ------------------------------------------------------------------------------
    def run_nbgrader(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the ``nbgrader`` command of this environment in the course (its bin first on
        PATH: nbgrader runs ``alembic`` from PATH). With ``check``, a failure raises
        RuntimeError with nbgrader's log; without, the caller reads ``returncode``."""
        result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=self.root,
                                env=nbgrader_environment(), capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stderr}")
        return result

    def release(self, labs: Iterable[str] | None = None) -> list[str]:
        """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` (nbgrader generate_assignment).

        Returns what changed, one line per file (see :func:`describe_changes`)."""
        labs = self.known_labs(labs) or self.lab_names()
        before = files_under(self.release_folder, labs)
        for lab in labs:
            shutil.rmtree(self.release_folder / lab, ignore_errors=True)
            self.run_nbgrader("generate_assignment", lab, "--force")
        return describe_changes(before, files_under(self.release_folder, labs))


def nbgrader_environment() -> dict:
    """The environment nbgrader runs in: this environment's bin first on PATH."""
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def files_under(folder: str | os.PathLike, labs: Iterable[str]) -> dict[str, bytes]:
    """{path relative to ``folder``: bytes} of every file in ``folder/<lab>/`` for ``labs``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for lab in labs for p in sorted((Path(folder) / lab).rglob("*")) if p.is_file()}


def describe_changes(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Lines saying how the files ``after`` differ from ``before`` (both {path: bytes}):
    ``added``, ``removed`` or ``changed``; for a notebook, how many cells were changed, added
    and removed. [] when nothing changed."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in before:
            lines.append(f"{path}: added")
        elif path not in after:
            lines.append(f"{path}: removed")
        elif before[path] != after[path]:
            detail = cell_changes(before[path], after[path]) if path.endswith(".ipynb") else ""
            lines.append(f"{path}: changed" + (f" ({detail})" if detail else ""))
    return lines


def cell_changes(old: bytes, new: bytes) -> str:
    """``"cells: 2 changed, 1 added"``: how notebook ``new`` differs from ``old`` (JSON bytes),
    matching cells by type and source; "" when only metadata differs."""
    def cells(text):
        return [(cell["cell_type"], "".join(cell["source"])) for cell in json.loads(text)["cells"]]

    counts = {"changed": 0, "added": 0, "removed": 0}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=cells(old), b=cells(new),
                                                       autojunk=False).get_opcodes():
        if tag == "replace":
            common = min(i2 - i1, j2 - j1)
            counts["changed"] += common
            counts["removed"] += (i2 - i1) - common
            counts["added"] += (j2 - j1) - common
        elif tag == "delete":
            counts["removed"] += i2 - i1
        elif tag == "insert":
            counts["added"] += j2 - j1
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    return "cells: " + ", ".join(parts) if parts else ""


def execute_in_place(notebook: str | os.PathLike, timeout: int = 600) -> None:
    """Execute a notebook and save it with its outputs (the committed worked solutions)."""
    subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                    "--inplace", f"--ExecutePreprocessor.timeout={timeout}", str(notebook)],
                   check=True, cwd=Path(notebook).parent)
