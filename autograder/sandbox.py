"""The sandbox every graded kernel runs in: bubblewrap namespaces, caps, no network.

:class:`SandboxedKernelManager` is the kernel manager of
:class:`autograder.execution.GuardedExecute` (``nbgrader autograde``). It starts the kernel
through bubblewrap (``bwrap``, Debian package ``bubblewrap``), so a submission runs in its own
mount, PID, network, IPC and UTS namespaces.

What the kernel sees (nothing else of the instructor's machine exists inside):

* read-only: ``/usr`` (and the ``/bin``, ``/lib`` ... links into it), the few files of ``/etc``
  programs need (:data:`ETC_ENTRIES`: no ``/etc/shadow``, no keys), ``/sys`` (CPU topology for
  torch), Python and the virtual environment (``sys.prefix``, ``sys.base_prefix``), and the kit
  code a kernel imports, at the same absolute paths (the editable install points at them):
  ``utils/``, ``data/`` and the autograder's kernel side (:data:`KERNEL_SIDE`: the integrity
  seal, the answers to the verdict process) (:func:`kit_paths`; never ``solutions/``,
  ``grading/`` or the rest of ``autograder/``);
* read-write: the submission's own folder (the kernel's working directory,
  ``grading/autograded/<student>/<lab>/``: that submission's files only), a private ``/tmp`` and
  ``HOME`` (a memory file system, gone with the kernel), and the folder of the kernel's ZMQ
  ``ipc`` sockets and connection file;
* a new ``/proc`` (its own processes only; ``/proc/sys`` and ``/proc/sysrq-trigger``
  read-only), a minimal ``/dev``;
* no capabilities (``--cap-drop ALL``, and bwrap sets ``no_new_privs``): run by root, the kernel
  is uid 0 but cannot mount, create devices or regain privileges through a setuid program;
* no network: only its own loopback, so nothing outside (the host's loopback services included)
  is reachable; the kernel talks to nbgrader over ``ipc`` sockets in the bound folder;
* an environment cleared to :attr:`SandboxedKernelManager.environment` patterns (locale, thread
  and torch settings, the autograder's variables): no tokens or secrets of the instructor's shell.

When the kernel has ended, anything in the submission's folder that is neither a file nor a
folder (a symbolic link nbgrader would write the graded notebook through, a FIFO) is removed
(:func:`remove_planted_files`).

Every process the kernel starts ends with it: the kernel is the only child of the sandbox's
PID 1 (:data:`INIT`, a shell that waits for it), and when it exits the PID namespace is torn
down, which kills every process left in it, detached (``start_new_session``) or not;
``--die-with-parent`` does the same when the kernel manager kills bwrap or nbgrader dies. (bwrap's
own PID 1 would do too, but the kernel's CPU time would then be lost to the grader's rusage.)
The kernel's parent poller (``JPY_PARENT_PID``, a pid outside the namespace; ipykernel exits
when its parent is PID 1, which it always is here) is therefore not given to the kernel, and
interrupts go as ``interrupt_request`` messages (a SIGINT to bwrap's process group would kill
the sandbox). Processes orphaned inside are not reaped before the end (they count towards the
process cap).

Caps, per submission (:class:`Caps`): memory (:attr:`SandboxedKernelManager.memory_limit`) and
processes, threads included (:attr:`SandboxedKernelManager.process_limit`), with a cgroup per
kernel, v2 where the memory and pids controllers are delegated, else v1 under this process's own
cgroups. Without writable cgroups the caps fall back to rlimits: memory per process
(``RLIMIT_DATA``; ``RLIMIT_AS`` would break importing a CUDA build of torch) and processes per
user (``RLIMIT_NPROC``, which the kernel ignores for root); a warning says so.
:meth:`SandboxedKernelManager.caps_reached` tells the grader a cap was hit (it records the reason
and stops the submission, which keeps the points earned before).

``SandboxedKernelManager.unsafe_no_sandbox = True`` starts the kernel as a plain local process
(as the instructor, with the instructor's files and network): for machines without bubblewrap,
only for trusted notebooks.
"""

