"""Each submission runs isolated (autograder/sandbox.py): submissions built to escape it.

Lab 00's solution with one attack prepended to an answer cell, graded together (jobs=2) in one
scratch course under small caps: each must get exactly the points it earned, and the class's other
grades must stay as they are. The command builder and the refusal to grade unsandboxed are
checked without notebooks.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder import autograde, gradebook, sandbox
from autograder.__main__ import main, parser
from autograder.course import REPO, Course
from autograder.scratch import scratch_course, submit
from test_autograde import CELL_TIMEOUT, FULL_MARKS, LAB, Case, build, prepend

GiB = 1024 ** 3
MEMORY_LIMIT = 2 * GiB        # lab 00's kernel needs about 0.5 GiB
PROCESS_LIMIT = 64            # lab 00's kernel runs about 15 threads
MARKER = f"sandbox-test-{uuid.uuid4().hex[:12]}"     # in the command line of every process spawned
NOTEBOOKS = pytest.mark.notebooks
CANARY = "a file of the instructor's, outside the submission's folder"


# -- the attacks -----------------------------------------------------------------------------------
SNOOP = """import errno as _errno, os as _os
def _probe(_what, _path, _flags=_os.O_RDONLY):
    try:
        _os.close(_os.open(_path, _flags))
        print("PROBE", _what, _path, "OPEN")
    except OSError as _e:
        print("PROBE", _what, _path, _errno.errorcode[_e.errno])
for _path in {readable!r}:
    _probe("read", _path)
for _path in {writable!r}:
    _probe("write", _path, _os.O_WRONLY)
for _folder in {listed!r}:
    print("PROBE list", _folder, sorted(_os.listdir(_folder)) if _os.path.isdir(_folder) else None)
print("PROBE", [_line for _line in open("/proc/self/status") if _line.startswith("CapEff")][0])
# Leave nbgrader a link: it writes the graded notebook through it, onto <course>/canary.txt.
_os.remove("{notebook}")
_os.symlink("../../../../canary.txt", "{notebook}")
_os.mkfifo("planted_fifo")"""

# Outlive the kernel, then give the whole class full marks (the attack).
WRITER = """import sqlite3, sys, time
for _ in range(240):
    time.sleep(0.5)
    try:
        with sqlite3.connect("file:{db}?mode=rw", uri=True) as db:
            db.execute("UPDATE grade SET manual_score = (SELECT max_score FROM grade_cells "
                       "WHERE grade_cells.id = grade.cell_id)")
    except sqlite3.Error:
        pass"""
DETACHED = """import subprocess, sys
subprocess.Popen([sys.executable, "-c", {writer!r}, {marker!r}], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)"""

CONNECT = """import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("PROBE connect CONNECTED")
except OSError as _e:
    print("PROBE connect", type(_e).__name__)"""

MEMORY_HOG = f"_hog = b'x' * {3 * GiB}"

FORK_BOMB = f"""import subprocess
_children = []
try:
    for _ in range({3 * PROCESS_LIMIT}):
        _children.append(subprocess.Popen([{MARKER!r}, "600"], executable="/bin/sleep"))
