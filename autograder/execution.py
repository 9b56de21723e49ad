"""Executing a submission so that nothing it does can hang, crash or rig the grader.

:class:`GuardedExecute` replaces nbgrader's ``Execute`` preprocessor in ``nbgrader autograde``
(see ``nbgrader_config.py``). It runs the cells one by one, as nbgrader does, and adds:

* a **per-cell timeout** (``Execute.timeout``): the cell is interrupted, gets a
  ``CellTimeoutError`` and the run goes on (nbgrader's own behaviour); a kernel that ignores the
  interrupt ends the run;
* a **wall-clock limit per submission** (``GuardedExecute.wall_clock_limit``): each cell may use
  only the time left; when it is spent the run stops;
* a **dead kernel** (``os._exit``, a segfault, out of memory) ends the run instead of losing it;
* after the run stops, every test cell not run gets an error output, so it scores 0 (nbgrader
  gives full marks to a test cell without output); the cells before keep the points they earned;
* **output capped** at ``max_output_chars`` per cell (a 100 MB print would otherwise be saved
  into the graded notebook and the feedback);
* **integrity**: :mod:`autograder.integrity` is sealed before any student code runs, the originals
  are restored before every locked cell, and a test cell during which a guarded function was
  replaced fails;
* the kernel gets ``AUTOGRADER_STUDENT`` in its environment, so hidden tests draw random cases
  from the student and the submission (``utils.grading.submission_seed``);
* the kernel's environment also gets ``kernel_environment`` (by default
  ``OMP_WAIT_POLICY=PASSIVE``) where the instructor's own environment does not set the variable:
  a two-thread torch kernel waiting at an OpenMP barrier then sleeps instead of spinning, so
  submissions graded side by side do not burn each other's cores (measured on lab 03, two
  submissions on 2 cores: 1.13x faster than one after the other with spinning, 1.89x without);
* a **sandbox**: the kernel runs in :mod:`autograder.sandbox` (no solutions, gradebook or
  network; memory and processes capped); a cell that hits a cap stops the run, which keeps the
  points earned before and records which cap;
* **verdicts outside the kernel**: in a lab whose source notebook opts in
  (:mod:`autograder.verdict`), each test cell's pass or fail is decided by the instructor's test
  run in a separate process that never runs student code; the cell's outputs become that run's;
* **scores from verdicts, not displays**: a test cell keeps no ``execute_result`` or display
  output (nbgrader reads the first one as the cell's score, and a submission can emit one with
  ``sys.displayhook``), so what a cell displays can never raise a score;
* **from-scratch rules** read from the answers' source before anything runs
  (:mod:`autograder.from_scratch`): a test cell grading an answer that names a forbidden
  reference, or a way around the rule (``exec``, ``ctypes``, dunder attributes...), scores 0;
* **demonstrations skipped**: a locked, ungraded cell the release marks
  ``metadata.autograder.skip_when_grading`` (a timing, a study over seeds that no graded cell
  builds on; :func:`autograder.cells.skip_reason`) is not run; its output says why, and the
  report lists it. The solution graded this way keeps full marks (``tests/test_autograde_labs.py``);
* a **report** per submission (``<report_directory>/<lab>/<student>.json``): why the run
  stopped, which cells timed out, what was restored, the time taken.
"""

import ast
import json
import os
from pathlib import Path
from time import monotonic

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, Unicode

from . import cells
from .from_scratch import broken_rules
from .sandbox import SandboxedKernelManager
from .structure import lab_notebook_path
from .verdict import VerdictProcess, VerdictUnavailable, opts_in

__all__ = ["STUDENT_VARIABLE", "SEAL", "INTEGRITY", "PROBE_SECONDS", "error_output", "cell_label",
           "GuardedExecute"]

