"""utils.observers against PyTorch's observers (min-max, per-channel, moving average),
torch.quantile (percentile) and sensible behaviour (MSE search), plus bad input."""

import inspect

import numpy as np
import pytest
import torch
from torch.ao.quantization import observer as torch_observers

from utils.observers import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    ObserverBase,
    PercentileObserver,
    RangeSearch,
    mse_optimal_range,
    percentile_range,
)
from utils.quant_error import mse
from utils.quantization import Scheme, ZeroPointRule, dequantize, quantize

# Hundreds of ATen calls on tiny tensors: one intra-op thread keeps this file fast.
pytestmark = pytest.mark.usefixtures("one_intra_op_thread")

QUINT8, QINT8, QINT32 = torch.quint8, torch.qint8, torch.qint32


def same_range(ours, theirs, name):
    """A test case: our observer arguments and PyTorch's for the same integer range."""
    return pytest.param(ours, theirs, id=name)


RANGES = [
    same_range({}, dict(dtype=QUINT8), "quint8"),
    same_range(dict(signed=True), dict(dtype=QINT8), "qint8"),
    same_range(dict(reduce_range=True), dict(dtype=QUINT8, reduce_range=True), "quint8-reduce"),
    same_range(dict(signed=True, reduce_range=True), dict(dtype=QINT8, reduce_range=True),
               "qint8-reduce"),
    same_range(dict(quant_min=-(2**31), quant_max=2**31 - 1), dict(dtype=QINT32), "qint32"),
    same_range(dict(quant_min=0, quant_max=15), dict(dtype=QUINT8, quant_min=0, quant_max=15),
               "0..15"),
    same_range(dict(quant_min=-8, quant_max=7), dict(dtype=QINT8, quant_min=-8, quant_max=7),
               "-8..7"),
    same_range(dict(quant_min=0, quant_max=255), dict(dtype=QUINT8, quant_min=0, quant_max=255),
               "custom-0..255"),
    same_range(dict(quant_min=0, quant_max=15, reduce_range=True),
               dict(dtype=QUINT8, quant_min=0, quant_max=15, reduce_range=True), "0..15-reduce"),
    same_range(dict(quant_min=-8, quant_max=7, signed=True, reduce_range=True),
               dict(dtype=QINT8, quant_min=-8, quant_max=7, reduce_range=True), "-8..7-reduce"),
    same_range(dict(quant_min=-(2**15), quant_max=2**15 - 1),
               dict(dtype=QINT32, quant_min=-(2**15), quant_max=2**15 - 1), "qint32-custom-16bit"),
    same_range(dict(bits=16), dict(dtype=torch.uint16), "uint16"),
]
# every bit width 2..16 (8- and 16-bit unsigned are PyTorch's default quint8 and uint16, above)
BIT_RANGES = [same_range(dict(bits=b), dict(dtype=QUINT8, quant_min=0, quant_max=2**b - 1), f"u{b}")
              for b in range(2, 17) if b not in (8, 16)]
BIT_RANGES += [same_range(dict(bits=b, signed=True),
                          dict(dtype=QINT32, quant_min=-(2 ** (b - 1)), quant_max=2 ** (b - 1) - 1),
                          f"s{b}")
               for b in range(2, 17)]


def edge_batches(gen):
    """Named lists of batches: random and the edge cases (4x5 tensors, so axes 0 and 1 differ)."""
    shape = (4, 5)
    random = [torch.randn(shape, generator=gen) * 2 + 0.3 for _ in range(3)]
    return {
        "random": random,
        "constant": [torch.full(shape, 3.0)],
        "constant negative": [torch.full(shape, -2.5)],
        "all negative": [-torch.rand(shape, generator=gen) * 5 - 0.1 for _ in range(2)],
        "all positive": [torch.rand(shape, generator=gen) * 5 + 0.1 for _ in range(2)],
        "tiny range": [1e-10 + 1e-10 * torch.rand(shape, generator=gen)],
        "zeros": [torch.zeros(shape)],
        "outlier": [torch.cat([torch.randn(3, 5, generator=gen), torch.full((1, 5), 400.0)])],
    }


def torch_min_max_observer(torch_kwargs, symmetric, ch_axis, moving_average=None):
    if ch_axis is None:
        qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        cls = (torch_observers.MovingAverageMinMaxObserver if moving_average
               else torch_observers.MinMaxObserver)
    else:
        qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        cls = (torch_observers.MovingAveragePerChannelMinMaxObserver if moving_average
               else torch_observers.PerChannelMinMaxObserver)
        torch_kwargs = dict(torch_kwargs, ch_axis=ch_axis)
    if moving_average:
        torch_kwargs = dict(torch_kwargs, averaging_constant=moving_average)
    return cls(qscheme=qscheme, **torch_kwargs)