except OSError as _e:
    print("refused after", len(_children), "processes:", type(_e).__name__)"""


def probe_paths(lab_course):
    """What the snooping submission tries:
    {"readable": [...], "writable": [...], "listed": [...]}."""
    grading = Path(lab_course) / "grading"
    return {
        "notebook": f"{LAB}.ipynb",
        "readable": [str(Path(lab_course) / "solutions" / LAB / f"{LAB}.ipynb"),
                     str(REPO / "solutions" / LAB / f"{LAB}.ipynb"),
                     str(grading / "gradebook.db"),
                     str(grading / "submitted" / "solution" / LAB / f"{LAB}.ipynb"),
                     str(REPO / "autograder" / "autograde.py"),
                     "/etc/shadow"],
        "writable": [str(REPO / "utils" / "__init__.py"),
                     str(REPO / "autograder" / "integrity.py"),
                     "/proc/sys/vm/swappiness"],
        "listed": [str(grading / "autograded"), str(Path.home())],
    }


def cases(lab_course, port):
    paths = probe_paths(lab_course)
    db = Path(lab_course) / "grading" / "gradebook.db"
    return {
        "solution": Case(),
        "snoops": Case((prepend("pick_engine", SNOOP.format(**paths)),)),
        "detached_writer": Case((prepend("pick_engine", DETACHED.format(
            writer=WRITER.format(db=db), marker=MARKER)),)),
        "connects_to_host": Case((prepend("pick_engine", CONNECT.format(port=port)),)),
        "memory_hog": Case((prepend("width_speedup", MEMORY_HOG),), score=6,
                           wrong=("test_width_speedup",), stopped="memory cap of 2 GiB"),
        "fork_bomb": Case((prepend("width_speedup", FORK_BOMB),), score=6,
                          wrong=("test_width_speedup",),
                          stopped=f"cap of {PROCESS_LIMIT} processes"),
    }


# -- helpers ---------------------------------------------------------------------------------------
def survivors(marker=MARKER):
    """Pids of running processes with ``marker`` in their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def probes(lab_course, student):
    """The ``PROBE ...`` lines the submission printed, from its graded notebook."""
    path = Path(lab_course, "grading", "autograded", student, LAB, f"{LAB}.ipynb")
    text = "".join(out.get("text", "") for cell in nbformat.read(path, as_version=4).cells
                   for out in cell.get("outputs", []))
    return [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("PROBE ")]


def caps_available():
    caps = sandbox.Caps(f"probe-{uuid.uuid4().hex[:8]}", GiB, 10).create()
    try:
        return not caps.fallbacks()
    finally:
        caps.remove()


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the host's loopback; records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@pytest.fixture(scope="module")
def lab_course(tmp_path_factory):
    course = scratch_course(tmp_path_factory.mktemp("course"), [LAB])
    course.release([LAB])
    (course.path / "canary.txt").write_text(CANARY)
    return course


@pytest.fixture(scope="module")
def graded(lab_course, listener):
    """Every attack graded side by side; returns ({student: Outcome}, gradebook snapshot right
    after grading)."""
    if not caps_available():
        pytest.skip("no writable cgroup for the memory and process caps on this machine")
    built = cases(lab_course, listener[0])
    for name, case in built.items():
        submit(lab_course, LAB, name, build(lab_course, name, case))
    outcomes = autograde.autograde(
        [LAB], course=lab_course, jobs=2, timeout=CELL_TIMEOUT,
        nbgrader_options=[f"--SandboxedKernelManager.memory_limit={MEMORY_LIMIT}",
                          f"--SandboxedKernelManager.process_limit={PROCESS_LIMIT}"])
    return {o.student: o for o in outcomes}, gradebook.snapshot(lab_course.gradebook_path)


# -- graded attacks --------------------------------------------------------------------------------
@NOTEBOOKS
@pytest.mark.parametrize("name", ["solution", "snoops", "detached_writer", "connects_to_host",
                                  "memory_hog", "fork_bomb"])
