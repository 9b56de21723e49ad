"""utils.quantization against PyTorch, the oracle: integer ranges, qparams, quantize, dequantize,
fake-quantize (values and straight-through gradient), the seed's worked examples, bad input."""

import functools

import pytest
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from utils.quantization import (
    EPS,
    Scheme,
    ZeroPointRule,
    choose_qparams,
    dequantize,
    fake_quantize,
    quant_range,
    quantization_error,
    quantize,
    symmetric_zero_point,
)

# Hundreds of ATen calls on tiny tensors: one intra-op thread keeps this file fast.
pytestmark = pytest.mark.usefixtures("one_intra_op_thread")


INT32_RANGE = (-(2**31), 2**31 - 1)
QINT_RANGES = {torch.quint8: (0, 255), torch.qint8: (-128, 127), torch.qint32: INT32_RANGE}

SEED_X = torch.tensor([[0.8779, 0.2919, 0.6965], [0.8018, 0.2809, 0.0910]])


def random_float32_scales(gen, n, low=1e-3, high=0.1):
    """Scales that are float32 numbers (so torch's double scale and ours agree exactly)."""
    return low + (high - low) * torch.rand(n, generator=gen)


def random_zero_points(gen, n, quant_min, quant_max):
    low, high = max(quant_min, -1000), min(quant_max, 1000)
    return torch.randint(low, high + 1, (n,), generator=gen)


def values_around_grid(gen, n, scale, zero_point, quant_min, quant_max):
    """Random values in and beyond the range, plus values exactly on .5 boundaries. (Not beyond
    ~2^31 steps: there ATen's int32 arithmetic overflows, e.g. quint8 with a zero point > 127
    maps 1e30 to 0.)"""
    spread = (min(quant_max, 300) - max(quant_min, -300)) * scale
    centre = 0.5 * spread - zero_point * scale
    random = (torch.rand(n, generator=gen) * 2.4 - 1.2) * spread + centre
    halves = (torch.randint(-300, 300, (n,), generator=gen) + 0.5) * scale
    extremes = torch.tensor([0.0, -0.0, 1e6, -1e6])
    return torch.cat([random, halves.to(torch.float32), extremes])


def int_repr(quantized):
    return quantized.int_repr().to(torch.int64)


# --------------------------------------------------------------------------- quant_range


@pytest.mark.parametrize("bits", range(2, 17))
def test_quant_range_covers_2_to_the_bits_integers(bits):
    assert quant_range(bits) == (0, 2**bits - 1)
    assert quant_range(bits, signed=True) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@pytest.mark.parametrize("dtype, signed", [(torch.quint8, False), (torch.qint8, True)])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_quant_range_matches_torch_observer_defaults(dtype, signed, reduce_range):
    observer = MinMaxObserver(dtype=dtype, reduce_range=reduce_range)
    assert quant_range(8, signed, reduce_range) == (observer.quant_min, observer.quant_max)


def test_quant_range_reduce_range_halves_like_torch_custom_ranges():
    observer = MinMaxObserver(dtype=torch.qint8, quant_min=-8, quant_max=7, reduce_range=True)
    assert (observer.quant_min, observer.quant_max) == (-4, 3)
    assert quant_range(4, signed=True, reduce_range=True) == (-4, 3)
    assert quant_range(4, reduce_range=True) == (0, 7)


# --------------------------------------------------------------------------- choose_qparams


def scheme_of(symmetric):
    return Scheme.SYMMETRIC if symmetric else Scheme.AFFINE


def torch_qparams(min_val, max_val, quant_min, quant_max, symmetric, dtype, customized=True):
    """PyTorch's ObserverBase._calculate_qparams for the given range and settings."""
    if min_val.dim() == 1:
        qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        cls = PerChannelMinMaxObserver
    else:
        qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        cls = MinMaxObserver
    kwargs = dict(quant_min=quant_min, quant_max=quant_max) if customized else {}
    observer = cls(dtype=dtype, qscheme=qscheme, **kwargs)
    return observer._calculate_qparams(min_val, max_val)


def assert_same_qparams(ours, theirs):
    (scale, zero_point), (torch_scale, torch_zero_point) = ours, theirs
    assert scale.dtype == torch.float32 and zero_point.dtype == torch.int64
    assert scale.shape == torch_scale.shape and zero_point.shape == torch_zero_point.shape
    assert torch.equal(scale, torch_scale), (scale.tolist(), torch_scale.tolist())
    assert torch.equal(zero_point, torch_zero_point.to(torch.int64)), (
        zero_point.tolist(), torch_zero_point.tolist())


