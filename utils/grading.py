"""Helpers for the labs' nbgrader test cells.

Two rules of the kit live here, so every lab applies them the same way:

* Hidden tests draw fresh random cases that are *reproducible for one submission and different
  between submissions*: :func:`submission_seed` hashes the student's id (when autograding) and
  the source code of their functions, so re-grading gives identical cases and two students get
  different ones.
* From-scratch answers must not call the library they replace: :func:`assert_does_not_use`
  checks a function both statically (names it refers to) and by running it while the forbidden
  functions are replaced by tripwires.
* Answers are compared strictly: :func:`assert_answer` checks the exact type before the value
  (an object whose ``__eq__`` always says yes is not an answer), and its message says what was
  expected and what the answer gave.
"""

import dataclasses
import importlib
import importlib.util
import inspect
import math
import os
import sys
import threading
import types
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import torch

__all__ = ["STUDENT_VARIABLE", "QUANTIZATION_REFERENCES", "submission_seed", "assert_answer",
           "assert_type", "assert_does_not_use", "available", "swapped_answers",
           "forbidden_references", "referenced_names", "captured_values", "resolve", "tripwires"]


STUDENT_VARIABLE = "AUTOGRADER_STUDENT"   # set by the autograder (autograder/execution.py)

#: What from-scratch quantization answers (lab 02) must not call: PyTorch's quantize and
#: fake-quantize functions, its quantization package, and the kit's reference modules. Pass it
#: through :func:`available` (the ``utils`` modules a kit may not ship are dropped).
QUANTIZATION_REFERENCES = ("torch.quantize_per_tensor", "torch.quantize_per_channel",
                           "torch.fake_quantize_per_tensor_affine",
                           "torch.fake_quantize_per_channel_affine",
                           "torch.ao.quantization", "utils.quantization", "utils.observers",
                           "utils.quant_error", "utils.integer_ops")


def submission_seed(*functions: Callable[..., Any], salt: str = "") -> int:
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
    text = getattr(function, "source_text", None)     # a student's function graded remotely
    if type(text) is str:                               # (autograder.verdict_process)
        return text
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return getattr(getattr(function, "__code__", None), "co_code", b"").hex()


def available(targets: Iterable[str]) -> tuple[str, ...]:
    """The ``targets`` that exist here, in order: a ``utils.*`` target whose module
    ``importlib.util.find_spec`` does not find is dropped (a kit may ship without a reference
    module); every other target is kept as it is.

    Formula: ``tuple(t for t in targets if not t.startswith("utils.") or find_spec(t))``.
    """
    return tuple(t for t in targets if not t.startswith("utils.") or importlib.util.find_spec(t))


def resolve(target: str) -> Any:
    """The object named by a dotted path: a module (``"torch.nn.utils.prune"``) or an attribute
    (``"torch.quantize_per_tensor"``)."""
    try:
        return importlib.import_module(target)
    except ImportError:
        owner, _, name = target.rpartition(".")
        return getattr(resolve(owner), name)


def _forbidden_entries(targets, include_classes=False):
    """(owner, attribute name, object, own) for every callable the ``targets`` stand for.

    ``own`` is False for what a forbidden module only imported from elsewhere
    (``abc.abstractmethod`` in ``torch.nn.utils.prune``): forbidden when reached through the
    module, not everywhere. Classes count for the static check (``MinMaxObserver(...)`` is a call
    too) but are not replaced by tripwires: library code inside the call may still use them
    (``isinstance``).
    """
    for target in targets:
        obj = resolve(target)
        if isinstance(obj, types.ModuleType):
            for name, value in vars(obj).items():
                if (callable(value) and not name.startswith("_")
                        and (include_classes or not isinstance(value, type))):
                    module = getattr(value, "__module__", None) or ""
                    yield obj, name, value, (module == target or module.startswith(target + "."))
        else:
            owner, _, name = target.rpartition(".")
            yield resolve(owner), name, obj, True