def assert_observers_agree(ours, theirs, batches):
    for batch in batches:
        assert ours(batch) is batch
        theirs(batch)
    scale, zero_point = ours.calculate_qparams()
    torch_scale, torch_zero_point = theirs.calculate_qparams()
    assert scale.dtype == torch.float32 and zero_point.dtype == torch.int64
    assert torch.equal(scale, torch_scale), (scale, torch_scale)
    assert torch.equal(zero_point, torch_zero_point.to(torch.int64)), (zero_point, torch_zero_point)


def scheme_of(symmetric):
    return Scheme.SYMMETRIC if symmetric else Scheme.AFFINE


def symmetric_options(our_kwargs):
    unsigned = not our_kwargs.get("signed", our_kwargs.get("quant_min", 0) < 0)
    return [False] if unsigned and our_kwargs.get("reduce_range") else [False, True]


def check_min_max_observer_equals_torch(gen, our_kwargs, torch_kwargs, ch_axis):
    for symmetric in symmetric_options(our_kwargs):
        for name, batches in edge_batches(gen).items():
            ours = MinMaxObserver(scheme=scheme_of(symmetric), ch_axis=ch_axis, **our_kwargs)
            theirs = torch_min_max_observer(torch_kwargs, symmetric, ch_axis)
            assert_observers_agree(ours, theirs, batches)


@pytest.mark.parametrize("ch_axis", [None, 0, 1])
@pytest.mark.parametrize("our_kwargs, torch_kwargs", RANGES)
def test_min_max_observer_equals_torch(gen, our_kwargs, torch_kwargs, ch_axis):
    check_min_max_observer_equals_torch(gen, our_kwargs, torch_kwargs, ch_axis)


@pytest.mark.parametrize("our_kwargs, torch_kwargs", BIT_RANGES)
def test_min_max_observer_equals_torch_for_every_bit_width(gen, our_kwargs, torch_kwargs):
    # per tensor; per-channel observation does not depend on the bit width (RANGES covers it)
    check_min_max_observer_equals_torch(gen, our_kwargs, torch_kwargs, ch_axis=None)


@pytest.mark.parametrize("averaging_constant", [0.01, 1.0])
@pytest.mark.parametrize("ch_axis", [None, 0, 1])
@pytest.mark.parametrize("our_kwargs, torch_kwargs", [RANGES[0], RANGES[1], RANGES[4], RANGES[5]])
def test_moving_average_observer_equals_torch(gen, our_kwargs, torch_kwargs, ch_axis,
                                              averaging_constant):
    for symmetric in symmetric_options(our_kwargs):
        for name, batches in edge_batches(gen).items():
            ours = MovingAverageMinMaxObserver(averaging_constant, scheme=scheme_of(symmetric),
                                               ch_axis=ch_axis, **our_kwargs)
            theirs = torch_min_max_observer(torch_kwargs, symmetric, ch_axis,
                                            moving_average=averaging_constant)
            assert_observers_agree(ours, theirs, batches)
            assert torch.equal(ours.min_val.reshape(theirs.min_val.shape), theirs.min_val)


def test_moving_average_first_batch_sets_range_then_moves_by_c():
    observer = MovingAverageMinMaxObserver(averaging_constant=0.25)
    observer(torch.tensor([-1.0, 1.0]))
    assert observer.min_val.tolist() == [-1.0] and observer.max_val.tolist() == [1.0]
    observer(torch.tensor([-5.0, 9.0]))
    assert observer.min_val.tolist() == [-2.0] and observer.max_val.tolist() == [3.0]


def test_min_max_observer_runs_over_batches_and_channels():
    observer = MinMaxObserver(ch_axis=1)
    observer(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, 0.5]]))
    observer(torch.tensor([[-1.0, 5.0, 0.5]]))
    assert observer.min_val.tolist() == [-1.0, -2.0, 0.5]
    assert observer.max_val.tolist() == [3.0, 5.0, 0.5]
    assert observer.calculate_qparams()[0].shape == (3,)


def test_observer_forward_returns_input_unchanged_and_keeps_no_graph():
    x = torch.randn(3, 4, requires_grad=True)
    observer = MinMaxObserver()
    y = observer(x)
    assert y is x
    assert not observer.min_val.requires_grad
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(3, 4))