EDGE_RANGES = {
    "random": (-0.7312, 2.0318),
    "constant positive": (3.0, 3.0),
    "constant negative": (-2.5, -2.5),
    "all negative": (-5.25, -0.125),
    "all positive": (0.125, 5.25),
    "tiny range": (1e-10, 2e-10),
    "tiny around zero": (-1e-10, 1e-10),
    "zeros": (0.0, 0.0),
    "wide": (-300.0, 77.0),
}


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("bits", range(2, 17))
@pytest.mark.parametrize("signed", [False, True])
def test_choose_qparams_equals_torch_for_every_bit_width(bits, signed, symmetric):
    quant_min, quant_max = quant_range(bits, signed)
    # PyTorch's default (not customized) ranges: quint8 0..255 and uint16 0..65535
    default = not signed and bits in (8, 16)
    if default:
        dtype = torch.quint8 if bits == 8 else torch.uint16
    else:
        dtype = torch.qint32 if signed else torch.quint8
    for low, high in EDGE_RANGES.values():
        min_val, max_val = torch.tensor(low), torch.tensor(high)
        rule = ZeroPointRule.of(signed=signed, customized=not default)
        ours = choose_qparams(min_val, max_val, quant_min, quant_max,
                              scheme=scheme_of(symmetric), zero_point_rule=rule)
        theirs = torch_qparams(min_val, max_val, quant_min, quant_max, symmetric, dtype,
                               customized=not default)
        assert_same_qparams(ours, theirs)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("dtype", list(QINT_RANGES))
def test_choose_qparams_equals_torch_per_channel_random(gen, dtype, symmetric):
    quant_min, quant_max = QINT_RANGES[dtype]
    for _ in range(20):
        a, b = torch.randn(2, 16, generator=gen) * torch.rand(1, generator=gen) * 10
        a[:3], b[:3] = a[:3].abs(), b[:3].abs()  # some all-positive channels
        a[3], b[3] = 0.0, 0.0  # an all-zero channel
        min_val, max_val = torch.minimum(a, b), torch.maximum(a, b)
        ours = choose_qparams(min_val, max_val, quant_min, quant_max, scheme=scheme_of(symmetric))
        theirs = torch_qparams(min_val, max_val, quant_min, quant_max, symmetric, dtype,
                               customized=False)
        assert_same_qparams(ours, theirs)


def test_choose_qparams_widens_the_range_to_include_zero():
    scale, zero_point = choose_qparams(2.0, 4.0, 0, 255)
    assert zero_point.item() == 0 and scale.item() == pytest.approx(4.0 / 255)
    scale, zero_point = choose_qparams(-4.0, -2.0, 0, 255)
    assert zero_point.item() == 255 and scale.item() == pytest.approx(4.0 / 255)


def test_choose_qparams_floors_the_scale_at_eps():
    scale, zero_point = choose_qparams(0.0, 0.0, 0, 255)
    assert scale.item() == EPS and zero_point.item() == 0
    scale, _ = choose_qparams(0.0, 0.0, -128, 127, scheme=Scheme.SYMMETRIC, eps=1e-3)
    assert scale.item() == pytest.approx(1e-3)


def test_symmetric_zero_point_follows_torch_rule():
    assert symmetric_zero_point(-128, 127) == 0
    assert symmetric_zero_point(0, 255) == 128  # quint8 default range
    assert symmetric_zero_point(0, 65535) == 2**15  # uint16 default range
    assert symmetric_zero_point(0, 15) == 7  # customized: rounded-down midpoint
    customized = ZeroPointRule.of(signed=False, customized=True)
    assert symmetric_zero_point(0, 255, rule=customized) == 127  # 0..255 passed explicitly
    qint8_rule = ZeroPointRule.of(signed=True, customized=True)
    assert symmetric_zero_point(0, 15, rule=qint8_rule) == 0  # qint8 dtype with a 0..15 range
    assert choose_qparams(-1.0, 1.0, 0, 255, scheme=Scheme.SYMMETRIC)[1].item() == 128


@pytest.mark.parametrize("quant_min, quant_max, rule", [
    (-128, 127, ZeroPointRule.ZERO), (-8, 7, ZeroPointRule.ZERO),
    (0, 255, ZeroPointRule.UPPER_MIDPOINT), (0, 65535, ZeroPointRule.UPPER_MIDPOINT),
    (0, 15, ZeroPointRule.LOWER_MIDPOINT), (0, 127, ZeroPointRule.LOWER_MIDPOINT)])
def test_zero_point_rule_infer_is_the_default_of_choose_qparams(quant_min, quant_max, rule):
    assert ZeroPointRule.infer(quant_min, quant_max) is rule
    implicit = choose_qparams(-0.3, 0.9, quant_min, quant_max, scheme=Scheme.SYMMETRIC)
    explicit = choose_qparams(-0.3, 0.9, quant_min, quant_max, scheme=Scheme.SYMMETRIC,
                              zero_point_rule=rule)
    assert_same_qparams(implicit, explicit)
    assert implicit[1].item() == rule.zero_point(quant_min, quant_max)


