"""Integer-only inference: Linear and Conv2d with integer inputs, weights, bias and outputs.

Jacob et al. (2018), *Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference*, section 2. With affine quantization ``r = S (q - Z)``
of the input ``x``, the weight ``w`` and the output ``y`` of ``y = x w^T + b``::

    S_y (q_y - Z_y) = S_x S_w sum_k (q_x[k] - Z_x)(q_w[k] - Z_w) + b

    q_y = Z_y + M * acc,   acc = sum_k (q_x[k] - Z_x)(q_w[k] - Z_w) + q_b,
                           M   = S_x S_w / S_y,   q_b = round(b / (S_x S_w))

``acc`` is an int32 accumulator. The only non-integer is the real multiplier ``M``, which is
written as a 32-bit integer ``M0`` and a shift ``n`` (:func:`quantize_multiplier`)::

    M = M0 * 2^-31 * 2^-n,    2^30 <= M0 < 2^31   (so M0 / 2^31 is in [0.5, 1))

so that ``M * acc`` becomes an integer multiply and two rounding shifts
(:func:`fixed_point_multiply`, as in gemmlowp/TFLite). The pipeline in this module:

====================================  ==================================================
:func:`linear_accumulator`            ``acc`` of a Linear layer, int32 values
:func:`conv2d_accumulator`            ``acc`` of a Conv2d layer (im2col + the same matmul)
:func:`requantize`                    ``acc`` -> ``clamp(Z_y + M * acc)`` (shared by both)
:func:`integer_linear`                the two steps together for Linear
:func:`integer_conv2d`                the two steps together for Conv2d
:class:`IntegerLinear`                a ``torch.ao.nn.quantized.Linear`` re-run in integers
:class:`IntegerConv2d`                a ``torch.ao.nn.quantized.Conv2d`` re-run in integers
====================================  ==================================================

All integer arithmetic happens in ``torch.int64`` tensors that *emulate* int32 hardware: every
value that would live in an int32 register is checked (or saturated) to fit in int32.

How this compares with PyTorch's fbgemm kernels: fbgemm computes the same int32 accumulator,
but then requantizes in float32 -- ``lrintf((float(acc) + b / float(S_x S_w)) * float(M))`` --
with a float bias that is never rounded to an integer, a float32 multiplier, and rounding
half to even. Our outputs agree with its ``int_repr()`` on more than 99% of the entries and
differ by one unit on the rest, mostly because of gemmlowp's double rounding
(see :class:`IntegerLinear`).
"""

import numbers
from typing import ClassVar, overload

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.nn.functional as F
from torch import nn

from .checks import INT32_MAX, INT32_MIN, along_axis, as_int32_clamp_range

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "MIN_MULTIPLIER",
    "MAX_MULTIPLIER",
    "quantize_multiplier",
    "rounding_right_shift",
    "saturating_rounding_doubling_high_mul",
    "fixed_point_multiply",
    "requantize",
    "quantize_bias",
    "linear_accumulator",
    "conv2d_accumulator",
    "integer_linear",
    "integer_conv2d",
    "IntegerLinear",
    "IntegerConv2d",
]

#: stride, padding, dilation: an int or a pair of ints
_Pair = int | tuple[int, int]


#: Multipliers M = S_x S_w / S_y that fit the ``M0 * 2^-31 * 2^-n`` format with |n| <= 31
#: (the upper bound leaves room for the mantissa rounding up to the next power of two).
MIN_MULTIPLIER = 2.0 ** -32
MAX_MULTIPLIER = 2.0 ** 30

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


# --------------------------------------------------------------------------------------------
# Validation and broadcasting helpers
# --------------------------------------------------------------------------------------------

def _as_int64(tensor: object, name: str) -> torch.Tensor:
    """An integer tensor (any width) as int64; quantized or floating tensors raise TypeError."""
    if not isinstance(tensor, torch.Tensor):
        tensor = torch.as_tensor(tensor)
    if tensor.is_quantized:
        raise TypeError(f"{name} must hold the integer values, not a quantized tensor: "
                        f"pass {name}.int_repr()")
    if tensor.dtype not in _INTEGER_DTYPES:
        dtypes = ", ".join(map(str, _INTEGER_DTYPES))
        raise TypeError(f"{name} must be an integer tensor ({dtypes}), got {tensor.dtype}")
    return tensor.to(torch.int64)


