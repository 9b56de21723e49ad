"""utils.quant_error: the formulas on hand-computed values, PyTorch's compute_sqnr, and the textbook
predictions (rounding noise Delta^2/12, about 6.02 dB per bit) on uniform data with fixed seeds."""

import math

import pytest
import torch
from torch.ao.ns.fx.utils import compute_sqnr

from utils.quant_error import max_abs_error, mse, rounding_noise_variance, sqnr_db, uniform_sqnr_db
from utils.quantization import Scheme, choose_qparams, dequantize, quant_range, quantize


def quantize_dequantize(x, bits, symmetric=False):
    quant_min, quant_max = quant_range(bits, signed=symmetric)
    scale, zero_point = choose_qparams(x.min(), x.max(), quant_min, quant_max,
                                       scheme=Scheme.SYMMETRIC if symmetric else Scheme.AFFINE)
    x_hat = dequantize(quantize(x, scale, zero_point, quant_min, quant_max), scale, zero_point)
    return x_hat, scale.item()


def test_mse_and_max_abs_error_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = torch.tensor([1.0, 2.5, 2.0, 4.0])
    assert mse(x, y) == pytest.approx((0.25 + 1.0) / 4)
    assert max_abs_error(x, y) == 1.0
    assert mse(x, x) == 0.0 and max_abs_error(x, x) == 0.0
    assert isinstance(mse(x, y), float) and isinstance(max_abs_error(x, y), float)


def test_mse_equals_torch_mse_loss(gen):
    x, y = torch.randn(2, 3, 50, generator=gen, dtype=torch.float64)
    assert mse(x, y) == pytest.approx(torch.nn.functional.mse_loss(y, x).item(), rel=1e-12)


def test_sqnr_db_by_hand():
    x = torch.tensor([3.0, 4.0])  # signal power 25
    noisy = torch.tensor([3.0, 4.5])  # noise power 0.25
    assert sqnr_db(x, noisy) == pytest.approx(10 * math.log10(25 / 0.25))  # 20 dB
    assert sqnr_db(x, x) == math.inf
    assert sqnr_db(torch.zeros(2), torch.ones(2)) == -math.inf
    assert sqnr_db(torch.zeros(2), torch.zeros(2)) == math.inf


def test_sqnr_db_equals_torch_compute_sqnr(gen):
    x = torch.randn(1000, generator=gen)
    x_hat, _ = quantize_dequantize(x, bits=6)
    # compute_sqnr works in float32 (and only accepts float32); ours accumulates in float64
    assert sqnr_db(x, x_hat) == pytest.approx(compute_sqnr(x, x_hat).item(), rel=1e-5)


@pytest.mark.parametrize("bits", [4, 6, 8, 10, 12])
def test_rounding_noise_variance_is_delta_squared_over_12(bits):
    x = torch.rand(200_000, generator=torch.Generator().manual_seed(bits)) * 2 - 1
    x_hat, scale = quantize_dequantize(x, bits)
    assert rounding_noise_variance(scale) == pytest.approx(scale**2 / 12)
    assert mse(x, x_hat) == pytest.approx(rounding_noise_variance(scale), rel=0.03)
    assert max_abs_error(x, x_hat) <= scale / 2 + 1e-6  # float32 rounding of x_hat - x


@pytest.mark.parametrize("symmetric", [False, True])
def test_sqnr_grows_about_6_db_per_bit_on_uniform_data(symmetric):
    x = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    measured = {bits: sqnr_db(x, quantize_dequantize(x, bits, symmetric)[0])
                for bits in range(2, 13)}
    for bits, value in measured.items():
        assert value == pytest.approx(uniform_sqnr_db(bits), abs=0.3), bits
    for bits in range(2, 12):  # 20 log10(2^b - 1): 7.4 dB from 2 to 3 bits, then -> 6.02 dB
        predicted = uniform_sqnr_db(bits + 1) - uniform_sqnr_db(bits)
        assert measured[bits + 1] - measured[bits] == pytest.approx(predicted, abs=0.1), bits
    slope = (measured[12] - measured[8]) / 4
    assert slope == pytest.approx(20 * math.log10(2), abs=0.05)  # 6.02 dB per bit


def test_uniform_sqnr_db_formula():
    assert uniform_sqnr_db(8) == pytest.approx(20 * math.log10(255))
    assert uniform_sqnr_db(16) - uniform_sqnr_db(15) == pytest.approx(6.02, abs=0.01)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("metric", [mse, max_abs_error, sqnr_db])
def test_metrics_reject_bad_tensors(metric):
    x = torch.ones(3)
    with pytest.raises(ValueError, match="same shape"):
        metric(x, torch.ones(4))
    with pytest.raises(TypeError, match="must be a floating-point tensor"):
        metric(torch.ones(3, dtype=torch.int64), x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        metric(x, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        metric(torch.ones(0), torch.ones(0))


def test_prediction_helpers_reject_bad_arguments():
    with pytest.raises(ValueError, match="bits"):
        uniform_sqnr_db(1)
    with pytest.raises(TypeError, match="bits"):
        uniform_sqnr_db(8.0)
    with pytest.raises(ValueError, match="scale"):
        rounding_noise_variance(0.0)
    with pytest.raises(ValueError, match="scale"):
        rounding_noise_variance(torch.tensor([0.1, 0.2]))