def test_zero_point_rule_of_the_integer_type():
    assert ZeroPointRule.of(signed=True, customized=False) is ZeroPointRule.ZERO
    assert ZeroPointRule.of(signed=True, customized=True) is ZeroPointRule.ZERO
    assert ZeroPointRule.of(signed=False, customized=False) is ZeroPointRule.UPPER_MIDPOINT
    assert ZeroPointRule.of(signed=False, customized=True) is ZeroPointRule.LOWER_MIDPOINT
    assert ZeroPointRule.UPPER_MIDPOINT.zero_point(0, 255) == 128
    assert ZeroPointRule.LOWER_MIDPOINT.zero_point(0, 255) == 127
    with pytest.raises(TypeError, match="customized must be a bool"):
        ZeroPointRule.of(signed=False, customized=None)


def test_the_affine_scheme_does_not_use_the_zero_point_rule():
    for rule in ZeroPointRule:
        assert_same_qparams(choose_qparams(-0.3, 0.9, 0, 255, zero_point_rule=rule),
                            choose_qparams(-0.3, 0.9, 0, 255, scheme=Scheme.AFFINE))


def test_choose_qparams_options_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        choose_qparams(-1.0, 1.0, 0, 255, Scheme.SYMMETRIC)
    with pytest.raises(TypeError, match="positional"):
        symmetric_zero_point(0, 255, ZeroPointRule.ZERO)


def test_choose_qparams_symmetric_customized_0_255_equals_torch():
    min_val, max_val = torch.tensor(-0.3), torch.tensor(0.9)
    ours = choose_qparams(min_val, max_val, 0, 255, scheme=Scheme.SYMMETRIC,
                          zero_point_rule=ZeroPointRule.LOWER_MIDPOINT)
    theirs = torch_qparams(min_val, max_val, 0, 255, True, torch.quint8, customized=True)
    assert_same_qparams(ours, theirs)


def test_choose_qparams_32_bit_zero_point_does_not_overflow():
    """PyTorch rounds min/scale into int32; for qint32 and x_min <~ -512 that overflows and its
    zero point becomes 0. Ours stays int64: the zero point is clamped to quant_max and x_min maps
    to quant_min."""
    quant_min, quant_max = INT32_RANGE
    scale, zero_point = choose_qparams(-1000.0, -1.0, quant_min, quant_max)
    assert zero_point.item() == quant_max
    q = quantize(torch.tensor([-1000.0, 0.0]), scale, zero_point, quant_min, quant_max)
    assert q.tolist() == [quant_min, quant_max]


# --------------------------------------------------------------------------- quantize / dequantize


@pytest.mark.parametrize("dtype", list(QINT_RANGES))
def test_quantize_per_tensor_equals_torch(gen, dtype):
    quant_min, quant_max = QINT_RANGES[dtype]
    for _ in range(30):
        scale = random_float32_scales(gen, 1).item()
        zero_point = random_zero_points(gen, 1, quant_min, quant_max).item()
        x = values_around_grid(gen, 500, scale, zero_point, quant_min, quant_max)
        expected = torch.quantize_per_tensor(x, scale, zero_point, dtype)
        q = quantize(x, scale, zero_point, quant_min, quant_max)
        assert q.dtype == torch.int64
        assert torch.equal(q, int_repr(expected))
        assert torch.equal(dequantize(q, scale, zero_point), expected.dequantize())


@pytest.mark.parametrize("zero_point", [0, 3, 4, 128, 131])
def test_quantize_rounds_half_to_even_before_adding_the_zero_point(zero_point):
    scale = 2.0**-4  # power of two: x * (1/scale) is exact, so these are true .5 ties
    x = (torch.arange(-40, 40, dtype=torch.float32) + 0.5) * scale
    expected = torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)
    assert torch.equal(quantize(x, scale, zero_point, 0, 255), int_repr(expected))
    halves = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5])
    assert quantize(halves, 1.0, 0, -128, 127).tolist() == [0, 2, 2, 0, -2]


def test_quantize_multiplies_by_the_float32_reciprocal_like_aten():
    """fbgemm's own example: x/s = 127.49999 but x * fl(1/s) = 127.5 -> 128 (half to even)."""
    scale, x = 0.00214854861, torch.tensor([0.273939937])
    assert quantize(x, scale, 0, 0, 255).item() == 128
    assert torch.quantize_per_tensor(x, scale, 0, torch.quint8).int_repr().item() == 128