def _check_fits_int32(tensor, name):
    """Raise OverflowError if any value of ``tensor`` lies outside [-2^31, 2^31 - 1]."""
    if tensor.numel() and (tensor.min() < INT32_MIN or tensor.max() > INT32_MAX):
        raise OverflowError(f"{name} does not fit in int32: values span "
                            f"[{int(tensor.min())}, {int(tensor.max())}]")


def _saturate_int32(tensor):
    """Clamp to the int32 range, as a saturating int32 instruction would."""
    return tensor.clamp(INT32_MIN, INT32_MAX)


def _per_channel(values, name, shape, axis):
    """A per-tensor (0-d) or per-channel (``(C,)`` with ``C = shape[axis]``) integer parameter,
    shaped to broadcast against a tensor of ``shape``: ``(C,)`` with axis 1 of a 4-d shape gives
    ``(1, C, 1, 1)`` (:func:`utils.checks.along_axis`)."""
    return along_axis(values, name, shape, None if values.dim() == 0 else axis)


def _storage_dtype(quant_min, quant_max):
    """The narrowest dtype that holds [quant_min, quant_max]: uint8, int8, else int32."""
    if 0 <= quant_min and quant_max <= 255:
        return torch.uint8
    if -128 <= quant_min and quant_max <= 127:
        return torch.int8
    return torch.int32


# --------------------------------------------------------------------------------------------
# The fixed-point multiplier
# --------------------------------------------------------------------------------------------

