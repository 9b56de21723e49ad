"""The kit in JupyterLab, as its users see it: the set-up, then a real browser.

* ``make install`` puts the kit's kernel into the venv, never the home folder: two clones of the
  kit each run their own Python, and deleting one leaves the other working.
* In Chromium, driven by Playwright: a student works through lab 00's first exercise and presses
  Validate; an instructor scores a written answer of lab 01 in formgrader and exports the grades; a
  self-learner reads a worked solution's committed plots.

The servers are started as the users start them, with ``make lab`` and ``make formgrader`` (a
scratch folder or course, a free loopback port, a token, through ``LAB_DIR``, ``COURSE`` and
``JUPYTER_ARGS``). Every wait has a bound. Chromium is Debian's (``/usr/bin/chromium``, through
Playwright's ``executable_path``: Playwright's own browser download needs the internet); without
it the browser tests skip, naming the package to install (``tests/system_packages.py``; under
``CI=true`` they fail instead, and ``make test`` installs it first where it can).
When a browser test fails, a screenshot of the page is saved; the failure report gives its path.
"""

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import cells, collect
from autograder.autograde import autograde
from autograder.course import Course
from autograder.export import exercise_summary, export_grades, format_summary
from autograder.scratch import scratch_course

REPO = Path(__file__).resolve().parent.parent
KERNEL = "model-compression-lab"
KERNEL_DISPLAY_NAME = f"Python ({KERNEL})"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]
SERVER_START_SECONDS = 90
UI_TIMEOUT_MS = 30_000          # one click, one page, one rendered output
KERNEL_START_MS = 120_000       # a kernel's start and the lab's setup cell (imports torch)
VALIDATE_MS = 300_000           # nbgrader validate runs the whole lab (14 s for lab 00 here)
INSTRUCTOR_EXTENSIONS = ("Create Assignment",)   # the right sidebar's panel of nbgrader


# --- the set-up: the kit's kernel lives in the venv ----------------------------------------

def make_environment(**extra):
    """This process's environment for a `make` of our own: no flags or variables inherited from
    a `make test` around us, no Jupyter search path from the user's shell."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH")}
    env.update(extra)
    return env


def light_clone(folder):
    """A clone of the kit's set-up in ``folder``: its Makefile and Jupyter settings, and a venv
    of its own that borrows this venv's packages (a .pth file) instead of installing them."""
    folder.mkdir(parents=True)
    shutil.copy(REPO / "Makefile", folder)
    shutil.copy(REPO / "pyproject.toml", folder)
    shutil.copytree(REPO / "jupyter", folder / "jupyter")
    venv = folder / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    borrowed = sysconfig.get_path("purelib")
    Path(site_packages, "borrowed.pth").write_text(f"import site; site.addsitedir({borrowed!r})\n")
    (venv / ".installed").touch()      # the packages are "installed": make skips pip
    return folder


KERNEL_PREFIX_SCRIPT = textwrap.dedent(f"""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel
    spec = KernelSpecManager().get_kernel_spec({KERNEL!r})
    manager, client = start_new_kernel(kernel_name={KERNEL!r}, startup_timeout=60)
    try:
        reply = client.execute_interactive("import sys; print(sys.prefix)", timeout=60,
                                           output_hook=lambda m: m["msg_type"] == "stream"
                                           and print("kernel:", m["content"]["text"].strip()))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    print("spec:", spec.display_name, spec.argv[0])
""")


def kernel_as_seen_from(clone, home):
    """(display name, python of the kernelspec, sys.prefix of a started kernel) of the kit's
    kernel, looked up and started by the clone's own Python, with ``home`` as the home folder."""
    result = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", KERNEL_PREFIX_SCRIPT],
                            env=make_environment(HOME=str(home)), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    display_name, python = lines["spec"].rsplit(" ", 1)
    return display_name, python, lines["kernel"]


