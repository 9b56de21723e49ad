"""Timing models: latency and interleaved A/B speed ratios.

Speed is only ever *compared* in this kit, never checked against an absolute time: a laptop,
a CI runner and a grading server differ by 10x in raw speed, but the ratio "int8 model vs
float model, same machine, same moment, same number of threads" is stable. :func:`speedup`
measures that ratio with interleaved rounds (A, B, A, B, ...) so that a slowdown of the
machine during the measurement (another process, thermal throttling) hits both sides alike.

==============================  =============================================================
:func:`latency`                 median seconds per call (blocks of calls, ``timeit.Timer``)
:func:`speedup`                 :class:`Speedup` = median(baseline) / median(candidate)
:attr:`Speedup.spread`          (min, max) of the per-round ratios, shown by ``str()``
==============================  =============================================================

Why a ratio moved, and what is done about it
--------------------------------------------
Measured on a 2-core Xeon (KVM, AVX-512 VNNI/AMX) shared with 4-12 other busy processes: fp32
``BenchmarkCNN()`` against its 50 %-channel-pruned int8 FX model (x86 engine), batch 8, 1 thread.

* **Wall time on a busy machine (the main cause).** A process gets a core in time slices of
  a few ms. An fp32 call (15-20 ms) is longer than a slice, so nearly every call also timed
  other processes; an int8 call (0.9 ms) fits in a slice, and the median over blocks of int8
  calls left the preempted blocks out. Per-call medians, wall / CPU time: fp32 23-35 / 15-18
  ms, int8 0.89-0.94 / 0.89-0.94 ms, so the wall ratio was 26-38x where the CPU-time ratio
  was 17-20x, and it followed the load of the moment. Six ratios in one process: wall time
  19.3-40.1x (coefficient of variation 21 %), CPU time 19.6-20.5x (1.5 %). So for
  ``threads=1`` the clock is this process's CPU time (``time.process_time``): it does not
  advance while another process runs, and on an idle machine it equals wall time.
* **Multi-thread measurements cannot be protected.** Threads wait for each other at every
  parallel region, so one preempted thread stalls all; OpenMP threads spin while waiting and
  spinning is CPU time, so wall time is the only honest clock for ``threads > 1``. On the busy
  2-core machine ``threads=2`` gave fp32 96-374 ms per call (16-19 ms on 1 thread) and ratios
  of 2.1-108x, single rounds from 0.44x to 426x. On a shared machine measure on 1 thread, and
  read :attr:`Speedup.spread`.
* **What other processes do to caches and memory.** CPU time still moves: fp32 15-21 ms per
  call over seconds (its 2 MB activations overflow a core's L2, so it depends on the shared
  L3 and memory), int8 0.9-1.0 ms. Interleaving more finely helps: 15 rounds of >= 30 ms per
  side (was 7 of >= 50 ms) gave a coefficient of variation of 1.5-2.5 % (was 3.9-6.4 %) for
  ~1 s of CPU time per call on small models. On a 1 ms model, 0.2 % of calls took 3-73x
  their usual CPU time (work the kernel charged to the process); each round times at least
  ``MIN_BLOCKS`` blocks, so one such block neither ends a round early nor moves its median.
* **Thread-count switches (minor).** ``torch.utils.benchmark.Timer(num_threads=n)`` sets the
  thread count around every timing and puts the previous one back; after a switch the first
  int8 call took 1.1-1.7 ms instead of 0.9 ms, and each ``blocked_autorange`` re-calibrated
  (and warmed up) again. The thread count is now set once for the whole measurement
  (:func:`utils.runtime.threads`), and blocks of ``timeit.Timer`` calls are sized once.
* **Warm-up.** The first call costs more (int8: 12 ms, fp32: 27 ms; settled by the 3rd call),
  and after a multi-thread call an idle OpenMP worker spins for ~7 ms of CPU time, which
  process CPU time would charge to the next calls. Warm-up is ``warmup`` calls, repeated
  until ``WARMUP_SECONDS`` have passed.
* **Not a cause.** After a ``torch.compile`` d model ran, no thread of the process and no
  child process used CPU (inductor's kernels use torch's own libgomp pool, idle when done).

The same A/B ratio four times in one process (first; after a 2-thread measurement; after a
compiled model ran; last), on the busy machine, largest / smallest: fp32 vs int8 before
1.10-1.57x (e.g. 15.99, 16.73, 20.37, 12.94x), after 1.15-1.21x (e.g. 20.25, 19.41, 17.66,
17.21x); BenchmarkCNN(width=8) vs its pruned copy before 1.27-1.81x (1.52, 2.08, 1.15,
1.48x), after 1.02-1.13x (1.46, 1.49, 1.46, 1.46x), also with a busy-loop process running.

What a model costs (parameters, MACs, bytes) is counted in :mod:`utils.cost`; which modules are
weighted layers is :mod:`utils.layers`.
"""