@overload
def quantize_multiplier(real_multiplier: float) -> tuple[int, int]: ...
@overload
def quantize_multiplier(real_multiplier: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
def quantize_multiplier(real_multiplier: float | torch.Tensor
                        ) -> tuple[int, int] | tuple[torch.Tensor, torch.Tensor]:
    """Write a real multiplier as a 32-bit fixed-point mantissa and a power-of-two shift.

    Convention (gemmlowp/TFLite, with the shift's sign flipped so that right shifts are
    positive)::

        M = M0 * 2^-31 * 2^-n,    2^30 <= M0 < 2^31,    -31 <= n <= 31

    ``M0 / 2^31`` is M's mantissa in [0.5, 1) rounded to 31 fractional bits (relative error
    below 2^-31); ``n`` is how far the accumulator is shifted right afterwards (negative: left).
    Computed with ``torch.frexp``: ``M = f * 2^e``, ``M0 = round(f * 2^31)``, ``n = -e``
    (if the rounding carries to ``M0 = 2^31``, halve it and decrement n).

    Why M < 1 in practice: ``M = S_x S_w / S_y`` compares one accumulator step (S_x S_w) with
    one output step (S_y). The accumulator sums K products of 8-bit numbers, so it takes far
    more distinct values than the 256 output levels; a layer's output range therefore spans
    many accumulator steps and M is typically 1e-4 .. 1e-1. M >= 1 would need an output range
    narrower than ~255 accumulator steps (e.g. a near-zero layer); it is still supported, as a
    negative n (a saturating left shift in :func:`fixed_point_multiply`).

    Args:
        real_multiplier: a positive float, or a float tensor of them (one per output channel).
    Returns:
        ``(m0, n)``: Python ints for a float input; int64 tensors of the input's shape for a
        tensor input.
    Raises:
        ValueError: if any multiplier is outside [2^-32, 2^30) (not representable; below
        2^-32 every int32 accumulator would requantize to 0) or not finite.

    PyTorch counterpart: none in Python; fbgemm keeps M as a float32 ``C_multiplier``, QNNPACK
    builds the same ``(M0, shift)`` in ``pytorch_qnnp_compute_scalar_requantization_params``.
    """
    is_scalar = not isinstance(real_multiplier, torch.Tensor)
    if is_scalar and (isinstance(real_multiplier, bool)
                      or not isinstance(real_multiplier, numbers.Real)):
        raise TypeError(f"real_multiplier must be a positive float in [2**-32, 2**30) or a float "
                        f"tensor of them, got {type(real_multiplier).__name__}")
    if isinstance(real_multiplier, torch.Tensor) and not real_multiplier.is_floating_point():
        raise TypeError(f"real_multiplier must be a float tensor, got dtype "
                        f"{real_multiplier.dtype}")
    multiplier = torch.as_tensor(real_multiplier, dtype=torch.float64)
    if not torch.isfinite(multiplier).all() or (multiplier < MIN_MULTIPLIER).any() \
            or (multiplier >= MAX_MULTIPLIER).any():
        raise ValueError(f"real_multiplier must lie in [2**-32, 2**30), got {real_multiplier}")
    mantissa, exponent = torch.frexp(multiplier)              # M = mantissa * 2^exponent
    m0 = torch.round(mantissa * 2 ** 31).to(torch.int64)      # in [2^30, 2^31]
    carried = m0 == 2 ** 31                                    # mantissa rounded up to 1.0
    m0 = torch.where(carried, m0 // 2, m0)
    shift = -(exponent.to(torch.int64) + carried.to(torch.int64))
    if is_scalar:
        return int(m0), int(shift)
    return m0, shift


def rounding_right_shift(x: torch.Tensor, n: int | torch.Tensor) -> torch.Tensor:
    """Divide by 2^n and round to nearest, ties away from zero (gemmlowp ``RoundingDivideByPOT``).

    Formula: ``round_half_away_from_zero(x / 2^n)``, computed with shifts and masks only::

        remainder = x & (2^n - 1),  threshold = (2^n - 1) >> 1  (+1 if x < 0)
        result    = (x >> n) + (remainder > threshold)

    (``x >> n`` is floor division; the correction adds 1 when the dropped bits are more than
    half, or exactly half for a positive x.) E.g. n=1: 5 -> 3, -5 -> -3, 3 -> 2, -3 -> -2.

    Args:
        x: integer tensor, any shape.
        n: shift, an int or an integer tensor broadcastable with x, each in [0, 62].
    Returns:
        int64 tensor of the broadcast shape.

    PyTorch counterpart: none (``torch.bitwise_right_shift`` alone floors, it does not round).
    """
    x = _as_int64(x, "x")
    n = _as_int64(n, "n")
    if (n < 0).any() or (n > 62).any():
        raise ValueError(f"n must be in [0, 62], got {n.tolist()}")
    mask = (torch.ones_like(n) << n) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).to(torch.int64)
    return (x >> n) + (remainder > threshold).to(torch.int64)


def saturating_rounding_doubling_high_mul(a: torch.Tensor,
                                          b: int | torch.Tensor) -> torch.Tensor:
    """High 32 bits of ``2 a b``, rounded: gemmlowp's ``SaturatingRoundingDoublingHighMul``.

    Formula: ``round(a * b / 2^31)`` for int32 a and b, rounding to nearest with ties towards
    +infinity (the C code adds ``2^30``, or ``1 - 2^30`` for a negative product, then divides
    by ``2^31`` truncating towards zero). The one product that overflows int32,
    ``a = b = -2^31``, saturates to ``2^31 - 1``.

    With ``b = M0`` this is ``a * (M0 / 2^31)``: a multiplication by a number in [0.5, 1).

    Args:
        a, b: integer tensors with int32 values, broadcastable.
    Returns:
        int64 tensor with int32 values.

    PyTorch counterpart: none; QNNPACK's ``pytorch_qnnp_requantize_gemmlowp`` kernels.
    """
    a, b = _as_int64(a, "a"), _as_int64(b, "b")
    _check_fits_int32(a, "a")
    _check_fits_int32(b, "b")
    product = a * b                                               # |a b| <= 2^62: exact
    nudge = torch.where(product >= 0, 2 ** 30, 1 - 2 ** 30)
    high = torch.div(product + nudge, 2 ** 31, rounding_mode="trunc")
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return torch.where(overflow, torch.tensor(INT32_MAX), high)


def fixed_point_multiply(acc: torch.Tensor, m0: int | torch.Tensor,
                         n: int | torch.Tensor) -> torch.Tensor:
    """``acc * M`` rounded to an integer, with ``M = M0 * 2^-31 * 2^-n`` (see quantize_multiplier).

    Formula (TFLite ``MultiplyByQuantizedMultiplier``)::

        rounding_right_shift(SRDHM(saturate_int32(acc << max(-n, 0)), M0), max(n, 0))

    i.e. an optional saturating left shift (only when M >= 1), the doubling high multiply by
    ``M0 / 2^31`` (rounded, ties up), then a right shift rounded half away from zero. Two
    roundings, so the result can differ by one from ``round(acc * M)`` in rare near-tie cases.

    Args:
        acc: integer tensor with int32 values (e.g. an accumulator), any shape.
        m0, n: ints or integer tensors broadcastable with acc (per-channel: shape them
            yourself, or use :func:`requantize`, which does).
    Returns:
        int64 tensor with int32 values, shape of acc.

    PyTorch counterpart: none; fbgemm computes ``lrintf(float(acc) * float(M))`` instead.
    """
    acc, m0, n = _as_int64(acc, "acc"), _as_int64(m0, "m0"), _as_int64(n, "n")
    _check_fits_int32(acc, "acc")
    if (m0 < 2 ** 30).any() or (m0 >= 2 ** 31).any():
        raise ValueError(f"m0 must be in [2**30, 2**31), got {m0.tolist()}")
    if (n < -31).any() or (n > 31).any():
        raise ValueError(f"n must be in [-31, 31], got {n.tolist()}")
    left_shift, right_shift = (-n).clamp(min=0), n.clamp(min=0)
    scaled = _saturate_int32(acc << left_shift)
    return rounding_right_shift(saturating_rounding_doubling_high_mul(scaled, m0), right_shift)


def requantize(acc: torch.Tensor, m0: int | torch.Tensor, shift: int | torch.Tensor,
               out_zero_point: int, quant_min: int, quant_max: int) -> torch.Tensor:
    """Turn int32 accumulators into output integers: ``clamp(Z_y + M * acc, qmin, qmax)``.

    Formula: ``q_y = clamp(Z_y + fixed_point_multiply(acc, M0, n), quant_min, quant_max)``;
    the clamp saturates at both ends (a fused ReLU is ``quant_min = Z_y``).

    Shapes: acc is ``(N, C)`` (Linear) or ``(N, C, H, W)`` (Conv2d): channels on dim 1.
    ``m0`` and ``shift`` are ints (per-tensor) or ``(C,)`` tensors (per-channel).

    Returns:
        the output integers, in the narrowest dtype holding [quant_min, quant_max]
        (``torch.uint8`` for quint8 outputs, ``torch.int8`` for qint8, else ``torch.int32``).

    PyTorch counterpart: the requantization inside ``torch.ops.quantized.linear`` /
    ``conv2d`` (fbgemm's ``ReQuantizeOutput``), which uses a float32 multiplier.
    """
    acc = _as_int64(acc, "acc")
    if acc.dim() < 2:
        raise ValueError(f"acc must have channels on dim 1, shape (N, C, ...), "
                         f"got {tuple(acc.shape)}")
    quant_min, quant_max = as_int32_clamp_range(quant_min, quant_max)
    m0 = _per_channel(_as_int64(m0, "m0"), "m0", acc.shape, axis=1)
    shift = _per_channel(_as_int64(shift, "shift"), "shift", acc.shape, axis=1)
    scaled = fixed_point_multiply(acc, m0, shift)
    return (scaled + int(out_zero_point)).clamp(quant_min, quant_max).to(
        _storage_dtype(quant_min, quant_max))


def quantize_bias(bias: torch.Tensor, input_scale: float,
                  weight_scale: float | torch.Tensor) -> torch.Tensor:
    """Quantize a float bias onto the accumulator's grid: ``q_b = round(b / (S_x S_w))``, Z_b = 0.

    The bias is added to ``acc``, whose unit is ``S_x S_w``, so it must use that scale (and zero
    point 0). Rounding is half to even (``torch.round``), in float64.

    Shapes: bias ``(C,)``; weight_scale a float (per-tensor) or ``(C,)`` (per-channel, one
    accumulator scale per output channel).
    Returns:
        ``torch.int32`` tensor of shape ``(C,)``.
    Raises:
        OverflowError if a quantized bias does not fit in int32 (a tiny scale).

    PyTorch counterpart: none in eager PyTorch; fbgemm keeps the float bias and adds
    ``b / (S_x S_w)`` *unrounded* in float32, one reason for off-by-one differences.
    """
    if not isinstance(bias, torch.Tensor) or not bias.is_floating_point():
        raise TypeError(f"bias must be a float tensor, got {type(bias).__name__}"
                        f"{'' if not isinstance(bias, torch.Tensor) else ' of ' + str(bias.dtype)}")
    accumulator_scale = float(input_scale) * torch.as_tensor(weight_scale, dtype=torch.float64)
    if (accumulator_scale <= 0).any():
        raise ValueError("input_scale and weight_scale must be positive")
    q_bias = torch.round(bias.to(torch.float64) / accumulator_scale)
    _check_fits_int32(q_bias, "quantized bias")
    return q_bias.to(torch.int32)


# --------------------------------------------------------------------------------------------
# Accumulators
# --------------------------------------------------------------------------------------------

def _centered_weight(w_q, w_zero_point):
    """``q_w - Z_w`` as int64, with a per-tensor or per-output-channel (dim 0) zero point."""
    w = _as_int64(w_q, "w_q")
    return w - _per_channel(_as_int64(w_zero_point, "w_zero_point"), "w_zero_point", w.shape,
                            axis=0)


def _add_bias(acc, bias_q):
    """acc + q_b along dim 1 (the output channels), then check the sum fits in int32."""
    if bias_q is not None:
        bias = _as_int64(bias_q, "bias_q")
        if bias.shape != (acc.shape[1],):
            raise ValueError(f"bias_q must have shape ({acc.shape[1]},), got {tuple(bias.shape)}")
        acc = acc + _per_channel(bias, "bias_q", acc.shape, axis=1)
    _check_fits_int32(acc, "accumulator")
    return acc


def linear_accumulator(x_q: torch.Tensor, x_zero_point: int, w_q: torch.Tensor,
                       w_zero_point: int | torch.Tensor,
                       bias_q: torch.Tensor | None = None) -> torch.Tensor:
    """The int32 accumulator of a quantized Linear layer.

    Formula: ``acc[i, o] = sum_k (q_x[i, k] - Z_x)(q_w[o, k] - Z_w[o]) + q_b[o]``.

    Shapes: x_q ``(N, in)``, w_q ``(out, in)``, w_zero_point int or ``(out,)``, bias_q
    ``(out,)`` int32 or None -> acc ``(N, out)`` int64 with int32 values.
    Raises OverflowError if acc leaves int32 (wrapping int32 hardware would be wrong there).

    PyTorch counterpart: the int32 output of fbgemm's u8s8s32 GEMM inside
    ``torch.ops.quantized.linear`` (which applies the zero points via row/column offsets).
    """
    x = _as_int64(x_q, "x_q") - int(x_zero_point)
    w = _centered_weight(w_q, w_zero_point)
    if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"need x_q (N, in) and w_q (out, in), got {tuple(x.shape)} and "
                         f"{tuple(w.shape)}")
    return _add_bias(x @ w.T, bias_q)