@pytest.mark.needs("bubblewrap")
def test_each_attack_gets_exactly_the_points_it_earned(graded, lab_course, listener, name):
    outcome, case = graded[0][name], cases(lab_course, listener[0])[name]
    assert outcome.status == "graded", outcome.status
    assert outcome.max_score == FULL_MARKS
    assert outcome.score == case.score, outcome.scores
    assert sorted(g for g, (s, _) in outcome.scores.items() if s == 0) == sorted(case.wrong)
    if case.stopped:
        assert case.stopped in (outcome.stopped or ""), outcome.stopped
        report = json.loads(autograde.report_path(lab_course, LAB, name).read_text())
        assert report["stopped"] == outcome.stopped
    else:
        assert outcome.stopped is None, outcome.stopped


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_a_submission_sees_neither_solutions_nor_grading_nor_home(graded, lab_course):
    lines = probes(lab_course, "snoops")
    paths = probe_paths(lab_course)
    for path in paths["readable"]:
        assert f"read {path} ENOENT" in lines, lines
    for path in paths["writable"]:
        assert f"write {path} EROFS" in lines, lines
    autograded, home = paths["listed"]
    assert f"list {autograded} ['snoops']" in lines, "only its own folder of grading/"
    assert "CapEff:\t0000000000000000" in lines, "no capabilities, even when graded by root"
    python_in_home = sorted({p.relative_to(Path.home()).parts[0] for p in sandbox.python_paths()
                             if p.is_relative_to(Path.home())})
    seen = next(line for line in lines if line.startswith(f"list {home} "))
    assert seen in (f"list {home} {python_in_home}", f"list {home} None"), seen


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_links_left_in_its_folder_are_removed_before_nbgrader_writes(graded, lab_course):
    folder = Path(lab_course, "grading", "autograded", "snoops", LAB)
    assert (lab_course.path / "canary.txt").read_text() == CANARY
    assert not (folder / f"{LAB}.ipynb").is_symlink()
    assert nbformat.read(folder / f"{LAB}.ipynb", as_version=4).cells, "the graded notebook"
    assert not os.path.lexists(folder / "planted_fifo")


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_the_probes_can_see_through_an_unsandboxed_kernel(graded, lab_course, tmp_path):
    """The same snooping submission graded with --unsafe-no-sandbox reads the gradebook, and
    nbgrader writes through its link: the checks above would catch a sandbox that let either
    through."""
    unsafe = Course(shutil.copytree(lab_course, tmp_path / "unsafe", ignore=shutil.ignore_patterns(
        "autograded", "reports", "backups")))
    for folder in unsafe.submitted_folder.iterdir():
        if folder.name != "snoops":
            shutil.rmtree(folder)
    autograde.autograde([LAB], ["snoops"], course=unsafe, timeout=CELL_TIMEOUT,
                        unsafe_no_sandbox=True, force=True)   # the copied gradebook has it
    lines = probes(unsafe, "snoops")
    assert f"read {lab_course.gradebook_path} OPEN" in lines, lines
    assert (unsafe.path / "canary.txt").read_text() != CANARY, "nbgrader wrote through the link"


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_no_process_outlives_its_submission_and_the_gradebook_stays(graded, lab_course):
    time.sleep(3)           # the detached writer retries every 0.5 s while it lives
    assert survivors() == []
    assert gradebook.snapshot(lab_course.gradebook_path) == graded[1]
    assert graded[0]["solution"].score == FULL_MARKS


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_the_host_loopback_is_out_of_reach(graded, lab_course, listener):
    assert probes(lab_course, "connects_to_host") == ["connect ConnectionRefusedError"]
    assert listener[1] == [], "the sandbox reached a server on the host's loopback"


@NOTEBOOKS
@pytest.mark.needs("bubblewrap")
def test_hitting_a_cap_is_recorded_and_the_cells_before_keep_their_points(graded):
    for name, cap in (("memory_hog", "memory cap"), ("fork_bomb", "processes and threads")):
        outcome = graded[0][name]
        assert cap in outcome.stopped
        assert {g: s for g, (s, _) in outcome.scores.items() if s} == {
            "test_pick_engine": 1, "test_count_parameters": 1, "test_state_dict_bytes": 1,
            "test_macs": 2, "test_median_ratio": 1}


# -- without notebooks --------------------------------------------------------------------------
def test_survivor_scan_finds_a_marked_process():
    marker = f"sandbox-test-{uuid.uuid4().hex[:12]}"
    process = subprocess.Popen([marker, "30"], executable="/bin/sleep")
    try:
        for _ in range(100):         # Popen may return before the exec
            if survivors(marker):
                break
            time.sleep(0.05)
        assert survivors(marker) == [process.pid]
    finally:
        process.kill()
        process.wait()
    assert survivors(marker) == []