def referenced_names(function: Callable[..., Any]) -> set[str]:
    """Global names the function's code (and the code nested in it) looks up."""
    names: set[str] = set()
    stack = [function.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def captured_values(function: Callable[..., Any]) -> list[tuple[str, Any]]:
    """(where, value) of what ``function`` holds besides its globals: default arguments and
    closure cells (a forbidden function captured there is never looked up by name)."""
    found = [(f"default argument {i}", v) for i, v in enumerate(function.__defaults__ or ())]
    found += [(f"default argument {k!r}", v) for k, v in (function.__kwdefaults__ or {}).items()]
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        try:
            found.append((f"closure variable {name!r}", cell.cell_contents))
        except ValueError:          # an empty cell
            pass
    return found


def forbidden_references(function: Callable[..., Any], targets: Sequence[str]) -> list[str]:
    """What ``function`` holds of the forbidden modules or callables: the global names it looks
    up, and its default arguments and closure cells (as ``"closure variable 'f' (torch.x)"``)."""
    forbidden = {id(m): t for t in targets for m in [resolve(t)] if isinstance(m, types.ModuleType)}
    forbidden.update({id(obj): f"{getattr(owner, '__name__', owner)}.{name}"
                      for owner, name, obj, _ in _forbidden_entries(targets, include_classes=True)})
    found = [name for name in sorted(referenced_names(function))
             if id(function.__globals__.get(name)) in forbidden]
    found += [f"{where} ({forbidden[id(value)]})" for where, value in captured_values(function)
              if id(value) in forbidden]
    return found


@contextmanager
def tripwires(targets: Sequence[str]) -> Iterator[list[str]]:
    """Within the block, calling anything the ``targets`` stand for is recorded (in the list
    yielded) and, where it is reached through its module, raises.

    Two nets: the module attributes are replaced by functions that raise, and a profile function
    (``sys.setprofile`` and ``threading.setprofile``) records every call of a forbidden function,
    however it was reached: through an alias, a default argument, a closure or ``importlib``. A
    block that removes the profile function is recorded as such.
    """
    calls = []
    entries = list(_forbidden_entries(targets))
    labels, codes = {}, {}          # id of a forbidden callable / of its code -> its dotted name
    for owner, name, obj, own in entries:
        if own:
            labels[id(obj)] = f"{getattr(owner, '__name__', owner)}.{name}"
            if isinstance(obj, types.FunctionType):
                codes[id(obj.__code__)] = labels[id(obj)]

    def tripwire(qualified):
        def trip(*args, **kwargs):
            calls.append(qualified)
            raise AssertionError(f"from-scratch code called {qualified}")
        return trip

    def profile(frame, event, arg):
        if event == "c_call" and id(arg) in labels:
            calls.append(labels[id(arg)])
        elif event == "call" and id(frame.f_code) in codes:
            calls.append(codes[id(frame.f_code)])

    with ExitStack() as stack:
        for owner, name, _, _ in entries:
            qualified = f"{getattr(owner, '__name__', owner)}.{name}"
            stack.enter_context(mock.patch.object(owner, name, tripwire(qualified)))
        previous = sys.getprofile(), threading.getprofile()
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            yield calls
        finally:
            if sys.getprofile() is not profile:
                calls.append("sys.setprofile (the from-scratch check's call recorder was removed)")
            sys.setprofile(previous[0])
            threading.setprofile(previous[1])


@contextmanager
def swapped_answers(namespace: dict[str, Any], replacements: Mapping[str, Any]) -> Iterator[None]:
    """Inside the block, each name of ``replacements`` is bound to its replacement in
    ``namespace`` (a notebook's ``globals()``); afterwards every name is bound again to what it
    was, also when the block raises (a name that was not bound is unbound again).

    A test cell grading one exercise runs with the answers it builds on swapped for reference
    versions (lab 02: PyTorch's), so a mistake in an earlier answer costs the test cells of its
    own exercise, not every later one as well.

    PyTorch counterpart: none; ``unittest.mock.patch.dict(namespace, replacements)`` is close,
    but on exit it restores the whole dictionary, undoing every binding the block made.
    """
    saved = {name: namespace[name] for name in replacements if name in namespace}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name in replacements:
            namespace.pop(name, None)
        namespace.update(saved)


def assert_does_not_use(function: Callable[..., Any], targets: Sequence[str], *args: Any,
                        **kwargs: Any) -> Any:
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


# -- strict answer checks ------------------------------------------------------------------------
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)   # a Parameter is a plain tensor with a flag