def test_quantize_clamps_to_the_range():
    x = torch.tensor([-100.0, -0.6, 0.0, 0.6, 100.0, float("inf"), float("-inf")])
    assert quantize(x, 0.1, 2, 0, 15).tolist() == [0, 0, 2, 8, 15, 15, 0]


PER_CHANNEL_CASES = [((6, 5), 0), ((6, 5), 1), ((4, 3, 5, 2), 0), ((4, 3, 5, 2), 1),
                     ((4, 3, 5, 2), 2), ((4, 3, 5, 2), -1)]


@pytest.mark.parametrize("dtype", list(QINT_RANGES))
@pytest.mark.parametrize("shape, axis", PER_CHANNEL_CASES)
def test_quantize_per_channel_equals_torch(gen, dtype, shape, axis):
    quant_min, quant_max = QINT_RANGES[dtype]
    channels = shape[axis]
    view = [1] * len(shape)
    view[axis] = channels
    for _ in range(10):
        scales = random_float32_scales(gen, channels)
        zero_points = random_zero_points(gen, channels, quant_min, quant_max)
        random = torch.randn(shape, generator=gen) * 3
        # exact .5 ties: power-of-two scales and values (k + 0.5) * scale
        tie_scales = 2.0 ** -torch.randint(2, 8, (channels,), generator=gen).to(torch.float32)
        ties = (torch.randint(-200, 200, shape, generator=gen) + 0.5) * tie_scales.reshape(view)
        for x, x_scales in ((random, scales), (ties, tie_scales)):
            expected = torch.quantize_per_channel(x, x_scales.double(), zero_points,
                                                  axis % len(shape), dtype)
            q = quantize(x, x_scales, zero_points, quant_min, quant_max, axis=axis)
            assert torch.equal(q, int_repr(expected))
            x_hat = dequantize(q, x_scales, zero_points, axis=axis)
            assert torch.equal(x_hat, expected.dequantize())


def test_quantize_per_channel_uses_each_channels_own_scale():
    x = torch.ones(2, 3)
    rows = quantize(x, torch.tensor([1.0, 0.5]), torch.tensor([0, 1]), 0, 255, axis=0)
    assert rows.tolist() == [[1, 1, 1], [3, 3, 3]]
    columns = quantize(x, torch.tensor([1.0, 0.5, 0.25]), torch.zeros(3, dtype=torch.int64),
                       0, 255, axis=1)
    assert columns.tolist() == [[1, 2, 4], [1, 2, 4]]


def test_quantize_zero_dim_tensor_and_tensor_qparams():
    zero_point = torch.tensor([1], dtype=torch.int32)
    q = quantize(torch.tensor(0.3), torch.tensor([0.1]), zero_point, 0, 255)
    assert q.shape == () and q.item() == 4


# --------------------------------------------------------------------------- the seed's examples


def test_seed_example_4_bit_min_max():
    scale, zero_point = choose_qparams(SEED_X.min(), SEED_X.max(), 0, 15)
    assert repr(scale.item()) == "0.058526668697595596"
    assert zero_point.item() == 0
    assert quantize(SEED_X, scale, zero_point, 0, 15).tolist() == [[15, 5, 12], [14, 5, 2]]


def test_seed_example_scale_one_sixteenth():
    assert quantize(SEED_X, 1 / 16, 0, 0, 15).tolist() == [[14, 5, 11], [13, 4, 1]]


def test_seed_example_quint8_scale_one_over_256():
    q = quantize(SEED_X, 1 / 256, 0, 0, 255)
    assert q.tolist() == [[225, 75, 178], [205, 72, 23]]
    x_hat = dequantize(q, 1 / 256, 0)
    assert torch.equal(x_hat, q.to(torch.float32) / 256)
    to_4_decimals = [[f"{v:.4f}" for v in row] for row in x_hat.tolist()]
    assert to_4_decimals == [["0.8789", "0.2930", "0.6953"], ["0.8008", "0.2812", "0.0898"]]


# --------------------------------------------------------------------------- fake_quantize


QAT_RANGES = [(0, 255), (-128, 127), (0, 15), (-8, 7), (0, 3), (-2, 1)]


def assert_same_value_and_gradient(ours, theirs, x, upstream):
    """Apply both fake-quantizers to copies of x; compare outputs and input gradients."""
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    # d(sum(y * upstream))/dy = upstream. (y.backward(upstream) would do the same, but its first
    # call imports torch's symbolic-shapes machinery: seconds on a busy machine.)
    (y_ours * upstream).sum().backward()
    (y_theirs * upstream).sum().backward()
    assert torch.equal(y_ours, y_theirs)
    assert torch.equal(x_ours.grad, x_theirs.grad)
    return x_ours.grad