import contextlib
import math
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import runtime
from .checks import check_number_in, check_positive_int, is_int
from .cost import count_parameters

__all__ = ["describe", "latency", "Speedup", "speedup", "layer_times"]

#: Least wall time of warm-up calls before timing starts (when ``warmup > 0``): longer than
#: the ~7 ms of CPU time an OpenMP worker spins after a multi-thread call (libgomp), which CPU
#: time would otherwise charge to the first 1-thread calls.
WARMUP_SECONDS = 0.02
#: Least clock time of a timed block of calls (reading the clock costs ~1 us: < 0.1 %).
BLOCK_SECONDS = 1e-3
#: Least number of timed blocks per side and round; most calls in one block.
MIN_BLOCKS = 3
MAX_CALLS_PER_BLOCK = 10 ** 6


def describe(fn_or_model: Callable[..., Any]) -> str:
    """A short label for what was timed: ``"BenchmarkCNN (14,474 parameters)"`` for a model
    (:func:`utils.cost.count_parameters`, which counts a quantized model's packed weights too),
    the qualified name for a function (``"<lambda>"`` for a lambda).

    It says *which* model a measurement timed, so a result can be checked without timing it
    again (e.g. that the baseline was the wide model, not the narrow one).
    """
    if isinstance(fn_or_model, nn.Module):
        return f"{type(fn_or_model).__name__} ({count_parameters(fn_or_model):,} parameters)"
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


def _clock(threads):
    """The clock that times ``threads`` threads: process CPU time for 1, wall time for more.

    One thread's work is all CPU time of this process, and CPU time does not advance while the
    OS runs another process on this core, so it is immune to a busy machine. Several threads
    spin-wait for each other (OpenMP), and spinning is CPU time too, so they need wall time.
    Where CPU time is coarse (Windows: 15.6 ms steps) wall time is used for 1 thread too.
    """
    if threads == 1 and time.get_clock_info("process_time").resolution <= 1e-6:
        return time.process_time
    return time.perf_counter


def _check_timing_arguments(threads, warmup, min_run_time):
    """Raise ValueError naming the argument unless threads >= 1, warmup >= 0 (ints) and
    0 < min_run_time <= 60 seconds (TypeError for a min_run_time that is not a number)."""
    check_positive_int(threads, "threads")
    if not is_int(warmup) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    check_number_in(min_run_time, "min_run_time", 0, 60)


def _warm_timer(function, inputs, threads, warmup):
    """A ``timeit.Timer`` for ``function(*inputs)`` on the clock of ``threads``, warmed up.

    Warm-up is ``warmup`` untimed calls, repeated until they took ``WARMUP_SECONDS`` of wall
    time (``warmup=0``: none). Call it with the thread count already set
    (:func:`utils.runtime.threads`), so warm-up runs on the measurement's threads.
    """
    timer = timeit.Timer(stmt="fn(*inputs)", globals={"fn": function, "inputs": inputs},
                         timer=_clock(threads))
    start = time.perf_counter()
    while warmup and time.perf_counter() - start < WARMUP_SECONDS:
        timer.timeit(number=warmup)
    return timer


class _Side:
    """One side of a measurement: its timer and calls per block (found in its first round)."""

    def __init__(self, timer):
        self.timer, self.number = timer, 1

    def seconds_per_call(self, min_run_time):
        """Median over blocks of ``block_time / number``: at least ``MIN_BLOCKS`` blocks, and
        blocks until their times sum to >= ``min_run_time``.

        A block is ``number`` calls between two readings of the clock (~1 us). While a block
        takes less than ``BLOCK_SECONDS`` it is not kept and ``number`` grows to about 1.5x
        what would have filled it; ``number`` then stays for later rounds. A rare block that
        the OS inflates (measured: 0.2 % of 1 ms calls took 3-73x their CPU time on a busy
        machine) can neither end a round early nor move its median.
        """
        per_call: list[float] = []
        total = 0.0
        while total < min_run_time or len(per_call) < MIN_BLOCKS:
            seconds = self.timer.timeit(number=self.number)
            if seconds >= BLOCK_SECONDS or self.number >= MAX_CALLS_PER_BLOCK:
                per_call.append(seconds / self.number)
                total += seconds
            else:
                grown = math.ceil(self.number * 1.5 * BLOCK_SECONDS / max(seconds, 1e-9))
                self.number = min(MAX_CALLS_PER_BLOCK, max(self.number + 1, grown))
        return statistics.median(per_call)


