"""Argument checks shared by the ``utils`` modules: one home, one contract each.

Every check takes the value first and the argument's name second, ``check(value, name, ...)``,
and its error names the argument and says what is allowed (``"bits must be in 2..16, got 1"``).
``check_*`` functions return None and raise; ``as_*`` functions return the value converted
(e.g. a NumPy integer as a Python int, a number as a tensor) and raise; ``is_*`` functions
return a bool and never raise.

=================================  ================================================================
numbers and flags                  :func:`is_int`, :func:`as_int`, :func:`check_positive_int`,
                                   :func:`check_number_in`, :func:`check_fraction`, :func:`as_bits`,
                                   :func:`check_instance`, :func:`check_bool`
integer ranges                     :func:`as_quant_range` (a quantization grid, ``min < max``),
                                   :func:`as_int32_clamp_range` (clamp bounds, ``min <= max``)
tensors                            :func:`check_float_tensor`, :func:`check_not_empty`,
                                   :func:`check_finite`, :func:`observed_tensor`,
                                   :func:`is_integer_dtype`, :func:`as_tensor`
quantization parameters            :func:`as_scale`, :func:`as_eps`, :func:`as_zero_point`,
                                   :func:`check_zero_point_in_range`
axes and per-channel parameters    :func:`normalize_axis`, :func:`along_axis`
=================================  ================================================================

The quantization maths lives in :mod:`utils.quantization`; this module only checks and shapes
arguments.
"""

import numbers
from collections.abc import Sequence
from typing import TypeGuard, cast

import torch

__all__ = [
    "MIN_SCALE",
    "INT32_MIN",
    "INT32_MAX",
    "is_int",
    "as_int",
    "check_positive_int",
    "check_instance",
    "check_bool",
    "check_number_in",
    "check_fraction",
    "as_bits",
    "as_quant_range",
    "as_int32_clamp_range",
    "check_float_tensor",
    "check_not_empty",
    "check_finite",
    "observed_tensor",
    "is_integer_dtype",
    "as_tensor",
    "check_scale_values",
    "as_scale",
    "as_eps",
    "as_zero_point",
    "check_zero_point_in_range",
    "normalize_axis",
    "along_axis",
]

#: Smallest scale accepted anywhere (float32 ``2.938737e-39``): ATen multiplies by the float32
#: reciprocal ``1.0f / scale``, which overflows to inf below it (then ``0 * inf`` is NaN and
#: PyTorch's results are garbage: ``quantize_per_tensor(0.0, 1e-40, ...)`` gives ``quant_max``).
MIN_SCALE = 2.938737278354183e-39

#: The int32 range: accumulators and clamp bounds of the integer kernels.
INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

_QUANTIZED_DTYPES = (torch.quint8, torch.qint8, torch.qint32, torch.quint4x2, torch.quint2x4)


# --------------------------------------------------------------------------- numbers


def is_int(value: object) -> TypeGuard[numbers.Integral]:
    """True for Python and NumPy integers, False for bools (``True`` is not a count) and for
    everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """``value`` as a Python int (NumPy integers converted, so ``quant_max - quant_min`` cannot
    overflow in int8).

    Raises TypeError unless :func:`is_int` (bools and tensors raise), and ValueError when
    ``minimum`` is given and ``value < minimum``.
    """
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {number}")
    return number


def check_positive_int(value: object, name: str) -> None:
    """Raise ValueError unless ``value`` is an int >= 1 (:func:`is_int`). A value of the wrong
    type raises ValueError too: callers such as thread and repeat counts report one error,
    ``"threads must be a positive int, got 0"``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_instance(value: object, name: str, kind: type, *, allow_none: bool = False) -> None:
    """Raise TypeError unless ``value`` is an instance of ``kind`` (or None when
    ``allow_none``): ``"scheme must be a Scheme, got str"``."""
    if value is None and allow_none:
        return
    if not isinstance(value, kind):
        allowed = f"a {kind.__name__} or None" if allow_none else f"a {kind.__name__}"
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__}")


def check_bool(value: object, name: str, *, allow_none: bool = False) -> None:
    """Raise TypeError unless ``value`` is a bool (or None when ``allow_none``); 0 and 1 are not
    bools. :func:`check_instance` with ``bool``."""
    check_instance(value, name, bool, allow_none=allow_none)


