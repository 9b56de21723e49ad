r"""Uniform (affine) quantization from scratch: choose qparams, quantize, dequantize, fake-quantize.

A real number :math:`x` is stored as an integer :math:`q` on a grid of step :math:`s` (the
*scale*, also written :math:`\Delta`) whose integer :math:`z` (the *zero point*) stands for 0.0:

.. math::

    q = \mathrm{clamp}\big(\mathrm{round}(x / s) + z,\; q_{min},\; q_{max}\big)
    \qquad\qquad
    \hat x = (q - z)\, s

The building blocks, in the order a quantizer uses them (compare ``torch/ao/quantization/
observer.py`` and torchao's ``quant_primitives.py``):

=========================  ====================================================================
:func:`quant_range`        the integer range :math:`[q_{min}, q_{max}]` of a bit width
:func:`choose_qparams`     :math:`(s, z)` from an observed range :math:`[x_{min}, x_{max}]`
:func:`quantize`           float -> integers          (``torch.quantize_per_tensor/_channel``)
:func:`dequantize`         integers -> float          (``Tensor.dequantize``)
:func:`fake_quantize`      ``dequantize(quantize(x))`` with a straight-through gradient
                           (``torch.fake_quantize_per_tensor_affine/_per_channel_affine``)
=========================  ====================================================================

**Floating-point arithmetic.** The tests check these functions bit for bit against PyTorch, so
they repeat the CPU kernels' float32 arithmetic (read in ATen's ``AffineQuantizerBase.cpp``,
``QuantizedOpKernels.cpp`` and fbgemm's ``QuantUtils.h``, then confirmed on random tensors with
the pinned torch 2.14.1, fbgemm/x86 engine):

* ATen does not divide by the scale. It rounds the scale to float32, takes its reciprocal in
  float32 (``inv_scale = 1.0f / scale``) and multiplies: :math:`x \cdot \mathrm{fl}(1/s)` can
  differ from :math:`x / s` in the last bit, which moves values that sit next to a .5 boundary.
* Rounding is ``std::nearbyint``: round half to **even** (``torch.round``), not half away from
  zero: 2.5 -> 2, 3.5 -> 4, -0.5 -> -0.
* The zero point is added **after** rounding, in float32: ``zero_point + nearbyint(x *
  inv_scale)`` (fbgemm's non-"legacy" order; ``nearbyint(x * inv_scale + zero_point)`` would
  round 0.5 + 3 to 4 where ATen gives 3). Then the value is clamped to :math:`[q_{min},q_{max}]`.
  Per-tensor and per-channel quantization and both fake-quantize ops all follow this rule.
* Dequantization is :math:`(q - z)\cdot s` with the scale in float32.

The float32 additions are exact while :math:`|q| < 2^{24}`, i.e. for every range up to 24 bits;
for 32-bit ranges (``torch.qint32``) ATen's float32 ``zero_point + ...`` rounds to 24 significant
bits, and this module does the same.
"""

import enum

import torch

from .checks import (
    MIN_SCALE,
    along_axis,
    as_bits,
    as_eps,
    as_quant_range,
    as_scale,
    as_tensor,
    as_zero_point,
    check_bool,
    check_finite,
    check_float_tensor,
    check_instance,
    check_not_empty,
    check_zero_point_in_range,
    is_integer_dtype,
)

__all__ = [
    "EPS",
    "MIN_SCALE",
    "Scheme",
    "ZeroPointRule",
    "quant_range",
    "symmetric_zero_point",
    "choose_qparams",
    "quantize",
    "dequantize",
    "fake_quantize",
    "FakeQuantizeSTE",
    "quantization_error",
]

#: Smallest scale :func:`choose_qparams` returns (PyTorch observers' default ``eps``): it keeps
#: :math:`1/s` finite when the observed range is a single point such as all zeros.
EPS = torch.finfo(torch.float32).eps

# MIN_SCALE (the smallest scale accepted anywhere, float32 2.938737e-39) is defined with the scale
# checks in utils/checks.py and exported from here too.

#: Unsigned ranges that PyTorch treats as a dtype's *default* range (quint8, uint16); see
#: :meth:`ZeroPointRule.infer`.
_DEFAULT_UNSIGNED_RANGES = ((0, 2**8 - 1), (0, 2**16 - 1))