def test_each_clone_has_its_own_kernel(tmp_path):
    home = tmp_path / "home"
    # What `ipykernel install --user` of an earlier set-up left behind: a kernelspec in the home
    # folder whose Python was deleted with its clone.
    stale = home / ".local" / "share" / "jupyter" / "kernels" / KERNEL
    stale.mkdir(parents=True)
    deleted_python = tmp_path / "deleted" / ".venv" / "bin" / "python"
    (stale / "kernel.json").write_text(json.dumps({
        "argv": [str(deleted_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME, "language": "python"}))
    clones = [light_clone(tmp_path / name) for name in ("first", "second")]
    for clone in clones:
        subprocess.run(["make", "--no-print-directory", "-C", str(clone), "install"], check=True,
                       env=make_environment(HOME=str(home)), capture_output=True, timeout=120)
        spec = json.loads((clone / ".venv" / "share" / "jupyter" / "kernels" / KERNEL
                           / "kernel.json").read_text())
        assert spec["argv"][0] == str(clone / ".venv" / "bin" / "python")
        assert spec["display_name"] == KERNEL_DISPLAY_NAME
    user_kernels = home / ".local" / "share" / "jupyter" / "kernels"
    assert [p.name for p in user_kernels.iterdir()] == [KERNEL]     # only the stale one
    assert not (home / ".jupyter").exists(), "make install wrote Jupyter settings into the home"

    shutil.rmtree(clones[1])           # delete the second clone: the first one still works
    display_name, python, prefix = kernel_as_seen_from(clones[0], home)
    assert (display_name, python, prefix) == (
        KERNEL_DISPLAY_NAME, str(clones[0] / ".venv" / "bin" / "python"), str(clones[0] / ".venv"))


# --- JupyterLab started as the kit's users start it ------------------------------------------

@dataclass
class Server:
    url: str
    token: str
    log: Path

    def get(self, path):
        """(HTTP status, body) of GET ``path`` with the token."""
        request = urllib.request.Request(self.url + path,
                                          headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def page(self, path):
        return f"{self.url}{path}?token={self.token}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def jupyter(target, workdir, **make_variables):
    """``make <target>`` (lab or formgrader) with ``make_variables``, serving on a free loopback
    port with a token; stopped (its whole process group) on exit. JupyterLab's user settings,
    workspaces and runtime files go to ``workdir``, never the home folder."""
    port, token = free_port(), uuid.uuid4().hex
    options = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        options.append("--allow-root")
    command = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", target,
               *(f"{name}={value}" for name, value in make_variables.items()),
               "JUPYTER_ARGS=" + " ".join(options)]
    env = make_environment(JUPYTERLAB_SETTINGS_DIR=str(workdir / "user-settings"),
                           JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
                           JUPYTER_RUNTIME_DIR=str(workdir / "runtime"))
    log = workdir / f"{target}-server.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                if server.get("/api/status")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`make {target}` did not serve within {SERVER_START_SECONDS} s:\n"
                            + log.read_text()[-3000:])
            time.sleep(0.3)
        yield server
    finally:
        stop(process)


def stop(process):
    """Stop make, JupyterLab and its kernels (one process group), killing after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- the browser ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    # without Chromium the tests that use this are skipped (their needs("chromium") mark)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS,
                                              timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh browser page; on failure its screenshot goes to the test's temporary folder."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the page at the failure: {shot}")
    context.close()


def open_notebook(page, server, path):
    """Open ``path`` (relative to the server's root) in JupyterLab; returns its cells."""
    page.goto(server.page(f"/lab/tree/{path}"))
    cells = page.locator(".jp-NotebookPanel-notebook .jp-Cell")
    cells.first.wait_for()
    return cells


def run_cell(page, cell, timeout=UI_TIMEOUT_MS):
    """Run one code cell (click into it, Shift+Enter) and wait for its execution count."""
    from playwright.sync_api import expect

    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"), timeout=timeout)


def cell_output(cell):
    return cell.locator(".jp-OutputArea").inner_text()


def errors_in(cell):
    return cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')


def words(text):
    """``text`` with every run of white space made one space (to compare rendered text)."""
    return " ".join(text.split())


def stdout_of(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream"
                   and o.name == "stdout")


def plots_in(cell):
    """The PNG images among a code cell's outputs."""
    return [o.data["image/png"] for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]


def instructor_parts_shown(page):
    """What of nbgrader's instructor side this page shows: the Nbgrader menu, the
    "Create Assignment" panel."""
    shown = []
    if page.get_by_role("menuitem", name="Nbgrader").count():
        shown.append("Nbgrader menu")
    shown += [name for name in INSTRUCTOR_EXTENSIONS if page.get_by_text(name, exact=True).count()]
    return shown


# --- a student --------------------------------------------------------------------------------

STUDENT_LAB = "00_orientation"


def answer_of(solution_cell):
    """A worked solution's answer cell as a student would write it: without nbgrader's markers."""
    return "\n".join(line for line in solution_cell.source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def first_exercise(notebook):
    """(index of the setup cell, of the first answer cell, of its test cell) in ``notebook``."""
    ids = [cells.grade_id(cell) for cell in notebook.cells]
    answer = next(i for i, cell in enumerate(notebook.cells)
                  if cells.is_answer(cell) and not cells.is_graded(cell) and cells.is_code(cell))
    test = next(i for i in range(answer + 1, len(notebook.cells))
                if cells.is_graded(notebook.cells[i]))
    return ids.index("setup"), answer, test


@pytest.mark.notebooks
@pytest.mark.needs("chromium")
def test_student_works_through_the_first_exercise_and_validates(page, tmp_path):
    from playwright.sync_api import expect

    labs = tmp_path / "labs"
    shutil.copytree(REPO / "labs" / STUDENT_LAB, labs / STUDENT_LAB)
    release = nbformat.read(labs / STUDENT_LAB / f"{STUDENT_LAB}.ipynb", as_version=4)
    solution = nbformat.read(Course().solution_notebook(STUDENT_LAB), as_version=4)
    solved = {cells.grade_id(cell): cell for cell in solution.cells if cells.grade_id(cell)}
    assert len(solution.cells) == len(release.cells)
    setup, answer, test = first_exercise(release)
    tests = [i for i, cell in enumerate(release.cells) if cells.is_graded(cell)]

    with jupyter("lab", tmp_path, LAB_DIR=labs) as server:
        # The server: the instructor's parts are not there, the kit's kernel is the only one.
        assert server.get("/formgrader")[0] == 404
        kernelspecs = json.loads(server.get("/api/kernelspecs")[1])
        assert (kernelspecs["default"], list(kernelspecs["kernelspecs"])) == (KERNEL, [KERNEL])

        ui_cells = open_notebook(page, server, f"{STUDENT_LAB}/{STUDENT_LAB}.ipynb")
        expect(ui_cells).to_have_count(len(release.cells))
        expect(page.locator(".jp-KernelName").first).to_have_text(KERNEL_DISPLAY_NAME,
                                                                  timeout=KERNEL_START_MS)
        validate = page.get_by_role("button", name="Validate")
        expect(validate).to_be_visible()
        assert instructor_parts_shown(page) == []
        sidebar = page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
            "tabs => tabs.map(tab => tab.title.split(' (')[0])")
        assert "File Browser" in sidebar and "Extension Manager" not in sidebar, sidebar
        page_config = json.loads(page.locator("#jupyter-config-data").text_content())
        assert page_config["news"] == {"disabled": True}

        run_cell(page, ui_cells.nth(setup), timeout=KERNEL_START_MS)
        assert cell_output(ui_cells.nth(setup)).startswith("torch 2.14.1")

        # The exercise as released: its test shows the expected failure.
        run_cell(page, ui_cells.nth(answer))
        run_cell(page, ui_cells.nth(test))
        expect(errors_in(ui_cells.nth(test))).to_contain_text("NotImplementedError")

        # Fill in the answer (the worked solution's), run it and its test: the test passes.
        ui_cells.nth(answer).locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(answer_of(solved[cells.grade_id(release.cells[answer])]))
        run_cell(page, ui_cells.nth(answer))
        run_cell(page, ui_cells.nth(test))
        expect(errors_in(ui_cells.nth(test))).to_have_count(0)
        assert cell_output(ui_cells.nth(test)).strip() == \
            stdout_of(solved[cells.grade_id(release.cells[test])]).strip()

        # The lab's first plot (a cell the worked solution shows with a plot) draws inline.
        plot = next(i for i in range(test + 1, len(solution.cells)) if plots_in(solution.cells[i]))
        run_cell(page, ui_cells.nth(plot))
        expect(errors_in(ui_cells.nth(plot))).to_have_count(0)
        expect(ui_cells.nth(plot).locator(".jp-OutputArea-output img")).to_have_count(
            len(plots_in(solution.cells[plot])))

        # Save, press Validate: it lists exactly the tests of the exercises not yet done.
        page.keyboard.press("Control+s")
        expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0)
        validate.click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Validation Results", timeout=VALIDATE_MS)
        result = dialog.inner_text()
        failed = [words(part) for part in result.split("The following cell failed:")[1:]]
        assert len(failed) == len(tests) - 1
        for i in tests:      # each failure shows the test cell's source, then its traceback
            assert any(part.startswith(words(release.cells[i].source)) for part in failed) \
                == (i != test), release.cells[i].source
        assert all("NotImplementedError" in part for part in failed)
        page.keyboard.press("Escape")

    saved = nbformat.read(labs / STUDENT_LAB / f"{STUDENT_LAB}.ipynb", as_version=4)
    assert "raise NotImplementedError" not in saved.cells[answer].source
    assert saved.metadata.kernelspec.name == KERNEL


# --- an instructor ----------------------------------------------------------------------------

GRADED_LAB = "01_pruning"
WRITTEN_ANSWER = "local_vs_global_answer"
STUDENT_ANSWER = "Global pruning takes most from the large layers, where most weights are small."


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A scratch course with one collected, autograded submission of lab 01: the release with a
    written answer, saved from the student's JupyterLab (its code cells score 0; the answer waits
    for a grader)."""
    tmp = tmp_path_factory.mktemp("formgrader")
    scratch = scratch_course(tmp / "course", [GRADED_LAB])
    scratch.release([GRADED_LAB])
    notebook = nbformat.read(scratch.release_notebook(GRADED_LAB), as_version=4)
    for cell in notebook.cells:
        if cells.grade_id(cell) == WRITTEN_ANSWER:
            cell.source = STUDENT_ANSWER
    notebook.metadata.kernelspec = {"name": KERNEL, "display_name": KERNEL_DISPLAY_NAME,
                                    "language": "python"}   # as JupyterLab saves it (make lab)
    (tmp / "inbox" / "alice").mkdir(parents=True)
    nbformat.write(notebook, tmp / "inbox" / "alice" / f"{GRADED_LAB}.ipynb")
    assert collect.collect_folder(tmp / "inbox", GRADED_LAB, course=scratch).collected == ["alice"]
    [outcome] = autograde([GRADED_LAB], course=scratch)
    assert outcome.status == "graded", outcome
    return scratch


def wait_for_formgrader_page(page, path):
    """Wait until formgrader's frame has loaded ``/formgrader/<path>`` (a regular expression)."""
    frame = page.frame(url=re.compile("/formgrader"))
    frame.wait_for_url(re.compile(f"/formgrader/{path}/?$"))
    frame.wait_for_load_state()