def _pair(value: _Pair, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> a pair of non-negative ints (stride, padding, dilation)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise ValueError(f"{name} must be an int or a pair of non-negative ints, got {value!r}")
    return pair[0], pair[1]


def conv2d_accumulator(x_q: torch.Tensor, x_zero_point: int, w_q: torch.Tensor,
                       w_zero_point: int | torch.Tensor, bias_q: torch.Tensor | None = None,
                       stride: _Pair = 1, padding: _Pair = 0, dilation: _Pair = 1) -> torch.Tensor:
    """The int32 accumulator of a quantized Conv2d layer (groups=1), by im2col and a matmul.

    Formula: ``acc[n, o, i, j] = sum_{c,u,v} (q_x[n, c, s i + d u - p, s j + d v - p] - Z_x)
    (q_w[o, c, u, v] - Z_w[o]) + q_b[o]``, where input positions outside the image count as
    ``q_x = Z_x`` (padding pads with the *real* value 0, whose integer is the zero point).

    Steps: subtract Z_x; ``F.unfold`` the centered input into columns ``(N, C kh kw, L)`` (in
    float64, exact because the values are small integers; unfold has no integer kernel);
    multiply by the centered weight ``(out, C kh kw)`` in int64.

    Shapes: x_q ``(N, C, H, W)``, w_q ``(out, C, kh, kw)`` -> acc ``(N, out, H_out, W_out)``,
    ``H_out = (H + 2 p - d (kh - 1) - 1) // s + 1`` (same for W).

    PyTorch counterpart: the int32 accumulator of fbgemm's convolution inside
    ``torch.ops.quantized.conv2d``.
    """
    x = _as_int64(x_q, "x_q") - int(x_zero_point)
    w = _centered_weight(w_q, w_zero_point)
    if x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"need x_q (N, C, H, W) and w_q (out, C, kh, kw) with the same C "
                         f"(groups=1 only), got {tuple(x.shape)} and {tuple(w.shape)}")
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), \
        _pair(dilation, "dilation")
    if 0 in stride or 0 in dilation:
        raise ValueError(f"stride and dilation must be positive, got {stride}, {dilation}")
    kh, kw = w.shape[2:]
    columns = F.unfold(x.to(torch.float64), (kh, kw), dilation=dilation, padding=padding,
                       stride=stride).to(torch.int64)                     # (N, C kh kw, L)
    h_out, w_out = (
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, p, d, k, s in zip(x.shape[2:], padding, dilation, (kh, kw), stride))
    acc = (w.reshape(w.shape[0], -1) @ columns).reshape(x.shape[0], w.shape[0], h_out, w_out)
    return _add_bias(acc, bias_q)


