"""Wrong versions of lab 02's graded answers (affine quantization from scratch).

Each mutant is the solution cell with one plausible mistake edited in: the solution's source is
read from ``solutions/02_quantization/02_quantization.ipynb`` and ``old`` is replaced by ``new``
(an ``old`` snippet that is no longer in the solution raises at import, so the mutants cannot
silently drift away from the answers they mutate).

Not a mutant here: "zero point not clamped". With the range widened to include 0,
``quant_min - round(min/scale)`` always lies in ``[quant_min, quant_max]``, so the clamp in
``calculate_qparams`` never changes a result (PyTorch keeps it as a guard); such an equivalent
mutant cannot be caught by any test.
"""

from functools import partial

from . import edited, equal_to_everything_mutants

_mutant = partial(edited, "02_quantization")


MUTANTS = [
    # 1. discretize
    _mutant("discretize", "k = torch.round(", "k = torch.floor(", "test_discretize",
            "floor instead of round"),
    _mutant("discretize", "step = (hi - lo) / (2 ** bits - 1)", "step = (hi - lo) / 2 ** bits",
            "test_discretize", "2^b gaps instead of 2^b - 1 (one level too many)"),
    _mutant("discretize", "(x.clamp(lo, hi) - lo)", "(x - lo)", "test_discretize",
            "no clipping to [lo, hi]"),
    # 2. quant_range / calculate_qparams
    _mutant("qparams", "return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1",
            "return -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1", "test_qparams_seed",
            "signed range -127..127 instead of -128..127"),
    _mutant("qparams", "min_neg = torch.minimum(min_val, torch.zeros_like(min_val))",
            "min_neg = min_val", "test_qparams_seed", "range not widened to include 0"),
    _mutant("qparams", "zero_point = quant_min - torch.round(min_neg / scale).to(torch.int64)",
            "zero_point = quant_min - (min_neg / scale).to(torch.int64)", "test_qparams_seed",
            "zero point truncated instead of rounded"),
    _mutant("qparams", "max_abs / ((quant_max - quant_min) / 2)", "max_abs / (quant_max - quant_min)",
            "test_qparams_seed", "symmetric scale over the whole range instead of half of it"),
    _mutant("qparams", "zp = 0 if quant_min < 0 else (quant_min + quant_max) // 2",
            "zp = 0 if quant_min < 0 else 128", "test_qparams_observer",
            "symmetric unsigned zero point always 128"),
    _mutant("qparams", "scale = torch.clamp((max_pos - min_neg) / float(quant_max - quant_min), min=eps)",
            "scale = (max_pos - min_neg) / float(quant_max - quant_min)", "test_qparams_observer",
            "no eps: an all-zero tensor gets scale 0"),
    # 3. quantize / dequantize
    _mutant("quantize", "q = torch.round(x * inv_scale)", "q = torch.floor(x * inv_scale)",
            "test_quantize", "floor instead of round"),
    _mutant("quantize", "q = torch.round(x * inv_scale) + torch.as_tensor(zero_point)",
            "q = torch.round(x * inv_scale + torch.as_tensor(zero_point))", "test_quantize",
            "zero point added before rounding (ties go to the wrong integer)"),
    _mutant("quantize", "q = torch.round(x * inv_scale)",
            "q = torch.sign(x * inv_scale) * torch.floor((x * inv_scale).abs() + 0.5)",
            "test_quantize", "round half away from zero instead of half to even"),
    _mutant("quantize", "return q.clamp(quant_min, quant_max).to(torch.int64)",
            "return q.to(torch.int64)", "test_quantize", "no clamp to [quant_min, quant_max]"),
    _mutant("quantize", "(q.to(torch.int64) - torch.as_tensor(zero_point))", "q.to(torch.int64)",
            "test_quantize", "dequantize forgets the zero point"),
    # 4. per-channel
    _mutant("per_channel", "dims = [d for d in range(w.dim()) if d != axis]", "dims = [axis]",
            "test_per_channel", "min/max taken along the channel axis instead of within each channel"),
    _mutant("per_channel", "return quantize(w, _along(scales, axis, w.dim()), _along(zero_points, axis, w.dim()),",
            "return quantize(w, _along(scales, 0, w.dim()), _along(zero_points, 0, w.dim()),",
            "test_per_channel", "scales broadcast along axis 0 whatever the axis"),
    # 5. calibration
    _mutant("calibration", "torch.quantile(flat, percentile / 100)", "torch.quantile(flat, percentile)",
            "test_calibration", "percentile used as a fraction (99 instead of 0.99)"),
    _mutant("calibration", "if best is None or error < best[0]:", "if best is None or error > best[0]:",
            "test_calibration", "MSE search keeps the worst candidate"),
    _mutant("calibration",
            "x_hat = dequantize(quantize(x, scale, zero_point, quant_min, quant_max), scale, zero_point)",
            "x_hat = dequantize(quantize(x, scale, zero_point, -2 ** 40, 2 ** 40), scale, zero_point)",
            "test_calibration", "MSE ignores the clipping error (no clamp when measuring)"),
    # 6. SQNR
    _mutant("sqnr", "return (10 * torch.log10(signal / noise)).item()",
            "return (20 * torch.log10(signal / noise)).item()", "test_sqnr",
            "20 log10 of a power ratio"),
    _mutant("sqnr", "return (10 * torch.log10(signal / noise)).item()",
            "return (10 * torch.log10(noise / signal)).item()", "test_sqnr",
            "noise over signal"),
    # 8. fixed-point multiplier, rounding shift, integer Linear
    _mutant("multiplier", "m0, n = round(mantissa * 2 ** 31), -exponent",
            "m0, n = int(mantissa * 2 ** 31), -exponent", "test_multiplier",
            "M0 truncated instead of rounded"),
    _mutant("multiplier", "m0, n = round(mantissa * 2 ** 31), -exponent",
            "m0, n = round(mantissa * 2 ** 31), exponent", "test_multiplier",
            "shift with the wrong sign"),
    _mutant("multiplier", "return torch.where(x >= 0, (x + half) >> shift, -((-x + half) >> shift))",
            "return x >> shift", "test_multiplier", "plain right shift (floor) instead of rounding"),
    _mutant("multiplier", "return torch.where(x >= 0, (x + half) >> shift, -((-x + half) >> shift))",
            "return (x + half) >> shift", "test_multiplier",
            "ties rounded up instead of away from zero"),
    _mutant("integer_linear", "return q.to(torch.int32)", "return q.clamp(-128, 127).to(torch.int32)",
            "test_integer_linear", "bias quantized to int8 (saturates)"),
    _mutant("integer_linear", "acc = (x_q.to(torch.int64) - int(z_x)) @", "acc = x_q.to(torch.int64) @",
            "test_integer_linear", "input zero point not subtracted"),
    _mutant("integer_linear", "return y.clamp(quant_min, quant_max)", "return y",
            "test_integer_linear", "no saturation of the output"),
    _mutant("integer_linear", "y = rounding_right_shift(acc * int(m0), 31 + int(n)) + int(z_y)",
            "y = ((acc * int(m0)) >> (31 + int(n))) + int(z_y)", "test_integer_linear",
            "requantization truncates (floor shift) instead of rounding"),
    _mutant("integer_linear", "acc = acc + bias_q.to(torch.int64)", "acc = acc",
            "test_integer_linear", "bias forgotten"),
    # 8b. the zero-point cross term folded into the int32 bias
    _mutant("fold_zero_point", "bias_q.to(torch.int64) - int(z_x) *", "bias_q.to(torch.int64) + int(z_x) *",
            "test_fold_zero_point", "cross term folded with the wrong sign"),
    _mutant("fold_zero_point", "w_q.to(torch.int64).sum(dim=1)", "w_q.to(torch.int64).sum(dim=0)",
            "test_fold_zero_point", "sums each input column instead of each output row"),
    _mutant("fold_zero_point", "return folded.to(torch.int32)", "return folded", "test_fold_zero_point",
            "returns the int64 sum instead of an int32 bias"),
    # 9. fake quantization with STE
    _mutant("fake_quant", "return grad_output * inside, None, None, None, None",
            "return grad_output, None, None, None, None", "test_fake_quant",
            "STE passes the gradient of clipped values too"),
    _mutant("fake_quant", "ctx.save_for_backward((q >= quant_min) & (q <= quant_max))",
            "ctx.save_for_backward((x * (1.0 / scale) + torch.as_tensor(zero_point) >= quant_min)"
            " & (x * (1.0 / scale) + torch.as_tensor(zero_point) <= quant_max))",
            "test_fake_quant", "gradient mask from the unrounded value"),
    _mutant("fake_quant", "return FakeQuantizeSTE.apply(x, scale, zero_point, quant_min, quant_max)",
            "scale = torch.as_tensor(scale, dtype=torch.float32)\n"
            "    q = torch.round(x * (1.0 / scale)) + zero_point\n"
            "    return (q.clamp(quant_min, quant_max) - zero_point) * scale",
            "test_fake_quant", "no STE: autograd through round gives a zero gradient"),
    # 10. whole-model weights (the in-place mutant last: it corrupts the folded model it is given)
    _mutant("model_weights", "per_channel_qparams(w, 0, quant_min, quant_max, symmetric=True)",
            "per_channel_qparams(w.reshape(1, -1), 0, quant_min, quant_max, symmetric=True)",
            "test_sweep", "one scale for the whole tensor instead of per channel"),
    _mutant("model_weights", "isinstance(module, (nn.Conv2d, nn.Linear))", "isinstance(module, nn.Conv2d)",
            "test_sweep", "Linear layers left in float"),
    _mutant("model_weights", "    model = copy.deepcopy(model)\n", "", "test_sweep",
            "modifies the model in place instead of a copy"),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("discretize", "discretize", "test_discretize", "tensor"),
    ("qparams", "quant_range", "test_qparams_seed", "tuple"),
    ("qparams", "calculate_qparams", "test_qparams_seed", "tuple"),
    ("quantize", "quantize", "test_quantize", "tensor"),
    ("quantize", "dequantize", "test_quantize", "tensor"),
    ("per_channel", "per_channel_qparams", "test_per_channel", "tuple"),
    ("per_channel", "quantize_per_channel", "test_per_channel", "tensor"),
    ("per_channel", "dequantize_per_channel", "test_per_channel", "tensor"),
    ("calibration", "percentile_range", "test_calibration", "tuple"),
    ("calibration", "mse_range", "test_calibration", "tuple"),
    ("sqnr", "sqnr_db", "test_sqnr", "float"),
    ("multiplier", "quantize_multiplier", "test_multiplier", "tuple"),
    ("multiplier", "rounding_right_shift", "test_multiplier", "tensor"),
    ("integer_linear", "quantize_bias", "test_integer_linear", "tensor"),
    ("integer_linear", "integer_linear", "test_integer_linear", "tensor"),
    ("fold_zero_point", "fold_zero_point", "test_fold_zero_point", "tensor"),
    ("fake_quant", "fake_quantize", "test_fake_quant", "tensor"),
    ("model_weights", "quantize_model_weights", "test_sweep", "object"),
]
MUTANTS += equal_to_everything_mutants("02_quantization", EQUAL_TO_EVERYTHING)
