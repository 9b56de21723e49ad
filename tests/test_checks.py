"""utils.checks: one contract per check, value first and name second, errors that name the
argument and say what is allowed."""

import numpy as np
import pytest
import torch

from utils import checks


@pytest.mark.parametrize("value, expected", [
    (3, True), (np.int8(-2), True), (np.uint64(7), True),
    (True, False), (3.0, False), ("3", False), (torch.tensor(3), False), (None, False)])
def test_is_int_accepts_python_and_numpy_integers_not_bools(value, expected):
    assert checks.is_int(value) is expected


def test_as_int_converts_and_checks_the_minimum():
    converted = checks.as_int(np.int8(100), "steps")
    assert converted == 100 and type(converted) is int
    assert checks.as_int(0, "steps", minimum=0) == 0
    with pytest.raises(ValueError, match=r"steps must be an int >= 1, got 0"):
        checks.as_int(0, "steps", minimum=1)
    with pytest.raises(TypeError, match=r"steps must be an int, got float"):
        checks.as_int(1.0, "steps", minimum=0)
    with pytest.raises(TypeError, match=r"steps must be an int, got bool"):
        checks.as_int(True, "steps")


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", None, True])
def test_check_positive_int_raises_value_error_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"threads must be a positive int, got "):
        checks.check_positive_int(value, "threads")


def test_check_positive_int_accepts_counts():
    for value in (1, 4, np.int32(2)):
        assert checks.check_positive_int(value, "threads") is None


@pytest.mark.parametrize("value", [1, 4, np.int32(2), np.uint8(1), 0, -1, 1.5, 2.0, "2", None,
                                   True, False, torch.tensor(2)])
def test_the_autograders_check_positive_int_keeps_the_same_contract(value):
    """autograder.checks cannot import utils (torch); its check accepts and refuses alike."""
    from autograder import checks as autograder_checks

    outcomes = []
    for check in (checks.check_positive_int, autograder_checks.check_positive_int):
        try:
            check(value, "jobs")
            outcomes.append("accepted")
        except ValueError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("value", [0, 1, 0.25, 1.0, np.float32(0.5), np.int64(1)])
def test_check_fraction_accepts_real_numbers_in_the_closed_unit_interval(value):
    assert checks.check_fraction(value, "final_sparsity", "a sparsity") is None


@pytest.mark.parametrize("value, error, message", [
    (1.5, ValueError, r"final_sparsity must be in \[0, 1\] \(a sparsity\), got 1.5"),
    (-0.1, ValueError, r"must be in \[0, 1\]"), (float("nan"), ValueError, r"got nan"),
    (True, TypeError, r"must be a number in \[0, 1\] \(a sparsity\), got True"),
    ("0.5", TypeError, r"got '0.5'"), (torch.tensor(0.5), TypeError, r"must be a number")])
def test_check_fraction_names_the_argument_and_the_interval(value, error, message):
    with pytest.raises(error, match=message):
        checks.check_fraction(value, "final_sparsity", "a sparsity")


def test_check_instance_and_check_bool():
    checks.check_instance(None, "rule", int, allow_none=True)
    with pytest.raises(TypeError, match=r"rule must be a int or None, got str"):
        checks.check_instance("x", "rule", int, allow_none=True)
    with pytest.raises(TypeError, match=r"signed must be a bool, got int"):
        checks.check_bool(1, "signed")


def test_a_grid_needs_two_integers_a_clamp_range_one():
    """The two range contracts: a quantization grid divides by quant_max - quant_min, clamp
    bounds may be one integer (a fused ReLU from a zero point at the top of the range)."""
    assert checks.as_int32_clamp_range(255, 255) == (255, 255)
    with pytest.raises(ValueError, match=r"quant_min must be < quant_max"):
        checks.as_quant_range(255, 255)
    for check in (checks.as_quant_range, checks.as_int32_clamp_range):
        assert check(np.int8(-128), np.int8(127)) == (-128, 127)
        with pytest.raises(ValueError, match="quant_min"):
            check(5, 4)
        with pytest.raises(TypeError, match="quant_max must be an int"):
            check(0, 255.0)
    with pytest.raises(ValueError, match="INT32_MAX"):
        checks.as_int32_clamp_range(0, checks.INT32_MAX + 1)
    assert checks.as_quant_range(0, 2 ** 40) == (0, 2 ** 40)


def test_along_axis_shapes_per_tensor_and_per_channel_parameters():
    shape = (2, 3, 4, 5)
    assert checks.along_axis(torch.tensor([0.5]), "scale", shape, None).shape == ()
    assert checks.along_axis(torch.ones(3), "scale", shape, 1).shape == (1, 3, 1, 1)
    assert checks.along_axis(torch.ones(5), "scale", shape, -1).shape == (1, 1, 1, 5)
    with pytest.raises(ValueError, match=r"scale must hold one value for per-tensor"):
        checks.along_axis(torch.ones(3), "scale", shape, None)
    with pytest.raises(ValueError, match=r"m0 must be 1-d with 3 entries \(x.shape\[1\]\)"):
        checks.along_axis(torch.ones(4), "m0", shape, 1)
    with pytest.raises(ValueError, match=r"axis must be in -4..3"):
        checks.along_axis(torch.ones(3), "scale", shape, 4)


def test_normalize_axis_takes_value_name_ndim():
    assert checks.normalize_axis(-1, "ch_axis", 3) == 2
    with pytest.raises(ValueError, match=r"ch_axis must be None for a 0-d tensor"):
        checks.normalize_axis(0, "ch_axis", 0)
    with pytest.raises(TypeError, match=r"ch_axis must be an int"):
        checks.normalize_axis(1.0, "ch_axis", 3)


def test_scale_and_eps_checks_share_the_float32_floor():
    assert checks.as_scale(0.1).dtype == torch.float32
    with pytest.raises(ValueError, match=r"scale must be a positive finite float >= 2\.938737e-39"):
        checks.as_scale(1e-40)
    with pytest.raises(TypeError, match=r"eps must be a positive float .*not a tensor"):
        checks.as_eps(torch.tensor(1e-5))
    assert float(checks.as_eps(checks.MIN_SCALE)) == pytest.approx(checks.MIN_SCALE)


def test_observed_tensor_returns_detached_float32():
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    observed = checks.observed_tensor(x)
    assert observed.dtype == torch.float32 and not observed.requires_grad
    with pytest.raises(ValueError, match=r"w must not be empty"):
        checks.observed_tensor(torch.ones(0), "w")
    with pytest.raises(TypeError, match=r"w must be a floating-point tensor, got dtype"):
        checks.observed_tensor(torch.ones(2, dtype=torch.int64), "w")


def test_every_check_takes_the_value_first_and_the_name_second():
    import inspect

    for name in checks.__all__:
        function = getattr(checks, name)
        if not callable(function) or name.startswith("is_"):
            continue
        parameters = list(inspect.signature(function).parameters)
        if name in ("as_quant_range", "as_int32_clamp_range", "check_zero_point_in_range"):
            continue   # a range: two values, each named in the message
        assert parameters[1] == "name", (name, parameters)
