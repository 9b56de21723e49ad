"""Tests for utils.benchmark. Speed is only tested as ratios (never wall-clock limits)."""

import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from utils import benchmark, channel_pruning, models
from utils.benchmark import Speedup, latency, speedup
from utils.models import BenchmarkCNN, DigitsMLP

FAST = dict(warmup=1, min_run_time=0.01)       # short timings where precision does not matter
# Ratios that must hold: rounds of >= 20 ms average over the OS scheduler's time slices. This
# stayed within the test bands on a 2-core machine shared with ~5x oversubscription (load 10).
RATIO = dict(threads=1, rounds=7, warmup=1, min_run_time=0.02)


# --------------------------------------------------------------------------------------------
# latency and speedup
# --------------------------------------------------------------------------------------------

def matmuls(count):
    """A function doing `count` identical 96x96 matmuls: known relative amount of work."""
    def work(a):
        for _ in range(count):
            a @ a
    return work


def test_latency_returns_seconds_per_call_for_functions_and_models(gen):
    seconds = latency(matmuls(1), torch.randn(96, 96), threads=1, repeats=2, **FAST)
    assert isinstance(seconds, float) and seconds > 0
    assert latency(DigitsMLP(), torch.randn(8, 64, generator=gen), repeats=1, **FAST) > 0


def test_latency_runs_models_without_autograd(gen):
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(torch.is_grad_enabled())
            return x
    latency(Recorder(), torch.randn(2), repeats=1, **FAST)
    assert seen and not any(seen)


def accepted_speedup(measure, accept, attempts=3):
    """A Speedup from a shared machine: retry a noisy measurement until accept(ratio) holds."""
    ratios = []
    for _ in range(attempts):
        result = measure()
        if accept(result.ratio):
            return result
        ratios.append(result.ratio)
    pytest.fail(f"no attempt gave an accepted ratio: {ratios}")


def test_speedup_of_a_function_against_itself_is_near_one():
    a = torch.randn(96, 96)
    result = accepted_speedup(lambda: speedup(matmuls(2), matmuls(2), a, **RATIO),
                              lambda ratio: 0.5 < ratio < 2)
    assert isinstance(result, Speedup) and result.threads == 1
    assert len(result.baseline_times) == len(result.candidate_times) == 7


def test_speedup_sees_four_times_less_work():
    a = torch.randn(96, 96)
    # ideally 4; > 2 is robust to noise and fails if the ratio were inverted (0.25)
    accepted_speedup(lambda: speedup(matmuls(8), matmuls(2), a, **RATIO), lambda ratio: ratio > 2)


def test_speedup_ratio_is_ratio_of_median_round_times():
    result = speedup(matmuls(4), matmuls(1), torch.randn(64, 64), threads=1, rounds=3, warmup=1,
                     min_run_time=0.005)
    assert result.baseline_seconds == sorted(result.baseline_times)[1]
    assert result.candidate_seconds == sorted(result.candidate_times)[1]
    assert result.ratio == pytest.approx(result.baseline_seconds / result.candidate_seconds)
    assert result.round_ratios == pytest.approx(
        [b / c for b, c in zip(result.baseline_times, result.candidate_times)])


def test_speedup_interleaves_baseline_and_candidate():
    order = []
    result = speedup(lambda: order.append("A"), lambda: order.append("B"), threads=1, rounds=3,
                     warmup=0, min_run_time=0.001)
    # Each round runs many A calls then many B calls; collapse the runs to see the pattern.
    runs = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert runs == ["A", "B"] * 3
    assert len(result.baseline_times) == 3


def test_timing_rejects_bad_arguments():
    a = torch.randn(4, 4)
    with pytest.raises(TypeError, match="fn_or_model"):
        latency(42)
    with pytest.raises(ValueError, match="threads"):
        latency(matmuls(1), a, threads=0)
    with pytest.raises(ValueError, match="threads"):
        speedup(matmuls(1), matmuls(1), a, threads=1.0)
    with pytest.raises(ValueError, match="rounds"):
        speedup(matmuls(1), matmuls(1), a, rounds=0)
    with pytest.raises(ValueError, match="repeats"):
        latency(matmuls(1), a, repeats=-1)
    with pytest.raises(ValueError, match="warmup"):
        speedup(matmuls(1), matmuls(1), a, warmup=-1)
    with pytest.raises(ValueError, match="warmup"):
        latency(matmuls(1), a, warmup=2.5)
    with pytest.raises(ValueError, match="min_run_time"):
        latency(matmuls(1), a, min_run_time=0)
    with pytest.raises(ValueError, match="min_run_time"):
        speedup(matmuls(1), matmuls(1), a, min_run_time=float("inf"))
    with pytest.raises(TypeError, match="min_run_time"):
        speedup(matmuls(1), matmuls(1), a, min_run_time="0.1")


def test_timing_restores_the_thread_count():
    before = torch.get_num_threads()
    speedup(matmuls(1), matmuls(1), torch.randn(8, 8), threads=1, rounds=1, **FAST)
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------------------------
# the spread of a ratio over its rounds
# --------------------------------------------------------------------------------------------

