r"""Range observers: watch the values a tensor takes during calibration, then choose qparams.

Post-training quantization needs a range :math:`[x_{min}, x_{max}]` for every tensor it
quantizes. An observer is an ``nn.Module`` placed where the tensor flows: ``forward(x)`` records
statistics of ``x`` and returns ``x`` unchanged; ``calculate_qparams()`` turns the recorded
range into ``(scale, zero_point)`` with :func:`utils.quantization.choose_qparams`.

===================================  ===========================================================
:class:`MinMaxObserver`              smallest and largest value ever seen (per tensor or channel)
:class:`MovingAverageMinMaxObserver` exponential moving average of each batch's min and max
:class:`PercentileObserver`          the ``p``-th and ``(100 - p)``-th percentiles: ignores rare
                                     outliers
:class:`MSEObserver`                 the clipped range that minimizes the quantization MSE
===================================  ===========================================================

The choice is a trade-off between two errors: a wide range never clips but has a coarse step
:math:`s` (rounding error :math:`\approx s^2/12` per value); a narrow range has a fine step but
clips the values outside it. Min-max never clips; percentile and MSE clip a few outliers to make
the step finer for everything else.

All observers take the same keyword-only options (:class:`ObserverBase`): the integer range as
``bits`` (default 8, with ``signed`` and ``reduce_range``) or as explicit
``quant_min``/``quant_max``, the ``scheme`` (:class:`utils.quantization.Scheme`), ``eps`` and, for
per-channel observation, ``ch_axis``. Each observer adds only its own parameter
(``averaging_constant``, ``percentile``, ``num_candidates``). The min-max observers match
PyTorch's ``MinMaxObserver``, ``PerChannelMinMaxObserver``, ``MovingAverageMinMaxObserver`` and
``MovingAveragePerChannelMinMaxObserver`` bit for bit (one deliberate exception: PyTorch's int32
overflow of 32-bit zero points, see :func:`utils.quantization.choose_qparams`).
"""

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import nn

from .checks import (
    as_eps,
    as_int,
    as_quant_range,
    check_bool,
    check_instance,
    check_number_in,
    normalize_axis,
    observed_tensor,
)
from .quant_error import mse
from .quantization import (
    EPS,
    Scheme,
    ZeroPointRule,
    choose_qparams,
    dequantize,
    quant_range,
    quantize,
)

__all__ = [
    "ObserverBase",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "PercentileObserver",
    "MSEObserver",
    "RangeSearch",
    "percentile_range",
    "mse_optimal_range",
]


# --------------------------------------------------------------------------- helpers


def _resolve_quant_range(bits, signed, reduce_range, quant_min, quant_max):
    """An observer's ``(quant_min, quant_max, signed, zero_point_rule)``.

    Either from ``bits`` (default 8) via :func:`quant_range` (``signed`` default False), or from
    explicit ``quant_min``/``quant_max`` (which must contain 0, as PyTorch requires;
    ``reduce_range`` halves them like PyTorch; ``signed`` default ``quant_min < 0``). The
    symmetric zero point follows PyTorch: a range from ``bits`` is inferred from the range
    (:meth:`ZeroPointRule.infer`: 128 on 0..255), an explicit one is customized
    (``has_customized_qrange``: 127 on an explicit 0..255).
    """
    check_bool(signed, "signed", allow_none=True)
    check_bool(reduce_range, "reduce_range")
    if quant_min is None and quant_max is None:
        signed = bool(signed)
        quant_min, quant_max = quant_range(8 if bits is None else bits, signed, reduce_range)
        rule = ZeroPointRule.ZERO if signed else ZeroPointRule.infer(quant_min, quant_max)
        return quant_min, quant_max, signed, rule
    if bits is not None:
        raise ValueError("give either bits or quant_min/quant_max, not both")
    if quant_min is None or quant_max is None:
        raise ValueError("quant_min and quant_max must be given together")
    quant_min, quant_max = as_quant_range(quant_min, quant_max)
    if not quant_min <= 0 <= quant_max:
        raise ValueError(f"[quant_min, quant_max] must include 0, got [{quant_min}, {quant_max}]")
    if signed is None:
        signed = quant_min < 0
    if reduce_range:
        quant_min, quant_max = quant_min // 2, quant_max // 2
    return quant_min, quant_max, signed, ZeroPointRule.of(signed=signed, customized=True)