def torch_fake_quantize_per_tensor(x, scale, zero_point, quant_min, quant_max, tensor_qparams):
    if tensor_qparams:  # the overload that takes tensor qparams
        scale, zero_point = torch.tensor([scale]), torch.tensor([zero_point], dtype=torch.int32)
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)


@pytest.mark.parametrize("quant_min, quant_max", QAT_RANGES)
def test_fake_quantize_per_tensor_value_and_gradient_equal_torch(gen, quant_min, quant_max):
    for trial in range(10):
        scale = random_float32_scales(gen, 1, 0.01, 0.2).item()
        zero_point = random_zero_points(gen, 1, quant_min, quant_max).item()
        qparams = (scale, zero_point, quant_min, quant_max)
        x = values_around_grid(gen, 300, *qparams)
        upstream = torch.randn(x.shape, generator=gen)
        grad = assert_same_value_and_gradient(
            functools.partial(fake_quantize, scale=scale, zero_point=zero_point,
                              quant_min=quant_min, quant_max=quant_max),
            functools.partial(torch_fake_quantize_per_tensor, scale=scale, zero_point=zero_point,
                              quant_min=quant_min, quant_max=quant_max, tensor_qparams=trial % 2),
            x, upstream)
        assert (grad == 0).any() and (grad != 0).any()  # both clipped and passed values


@pytest.mark.parametrize("quant_min, quant_max", QAT_RANGES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fake_quantize_per_channel_value_and_gradient_equal_torch(gen, quant_min, quant_max, axis):
    shape = (5, 4, 3)
    channels = shape[axis]
    for _ in range(5):
        scales = random_float32_scales(gen, channels, 0.01, 0.3)
        zero_points = random_zero_points(gen, channels, quant_min, quant_max)
        x = torch.randn(shape, generator=gen) * 2
        upstream = torch.randn(shape, generator=gen)
        assert_same_value_and_gradient(
            functools.partial(fake_quantize, scale=scales, zero_point=zero_points,
                              quant_min=quant_min, quant_max=quant_max, axis=axis),
            functools.partial(torch.fake_quantize_per_channel_affine, scale=scales,
                              zero_point=zero_points.to(torch.int32), axis=axis % 3,
                              quant_min=quant_min, quant_max=quant_max),
            x, upstream)


def test_fake_quantize_gradient_mask_edges():
    """The gradient passes up to round(x/s)+z == quant_max and stops one step beyond."""
    # scale 0.1, zero point 5, range 0..20; unclamped integers -1, 0 (-5 + 5: half to even),
    # 5, 19, 20, 21, 25
    x = torch.tensor([-0.6, -0.5, 0.0, 1.4, 1.5, 1.6, 2.0], requires_grad=True)
    y = fake_quantize(x, 0.1, 5, 0, 20)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert torch.equal(y.detach(), dequantize(quantize(x.detach(), 0.1, 5, 0, 20), 0.1, 5))


def test_fake_quantize_keeps_dtype_and_equals_dequantize_of_quantize(gen):
    x = torch.randn(50, generator=gen, dtype=torch.float64, requires_grad=True)
    y = fake_quantize(x, 0.05, 3, -8, 7)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert x.grad.dtype == torch.float64
    x32 = x.detach().to(torch.float32)
    expected = dequantize(quantize(x32, 0.05, 3, -8, 7), 0.05, 3)
    assert torch.equal(y.detach().to(torch.float32), expected)


def test_quantization_error_is_bounded_by_half_a_step_inside_the_range(gen):
    x = torch.rand(1000, generator=gen)
    error = quantization_error(x, 1 / 255, 0, 0, 255)
    assert error.abs().max().item() <= 0.5 / 255 + 1e-7
    clipped = quantization_error(torch.tensor([2.0]), 1 / 255, 0, 0, 255)
    assert clipped.item() == pytest.approx(-1.0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bits, error", [(1, ValueError), (17, ValueError), (0, ValueError),
                                         (8.0, TypeError), (True, TypeError), ("8", TypeError)])
def test_quant_range_rejects_bits(bits, error):
    with pytest.raises(error, match="bits"):
        quant_range(bits)


def test_quant_range_rejects_non_bool_flags():
    with pytest.raises(TypeError, match="signed"):
        quant_range(8, signed=1)
    with pytest.raises(TypeError, match="reduce_range"):
        quant_range(8, reduce_range="yes")