# --------------------------------------------------------------------------- schemes


class Scheme(enum.Enum):
    r"""How :func:`choose_qparams` maps a range onto the integers (PyTorch's ``qscheme``, torchao's
    ``MappingType``).

    ``AFFINE``: :math:`[x_{min}, x_{max}]` onto :math:`[q_{min}, q_{max}]`, the zero point
    wherever 0.0 lands (``torch.per_tensor_affine``/``per_channel_affine``).
    ``SYMMETRIC``: :math:`[-\max|x|, \max|x|]`, the zero point fixed by a :class:`ZeroPointRule`
    (``torch.per_tensor_symmetric``/``per_channel_symmetric``).
    """

    AFFINE = "affine"
    SYMMETRIC = "symmetric"


class ZeroPointRule(enum.Enum):
    r"""The zero point of *symmetric* quantization: where 0.0 sits on the integer grid.

    .. math::

        z = \begin{cases}
            0 & \texttt{ZERO}\text{: signed integers} \\
            \lceil (q_{min} + q_{max}) / 2 \rceil \;(128 \text{ for } 0..255)
              & \texttt{UPPER\_MIDPOINT}\text{: unsigned, the dtype's default range} \\
            \lfloor (q_{min} + q_{max}) / 2 \rfloor
              & \texttt{LOWER\_MIDPOINT}\text{: unsigned, a customized range}
        \end{cases}

    This is PyTorch's rule (``ObserverBase._calculate_qparams``): for ``quint8`` it uses 128 when
    the observer runs on the dtype's default 0..255 range and the rounded-down midpoint when the
    user passed ``quant_min``/``quant_max`` (``has_customized_qrange``) -- so an explicitly passed
    0..255 gives 127. ``uint16``'s default 0..65535 gives :math:`2^{15}`.

    Build one with :meth:`of` (from the integer type) or :meth:`infer` (from the range alone);
    :meth:`zero_point` applies it.
    """

    ZERO = "zero"
    UPPER_MIDPOINT = "upper_midpoint"
    LOWER_MIDPOINT = "lower_midpoint"

    @classmethod
    def of(cls, *, signed: bool, customized: bool) -> "ZeroPointRule":
        """The rule for a ``signed`` or unsigned integer type on its default range or a
        ``customized`` one (PyTorch's ``has_customized_qrange``)."""
        check_bool(signed, "signed")
        check_bool(customized, "customized")
        if signed:
            return cls.ZERO
        return cls.LOWER_MIDPOINT if customized else cls.UPPER_MIDPOINT

    @classmethod
    def infer(cls, quant_min: int, quant_max: int) -> "ZeroPointRule":
        """The rule guessed from the range: signed when ``quant_min < 0``; unsigned 0..255 and
        0..65535 count as the default ranges of quint8 and uint16, every other range as
        customized."""
        quant_min, quant_max = as_quant_range(quant_min, quant_max)
        return cls.of(signed=quant_min < 0,
                      customized=(quant_min, quant_max) not in _DEFAULT_UNSIGNED_RANGES)

    def zero_point(self, quant_min: int, quant_max: int) -> int:
        """The zero point this rule gives on ``[quant_min, quant_max]``, a Python int."""
        quant_min, quant_max = as_quant_range(quant_min, quant_max)
        if self is ZeroPointRule.ZERO:
            return 0
        if self is ZeroPointRule.LOWER_MIDPOINT:
            return (quant_min + quant_max) // 2
        return (quant_min + quant_max + 1) // 2


def _as_zero_point_rule(rule, quant_min, quant_max):
    """``rule`` (a :class:`ZeroPointRule`, or None for :meth:`ZeroPointRule.infer`) as a rule."""
    check_instance(rule, "zero_point_rule", ZeroPointRule, allow_none=True)
    return ZeroPointRule.infer(quant_min, quant_max) if rule is None else rule


# --------------------------------------------------------------------------- shaping qparams


