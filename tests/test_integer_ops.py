"""Tests for utils.integer_ops: fixed-point pieces against exact rational arithmetic, integer
layers against float64 reference convolutions, and against PyTorch's fbgemm quantized modules.

Agreement with fbgemm (measured here, AVX2 CPU, torch 2.14.1): 99.2% to 99.9% of the uint8
outputs are identical and the rest differ by exactly one. Why (each point is checked below):

* fbgemm requantizes in float32: ``lrintf((float(acc) + b / float(S_x S_w)) * float(M))``.
  :func:`fbgemm_requantize_float32` reproduces that formula and matches fbgemm on 100% of
  entries, so this *is* what fbgemm does.
* Ours rounds twice (SRDHM to an integer, then the right shift by n: the first rounding moves
  the value by <= 2^-(n+1) output units), rounds the bias to an integer (<= 0.5 accumulator
  units, i.e. <= M/2 output units) and stores M in 31 bits. Every mismatch is a value lying
  within that tolerance of a rounding boundary (``assert_agreement``), and most mismatches
  disappear when the same integers are rounded once
  (``test_most_mismatches_come_from_the_double_rounding``).
"""

import math
import random
from fractions import Fraction

import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.quantization as tq
import torch.nn.functional as F
from torch import nn

from utils import integer_ops as io
from utils.integer_ops import (
    INT32_MAX,
    INT32_MIN,
    IntegerConv2d,
    IntegerLinear,
    conv2d_accumulator,
    fixed_point_multiply,
    integer_conv2d,
    integer_linear,
    linear_accumulator,
    quantize_bias,
    quantize_multiplier,
    requantize,
    rounding_right_shift,
    saturating_rounding_doubling_high_mul,
)

# fbgemm's AVX2 kernels saturate int16 pair sums of u8*s8 products when activations use all
# 8 bits; PyTorch's fbgemm qconfig therefore uses 7-bit activations (reduce_range=True).
ACTIVATION_QMAX = 127


@pytest.fixture(autouse=True)
def fbgemm_engine(monkeypatch):
    """PyTorch's default engine here is x86; the comparisons are made with fbgemm's kernels."""
    monkeypatch.setattr(torch.backends.quantized, "engine", "fbgemm")


# --------------------------------------------------------------------------------------------
# Exact references (Python integers and fractions)
# --------------------------------------------------------------------------------------------

