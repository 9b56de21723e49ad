"""Argument checks of the ``autograder`` package: one home, one contract each.

Every check takes the value first and the argument's name second, ``check(value, name)``, as
:mod:`utils.checks` does, and its error names the argument and says what is allowed.
``check_*`` functions return None and raise; ``as_*`` functions return the value in its one
form (a list without repeats) and raise.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

__all__ = ["check_positive_int", "check_positive_seconds", "check_not_string", "as_student_list"]


def check_positive_int(value: object, name: str) -> None:
    """Raise ValueError unless ``value`` is an integer >= 1 (a count: jobs, submissions).

    The contract of :func:`utils.checks.check_positive_int` (which this torch-free package cannot
    import): Python and NumPy integers count, bools do not (``True`` is not a count), and a value
    of the wrong type raises ValueError too, ``"jobs must be a positive int, got 0"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_positive_seconds(value: float | None, name: str) -> None:
    """Raise ValueError unless ``value`` is None (the configured default) or a number > 0."""
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def check_not_string(value: object, name: str, items: str) -> None:
    """Raise TypeError if ``value``, which should be a list of ``items`` (e.g. "lab names"), is
    a single string: it would read as one item per character."""
    if isinstance(value, str):
        raise TypeError(f"{name}: give a list of {items}, not the string {value!r}")


def as_student_list(value: Iterable[str] | None, name: str = "students") -> list[str] | None:
    """``value`` as a list of student ids without repeats (None stays None: every student);
    a single string is refused (:func:`check_not_string`)."""
    if value is None:
        return None
    check_not_string(value, name, "student ids")
    return list(dict.fromkeys(value))