def test_the_command_isolates_the_kernel(tmp_path):
    work, private = tmp_path / "work", tmp_path / "private"
    command = sandbox.bwrap_command(
        ["python", "-m", "ipykernel_launcher"], workdir=work, private=private,
        environment={"AUTOGRADER_STUDENT": "alice"}, read_only=sandbox.kit_paths(),
        tmp_size=GiB)
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent",
                 "--new-session", "--clearenv"):
        assert flag in command
    assert command[command.index("--cap-drop") + 1] == "ALL"
    pairs = {(command[i], command[i + 1], command[i + 2]) for i in range(len(command) - 2)}
    assert ("--bind", str(work), str(work)) in pairs
    assert ("--bind", str(private), str(private)) in pairs
    assert ("--setenv", "AUTOGRADER_STUDENT", "alice") in pairs
    assert ("--ro-bind", "/proc/sys", "/proc/sys") in pairs
    assert command[command.index("--tmpfs") - 2:command.index("--tmpfs")] == ["--size", str(GiB)]
    assert command[-8:] == ["--", *sandbox.INIT, "python", "-m", "ipykernel_launcher"]
    bound = {command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")}
    repo = str(REPO)
    visible = {p for p in bound if p.startswith(repo)}
    assert visible == {f"{repo}/utils", f"{repo}/data", f"{repo}/autograder/__init__.py",
                       f"{repo}/autograder/integrity.py", f"{repo}/autograder/answers.py",
                       f"{repo}/autograder/plain.py"}
    assert "/etc" not in bound and "/etc/shadow" not in command
    in_home = {Path(p) for p in bound if Path(p).is_relative_to(Path.home())}
    fonts = set(sandbox.matplotlib_font_caches())         # matplotlib's font list, read-only
    assert all(any(p.is_relative_to(q) for q in sandbox.python_paths()) for p in in_home - fonts)


def test_the_kernel_keeps_only_harmless_environment_variables():
    env = sandbox.SandboxedKernelManager().kernel_environment(
        {"AUTOGRADER_STUDENT": "alice", "OMP_WAIT_POLICY": "PASSIVE", "AWS_SECRET_ACCESS_KEY": "k",
         "GITHUB_TOKEN": "t", "JPY_PARENT_PID": "1", "HOME": "/root", "LANG": "C.UTF-8"})
    assert env == {"AUTOGRADER_STUDENT": "alice", "OMP_WAIT_POLICY": "PASSIVE", "LANG": "C.UTF-8",
                   "HOME": sandbox.HOME, "TMPDIR": "/tmp",
                   "PATH": f"{Path(sys.executable).parent}:{sandbox.SANDBOX_PATH}"}


def test_without_cgroups_the_launcher_sets_rlimits():
    caps = sandbox.Caps("unused", 3 * GiB, 100)
    script = caps.launcher()[2]
    assert f"ulimit -d {3 * GiB // 1024}" in script and "ulimit -u 100" in script
    assert script.endswith('exec "$@"')


def test_autograde_refuses_to_run_unsandboxed_without_the_unsafe_flag(tmp_path, monkeypatch,
                                                                      capsys):
    scratch = scratch_course(tmp_path / "course", [LAB])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))          # no bwrap anywhere
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap") as error:
        autograde.autograde([LAB], course=scratch)
    assert "--unsafe-no-sandbox" in str(error.value) and "WSL" in str(error.value)
    assert not (scratch.grading_folder / "backups").exists(), \
        "refused before touching the gradebook"
    with pytest.raises(SystemExit) as exit_:
        main(["autograde", LAB])
    assert exit_.value.code == 2 and "bubblewrap" in capsys.readouterr().err


def test_the_unsafe_flag_is_explicit_and_reaches_nbgrader():
    assert parser().parse_args(["autograde"]).unsafe_no_sandbox is False
    assert parser().parse_args(["autograde", "--unsafe-no-sandbox"]).unsafe_no_sandbox is True
    assert autograde._options(None, None, unsafe_no_sandbox=True) == [
        "--SandboxedKernelManager.unsafe_no_sandbox=True"]
    assert autograde._options(None, None) == []


def test_links_and_fifos_are_removed_from_the_folder_files_stay(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "answer.txt").write_text("kept")
    (tmp_path / "notebook.ipynb").symlink_to("/etc/passwd")
    (tmp_path / "sub" / "up").symlink_to("..")
    os.mkfifo(tmp_path / "sub" / "pipe")
    assert sandbox.remove_planted_files(tmp_path) == ["notebook.ipynb", "sub/pipe", "sub/up"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "sub", "sub/answer.txt"]
