"""Lab 04's manifest (see :mod:`autograder.labs`): FX quantization-aware training.

Each mutant is the solution cell with one plausible mistake edited in (:func:`edited`: the
solution's source with ``old`` replaced by ``new``; an ``old`` snippet that is no longer in the
solution raises, so the mutants cannot silently drift away from the answers they mutate).

The conversion mistake only shows in the deployed models, so that mutant re-runs the cells that
build them (``rerun``); since a ``convert_fx`` without ``deepcopy`` destroys the 8-bit QAT model,
the 8-bit run is re-run too (also when the right answer is restored).
"""

from functools import partial

from ..mutants import edited, equal_to_everything
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

_mutant = partial(edited, "04_fx_qat")


MUTANTS = [
    # 1a. fake_quant (forward)
    _mutant("fake_quant/no-clamp",
            old="x_hat = (torch.clamp(q, quant_min, quant_max) - zero_point) * scale",
            new="x_hat = (q - zero_point) * scale", caught_by="test_fake_quant_forward",
            why="forgets to clamp to [quant_min, quant_max] (no clipping)"),
    _mutant("fake_quant/zero-point-kept",
            old="x_hat = (torch.clamp(q, quant_min, quant_max) - zero_point) * scale",
            new="x_hat = torch.clamp(q, quant_min, quant_max) * scale",
            caught_by="test_fake_quant_forward",
            why="does not subtract the zero point when dequantizing (hidden cases with z != 0)"),
    _mutant("fake_quant/ignores-axis", old="    if axis is not None:\n", new="    if False:\n",
            caught_by="test_fake_quant_forward",
            why="ignores axis: per-channel scales do not broadcast along the channel dimension"),
    _mutant("fake_quant/floor", old="q = torch.round(x.detach() * (1.0 / scale)) + zero_point",
            new="q = torch.floor(x.detach() * (1.0 / scale)) + zero_point",
            caught_by="test_fake_quant_forward", why="floors instead of rounding to nearest"),
    # 1b. fake_quant (gradient)
    _mutant("fake_quant/ste-everywhere", old="return x_hat + (x - x.detach()) * inside",
            new="return x_hat + (x - x.detach())", caught_by="test_fake_quant_grad",
            why="straight-through everywhere: clipped values still get gradient"),
    _mutant("fake_quant/no-gradient", old="return x_hat + (x - x.detach()) * inside",
            new="return x_hat.detach()", caught_by="test_fake_quant_grad",
            why="no gradient at all (rounding's true derivative)"),
    # 1c. prepare_qat / inventories
    _mutant("prepare/no-deepcopy", old="model = copy.deepcopy(model).train()",
            new="model = model.train()", caught_by="test_prepare",
            why="no deepcopy: prepare_qat_fx shares (and training changes) the fp32 model's "
                "weights"),
    _mutant("prepare/activation-fake-quants-only", old="if isinstance(m, FakeQuantizeBase)}",
            new="if isinstance(m, FakeQuantizeBase) and 'weight' not in name}",
            caught_by="test_prepare",
            why="lists only the activation fake-quantizers, not the weights'"),
    _mutant("prepare/looks-for-conv-relu",
            old="if isinstance(m, (nniqat.ConvBn2d, nniqat.ConvBnReLU2d))}",
            new="if isinstance(m, nniqat.ConvReLU2d)}", caught_by="test_prepare",
            why="looks for the fused Conv-ReLU QAT class (no BatchNorm) instead of Conv-BN(-ReLU)"),
    # 2. qat_finetune
    _mutant("finetune/observers-never-disabled",
            old="        if epoch >= freeze_observer_epoch:\n            "
                "prepared.apply(disable_observer)\n",
            new="", caught_by="test_finetune",
            why="never disables the observers (qparams keep moving)"),
    _mutant("finetune/bn-never-frozen",
            old="        if epoch >= freeze_bn_epoch:\n            "
                "prepared.apply(nniqat.freeze_bn_stats)\n",
            new="", caught_by="test_finetune", why="never freezes the BatchNorm statistics"),
    _mutant("finetune/eval-mode", old="        prepared.train()", new="        prepared.eval()",
            caught_by="test_finetune",
            why="trains in eval mode (BN statistics never update, batch statistics never used)"),
    _mutant("finetune/bn-frozen-late", old="if epoch >= freeze_bn_epoch:",
            new="if epoch > freeze_bn_epoch:", caught_by="test_finetune",
            why="freezes BN one epoch late (off by one)"),
    _mutant("finetune/no-optimizer-step", old="            optimizer.step()\n", new="",
            caught_by="test_finetune", why="never steps the optimizer (the weights never change)"),
    # test 4 (test_margin): its accuracy bounds alone are met by the lr=0 control run (BN
    # statistics and ranges re-estimated, weights unchanged); its test-loss bound is not
    _mutant("finetune/zero-grad-before-step",
            old="            loss.backward()\n            optimizer.step()\n",
            new="            loss.backward()\n            optimizer.zero_grad()\n"
                "            optimizer.step()\n",
            caught_by="test_margin",
            why="clears the gradients between backward and step: the weights never move and the "
                "run ends where the lr=0 control does, which clears test 4's accuracy bounds",
            rerun=("run_low_bit",)),
    # 4. low_bit_qconfig_mapping
    _mutant("low_bit/range-too-wide", old="quant_max=2 ** (weight_bits - 1) - 1",
            new="quant_max=2 ** (weight_bits - 1)", caught_by="test_low_bit",
            why="signed weight range one level too wide (quant_max = 2^(b-1))"),
    _mutant("low_bit/unsigned-range",
            old="quant_min=-(2 ** (weight_bits - 1)),\n        quant_max=2 ** (weight_bits - 1) - "
                "1",
            new="quant_min=0,\n        quant_max=2 ** weight_bits - 1", caught_by="test_low_bit",
            why="unsigned weight range with a signed qint8 dtype"),
    _mutant("low_bit/activation-bits-from-weights", old="quant_max=2 ** activation_bits - 1",
            new="quant_max=2 ** weight_bits - 1", caught_by="test_low_bit",
            why="uses the weight bit width for the activations"),
    _mutant("low_bit/affine-weights", old="dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)",
            new="dtype=torch.qint8, qscheme=torch.per_tensor_affine)", caught_by="test_low_bit",
            why="affine (zero point free) weights instead of symmetric"),
    # 5. convert_for_engine
    _mutant("convert/no-deepcopy", old="return convert_fx(copy.deepcopy(prepared).eval())",
            new="return convert_fx(prepared.eval())", caught_by="test_convert",
            why="converts without deepcopy: convert_fx rewrites the prepared QAT model",
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
# fake_quant is graded by two test cells: the mutants tried on its gradient test say so in their id
MUTANTS += [equal_to_everything("04_fx_qat", answer, function=function, caught_by=caught_by,
                                kind=kind,
                                id=f"{answer}/gradient-equal-to-everything-{kind}"
                                if caught_by == "test_fake_quant_grad" else None)
            for answer, function, caught_by, kinds in EQUAL_TO_EVERYTHING for kind in kinds]

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    WrongVersion("finetune/observers-never-disabled", {"test_finetune"}),
    WrongVersion("finetune/eval-mode", {"test_finetune"}),
    WrongVersion("convert/no-deepcopy", {"test_convert"}),
    # test 4 runs on a reference low-bit mapping: a wrong one costs test_low_bit alone
    WrongVersion("low_bit/low_bit_qconfig_mapping-equal-to-everything-object", {"test_low_bit"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "16": "the 2^4 levels of a 4-bit activation grid",
}
