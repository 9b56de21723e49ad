r"""How much error quantization adds: MSE, maximum error, SQNR, and the textbook predictions.

Quantizing :math:`x` to :math:`\hat x` adds the error :math:`e = \hat x - x`. Inside the range it
is rounding error, :math:`|e| \le \Delta/2` for the step :math:`\Delta` (the scale). When the
values spread over many steps, :math:`e` is close to uniform on :math:`[-\Delta/2, \Delta/2]`, so

.. math::

    \mathbb{E}[e^2] = \frac{1}{\Delta}\int_{-\Delta/2}^{\Delta/2} e^2\, de = \frac{\Delta^2}{12}
    \qquad (:func:`rounding_noise_variance`)

The signal-to-quantization-noise ratio compares signal power with this noise power. For a signal
uniform over the whole range of :math:`b`-bit integers, :math:`\Delta = (x_{max}-x_{min})/(2^b-1)`
and

.. math::

    \mathrm{SQNR} = 20 \log_{10}(2^b - 1) \approx 6.02\, b \ \text{dB}
    \qquad (:func:`uniform_sqnr_db`)

Each extra bit halves :math:`\Delta`, divides the noise power by 4 and adds
:math:`10\log_{10}4 \approx 6.02` dB. (Textbooks' :math:`6.02\,b + 1.76` dB is for a full-scale
sine wave.)

The metrics return Python floats, accumulated in float64.
"""

import math

import torch

from .checks import as_bits, as_scale, check_float_tensor, check_not_empty

__all__ = ["mse", "max_abs_error", "sqnr_db", "rounding_noise_variance", "uniform_sqnr_db"]


def _error(x, y, names):
    """``y - x`` in float64, after checking both are non-empty float tensors of one shape."""
    for tensor, name in zip((x, y), names):
        check_float_tensor(tensor, name)
        check_not_empty(tensor, name)
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    return y.detach().to(torch.float64) - x.detach().to(torch.float64)


def mse(x: torch.Tensor, y: torch.Tensor) -> float:
    r"""Mean squared error :math:`\frac{1}{N}\sum_i (x_i - y_i)^2`.

    Args:
        x, y: non-empty floating-point tensors of the same shape.

    Returns:
        Python float.

    PyTorch: ``torch.nn.functional.mse_loss(y, x).item()`` (which accumulates in ``x.dtype``).
    """
    return float(torch.mean(_error(x, y, ("x", "y")) ** 2))


def max_abs_error(x: torch.Tensor, y: torch.Tensor) -> float:
    r"""Largest absolute difference :math:`\max_i |x_i - y_i|` (at most :math:`\Delta/2` when
    nothing is clipped).

    Args:
        x, y: non-empty floating-point tensors of the same shape.

    Returns:
        Python float.

    PyTorch: ``(x - y).abs().max().item()``.
    """
    return float(torch.max(torch.abs(_error(x, y, ("x", "y")))))


def sqnr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    r"""Signal-to-quantization-noise ratio in decibels.

    .. math::

        \mathrm{SQNR} = 10 \log_{10} \frac{\sum_i x_i^2}{\sum_i (x_i - \hat x_i)^2}

    ``inf`` when :math:`\hat x = x` (no noise); ``-inf`` when the signal is all zeros but the
    noise is not. Higher is better; each bit of precision adds about 6 dB.

    Args:
        x: the original (signal), non-empty floating-point tensor.
        x_hat: its quantized approximation, same shape.

    Returns:
        Python float, in dB.

    PyTorch: ``torch.ao.ns.fx.utils.compute_sqnr(x, x_hat)`` (the same quantity written as
    :math:`20\log_{10}(\lVert x\rVert / \lVert x - \hat x\rVert)`).
    """
    noise_power = float(torch.sum(_error(x, x_hat, ("x", "x_hat")) ** 2))
    signal_power = float(torch.sum(x.detach().to(torch.float64) ** 2))
    if noise_power == 0.0:
        return math.inf
    if signal_power == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


def rounding_noise_variance(scale: float | torch.Tensor) -> float:
    r"""Predicted power of rounding noise, :math:`\Delta^2/12`, for step :math:`\Delta` = ``scale``.

    Valid when the values are spread over many steps and nothing is clipped; then
    ``mse(x, x_hat)`` is close to it.

    Args:
        scale: positive number.

    Returns:
        Python float.

    PyTorch: no counterpart (a formula to compare measurements with).
    """
    scale = as_scale(scale)
    if scale.numel() != 1:
        raise ValueError(f"scale must be a single number, got shape {tuple(scale.shape)}")
    return float(scale.to(torch.float64)) ** 2 / 12


def uniform_sqnr_db(bits: int) -> float:
    r"""Predicted SQNR of a signal uniform over the whole quantization range:
    :math:`20\log_{10}(2^b - 1) \approx 6.02\, b` dB.

    (Signal power :math:`R^2/12` for a range of width :math:`R`, noise power :math:`\Delta^2/12`
    with :math:`\Delta = R/(2^b-1)`.)

    Args:
        bits: :math:`b`, 2..16.

    Returns:
        Python float, in dB.

    PyTorch: no counterpart (a formula to compare :func:`sqnr_db` with).
    """
    bits = as_bits(bits)
    return 20.0 * math.log10(2**bits - 1)
