"""The student's side of a remote call: runs *inside* the student's kernel.

The grader's verdict process (:mod:`autograder.verdict_process`) holds every test; when a test
calls a student's function, the grader sends the call here (as a Jupyter ``user_expression``,
see :meth:`autograder.execution.GuardedExecute._serve`), and the answer goes back as plain data
(:mod:`autograder.plain`).

Nothing here is trusted: the student may replace any of it. What they can gain is only what they
could gain by writing the function: the grader reads the reply with a restricted loader and
decides the verdict on values it checks itself.
"""

from __future__ import annotations

import io
from typing import Any

from . import plain

__all__ = ["call", "value", "answer"]


def _namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("autograder.answers runs inside a Jupyter kernel")
    return shell.user_ns


def answer(name: str) -> Any:
    """The object the notebook binds to ``name`` (a ``NameError`` naming it when unbound)."""
    namespace = _namespace()
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined: the answer cell must define it")
    return namespace[name]


def call(name: str, payload: str) -> str:
    """Call the notebook's ``name`` on the arguments in ``payload`` (base64 of
    ``torch.save((args, kwargs))``, written by the grader); the result or the exception it
    raised, as base64 plain data."""
    import torch

    try:
        args, kwargs = torch.load(io.BytesIO(plain.from_text(payload)), weights_only=False)
        return plain.to_text(plain.encode(answer(name)(*args, **kwargs)))
    except Exception as error:
        return plain.to_text(plain.encode_raised(error))


def value(name: str) -> str:
    """The value the notebook binds to ``name``, as base64 plain data."""
    try:
        return plain.to_text(plain.encode(answer(name)))
    except Exception as error:
        return plain.to_text(plain.encode_raised(error))