import fnmatch
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from jupyter_client import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

from .course import REPO

__all__ = ["Caps", "SandboxUnavailable", "SandboxedKernelManager", "bwrap_command",
           "check_available", "find_bwrap", "kit_paths", "matplotlib_font_caches", "python_paths",
           "remove_planted_files", "INSTALL_HINT"]

GiB = 1024 ** 3
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf "
                "install bubblewrap); on macOS or Windows grade inside a Linux container or WSL; "
                "or, for trusted notebooks only, pass --unsafe-no-sandbox")
#: Top-level entries of the system bound read-only (a symbolic link is re-created as one).
SYSTEM_ENTRIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The files of /etc that the dynamic loader, Python, SSL and fonts read; not the rest of /etc.
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd",
               "group", "nsswitch.conf", "hosts", "host.conf", "alternatives", "ssl/certs",
               "ssl/openssl.cnf", "ca-certificates", "fonts", "mime.types", "matplotlibrc",
               "os-release")
HOME = "/tmp/home"
#: PID 1 of the sandbox: runs the kernel in the foreground (so SIGINT reaches it) and exits with it.
INIT = ["/bin/sh", "-c", '"$@"; exit $?', "sandbox-init"]
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


def find_bwrap(bwrap: str = "bwrap") -> str:
    """The path of the ``bwrap`` executable, or :class:`SandboxUnavailable` saying what to
    install."""
    path = shutil.which(bwrap)
    if path is None:
        raise SandboxUnavailable(f"the autograder runs every submission in a bubblewrap sandbox, "
                                 f"and {bwrap!r} was not found: {INSTALL_HINT}")
    return path


def check_available(bwrap: str = "bwrap") -> str:
    """Start a trivial sandbox like a kernel's; raises :class:`SandboxUnavailable` with bwrap's
    own message when it cannot (missing, or namespaces not permitted, e.g. in an unprivileged
    container)."""
    path = find_bwrap(bwrap)
    command = [path, *system_arguments(), "--unshare-pid", "--unshare-net", "--unshare-ipc",
               "--die-with-parent", "true"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip()
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here ({message}); run as "
                                 f"root or allow user namespaces: {INSTALL_HINT}")
    return path


#: The autograder's modules a kernel runs: the integrity seal, and the answering end of the
#: verdict process (autograder.answers, which encodes with autograder.plain).
KERNEL_SIDE = ("__init__.py", "integrity.py", "answers.py", "plain.py")


def kit_paths(repo: Path = REPO) -> list[Path]:
    """The kit code and data a kernel imports or reads, bound read-only at the same path."""
    repo = Path(repo)
    return [repo / "utils", repo / "data"] + [repo / "autograder" / name for name in KERNEL_SIDE]


def python_paths() -> list[Path]:
    """Python's installation and the virtual environment (bound read-only where not already
    under a system entry)."""
    paths = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                         Path(sys.executable).parent)}
    return sorted(p for p in paths
                  if not any(p.is_relative_to(entry) for entry in SYSTEM_ENTRIES)
                  and not any(p != q and p.is_relative_to(q) for q in paths))


def system_arguments() -> list[str]:
    """bwrap arguments for the read-only system: ``/usr`` and its links, some of /etc,
    ``/sys``, a new ``/proc`` and ``/dev``, an empty private ``/tmp``."""
    args = []
    for entry in SYSTEM_ENTRIES:
        if os.path.islink(entry):
            args += ["--symlink", os.readlink(entry), entry]
        elif os.path.isdir(entry):
            args += ["--ro-bind", entry, entry]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # Root without capabilities still owns /proc/sys and /proc/sysrq-trigger (writing 'b' to
    # the latter reboots the machine): read-only, as /sys.
    return args + ["--ro-bind", "/sys", "/sys", "--proc", "/proc", "--ro-bind", "/proc/sys",
                   "/proc/sys", "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger",
                   "--dev", "/dev", "--tmpfs", "/tmp"]


