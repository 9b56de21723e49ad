"""Lab 02's manifest (see :mod:`autograder.labs`): affine quantization from scratch.

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

from ..mutants import edited, equal_to_everything_mutants
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

_mutant = partial(edited, "02_quantization")


MUTANTS = [
    # 1. discretize
    _mutant("discretize/floor", old="k = torch.round(", new="k = torch.floor(",
            caught_by="test_discretize", why="floor instead of round"),
    _mutant("discretize/one-level-too-many", old="step = (hi - lo) / (2 ** bits - 1)",
            new="step = (hi - lo) / 2 ** bits", caught_by="test_discretize",
            why="2^b gaps instead of 2^b - 1 (one level too many)"),
    _mutant("discretize/no-clipping", old="(x.clamp(lo, hi) - lo)", new="(x - lo)",
            caught_by="test_discretize", why="no clipping to [lo, hi]"),
    # 2. quant_range / calculate_qparams
    _mutant("qparams/signed-127", old="return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1",
            new="return -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1",
            caught_by="test_qparams_seed", why="signed range -127..127 instead of -128..127"),
    _mutant("qparams/zero-not-in-range",
            old="min_neg = torch.minimum(min_val, torch.zeros_like(min_val))",
            new="min_neg = min_val", caught_by="test_qparams_seed",
            why="range not widened to include 0"),
    _mutant("qparams/zero-point-truncated",
            old="zero_point = quant_min - torch.round(min_neg / scale).to(torch.int64)",
            new="zero_point = quant_min - (min_neg / scale).to(torch.int64)",
            caught_by="test_qparams_seed", why="zero point truncated instead of rounded"),
    _mutant("qparams/symmetric-scale-whole-range", old="max_abs / ((quant_max - quant_min) / 2)",
            new="max_abs / (quant_max - quant_min)", caught_by="test_qparams_seed",
            why="symmetric scale over the whole range instead of half of it"),
    _mutant("qparams/unsigned-zero-point-128",
            old="zp = 0 if quant_min < 0 else (quant_min + quant_max) // 2",
            new="zp = 0 if quant_min < 0 else 128", caught_by="test_qparams_observer",
            why="symmetric unsigned zero point always 128"),
    _mutant("qparams/no-eps",
            old="scale = torch.clamp((max_pos - min_neg) / float(quant_max - quant_min), min=eps)",
            new="scale = (max_pos - min_neg) / float(quant_max - quant_min)",
            caught_by="test_qparams_observer", why="no eps: an all-zero tensor gets scale 0"),
    # 3. quantize / dequantize
    _mutant("quantize/floor", old="q = torch.round(x * inv_scale)",
            new="q = torch.floor(x * inv_scale)", caught_by="test_quantize",
            why="floor instead of round"),
    _mutant("quantize/zero-point-before-rounding",
            old="q = torch.round(x * inv_scale) + torch.as_tensor(zero_point)",
            new="q = torch.round(x * inv_scale + torch.as_tensor(zero_point))",
            caught_by="test_quantize",
            why="zero point added before rounding (ties go to the wrong integer)"),
    _mutant("quantize/half-away-from-zero", old="q = torch.round(x * inv_scale)",
            new="q = torch.sign(x * inv_scale) * torch.floor((x * inv_scale).abs() + 0.5)",
            caught_by="test_quantize", why="round half away from zero instead of half to even"),
    _mutant("quantize/no-clamp", old="return q.clamp(quant_min, quant_max).to(torch.int64)",
            new="return q.to(torch.int64)", caught_by="test_quantize",
            why="no clamp to [quant_min, quant_max]"),
    _mutant("quantize/dequantize-forgets-zero-point",
            old="(q.to(torch.int64) - torch.as_tensor(zero_point))", new="q.to(torch.int64)",
            caught_by="test_quantize", why="dequantize forgets the zero point"),
    # 4. per-channel
    _mutant("per_channel/min-max-along-axis",
            old="dims = [d for d in range(w.dim()) if d != axis]", new="dims = [axis]",
            caught_by="test_per_channel",
            why="min/max taken along the channel axis instead of within each channel"),
    _mutant("per_channel/broadcast-axis-0",
            old="return quantize(w, _along(scales, axis, w.dim()), _along(zero_points, axis, "
                "w.dim()),",
            new="return quantize(w, _along(scales, 0, w.dim()), _along(zero_points, 0, w.dim()),",
            caught_by="test_per_channel", why="scales broadcast along axis 0 whatever the axis"),
    # 5. calibration
    _mutant("calibration/percentile-as-fraction", old="torch.quantile(flat, percentile / 100)",
            new="torch.quantile(flat, percentile)", caught_by="test_calibration",
            why="percentile used as a fraction (99 instead of 0.99)"),
    _mutant("calibration/mse-keeps-worst", old="if best is None or error < best[0]:",
            new="if best is None or error > best[0]:", caught_by="test_calibration",
            why="MSE search keeps the worst candidate"),
    _mutant("calibration/mse-ignores-clipping",
            old="x_hat = dequantize(quantize(x, scale, zero_point, quant_min, quant_max), scale, "
                "zero_point)",
            new="x_hat = dequantize(quantize(x, scale, zero_point, -2 ** 40, 2 ** 40), scale, "
                "zero_point)",
            caught_by="test_calibration",
            why="MSE ignores the clipping error (no clamp when measuring)"),
    # 6. SQNR
    _mutant("sqnr/20-log10", old="return (10 * torch.log10(signal / noise)).item()",
            new="return (20 * torch.log10(signal / noise)).item()", caught_by="test_sqnr",
            why="20 log10 of a power ratio"),
    _mutant("sqnr/noise-over-signal", old="return (10 * torch.log10(signal / noise)).item()",
            new="return (10 * torch.log10(noise / signal)).item()", caught_by="test_sqnr",
            why="noise over signal"),
    # 8. fixed-point multiplier, rounding shift, integer Linear
    _mutant("multiplier/m0-truncated", old="m0, n = round(mantissa * 2 ** 31), -exponent",
            new="m0, n = int(mantissa * 2 ** 31), -exponent", caught_by="test_multiplier",
            why="M0 truncated instead of rounded"),
    _mutant("multiplier/shift-sign", old="m0, n = round(mantissa * 2 ** 31), -exponent",
            new="m0, n = round(mantissa * 2 ** 31), exponent", caught_by="test_multiplier",
            why="shift with the wrong sign"),
    _mutant("multiplier/floor-shift",
            old="return torch.where(x >= 0, (x + half) >> shift, -((-x + half) >> shift))",
            new="return x >> shift", caught_by="test_multiplier",
            why="plain right shift (floor) instead of rounding"),
    _mutant("multiplier/ties-up",
            old="return torch.where(x >= 0, (x + half) >> shift, -((-x + half) >> shift))",
            new="return (x + half) >> shift", caught_by="test_multiplier",
            why="ties rounded up instead of away from zero"),
    _mutant("integer_linear/int8-bias", old="return q.to(torch.int32)",
            new="return q.clamp(-128, 127).to(torch.int32)", caught_by="test_integer_linear",
            why="bias quantized to int8 (saturates)"),
    _mutant("integer_linear/input-zero-point-kept", old="acc = (x_q.to(torch.int64) - int(z_x)) @",
            new="acc = x_q.to(torch.int64) @", caught_by="test_integer_linear",
            why="input zero point not subtracted"),
    _mutant("integer_linear/no-saturation", old="return y.clamp(quant_min, quant_max)",
            new="return y", caught_by="test_integer_linear", why="no saturation of the output"),
    _mutant("integer_linear/floor-requantization",
            old="y = rounding_right_shift(acc * int(m0), 31 + int(n)) + int(z_y)",
            new="y = ((acc * int(m0)) >> (31 + int(n))) + int(z_y)",
            caught_by="test_integer_linear",
            why="requantization truncates (floor shift) instead of rounding"),
    _mutant("integer_linear/no-bias", old="acc = acc + bias_q.to(torch.int64)", new="acc = acc",
            caught_by="test_integer_linear", why="bias forgotten"),
    # 8b. the zero-point cross term folded into the int32 bias
    _mutant("fold_zero_point/wrong-sign", old="bias_q.to(torch.int64) - int(z_x) *",
            new="bias_q.to(torch.int64) + int(z_x) *", caught_by="test_fold_zero_point",
            why="cross term folded with the wrong sign"),
    _mutant("fold_zero_point/sums-columns", old="w_q.to(torch.int64).sum(dim=1)",
            new="w_q.to(torch.int64).sum(dim=0)", caught_by="test_fold_zero_point",
            why="sums each input column instead of each output row"),
    _mutant("fold_zero_point/int64-bias", old="return folded.to(torch.int32)", new="return folded",
            caught_by="test_fold_zero_point", why="returns the int64 sum instead of an int32 bias"),
    # 9. fake quantization with STE
    _mutant("fake_quant/ste-passes-clipped",
            old="return grad_output * inside, None, None, None, None",
            new="return grad_output, None, None, None, None", caught_by="test_fake_quant",
            why="STE passes the gradient of clipped values too"),
    _mutant("fake_quant/mask-from-unrounded",
            old="ctx.save_for_backward((q >= quant_min) & (q <= quant_max))",
            new="ctx.save_for_backward((x * (1.0 / scale) + torch.as_tensor(zero_point) >= "
                "quant_min)"
                " & (x * (1.0 / scale) + torch.as_tensor(zero_point) <= quant_max))",
            caught_by="test_fake_quant", why="gradient mask from the unrounded value"),
    _mutant("fake_quant/no-ste",
            old="return FakeQuantizeSTE.apply(x, scale, zero_point, quant_min, quant_max)",
            new="scale = torch.as_tensor(scale, dtype=torch.float32)\n"
                "    q = torch.round(x * (1.0 / scale)) + zero_point\n"
                "    return (q.clamp(quant_min, quant_max) - zero_point) * scale",
            caught_by="test_fake_quant",
            why="no STE: autograd through round gives a zero gradient"),
    # 10. whole-model weights (the in-place mutant last: it corrupts the folded model it is given)
    _mutant("model_weights/per-tensor",
            old="per_channel_qparams(w, 0, quant_min, quant_max, symmetric=True)",
            new="per_channel_qparams(w.reshape(1, -1), 0, quant_min, quant_max, symmetric=True)",
            caught_by="test_sweep", why="one scale for the whole tensor instead of per channel"),
    _mutant("model_weights/linear-left-float", old="isinstance(module, (nn.Conv2d, nn.Linear))",
            new="isinstance(module, nn.Conv2d)", caught_by="test_sweep",
            why="Linear layers left in float"),
    _mutant("model_weights/in-place", old="    model = copy.deepcopy(model)\n", new="",
            caught_by="test_sweep", why="modifies the model in place instead of a copy"),
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

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    WrongVersion("discretize/floor", {"test_discretize"}),
    # later test cells run the answers they build on as PyTorch's (answers_graded_earlier): a
    # wrong calculate_qparams no longer costs test_quantize and test_per_channel too
    WrongVersion("qparams/zero-not-in-range", {"test_qparams_seed", "test_qparams_observer"}),
    # ... nor a wrong per_channel_qparams the bit-width sweep (test_sweep)
    WrongVersion("per_channel/min-max-along-axis", {"test_per_channel"}),
    WrongVersion("integer_linear/int8-bias", {"test_integer_linear"}),
    WrongVersion("calibration/percentile_range-equal-to-everything-tuple", {"test_calibration"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "1": "AdaRound's h = 1 means 'round up' (a value of the method, section 11)",
}