def round_half_away_from_zero(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def exact_fixed_point_multiply(acc, m0, n):
    """SRDHM then RoundingDivideByPOT, in rationals (with the saturating left shift for n < 0)."""
    if n < 0:
        acc = max(INT32_MIN, min(INT32_MAX, acc * 2 ** -n))
    high = round_half_up(Fraction(acc * m0, 2 ** 31))
    return round_half_away_from_zero(Fraction(high, 2 ** max(n, 0)))


def random_int32s(rng, count):
    edges = [0, 1, -1, INT32_MAX, INT32_MIN, INT32_MIN + 1, 2 ** 30, -(2 ** 30)]
    return edges + [rng.randint(INT32_MIN, INT32_MAX) for _ in range(count)] \
        + [rng.randint(-5000, 5000) for _ in range(count)]


# --------------------------------------------------------------------------------------------
# quantize_multiplier
# --------------------------------------------------------------------------------------------

def test_quantize_multiplier_is_within_half_a_unit_of_31_bits():
    rng = random.Random(0)
    multipliers = [0.5, 0.75, 1e-3, 2.0 ** -32, 0.999999, 1.0, 3.0, 2.0 ** 30 * (1 - 2.0 ** -40)] \
        + [2.0 ** rng.uniform(-32, 29.9) for _ in range(300)]
    for m in multipliers:
        m0, n = quantize_multiplier(m)
        assert isinstance(m0, int) and isinstance(n, int)
        assert 2 ** 30 <= m0 < 2 ** 31 and -31 <= n <= 31
        represented = Fraction(m0, 2 ** 31) * Fraction(2) ** -n
        # |M0 - f 2^31| <= 1/2 with f >= 1/2, so the relative error is at most 2^-31.
        assert abs(represented - Fraction(m)) <= Fraction(m) * Fraction(1, 2 ** 31)


def test_quantize_multiplier_edge_values():
    assert quantize_multiplier(0.5) == (2 ** 30, 0)
    assert quantize_multiplier(0.25) == (2 ** 30, 1)
    assert quantize_multiplier(1.0) == (2 ** 30, -1)            # M >= 1: a left shift
    assert quantize_multiplier(1 - 2.0 ** -40) == (2 ** 30, -1)  # mantissa rounds up to 1: carry
    assert quantize_multiplier(0.75) == (3 * 2 ** 29, 0)


def test_quantize_multiplier_per_channel_matches_per_tensor():
    multipliers = torch.tensor([1e-4, 0.003, 0.5, 0.9, 2.5], dtype=torch.float64)
    m0, n = quantize_multiplier(multipliers)
    assert m0.dtype == n.dtype == torch.int64 and m0.shape == n.shape == (5,)
    assert list(zip(m0.tolist(), n.tolist())) == [quantize_multiplier(float(m))
                                                  for m in multipliers]


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), 2.0 ** 30, 2.0 ** -33])
def test_quantize_multiplier_rejects_unrepresentable(bad):
    with pytest.raises(ValueError, match="real_multiplier"):
        quantize_multiplier(bad)


# --------------------------------------------------------------------------------------------
# rounding_right_shift, SRDHM, fixed_point_multiply
# --------------------------------------------------------------------------------------------

def test_rounding_right_shift_matches_round_half_away_from_zero():
    rng = random.Random(1)
    xs = random_int32s(rng, 200)
    for n in [0, 1, 2, 5, 13, 30, 31]:
        ties = [(2 * k + 1) * 2 ** (n - 1) for k in (-3, -1, 0, 2)] if n else []
        values = xs + ties + [-t for t in ties]
        got = rounding_right_shift(torch.tensor(values), n).tolist()
        assert got == [round_half_away_from_zero(Fraction(x, 2 ** n)) for x in values]


def test_rounding_right_shift_ties_and_tensor_shifts():
    x = torch.tensor([5, -5, 3, -3, 6, -6, 7, -7])
    assert rounding_right_shift(x, 1).tolist() == [3, -3, 2, -2, 3, -3, 4, -4]
    shifts = torch.tensor([[0], [1], [2]])                      # broadcasts: one shift per row
    assert rounding_right_shift(torch.tensor([6, -6]), shifts).tolist() == \
        [[6, -6], [3, -3], [2, -2]]


def test_rounding_right_shift_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        rounding_right_shift(torch.tensor([1]), -1)
    with pytest.raises(TypeError, match="x must be an integer tensor"):
        rounding_right_shift(torch.tensor([1.5]), 1)


def test_srdhm_matches_exact_rounding_half_up():
    rng = random.Random(2)
    a = random_int32s(rng, 300)
    b = [rng.choice([2 ** 30, INT32_MAX, rng.randint(2 ** 30, INT32_MAX), rng.randint(
        INT32_MIN, INT32_MAX)]) for _ in a]
    got = saturating_rounding_doubling_high_mul(torch.tensor(a), torch.tensor(b)).tolist()
    expected = [INT32_MAX if x == y == INT32_MIN else round_half_up(Fraction(x * y, 2 ** 31))
                for x, y in zip(a, b)]
    assert got == expected


