"""The student kit: one zip with what students need and none of the answers (``make student-kit``).

``dist/model-compression-lab-student.zip`` unpacks to one folder,
``model-compression-lab-student/``, holding:

- ``labs/``, ``utils/``, ``data/`` and ``LICENSE``, copied from the course (no caches), and the
  student's Jupyter settings (``jupyter/student/``, ``jupyter/lab-settings/``; see
  ``jupyter/README.md``);
- the student set-up, copied from the templates in ``student_kit/``: ``README.md`` (first commands
  ``make lab`` and ``make check LAB=<lab>``), ``Makefile``, ``pyproject.toml`` (installs ``utils``
  only), ``environment.yml``, ``self_check.py`` and ``nbgrader_config.py``.

Nothing else: no ``solutions/``, no ``autograder/`` (its ``mutants`` are wrong answers next to the
right ones), no ``grading/``, no ``tests/``, no instructor Jupyter settings
(``jupyter/instructor/``).

Before writing the zip, :func:`build` looks for the answers in every text file of the kit
(notebooks: every string in their JSON): the lines of each hidden test and each worked solution,
between nbgrader's ``### BEGIN``/``### END`` markers in ``solutions/<lab>/<lab>.ipynb``, and the
markers themselves. Comment and blank lines are skipped, and a single line such as
``for module in model.modules():`` is ordinary code, so a leak is a run of consecutive lines of one
block found in a row in a file: two lines of a hidden test, three of a solution (or the whole
block if it is shorter). Binary files (the checkpoints, the gzipped digits) are not text and are
not searched. ``utils/`` is the reference library, and the README tells students it holds the
reference implementations of the exercises; the exercises in :data:`REFERENCE_IMPLEMENTATIONS`
have a solution that is that reference implementation, and only there, only in ``utils/``, is
their text allowed. Any other leak stops the build.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import cells
from .course import REPO, Course

__all__ = ["KIT_NAME", "DEFAULT_OUTPUT", "TEMPLATES", "REFERENCE_IMPLEMENTATIONS", "AnswerBlock",
           "Leak", "kit_files", "answer_blocks", "find_leaks", "build"]

KIT_NAME = "model-compression-lab-student"
DEFAULT_OUTPUT = REPO / "dist" / f"{KIT_NAME}.zip"
TEMPLATES = REPO / "student_kit"
COPIED_FOLDERS = ("labs", "utils", "data", "jupyter/student", "jupyter/lab-settings")
COPIED_FILES = ("LICENSE",)
SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}

# Consecutive lines of one answer block that make a leak (see the module docstring).
WINDOW = {"HIDDEN TESTS": 2, "SOLUTION": 3}
MARKER = re.compile(r"###\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)")

# (lab, grade_id of the answer cell): exercises whose worked solution is, line for line, the
# reference implementation students may read in utils/ (README, "For students").
REFERENCE_IMPLEMENTATIONS = {
    ("01_pruning", "agp_sparsity"),        # utils.schedules.agp_sparsity
    ("01_pruning", "remove_channels"),     # utils.channel_pruning
    ("02_quantization", "fake_quant"),     # utils.quantization: FakeQuantizeSTE.apply(...)
    ("05_pipeline", "fold_bn"),            # utils.bn_folding.fold_bn
}

# Zip entries get this timestamp: the same course gives the same zip, byte for byte.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AnswerBlock:
    """The lines between ``### BEGIN <kind>`` and ``### END <kind>`` in one cell."""
    kind: str            # "SOLUTION" or "HIDDEN TESTS"
    lab: str
    grade_id: str
    lines: tuple         # significant lines (stripped; no blank or comment lines)


@dataclass(frozen=True)
class Leak:
    """Answer text found in a file of the kit."""
    path: str            # inside the kit
    kind: str            # "SOLUTION", "HIDDEN TESTS" or "marker"
    lab: str
    grade_id: str
    lines: tuple         # what was found

    def __str__(self) -> str:
        where = f"{self.lab}/{self.grade_id}" if self.lab else "nbgrader marker"
        return f"{self.path}: {self.kind.lower()} text of {where}: {' | '.join(self.lines)[:160]}"

    @property
    def allowed(self) -> bool:
        """Reference-implementation text in utils/ (see :data:`REFERENCE_IMPLEMENTATIONS`)."""
        return (self.kind == "SOLUTION" and self.path.startswith("utils/")
                and (self.lab, self.grade_id) in REFERENCE_IMPLEMENTATIONS)