def _type_name(value) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def assert_type(answer, expected_type: type, *, name: str) -> None:
    """Fail unless ``type(answer) is expected_type`` (not a subclass: ``bool`` is not ``int``,
    a tensor subclass is not a tensor; ``torch.nn.Parameter`` counts as ``torch.Tensor``).

    ``type()`` cannot be fooled by an object (``answer.__class__`` can), so this is safe to call
    on anything a student returns.
    """
    kind = type(answer)
    if kind is expected_type or (expected_type is torch.Tensor and kind in _TENSOR_TYPES):
        return
    hint = ""
    if expected_type in (int, float, bool) and hasattr(answer, "item"):
        hint = f" (convert with {expected_type.__name__}(...) or .item())"
    raise AssertionError(f"{name}: expected type {expected_type.__qualname__}, got "
                         f"{_type_name(answer)}{hint}: {_short_repr(answer)}")


def assert_answer(answer, expected, *, name: str, atol: float = 0.0, rtol: float = 0.0) -> None:
    """Fail unless ``answer`` has exactly the type of ``expected``, then its value.

    Type first (:func:`assert_type`), recursively: a tensor must also have the same dtype, shape
    and layout (a quantized tensor also its qscheme and quantization parameters); a tuple, list or
    dict the same length or keys; a dataclass the same fields. Then the value: exactly when
    ``atol == rtol == 0``, else entry by entry

        |answer - expected| <= atol + rtol * |expected|     (NaN equals NaN)

    as ``torch.testing.assert_close`` with ``check_dtype=True`` and the same tolerances, but
    stricter on Python types (``torch`` accepts an ``int`` for a ``float``) and with a message for
    students: what was expected and what the answer gave; for tensors, how many entries differ,
    the first such index and the largest |difference|.
    """
    for argument, value in (("atol", atol), ("rtol", rtol)):
        if type(value) not in (int, float) or not value >= 0:
            raise ValueError(f"{argument} must be a number >= 0, got {value!r}")
    _compare(answer, expected, name, float(atol), float(rtol))


def _compare(answer, expected, name, atol, rtol):
    assert_type(answer, torch.Tensor if type(expected) in _TENSOR_TYPES else type(expected),
                name=name)
    if isinstance(expected, torch.Tensor):
        _compare_tensors(answer, expected, name, atol, rtol)
    elif type(expected) in (tuple, list):
        if len(answer) != len(expected):
            raise AssertionError(f"{name}: expected {len(expected)} items, got {len(answer)}: "
                                 f"{_short_repr(answer)}")
        for index, (a, e) in enumerate(zip(answer, expected)):
            _compare(a, e, f"{name}[{index}]", atol, rtol)
    elif type(expected) is dict:
        if set(answer) != set(expected):
            raise AssertionError(f"{name}: expected the keys {sorted(map(repr, expected))}, "
                                 f"got {sorted(map(repr, answer))}")
        for key in expected:
            _compare(answer[key], expected[key], f"{name}[{key!r}]", atol, rtol)
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            _compare(getattr(answer, field.name), getattr(expected, field.name),
                     f"{name}.{field.name}", atol, rtol)
    elif type(expected) in (int, float) and (atol or rtol):
        if not _scalar_close(answer, expected, atol, rtol):
            raise AssertionError(f"{name}: expected {expected!r} "
                                 f"(within {_tolerance(atol, rtol)}), got {answer!r}; "
                                 f"|difference| = {abs(answer - expected):.6g}")
    elif not _scalar_equal(answer, expected):
        raise AssertionError(f"{name}: expected {expected!r}, got {_short_repr(answer)}")


