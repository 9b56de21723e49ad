"""The student kit (``make student-kit``): what is inside, no answers, and it works unpacked.

"Installs" here is the kit's own ``make install`` without the download: the pinned packages
(torch alone is about 5 GB) are not fetched again. The test makes the kit's ``.venv`` with
``python -m venv --without-pip``, gives it this venv's installed packages through a ``.pth`` file
(a plain path: the repository's own editable ``utils`` is not among them), installs the unpacked
kit into it editable with pip (``--no-deps``, as ``pip install -e .`` does once the pins are
there), then runs the rest of the kit's ``make install`` for real (the kernel into the venv, the
student's Jupyter settings) and ``make check``. Every import of ``utils`` is checked to come from
the unpacked kit. ``make lab`` itself (a JupyterLab server) is not started here.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest
import tomllib
from nbgrader import utils as nbgrader_utils

from autograder import cells, student_kit
from autograder.__main__ import main
from autograder.course import REPO, Course

COURSE = Course()
TOP = student_kit.KIT_NAME
RELEASED_LABS = sorted(p.parent.name for p in (REPO / "labs").glob("*/*.ipynb")
                       if p.stem == p.parent.name)
# the test and grading tools students do not need (dask, distributed: the grading engine)
INSTRUCTOR_ONLY_PINS = {"nbval", "pytest", "hypothesis", "playwright", "dask", "distributed"}


@pytest.fixture(scope="module")
def kit_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("dist") / f"{TOP}.zip"
    allowed = student_kit.build(path)
    return path, allowed


@pytest.fixture(scope="module")
def kit(kit_zip, tmp_path_factory):
    """The zip unpacked: the kit's folder."""
    folder = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(kit_zip[0]) as archive:
        archive.extractall(folder)
    return folder / TOP


def zip_contents(path):
    with zipfile.ZipFile(path) as archive:
        return {name.removeprefix(f"{TOP}/"): archive.read(name)
                for name in archive.namelist() if not name.endswith("/")}


# --- what is inside -------------------------------------------------------------------------

def test_the_zip_holds_the_labs_utils_data_and_student_set_up_only(kit_zip):
    contents = zip_contents(kit_zip[0])
    with zipfile.ZipFile(kit_zip[0]) as archive:
        assert all(name.startswith(f"{TOP}/") for name in archive.namelist())
    assert {name.split("/")[0] for name in contents} == {
        "labs", "utils", "data", "jupyter", "LICENSE", "README.md", "Makefile", "pyproject.toml",
        "environment.yml", "nbgrader_config.py", "self_check.py"}
    for lab in RELEASED_LABS:
        released = COURSE.release_notebook(lab)
        assert contents[f"labs/{lab}/{lab}.ipynb"] == released.read_bytes()
    for module in (REPO / "utils").glob("*.py"):
        assert contents[f"utils/{module.name}"] == module.read_bytes()
    for data in (REPO / "data").rglob("*"):
        if data.is_file():
            assert contents[data.relative_to(REPO).as_posix()] == data.read_bytes()
    for template in student_kit.TEMPLATES.iterdir():   # copied as they are, not generated
        assert contents[template.name] == template.read_bytes()
    forbidden = re.compile(r"(^|/)(solutions|autograder|grading|tests|mutants|instructor|"
                           r"__pycache__|\.ipynb_checkpoints)(/|$)|\.pyc$")
    assert [name for name in contents if forbidden.search(name)] == []