def written_answer_row(scratch):
    [row] = [row for row in exercise_summary(scratch) if row.grade_id == WRITTEN_ANSWER]
    return row


@pytest.mark.notebooks
@pytest.mark.needs("chromium")
@pytest.mark.needs("bubblewrap")
def test_instructor_scores_a_written_answer_in_formgrader_and_exports_it(page, tmp_path,
                                                                         graded_course):
    from playwright.sync_api import expect

    before = written_answer_row(graded_course)
    assert (before.needs_manual_grading, before.mean_score) == (1, None)

    with jupyter("formgrader", tmp_path, COURSE=graded_course.root) as server:
        assert server.get("/formgrader")[0] == 200
        page.goto(server.page("/lab"))
        page.get_by_role("menuitem", name="Nbgrader").click()
        page.get_by_role("menuitem", name="Formgrader").click()
        assert instructor_parts_shown(page) == ["Nbgrader menu", *INSTRUCTOR_EXTENSIONS]

        page.locator("iframe").wait_for()
        formgrader = page.frame_locator("iframe")
        formgrader.get_by_role("link", name="Manual Grading").first.click()
        wait_for_formgrader_page(page, "gradebook")
        table = formgrader.locator("#main-table")
        table.get_by_role("link", name=GRADED_LAB).click()                 # the lab
        wait_for_formgrader_page(page, f"gradebook/{GRADED_LAB}")
        table.get_by_role("link", name=GRADED_LAB).click()                 # its notebook
        wait_for_formgrader_page(page, f"gradebook/{GRADED_LAB}/{GRADED_LAB}")
        table.get_by_role("link", name="Submission #1").wait_for()      # names hidden at first
        formgrader.get_by_role("button", name="Show All Names").click()
        table.get_by_role("link", name="alice").click()
        wait_for_formgrader_page(page, "submissions/[0-9a-f]+")

        panel = formgrader.locator(".nbgrader_cell", has=formgrader.locator(f"#{WRITTEN_ANSWER}"))
        expect(panel).to_contain_text(STUDENT_ANSWER)
        score = formgrader.locator(f"#{WRITTEN_ANSWER}")
        score.fill("0.5")
        score.press("Tab")                  # formgrader saves a score when it loses the focus
        deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
        while (row := written_answer_row(graded_course)).needs_manual_grading:
            assert time.monotonic() < deadline, "formgrader did not save the score"
            time.sleep(0.3)

    assert (row.mean_score, row.max_points, row.wrong, row.needs_manual_grading) == (0.5, 1, 1, 0)
    assert f"{WRITTEN_ANSWER}" in format_summary([row]) and "0.50" in format_summary([row])
    with open(export_grades(tmp_path / "grades.csv", graded_course), newline="") as file:
        [grades] = list(csv.DictReader(file))
    assert (grades["student_id"], grades["assignment"], float(grades["score"])) == \
        ("alice", GRADED_LAB, 0.5)