def test_srdhm_ties_round_up_and_the_one_overflow_saturates():
    half = torch.tensor(2 ** 30)                                 # multiplies by exactly 1/2
    assert saturating_rounding_doubling_high_mul(torch.tensor([3, -3, 1, -1]), half).tolist() \
        == [2, -1, 1, 0]
    assert saturating_rounding_doubling_high_mul(torch.tensor(INT32_MIN),
                                                 torch.tensor(INT32_MIN)).item() == INT32_MAX
    with pytest.raises(OverflowError, match="a does not fit in int32"):
        saturating_rounding_doubling_high_mul(torch.tensor(2 ** 31), half)


def test_fixed_point_multiply_matches_exact_composition_and_real_product():
    rng = random.Random(3)
    accs = random_int32s(rng, 150)
    for m in [0.3, 1e-3, 0.0123, 2.0 ** -20, 0.999, 1.5, 7.0]:
        m0, n = quantize_multiplier(m)
        got = fixed_point_multiply(torch.tensor(accs), m0, n).tolist()
        assert got == [exact_fixed_point_multiply(acc, m0, n) for acc in accs]
        for acc, value in zip(accs, got):
            if n >= 0:     # no saturation: within one unit of the real product
                assert abs(value - acc * m) <= 1 + abs(acc * m) * 2.0 ** -30


def test_fixed_point_multiply_exact_ties():
    m0, n = quantize_multiplier(0.25)                            # exact: M0 = 2^30, n = 1
    acc = torch.tensor([2, -2, 6, -6, 10, -10])                  # acc/4 = +-0.5, 1.5, 2.5
    # SRDHM halves exactly (no rounding); the shift then rounds ties away from zero.
    assert fixed_point_multiply(acc, m0, n).tolist() == [1, -1, 2, -2, 3, -3]
    # Double rounding: 1 * 0.25 -> SRDHM gives round_half_up(0.5) = 1, the shift then gives
    # round_half_away(0.5) = 1, although round(0.25) = 0. For -1: -0.5 -> 0 -> 0.
    assert fixed_point_multiply(torch.tensor([1, -1]), m0, n).tolist() == [1, 0]


def test_fixed_point_multiply_saturates_left_shift_at_both_ends():
    m0, n = quantize_multiplier(4.0)                             # M0 = 2^30, n = -3
    acc = torch.tensor([2 ** 30, -(2 ** 30), 3])
    # 2^30 << 3 saturates to INT32_MAX, times 1/2 -> 2^30 (not 2^32); likewise at INT32_MIN.
    assert fixed_point_multiply(acc, m0, n).tolist() == [2 ** 30, -(2 ** 30), 12]


def test_fixed_point_multiply_rejects_bad_multiplier():
    with pytest.raises(ValueError, match="m0 must be"):
        fixed_point_multiply(torch.tensor([1]), 5, 0)
    with pytest.raises(ValueError, match="n must be"):
        fixed_point_multiply(torch.tensor([1]), 2 ** 30, 40)


# --------------------------------------------------------------------------------------------
# requantize and quantize_bias
# --------------------------------------------------------------------------------------------

def test_requantize_saturates_at_both_ends_and_picks_the_storage_dtype():
    m0, n = quantize_multiplier(0.5)
    acc = torch.tensor([[-1000, -3, 0, 3, 1000]])                # times 1/2: -1.5 -> -1, 1.5 -> 2
    out = requantize(acc, m0, n, out_zero_point=10, quant_min=0, quant_max=255)
    assert out.dtype == torch.uint8 and out.tolist() == [[0, 9, 10, 12, 255]]
    out = requantize(acc, m0, n, out_zero_point=0, quant_min=-128, quant_max=127)
    assert out.dtype == torch.int8 and out.tolist() == [[-128, -1, 0, 2, 127]]
    relu = requantize(acc, m0, n, out_zero_point=10, quant_min=10, quant_max=255)
    assert relu.tolist() == [[10, 10, 10, 12, 255]]
    wide = requantize(acc, m0, n, out_zero_point=0, quant_min=-1000, quant_max=1000)
    assert wide.dtype == torch.int32


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5, 5)])
def test_requantize_per_channel_uses_dim_1(gen, shape):
    acc = torch.randint(-50000, 50000, shape, generator=gen)
    multipliers = torch.tensor([0.001, 0.01, 0.003], dtype=torch.float64)
    m0, n = quantize_multiplier(multipliers)
    out = requantize(acc, m0, n, 128, 0, 255)
    for c in range(3):
        expected = requantize(acc[:, c:c + 1], int(m0[c]), int(n[c]), 128, 0, 255)
        assert torch.equal(out[:, c:c + 1], expected)