def significant_lines(text: str) -> tuple[str, ...]:
    """The stripped lines of ``text`` that are neither blank nor comments."""
    return tuple(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#"))


def kit_files(course: Course | None = None, templates: Path = TEMPLATES) -> dict[str, Path]:
    """{path inside the kit: source file}: the copied folders and files of ``course`` (default:
    this repository's), then the templates."""
    root = (course or Course()).path
    files = {}
    for folder in COPIED_FOLDERS:
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"the student kit needs {root / folder}/")
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if (path.is_file() and not SKIPPED_NAMES & set(relative.parts)
                    and path.suffix not in SKIPPED_SUFFIXES):
                files[relative.as_posix()] = path
    for name in COPIED_FILES:
        files[name] = root / name
    for path in sorted(Path(templates).iterdir()):
        if path.is_file() and path.name not in SKIPPED_NAMES:
            files[path.name] = path
    return files


def answer_blocks(course: Course | None = None) -> list[AnswerBlock]:
    """Every hidden-test and solution block of every lab's source notebook (default: this
    repository's course)."""
    course = course or Course()
    blocks = []
    for lab in course.lab_names():
        notebook = json.loads(course.solution_notebook(lab).read_text())
        for cell in notebook["cells"]:
            grade_id = cells.grade_id(cell) or ""
            kind: str | None = None
            lines: list[str] = []
            for line in "".join(cell["source"]).splitlines():
                marker = MARKER.search(line)
                if marker and marker.group(1) == "BEGIN":
                    kind, lines = marker.group(2), []
                elif marker and kind:
                    text = significant_lines("\n".join(lines))
                    blocks.append(AnswerBlock(kind, lab, grade_id, text))
                    kind = None
                elif kind:
                    lines.append(line)
    return [block for block in blocks if block.lines]


def _strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def file_text(path: str, data: bytes) -> str | None:
    """A kit file's text, or None for a binary file. A notebook's text is every string in its
    JSON (sources, outputs, metadata), one after the other."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "\n".join(_strings(json.loads(text))) if path.endswith(".ipynb") else text


def _runs(lines, size):
    return {lines[i:i + size] for i in range(len(lines) - size + 1)}


def find_leaks(contents: dict[str, bytes], blocks: list[AnswerBlock]) -> list[Leak]:
    """Leaks of ``blocks`` in ``contents`` ({path inside the kit: bytes}), allowed ones included
    (see :attr:`Leak.allowed`)."""
    leaks = []
    for path, data in sorted(contents.items()):
        text = file_text(path, data)
        if text is None:
            continue
        leaks += [Leak(path, "marker", "", "", (line.strip(),))
                  for line in text.splitlines() if MARKER.search(line)]
        lines = significant_lines(text)
        runs_by_size: dict[int, set[tuple[str, ...]]] = {}
        for block in blocks:
            size = min(WINDOW[block.kind], len(block.lines))
            runs = runs_by_size.setdefault(size, _runs(lines, size))
            found = [run for run in sorted(_runs(block.lines, size)) if run in runs]
            if found:
                leaks.append(Leak(path, block.kind, block.lab, block.grade_id, found[0]))
    return leaks


def build(output: str | Path = DEFAULT_OUTPUT, course: Course | None = None,
          templates: Path = TEMPLATES) -> list[Leak]:
    """Write the student kit zip of ``course`` (default: this repository's) to ``output``;
    return the leaks allowed in ``utils/`` (see the module docstring). Raises ValueError,
    listing them, if answer text is anywhere else."""
    course = course or Course()
    files = kit_files(course, templates)
    contents = {name: path.read_bytes() for name, path in files.items()}
    leaks = find_leaks(contents, answer_blocks(course))
    refused = [leak for leak in leaks if not leak.allowed]
    if refused:
        raise ValueError("answer text in the student kit, nothing written:\n  "
                         + "\n  ".join(map(str, refused)))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(contents):
            entry = zipfile.ZipInfo(f"{KIT_NAME}/{name}", ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, contents[name])
    output.write_bytes(buffer.getvalue())
    return leaks
