"""Helpers for the labs' nbgrader test cells.

Two rules of the kit live here, so every lab applies them the same way:

* Hidden tests draw fresh random cases that are *reproducible for one submission and different
  between submissions*: :func:`submission_seed` hashes the student's id (when autograding) and
  the source code of their functions, so re-grading gives identical cases and two students get
  different ones.
* From-scratch answers must not call the library they replace: :func:`assert_does_not_use`
  checks a function both statically (names it refers to) and by running it while the forbidden
  functions are replaced by tripwires.
"""

import importlib
import inspect
import os
import types
import zlib
from contextlib import ExitStack, contextmanager
from unittest import mock


STUDENT_VARIABLE = "AUTOGRADER_STUDENT"   # set by the autograder (autograder/execution.py)


def submission_seed(*functions, salt=""):
    """A 31-bit seed from the student, the source code of ``functions`` and a ``salt`` naming
    the test.

    seed = crc32(salt + student + source(f1) + source(f2) + ...) mod 2^31

    ``student`` is the ``AUTOGRADER_STUDENT`` environment variable the autograder gives the
    kernel ("" outside autograding): grading a submission twice draws the same cases, and two
    students draw different ones even for the same code.
    """
    student = os.environ.get(STUDENT_VARIABLE, "")
    text = salt + student + "".join(_source(f) for f in functions)
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def _source(function):
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return getattr(getattr(function, "__code__", None), "co_code", b"").hex()


def resolve(target):
    """The object named by a dotted path: a module (``"torch.nn.utils.prune"``) or an attribute
    (``"torch.quantize_per_tensor"``)."""
    try:
        return importlib.import_module(target)
    except ImportError:
        owner, _, name = target.rpartition(".")
        return getattr(resolve(owner), name)


def _forbidden_entries(targets, include_classes=False):
    """(owner, attribute name, object) for every callable the ``targets`` stand for.

    Classes count for the static check (``MinMaxObserver(...)`` is a call too) but are not
    replaced by tripwires: library code inside the call may still use them (``isinstance``).
    """
    for target in targets:
        obj = resolve(target)
        if isinstance(obj, types.ModuleType):
            for name, value in vars(obj).items():
                if (callable(value) and not name.startswith("_")
                        and (include_classes or not isinstance(value, type))):
                    yield obj, name, value
        else:
            owner, _, name = target.rpartition(".")
            yield resolve(owner), name, obj


def referenced_names(function):
    """Global names the function's code (and the code nested in it) looks up."""
    names, stack = set(), [function.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def forbidden_references(function, targets):
    """Names in ``function``'s globals that are a forbidden module or forbidden callable."""
    modules = {resolve(t) for t in targets if isinstance(resolve(t), types.ModuleType)}
    callables = {id(obj) for _, _, obj in _forbidden_entries(targets, include_classes=True)}
    found = []
    for name in sorted(referenced_names(function)):
        value = function.__globals__.get(name)
        if value is None:
            continue
        if value in modules or id(value) in callables:
            found.append(name)
    return found


@contextmanager
def tripwires(targets):
    """Within the block, calling anything the ``targets`` stand for is recorded and raises."""
    calls = []

    def tripwire(qualified):
        def trip(*args, **kwargs):
            calls.append(qualified)
            raise AssertionError(f"from-scratch code called {qualified}")
        return trip

    with ExitStack() as stack:
        for owner, name, _ in _forbidden_entries(targets):
            qualified = f"{getattr(owner, '__name__', owner)}.{name}"
            stack.enter_context(mock.patch.object(owner, name, tripwire(qualified)))
        yield calls


def assert_does_not_use(function, targets, *args, **kwargs):
    """Fail if ``function`` refers to, or calls when run on ``args``, anything in ``targets``.

    ``targets`` are dotted paths of modules or functions, e.g.
    ``("torch.nn.utils.prune", "utils.pruning")``. Returns what the function returned.
    """
    names = forbidden_references(function, targets)
    assert not names, (f"{function.__name__} must be written from scratch, but it uses "
                       f"{', '.join(names)} (one of {', '.join(targets)})")
    with tripwires(targets) as calls:
        try:
            result = function(*args, **kwargs)
        except AssertionError:
            if calls:
                raise AssertionError(f"{function.__name__} must be written from scratch, but it "
                                     f"called {calls[0]}") from None
            raise
    assert not calls, f"{function.__name__} must be written from scratch, but it called {calls[0]}"
    return result