def _channel_rows(x, ch_axis):
    """Observed values as a 2-d float32 tensor with one row per channel.

    ``(C, N)`` with ``C = x.shape[ch_axis]``, or ``(1, x.numel())`` per tensor (``ch_axis``
    None): per-tensor observation is per-channel observation of a single channel.
    """
    x = observed_tensor(x)
    if ch_axis is None:
        return x.reshape(1, -1)
    axis = normalize_axis(ch_axis, "ch_axis", x.dim())
    return x.movedim(axis, 0).reshape(x.shape[axis], -1)


def _row_quantiles(rows, q):
    r"""The ``q``-quantile (``0 <= q <= 1``) of each row of a ``(C, N)`` tensor, shape ``(C,)``.

    Linear interpolation between order statistics (numpy's default ``'linear'`` method): with the
    row sorted, :math:`v_{(0)} \le \dots \le v_{(N-1)}`, and rank :math:`r = q\,(N-1)`,

    .. math::

        Q(q) = v_{(\lfloor r \rfloor)}
               + (r - \lfloor r \rfloor)\,\big(v_{(\lceil r \rceil)} - v_{(\lfloor r \rfloor)}\big)

    computed like ``torch.quantile`` (``q`` rounded to float32, the rank in float64, then
    ``torch.lerp`` in float32) so the results are equal, but without its limit of :math:`2^{24}`
    values per row.
    """
    sorted_rows = torch.sort(rows, dim=1).values
    rank = float(torch.tensor(q, dtype=torch.float32)) * (rows.shape[1] - 1)
    below, above = math.floor(rank), math.ceil(rank)
    weight = torch.tensor(rank - below, dtype=torch.float32)
    return torch.lerp(sorted_rows[:, below], sorted_rows[:, above], weight)