def latency(fn_or_model: Callable[..., Any], *inputs: Any, threads: int = 2, warmup: int = 5,
            repeats: int = 3, min_run_time: float = 0.1) -> float:
    """Median seconds per call of ``fn_or_model(*inputs)``.

    Formula: ``median over repeats of (median over blocks of block_time / calls_per_block)``,
    where each repeat times blocks until ``min_run_time`` seconds have passed, and a block is
    as many calls as take ``BLOCK_SECONDS`` (found once, in the first repeat). Warm-up calls
    come first. The clock is this process's CPU time for ``threads=1`` and wall time for more
    (the module docstring says why, with measurements).

    A model runs under ``torch.inference_mode()``; call ``model.eval()`` yourself first (a model
    in train mode would update its BatchNorm statistics while being timed).

    Args:
        fn_or_model: a callable or an ``nn.Module``.
        inputs: positional arguments of each call (the same objects every call).
        threads: ``torch`` intra-op threads during the whole measurement (restored afterwards).
    Returns:
        seconds per call (float). Compare latencies only within one process and machine,
        or better, use :func:`speedup`.
    Raises:
        ValueError: ``threads`` or ``repeats`` is not a positive int, ``warmup`` not an int >= 0,
            ``min_run_time`` not in (0, 60] seconds.

    PyTorch counterpart: ``torch.utils.benchmark.Timer(...).blocked_autorange().median`` (wall
    time, and the thread count set and restored around every timing).
    """
    check_positive_int(repeats, "repeats")
    _check_timing_arguments(threads, warmup, min_run_time)
    function = _as_function(fn_or_model)
    with runtime.threads(threads):
        side = _Side(_warm_timer(function, inputs, threads, warmup))
        return statistics.median(side.seconds_per_call(min_run_time) for _ in range(repeats))


@dataclass(frozen=True)
class Speedup:
    """Result of :func:`speedup`: how many times faster the candidate ran than the baseline.

    ``ratio = baseline_seconds / candidate_seconds`` (> 1: the candidate is faster), from the
    medians of the per-round seconds per call, measured interleaved on ``threads`` threads
    (CPU time for 1 thread, wall time for more). How much the rounds agreed is
    :attr:`round_ratios` and :attr:`spread`; ``str()`` shows both::

        2.61x (2.48–2.70x over 7 rounds; baseline 7.303 ms, candidate 2.795 ms per call; 1 thread)
    """

    ratio: float
    baseline_seconds: float          # median over rounds, seconds per call
    candidate_seconds: float
    baseline_times: tuple[float, ...]    # seconds per call of each round, in order
    candidate_times: tuple[float, ...]
    threads: int
    baseline_label: str = ""             # describe(baseline): which model or function was timed
    candidate_label: str = ""

    @property
    def round_ratios(self) -> tuple[float, ...]:
        """The ratio of each round, in order: ``baseline_times[r] / candidate_times[r]``."""
        return tuple(b / c for b, c in zip(self.baseline_times, self.candidate_times))

    @property
    def spread(self) -> tuple[float, float]:
        """``(min_r ratio_r, max_r ratio_r)`` over :attr:`round_ratios`: how far the rounds
        disagreed. ``ratio`` (a ratio of medians) usually lies inside; a wide spread means the
        machine was disturbed or the rounds too short: measure again with more ``rounds``."""
        ratios = self.round_ratios
        return min(ratios), max(ratios)

    def __str__(self) -> str:
        low, high = self.spread
        rounds = len(self.baseline_times)
        return (f"{self.ratio:.2f}x ({low:.2f}–{high:.2f}x over {rounds} "
                f"{'round' if rounds == 1 else 'rounds'}; baseline "
                f"{self.baseline_seconds * 1e3:.3f} ms, candidate "
                f"{self.candidate_seconds * 1e3:.3f} ms per call; {self.threads} "
                f"{'thread' if self.threads == 1 else 'threads'})")