@pytest.mark.parametrize("min_val, max_val, error, name", [
    (1.0, 0.0, ValueError, "min_val"),
    (torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]), ValueError, "min_val"),
    (float("nan"), 1.0, ValueError, "min_val"),
    (0.0, float("inf"), ValueError, "max_val"),
    (torch.tensor(0), torch.tensor(1.0), TypeError, "min_val"),
    (0.0, torch.tensor([1, 2]), TypeError, "max_val"),
    (torch.tensor([]), torch.tensor([]), ValueError, "min_val"),
    (torch.zeros(2, 2), torch.ones(2, 2), ValueError, "min_val"),
    (torch.zeros(2), torch.ones(3), ValueError, "same shape"),
    ("0", 1.0, TypeError, "min_val"),
])
def test_choose_qparams_rejects_bad_ranges(min_val, max_val, error, name):
    with pytest.raises(error, match=name):
        choose_qparams(min_val, max_val, 0, 255)


@pytest.mark.parametrize("quant_min, quant_max, error", [
    (5, 5, ValueError), (10, 0, ValueError), (0.0, 255, TypeError), (0, None, TypeError)])
def test_quant_range_arguments_are_checked(quant_min, quant_max, error):
    with pytest.raises(error, match="quant_m"):
        choose_qparams(0.0, 1.0, quant_min, quant_max)
    with pytest.raises(error, match="quant_m"):
        quantize(torch.ones(3), 0.1, 0, quant_min, quant_max)
    with pytest.raises(error, match="quant_m"):
        fake_quantize(torch.ones(3), 0.1, 0, quant_min, quant_max)


def test_choose_qparams_rejects_bad_eps_and_flags():
    with pytest.raises(ValueError, match="eps"):
        choose_qparams(0.0, 1.0, 0, 255, eps=0.0)
    with pytest.raises(TypeError, match="scheme"):
        choose_qparams(0.0, 1.0, 0, 255, scheme=None)
    with pytest.raises(TypeError, match="signed"):
        ZeroPointRule.of(signed="no", customized=False)
    with pytest.raises(TypeError, match="zero_point_rule"):
        choose_qparams(0.0, 1.0, 0, 255, zero_point_rule=False)


@pytest.mark.parametrize("function", [quantize, fake_quantize])
def test_quantizers_reject_bad_arguments(function):
    x = torch.randn(3, 4)
    three_zero_points = torch.zeros(3, dtype=torch.int64)
    four_zero_points = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(TypeError, match="x"):
        function(torch.arange(3), 0.1, 0, 0, 255)
    with pytest.raises(ValueError, match="NaN"):
        function(torch.tensor([1.0, float("nan")]), 0.1, 0, 0, 255)
    for bad_scale in (0.0, -1.0, 1e-50):  # 1e-50 underflows to 0 in float32
        with pytest.raises(ValueError, match="scale"):
            function(x, bad_scale, 0, 0, 255)
    with pytest.raises(TypeError, match="scale"):
        function(x, torch.tensor(1), 0, 0, 255)
    with pytest.raises(TypeError, match="zero_point"):
        function(x, 0.1, 0.5, 0, 255)
    with pytest.raises(ValueError, match="zero_point"):
        function(x, 0.1, 256, 0, 255)
    with pytest.raises(ValueError, match="scale"):  # two scales but per tensor
        function(x, torch.tensor([0.1, 0.2]), 0, 0, 255)
    with pytest.raises(ValueError, match="scale"):  # x.shape[0] is 3
        function(x, torch.ones(4), four_zero_points, 0, 255, axis=0)
    with pytest.raises(ValueError, match="zero_point"):
        function(x, torch.ones(3), four_zero_points, 0, 255, axis=0)
    with pytest.raises(ValueError, match="axis"):
        function(x, torch.ones(3), three_zero_points, 0, 255, axis=2)
    with pytest.raises(ValueError, match="axis"):
        function(torch.tensor(1.0), torch.ones(1), three_zero_points[:1], 0, 255, axis=0)
    with pytest.raises(TypeError, match="axis"):
        function(x, torch.ones(3), three_zero_points, 0, 255, axis=0.0)


def test_dequantize_rejects_float_integers():
    with pytest.raises(TypeError, match="q"):
        dequantize(torch.ones(3), 0.1, 0)
    with pytest.raises(TypeError, match="q"):
        dequantize([1, 2], 0.1, 0)


# --------------------------------------------------------------------------- issue 17 regressions
# Each was found by a randomized differential test (now tests/test_differential.py) and fails on
# the code before the fix.


def test_subnormal_scale_is_refused_clearly():
    """Finding 1: below MIN_SCALE ATen's float32 1/scale is inf (PyTorch: [255, 255, 0])."""
    x = torch.tensor([0.0, 1.0, -1.0])
    message = r"scale must be a positive finite float >= 2\.938737e-39 .*got 9\.999946e-41"
    for function in (quantize, fake_quantize):
        with pytest.raises(ValueError, match=message):
            function(x, 1e-40, 0, 0, 255)
    with pytest.raises(ValueError, match=r"eps must be a positive finite float >= 2\.938737e-39"):
        choose_qparams(0.0, 0.0, 0, 255, eps=1e-40)
    smallest = 2.938737278354183e-39           # MIN_SCALE itself still equals PyTorch
    expected = torch.quantize_per_tensor(x, smallest, 0, torch.quint8).int_repr().long()
    assert torch.equal(quantize(x, smallest, 0, 0, 255), expected)


