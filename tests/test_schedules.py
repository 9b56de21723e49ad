"""utils.schedules: AGP (Zhu & Gupta 2017) against hand-computed values and torch's CubicSL."""

import pytest
from torch.ao.pruning import CubicSL

from utils import schedules

# s_i = 0, s_f = 0.8, t0 = 10, n = 4, dt = 5: pruning steps 10, 15, 20, 25, 30
EXAMPLE = dict(initial_sparsity=0.0, final_sparsity=0.8, start_step=10, num_steps=4,
               step_interval=5)


@pytest.mark.parametrize("step, expected", [
    (10, 0.0),
    (15, 0.8 * (1 - 0.75 ** 3)),   # 0.4625
    (20, 0.8 * (1 - 0.5 ** 3)),    # 0.7
    (25, 0.8 * (1 - 0.25 ** 3)),   # 0.7875
    (30, 0.8),
    (12, 0.8 * (1 - 0.9 ** 3)),    # between pruning steps the curve is continuous: 0.2168
])
def test_agp_sparsity_hand_computed(step, expected):
    assert schedules.agp_sparsity(step, **EXAMPLE) == pytest.approx(expected, abs=1e-12)


def test_agp_sparsity_hand_computed_numbers_written_out():
    values = [schedules.agp_sparsity(t, **EXAMPLE) for t in (15, 20, 25)]
    assert values == pytest.approx([0.4625, 0.7, 0.7875], abs=1e-12)


@pytest.mark.parametrize("step", [0, 1, 9, 10])
def test_agp_sparsity_is_initial_until_start(step):
    assert schedules.agp_sparsity(step, 0.25, 0.9, 10, 4, 5) == 0.25


@pytest.mark.parametrize("step", [30, 31, 1000])
def test_agp_sparsity_is_final_from_the_end(step):
    assert schedules.agp_sparsity(step, 0.25, 0.9, 10, 4, 5) == 0.9


def test_agp_sparsity_with_nonzero_initial_sparsity():
    # s_f + (s_i - s_f)(1 - 1/2)^3 = 0.9 - 0.65 / 8
    assert schedules.agp_sparsity(20, 0.25, 0.9, 10, 4, 5) == pytest.approx(0.81875, abs=1e-12)


@pytest.mark.parametrize("s_i, s_f, t0, n, dt", [
    (0.0, 0.8, 10, 4, 5), (0.25, 0.9, 0, 10, 1), (0.5, 0.5, 3, 2, 7), (0.0, 1.0, 100, 20, 25)])
def test_agp_sparsity_equals_torch_cubic_scheduler(s_i, s_f, t0, n, dt):
    for step in range(0, t0 + n * dt + 2 * dt):
        expected = CubicSL.sparsity_compute_fn(s_i, s_f, step, t0, dt, n)
        assert schedules.agp_sparsity(step, s_i, s_f, t0, n, dt) == pytest.approx(expected,
                                                                                  abs=1e-12)


def test_agp_sparsity_is_monotone_and_bounded():
    values = [schedules.agp_sparsity(t, 0.1, 0.95, 7, 6, 3) for t in range(40)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[0] == 0.1 and values[-1] == 0.95
    assert all(0.1 <= v <= 0.95 for v in values)


def test_agp_sparsity_is_concave_prunes_fastest_first():
    schedule = schedules.agp_schedule(**EXAMPLE)
    increments = [b - a for a, b in zip(schedule, schedule[1:])]
    assert all(a > b for a, b in zip(increments, increments[1:]))


def test_agp_pruning_steps():
    assert schedules.agp_pruning_steps(10, 4, 5) == [10, 15, 20, 25, 30]
    assert schedules.agp_pruning_steps(0, 3) == [0, 1, 2, 3]


def test_agp_schedule_values_at_pruning_steps():
    assert schedules.agp_schedule(**EXAMPLE) == pytest.approx([0.0, 0.4625, 0.7, 0.7875, 0.8],
                                                              abs=1e-12)
    n = 7
    expected = [0.9 + (0.2 - 0.9) * (1 - j / n) ** 3 for j in range(n + 1)]
    assert schedules.agp_schedule(0.2, 0.9, 3, n, 2) == pytest.approx(expected, abs=1e-12)
    assert schedules.agp_schedule(0.2, 0.9, 3, n, 2)[0] == 0.2


BAD_ARGUMENTS = [
    (dict(initial_sparsity=-0.1), ValueError, "initial_sparsity must be in"),
    (dict(final_sparsity=1.5), ValueError, "final_sparsity must be in"),
    (dict(final_sparsity=float("nan")), ValueError, "final_sparsity must be in"),
    (dict(final_sparsity="0.9"), TypeError, "final_sparsity must be a number"),
    (dict(initial_sparsity=0.9, final_sparsity=0.5), ValueError,
     "initial_sparsity must be <= final_sparsity"),
    (dict(start_step=-1), ValueError, "start_step must be an int >= 0"),
    (dict(start_step=1.0), TypeError, "start_step must be an int"),
    (dict(num_steps=0), ValueError, "num_steps must be an int >= 1"),
    (dict(num_steps=True), TypeError, "num_steps must be an int"),
    (dict(step_interval=0), ValueError, "step_interval must be an int >= 1"),
]


@pytest.mark.parametrize("changes, error, message", BAD_ARGUMENTS)
def test_agp_functions_reject_bad_arguments(changes, error, message):
    arguments = {**EXAMPLE, **changes}
    with pytest.raises(error, match=message):
        schedules.agp_sparsity(12, **arguments)
    with pytest.raises(error, match=message):
        schedules.agp_schedule(**arguments)


@pytest.mark.parametrize("step, error", [(-1, ValueError), (2.5, TypeError), (None, TypeError)])
def test_agp_sparsity_rejects_bad_step(step, error):
    with pytest.raises(error, match="step must be an int"):
        schedules.agp_sparsity(step, **EXAMPLE)


def test_agp_pruning_steps_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_steps"):
        schedules.agp_pruning_steps(0, 0)
    with pytest.raises(ValueError, match="step_interval"):
        schedules.agp_pruning_steps(0, 3, -2)