def speedup(baseline: Callable[..., Any], candidate: Callable[..., Any], *inputs: Any,
            threads: int = 2, rounds: int = 15, warmup: int = 5,
            min_run_time: float = 0.03) -> Speedup:
    """Speed ratio of two callables/models on the same inputs, from interleaved measurements.

    Formula: ``ratio = median_r(t_baseline[r]) / median_r(t_candidate[r])``, where round r
    times the baseline, then the candidate (A, B, A, B, ...), each as the median over blocks
    of ``block_time / calls_per_block``, blocks timed until ``min_run_time`` seconds have
    passed (a block: as many calls as take ``BLOCK_SECONDS``). Interleaving exposes both to
    the same machine conditions; medians ignore a disturbed round. The spread
    ``(min_r, max_r)`` of ``t_baseline[r] / t_candidate[r]`` says how far the rounds agreed.
    This is the only way the kit compares speeds: a ratio, never an absolute time limit.

    ``t`` is this process's CPU time per call for ``threads=1`` (another process on the same
    core cannot stretch it) and wall time for ``threads > 1``; the thread count is set once for
    the whole measurement, warm-up included. The module docstring says why, with measurements.

    Args:
        baseline, candidate: callables or ``nn.Module`` s (run under ``inference_mode``),
            both called as ``f(*inputs)``. Wrap in a lambda to give them different inputs.
        threads: ``torch`` intra-op threads during the whole measurement (restored afterwards).
        rounds: number of (baseline, candidate) pairs.
        warmup: untimed calls of each side before the first round, repeated until
            ``WARMUP_SECONDS`` have passed (0: no warm-up).
        min_run_time: seconds each side is timed in each round (at least).
    Returns:
        :class:`Speedup` with ``ratio``, both medians, the per-round times and a label of
        each side (:func:`describe`); ``.spread`` is the range of the per-round ratios.
    Raises:
        ValueError: ``threads`` or ``rounds`` is not a positive int, ``warmup`` not an int >= 0,
            ``min_run_time`` not in (0, 60] seconds.

    PyTorch counterpart: ``torch.utils.benchmark.Compare`` shows measurements side by side
    but does not interleave them or form a ratio.
    """
    check_positive_int(rounds, "rounds")
    _check_timing_arguments(threads, warmup, min_run_time)
    functions = [_as_function(f) for f in (baseline, candidate)]
    baseline_times, candidate_times = [], []
    with runtime.threads(threads):
        base, cand = (_Side(_warm_timer(f, inputs, threads, warmup)) for f in functions)
        for _ in range(rounds):
            baseline_times.append(base.seconds_per_call(min_run_time))
            candidate_times.append(cand.seconds_per_call(min_run_time))
    baseline_seconds = statistics.median(baseline_times)
    candidate_seconds = statistics.median(candidate_times)
    return Speedup(baseline_seconds / candidate_seconds, baseline_seconds, candidate_seconds,
                   tuple(baseline_times), tuple(candidate_times), threads,
                   describe(baseline), describe(candidate))


@contextlib.contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 sent to /dev/null for the block: the profiler's C++ library (kineto)
    logs its start and stop there, below Python, and nbgrader scores a cell that writes to
    stderr 0."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def layer_times(model: nn.Module, names: Sequence[str], *inputs: Any, calls: int = 3,
                repeats: int = 3) -> dict[str, float]:
    """Milliseconds per call spent in each named submodule of ``model``, and in the whole forward
    (key ``"whole model"``), measured by ``torch.profiler`` on 1 thread.

    Formula: ``min over repeats of (CPU time of the submodule's forward in one profile /
    calls)``; another process can slow a profile but never speed it up, hence the minimum. Two
    untimed calls come first (weight packing, allocation). The time outside the named modules
    is ``whole model`` minus their sum.

    PyTorch counterpart: ``torch.profiler.profile`` with ``record_function`` around each
    submodule (forward pre- and post-hooks), read through ``prof.key_averages()``.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    check_positive_int(calls, "calls")
    check_positive_int(repeats, "repeats")
    handles, opened = [], {}

    def enter(name):
        def hook(module, args):
            opened[name] = record_function(f"layer::{name}")
            opened[name].__enter__()
        return hook

    def leave(name):
        def hook(module, args, output):
            opened.pop(name).__exit__(None, None, None)
        return hook

    for name in names:
        module = model.get_submodule(name)
        handles += [module.register_forward_pre_hook(enter(name)),
                    module.register_forward_hook(leave(name))]
    try:
        with runtime.threads(1), torch.inference_mode():
            for _ in range(2):
                model(*inputs)
            runs = []
            for _ in range(repeats):
                with _c_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as prof:
                    for _ in range(calls):
                        with record_function("layer::whole model"):
                            model(*inputs)
                runs.append({e.key.removeprefix("layer::"): e.cpu_time_total / calls / 1e3
                             for e in prof.key_averages() if e.key.startswith("layer::")})
    finally:
        for handle in handles:
            handle.remove()
    return {name: min(run[name] for run in runs) for name in runs[0]}