def remove_planted_files(folder: str | Path) -> list[str]:
    """Remove what a submission may leave in its folder for nbgrader to trip on once the kernel
    is gone: symbolic links (nbgrader would write the graded notebook *through* one, onto any
    file the instructor can write, or read a solution through one into the feedback) and FIFOs,
    sockets or devices (reading one blocks). Returns the paths removed, relative to ``folder``."""
    removed = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                os.unlink(path)
                removed.append(os.path.relpath(path, folder))
        dirs[:] = [d for d in dirs if os.path.lexists(os.path.join(root, d))]
    return sorted(removed)


def matplotlib_font_caches() -> list[Path]:
    """The instructor's matplotlib font list(s): bound read-only into the sandbox's HOME, so
    each kernel does not rebuild the list (seconds, and a warning on stderr)."""
    folder = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    return sorted(Path(folder).glob("fontlist-*.json"))


def bwrap_command(kernel_cmd: list[str], *, workdir: str, private: str, environment: dict,
                  bwrap: str = "bwrap", read_only: Iterable[str | os.PathLike[str]] = (),
                  tmp_size: int | None = None) -> list[str]:
    """The command that runs ``kernel_cmd`` sandboxed (see the module docstring).

    workdir      the submission's folder: writable, the working directory
    private      the folder of the connection file and ipc sockets: writable
    environment  the kernel's whole environment (bwrap clears the inherited one)
    read_only    more paths bound read-only at the same place (the kit, Python)
    tmp_size     bytes of the private /tmp (HOME is in it); None: the memory cap bounds it
    """
    workdir, private = os.path.realpath(workdir), os.path.realpath(private)
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--as-pid-1",
            "--cap-drop", "ALL", "--hostname", "sandbox"]
    system = system_arguments()
    if tmp_size:
        at = system.index("/tmp") - 1          # "--tmpfs", "/tmp"
        system[at:at] = ["--size", str(int(tmp_size))]
    args += system
    for path in read_only:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--dir", HOME]
    for cache in matplotlib_font_caches():
        args += ["--ro-bind", str(cache), f"{HOME}/.cache/matplotlib/{cache.name}"]
    args += ["--bind", private, private, "--bind", workdir, workdir, "--chdir", workdir,
             "--clearenv"]
    for name, value in sorted(environment.items()):
        args += ["--setenv", name, value]
    return args + ["--", *INIT, *kernel_cmd]


