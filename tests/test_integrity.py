"""autograder.integrity: replacements of guarded functions are found and undone (in-process;
tests/test_autograde.py checks the same through nbgrader, in a student's kernel)."""

import builtins
import copy
import functools
import math
import sys

import pytest
import torch

import utils.benchmark
from autograder import integrity


@pytest.fixture
def sealed():
    integrity.seal()
    yield integrity
    integrity.restore()


def always_true(*args, **kwargs):
    return True


@pytest.mark.parametrize("owner, name, label", [
    (torch, "equal", "torch.equal"),
    (torch, "allclose", "torch.allclose"),
    (math, "isclose", "math.isclose"),
    (utils.benchmark, "speedup", "utils.benchmark.speedup"),
    (builtins, "len", "builtins.len"),
    (torch.Tensor, "__eq__", "torch.Tensor.__eq__"),
])
def test_a_replaced_function_is_found_and_restored(sealed, owner, name, label):
    original = getattr(owner, name)
    setattr(owner, name, always_true)
    try:
        assert sealed.replaced() == [label]
        assert sealed.restore() == [label]
        assert getattr(owner, name) is original
        assert sealed.replaced() == []
    finally:
        setattr(owner, name, original)


def test_a_method_added_to_tensor_is_found_and_removed(sealed):
    torch.Tensor.equal = always_true           # shadows TensorBase.equal
    assert sealed.restore() == ["torch.Tensor.equal"]
    assert "equal" not in vars(torch.Tensor)
    assert not torch.zeros(1).equal(torch.ones(1))


def test_a_replaced_module_is_found_and_restored(sealed):
    original = sys.modules["math"]
    sys.modules["math"] = object()
    assert sealed.restore() == ["math"]
    assert sys.modules["math"] is original


def test_wrappers_pass_only_where_torch_itself_makes_them(sealed):
    manual_seed, allclose = torch.manual_seed, torch.allclose
    try:
        wrapped = functools.wraps(manual_seed)(lambda seed: manual_seed(seed))
        torch.manual_seed = wrapped
        assert sealed.replaced() == [], "torch._dynamo wraps manual_seed like this"
        torch.manual_seed = functools.wraps(print)(lambda seed: None)
        assert sealed.replaced() == ["torch.manual_seed"], "a wrapper of something else"
        torch.manual_seed = wrapped
        torch.allclose = functools.wraps(allclose)(always_true)
        assert sealed.replaced() == ["torch.allclose"]
    finally:
        torch.manual_seed, torch.allclose = manual_seed, allclose
        sealed.seal()                          # the seal had taken the wrapper as the original


def test_pythons_own_class_caches_are_not_replacements(sealed):
    copy.deepcopy(torch.nn.Linear(2, 2))       # may cache __slotnames__ on classes
    assert sealed.replaced() == []


def test_names_bound_by_locked_cells_are_guarded(sealed):
    namespace = {"data": 1}
    sealed.remember(namespace, "before")
    namespace.update(math=math, helper=always_true, model=torch.nn.Linear(2, 2), x=3)
    sealed.remember(namespace, "after")
    namespace.update(math=None, model=None, x=4)     # a student cell rebinds them
    assert sealed.restore() == ["notebook name 'math'"]     # data and objects are not guarded
    assert namespace["math"] is math
    sealed.remember(namespace, "before")
    namespace["helper"] = "now data"                  # a later locked cell rebinds a name
    sealed.remember(namespace, "after")
    assert sealed.replaced() == []


# -- imports, threads and the shell's hooks --------------------------------------------------------
def test_a_module_shadowing_a_real_one_is_dropped(sealed, tmp_path, monkeypatch):
    """A fake in sys.modules, or a file in the working folder, must not answer a test's import."""
    import types
    assert "tabnanny" not in sealed._seal.modules, "pick a module not imported at the seal"
    sys.modules["tabnanny"] = types.ModuleType("tabnanny")
    assert "sys.modules['tabnanny'] (not the real module)" in sealed.restore()
    assert "tabnanny" not in sys.modules
    (tmp_path / "tabnanny.py").write_text("FAKE = True\n")
    sys.path.insert(0, str(tmp_path))
    import tabnanny
    assert tabnanny.FAKE
    assert sorted(sealed.restore()) == ["sys.modules['tabnanny'] (not the real module)", "sys.path"]
    import tabnanny
    assert not hasattr(tabnanny, "FAKE"), "the real module, from the sealed path"
    assert sealed.restore() == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_started_after_the_seal_is_stopped(sealed):
    import threading
    import time
    original = math.isclose
    running = threading.Event()

    def keep_patching():
        running.set()
        while True:
            math.isclose = always_true
            time.sleep(0.001)

    thread = threading.Thread(target=keep_patching, name="patcher", daemon=True)
    thread.start()
    running.wait(5)
    found = sealed.restore()
    assert "thread 'patcher' (started by the submission)" in found and "math.isclose" in found
    thread.join(5)
    assert not thread.is_alive() and math.isclose is original
    assert sealed.restore() == []


@pytest.fixture
def shell_sealed():
    """The seal taken inside an IPython shell (in-process: no kernel)."""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    integrity.seal()
    yield shell, integrity
    integrity.restore()


def run_cell_fails(shell):
    return not shell.run_cell("import math\nassert math.isclose(1, 2)", store_history=False).success


ATTACKS = {
    "shell.input_transformer_manager.cleanup_transforms":
        lambda sh: sh.input_transformers_cleanup.append(lambda lines: ["pass\n"]),
    "shell.input_transformers_post":
        lambda sh: sh.input_transformers_post.append(lambda lines: ["pass\n"]),
    "shell.transform_cell": lambda sh: setattr(sh, "transform_cell", lambda cell: "pass\n"),
    "IPython.core.interactiveshell.InteractiveShell.transform_cell":
        lambda sh: setattr(type(sh), "transform_cell", lambda self, cell: "pass\n"),
    "shell.ast_transformers": lambda sh: sh.ast_transformers.append(_DropAsserts()),
    # a handler that swallows the error: in a kernel, no error reaches nbgrader (in-process the
    # result still records it, so this attack is only checked for being found and undone)
    "shell.custom_exceptions":
        lambda sh: sh.set_custom_exc((AssertionError,), lambda *a, **k: None),
    "shell.events 'pre_run_cell' callback <lambda>.<locals>.<lambda>":   # runs after restore()
        lambda sh: sh.events.register("pre_run_cell",
                                      lambda *a: setattr(math, "isclose", always_true)),
}


# written as a submission would, without an import; mypy cannot type a computed base class
class _DropAsserts(__import__("ast").NodeTransformer):  # type: ignore[misc]
    def visit_Assert(self, node):
        return __import__("ast").Pass()


@pytest.mark.parametrize("label", sorted(ATTACKS))
def test_a_hook_that_changes_what_a_cell_runs_is_found_and_removed(shell_sealed, label):
    shell, sealed = shell_sealed
    assert run_cell_fails(shell)
    ATTACKS[label](shell)
    if label != "shell.custom_exceptions":
        assert not run_cell_fails(shell), "the attack works on an unguarded shell"
    found = sealed.restore()
    assert label in found, found
    assert run_cell_fails(shell), "after restore() the assert runs again"
    assert sealed.restore() == []


def test_a_trace_function_is_removed(shell_sealed):
    shell, sealed = shell_sealed
    previous = sys.gettrace()
    sys.settrace(lambda *a: None)
    assert "sys.settrace" in sealed.restore()
    assert sys.gettrace() is previous
