"""The process-wide torch settings the labs fix: intra-op threads and the quantized engine.

Both are global state of the running process, so a lab (or a test) that changes one for a
measurement must put it back afterwards, also when the block raises. These context managers do:

================================  ==========================================================
:func:`threads`                   ``torch.set_num_threads(n)`` inside the block, restored
:func:`quantized_engine`          ``torch.backends.quantized.engine = e`` inside, restored
:func:`preferred_engine`          the first engine of a preference list this torch supports
================================  ==========================================================

A quantized model is packed for one engine (``fbgemm``/``x86`` on x86-64, ``qnnpack`` on ARM)
and must run with that engine set: see lab 03.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from .checks import check_positive_int

__all__ = ["DEFAULT_ENGINE_PREFERENCE", "threads", "quantized_engine", "preferred_engine"]

#: The kit's usual choice: x86 (fbgemm + oneDNN), then fbgemm, then qnnpack (ARM).
DEFAULT_ENGINE_PREFERENCE = ("x86", "fbgemm", "qnnpack")


def _supported_engines() -> list[str]:
    """``torch.backends.quantized.supported_engines``, as a list of names."""
    return list(torch.backends.quantized.supported_engines)


@contextmanager
def threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    Restored on exit, also when the block raises. Yields ``n``.

    Args:
        n: a positive int (a ``bool`` is not accepted).
    Raises:
        ValueError: ``n`` is not a positive int.

    PyTorch counterpart: ``torch.set_num_threads(n)`` / ``torch.get_num_threads()`` (no context
    manager of its own; ``torch.utils.benchmark.Timer(num_threads=n)`` does the same around a
    measurement).
    """
    check_positive_int(n, "threads: n")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)


@contextmanager
def quantized_engine(engine: str) -> Iterator[str]:
    """Run the block with ``torch.backends.quantized.engine`` set to ``engine``, then restore it.

    Restored on exit, also when the block raises. Yields ``engine``.

    Args:
        engine: one of ``torch.backends.quantized.supported_engines`` (e.g. ``"x86"``,
            ``"fbgemm"``, ``"qnnpack"``).
    Raises:
        ValueError: ``engine`` is not supported by this torch build (the message lists the
            supported ones); nothing is changed then.

    PyTorch counterpart: ``torch.backends.quantized.engine = engine`` (a plain global setting);
    ``torch.testing._internal.common_quantized.override_quantized_engine`` is the same context
    manager in PyTorch's private test helpers, without the argument check.
    """
    supported = _supported_engines()
    if not isinstance(engine, str) or engine not in supported:
        raise ValueError(f"quantized_engine: engine must be one of the supported engines "
                         f"{supported}, got {engine!r}")
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield engine
    finally:
        torch.backends.quantized.engine = previous


def preferred_engine(preference: Sequence[str] = DEFAULT_ENGINE_PREFERENCE) -> str:
    """The first engine of ``preference`` that this torch build supports.

    Args:
        preference: engine names, most preferred first (a sequence of str, not one str).
    Returns:
        the engine name (str).
    Raises:
        ValueError: ``preference`` is a str or empty, or none of its engines is supported (the
            message lists the supported ones).

    PyTorch counterpart: ``torch.backends.quantized.supported_engines`` (the list to choose
    from); PyTorch's default ``torch.backends.quantized.engine`` is its own choice among them.
    """
    if isinstance(preference, str) or not isinstance(preference, Sequence) or not preference:
        raise ValueError(f"preferred_engine: preference must be a non-empty sequence of engine "
                         f"names such as {DEFAULT_ENGINE_PREFERENCE}, got {preference!r}")
    supported = _supported_engines()
    for engine in preference:
        if engine in supported:
            return engine
    raise ValueError(f"preferred_engine: none of the preference {tuple(preference)} is supported; "
                     f"this torch supports {supported}")