# --------------------------------------------------------------------------------------------
# Integer layers as functions
# --------------------------------------------------------------------------------------------

def integer_linear(x_q: torch.Tensor, x_zero_point: int, w_q: torch.Tensor,
                   w_zero_point: int | torch.Tensor, bias_q: torch.Tensor | None,
                   m0: int | torch.Tensor, shift: int | torch.Tensor, out_zero_point: int,
                   quant_min: int, quant_max: int) -> torch.Tensor:
    """Integer-only Linear: ``q_y = clamp(Z_y + M * (sum (q_x - Z_x)(q_w - Z_w) + q_b))``.

    :func:`linear_accumulator` then :func:`requantize`; every input and the output are integers.
    Shapes: x_q ``(N, in)``, w_q ``(out, in)``, bias_q ``(out,)`` or None; w_zero_point, m0,
    shift per-tensor ints or per-channel ``(out,)`` -> ``(N, out)`` in uint8/int8/int32
    (see :func:`requantize`).

    PyTorch counterpart: ``torch.ao.nn.quantized.Linear`` (``torch.ops.quantized.linear``),
    up to one unit of rounding (see :class:`IntegerLinear`).
    """
    acc = linear_accumulator(x_q, x_zero_point, w_q, w_zero_point, bias_q)
    return requantize(acc, m0, shift, out_zero_point, quant_min, quant_max)