def test_per_channel_dequantize_rounds_like_aten_for_32_bit_zero_points():
    """Finding 2: ATen subtracts the zero point in float32 per channel: -12.8, not -12.7."""
    scale, zero_point = torch.tensor([0.1]), torch.tensor([2**31 - 1])
    q = torch.quantize_per_channel(torch.tensor([[-12.7]]), scale.double(), zero_point, 0,
                                   torch.qint32)
    mine = dequantize(q.int_repr(), scale, zero_point, axis=0)
    assert torch.equal(mine, q.dequantize()) and float(mine) == pytest.approx(-12.8)
    per_tensor = torch.quantize_per_tensor(torch.tensor([-12.7]), 0.1, 2**31 - 1, torch.qint32)
    assert torch.equal(dequantize(per_tensor.int_repr(), 0.1, 2**31 - 1), per_tensor.dequantize())


def test_per_channel_dequantize_multiplies_by_a_float64_scale_in_float64():
    """ATen keeps per-channel scales in float64 and rounds (q - z) * s to float32 once: with
    scales float32 cannot represent, a float32 product was one ulp off in 127 of 320 entries."""
    scales = torch.tensor([0.0024984307183326237, 1.1754943508222875e-38, 2.6472930686154198e-05,
                           0.002015036363136196], dtype=torch.float64)
    zero_points = torch.tensor([-94, 0, 52, 116])
    gen = torch.Generator().manual_seed(0)
    for shape, axis in (((20, 4, 4), 1), ((4, 80), 0)):
        q = torch.randint(-128, 128, shape, generator=gen, dtype=torch.int8)
        theirs = torch._make_per_channel_quantized_tensor(q, scales, zero_points, axis).dequantize()
        assert torch.equal(dequantize(q, scales, zero_points, axis=axis), theirs)
    random_scales = torch.rand(4, generator=gen, dtype=torch.float64) * 0.01 + 1e-6
    q = torch.randint(-128, 128, (4, 80), generator=gen, dtype=torch.int8)
    theirs = torch._make_per_channel_quantized_tensor(q, random_scales, zero_points, 0).dequantize()
    float32_product = (q.float() - zero_points[:, None].float()) * random_scales[:, None].float()
    assert not torch.equal(float32_product, theirs), "the case no longer tells the two apart"
    assert torch.equal(dequantize(q, random_scales, zero_points, axis=0), theirs)


@pytest.mark.parametrize("axis", [None, 0])
def test_fake_quantize_float64_computes_in_float64(axis):
    """Finding 3: for float64 input ATen's grid arithmetic is float64 (values and gradient)."""
    x = torch.tensor([-84.65, 0.15, 2.45, 1e-3, -7.05], dtype=torch.float64)
    for scale in (0.1, 0.3, 0.007):
        mine_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
        if axis is None:
            theirs = torch.fake_quantize_per_tensor_affine(theirs_x, scale, 3, -128, 127)
            mine = fake_quantize(mine_x, scale, 3, -128, 127)
        else:
            theirs = torch.fake_quantize_per_channel_affine(
                theirs_x[None], torch.tensor([scale]), torch.tensor([3], dtype=torch.int32), 0,
                -128, 127)
            mine = fake_quantize(mine_x[None], torch.tensor([scale]), torch.tensor([3]), -128,
                                 127, axis=0)
        assert mine.dtype == torch.float64 and torch.equal(mine, theirs)
        mine.sum().backward()
        theirs.sum().backward()
        assert torch.equal(mine_x.grad, theirs_x.grad)