def test_requantize_rejects_bad_input():
    with pytest.raises(ValueError, match="quant_min"):
        requantize(torch.zeros(1, 2, dtype=torch.int32), 2 ** 30, 0, 0, 5, 4)
    with pytest.raises(ValueError, match="acc must have channels on dim 1"):
        requantize(torch.zeros(3, dtype=torch.int32), 2 ** 30, 0, 0, 0, 255)
    with pytest.raises(TypeError, match="acc must be an integer tensor"):
        requantize(torch.zeros(1, 2), 2 ** 30, 0, 0, 0, 255)


def test_quantize_bias_per_tensor_and_per_channel(gen):
    bias = torch.randn(6, generator=gen)
    q = quantize_bias(bias, 0.02, 0.005)
    assert q.dtype == torch.int32
    assert q.tolist() == [round(b / (0.02 * 0.005)) for b in bias.double().tolist()]
    weight_scales = torch.tensor([1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3])
    q = quantize_bias(bias, 0.02, weight_scales)
    assert q.tolist() == [round(b / (0.02 * float(s)))
                          for b, s in zip(bias.double().tolist(), weight_scales.double())]


def test_quantize_bias_rejects_bad_input():
    with pytest.raises(OverflowError, match="quantized bias"):
        quantize_bias(torch.tensor([1e6]), 1e-4, 1e-4)
    with pytest.raises(TypeError, match="bias must be a float tensor"):
        quantize_bias(torch.tensor([1, 2]), 0.1, 0.1)
    with pytest.raises(ValueError, match="positive"):
        quantize_bias(torch.tensor([1.0]), 0.1, 0.0)


# --------------------------------------------------------------------------------------------
# Accumulators against float64 references
# --------------------------------------------------------------------------------------------

def test_linear_accumulator_matches_float64_matmul(gen):
    x = torch.randint(0, 256, (5, 7), generator=gen, dtype=torch.uint8)
    w = torch.randint(-128, 128, (3, 7), generator=gen, dtype=torch.int8)
    w_zp = torch.tensor([0, 4, -3])
    bias = torch.tensor([100, -7, 0], dtype=torch.int32)
    acc = linear_accumulator(x, 128, w, w_zp, bias)
    expected = (x.double() - 128) @ (w.double() - w_zp[:, None]).T + bias
    assert acc.dtype == torch.int64 and torch.equal(acc, expected.long())


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (1, 1, 1), (2, 1, 1),
                                                       ((1, 2), (2, 0), (2, 1))])
def test_conv2d_accumulator_matches_float64_conv(gen, stride, padding, dilation):
    x = torch.randint(0, 128, (2, 3, 9, 8), generator=gen, dtype=torch.uint8)
    w = torch.randint(-128, 128, (4, 3, 3, 3), generator=gen, dtype=torch.int8)
    bias = torch.randint(-1000, 1000, (4,), generator=gen, dtype=torch.int32)
    acc = conv2d_accumulator(x, 60, w, 2, bias, stride, padding, dilation)
    expected = F.conv2d(x.double() - 60, w.double() - 2, bias.double(), stride, padding, dilation)
    assert torch.equal(acc, expected.long())


