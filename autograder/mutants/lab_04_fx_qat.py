"""Wrong versions of lab 04's graded answers (FX quantization-aware training).

Each mutant is the solution cell with one plausible mistake edited in (:func:`edited`: the
solution's source with ``old`` replaced by ``new``; an ``old`` snippet that is no longer in the
solution raises, so the mutants cannot silently drift away from the answers they mutate).

The conversion mistake only shows in the deployed models, so that mutant re-runs the cells that
build them (``rerun``); since a ``convert_fx`` without ``deepcopy`` destroys the 8-bit QAT model,
the 8-bit run is re-run too (also when the right answer is restored).
"""

from functools import partial

from . import edited, equal_to_everything

_mutant = partial(edited, "04_fx_qat")


MUTANTS = [
    # 1a. fake_quant (forward)
    _mutant("fake_quant", "x_hat = (torch.clamp(q, quant_min, quant_max) - zero_point) * scale",
            "x_hat = (q - zero_point) * scale", "test_fake_quant_forward",
            "forgets to clamp to [quant_min, quant_max] (no clipping)"),
    _mutant("fake_quant", "x_hat = (torch.clamp(q, quant_min, quant_max) - zero_point) * scale",
            "x_hat = torch.clamp(q, quant_min, quant_max) * scale", "test_fake_quant_forward",
            "does not subtract the zero point when dequantizing (hidden cases with z != 0)"),
    _mutant("fake_quant", "    if axis is not None:\n", "    if False:\n", "test_fake_quant_forward",
            "ignores axis: per-channel scales do not broadcast along the channel dimension"),
    _mutant("fake_quant", "q = torch.round(x.detach() * (1.0 / scale)) + zero_point",
            "q = torch.floor(x.detach() * (1.0 / scale)) + zero_point", "test_fake_quant_forward",
            "floors instead of rounding to nearest"),
    # 1b. fake_quant (gradient)
    _mutant("fake_quant", "return x_hat + (x - x.detach()) * inside", "return x_hat + (x - x.detach())",
            "test_fake_quant_grad", "straight-through everywhere: clipped values still get gradient"),
    _mutant("fake_quant", "return x_hat + (x - x.detach()) * inside", "return x_hat.detach()",
            "test_fake_quant_grad", "no gradient at all (rounding's true derivative)"),
    # 1c. prepare_qat / inventories
    _mutant("prepare", "model = copy.deepcopy(model).train()", "model = model.train()", "test_prepare",
            "no deepcopy: prepare_qat_fx shares (and training changes) the fp32 model's weights"),
    _mutant("prepare", "if isinstance(m, FakeQuantizeBase)}",
            "if isinstance(m, FakeQuantizeBase) and 'weight' not in name}", "test_prepare",
            "lists only the activation fake-quantizers, not the weights'"),
    _mutant("prepare", "if isinstance(m, (nniqat.ConvBn2d, nniqat.ConvBnReLU2d))}",
            "if isinstance(m, nniqat.ConvReLU2d)}", "test_prepare",
            "looks for the fused Conv-ReLU QAT class (no BatchNorm) instead of Conv-BN(-ReLU)"),
    # 2. qat_finetune
    _mutant("finetune", "        if epoch >= freeze_observer_epoch:\n            prepared.apply(disable_observer)\n", "",
            "test_finetune", "never disables the observers (qparams keep moving)"),
    _mutant("finetune", "        if epoch >= freeze_bn_epoch:\n            prepared.apply(nniqat.freeze_bn_stats)\n", "",
            "test_finetune", "never freezes the BatchNorm statistics"),
    _mutant("finetune", "        prepared.train()", "        prepared.eval()", "test_finetune",
            "trains in eval mode (BN statistics never update, batch statistics never used)"),
    _mutant("finetune", "if epoch >= freeze_bn_epoch:", "if epoch > freeze_bn_epoch:", "test_finetune",
            "freezes BN one epoch late (off by one)"),
    _mutant("finetune", "            optimizer.step()\n", "", "test_finetune",
            "never steps the optimizer (the weights never change)"),
    # 4. low_bit_qconfig_mapping
    _mutant("low_bit", "quant_max=2 ** (weight_bits - 1) - 1", "quant_max=2 ** (weight_bits - 1)", "test_low_bit",
            "signed weight range one level too wide (quant_max = 2^(b-1))"),
    _mutant("low_bit", "quant_min=-(2 ** (weight_bits - 1)),\n        quant_max=2 ** (weight_bits - 1) - 1",
            "quant_min=0,\n        quant_max=2 ** weight_bits - 1", "test_low_bit",
            "unsigned weight range with a signed qint8 dtype"),
    _mutant("low_bit", "quant_max=2 ** activation_bits - 1", "quant_max=2 ** weight_bits - 1", "test_low_bit",
            "uses the weight bit width for the activations"),
    _mutant("low_bit", "dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)",
            "dtype=torch.qint8, qscheme=torch.per_tensor_affine)", "test_low_bit",
            "affine (zero point free) weights instead of symmetric"),
    # 5. convert_for_engine
    _mutant("convert", "return convert_fx(copy.deepcopy(prepared).eval())", "return convert_fx(prepared.eval())",
            "test_convert", "converts without deepcopy: convert_fx rewrites the prepared QAT model",
            rerun=("run_8bit", "run_convert")),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("fake_quant", "fake_quant", "test_fake_quant_forward", ("object", "tensor")),
    ("fake_quant", "fake_quant", "test_fake_quant_grad", ("object", "tensor")),
    ("prepare", "prepare_qat", "test_prepare", ("object",)),
    ("prepare", "fake_quant_modules", "test_prepare", ("object", "dict")),
    ("prepare", "fused_qat_modules", "test_prepare", ("object", "dict")),
    ("finetune", "qat_finetune", "test_finetune", ("object", "list")),
    ("low_bit", "low_bit_qconfig_mapping", "test_low_bit", ("object",)),
    ("convert", "convert_for_engine", "test_convert", ("object",)),
]
MUTANTS += [equal_to_everything("04_fx_qat", answer, function, caught_by, kind)
            for answer, function, caught_by, kinds in EQUAL_TO_EVERYTHING for kind in kinds]