def test_per_channel_fake_quantize_32_bit_range_rounds_once():
    """Finding 4: ATen computes the per-channel (q - z) * s in float64 and rounds once."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 200, generator=gen) * 1e8
    scale = torch.rand(4, generator=gen) * 0.5 + 0.01
    zero_point = torch.randint(-(2**31), 2**31 - 1, (4,), generator=gen)
    theirs = torch.fake_quantize_per_channel_affine(x, scale, zero_point.int(), 0, *INT32_RANGE)
    assert torch.equal(fake_quantize(x, scale, zero_point, *INT32_RANGE, axis=0), theirs)


def test_per_tensor_fake_quantize_gradient_mask_is_exact_for_32_bit_zero_points():
    """Found by the differential test: the per-tensor mask tests round(x/s) + z exactly, while
    the value adds z in float32 (840125698 becomes 840125696 there)."""
    for dtype in (torch.float32, torch.float16):
        mine_x = torch.tensor([0.0, 1.0], dtype=dtype, requires_grad=True)
        theirs_x = mine_x.detach().clone().requires_grad_()
        mine = fake_quantize(mine_x, 1.0, 840125697, 840125697, 840125698)
        theirs = torch.fake_quantize_per_tensor_affine(theirs_x, 1.0, 840125697, 840125697,
                                                       840125698)
        assert torch.equal(mine, theirs)
        mine.sum().backward()
        theirs.sum().backward()
        assert torch.equal(mine_x.grad, theirs_x.grad) and mine_x.grad.tolist() == [1.0, 1.0]


def test_numpy_integer_ranges_are_converted():
    """Finding 7: quant_max - quant_min overflowed in np.int8 (scale 1.19e-07, zero point 127)."""
    np = pytest.importorskip("numpy")
    mine = choose_qparams(-1.0, 1.0, np.int8(-128), np.int8(127))
    expected = choose_qparams(-1.0, 1.0, -128, 127)
    assert all(torch.equal(a, b) for a, b in zip(mine, expected))
    assert quant_range(np.int8(8), signed=True) == (-128, 127)
    assert symmetric_zero_point(np.uint8(0), np.uint8(255)) == 128
    x = torch.linspace(-2, 2, 41)
    for function in (quantize, fake_quantize):
        assert torch.equal(function(x, 0.1, np.int8(3), np.int8(-128), np.int8(127)),
                           function(x, 0.1, 3, -128, 127))


def test_dequantize_of_a_quantized_tensor_says_what_to_pass():
    """Unclear error 1: was "Creation of quantized tensor requires quantized dtype"."""
    q = torch.quantize_per_tensor(torch.tensor([0.5]), 0.1, 0, torch.quint8)
    with pytest.raises(TypeError, match=r"q must be an integer tensor .* q\.int_repr\(\)"):
        dequantize(q, 0.1, 0)


def test_tensor_eps_and_unchecked_customized_range_raise_clear_type_errors():
    """Unclear errors 3 and 4: a tensor eps ("Boolean value of Tensor is ambiguous") and a
    zero_point_rule (once customized_range) that was not checked with the affine scheme."""
    with pytest.raises(TypeError, match="eps must be a positive float .*not a tensor.*Tensor"):
        choose_qparams(-1.0, 1.0, 0, 255, eps=torch.tensor([1e-5, 1e-5]))
    with pytest.raises(TypeError, match="zero_point_rule must be a ZeroPointRule or None, got str"):
        choose_qparams(-1.0, 1.0, 0, 255, scheme=Scheme.AFFINE, zero_point_rule="yes")


def test_documented_per_channel_fake_quantize_differences_are_pinned():
    """fake_quantize docstring: per channel, values beyond 2**63 steps (inf) clamp to the nearer
    end here, where ATen's int64 cast gives quant_min; an empty x gives an empty result here,
    where ATen raises. Per tensor both agree with PyTorch."""
    x = torch.tensor([[float("inf"), 1e30, -float("inf")]])
    scale, zero_point = torch.tensor([1e-20]), torch.tensor([0])
    mine = fake_quantize(x, scale, zero_point, -128, 127, axis=0)
    assert torch.equal(mine / scale, torch.tensor([[127.0, 127.0, -128.0]]))
    theirs = torch.fake_quantize_per_channel_affine(x, scale, zero_point.int(), 0, -128, 127)
    assert torch.equal(theirs / scale, torch.tensor([[-128.0, -128.0, -128.0]]))
    assert torch.equal(fake_quantize(x[0], 1e-20, 0, -128, 127),
                       torch.fake_quantize_per_tensor_affine(x[0], 1e-20, 0, -128, 127))
    empty, no_scales = torch.empty(0, 3), torch.ones(0)      # no channels along axis 0
    assert fake_quantize(empty, no_scales, torch.zeros(0, dtype=torch.long), 0, 255,
                         axis=0).shape == (0, 3)
    with pytest.raises(RuntimeError):
        torch.fake_quantize_per_channel_affine(empty, no_scales, torch.zeros(0).int(), 0, 0, 255)


def test_documented_per_tensor_dequantize_does_not_wrap_in_int32():
    """dequantize docstring: ATen's per-tensor qint32 dequantize wraps q - z in int32."""
    q = torch.tensor([0, 256], dtype=torch.int32)
    theirs = torch._make_per_tensor_quantized_tensor(q, 1.0, -(2**31)).dequantize()
    assert theirs.tolist() == [-(2.0**31), -(2.0**31) + 256]
    assert dequantize(q, 1.0, -(2**31)).tolist() == [2.0**31, 2.0**31 + 256]