def test_observer_state_dict_and_reset():
    observer = MinMaxObserver(ch_axis=0)
    observer(torch.randn(3, 2))
    assert set(observer.state_dict()) == {"min_val", "max_val"}
    observer.reset()
    with pytest.raises(RuntimeError, match="not observed"):
        observer.calculate_qparams()
    observer(torch.randn(5, 2))  # a new channel count is fine after reset
    assert observer.min_val.shape == (5,)


# --------------------------------------------------------------------------- percentile


@pytest.mark.parametrize("percentile", [99.99, 99.0, 90.0, 100])
def test_percentile_range_equals_torch_quantile_and_numpy(gen, percentile):
    x = torch.randn(20, 300, generator=gen) ** 3
    low, high = percentile_range(x, percentile)
    assert low.shape == () and high.shape == ()
    assert torch.equal(low, torch.quantile(x.flatten(), 1 - percentile / 100))
    assert torch.equal(high, torch.quantile(x.flatten(), percentile / 100))
    np_low, np_high = np.percentile(x.numpy().astype(np.float64), [100 - percentile, percentile])
    # numpy interpolates in float64 with q in float64; torch rounds q to float32 first
    assert low.item() == pytest.approx(np_low, rel=1e-4, abs=1e-6)
    assert high.item() == pytest.approx(np_high, rel=1e-4, abs=1e-6)


def test_percentile_observer_uses_all_batches_and_clips_outliers(gen):
    batches = [torch.randn(1000, generator=gen) for _ in range(4)]
    batches[2][0] = 1000.0
    observer = PercentileObserver(percentile=99.9)
    for batch in batches:
        observer(batch)
    everything = torch.cat(batches)
    min_val, max_val = observer.observed_range()
    assert torch.equal(min_val, torch.quantile(everything, 1 - 0.999).reshape(1))
    assert torch.equal(max_val, torch.quantile(everything, 0.999).reshape(1))
    assert max_val.item() < 5.0  # the outlier does not set the range


@pytest.mark.parametrize("ch_axis", [0, 1, -1])
def test_percentile_observer_per_channel_equals_torch_quantile(gen, ch_axis):
    x = torch.randn(6, 7, 8, generator=gen)
    observer = PercentileObserver(percentile=95.0, ch_axis=ch_axis, scheme=Scheme.SYMMETRIC,
                                  signed=True)
    observer(x)
    rows = x.movedim(ch_axis, 0).reshape(x.shape[ch_axis], -1)
    min_val, max_val = observer.observed_range()
    assert torch.equal(min_val, torch.quantile(rows, 0.05, dim=1))
    assert torch.equal(max_val, torch.quantile(rows, 0.95, dim=1))
    scale, zero_point = observer.calculate_qparams()
    assert torch.equal(scale, torch.maximum(-min_val.clamp(max=0), max_val.clamp(min=0)) / 127.5)
    assert torch.equal(zero_point, torch.zeros(x.shape[ch_axis], dtype=torch.int64))


def test_percentile_100_equals_min_max(gen):
    x = torch.randn(100, generator=gen)
    ours, reference = PercentileObserver(percentile=100, bits=4), MinMaxObserver(bits=4)
    ours(x), reference(x)
    for ours_param, reference_param in zip(ours.calculate_qparams(), reference.calculate_qparams()):
        assert torch.equal(ours_param, reference_param)


# --------------------------------------------------------------------------- MSE search


def data_with_outliers(gen):
    x = torch.randn(4000, generator=gen)
    x[:4] = torch.tensor([12.0, -10.0, 11.0, -12.0])
    return x


def quantization_mse(x, min_val, max_val, quant_min, quant_max):
    from utils.quantization import choose_qparams

    scale, zero_point = choose_qparams(min_val, max_val, quant_min, quant_max)
    x_hat = dequantize(quantize(x, scale, zero_point, quant_min, quant_max), scale, zero_point)
    return mse(x, x_hat)


def test_mse_range_beats_min_max_on_data_with_outliers(gen):
    x = data_with_outliers(gen)
    search = mse_optimal_range(x, 0, 15)
    assert isinstance(search, RangeSearch)
    assert search.max_val < 0.5 * x.max()  # clips the outliers
    best = quantization_mse(x, search.min_val, search.max_val, 0, 15)
    min_max = quantization_mse(x, x.min(), x.max(), 0, 15)
    assert best < 0.5 * min_max
    assert best == pytest.approx(search.errors.min().item(), rel=1e-12)
    assert search.errors[-1].item() == pytest.approx(min_max, rel=1e-12)  # factor 1 is min-max