class Caps:
    """Memory and process caps for one kernel: a cgroup per kernel where cgroups are writable,
    else rlimits set by the launcher (see :meth:`launcher`)."""

    def __init__(self, name: str, memory_bytes: int, processes: int):
        self.name, self.memory_bytes, self.processes = name, int(memory_bytes), int(processes)
        self.groups: dict[str, Path] = {}   # controller ("memory", "pids") -> cgroup folder
        self.kill_files: list[Path] = []    # v2 cgroup.kill files

    # -- finding and creating cgroups ----------------------------------------------------------
    @staticmethod
    def _own_groups():
        """{controller or "": path of this process's cgroup}, from /proc/self/cgroup."""
        groups = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                groups[controller.removeprefix("name=")] = path
        return groups

    def create(self):
        """Create the per-kernel cgroups that can be made here; returns self."""
        own = self._own_groups()
        for controller in ("memory", "pids"):
            folder = (self._make_v2(own.get(""), controller)
                      or self._make_v1(own.get(controller), controller))
            if folder:
                self.groups[controller] = folder
                self._limit(controller, folder)
        return self

    def _make_v2(self, own, controller):
        for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            parent = Path(root + (own or "/"))
            try:
                if controller not in (parent / "cgroup.subtree_control").read_text().split():
                    continue
                folder = parent / f"autograder-{self.name}"
                folder.mkdir(exist_ok=True)
                if (folder / "cgroup.kill").exists():
                    self.kill_files.append(folder / "cgroup.kill")
                return folder
            except OSError:
                continue
        return None

    def _make_v1(self, own, controller):
        if own is None:
            return None
        folder = Path(f"/sys/fs/cgroup/{controller}{own.rstrip('/')}/autograder-{self.name}")
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            return None
        return folder

    def _limit(self, controller, folder):
        settings = ({"memory.max": self.memory_bytes, "memory.swap.max": 0,
                     "memory.limit_in_bytes": self.memory_bytes,
                     "memory.memsw.limit_in_bytes": self.memory_bytes}
                    if controller == "memory" else {"pids.max": self.processes})
        for name, value in settings.items():
            if (folder / name).exists():
                (folder / name).write_text(str(value))

    # -- starting the kernel in them -------------------------------------------------------------
    def launcher(self):
        """A ``/bin/sh`` prefix that moves itself into the cgroups (or sets the rlimits a
        missing cgroup would have set), then execs the rest of the command."""
        steps = [f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}"
                 for folder in self.groups.values()]
        if "memory" not in self.groups:
            steps.append(f"ulimit -d {self.memory_bytes // 1024}")
        if "pids" not in self.groups:
            steps.append(f"ulimit -u {self.processes}")
        return ["/bin/sh", "-c", " && ".join(steps + ['exec "$@"']), "autograder-sandbox"]

    def fallbacks(self):
        """What is capped by rlimits instead of a cgroup (for a warning)."""
        return [c for c in ("memory", "pids") if c not in self.groups]

    # -- after each cell, and at the end -------------------------------------------------------
    def reached(self):
        """A phrase per cap the kernel's cgroups report as hit (memory: a process was killed
        for it; processes: a fork or thread was refused)."""
        reasons = []
        memory, pids = self.groups.get("memory"), self.groups.get("pids")
        if memory and (_counter(memory / "memory.events", "oom_kill")
                       or _counter(memory / "memory.oom_control", "oom_kill")):
            reasons.append(f"the memory cap of {self.memory_bytes / GiB:g} GiB")
        if pids and _counter(pids / "pids.events", "max"):
            reasons.append(f"the cap of {self.processes} processes and threads")
        return reasons

    def remove(self):
        """Kill whatever is left in the cgroups and remove them."""
        for kill in self.kill_files:
            try:
                kill.write_text("1")
            except OSError:
                pass
        for folder in self.groups.values():
            for _ in range(100):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:       # busy until the killed processes are reaped
                    time.sleep(0.02)
        self.groups, self.kill_files = {}, []