# utils.grading.STUDENT_VARIABLE, which reads it (not imported: that would load torch into every
# nbgrader process; tests/test_autograde.py checks the two agree)
STUDENT_VARIABLE = "AUTOGRADER_STUDENT"
# How the autograder reaches autograder.integrity in the kernel. The seal imports it, before any
# student code runs; every later call finds its Entry class from a literal, looking up no name
# the submission could rebind in the notebook's namespace (``__import__``, ``get_ipython``).
SEAL = "__import__('autograder.integrity').integrity.Entry.seal()"
INTEGRITY = ("[c for c in ().__class__.__base__.__subclasses__() "
             "if c.__module__ == 'autograder.integrity' and c.__qualname__ == 'Entry'][0]")
PROBE_SECONDS = 10


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output as the kernel would send it (nbgrader scores a test cell with one 0)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def cell_label(cell: NotebookNode, index: int) -> str:
    """``"cell 7 (grade_id)"``: how reports and events name a cell."""
    grade_id = cells.grade_id(cell)
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with a wall-clock limit, crash recovery, an output cap,
    integrity checks and a report (see the module docstring)."""

    wall_clock_limit = Float(600.0, help="seconds one submission may run in total").tag(config=True)
    max_output_chars = Integer(100_000, help="characters of stream output kept per cell"
                               ).tag(config=True)
    report_directory = Unicode("", help="where to write <lab>/<student>.json").tag(config=True)
    kernel_environment = Dict({"OMP_WAIT_POLICY": "PASSIVE", "TORCHINDUCTOR_COMPILE_THREADS": "1"},
                              help="environment variables the kernel gets unless already set "
                              "(inductor compiles in the kernel's own thread: the integrity "
                              "checks stop every thread started after the seal)").tag(config=True)

    def __init__(self, *args, **kwargs):
        # Every kernel runs in the sandbox (autograder/sandbox.py); nbgrader's Execute would
        # otherwise set the plain AsyncKernelManager.
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        ids = (resources or {}).get("nbgrader", {})
        self.report = {"student": ids.get("student"), "lab": ids.get("assignment"),
                       "notebook": ids.get("notebook"), "stopped": None, "events": []}
        self._stream_chars = 0
        started = monotonic()
        self._deadline = started + self.wall_clock_limit
        env = {**self.kernel_environment, **os.environ, STUDENT_VARIABLE: ids.get("student") or ""}
        for problem in self.nb.metadata.get("autograder", {}).get("structure", []):
            self._event("structure", "the notebook", problem)
        self._broken_rules = self._from_scratch_rules_broken(ids)
        if self._broken_rules:
            self.report["from_scratch"] = self._broken_rules
        self._verdict = self._start_verdict(ids, {**os.environ,
                                                  STUDENT_VARIABLE: env[STUDENT_VARIABLE]})
        try:
            self._run_all(env, resources)
        finally:
            if self._verdict:
                self._verdict.close()
        self.set_widgets_metadata()
        self.report["seconds"] = round(monotonic() - started, 1)
        self._write_report()
        return self.nb, self.resources

    def _run_all(self, env, resources):
        with self.setup_kernel(env=env):
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            if self._evaluate(SEAL) is None:       # the same path as every later check
                self._stop("the kernel did not start the integrity seal")
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if self.report["stopped"]:
                    if cells.is_autograded_test(cell):
                        cell.outputs = [error_output("NotRun", self.report["stopped"])]
                    continue
                reason = cells.skip_reason(cell)
                if reason:
                    self._skip(cell, index, reason)
                    continue
                self._run_cell(cell, index, resources)

    def _skip(self, cell, index, reason):
        """An ungraded demonstration the release marks: not run, and the feedback says why."""
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text=f"Not run when grading: {reason}\n")]
        cell.execution_count = None
        self.report.setdefault("skipped", []).append(cell_label(cell, index))

    # -- one cell --------------------------------------------------------------------------
    def _run_cell(self, cell, index, resources):
        label = cell_label(cell, index)
        if self._remaining() <= 0:
            return self._stop(f"the wall-clock limit of {self.wall_clock_limit:g} s per "
                              f"submission was reached before {label}")
        locked = cells.is_locked_code(cell)
        if locked and not self._guard(label, cell, phase="before"):
            return
        limited_by_wall_clock = self._remaining() < (self.timeout or float("inf"))
        self._stream_chars = 0
        try:
            self.preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(error_output("KernelDied", "the kernel stopped while running "
                                             "this cell (os._exit, a crash or out of memory)"))
            return self._stop(f"the kernel died in {label}{self._caps_reached(': it reached ')}")
        except CellTimeoutError:   # the kernel did not even finish its output after the interrupt
            cell.outputs.append(error_output("CellTimeoutError", f"the cell ran longer than "
                                             f"{self.timeout} s and did not stop when interrupted"))
        caps = self._caps_reached(" reached ")
        if caps:
            cell.outputs.append(error_output("SandboxCapReached", f"this cell{caps}"))
            return self._stop(f"{label}{caps}")
        if any(o.output_type == "error" and o.get("ename") == "CellTimeoutError"
               for o in cell.outputs):
            if limited_by_wall_clock:
                return self._stop(f"the wall-clock limit of {self.wall_clock_limit:g} s per "
                                  f"submission was reached in {label}")
            self._event("timeout", label, f"interrupted after {self.timeout} s")
            if self._run_silently("pass", timeout=PROBE_SECONDS) is None:
                return self._stop(f"the kernel ignored the interrupt after {label} timed out")
        if locked:
            self._guard(label, cell, phase="after")
        if cells.is_autograded_test(cell):
            self._judge(cell, label)

    # -- verdicts ---------------------------------------------------------------------------------
    def _start_verdict(self, ids, environment):
        """The lab's verdict process, when its source notebook opts in (else None)."""
        source = lab_notebook_path(self.config, ids, "source")
        if source is None:
            return None
        if not opts_in(source):
            return None
        answers = {str(cells.grade_id(c)): c.source for c in self.nb.cells
                   if cells.is_answer(c) and cells.grade_id(c)}
        self.report["verdict"] = "outside the kernel"
        return VerdictProcess(source, answers, self._serve, environment)

    def _from_scratch_rules_broken(self, ids):
        """test grade_id -> why it gets 0: an answer it grades breaks its from-scratch rule
        (:mod:`autograder.from_scratch`, read from the lab's source notebook)."""
        source = lab_notebook_path(self.config, ids, "source")
        if source is None or not source.exists():
            return {}
        return broken_rules(nbformat.read(source, as_version=4).cells, self.nb.cells)

    def _judge(self, cell, label):
        """Make the test cell's outputs say what decides its score.

        Displays never count (see the module docstring). With a verdict process, the outputs are
        the trusted run's: what it printed, and its error when the test failed there. A broken
        from-scratch rule adds an error.
        """
        self._judge_outputs(cell, label)
        broken = self._broken_rules.get(cells.grade_id(cell))
        if broken:
            cell.outputs.append(error_output("FromScratchRule", broken))

    def _judge_outputs(self, cell, label):
        if self._verdict is None:
            cell.outputs = [o for o in cell.outputs
                            if o.output_type not in ("execute_result", "display_data")]
            return
        try:
            # the verdict's own work is the grader's; each call it makes into the kernel has the
            # per-cell timeout (_evaluate): the wait is bounded by the submission's time left
            verdict = self._verdict.verdict(cells.grade_id(cell), max(1.0, self._remaining()))
        except VerdictUnavailable as error:
            cell.outputs = [error_output("VerdictUnavailable", str(error))]
            self._event("verdict_unavailable", label, str(error))
            return
        cell.outputs = ([NotebookNode(output_type="stream", name="stdout", text=verdict.stdout)]
                        if verdict.stdout else [])
        if not verdict.passed:
            failed = error_output(verdict.ename, verdict.evalue)
            failed.traceback = list(verdict.traceback) or failed.traceback
            cell.outputs.append(failed)

    def _serve(self, kind, name, payload):
        """Answer the verdict process: run the student's ``name`` in the kernel (``kind``
        ``"call"`` on ``payload``, or ``"value"``); the reply's bytes."""
        from .plain import from_text, to_text

        arguments = f"{name!r}" + (f", {to_text(payload)!r}" if kind == "call" else "")
        text = self._evaluate(f"__import__('autograder.answers').answers.{kind}({arguments})")
        if text is None:
            raise RuntimeError("the kernel stopped responding")
        return from_text(text)

    def _guard(self, label, cell, phase):
        """Integrity around a locked cell; returns False when the run had to stop."""
        if phase == "before":
            restored = self._evaluate(f"{INTEGRITY}.restore()")
            if restored:
                self._event("restored", label, f"replaced by the submission, restored: "
                                               f"{', '.join(restored)}")
            remembered = self._evaluate(f"{INTEGRITY}.remember('before')")
        else:
            remembered = self._evaluate(f"{INTEGRITY}.remember('after')")
            restored = (self._evaluate(f"{INTEGRITY}.restore()")
                        if cells.is_autograded_test(cell) else [])
            if restored:
                message = (f"{', '.join(restored)} replaced while this test ran: the test cannot "
                           "trust its result")
                cell.outputs.append(error_output("IntegrityError", message))
                self._event("tampered_during_test", label, message)
        if restored is None or remembered is None:
            self._stop(f"the kernel stopped responding around {label}")
            return False
        return True

    def _caps_reached(self, verb):
        """``verb`` + the sandbox's caps this cell hit (memory, processes), or ""."""
        reached: list[str] = getattr(self.km, "caps_reached", list)()
        return verb + " and ".join(reached) if reached else ""

    # -- talking to the kernel outside the notebook ---------------------------------------------
    def _run_silently(self, code, timeout=None):
        """Execute ``code`` without outputs; the reply's content, or None when none came."""
        msg_id = self.kc.execute(code, silent=True, store_history=False)
        self._silent_timeout = timeout
        try:
            reply = self.wait_for_reply(msg_id)
        except DeadKernelError:
            reply = None
        finally:
            self._silent_timeout = None
        return None if reply is None else reply["content"]

    def _evaluate(self, expression):
        """The value of a Python literal ``expression`` evaluated in the kernel, or None."""
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={"value": expression})
        try:
            reply = self.wait_for_reply(msg_id)
        except DeadKernelError:
            return None
        if reply is None:
            return None
        value = reply["content"].get("user_expressions", {}).get("value", {})
        if value.get("status") != "ok":
            raise RuntimeError(f"the autograder's check {expression!r} failed in the kernel: "
                               f"{value.get('ename')}: {value.get('evalue')}")
        return ast.literal_eval(value["data"]["text/plain"])

    # -- limits -----------------------------------------------------------------------------------
    def _remaining(self):
        return self._deadline - monotonic()

    def _get_timeout(self, cell):
        """Seconds the next reply may take: the per-cell timeout, cut to the time left."""
        limit = getattr(self, "_silent_timeout", None) or self.timeout or float("inf")
        return max(1, int(min(limit, self._remaining() + 1)))

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_chars`` characters of stream output per cell."""
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or out.get("output_type") != "stream":
            return out
        room = self.max_output_chars - self._stream_chars
        self._stream_chars += len(out.text)
        if len(out.text) <= room:
            return out
        if room <= 0:                      # already truncated: drop the rest
            outs.remove(out)
            return None
        out.text = (out.text[:room] + f"\n... output truncated by the autograder "
                    f"(more than {self.max_output_chars:,} characters) ...\n")
        self._event("output_truncated", f"cell {cell_index}",
                    f"more than {self.max_output_chars:,} characters of output")
        return out

    # -- the report --------------------------------------------------------------------------------
    def _event(self, kind, label, detail):
        self.report["events"].append({"kind": kind, "cell": label, "detail": detail})
        self.log.warning("%s: %s: %s", kind, label, detail)

    def _stop(self, reason):
        self.report["stopped"] = reason + "; the cells after it were not run"
        self.log.error("%s", self.report["stopped"])

    def _write_report(self):
        if not (self.report_directory and self.report["lab"] and self.report["student"]):
            return
        path = Path(self.report_directory) / self.report["lab"] / f"{self.report['student']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.report, indent=1) + "\n")
