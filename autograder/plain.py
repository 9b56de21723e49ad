"""Plain data across the trust boundary: what a student's kernel may send the grader.

The verdict on a test (:mod:`autograder.verdict`) is computed in a process the student's code
never ran in. What the student's functions return crosses from their kernel to that process as
*plain data*, and nothing else:

    None, bool, int, float, str, tuple, list, dict, torch.Tensor (quantized ones too),
    torch.dtype, torch.Size, and the dataclasses the grader names (e.g. ``utils.benchmark.Speedup``)

:func:`encode` (run in the kernel) turns a value into a tree of ``[tag, payload]`` lists saved with
``torch.save``; :func:`decode` (run by the grader) reads it back with
``torch.load(weights_only=True)``, PyTorch's restricted unpickler, which builds tensors and
containers and runs no code of the sender's. A value of any other type arrives as
:class:`Unsupported`, a placeholder that equals nothing, so a test fails on its type, never on
an ``==`` the sender wrote. Tensors arrive as plain tensors (a subclass's methods stay behind).

Exceptions cross too (:func:`encode_raised`): by the names of their classes, from the most
derived; the grader re-raises the first builtin one (:func:`raise_decoded`), so a test written as
``try: f(bad) except ValueError`` grades a remote ``f`` as it grades a local one.

PyTorch counterpart: ``torch.load(..., weights_only=True)`` is the loader; the tags add the
Python types it cannot tell apart (a tuple from a list) or does not allow (dataclasses).
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import io
import warnings
from typing import Any

__all__ = ["Unsupported", "RemoteError", "encode", "decode", "encode_raised", "raise_decoded",
           "to_text", "from_text"]

MAX_DEPTH = 50


@dataclasses.dataclass(frozen=True)
class Unsupported:
    """What a value of a type plain data does not allow becomes on the grader's side.

    It keeps the sender's type name and a short repr, for the test's message; it equals nothing
    (not even itself), so no comparison can pass on it.
    """
    type_name: str
    text: str

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<{self.type_name} (not plain data: the grader cannot read it)> {self.text}"


class RemoteError(Exception):
    """A student's function raised an exception with no builtin class in its ancestry."""