def test_mse_search_curve_shapes_and_factors(gen):
    x = torch.rand(1000, generator=gen) * 2 - 1
    search = mse_optimal_range(x, -8, 7, num_candidates=50, scheme=Scheme.SYMMETRIC)
    assert search.factors.shape == search.errors.shape == (50,)
    assert search.factors[0].item() == pytest.approx(1 / 50) and search.factors[-1].item() == 1.0
    assert search.errors[0] > search.errors.min()  # shrinking by 50x clips nearly everything
    best_factor = search.factors[search.errors.argmin()].item()
    assert search.max_val.item() == pytest.approx(best_factor * x.max().item())
    assert best_factor > 0.7  # uniform data: little to gain from clipping


@pytest.mark.parametrize("ch_axis", [None, 0])
def test_mse_observer_equals_mse_optimal_range_per_row(gen, ch_axis):
    batches = [data_with_outliers(gen).reshape(4, 1000) for _ in range(2)]
    observer = MSEObserver(num_candidates=40, bits=4, ch_axis=ch_axis)
    for batch in batches:
        observer(batch)
    everything = torch.cat(batches, dim=1)
    rows = everything.reshape(1, -1) if ch_axis is None else everything
    expected = [mse_optimal_range(row, 0, 15, 40) for row in rows]
    min_val, max_val = observer.observed_range()
    assert torch.equal(min_val, torch.stack([e.min_val for e in expected]))
    assert torch.equal(max_val, torch.stack([e.max_val for e in expected]))
    min_max = MinMaxObserver(bits=4, ch_axis=ch_axis)
    min_max(everything)
    assert (max_val < min_max.max_val).all()


# --------------------------------------------------------------------------- bad input

OBSERVERS = [MinMaxObserver, MovingAverageMinMaxObserver, PercentileObserver, MSEObserver]


@pytest.mark.parametrize("observer_class", OBSERVERS)
def test_observers_reject_bad_tensors(observer_class):
    observer = observer_class()
    with pytest.raises(TypeError, match="x"):
        observer(torch.arange(5))
    with pytest.raises(TypeError, match="x"):
        observer([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        observer(torch.tensor([]))
    with pytest.raises(ValueError, match="NaN or inf"):
        observer(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="NaN or inf"):
        observer(torch.tensor([1.0, float("inf")]))
    with pytest.raises(RuntimeError, match="not observed"):
        observer.calculate_qparams()


@pytest.mark.parametrize("observer_class", OBSERVERS)
def test_observers_reject_bad_channels(observer_class):
    with pytest.raises(ValueError, match="ch_axis"):
        observer_class(ch_axis=2)(torch.randn(3, 4))
    with pytest.raises(ValueError, match="ch_axis"):
        observer_class(ch_axis=0)(torch.tensor(1.0))
    with pytest.raises(TypeError, match="ch_axis"):
        observer_class(ch_axis=1.0)
    observer = observer_class(ch_axis=0)
    observer(torch.randn(3, 4))
    with pytest.raises(ValueError, match="channels"):
        observer(torch.randn(2, 4))


@pytest.mark.parametrize("observer_class", OBSERVERS)
@pytest.mark.parametrize("kwargs, error, name", [
    (dict(bits=1), ValueError, "bits"),
    (dict(bits=17), ValueError, "bits"),
    (dict(bits=8.0), TypeError, "bits"),
    (dict(bits=4, quant_min=0, quant_max=15), ValueError, "bits"),
    (dict(quant_min=0), ValueError, "quant_max"),
    (dict(quant_min=3, quant_max=3), ValueError, "quant_min"),
    (dict(quant_min=5, quant_max=3), ValueError, "quant_min"),
    (dict(quant_min=1, quant_max=15), ValueError, "include 0"),
    (dict(scheme=Scheme.SYMMETRIC, reduce_range=True), ValueError, "reduce_range"),
    (dict(scheme=True), TypeError, "scheme"),
    (dict(signed="yes"), TypeError, "signed"),
    (dict(eps=0.0), ValueError, "eps"),
])
def test_observers_reject_bad_arguments(observer_class, kwargs, error, name):
    with pytest.raises(error, match=name):
        observer_class(**kwargs)


@pytest.mark.parametrize("observer_class, own", [
    (MinMaxObserver, None), (MovingAverageMinMaxObserver, "averaging_constant"),
    (PercentileObserver, "percentile"), (MSEObserver, "num_candidates")])
def test_observers_share_keyword_only_options_and_add_their_own(observer_class, own):
    """One base takes the shared options, keyword-only; each observer adds one parameter."""
    assert issubclass(observer_class, ObserverBase)
    parameters = inspect.signature(observer_class.__init__).parameters
    assert [p for p in parameters if p not in ("self", "options")] == ([own] if own else [])
    base = inspect.signature(ObserverBase.__init__).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in base.items() if n != "self")
    with pytest.raises(TypeError):
        observer_class(0.5, 4) if own else observer_class(4)   # bits given by position
    observer = observer_class(bits=4, scheme=Scheme.SYMMETRIC, signed=True, ch_axis=0)
    assert (observer.quant_min, observer.quant_max, observer.scheme, observer.ch_axis) == \
        (-8, 7, Scheme.SYMMETRIC, 0)
    assert observer.zero_point_rule is ZeroPointRule.ZERO


def test_observer_base_is_abstract_with_three_hooks():
    """ObserverBase records nothing: instantiating it is a TypeError naming the missing hooks."""
    assert ObserverBase.__abstractmethods__ == {"_record", "_recorded_channels", "_range"}
    with pytest.raises(TypeError, match="abstract"):
        ObserverBase()


def test_explicit_range_is_customized_and_bits_range_is_inferred():
    """PyTorch's has_customized_qrange: 127 on an explicit 0..255, 128 on quint8's default."""
    explicit = MinMaxObserver(quant_min=0, quant_max=255, scheme=Scheme.SYMMETRIC)
    default = MinMaxObserver(bits=8, scheme=Scheme.SYMMETRIC)
    assert explicit.zero_point_rule is ZeroPointRule.LOWER_MIDPOINT
    assert default.zero_point_rule is ZeroPointRule.UPPER_MIDPOINT
    x = torch.tensor([-1.0, 2.0])
    explicit(x), default(x)
    assert explicit.calculate_qparams()[1].item() == 127
    assert default.calculate_qparams()[1].item() == 128


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(averaging_constant=0.0), ValueError, "averaging_constant"),
    (dict(averaging_constant=1.5), ValueError, "averaging_constant"),
    (dict(averaging_constant="0.1"), TypeError, "averaging_constant"),
])
def test_moving_average_rejects_bad_constant(kwargs, error, name):
    with pytest.raises(error, match=name):
        MovingAverageMinMaxObserver(**kwargs)


