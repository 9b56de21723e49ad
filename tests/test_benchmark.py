"""Tests for utils.benchmark. Speed is only tested as ratios (never wall-clock limits)."""

import pytest
import torch
from torch import nn

from utils.benchmark import Speedup, latency, speedup
from utils.models import DigitsMLP

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
    assert "x (baseline" in str(result)


def test_speedup_interleaves_baseline_and_candidate():
    order = []
    result = speedup(lambda: order.append("A"), lambda: order.append("B"), threads=1, rounds=3,
                     warmup=0, min_run_time=0.001)
    # Each round runs many A calls then many B calls; collapse the runs to see the pattern.
    runs = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert runs == ["A", "B"] * 3
    assert len(result.baseline_times) == 3


def test_timing_rejects_bad_arguments():
    with pytest.raises(TypeError, match="fn_or_model"):
        latency(42)
    with pytest.raises(ValueError, match="threads"):
        latency(matmuls(1), torch.randn(4, 4), threads=0)
    with pytest.raises(ValueError, match="rounds"):
        speedup(matmuls(1), matmuls(1), torch.randn(4, 4), rounds=0)
    with pytest.raises(ValueError, match="min_run_time"):
        latency(matmuls(1), torch.randn(4, 4), min_run_time=0)