def _broadcast_qparams(scale, zero_point, shape, axis):
    """Validated float32 scale and int64 zero point, shaped to broadcast against ``shape``."""
    scale = along_axis(as_scale(scale), "scale", shape, axis)
    zero_point = along_axis(as_zero_point(zero_point), "zero_point", shape, axis)
    return scale, zero_point


def _quantizer_inputs(x, scale, zero_point, quant_min, quant_max, axis):
    """Shared validation of :func:`quantize` and :func:`fake_quantize`."""
    check_float_tensor(x, "x")
    if bool(torch.isnan(x).any()):
        raise ValueError("x must not contain NaN")
    quant_min, quant_max = as_quant_range(quant_min, quant_max)
    scale, zero_point = _broadcast_qparams(scale, zero_point, x.shape, axis)
    check_zero_point_in_range(zero_point, quant_min, quant_max)
    return scale, zero_point, quant_min, quant_max


# --------------------------------------------------------------------------- integer ranges


def quant_range(bits: int = 8, signed: bool = False,
                reduce_range: bool = False) -> tuple[int, int]:
    r"""The integer range :math:`(q_{min}, q_{max})` of a ``bits``-wide integer.

    .. math::

        \text{unsigned: } [0,\; 2^b - 1] \qquad \text{signed: } [-2^{b-1},\; 2^{b-1} - 1]

    ``reduce_range`` drops one bit the way PyTorch does (``quint8`` 0..127, ``qint8`` -64..63):
    :math:`(\lfloor q_{min}/2 \rfloor, \lfloor q_{max}/2 \rfloor)`. (x86 ``vpmaddubsw`` adds two
    uint8*int8 products into an int16; one bit less on the activations prevents overflow.)

    Args:
        bits: 2..16.
        signed: two's-complement range instead of unsigned.
        reduce_range: halve the range as PyTorch's observers do.

    Returns:
        ``(quant_min, quant_max)`` as Python ints.

    PyTorch: ``torch.ao.quantization.utils.calculate_qmin_qmax`` (8-bit dtypes; with
    ``quant_min``/``quant_max`` given it halves them exactly like this).

    >>> quant_range(8), quant_range(8, signed=True), quant_range(8, reduce_range=True)
    ((0, 255), (-128, 127), (0, 127))
    """
    bits = as_bits(bits)
    check_bool(signed, "signed")
    check_bool(reduce_range, "reduce_range")
    if signed:
        quant_min, quant_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        quant_min, quant_max = 0, 2**bits - 1
    if reduce_range:
        return quant_min // 2, quant_max // 2
    return quant_min, quant_max


def symmetric_zero_point(quant_min: int, quant_max: int, *,
                         rule: ZeroPointRule | None = None) -> int:
    r"""The zero point of *symmetric* quantization on ``[quant_min, quant_max]``.

    Args:
        quant_min, quant_max: the integer range.
        rule: a :class:`ZeroPointRule` (0 for signed integers; 128 on quint8's default 0..255;
            the rounded-down midpoint on a customized range). ``None``:
            :meth:`ZeroPointRule.infer` from the range.

    Returns:
        The zero point as a Python int.

    >>> symmetric_zero_point(-128, 127), symmetric_zero_point(0, 255)
    (0, 128)
    >>> symmetric_zero_point(0, 255, rule=ZeroPointRule.LOWER_MIDPOINT)  # 0..255 passed explicitly
    127
    """
    quant_min, quant_max = as_quant_range(quant_min, quant_max)
    return _as_zero_point_rule(rule, quant_min, quant_max).zero_point(quant_min, quant_max)

# --------------------------------------------------------------------------- scale and zero point


def _observed_range(min_val, max_val):
    """Validate an observed range and return it as two float32 tensors of shape ``(C,)``
    (``(1,)`` for scalars, as PyTorch's observers return)."""
    min_val = as_tensor(min_val, "min_val", torch.float32, kind="float")
    max_val = as_tensor(max_val, "max_val", torch.float32, kind="float")
    for value, name in ((min_val, "min_val"), (max_val, "max_val")):
        if value.dim() > 1:
            raise ValueError(f"{name} must be a scalar or a 1-d per-channel tensor, "
                             f"got shape {tuple(value.shape)}")
        check_not_empty(value, name)
        check_finite(value, name)
    if min_val.shape != max_val.shape:
        raise ValueError(f"min_val and max_val must have the same shape, "
                         f"got {tuple(min_val.shape)} and {tuple(max_val.shape)}")
    if bool((min_val > max_val).any()):
        raise ValueError("min_val must be <= max_val (elementwise)")
    return min_val.reshape(-1), max_val.reshape(-1)