def check_number_in(value: object, name: str, low: float, high: float) -> None:
    """Raise TypeError unless ``value`` is an int or float (not a bool), ValueError unless
    ``low < value <= high`` (a half-open interval, which also rejects NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not low < value <= high:
        raise ValueError(f"{name} must be in ({low}, {high}], got {value}")


def check_fraction(value: object, name: str, what: str = "a fraction") -> None:
    """Raise TypeError unless ``value`` is a real number (not a bool), ValueError unless
    ``0 <= value <= 1`` (which also rejects NaN); ``what`` says what the fraction is:
    ``"final_sparsity must be in [0, 1] (a sparsity), got 1.5"``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1] ({what}), got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] ({what}), got {value}")


def as_bits(value: object, name: str = "bits") -> int:
    """A bit width as a Python int in 2..16, else TypeError/ValueError."""
    value = as_int(value, name)
    if not 2 <= value <= 16:
        raise ValueError(f"{name} must be in 2..16, got {value}")
    return value


# --------------------------------------------------------------------------- integer ranges


def as_quant_range(quant_min: object, quant_max: object) -> tuple[int, int]:
    """A quantization grid ``(quant_min, quant_max)`` as Python ints with
    ``quant_min < quant_max``, else TypeError/ValueError.

    A grid needs at least two integers: the scale divides by ``quant_max - quant_min``. (Clamp
    bounds may be a single integer: :func:`as_int32_clamp_range`.)
    """
    quant_min, quant_max = as_int(quant_min, "quant_min"), as_int(quant_max, "quant_max")
    if quant_min >= quant_max:
        raise ValueError(
            f"quant_min must be < quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    return quant_min, quant_max


def as_int32_clamp_range(quant_min: object, quant_max: object) -> tuple[int, int]:
    """Clamp bounds ``(quant_min, quant_max)`` of an integer output as Python ints with
    ``INT32_MIN <= quant_min <= quant_max <= INT32_MAX``, else TypeError/ValueError.

    Equal bounds are allowed: a fused ReLU clamps from the output zero point, which may be the
    top of the range (every output is then that one integer). A quantization grid needs
    ``quant_min < quant_max``: :func:`as_quant_range`.
    """
    quant_min, quant_max = as_int(quant_min, "quant_min"), as_int(quant_max, "quant_max")
    if not INT32_MIN <= quant_min <= quant_max <= INT32_MAX:
        raise ValueError(f"need INT32_MIN <= quant_min <= quant_max <= INT32_MAX, "
                         f"got quant_min={quant_min}, quant_max={quant_max}")
    return quant_min, quant_max


# --------------------------------------------------------------------------- tensors


def check_float_tensor(x: object, name: str) -> None:
    """Raise TypeError unless ``x`` is a floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_not_empty(x: torch.Tensor, name: str) -> None:
    """Raise ValueError if the tensor ``x`` has no elements."""
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ValueError if ``x`` holds a NaN or an infinity, or (float64) a value that becomes
    infinite in float32."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must not contain NaN or inf")
    if not bool(torch.isfinite(x.to(torch.float32)).all()):
        raise ValueError(f"{name} must lie within float32's range (|value| <= 3.4028e38): the "
                         f"values are computed in float32, got |value| up to "
                         f"{float(x.abs().max()):.4g}")


def observed_tensor(x: object, name: str = "x") -> torch.Tensor:
    """Values that are *observed* (their range is measured): a non-empty, finite floating-point
    tensor whose values are finite in float32. Returns them detached, as float32."""
    check_float_tensor(x, name)
    tensor = cast(torch.Tensor, x)   # check_float_tensor raised otherwise
    check_not_empty(tensor, name)
    check_finite(tensor, name)
    return tensor.detach().to(torch.float32)


def is_integer_dtype(dtype: torch.dtype) -> bool:
    """True for the integer dtypes (not bool, floating, complex or quantized)."""
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool
                or dtype in _QUANTIZED_DTYPES)


def as_tensor(value: object, name: str, dtype: torch.dtype, kind: str) -> torch.Tensor:
    """A Python number or a tensor of the right ``kind`` (``"float"`` or ``"int"``) as a
    detached ``dtype`` tensor, else TypeError."""
    wanted = "a floating-point" if kind == "float" else "an integer"
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point() if kind == "float" else is_integer_dtype(value.dtype)):
            raise TypeError(
                f"{name} must be {wanted} number or tensor, got a tensor of dtype {value.dtype}")
        return value.detach().to(dtype)
    number_type = numbers.Real if kind == "float" else numbers.Integral
    if isinstance(value, bool) or not isinstance(value, number_type):
        raise TypeError(f"{name} must be {wanted} number or tensor, got {type(value).__name__}")
    return torch.tensor(value, dtype=dtype)


# --------------------------------------------------------------------------- qparams


def check_scale_values(scale: torch.Tensor, name: str) -> None:
    """Raise ValueError unless every float32 entry is finite and >= :data:`MIN_SCALE`."""
    ok = torch.isfinite(scale) & (scale >= MIN_SCALE)
    if not bool(ok.all()):
        bad = float(scale.reshape(-1)[~ok.reshape(-1)][0])
        raise ValueError(f"{name} must be a positive finite float >= {MIN_SCALE:.7g} (below it "
                         f"the float32 reciprocal 1/{name} overflows), got {bad:.7g} (after "
                         f"rounding to float32)")


def as_scale(value: object, name: str = "scale") -> torch.Tensor:
    """A scale (number or floating-point tensor) as float32, as ATen rounds scales; every entry
    finite and at least :data:`MIN_SCALE`."""
    scale = as_tensor(value, name, torch.float32, kind="float")
    check_scale_values(scale, name)
    return scale


def as_eps(value: object, name: str = "eps") -> torch.Tensor:
    """The smallest scale, a Python or NumPy float (not a tensor) >= :data:`MIN_SCALE`, as a
    float32 0-d tensor."""
    if isinstance(value, (torch.Tensor, bool)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float >= {MIN_SCALE:.7g} (a number, not a "
                        f"tensor), got {type(value).__name__}")
    eps = torch.tensor(float(value), dtype=torch.float32)
    check_scale_values(eps, name)
    return eps


def as_zero_point(value: object, name: str = "zero_point") -> torch.Tensor:
    """A zero point (int or integer tensor) as an int64 tensor."""
    return as_tensor(value, name, torch.int64, kind="int")


def check_zero_point_in_range(zero_point: torch.Tensor, quant_min: int, quant_max: int) -> None:
    """Raise ValueError unless every zero point lies in ``[quant_min, quant_max]``."""
    if not bool(((zero_point >= quant_min) & (zero_point <= quant_max)).all()):
        raise ValueError(
            f"zero_point must be in [quant_min, quant_max] = [{quant_min}, {quant_max}]")


# --------------------------------------------------------------------------- axes


def normalize_axis(value: object, name: str, ndim: int) -> int:
    """An axis of an ``ndim``-d tensor, in ``-ndim..ndim-1``, as a non-negative index, else
    TypeError/ValueError."""
    axis = as_int(value, name)
    if ndim == 0:
        raise ValueError(f"{name} must be None for a 0-d tensor (it has no dimensions), got {axis}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be in {-ndim}..{ndim - 1} for a {ndim}-d tensor, got {axis}")
    return axis % ndim


def along_axis(param: torch.Tensor, name: str, shape: Sequence[int],
               axis: int | None) -> torch.Tensor:
    """Shape a per-tensor or per-channel parameter so that it broadcasts against a tensor of
    ``shape``.

    ``axis`` None (per tensor): ``param`` holds one value, returned 0-d. Otherwise (per channel)
    ``param`` is 1-d with one entry per index of ``shape[axis]`` (negative ``axis`` allowed),
    returned viewed along that axis: ``(C,)`` with axis 1 of a 4-d shape gives ``(1, C, 1, 1)``.
    Anything else raises ValueError naming ``name``.
    """
    if axis is None:
        if param.numel() != 1:
            raise ValueError(f"{name} must hold one value for per-tensor quantization (axis=None), "
                             f"got shape {tuple(param.shape)}")
        return param.reshape(())
    axis = normalize_axis(axis, "axis", len(shape))
    if param.dim() != 1 or param.numel() != shape[axis]:
        raise ValueError(f"{name} must be 1-d with {shape[axis]} entries (x.shape[{axis}]) for "
                         f"per-channel quantization, got shape {tuple(param.shape)}")
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return param.reshape(view)