# --- a self-learner ---------------------------------------------------------------------------

READ_LAB = "01_pruning"


@pytest.mark.notebooks
@pytest.mark.needs("chromium")
def test_self_learner_reads_a_worked_solution_with_its_plots(page, tmp_path):
    from playwright.sync_api import expect

    folder = tmp_path / "solutions"
    shutil.copytree(REPO / "solutions" / READ_LAB, folder / READ_LAB)
    path = folder / READ_LAB / f"{READ_LAB}.ipynb"
    committed = path.read_bytes()
    notebook = nbformat.reads(committed.decode(), as_version=4)
    plots = [png for cell in notebook.cells for png in plots_in(cell)]
    assert plots, f"{READ_LAB} has no committed plot"

    with jupyter("lab", tmp_path, LAB_DIR=folder) as server:
        open_notebook(page, server, f"{READ_LAB}/{READ_LAB}.ipynb")
        images = page.locator(".jp-OutputArea-output img")
        expect(images).to_have_count(len(plots))
        for i in range(len(plots)):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            expect(image).to_be_visible()
            width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            box = image.bounding_box()
            assert width > 200 and height > 100 and box["width"] > 200, (i, width, height, box)
            assert image.get_attribute("src").replace("\n", "").endswith(
                plots[i].replace("\n", "")[-64:])
        # nothing was run: every code cell keeps its committed execution count
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").evaluate_all(
            "prompts => prompts.map(p => p.textContent)")
        counts = [f"[{c.execution_count}]:" if c.execution_count else "[ ]:"
                  for c in notebook.cells if c.cell_type == "code"]
        assert [p.strip() for p in prompts] == counts
    assert path.read_bytes() == committed, "reading the solution changed the notebook on disk"