def _range_including_zero(min_val, max_val):
    r""":math:`(\min(x_{min}, 0), \max(x_{max}, 0))`: the range always contains 0.0, so that 0.0
    (zero padding, ReLU outputs) is represented exactly by the integer :math:`z`."""
    zero = torch.zeros_like(min_val)
    return torch.minimum(min_val, zero), torch.maximum(max_val, zero)


def _affine_scale(min_neg, max_pos, quant_min, quant_max):
    r""":math:`s = (x_{max} - x_{min}) / (q_{max} - q_{min})`, float32 tensor divided by a Python
    float exactly as PyTorch writes it (so :math:`2^{32}-1` becomes float32 :math:`2^{32}`)."""
    return (max_pos - min_neg) / float(quant_max - quant_min)


def _symmetric_scale(min_neg, max_pos, quant_min, quant_max):
    r""":math:`s = \max(-x_{min}, x_{max}) / ((q_{max} - q_{min}) / 2)`; for int8 that is
    :math:`\max|x| / 127.5`: :math:`-\max|x|` lands on -127.5 -> -128 and :math:`+\max|x|` on
    127.5 -> 128, clamped to 127."""
    return torch.maximum(-min_neg, max_pos) / (float(quant_max - quant_min) / 2)


def _affine_zero_point(min_neg, scale, quant_min, quant_max):
    r""":math:`z = \mathrm{clamp}(q_{min} - \mathrm{round}(x_{min} / s),\; q_{min}, q_{max})`:
    the integer that :math:`x_{min}` maps to is :math:`q_{min}` (up to rounding)."""
    zero_point = quant_min - torch.round(min_neg / scale).to(torch.int64)
    return torch.clamp(zero_point, quant_min, quant_max)