def integer_conv2d(x_q: torch.Tensor, x_zero_point: int, w_q: torch.Tensor,
                   w_zero_point: int | torch.Tensor, bias_q: torch.Tensor | None,
                   m0: int | torch.Tensor, shift: int | torch.Tensor, out_zero_point: int,
                   quant_min: int, quant_max: int, stride: _Pair = 1, padding: _Pair = 0,
                   dilation: _Pair = 1) -> torch.Tensor:
    """Integer-only Conv2d (groups=1): :func:`conv2d_accumulator` then :func:`requantize`.

    Formula as :func:`integer_linear`, with the sum over (input channel, kernel row, kernel
    column). Shapes: x_q ``(N, C, H, W)``, w_q ``(out, C, kh, kw)`` -> ``(N, out, H_out, W_out)``.

    PyTorch counterpart: ``torch.ao.nn.quantized.Conv2d`` (``torch.ops.quantized.conv2d``),
    up to one unit of rounding (see :class:`IntegerConv2d`).
    """
    acc = conv2d_accumulator(x_q, x_zero_point, w_q, w_zero_point, bias_q,
                             stride, padding, dilation)
    return requantize(acc, m0, shift, out_zero_point, quant_min, quant_max)


# --------------------------------------------------------------------------------------------
# Integer layers built from PyTorch's quantized modules
# --------------------------------------------------------------------------------------------