@pytest.mark.parametrize("percentile", [50, 40.0, 100.5])
def test_percentile_rejects_bad_percentile(percentile):
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(percentile=percentile)
    with pytest.raises(ValueError, match="percentile"):
        percentile_range(torch.randn(10), percentile)


def test_mse_search_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_candidates"):
        mse_optimal_range(torch.randn(10), 0, 15, num_candidates=0)
    with pytest.raises(ValueError, match="num_candidates"):
        MSEObserver(num_candidates=0)
    with pytest.raises(TypeError, match="x"):
        mse_optimal_range(torch.arange(10), 0, 15)
    with pytest.raises(ValueError, match="quant_min"):
        mse_optimal_range(torch.randn(10), 15, 0)


# --------------------------------------------------------------------------- issue 17 regressions


@pytest.mark.parametrize("observe", [
    lambda x: MinMaxObserver()(x),
    lambda x: MovingAverageMinMaxObserver()(x),
    lambda x: percentile_range(x, 99.0),
])
def test_float64_values_beyond_float32_are_refused(observe):
    """Finding 8: they became inf ("has not observed any data yet", a dropped batch, nan)."""
    with pytest.raises(ValueError, match="x must lie within float32's range"):
        observe(torch.tensor([1.0, 1e300], dtype=torch.float64))


def test_numpy_integer_range_of_an_observer():
    """Unclear error 2: "signed must be a bool or None, got bool" (a np.bool_) at
    calculate_qparams, for an argument the caller never passed."""
    x = torch.linspace(-3, 5, 17)
    mine = MinMaxObserver(quant_min=np.int16(-1000), quant_max=np.int16(1000))
    expected = MinMaxObserver(quant_min=-1000, quant_max=1000)
    mine(x)
    expected(x)
    assert type(mine.quant_min) is int and mine.signed is True
    assert all(torch.equal(a, b) for a, b in zip(mine.calculate_qparams(),
                                                 expected.calculate_qparams()))


def test_observer_eps_below_min_scale_is_refused():
    """Finding 1 through an observer: eps=1e-40 on zeros gave a scale without reciprocal."""
    with pytest.raises(ValueError, match="eps must be a positive finite float"):
        MinMaxObserver(eps=1e-40)