def test_the_same_course_gives_the_same_zip(kit_zip, tmp_path):
    student_kit.build(tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == kit_zip[0].read_bytes()


def test_student_readme_starts_with_make_lab_and_the_self_check():
    readme = (student_kit.TEMPLATES / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands[:2] == ["make lab", "make check LAB=00_orientation"]
    makefile = (student_kit.TEMPLATES / "Makefile").read_text()
    assert re.search(r"^lab: install$", makefile, re.M) and re.search(r"^check: install$",
                                                                       makefile, re.M)


def recipe(makefile, target):
    """The rule for ``target`` in a Makefile's text: its line and the tab-indented recipe."""
    return re.search(rf"^{re.escape(target)}:.*\n(?:\t.*\n)*", makefile, re.M).group(0)


def test_student_install_is_the_repositorys_install():
    """Same venv, kernel and Jupyter settings set-up as the instructor's make install, without
    the maintainers' dev extra (ruff, mypy)."""
    repo = (REPO / "Makefile").read_text().replace("-e '.[dev]'", "-e .")
    kit = (student_kit.TEMPLATES / "Makefile").read_text()
    for target in ("$(STAMP)", "$(JUPYTER_STAMP)", "install"):
        assert recipe(kit, target) == recipe(repo, target)
    for variable in ("PYTHON", "VENV", "BIN", "PY", "STAMP", "KERNEL", "JUPYTER_STAMP",
                     "JUPYTER_FILES"):
        definition = re.compile(rf"^{variable}\s+.?=.*$", re.M)
        assert definition.findall(kit) == definition.findall(repo) != []


def test_student_set_up_pins_the_instructors_set_without_the_grading_tools():
    repo = tomllib.loads((REPO / "pyproject.toml").read_text())
    kit = tomllib.loads((student_kit.TEMPLATES / "pyproject.toml").read_text())
    expected = sorted(pin for pin in repo["project"]["dependencies"]
                      if pin.split("==")[0] not in INSTRUCTOR_ONLY_PINS)
    assert sorted(kit["project"]["dependencies"]) == expected
    assert kit["tool"]["setuptools"]["packages"]["find"]["include"] == ["utils*"]
    environment = (student_kit.TEMPLATES / "environment.yml").read_text().splitlines()
    conda_pins = sorted(m.group(1) for line in environment
                        if (m := re.match(r"\s+- (\S+==\S+)\s*$", line)))
    assert conda_pins == expected


def test_cli_builds_the_zip_and_names_what_utils_shares_with_the_solutions(tmp_path, capsys):
    output = tmp_path / "kit.zip"
    assert main(["student-kit", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert zipfile.is_zipfile(output) and f"{output}: " in printed
    for lab, grade_id in student_kit.REFERENCE_IMPLEMENTATIONS:
        assert f"{lab}/{grade_id}" in printed or lab not in COURSE.lab_names()


# --- no answers -----------------------------------------------------------------------------

def test_no_hidden_test_or_solution_text_in_the_zip(kit_zip):
    contents = zip_contents(kit_zip[0])
    blocks = student_kit.answer_blocks()
    assert {b.kind for b in blocks} == {"SOLUTION", "HIDDEN TESTS"}
    assert {b.lab for b in blocks} == set(COURSE.lab_names())
    leaks = student_kit.find_leaks(contents, blocks)
    assert [str(leak) for leak in leaks if not leak.allowed] == []
    # What is allowed is utils' reference implementations, each listed one of a lab that exists
    # still there (the list does not outgrow the kit), and what build() reports.
    found = {(leak.lab, leak.grade_id) for leak in leaks}
    assert found == {(lab, grade_id) for lab, grade_id in student_kit.REFERENCE_IMPLEMENTATIONS
                     if lab in COURSE.lab_names()}
    assert all(leak.path.startswith("utils/") for leak in leaks)
    assert leaks == kit_zip[1]
    for name, data in contents.items():
        assert b"BEGIN HIDDEN TESTS" not in data and b"BEGIN SOLUTION" not in data, name


def block(kind, lab=None):
    """The longest answer block of ``kind`` (of ``lab``), and its text."""
    found = max((b for b in student_kit.answer_blocks()
                 if b.kind == kind and (lab is None or b.lab == lab)), key=lambda b: len(b.lines))
    return found, "\n".join(found.lines)


@pytest.mark.parametrize("path, text, expected", [
    ("labs/00_orientation/notes.md", lambda: block("HIDDEN TESTS")[1], "hidden tests"),
    ("utils/extra.py", lambda: block("HIDDEN TESTS")[1], "hidden tests"),
    ("labs/01_pruning/hint.py", lambda: block("SOLUTION", "00_orientation")[1], "solution"),
    ("utils/answers.py", lambda: block("SOLUTION", "03_fx_ptq")[1], "solution"),
    # a reference implementation's text is allowed in utils/ only
    ("labs/01_pruning/agp.py", lambda: (REPO / "utils" / "schedules.py").read_text(), "solution"),
    ("README.md", lambda: "x = 1\n    ### BEGIN SOLUTION\n", "marker"),
])
def test_planted_answer_text_is_found_and_refused(path, text, expected, kit_zip):
    contents = zip_contents(kit_zip[0])
    contents[path] = text().encode()
    refused = [leak for leak in student_kit.find_leaks(contents, student_kit.answer_blocks())
               if not leak.allowed]
    assert [leak.path for leak in refused] and {leak.path for leak in refused} == {path}
    assert all(str(leak).startswith(f"{path}: {expected}") for leak in refused)


def test_a_hidden_test_in_a_released_notebook_stops_the_build(tmp_path):
    scratch = tmp_path / "course"
    for name in ("labs", "utils", "data", "solutions", "jupyter/student", "jupyter/lab-settings"):
        shutil.copytree(REPO / name, scratch / name)
    for name in ("LICENSE", "nbgrader_config.py"):
        (scratch / name).write_bytes((REPO / name).read_bytes())
    hidden, text = block("HIDDEN TESTS", "02_quantization")
    release = scratch / "labs" / "02_quantization" / "02_quantization.ipynb"
    notebook = json.loads(release.read_text())
    notebook["cells"][-1]["source"] += ["\n"] + [line + "\n" for line in text.splitlines()]
    release.write_text(json.dumps(notebook))
    output = tmp_path / "kit.zip"
    with pytest.raises(ValueError, match=f"labs/02_quantization/02_quantization.ipynb: hidden "
                                         f"tests text of 02_quantization/{hidden.grade_id}"):
        student_kit.build(output, course=Course(scratch))
    assert not output.exists()


# --- unpacked and installed -----------------------------------------------------------------

def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def installed(kit, tmp_path_factory):
    """The kit's ``make install`` in the unpacked kit, the pinned packages taken from this venv
    (module docstring). Returns the kit's python and an environment without user Jupyter paths."""
    venv = kit / ".venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).check_returncode()
    python = venv / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                           "['purelib'])"], check=True).stdout.strip())
    (purelib / "pinned_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installing = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                      "--no-deps", "--no-build-isolation", "--no-index", "-e", str(kit)])
    assert installing.returncode == 0, installing.stderr
    (venv / ".installed").touch()    # the pip part of the kit's make install is done
    home = tmp_path_factory.mktemp("home")   # no kernel or setting from the user's Jupyter
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_CONFIG_DIR=str(home / "config"), MPLBACKEND="Agg")
    make = run(["make", "install"], cwd=kit, env=env)
    assert make.returncode == 0, make.stdout + make.stderr
    return python, env


@pytest.mark.notebooks
def test_kit_installs_its_kernel_and_student_settings_into_its_venv(installed, kit):
    python, env = installed
    specs = json.loads(run([str(python), "-c", "import json; from jupyter_client.kernelspec import "
                            "KernelSpecManager; print(json.dumps(KernelSpecManager()"
                            ".get_all_specs()))"], env=env, check=True).stdout)
    spec = specs["model-compression-lab"]
    assert Path(spec["resource_dir"]).is_relative_to(kit / ".venv")
    assert Path(spec["spec"]["argv"][0]) == python
    assert (kit / ".venv/etc/jupyter/jupyter_server_config.json").read_bytes() == \
        (kit / "jupyter/student/jupyter_server_config.json").read_bytes()


SETUP_DRIVER = """
import json, sys
import nbformat
from nbclient import NotebookClient
lab_folder, source = sys.argv[1], sys.stdin.read()
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell(
    "import sys, utils; print(sys.executable); print(utils.__file__)")])
NotebookClient(nb, kernel_name="model-compression-lab", timeout=300,
               resources={"metadata": {"path": lab_folder}}).execute()
print(json.dumps([cell.outputs for cell in nb.cells]))
"""


def setup_cell(notebook):
    """The source of the first code cell whose grade_id names the set-up."""
    notebook_cells = json.loads(Path(notebook).read_text())["cells"]
    return next("".join(c["source"]) for c in notebook_cells if c["cell_type"] == "code"
                and "setup" in (cells.grade_id(c) or ""))


@pytest.mark.notebooks
@pytest.mark.parametrize("lab", RELEASED_LABS)
def test_each_labs_setup_cell_runs_from_the_unpacked_kit(lab, installed, kit):
    """In the kit's kernel (what make lab opens), in the lab's folder: no error, nothing on
    stderr, and utils is the kit's."""
    python, env = installed
    ran = run([str(python), "-c", SETUP_DRIVER, str(kit / "labs" / lab)], env=env,
              input=setup_cell(kit / "labs" / lab / f"{lab}.ipynb"))
    assert ran.returncode == 0, ran.stderr
    setup, where = json.loads(ran.stdout.splitlines()[-1])
    assert [o for o in setup if o["output_type"] == "error" or o.get("name") == "stderr"] == []
    executable, utils_file = where[0]["text"].split()
    assert Path(executable) == python
    assert Path(utils_file).resolve() == (kit / "utils" / "__init__.py").resolve()


def solved(release, solution):
    """The release notebook with each answer cell replaced by the worked solution (markers out)."""
    answers = {cells.grade_id(c): c["source"]
               for c in json.loads(solution.read_text())["cells"] if cells.is_answer(c)}
    notebook = json.loads(release.read_text())
    for cell in notebook["cells"]:
        grade_id = cells.grade_id(cell)
        if cells.is_answer(cell) and grade_id in answers:
            cell["source"] = [line for line in answers[grade_id]
                              if not student_kit.MARKER.search(line)]
    return json.dumps(notebook)


@pytest.mark.notebooks
def test_make_check_reports_each_visible_test_and_exits_accordingly(installed, kit):
    python, env = installed
    lab = "00_orientation"
    notebook = kit / "labs" / lab / f"{lab}.ipynb"
    notebook_cells = json.loads(notebook.read_text())["cells"]
    tests = [cells.grade_id(c) for c in notebook_cells
             if cells.is_graded(c) and not cells.is_answer(c)]
    release = notebook.read_text()
    blank = run(["make", "check", f"LAB={lab}"], cwd=kit, env=env)
    assert blank.returncode != 0
    assert f"{lab}: 0 of {len(tests)} visible tests pass" in blank.stdout
    for grade_id in tests:
        assert re.search(rf"^  FAIL  {grade_id}\s+NotImplementedError: not answered yet$",
                         blank.stdout, re.M), blank.stdout

    notebook.write_text(solved(notebook, COURSE.solution_notebook(lab)))
    answered = run(["make", "check", f"LAB={lab}"], cwd=kit, env=env)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert f"{lab}: {len(tests)} of {len(tests)} visible tests pass" in answered.stdout
    assert all(re.search(rf"^  pass  {g}$", answered.stdout, re.M) for g in tests)

    # Tests edited to pass: every visible test passes, and the check still fails and says why.
    edited = json.loads(release)
    for cell in edited["cells"]:
        if cells.grade_id(cell) in tests:
            cell["source"] = ['print("all tests passed")\n']
    notebook.write_text(json.dumps(edited))
    cheated = run(["make", "check", f"LAB={lab}"], cwd=kit, env=env)
    assert cheated.returncode != 0
    assert f"{lab}: {len(tests)} of {len(tests)} visible tests pass" in cheated.stdout
    assert f"{lab}: a read-only test cell was changed" in cheated.stdout

    missing = run(["make", "check"], cwd=kit, env=env)
    assert missing.returncode != 0
    assert f"LAB must be one of {', '.join(RELEASED_LABS)}; got nothing" in missing.stderr


# --- the self-check's report, cell by cell ----------------------------------------------------

@pytest.fixture(scope="module")
def self_check():
    spec = importlib.util.spec_from_file_location("self_check",
                                                  student_kit.TEMPLATES / "self_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def graded_cell(grade_id, outputs, solution=False):
    cell = nbformat.v4.new_code_cell("...")
    cell.metadata["nbgrader"] = {"grade": True, "solution": solution, "grade_id": grade_id,
                                 "points": 2, "locked": not solution, "schema_version": 3}
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    return cell


def test_self_check_names_each_visible_test_and_why_it_failed(self_check):
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "expected 12, got 11",
             "traceback": []}
    stub = {"output_type": "error", "ename": "NotImplementedError", "evalue": "", "traceback": []}
    stderr = {"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\nmore\n"}
    ok = {"output_type": "stream", "name": "stdout", "text": "all tests passed\n"}
    partial = {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {},
               "execution_count": 1}
    untouched, answered = (graded_cell(name, [], solution=True) for name in ("why", "how"))
    for cell in (untouched, answered):   # the release's checksum; then the student writes
        cell.metadata.nbgrader["checksum"] = nbgrader_utils.compute_checksum(cell)
    answered.source = "Because the mask keeps the largest weights."
    nb = nbformat.v4.new_notebook(cells=[
        graded_cell("test_a", [ok]), graded_cell("test_b", [error]), graded_cell("test_c", [stub]),
        graded_cell("test_d", [stderr]), graded_cell("test_e", [partial]), untouched, answered])
    text, failed = self_check.summary("01_pruning", nb)
    assert failed == 4 + 1
    assert text.splitlines() == [
        "  pass  test_a",
        "  FAIL  test_b                           AssertionError: expected 12, got 11",
        "  FAIL  test_c                           NotImplementedError: not answered yet",
        "  FAIL  test_d                           wrote to stderr (a graded cell must not): "
        "UserWarning: careful",
        "  FAIL  test_e                           1 of 2 points",
        "  TODO  why                              written answer not given yet (your instructor "
        "grades it)",
        "  done  how                              written answer given (your instructor grades it)",
        "01_pruning: 1 of 5 visible tests pass; 1 of 2 written answers given"]
    passing = nbformat.v4.new_notebook(cells=[graded_cell("test_a", [ok]), answered])
    assert self_check.summary("01_pruning", passing) == (
        "  pass  test_a\n"
        "  done  how                              written answer given (your instructor grades "
        "it)\n"
        "01_pruning: 1 of 1 visible tests pass; 1 of 1 written answers given (hidden tests run "
        "when your instructor grades)", 0)