def choose_qparams(min_val: float | torch.Tensor, max_val: float | torch.Tensor, quant_min: int,
                   quant_max: int, *, scheme: Scheme = Scheme.AFFINE,
                   zero_point_rule: ZeroPointRule | None = None,
                   eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Scale and zero point that map the observed range :math:`[x_{min}, x_{max}]` onto
    :math:`[q_{min}, q_{max}]`.

    First the range is widened to contain 0:
    :math:`x_{min} \leftarrow \min(x_{min}, 0)`, :math:`x_{max} \leftarrow \max(x_{max}, 0)`. Then

    .. math::

        \text{affine:}\quad
        s = \max\Big(\frac{x_{max} - x_{min}}{q_{max} - q_{min}},\ \varepsilon\Big), \quad
        z = \mathrm{clamp}\big(q_{min} - \mathrm{round}(x_{min}/s),\ q_{min},\ q_{max}\big)

        \text{symmetric:}\quad
        s = \max\Big(\frac{\max(-x_{min},\ x_{max})}{(q_{max} - q_{min})/2},\ \varepsilon\Big),
        \quad
        z = 0 \text{ (signed)},\ 128 \text{ (unsigned 0..255)}

    (the symmetric zero point in general: :func:`symmetric_zero_point`).

    The arithmetic is PyTorch's, operation for operation, so results are bit-identical: the range
    is float32; the divisor is the Python float ``float(quant_max - quant_min)`` (halved for
    symmetric), converted to float32 by the division; the :math:`\varepsilon` floor is
    ``torch.maximum`` with a float32 ``eps``; ``round`` is half to even. So (affine) a constant
    tensor :math:`c` gets :math:`s = |c|/(q_{max}-q_{min})`, and an all-zero one
    :math:`s = \varepsilon`, :math:`z = q_{min}`.

    ``eps`` must be a Python or NumPy float (not a tensor) of at least :data:`MIN_SCALE`
    (``2.938737e-39``): a smaller scale has no float32 reciprocal (see :func:`quantize`); PyTorch's
    observers accept it and then quantize to garbage. ``quant_min``/``quant_max`` may be NumPy
    integers: they are converted to Python ints first (NumPy ``int8`` arithmetic would overflow).

    Deliberate difference: PyTorch converts :math:`\mathrm{round}(x_{min}/s)` to **int32**; with
    32-bit ranges and :math:`x_{min} \lesssim -512` that overflows and its zero point comes out as
    0 (e.g. ``qint32`` on [-1000, 1]). Here it is int64, so :math:`x_{min}` still maps to
    :math:`q_{min}`. For every range up to 31 bits the results are identical.

    Args:
        min_val, max_val: observed minimum and maximum: Python numbers or floating-point tensors,
            scalars (per tensor) or 1-d of shape ``(C,)`` (per channel); finite, ``min <= max``.
        quant_min, quant_max: the integer range, e.g. from :func:`quant_range`.
        scheme: :attr:`Scheme.AFFINE` (default) or :attr:`Scheme.SYMMETRIC` (zero point fixed,
            range :math:`\pm\max|x|`). Keyword-only, like the options below.
        zero_point_rule: the symmetric zero point, a :class:`ZeroPointRule` (checked, but unused,
            with ``Scheme.AFFINE``); ``None``: :meth:`ZeroPointRule.infer` from the range (0 when
            ``quant_min < 0``, 128 on 0..255).
        eps: smallest allowed scale.

    Returns:
        ``(scale, zero_point)``: float32 and int64 tensors of shape ``(C,)``, or ``(1,)`` for
        scalar inputs (PyTorch's observers return the same shapes).

    PyTorch: ``MinMaxObserver(...)._calculate_qparams(min_val, max_val)``
    (``torch.ao.quantization.utils.determine_qparams``; torchao ``choose_qparams_affine``).
    PyTorch's affine zero point is int32, its symmetric one int64; here both are int64.

    >>> choose_qparams(-1.0, 3.0, 0, 255)  # s = 4/255, z = 0 - round(-1 / s) = 64
    (tensor([0.0157]), tensor([64]))
    >>> choose_qparams(-1.0, 3.0, -128, 127, scheme=Scheme.SYMMETRIC)  # s = 3/127.5
    (tensor([0.0235]), tensor([0]))
    """
    min_val, max_val = _observed_range(min_val, max_val)
    quant_min, quant_max = as_quant_range(quant_min, quant_max)
    check_instance(scheme, "scheme", Scheme)
    rule = _as_zero_point_rule(zero_point_rule, quant_min, quant_max)
    min_scale = as_eps(eps)
    min_neg, max_pos = _range_including_zero(min_val, max_val)
    if scheme is Scheme.SYMMETRIC:
        scale = torch.maximum(_symmetric_scale(min_neg, max_pos, quant_min, quant_max), min_scale)
        zero = rule.zero_point(quant_min, quant_max)
        zero_point = torch.full_like(scale, zero, dtype=torch.int64)
    else:
        scale = torch.maximum(_affine_scale(min_neg, max_pos, quant_min, quant_max), min_scale)
        zero_point = _affine_zero_point(min_neg, scale, quant_min, quant_max)
    return scale, zero_point


# --------------------------------------------------------------------------- quantize / dequantize


def _grid_index(x, scale, zero_point):
    r"""Unclamped integer of each value, ATen's arithmetic:
    :math:`\mathrm{fl}\big(z + \mathrm{round}(\mathrm{fl}(x \cdot \mathrm{fl}_{32}(1/s)))\big)`,
    in float64 for a float64 ``x`` and in float32 otherwise (float16/bfloat16 promote to it).

    ``scale`` float32 and ``zero_point`` int64, already shaped to broadcast against ``x``.
    Returns a tensor of whole numbers (it may lie outside the integer range).
    """
    steps = _rounded_steps(x, scale)
    return steps + zero_point.to(steps.dtype)


def _rounded_steps(x, scale):
    r""":math:`\mathrm{round}(\mathrm{fl}(x \cdot \mathrm{fl}_{32}(1/s)))`, in float64 for a
    float64 ``x`` and in float32 otherwise: :func:`_grid_index` before the zero point."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return torch.round(x.to(dtype) * (1.0 / scale).to(dtype))


def _clamp_to_range(grid, quant_min, quant_max):
    """Clamp float grid indices to ``[quant_min, quant_max]`` (in float64, exact for 32-bit
    bounds) and convert them to int64."""
    return grid.to(torch.float64).clamp(quant_min, quant_max).to(torch.int64)


def _within_range(grid, quant_min, quant_max):
    """Boolean mask of grid indices inside ``[quant_min, quant_max]`` (not clipped)."""
    grid = grid.to(torch.float64)
    return (grid >= quant_min) & (grid <= quant_max)


def _dequantize_values(q, scale, zero_point):
    r""":math:`(q - z)\,s` in float32; parameters already shaped to broadcast against ``q``.

    Per tensor (0-d ``scale``) :math:`q - z` is exact (integers); per channel ATen converts
    :math:`q` and :math:`z` to float32 first, which rounds them when :math:`|q| \ge 2^{24}`, then
    multiplies by the scale in float64 and rounds once to float32 (for a float32 scale that is
    the float32 product: the float64 product of two float32 numbers is exact)."""
    if scale.dim() == 0:
        return (q.to(torch.int64) - zero_point).to(torch.float32) * scale
    difference = q.to(torch.float32) - zero_point.to(torch.float32)
    return (difference.to(torch.float64) * scale.to(torch.float64)).to(torch.float32)


def _fake_quantized_values(q, scale, zero_point, dtype):
    r""":math:`(q - z)\,s` as ATen's fake-quantize kernels compute it, returned as ``dtype``:
    per tensor in float32; per channel (``scale`` not 0-d) in float64, rounded once."""
    if scale.dim() == 0:
        return _dequantize_values(q, scale, zero_point).to(dtype)
    return ((q - zero_point).to(torch.float64) * scale.to(torch.float64)).to(dtype)


def quantize(x: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor,
             quant_min: int, quant_max: int, axis: int | None = None) -> torch.Tensor:
    r"""Map real values to integers on the grid of ``scale`` and ``zero_point``.

    .. math::

        q = \mathrm{clamp}\big(\mathrm{round}(x \cdot \mathrm{fl}(1/s)) + z,\;
                                q_{min},\; q_{max}\big)

    with ``round`` half to even and float32 arithmetic, exactly as ATen computes it on CPU (see
    the module docstring): the reciprocal of the float32 scale, a float32 product, round half to
    even, then the zero point added, then the clamp.

    Args:
        x: floating-point tensor, any shape, dtype and memory layout; no NaN. Computed in
            float32: a float16/bfloat16/float64 ``x`` gives PyTorch's result for ``x.float()``
            (PyTorch accepts only float32 here). Values beyond the range, :math:`\pm\infty`
            included, clamp to its ends. (ATen's int32 arithmetic overflows for values more
            than ~:math:`2^{31}` steps out: ``quantize_per_tensor`` to quint8 with a zero point
            above 127 turns 1e30 into 0. Here it is 255.) PyTorch's per-channel kernel refuses
            a channels-last ``x`` with ``axis`` other than 0 or 1; here every layout works and
            gives PyTorch's result for ``x.contiguous()``.
        scale: per tensor (``axis=None``) a positive number or one-element tensor; per channel a
            1-d tensor of ``x.shape[axis]`` positive entries. Rounded to float32, then at least
            :data:`MIN_SCALE` (``2.938737e-39``, else ValueError): below it ATen's float32
            ``1/scale`` is inf and PyTorch returns garbage (``quantize_per_tensor([0., 1., -1.],
            1e-40, 0, quint8)`` gives ``[255, 255, 0]``).
        zero_point: an int or integer tensor, shaped like ``scale``, in ``[quant_min, quant_max]``.
        quant_min, quant_max: integer range, e.g. from :func:`quant_range`.
        axis: ``None`` for per-tensor, else the channel dimension of ``x`` (negative allowed).

    Returns:
        int64 tensor of the shape of ``x``.

    PyTorch: ``torch.quantize_per_tensor(x, scale, zero_point, dtype).int_repr()`` and
    ``torch.quantize_per_channel(x, scales, zero_points, axis, dtype).int_repr()`` (there
    ``[quant_min, quant_max]`` is the dtype's full range); torchao ``quantize_affine``.

    >>> quantize(torch.tensor([0.5, 1.5, 2.5, 3.5, 100.0]), 1.0, 0, 0, 15)
    tensor([ 0,  2,  2,  4, 15])
    """
    scale, zero_point, quant_min, quant_max = _quantizer_inputs(x, scale, zero_point, quant_min,
                                                                quant_max, axis)
    return _clamp_to_range(_grid_index(x.to(torch.float32), scale, zero_point),
                           quant_min, quant_max)


def dequantize(q: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor,
               axis: int | None = None) -> torch.Tensor:
    r"""Map integers back to real values: :math:`\hat x = (q - z)\, s`, in float32.

    Args:
        q: integer tensor, any shape (e.g. from :func:`quantize` or ``Tensor.int_repr()``).
        scale, zero_point, axis: as in :func:`quantize` (scale rounded to float32).

    Returns:
        float32 tensor of the shape of ``q``: multiples of ``scale``.

    PyTorch: ``Tensor.dequantize()`` of a per-tensor or per-channel quantized tensor,
    bit-identical; torchao ``dequantize_affine``. Per tensor ATen rounds the scale to float32
    and multiplies in float32. Per channel it keeps the scale as given (a quantized tensor's
    per-channel scales are float64) and multiplies in float64, rounding the product to float32
    once: so does this function for a float64 ``scale`` (one float32 ulp apart in 127 of 320
    entries otherwise, for scales float32 cannot represent). Per tensor :math:`q - z` is exact;
    per channel ATen converts :math:`q` and :math:`z` to float32 before subtracting, which
    rounds them for :math:`|q|, |z| \ge 2^{24}` (qint32): ``q = 2147483520``, ``z = 2^{31}-1``,
    ``s = 0.1`` gives -12.8, not -12.7. This function does the same. One deliberate
    difference: per tensor ATen subtracts in int32, which wraps for :math:`|q - z| \ge 2^{31}`
    (only with 32-bit ranges: ``q = 0``, ``z = -2^{31}`` gives :math:`-2^{31} s`); here
    :math:`q - z` is exact, :math:`2^{31} s`.

    A quantized tensor (``torch.quint8`` ...) raises TypeError: pass ``q.int_repr()``.
    """
    if not isinstance(q, torch.Tensor):
        raise TypeError(f"q must be a torch.Tensor, got {type(q).__name__}")
    if q.is_quantized:
        raise TypeError(f"q must be an integer tensor of the stored values, got a quantized "
                        f"tensor ({q.dtype}): pass q.int_repr() with its scale and zero point, "
                        f"or call q.dequantize()")
    if not is_integer_dtype(q.dtype):
        raise TypeError(f"q must be an integer tensor, got dtype {q.dtype}")
    per_channel_scale = scale
    scale, zero_point = _broadcast_qparams(scale, zero_point, q.shape, axis)
    if axis is not None and isinstance(per_channel_scale, torch.Tensor) \
            and per_channel_scale.dtype == torch.float64:
        # validated above (as float32); ATen multiplies by the float64 value itself
        scale = along_axis(per_channel_scale.detach(), "scale", q.shape, axis)
    return _dequantize_values(q, scale, zero_point)


class FakeQuantizeSTE(torch.autograd.Function):
    r"""Fake quantization with the straight-through estimator (STE) as its gradient.

    Forward: :math:`y = (\mathrm{clamp}(r, q_{min}, q_{max}) - z)\, s` with
    :math:`r = \mathrm{round}(x/s) + z` (float32, as :func:`quantize`).

    Backward: rounding has zero derivative almost everywhere, so the STE pretends it is the
    identity; the clamp keeps its true derivative. The gradient passes where the value was not
    clipped and is zero where it was:

    .. math::

        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\cdot
        \mathbb{1}\left[q_{min} \le r \le q_{max}\right]

    exactly the mask of ``torch.fake_quantize_per_tensor_affine`` (its ``cachemask`` kernel).
    Per tensor (0-d ``scale``) that kernel tests :math:`r` in exact integer arithmetic while the
    value adds :math:`z` in float32, so for :math:`|z| \ge 2^{24}` the mask and the value can
    disagree; per channel both use the float32 :math:`r`. This class does the same. ATen
    computes in float64 for float64 ``x`` and in float32 otherwise; the per-channel value
    :math:`(q - z)\,s` is rounded once from float64, the per-tensor one in float32.
    ``scale`` and ``zero_point`` get no gradient (LSQ-style learned scales are not covered).

    Call it through :func:`fake_quantize`, which validates the arguments and shapes ``scale`` and
    ``zero_point`` to broadcast against ``x`` before ``FakeQuantizeSTE.apply(x, scale,
    zero_point, quant_min, quant_max)``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
                quant_min: int, quant_max: int) -> torch.Tensor:
        steps = _rounded_steps(x, scale)
        grid = steps + zero_point.to(steps.dtype)
        tested = grid if scale.dim() else steps.to(torch.float64) + zero_point.to(torch.float64)
        ctx.save_for_backward(_within_range(tested, quant_min, quant_max))
        q = _clamp_to_range(grid, quant_min, quant_max)
        return _fake_quantized_values(q, scale, zero_point, x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (not_clipped,) = ctx.saved_tensors
        return grad_output * not_clipped, None, None, None, None


def fake_quantize(x: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor,
                  quant_min: int, quant_max: int, axis: int | None = None) -> torch.Tensor:
    r"""Quantize and immediately dequantize, keeping a gradient (quantization-aware training).

    .. math::

        y = \big(\mathrm{clamp}(\mathrm{round}(x/s) + z,\ q_{min},\ q_{max}) - z\big)\, s,
        \qquad
        \frac{\partial y}{\partial x} =
        \mathbb{1}\big[q_{min} \le \mathrm{round}(x/s) + z \le q_{max}\big]

    The forward pass equals ``dequantize(quantize(x, ...), ...)``; the backward pass is the
    straight-through estimator of :class:`FakeQuantizeSTE`.

    Args:
        x: floating-point tensor, any shape (returned in ``x.dtype``). Computed as ATen does: in
            float64 for float64 ``x``, else in float32 (see :class:`FakeQuantizeSTE`).
        scale, zero_point, quant_min, quant_max, axis: as in :func:`quantize`.

    Returns:
        Tensor of the shape and dtype of ``x``, holding multiples of ``scale``.

    PyTorch: ``torch.fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)``
    and ``torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min,
    quant_max)``: same values and same gradient, with two deliberate differences, both per
    channel. Where :math:`|x/s| \ge 2^{63}` (:math:`\pm\infty` included) ATen's per-channel
    kernel casts the float to int64, undefined behaviour in C++ that gives :math:`q_{min}` on
    x86 (``fake_quantize_per_channel_affine(tensor([[inf]]), ...)`` is
    :math:`(q_{min} - z)\,s`); here such values clamp to the nearer end of the range, like
    every other value outside it, as the per-tensor op does. And an ``x`` with no channels
    (``x.shape[axis] == 0``) returns an empty result where PyTorch's per-channel op raises.
    """
    scale, zero_point, quant_min, quant_max = _quantizer_inputs(x, scale, zero_point, quant_min,
                                                                quant_max, axis)
    return FakeQuantizeSTE.apply(x, scale, zero_point, quant_min, quant_max)


def quantization_error(x: torch.Tensor, scale: float | torch.Tensor,
                       zero_point: int | torch.Tensor, quant_min: int, quant_max: int,
                       axis: int | None = None) -> torch.Tensor:
    r"""The error that quantization adds to each value: :math:`\hat x - x` (no gradient).

    Inside the range it is rounding error, :math:`|\hat x - x| \le s/2`; outside it is clipping
    error, growing with the distance to the range. Arguments as in :func:`quantize`.

    Returns:
        float32 tensor of the shape of ``x``.

    PyTorch: ``torch.fake_quantize_per_tensor_affine(x, ...) - x`` (or ``_per_channel_affine``).
    """
    with torch.no_grad():
        x_hat = fake_quantize(x, scale, zero_point, quant_min, quant_max, axis)
        return x_hat.to(torch.float32) - x.to(torch.float32)