def made_speedup(baseline_times, candidate_times, threads=1):
    """A Speedup built from given per-round times, as speedup() builds it."""
    b, c = sorted(baseline_times)[len(baseline_times) // 2], \
        sorted(candidate_times)[len(candidate_times) // 2]
    return Speedup(b / c, b, c, tuple(baseline_times), tuple(candidate_times), threads)


def test_round_ratios_and_spread_come_from_the_round_times():
    result = made_speedup([8e-3, 6e-3, 9e-3], [2e-3, 3e-3, 3e-3])
    assert result.round_ratios == pytest.approx((4.0, 2.0, 3.0))
    assert result.spread == pytest.approx((2.0, 4.0))


def test_str_shows_the_ratio_its_spread_rounds_times_and_threads():
    result = made_speedup([7.303e-3, 7.1e-3, 7.4e-3], [2.795e-3, 2.9e-3, 2.7e-3])
    assert str(result) == ("2.61x (2.45\u20132.74x over 3 rounds; baseline 7.303 ms, candidate "
                           "2.795 ms per call; 1 thread)")
    assert str(made_speedup([2e-3], [1e-3], threads=2)).endswith(
        "(2.00\u20132.00x over 1 round; baseline 2.000 ms, candidate 1.000 ms per call; 2 threads)")
    measured = speedup(matmuls(2), matmuls(1), torch.randn(32, 32), threads=1, rounds=3, **FAST)
    low, high = measured.spread
    assert low <= high and f"{low:.2f}\u2013{high:.2f}x over 3 rounds" in str(measured)


# --------------------------------------------------------------------------------------------
# stability: the same ratio, measured again in the same process, under other conditions
# --------------------------------------------------------------------------------------------
# On a 2-core Xeon (KVM) shared with other busy processes (load 4-12), the same A/B ratio four
# times in one process as below, 1 thread: fp32 BenchmarkCNN vs its int8 FX model moved by
# 1.10-1.57x with wall time, 1.15-1.21x with CPU time; the pair used here (a few ms per call)
# by 1.27-1.81x with wall time, 1.02-1.13x with CPU time (see the utils.benchmark docstring).
# These tests use the default rounds and run time, as the labs do, and allow 15 %. Up to three
# attempts absorb a slow phase of a heavily shared machine (the host's other tenants change
# how fast a vCPU and its caches run, over seconds); an idle CI machine needs one.

BAND = 1.15      # largest / smallest ratio allowed among measurements of the same thing


@pytest.fixture(scope="module")
def wide_and_pruned():
    """BenchmarkCNN(width=8) and its copy with half the channels of every block pruned away."""
    torch.manual_seed(0)
    wide = BenchmarkCNN(width=8).eval()
    pruned = channel_pruning.prune_model_channels(wide, 0.5).eval()
    return wide, pruned, torch.randn(4, 1, 32, 32)


def agreeing_ratios(measure_all, attempts=3):
    """Ratios from measure_all() that agree within BAND (retried: see above)."""
    tried = []
    for _ in range(attempts):
        ratios = measure_all()
        if max(ratios) / min(ratios) < BAND:
            return ratios
        tried.append([round(r, 3) for r in ratios])
    pytest.fail(f"ratios disagree by more than {BAND} in every attempt: {tried}")


def test_a_model_against_itself_is_one_within_ten_percent(wide_and_pruned):
    wide, _, x = wide_and_pruned
    result = accepted_speedup(lambda: speedup(wide, wide, x, threads=1),
                              lambda ratio: 0.9 < ratio < 1.1, attempts=2)
    assert result.round_ratios and len(result.round_ratios) == len(result.baseline_times)


def compiled_tiny_model():
    """A tiny model compiled by torch.compile (inductor: C++ with OpenMP; some seconds)."""
    torch._dynamo.reset()
    return torch.compile(nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4)).eval())


def test_a_ratio_measured_again_after_other_work_agrees(wide_and_pruned):
    wide, pruned, x = wide_and_pruned
    compiled = compiled_tiny_model()

    def measure_all():
        ratios = [speedup(wide, pruned, x, threads=1).ratio]                 # first
        speedup(wide, pruned, x, threads=2, rounds=1, min_run_time=0.01)
        ratios.append(speedup(wide, pruned, x, threads=1).ratio)            # after 2 threads
        with torch.inference_mode():
            for _ in range(3):
                compiled(torch.randn(4, 16))                                 # compiles once
        ratios.append(speedup(wide, pruned, x, threads=1).ratio)            # after it ran
        ratios.append(speedup(wide, pruned, x, threads=1).ratio)            # last
        return ratios
    ratios = agreeing_ratios(measure_all)
    assert min(ratios) > 1.2, f"the pruned model is not measured faster: {ratios}"


def test_a_ratio_measured_while_another_process_loads_the_machine_agrees(wide_and_pruned):
    wide, pruned, x = wide_and_pruned

    def measure_all():
        ratios = [speedup(wide, pruned, x, threads=1).ratio]                 # before the load
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.2)                                                  # it spins by now
            ratios += [speedup(wide, pruned, x, threads=1).ratio for _ in range(2)]
        finally:
            busy.kill()
            busy.wait()
        ratios.append(speedup(wide, pruned, x, threads=1).ratio)            # after it
        return ratios
    agreeing_ratios(measure_all)


def test_layer_times_cover_each_named_layer_and_the_whole_model(capfd):
    model = models.BenchmarkCNN(width=8).eval()
    times = benchmark.layer_times(model, ["conv1", "conv5", "fc"], torch.randn(2, 1, 32, 32),
                                  calls=2, repeats=2)
    assert set(times) == {"conv1", "conv5", "fc", "whole model"}
    assert all(t > 0 for t in times.values())
    assert times["conv1"] + times["conv5"] + times["fc"] < times["whole model"]
    assert capfd.readouterr().err == "", "the profiler's C++ log must not reach stderr"
    with pytest.raises(ValueError, match="calls must be a positive int"):
        benchmark.layer_times(model, ["fc"], torch.randn(1, 1, 32, 32), calls=0)