def _children(pid):
    """Host pids of the children of process ``pid`` ([] when it is gone)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _counter(path, key):
    """The number after ``key`` in a cgroup ``key value`` file (0 if absent)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel in a bubblewrap sandbox with caps (see the module
    docstring for what the kernel sees)."""

    unsafe_no_sandbox = Bool(False, help="UNSAFE: start the kernel unsandboxed, as the "
                             "instructor, seeing every file and the network (only for trusted "
                             "notebooks on a machine without bubblewrap)").tag(config=True)
    bwrap = Unicode("bwrap", help="the bubblewrap executable").tag(config=True)
    memory_limit = Integer(4 * GiB, help="bytes of memory a submission's processes may use "
                           "together (the private /tmp counts)").tag(config=True)
    process_limit = Integer(512, help="processes and threads a submission may run at once "
                            "(torch's thread pools count)").tag(config=True)
    read_only_paths = List(Unicode(), help="more paths the kernel sees read-only, at the same "
                           "place (default: none beyond the kit code, data and Python)"
                           ).tag(config=True)
    environment = List(Unicode(), [
        "LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "OMP_*", "MKL_*", "KMP_*", "OPENBLAS_*",
        # the CPU-class caps (utils.cpu.EMULATION_VARIABLES): grade as a student's CPU would
        "ATEN_*", "ONEDNN_*", "DNNL_*", "FBGEMM_*",
        "TORCH_*", "PYTORCH_*", "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONWARNINGS", "AUTOGRADER_*",
        "JPY_SESSION_NAME"],
        help="patterns (fnmatch) of the environment variables the kernel keeps; PATH, HOME and "
             "TMPDIR are set for the sandbox").tag(config=True)

    _caps = None
    _private: str | None = None      # made by _async_pre_start_kernel
    _workdir = None
    _caps_seen = ()

    # -- start ------------------------------------------------------------------------------------
    async def _async_pre_start_kernel(self, **kw):
        if not self.unsafe_no_sandbox:
            find_bwrap(self.bwrap)
            self._private = tempfile.mkdtemp(prefix="autograder-kernel-")
            self.transport = "ipc"
            self.connection_file = os.path.join(self._private, "kernel.json")
            self.ip = os.path.join(self._private, "ipc")
            assert self.kernel_spec is not None   # jupyter_client found it before this step
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.unsafe_no_sandbox:
            self.log.warning("UNSAFE: the kernel runs unsandboxed, with the instructor's files, "
                             "processes and network (--unsafe-no-sandbox)")
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        workdir = kw.get("cwd")
        if not workdir:
            raise ValueError("cwd: the sandbox needs the submission's folder as the kernel's "
                             "working directory, got none")
        self._workdir = workdir
        private = self._private
        assert private is not None   # made by _async_pre_start_kernel
        name = os.path.basename(private).removeprefix("autograder-")
        self._caps = Caps(name, self.memory_limit, self.process_limit).create()
        if self._caps.fallbacks():
            self.log.warning("no writable cgroup for %s: capped by rlimits instead (per "
                             "process; the process cap does not apply to root)",
                             " and ".join(self._caps.fallbacks()))
        command = self._caps.launcher() + bwrap_command(
            kernel_cmd, workdir=workdir, private=private,
            environment=self.kernel_environment(kw.get("env") or os.environ),
            bwrap=find_bwrap(self.bwrap),
            read_only=[*kit_paths(), *python_paths(), *self.read_only_paths],
            tmp_size=self.memory_limit)
        return await super()._async_launch_kernel(command, **kw)

    def kernel_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The kernel's variables: those matching :attr:`environment`, and the sandbox's PATH,
        HOME and TMPDIR."""
        kept = {name: value for name, value in env.items()
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.environment)}
        bin_folder = os.path.dirname(sys.executable)
        return {**kept, "PATH": f"{bin_folder}:{SANDBOX_PATH}", "HOME": HOME, "TMPDIR": "/tmp"}

    # -- while grading ----------------------------------------------------------------------------
    def caps_reached(self):
        """Caps hit since the last call, as phrases (``[]`` when none, or unsandboxed)."""
        reached = self._caps.reached() if self._caps else []
        new = [reason for reason in reached if reason not in self._caps_seen]
        self._caps_seen = tuple(reached)
        return new

    # -- end --------------------------------------------------------------------------------------
    async def _async_send_kernel_sigterm(self, restart=False):
        """SIGTERM to the kernel itself (ipykernel may take a few seconds to honour a shutdown
        request), as without the sandbox: to bwrap it would end the sandbox before bwrap waited
        for its child, and the kernel's CPU time would be missing from the grader's rusage."""
        process = getattr(self.provisioner, "process", None)
        kernels = [pid for init in _children(process.pid) for pid in _children(init)] \
            if process is not None and not self.unsafe_no_sandbox else []
        if not kernels:
            return await super()._async_send_kernel_sigterm(restart=restart)
        for pid in kernels:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._caps is not None:
            self._caps.remove()
            self._caps = None
        if self._workdir and not restart:     # every process of the kernel has ended
            planted = remove_planted_files(self._workdir)
            if planted:
                self.log.warning("removed what the submission left in its folder that is not "
                                 "a file or folder: %s", ", ".join(planted))
            self._workdir = None
        if self._private and not restart:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    cleanup_resources = _async_cleanup_resources