def test_conv2d_padding_pads_with_the_input_zero_point(gen):
    x = torch.randint(0, 128, (1, 2, 5, 5), generator=gen)
    w = torch.randint(-128, 128, (3, 2, 3, 3), generator=gen)
    padded = F.pad(x, (1, 1, 1, 1), value=77)                  # q = Z_x is the real value 0
    assert torch.equal(conv2d_accumulator(x, 77, w, 0, padding=1),
                       conv2d_accumulator(padded, 77, w, 0, padding=0))


def test_accumulators_reject_bad_input():
    with pytest.raises(OverflowError, match="accumulator does not fit in int32"):
        linear_accumulator(torch.tensor([[2 ** 20, 2 ** 20]]), 0,
                           torch.tensor([[2 ** 11, 2 ** 11]]), 0)
    with pytest.raises(TypeError, match=r"x_q\.int_repr\(\)"):
        linear_accumulator(torch.quantize_per_tensor(torch.rand(2, 3), 0.1, 0, torch.quint8), 0,
                           torch.zeros(4, 3, dtype=torch.int8), 0)
    with pytest.raises(ValueError, match=r"x_q \(N, in\)"):
        linear_accumulator(torch.zeros(2, 3, dtype=torch.uint8), 0,
                           torch.zeros(4, 5, dtype=torch.int8), 0)
    with pytest.raises(ValueError, match=r"bias_q must have shape \(4,\)"):
        linear_accumulator(torch.zeros(2, 3, dtype=torch.uint8), 0,
                           torch.zeros(4, 3, dtype=torch.int8), 0,
                           torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="groups=1 only"):
        conv2d_accumulator(torch.zeros(1, 4, 5, 5, dtype=torch.uint8), 0,
                           torch.zeros(2, 2, 3, 3, dtype=torch.int8), 0)
    with pytest.raises(ValueError, match="stride"):
        conv2d_accumulator(torch.zeros(1, 2, 5, 5, dtype=torch.uint8), 0,
                           torch.zeros(2, 2, 3, 3, dtype=torch.int8), 0, stride=0)


def test_integer_linear_and_conv2d_share_requantize(gen, monkeypatch):
    calls = []
    original = io.requantize
    monkeypatch.setattr(io, "requantize", lambda *args: calls.append(args) or original(*args))
    m0, n = quantize_multiplier(0.01)
    x = torch.randint(0, 128, (2, 3, 4, 4), generator=gen)
    w = torch.randint(-128, 128, (5, 3, 3, 3), generator=gen)
    out_conv = integer_conv2d(x, 64, w, 0, None, m0, n, 128, 0, 255, padding=1)
    out_lin = integer_linear(x[:, :, :2, :2].flatten(1), 64, w[:, :, :2, :2].flatten(1), 0, None,
                             m0, n, 128, 0, 255)
    assert len(calls) == 2
    assert out_conv.shape == (2, 5, 4, 4) and out_lin.shape == (2, 5)
    assert out_conv.dtype == out_lin.dtype == torch.uint8


# --------------------------------------------------------------------------------------------
# Against PyTorch's fbgemm quantized modules
# --------------------------------------------------------------------------------------------

def quantized_weight(weight, per_channel, zero_point=0):
    """qint8 weight, symmetric by default; per output channel (axis 0) or per tensor."""
    if per_channel:
        scales = (weight.abs().flatten(1).amax(1) / 127).double()
        zero_points = torch.full((weight.shape[0],), zero_point, dtype=torch.long)
        return torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
    return torch.quantize_per_tensor(weight, float(weight.abs().max() / 127), zero_point,
                                     torch.qint8)


