"""Timing models: latency and interleaved A/B speed ratios.

Speed is only ever *compared* in this kit, never checked against an absolute time: a laptop,
a CI runner and a grading server differ by 10x in raw speed, but the ratio "int8 model vs
float model, same machine, same moment, same number of threads" is stable. :func:`speedup`
measures that ratio with interleaved rounds (A, B, A, B, ...) so that a slowdown of the
machine during the measurement (another process, thermal throttling) hits both sides alike.

==============================  =============================================================
:func:`latency`                 median seconds per call (torch.utils.benchmark.Timer)
:func:`speedup`                 :class:`Speedup` = median(baseline) / median(candidate)
==============================  =============================================================

What a model costs (parameters, MACs, bytes) is counted in :mod:`utils.cost`; which modules are
weighted layers is :mod:`utils.layers`.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.benchmark import Timer

from .checks import check_positive_int

__all__ = ["describe", "latency", "Speedup", "speedup"]


def describe(fn_or_model: Callable[..., Any]) -> str:
    """A short label for what was timed: ``"BenchmarkCNN (14,474 parameters)"`` for a model,
    the qualified name for a function (``"<lambda>"`` for a lambda).

    It says *which* model a measurement timed, so a result can be checked without timing it
    again (e.g. that the baseline was the wide model, not the narrow one).
    """
    if isinstance(fn_or_model, nn.Module):
        parameters = sum(p.numel() for p in fn_or_model.parameters())
        return f"{type(fn_or_model).__name__} ({parameters:,} parameters)"
    return getattr(fn_or_model, "__qualname__", type(fn_or_model).__name__)


def _as_function(fn_or_model):
    """A function to time: a model runs under ``torch.inference_mode`` (no autograd work)."""
    if isinstance(fn_or_model, nn.Module):
        model = fn_or_model

        def run_model(*inputs):
            with torch.inference_mode():
                return model(*inputs)
        return run_model
    if callable(fn_or_model):
        return fn_or_model
    raise TypeError(f"fn_or_model must be a callable or an nn.Module, got "
                    f"{type(fn_or_model).__name__}")


def _warm_timer(fn_or_model, inputs, threads, warmup):
    """A ``Timer`` for ``fn(*inputs)`` on ``threads`` threads, after ``warmup`` untimed calls.

    Warm-up runs through the Timer too, so it uses the same thread count (first calls pay for
    memory allocation, weight packing, lazy initialisation and cold caches).
    """
    check_positive_int(threads, "threads")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    timer = Timer(stmt="fn(*inputs)", globals={"fn": _as_function(fn_or_model), "inputs": inputs},
                  num_threads=threads)
    if warmup:
        timer.timeit(number=warmup)
    return timer


def _seconds_per_call(timer, min_run_time):
    """Median seconds per call over the blocks of one ``blocked_autorange`` (>= min_run_time)."""
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time!r}")
    return timer.blocked_autorange(min_run_time=min_run_time).median


def latency(fn_or_model: Callable[..., Any], *inputs: Any, threads: int = 2, warmup: int = 5,
            repeats: int = 3, min_run_time: float = 0.1) -> float:
    """Median seconds per call of ``fn_or_model(*inputs)``.

    Formula: ``median over repeats of (median over blocks of block_time / calls_per_block)``,
    where each repeat is one ``Timer.blocked_autorange(min_run_time)``: it picks a number of
    calls per block so a block is long enough to time precisely, and runs blocks until
    ``min_run_time`` seconds have passed. ``warmup`` untimed calls come first.

    A model runs under ``torch.inference_mode()``; call ``model.eval()`` yourself first (a model
    in train mode would update its BatchNorm statistics while being timed).

    Args:
        fn_or_model: a callable or an ``nn.Module``.
        inputs: positional arguments of each call (the same objects every call).
        threads: ``torch`` intra-op threads during the measurement (restored afterwards).
    Returns:
        seconds per call (float). Compare latencies only within one process and machine,
        or better, use :func:`speedup`.

    PyTorch counterpart: ``torch.utils.benchmark.Timer(...).blocked_autorange().median``.
    """
    check_positive_int(repeats, "repeats")
    timer = _warm_timer(fn_or_model, inputs, threads, warmup)
    return statistics.median(_seconds_per_call(timer, min_run_time) for _ in range(repeats))


@dataclass(frozen=True)
class Speedup:
    """Result of :func:`speedup`: how many times faster the candidate ran than the baseline.

    ``ratio = baseline_seconds / candidate_seconds`` (> 1: the candidate is faster), from the
    medians of the per-round seconds per call, measured interleaved on ``threads`` threads.
    """

    ratio: float
    baseline_seconds: float          # median over rounds, seconds per call
    candidate_seconds: float
    baseline_times: tuple[float, ...]    # seconds per call of each round, in order
    candidate_times: tuple[float, ...]
    threads: int
    baseline_label: str = ""             # describe(baseline): which model or function was timed
    candidate_label: str = ""

    def __str__(self) -> str:
        return (f"{self.ratio:.2f}x (baseline {self.baseline_seconds * 1e3:.3f} ms, candidate "
                f"{self.candidate_seconds * 1e3:.3f} ms per call; {len(self.baseline_times)} "
                f"interleaved rounds, {self.threads} threads)")


def speedup(baseline: Callable[..., Any], candidate: Callable[..., Any], *inputs: Any,
            threads: int = 2, rounds: int = 7, warmup: int = 5,
            min_run_time: float = 0.05) -> Speedup:
    """Speed ratio of two callables/models on the same inputs, from interleaved measurements.

    Formula: ``ratio = median_r(t_baseline[r]) / median_r(t_candidate[r])``, where round r
    times the baseline, then the candidate (A, B, A, B, ...), each as the median seconds per
    call of one ``Timer.blocked_autorange(min_run_time)`` on ``threads`` threads. Interleaving
    exposes both to the same machine conditions; medians ignore a disturbed round. This is the
    only way the kit compares speeds: a ratio, never an absolute time limit.

    Args:
        baseline, candidate: callables or ``nn.Module`` s (run under ``inference_mode``),
            both called as ``f(*inputs)``. Wrap in a lambda to give them different inputs.
        rounds: number of (baseline, candidate) pairs.
    Returns:
        :class:`Speedup` with ``ratio``, both medians, the per-round times and a label of
        each side (:func:`describe`).

    PyTorch counterpart: ``torch.utils.benchmark.Compare`` shows measurements side by side
    but does not interleave them or form a ratio.
    """
    check_positive_int(rounds, "rounds")
    timers = [_warm_timer(f, inputs, threads, warmup) for f in (baseline, candidate)]
    baseline_times, candidate_times = [], []
    for _ in range(rounds):
        baseline_times.append(_seconds_per_call(timers[0], min_run_time))
        candidate_times.append(_seconds_per_call(timers[1], min_run_time))
    baseline_seconds = statistics.median(baseline_times)
    candidate_seconds = statistics.median(candidate_times)
    return Speedup(baseline_seconds / candidate_seconds, baseline_seconds, candidate_seconds,
                   tuple(baseline_times), tuple(candidate_times), threads,
                   describe(baseline), describe(candidate))