def percentile_range(x: torch.Tensor,
                     percentile: float = 99.99) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The range between the :math:`(100-p)`-th and the :math:`p`-th percentile of ``x``.

    .. math::

        x_{min} = Q\!\left(1 - \tfrac{p}{100}\right), \qquad
        x_{max} = Q\!\left(\tfrac{p}{100}\right)

    where :math:`Q` is the linearly interpolated quantile of all values of ``x`` (numpy's
    default). The :math:`(100-p)\%` most extreme values on each side fall outside and will be
    clipped; ``percentile=100`` gives the min-max range.

    Args:
        x: non-empty, finite floating-point tensor of any shape.
        percentile: :math:`p`, in (50, 100].

    Returns:
        ``(min_val, max_val)``: float32 0-d tensors.

    PyTorch: ``torch.quantile(x.flatten(), 1 - p/100)`` and ``torch.quantile(x.flatten(),
    p/100)`` (equal results), ``numpy.percentile(x, [100 - p, p])`` (equal up to float32
    rounding). No observer counterpart in ``torch.ao.quantization``.
    """
    check_number_in(percentile, "percentile", 50, 100)
    rows = _channel_rows(x, ch_axis=None)
    return _row_quantiles(rows, 1 - percentile / 100)[0], _row_quantiles(rows, percentile / 100)[0]


class RangeSearch(NamedTuple):
    """Result of :func:`mse_optimal_range`: the best range and the whole error curve."""

    #: best clipping range, float32 0-d tensors
    min_val: torch.Tensor
    max_val: torch.Tensor
    #: the shrink factors tried, float64 of shape ``(num_candidates,)``, increasing to 1.0
    factors: torch.Tensor
    #: quantization MSE for each factor, float64 of shape ``(num_candidates,)``
    errors: torch.Tensor


def _fake_quantization_mse(x, min_val, max_val, quant_min, quant_max, **qparams_options):
    """MSE between ``x`` and its quantized-dequantized copy, for qparams chosen from a range."""
    scale, zero_point = choose_qparams(min_val, max_val, quant_min, quant_max, **qparams_options)
    x_hat = dequantize(quantize(x, scale, zero_point, quant_min, quant_max), scale, zero_point)
    return mse(x, x_hat)


def mse_optimal_range(x: torch.Tensor, quant_min: int, quant_max: int, num_candidates: int = 100,
                      *, scheme: Scheme = Scheme.AFFINE,
                      zero_point_rule: ZeroPointRule | None = None,
                      eps: float = EPS) -> RangeSearch:
    r"""Search the clipping range that minimizes the mean squared quantization error.

    The candidates shrink the min-max range :math:`[m, M]` of ``x`` by factors
    :math:`\alpha_k = k/K`, :math:`k = 1..K` (``K = num_candidates``):

    .. math::

        \alpha^* = \arg\min_{\alpha_k} \frac{1}{N} \sum_i \big(\hat x_i(\alpha_k) - x_i\big)^2,
        \qquad \hat x(\alpha) = \mathrm{dequantize}(\mathrm{quantize}(x;\ s, z)),\quad
        (s, z) = \mathrm{choose\_qparams}(\alpha m,\ \alpha M)

    (with ``scheme=Scheme.SYMMETRIC`` this shrinks :math:`\max|x|`). Small :math:`\alpha` clips much
    (clipping error grows); :math:`\alpha = 1` clips nothing but has the coarsest step (rounding
    error :math:`\approx s^2/12`). With outliers the optimum is well below 1. Ties go to the
    smallest factor.

    Args:
        x: non-empty, finite floating-point tensor of any shape (flattened).
        quant_min, quant_max: integer range.
        num_candidates: :math:`K \ge 1`.
        scheme, zero_point_rule, eps: keyword-only, passed to :func:`choose_qparams`.

    Returns:
        :class:`RangeSearch` ``(min_val, max_val, factors, errors)``: the best range
        :math:`(\alpha^* m, \alpha^* M)` and the curve for plotting error against factor.

    PyTorch: no direct counterpart (``HistogramObserver`` minimizes a similar L2 error over
    histogram bins).
    """
    x = observed_tensor(x).reshape(-1)
    num_candidates = as_int(num_candidates, "num_candidates", minimum=1)
    options = dict(scheme=scheme, zero_point_rule=zero_point_rule, eps=eps)
    low, high = torch.aminmax(x)
    factors = torch.arange(1, num_candidates + 1, dtype=torch.float64) / num_candidates
    errors = torch.tensor(
        [_fake_quantization_mse(x, float(f) * low, float(f) * high, quant_min, quant_max, **options)
         for f in factors], dtype=torch.float64)
    best = float(factors[torch.argmin(errors)])
    return RangeSearch(best * low, best * high, factors, errors)


# --------------------------------------------------------------------------- observers


class ObserverBase(nn.Module, ABC):
    """What every observer shares: the keyword-only options, ``forward`` and
    ``calculate_qparams``.

    Args (keyword-only):
        bits: 2..16 (default 8) -- or give ``quant_min`` and ``quant_max`` instead.
        signed: signed integers (default: ``quant_min < 0`` for an explicit range, else False).
        scheme: :attr:`Scheme.AFFINE` (default) or :attr:`Scheme.SYMMETRIC` qparams.
        reduce_range: one bit less, as PyTorch's x86 defaults (not with symmetric unsigned).
        quant_min, quant_max: explicit integer range containing 0 (PyTorch's customized range).
        ch_axis: ``None`` per tensor, else the channel dimension (0 for conv/linear weights).
        eps: smallest scale.

    Attributes ``quant_min``, ``quant_max``, ``signed``, ``scheme``, ``zero_point_rule`` (the
    :class:`ZeroPointRule` of the symmetric zero point), ``reduce_range``, ``ch_axis``, ``eps``.

    A subclass adds only its own parameter, records rows of values (``_record``), says how many
    channels it has seen (``_recorded_channels``, None before any data) and turns what it
    recorded into a range (``_range``). Not an observer itself (it records nothing): these three
    hooks are abstract, so ``ObserverBase()`` raises TypeError.
    """

    def __init__(self, *, bits: int | None = None, signed: bool | None = None,
                 scheme: Scheme = Scheme.AFFINE, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None,
                 ch_axis: int | None = None, eps: float = EPS) -> None:
        super().__init__()
        check_instance(scheme, "scheme", Scheme)
        self.quant_min, self.quant_max, self.signed, self.zero_point_rule = _resolve_quant_range(
            bits, signed, reduce_range, quant_min, quant_max)
        if scheme is Scheme.SYMMETRIC and reduce_range and not self.signed:
            raise ValueError("reduce_range is not supported for symmetric unsigned quantization "
                             "(PyTorch's observers refuse it for quint8 too)")
        if ch_axis is not None:
            ch_axis = as_int(ch_axis, "ch_axis")
        as_eps(eps)
        self.scheme, self.reduce_range = scheme, reduce_range
        self.ch_axis, self.eps = ch_axis, eps

    @abstractmethod
    def _record(self, rows: torch.Tensor) -> None:
        """Record ``rows``, float32 of shape ``(C, N)``: one row per channel (one per tensor)."""

    @abstractmethod
    def _recorded_channels(self) -> int | None:
        """How many channels (rows) were recorded, None before any data."""

    @abstractmethod
    def _range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(min_val, max_val)`` of what was recorded, float32 of shape ``(C,)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Record the statistics of ``x`` (detached) and return ``x`` unchanged."""
        rows = _channel_rows(x, self.ch_axis)
        seen = self._recorded_channels()
        if seen is not None and rows.shape[0] != seen:
            raise ValueError(f"x has {rows.shape[0]} channels along ch_axis={self.ch_axis}, "
                             f"earlier inputs had {seen}")
        self._record(rows)
        return x

    def observed_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The range the qparams are chosen from: ``(min_val, max_val)``, float32 of shape
        ``(C,)`` (``(1,)`` per tensor)."""
        self._require_observations()
        return self._range()

    def _require_observations(self):
        """Raise RuntimeError if nothing has been observed yet."""
        if self._recorded_channels() is None:
            raise RuntimeError(f"{type(self).__name__} has not observed any data yet: "
                               f"call it on a tensor first")

    def calculate_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, zero_point)`` for the observed range: float32 and int64 tensors of shape
        ``(C,)``, or ``(1,)`` per tensor, from :func:`utils.quantization.choose_qparams`."""
        min_val, max_val = self.observed_range()
        return choose_qparams(min_val, max_val, self.quant_min, self.quant_max, scheme=self.scheme,
                              zero_point_rule=self.zero_point_rule, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"quant_min={self.quant_min}, quant_max={self.quant_max}, "
                f"scheme={self.scheme.name}, signed={self.signed}, ch_axis={self.ch_axis}")


class MinMaxObserver(ObserverBase):
    r"""Running minimum and maximum of everything observed.

    .. math::

        x_{min} \leftarrow \min\big(x_{min}, \min(X)\big), \qquad
        x_{max} \leftarrow \max\big(x_{max}, \max(X)\big)

    for each observed batch :math:`X`; per channel (``ch_axis`` set) the min and max run over all
    dimensions except ``ch_axis``. Qparams follow :func:`utils.quantization.choose_qparams`. The
    range never clips an observed value, so one outlier widens the step for all values.

    Args:
        options: keyword-only, see :class:`ObserverBase` (``bits``, ``signed``, ``scheme``,
            ``reduce_range``, ``quant_min``, ``quant_max``, ``ch_axis``, ``eps``).

    Buffers ``min_val``/``max_val`` start at :math:`+\infty/-\infty` and have shape ``(C,)``
    (``(1,)`` per tensor) once data is seen.

    PyTorch: ``torch.ao.quantization.MinMaxObserver`` (``ch_axis=None``) and
    ``PerChannelMinMaxObserver`` with ``dtype=torch.quint8/qint8/qint32``, ``qscheme`` per-tensor
    or per-channel affine/symmetric; equal ``calculate_qparams()``. Unlike PyTorch an empty,
    integer or non-finite input raises instead of being skipped or propagated, and so does a
    float64 input with values beyond float32's range (the range is stored in float32, where they
    would be inf). PyTorch's per-channel observers refuse a 1-d input (they flatten from dim 1);
    here each entry is a channel, which is PyTorch's answer for the same values shaped ``(C, 1)``.
    """

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    def _recorded_channels(self):
        return self.min_val.numel() if bool(torch.isfinite(self.min_val).all()) else None

    def _record(self, rows):
        batch_min, batch_max = torch.aminmax(rows, dim=1)
        self.min_val, self.max_val = self._running_range(batch_min, batch_max)

    def _running_range(self, batch_min, batch_max):
        """The new running range given this batch's per-row min and max."""
        return torch.minimum(self.min_val, batch_min), torch.maximum(self.max_val, batch_max)

    def _range(self):
        return self.min_val, self.max_val

    def reset(self) -> None:
        """Forget everything observed."""
        self.min_val, self.max_val = torch.tensor(float("inf")), torch.tensor(float("-inf"))


class MovingAverageMinMaxObserver(MinMaxObserver):
    r"""Exponential moving average of each batch's minimum and maximum.

    The first batch sets the range; every later batch :math:`X` moves it a fraction :math:`c` of
    the way towards its own min and max:

    .. math::

        x_{min} \leftarrow x_{min} + c\,\big(\min(X) - x_{min}\big), \qquad
        x_{max} \leftarrow x_{max} + c\,\big(\max(X) - x_{max}\big)

    (i.e. :math:`(1-c)\,x_{min} + c\,\min(X)`, written the way PyTorch computes it). A single
    extreme batch then moves the range only by :math:`c` of its excess; used for activations in
    quantization-aware training.

    Args:
        averaging_constant: :math:`c`, in (0, 1]; 1 keeps only the last batch.
        options: keyword-only, as in :class:`ObserverBase`.

    PyTorch: ``torch.ao.quantization.MovingAverageMinMaxObserver`` (and
    ``MovingAveragePerChannelMinMaxObserver`` with ``ch_axis``); equal qparams.
    """

    def __init__(self, averaging_constant: float = 0.01, **options) -> None:
        super().__init__(**options)
        check_number_in(averaging_constant, "averaging_constant", 0, 1)
        self.averaging_constant = averaging_constant

    def _running_range(self, batch_min, batch_max):
        if self._recorded_channels() is None:
            return batch_min, batch_max
        c = self.averaging_constant
        return (self.min_val + c * (batch_min - self.min_val),
                self.max_val + c * (batch_max - self.max_val))


class _ValueRecordingObserver(ObserverBase):
    """Base of the observers that keep every observed value (they need the whole distribution,
    not just its extremes). Memory grows with the calibration set: 4 bytes per value."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._rows: list[torch.Tensor] = []

    def _recorded_channels(self):
        return self._rows[0].shape[0] if self._rows else None

    def _record(self, rows):
        self._rows.append(rows.clone())

    def observed_values(self) -> torch.Tensor:
        """All values observed so far, float32 of shape ``(C, N)`` (``(1, N)`` per tensor)."""
        self._require_observations()
        return torch.cat(self._rows, dim=1)

    def reset(self) -> None:
        """Forget everything observed."""
        self._rows = []


class PercentileObserver(_ValueRecordingObserver):
    r"""Range between the :math:`(100-p)`-th and :math:`p`-th percentiles of all observed values.

    .. math::

        x_{min} = Q\!\left(1 - \tfrac{p}{100}\right), \qquad
        x_{max} = Q\!\left(\tfrac{p}{100}\right)

    with :math:`Q` the linearly interpolated quantile over *all* values observed so far (per
    channel with ``ch_axis``); see :func:`percentile_range`. The rare values beyond the
    percentiles are clipped, which buys a finer step for the rest. Qparams then follow
    :func:`utils.quantization.choose_qparams` (range widened to contain 0).

    Args:
        percentile: :math:`p` in (50, 100]; 100 is the min-max range.
        options: keyword-only, as in :class:`ObserverBase`.

    PyTorch: no observer counterpart; the range equals ``torch.quantile`` at ``1 - p/100`` and
    ``p/100``.
    """

    def __init__(self, percentile: float = 99.99, **options) -> None:
        super().__init__(**options)
        check_number_in(percentile, "percentile", 50, 100)
        self.percentile = percentile

    def _range(self):
        rows = self.observed_values()
        return (_row_quantiles(rows, 1 - self.percentile / 100),
                _row_quantiles(rows, self.percentile / 100))


class MSEObserver(_ValueRecordingObserver):
    r"""The clipping range that minimizes the mean squared quantization error of all observed
    values (per channel with ``ch_axis``), searched by :func:`mse_optimal_range`:

    .. math::

        \alpha^* = \arg\min_{\alpha \in \{1/K, \dots, 1\}}
                   \mathrm{MSE}\big(x,\ \hat x(\alpha\, x_{min},\ \alpha\, x_{max})\big)

    Args:
        num_candidates: :math:`K`, the number of shrink factors tried.
        options: keyword-only, as in :class:`ObserverBase`.

    PyTorch: no direct counterpart (``HistogramObserver`` is the closest).
    """

    def __init__(self, num_candidates: int = 100, **options) -> None:
        super().__init__(**options)
        num_candidates = as_int(num_candidates, "num_candidates", minimum=1)
        self.num_candidates = num_candidates

    def _range(self):
        searches = [mse_optimal_range(row, self.quant_min, self.quant_max, self.num_candidates,
                                      scheme=self.scheme, zero_point_rule=self.zero_point_rule,
                                      eps=self.eps)
                    for row in self.observed_values()]
        return (torch.stack([search.min_val for search in searches]),
                torch.stack([search.max_val for search in searches]))