def quantized_input(x, qmax=ACTIVATION_QMAX):
    """quint8 input over [min, max] of x with qmax+1 levels (7 bits by default, as fbgemm's)."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / qmax
    return torch.quantize_per_tensor(x, scale, round(-lo / scale), torch.quint8)


def output_qparams(reference_output):
    lo, hi = min(float(reference_output.min()), 0.0), max(float(reference_output.max()), 0.0)
    scale = (hi - lo) / 255
    return scale, round(-lo / scale)


def make_quantized_linear(gen, in_features, out_features, per_channel, bias, relu=False,
                          weight_zero_point=0):
    weight = torch.randn(out_features, in_features, generator=gen) * 0.1
    b = torch.randn(out_features, generator=gen) if bias else None
    module = (nniq.LinearReLU if relu else nnq.Linear)(in_features, out_features)
    module.set_weight_bias(quantized_weight(weight, per_channel, weight_zero_point), b)
    x = torch.randn(64, in_features, generator=gen)
    module.scale, module.zero_point = output_qparams(F.linear(x, weight, b))
    return module, quantized_input(x)


def make_quantized_conv(gen, per_channel, bias, relu=False, stride=1, padding=1, dilation=1):
    weight = torch.randn(8, 4, 3, 3, generator=gen) * 0.2
    b = torch.randn(8, generator=gen) if bias else None
    module = (nniq.ConvReLU2d if relu else nnq.Conv2d)(4, 8, 3, stride=stride, padding=padding,
                                                       dilation=dilation)
    module.set_weight_bias(quantized_weight(weight, per_channel), b)
    x = torch.randn(4, 4, 10, 10, generator=gen)
    module.scale, module.zero_point = output_qparams(
        F.conv2d(x, weight, b, stride, padding, dilation))
    return module, quantized_input(x)


def integer_layer_for(module):
    integer_class = IntegerConv2d if isinstance(module, nnq.Conv2d) else IntegerLinear
    return integer_class.from_quantized(module)


def accumulator_without_bias(layer, x_q):
    """The int32 accumulator sum (q_x - Z_x)(q_w - Z_w) of an integer layer, bias left out."""
    if isinstance(layer, IntegerConv2d):
        return conv2d_accumulator(x_q.int_repr(), x_q.q_zero_point(), layer.weight_q,
                                  layer.weight_zero_point, None, layer.stride, layer.padding,
                                  layer.dilation)
    return linear_accumulator(x_q.int_repr(), x_q.q_zero_point(), layer.weight_q,
                              layer.weight_zero_point)


def channel_view(acc, per_channel):
    """Shape that broadcasts a per-channel vector along dim 1 of acc ([] when per tensor)."""
    return [1, -1] + [1] * (acc.dim() - 2) if per_channel else []


def run_both(module, x_q):
    """(fbgemm's output integers, ours) as int64 tensors."""
    layer = integer_layer_for(module)
    ours = layer(x_q.int_repr(), x_q.q_scale(), x_q.q_zero_point())
    assert ours.dtype == torch.uint8
    return module(x_q).int_repr().long(), ours.long()


def requantization_operands(module, x_q, dtype):
    """(acc + b / (S_x S_w), M = S_x S_w / S_y) in ``dtype``: float32 as fbgemm, float64 ~exact."""
    layer = integer_layer_for(module)
    acc = accumulator_without_bias(layer, x_q)
    acc_scale = (torch.tensor(x_q.q_scale(), dtype=dtype) * layer.weight_scale.to(dtype)) \
        .reshape(channel_view(acc, layer.weight_scale.dim() > 0))
    real_acc = acc.to(dtype)
    if module.bias() is not None:
        real_acc = real_acc + module.bias().to(dtype).reshape(channel_view(acc, True)) / acc_scale
    return real_acc, acc_scale / torch.tensor(module.scale, dtype=dtype)


def fbgemm_requantize_float32(module, x_q):
    """fbgemm's formula, emulated: lrintf((float(acc) + b / float(S_x S_w)) * float(M)) + Z_y."""
    real_acc, multiplier = requantization_operands(module, x_q, torch.float32)
    rounded = torch.round(real_acc * multiplier).long() + module.zero_point   # half to even
    return rounded.clamp(integer_layer_for(module).quant_min, 255)


def exact_output_and_tolerance(module, x_q):
    """The exact real requantized value v (before rounding) and how far ours may stray from it.

    Ours rounds a value within tol = M/2 (rounded bias) + 2^-(n+1) (first rounding of the
    double rounding) + |acc| M 2^-31 (31-bit M0) of v; fbgemm rounds v itself (float32 error
    ~|v| 2^-22). So ours != fbgemm only if v is within tol + |v| 2^-20 of a rounding boundary.
    """
    real_acc, multiplier = requantization_operands(module, x_q, torch.float64)
    _, shift = quantize_multiplier(multiplier.flatten())
    first_rounding = 2.0 ** -(shift.double().reshape(multiplier.shape) + 1)
    value = real_acc * multiplier
    tolerance = multiplier / 2 + first_rounding + real_acc.abs() * multiplier * 2.0 ** -31
    return value, tolerance + value.abs() * 2.0 ** -20


def assert_agreement(fbgemm, ours, module, x_q, min_fraction_equal=0.99):
    diff = (fbgemm - ours).abs()
    fraction_equal = (diff == 0).double().mean().item()
    print(f"{type(module).__name__}: {fraction_equal:.4%} equal, max diff {diff.max().item()}")
    assert diff.max() <= 1
    assert fraction_equal >= min_fraction_equal
    # Every mismatch is explained: the exact value sits at a rounding boundary, within the
    # tolerance of our integer pipeline (clamped outputs never disagree).
    value, tolerance = exact_output_and_tolerance(module, x_q)
    distance_to_boundary = (value - value.floor() - 0.5).abs()
    mismatch = diff != 0
    assert (distance_to_boundary[mismatch] <= tolerance.expand_as(value)[mismatch]).all()


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_integer_linear_agrees_with_fbgemm_linear(gen, per_channel, bias):
    module, x_q = make_quantized_linear(gen, 120, 48, per_channel, bias)
    fbgemm, ours = run_both(module, x_q)
    assert_agreement(fbgemm, ours, module, x_q)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_integer_conv2d_agrees_with_fbgemm_conv2d(gen, per_channel, bias):
    module, x_q = make_quantized_conv(gen, per_channel, bias)
    fbgemm, ours = run_both(module, x_q)
    assert_agreement(fbgemm, ours, module, x_q)


@pytest.mark.parametrize("stride, padding, dilation", [(2, 0, 1), (1, 2, 2), ((2, 1), (1, 0), 1)])
def test_integer_conv2d_geometry_agrees_with_fbgemm(gen, stride, padding, dilation):
    module, x_q = make_quantized_conv(gen, True, True, stride=stride, padding=padding,
                                      dilation=dilation)
    fbgemm, ours = run_both(module, x_q)
    assert fbgemm.shape == ours.shape
    assert_agreement(fbgemm, ours, module, x_q)


def test_fused_relu_and_weight_zero_point_agree_with_fbgemm(gen):
    for module, x_q in [make_quantized_linear(gen, 64, 32, False, True, relu=True),
                        make_quantized_conv(gen, True, True, relu=True),
                        make_quantized_linear(gen, 64, 32, False, True, weight_zero_point=5),
                        make_quantized_linear(gen, 64, 32, True, False, weight_zero_point=-3)]:
        fbgemm, ours = run_both(module, x_q)
        assert_agreement(fbgemm, ours, module, x_q)
        if isinstance(module, (nniq.LinearReLU, nniq.ConvReLU2d)):
            assert ours.min() >= module.zero_point


@pytest.mark.parametrize("make", [make_quantized_linear, make_quantized_conv])
def test_float32_emulation_reproduces_fbgemm_exactly(gen, make):
    """The explanation of the differences: fbgemm really computes this float32 formula."""
    for per_channel, bias in [(False, True), (True, True), (True, False)]:
        module, x_q = (make(gen, 120, 48, per_channel, bias) if make is make_quantized_linear
                       else make(gen, per_channel, bias))
        assert torch.equal(fbgemm_requantize_float32(module, x_q), module(x_q).int_repr().long())


def single_rounding_requantize(layer, x_q):
    """Like ours but with ONE rounding: round_half_up((acc + q_b) M0 / 2^(31+n)), exact in int64."""
    acc = accumulator_without_bias(layer, x_q)
    m0, shift = layer.requantization_multiplier(x_q.q_scale())
    view = channel_view(acc, layer.weight_scale.dim() > 0)
    m0, shift = torch.as_tensor(m0).reshape(view), torch.as_tensor(shift).reshape(view)
    bias_q = layer.quantized_bias(x_q.q_scale())
    if bias_q is not None:
        acc = acc + bias_q.long().reshape(channel_view(acc, True))
    total_shift = 31 + shift
    rounded = torch.div(acc * m0 + (1 << (total_shift - 1)), 1 << total_shift,
                        rounding_mode="floor")
    return (rounded + layer.zero_point).clamp(layer.quant_min, layer.quant_max)


def test_most_mismatches_come_from_the_double_rounding(gen):
    """SRDHM rounds, then the shift rounds again; rounding once leaves ~10x fewer mismatches."""
    cases = [make_quantized_linear(gen, 120, 48, per_channel, True) for per_channel in (0, 1)] \
        + [make_quantized_conv(gen, per_channel, True) for per_channel in (0, 1)]
    double_rounding_mismatches = single_rounding_mismatches = 0
    for module, x_q in cases:
        fbgemm, ours = run_both(module, x_q)
        single = single_rounding_requantize(integer_layer_for(module), x_q)
        double_rounding_mismatches += int((fbgemm != ours).sum())
        single_rounding_mismatches += int((fbgemm != single).sum())
    print(f"mismatches: {double_rounding_mismatches} (SRDHM + shift), "
          f"{single_rounding_mismatches} (one rounding)")
    assert single_rounding_mismatches * 3 < double_rounding_mismatches


def test_integer_linear_agrees_with_eager_post_training_quantization(gen):
    float_model = nn.Sequential(tq.QuantStub(), nn.Linear(40, 24), tq.DeQuantStub()).eval()
    float_model.qconfig = tq.get_default_qconfig("fbgemm")
    prepared = tq.prepare(float_model)
    calibration = torch.randn(256, 40, generator=gen)
    prepared(calibration)
    quantized = tq.convert(prepared)
    # The model's own input qparams. The observer chose them for 0..127 (reduce_range), but
    # quantize_per_tensor clamps to 0..255, so outliers still reach 8 bits at run time.
    x_q = quantized[0](calibration)
    fbgemm, ours = run_both(quantized[1], x_q)
    assert_agreement(fbgemm, ours, quantized[1], x_q)


def test_from_quantized_rejects_unsupported_modules():
    with pytest.raises(TypeError, match="module must be a"):
        IntegerLinear.from_quantized(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="module must be a"):
        IntegerConv2d.from_quantized(nnq.Linear(3, 2))
    grouped = nnq.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="groups=1"):
        IntegerConv2d.from_quantized(grouped)


# --------------------------------------------------------------------------- issue 17 regressions


def test_quantize_multiplier_of_a_string_says_what_is_allowed():
    """Unclear error 5: was "invalid data type 'str'"."""
    with pytest.raises(TypeError, match="real_multiplier must be a positive float .* got str"):
        quantize_multiplier("0.5")


def test_requantize_accepts_numpy_integer_ranges():
    """Finding 7 (integer ranges everywhere): NumPy integers are converted, not refused."""
    np = pytest.importorskip("numpy")
    acc = torch.tensor([[1000, -1000, 5]])
    m0, shift = quantize_multiplier(0.01)
    assert torch.equal(requantize(acc, m0, shift, 3, np.int16(0), np.int16(255)),
                       requantize(acc, m0, shift, 3, 0, 255))