# -- encoding (the student's kernel) ------------------------------------------------------------
def _tree(value: Any, depth: int = 0) -> list:
    import torch

    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None:
        return ["none"]
    if kind in (bool, int, float, str):
        return [kind.__name__, value]
    if kind in (tuple, list):
        return [kind.__name__, [_tree(v, depth + 1) for v in value]]
    if kind is dict:
        return ["dict", [[_tree(k, depth + 1), _tree(v, depth + 1)] for k, v in value.items()]]
    if isinstance(value, torch.Tensor):
        return ["tensor", torch.Tensor._make_subclass(torch.Tensor, value.detach())
                if kind not in (torch.Tensor, torch.nn.Parameter) and not value.is_quantized
                else value.detach()]
    if kind is torch.dtype:
        return ["dtype", str(value).removeprefix("torch.")]
    if kind is torch.Size:
        return ["size", list(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ["dataclass", f"{kind.__module__}.{kind.__qualname__}",
                [[f.name, _tree(getattr(value, f.name), depth + 1)]
                 for f in dataclasses.fields(value)]]
    return ["unsupported", f"{kind.__module__}.{kind.__qualname__}", _short_repr(value)]


def _short_repr(value: Any, limit: int = 200) -> str:
    try:
        text = repr(value)
    except Exception as error:
        text = f"(repr failed: {type(error).__name__})"
    return text if len(text) <= limit else text[:limit] + "..."


def encode(value: Any) -> bytes:
    """``value`` as bytes that :func:`decode` reads with PyTorch's restricted unpickler."""
    import torch

    buffer = io.BytesIO()
    torch.save(["value", _tree(value)], buffer)
    return buffer.getvalue()


def encode_raised(error: BaseException) -> bytes:
    """An exception as bytes: its class names from the most derived, and its message."""
    import torch

    names = [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__]
    buffer = io.BytesIO()
    torch.save(["raised", names, _short_repr_message(error)], buffer)
    return buffer.getvalue()


def _short_repr_message(error: BaseException, limit: int = 2000) -> str:
    try:
        text = str(error)
    except Exception:
        text = "(the exception's message could not be read)"
    return text if len(text) <= limit else text[:limit] + "..."


# -- decoding (the grader) -------------------------------------------------------------------------
def decode(data: bytes, dataclasses_allowed: tuple[type, ...] = ()) -> Any:
    """The value :func:`encode` wrote, read with ``torch.load(weights_only=True)``.

    A dataclass is rebuilt only if its class is in ``dataclasses_allowed`` and every field it
    sent is one of the class's fields; any other arrives as :class:`Unsupported`. When the
    sender encoded an exception (:func:`encode_raised`), it is raised here
    (:func:`raise_decoded`).
    """
    import torch

    with warnings.catch_warnings():      # quantized tensors rebuild through TypedStorage
        warnings.simplefilter("ignore", UserWarning)
        loaded = torch.load(io.BytesIO(data), weights_only=True)
    if type(loaded) is not list or not loaded or loaded[0] not in ("value", "raised"):
        raise ValueError("not plain data written by autograder.plain.encode")
    if loaded[0] == "raised":
        raise_decoded(loaded[1], loaded[2])
    allowed = {f"{c.__module__}.{c.__qualname__}": c for c in dataclasses_allowed}
    return _value(loaded[1], allowed, 0)


def _value(node: Any, allowed: dict[str, type], depth: int) -> Any:
    import torch

    if type(node) is not list or not node or type(node[0]) is not str or depth > MAX_DEPTH:
        raise ValueError("malformed plain data")
    tag, *payload = node
    if tag == "none":
        return None
    if tag in ("bool", "int", "float", "str"):
        value = payload[0]
        if type(value) is not getattr(builtins, tag):
            raise ValueError(f"malformed plain data: a {tag} holding {type(value).__name__}")
        return value
    if tag in ("tuple", "list"):
        items = [_value(v, allowed, depth + 1) for v in payload[0]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        return {_key(k, allowed, depth): _value(v, allowed, depth + 1) for k, v in payload[0]}
    if tag == "tensor":
        if not isinstance(payload[0], torch.Tensor):
            raise ValueError("malformed plain data: a tensor that is not one")
        return payload[0]
    if tag == "dtype":
        dtype = getattr(torch, payload[0], None)
        if type(dtype) is not torch.dtype:
            raise ValueError(f"malformed plain data: no dtype torch.{payload[0]}")
        return dtype
    if tag == "size":
        return torch.Size([int(v) for v in payload[0]])
    if tag == "dataclass":
        return _dataclass(payload[0], payload[1], allowed, depth)
    if tag == "unsupported":
        return Unsupported(str(payload[0]), str(payload[1]))
    raise ValueError(f"malformed plain data: unknown tag {tag!r}")


def _key(node: Any, allowed: dict[str, type], depth: int) -> Any:
    key = _value(node, allowed, depth + 1)
    try:
        hash(key)
    except TypeError:
        raise ValueError("malformed plain data: an unhashable dict key") from None
    return key


def _dataclass(name: str, fields: list, allowed: dict[str, type], depth: int) -> Any:
    cls = allowed.get(name)
    values = {str(k): _value(v, allowed, depth + 1) for k, v in fields}
    if cls is None:
        return Unsupported(name, f"a {name} (the grader asked for none)")
    known = {f.name: f for f in dataclasses.fields(cls)}
    if set(values) != set(known):
        return Unsupported(name, f"a {name} with the fields {sorted(values)}")
    instance: Any = object.__new__(cls)
    for field_name, value in values.items():
        object.__setattr__(instance, field_name, value)
    return instance


def raise_decoded(names: list, message: str) -> None:
    """Raise the first builtin exception class among ``names`` (``"builtins.ValueError"``) with
    ``message``; a :class:`RemoteError` naming the student's class if none is builtin."""
    for name in names:
        module, _, qualname = str(name).rpartition(".")
        cls = getattr(builtins, qualname, None) if module == "builtins" else None
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception:
            raise cls(str(message))
    raise RemoteError(f"{names[0] if names else 'an exception'}: {message}")


# -- text, for the Jupyter channel ------------------------------------------------------------
def to_text(data: bytes) -> str:
    """Bytes as ASCII (base64), to cross a Jupyter message as a string."""
    return base64.b64encode(data).decode("ascii")


def from_text(text: str) -> bytes:
    """The bytes :func:`to_text` wrote (``ValueError`` for anything else)."""
    if type(text) is not str:
        raise ValueError(f"expected base64 text, got {type(text).__name__}")
    return base64.b64decode(text.encode("ascii"), validate=True)