def _weight_qparams(weight):
    """(scale, zero_point) of a quantized weight: float64/int64 tensors, 0-d or per channel."""
    if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return (torch.tensor(weight.q_scale(), dtype=torch.float64),
                torch.tensor(weight.q_zero_point(), dtype=torch.int64))
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric) \
            and weight.q_per_channel_axis() == 0:
        return (weight.q_per_channel_scales().to(torch.float64),
                weight.q_per_channel_zero_points().to(torch.int64))
    raise ValueError(f"weight must be quantized per tensor or per output channel (axis 0), "
                     f"got {weight.qscheme()}")


class _IntegerLayer(nn.Module):
    """What IntegerLinear and IntegerConv2d share: int8 weights, float bias, output qparams.

    ``forward`` derives the two input-dependent integers -- the multiplier ``(M0, n)`` of
    ``M = S_x S_w / S_y`` and the bias ``q_b = round(b / (S_x S_w))`` -- from the input scale,
    then calls the subclass's integer function.
    """

    # Set by each subclass:
    quantized_type: ClassVar[type[nnq.Linear] | type[nnq.Conv2d]]   # the class it reproduces
    fused_relu_type: ClassVar[type[nn.Module]]   # its ReLU-fused variant (clamp starts at Z_y)
    # Buffers (registered in __init__)
    weight_q: torch.Tensor
    weight_scale: torch.Tensor
    weight_zero_point: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight_q: torch.Tensor, weight_scale: float | torch.Tensor,
                 weight_zero_point: int | torch.Tensor, bias: torch.Tensor | None, scale: float,
                 zero_point: int, relu: bool = False) -> None:
        super().__init__()
        self.register_buffer("weight_q", _as_int64(weight_q, "weight_q"))
        self.register_buffer("weight_scale", torch.as_tensor(weight_scale, dtype=torch.float64))
        self.register_buffer("weight_zero_point", _as_int64(weight_zero_point, "weight_zero_point"))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float64))
        self.scale, self.zero_point = float(scale), int(zero_point)
        self.quant_min, self.quant_max = (self.zero_point if relu else 0), 255   # quint8 output

    @classmethod
    def from_quantized(cls, module: nn.Module) -> "_IntegerLayer":
        """Copy a PyTorch quantized module's int8 weight, float bias and output scale/zero point."""
        if not isinstance(module, cls.quantized_type):
            raise TypeError(f"module must be a {cls.quantized_type.__module__}."
                            f"{cls.quantized_type.__name__}, got {type(module).__name__}")
        weight = module.weight()
        weight_scale, weight_zero_point = _weight_qparams(weight)
        return cls(weight.int_repr(), weight_scale, weight_zero_point, module.bias(),
                   module.scale, module.zero_point,
                   relu=isinstance(module, cls.fused_relu_type), **cls._geometry(module))

    @staticmethod
    def _geometry(module):
        """Extra constructor arguments read from the module (none for Linear)."""
        return {}

    def requantization_multiplier(self, input_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M0, n)`` of ``M = S_x S_w / S_y`` (per tensor or per output channel)."""
        return quantize_multiplier(float(input_scale) * self.weight_scale / self.scale)

    def quantized_bias(self, input_scale: float) -> torch.Tensor | None:
        """``round(b / (S_x S_w))`` as int32, or None without a bias."""
        return None if self.bias is None else quantize_bias(self.bias, input_scale,
                                                            self.weight_scale)

    def _integer_op(self, x_q: torch.Tensor, x_zero_point: int, bias_q: torch.Tensor | None,
                    m0: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """The subclass's integer function of ``x_q`` (its layer's weight and geometry)."""
        raise NotImplementedError

    def forward(self, x_q: torch.Tensor, input_scale: float,
                input_zero_point: int) -> torch.Tensor:
        """Integer output (uint8 tensor) for integer input ``x_q`` quantized with (S_x, Z_x)."""
        m0, shift = self.requantization_multiplier(input_scale)
        return self._integer_op(x_q, int(input_zero_point), self.quantized_bias(input_scale),
                                m0, shift)


class IntegerLinear(_IntegerLayer):
    """``torch.ao.nn.quantized.Linear`` (or ``LinearReLU``) re-implemented in integer arithmetic.

    ``IntegerLinear.from_quantized(qlinear)(x_q, S_x, Z_x)`` computes :func:`integer_linear` with
    the module's int8 weight (per tensor or per channel), its bias quantized to int32 on the
    grid S_x S_w, and its output scale/zero point; x_q ``(N, in)`` integer (quint8 values) ->
    ``(N, out)`` uint8. Compare with ``qlinear(x).int_repr()``.

    Agreement with fbgemm (``torch.backends.quantized.engine = "fbgemm"``, measured in
    ``tests/test_integer_ops.py``): 99.2% to 99.9% of the entries are identical, and the rest
    are exactly one unit apart. The int32 accumulator is the same; the requantization is not.
    fbgemm computes ``lrintf((float32(acc) + b / float32(S_x S_w)) * float32(M))`` (a test
    emulates this formula and matches fbgemm on every entry), while we compute
    ``rounding_right_shift(SRDHM(acc + round(b / (S_x S_w)), M0), n)``. The differences, from
    the largest effect to the smallest:

    1. double rounding (about 85% of the mismatches): SRDHM rounds ``acc M 2^n`` to an integer,
       then the shift rounds again, which can move a value by up to ``2^-(n+1)`` output units
       across a rounding boundary (e.g. 1 * 0.25 -> 1). Rounding once, as TFLite's
       ``TFLITE_SINGLE_ROUNDING`` build does, leaves several times fewer mismatches;
    2. the bias: fbgemm adds the float ``b / (S_x S_w)`` unrounded; ours is rounded to int32,
       up to half an accumulator unit, i.e. ``M / 2`` output units;
    3. ties: fbgemm rounds half to even; we round half up, then half away from zero;
    4. precision: fbgemm's float32 multiplier (24-bit mantissa) vs our 31-bit M0. On our test
       data float32 never changed a result compared with exact rational arithmetic.

    Every mismatch is a value within these tolerances of a rounding boundary (tested), which
    is why the difference is never more than one.

    Caveat: fbgemm's AVX2 kernels add pairs of u8*s8 products in saturating int16
    (``vpmaddubsw``), so with activations using the full 0..255 range *and* large int8 weights
    its accumulator is wrong (it saturates); that is why PyTorch's fbgemm qconfig observes
    activations with ``reduce_range=True`` (0..127). Compare with 7-bit activations.
    """

    quantized_type = nnq.Linear
    fused_relu_type = nniq.LinearReLU

    def _integer_op(self, x_q, x_zero_point, bias_q, m0, shift):
        return integer_linear(x_q, x_zero_point, self.weight_q, self.weight_zero_point, bias_q,
                              m0, shift, self.zero_point, self.quant_min, self.quant_max)


class IntegerConv2d(_IntegerLayer):
    """``torch.ao.nn.quantized.Conv2d`` (or ``ConvReLU2d``) re-implemented in integer arithmetic.

    As :class:`IntegerLinear`, with :func:`integer_conv2d`: x_q ``(N, C, H, W)`` integer
    (quint8 values) -> ``(N, out, H_out, W_out)`` uint8. Supports stride, padding, dilation;
    groups=1 and zero padding only. Agreement with fbgemm's quantized Conv2d: the same as for
    Linear (same float32 requantization in fbgemm), at most one unit apart.
    """

    quantized_type = nnq.Conv2d
    fused_relu_type = nniq.ConvReLU2d

    def __init__(self, weight_q: torch.Tensor, weight_scale: float | torch.Tensor,
                 weight_zero_point: int | torch.Tensor, bias: torch.Tensor | None, scale: float,
                 zero_point: int, relu: bool = False, stride: _Pair = 1, padding: _Pair = 0,
                 dilation: _Pair = 1) -> None:
        super().__init__(weight_q, weight_scale, weight_zero_point, bias, scale, zero_point, relu)
        self.stride, self.padding, self.dilation = stride, padding, dilation

    @staticmethod
    def _geometry(module):
        if module.groups != 1 or module.padding_mode != "zeros":
            raise ValueError(f"only groups=1 and padding_mode='zeros' are supported, got "
                             f"groups={module.groups}, padding_mode={module.padding_mode!r}")
        return {"stride": module.stride, "padding": module.padding, "dilation": module.dilation}

    def _integer_op(self, x_q, x_zero_point, bias_q, m0, shift):
        return integer_conv2d(x_q, x_zero_point, self.weight_q, self.weight_zero_point, bias_q,
                              m0, shift, self.zero_point, self.quant_min, self.quant_max,
                              self.stride, self.padding, self.dilation)