def _scalar_equal(answer, expected):
    if type(expected) is float and math.isnan(expected):
        return math.isnan(answer)
    return expected == answer


def _scalar_close(answer, expected, atol, rtol):
    if math.isnan(expected) or math.isnan(answer):
        return math.isnan(expected) and math.isnan(answer)
    if math.isinf(expected) or math.isinf(answer):
        return answer == expected
    return abs(answer - expected) <= atol + rtol * abs(expected)


def _tolerance(atol, rtol):
    return " + ".join(part for part in (f"{atol:g}" if atol else "",
                                        f"{rtol:g}·|expected|" if rtol else "") if part)


def _compare_tensors(answer, expected, name, atol, rtol):
    for attribute in ("dtype", "layout", "shape", "is_quantized"):
        want, got = getattr(expected, attribute), getattr(answer, attribute)
        if want != got:
            shown = (tuple(want), tuple(got)) if attribute == "shape" else (want, got)
            raise AssertionError(f"{name}: expected {attribute} {shown[0]}, got {shown[1]}")
    if expected.is_quantized:
        _compare_quantized(answer, expected, name, atol, rtol)
        return
    if expected.layout != torch.strided:
        answer, expected = answer.to_dense(), expected.to_dense()
    answer, expected = answer.detach(), expected.detach()
    if atol or rtol:
        same = torch.isclose(answer, expected, rtol=rtol, atol=atol, equal_nan=True)
    elif expected.is_floating_point() or expected.is_complex():
        same = (answer == expected) | (answer.isnan() & expected.isnan())
    else:
        same = answer == expected
    if bool(same.all()):
        return
    raise AssertionError(f"{name}: {_describe_difference(answer, expected, same)}"
                         + (f" (tolerance {_tolerance(atol, rtol)})" if atol or rtol else ""))


def _compare_quantized(answer, expected, name, atol, rtol):
    if answer.qscheme() != expected.qscheme():
        raise AssertionError(f"{name}: expected qscheme {expected.qscheme()}, "
                             f"got {answer.qscheme()}")
    if expected.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        _compare(answer.q_scale(), expected.q_scale(), f"{name}.q_scale()", atol, rtol)
        _compare(answer.q_zero_point(), expected.q_zero_point(), f"{name}.q_zero_point()", 0.0, 0.0)
    else:
        _compare(answer.q_per_channel_axis(), expected.q_per_channel_axis(),
                 f"{name}.q_per_channel_axis()", 0.0, 0.0)
        _compare(answer.q_per_channel_scales(), expected.q_per_channel_scales(),
                 f"{name}.q_per_channel_scales()", atol, rtol)
        _compare(answer.q_per_channel_zero_points(), expected.q_per_channel_zero_points(),
                 f"{name}.q_per_channel_zero_points()", 0.0, 0.0)
    _compare(answer.int_repr(), expected.int_repr(), f"{name}.int_repr()", 0.0, 0.0)


def _describe_difference(answer, expected, same):
    """'k of n entries differ; first at index i: expected e, got a; largest |difference| d'."""
    wrong = (~same).nonzero()
    first = tuple(wrong[0].tolist())
    at = first if len(first) != 1 else first[0]
    if expected.dtype == torch.bool:
        largest = ""
    else:
        gap = (answer.to(torch.float64) - expected.to(torch.float64)).abs()[~same]
        largest = f"; largest |difference| {gap.nan_to_num(nan=math.inf).max().item():.6g}"
    return (f"{len(wrong)} of {expected.numel()} entries differ; first at index {at}: expected "
            f"{expected[first].item()!r}, got {answer[first].item()!r}{largest}")


def _short_repr(value, limit=200):
    try:
        text = repr(value)
    except Exception as error:          # a student's object whose repr fails
        text = f"<{_type_name(value)} whose repr failed: {type(error).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."
