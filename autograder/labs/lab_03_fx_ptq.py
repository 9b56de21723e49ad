"""Lab 03's manifest (see :mod:`autograder.labs`): FX post-training quantization.

Each mutant is the solution cell with one plausible mistake edited in: the solution's source is
read from ``solutions/03_fx_ptq/03_fx_ptq.ipynb`` and ``old`` is replaced by ``new`` (an ``old``
snippet that is no longer in the solution raises at import, so the mutants cannot silently drift
away from the answers they mutate).

``dynamic_quantize`` is graded on the model a locked cell builds with it, so its mutants re-run
that cell (``rerun``) before the test. (The benchmark model's size and speed checks are not
graded: they only re-checked ``ptq_fx``, whose mistakes ``test_ptq_fx`` catches.)
"""

from functools import partial

from ..mutants import edited, equal_to_everything
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

_mutant = partial(edited, "03_fx_ptq")


MUTANTS = [
    # 1. pick_engine
    _mutant("pick_engine/first-supported",
            old="    for engine in preferred:\n        if engine in supported:\n            return "
                "engine\n",
            new="    if supported:\n        return supported[0]\n", caught_by="test_pick_engine",
            why="takes supported_engines' first entry (qnnpack) instead of the preferred one"),
    _mutant("pick_engine/raises", old="    return None", new="    raise RuntimeError('no engine')",
            caught_by="test_pick_engine",
            why="raises instead of returning None when no preferred engine exists"),
    # 2. untraceable_children
    _mutant("untraceable_children/blames-every-child",
            old="    for name, child in model.named_children():\n        try:\n            "
                "torch.fx.symbolic_trace(child)\n"
                "        except torch.fx.proxy.TraceError:\n            names.append(name)\n",
            new="    try:\n        torch.fx.symbolic_trace(model)\n    except "
                "torch.fx.proxy.TraceError:\n"
                "        names = [name for name, _ in model.named_children()]\n",
            caught_by="test_untraceable", why="traces the whole model and blames every child"),
    # 3a. make_qconfig
    _mutant("make_qconfig/reduce-range-everywhere", old='reduce_range=engine in ("fbgemm", "x86")',
            new="reduce_range=True", caught_by="test_make_qconfig",
            why="reduce_range on every engine (7-bit activations on qnnpack too)"),
    _mutant("make_qconfig/no-reduce-range", old='reduce_range=engine in ("fbgemm", "x86")',
            new="reduce_range=False", caught_by="test_make_qconfig",
            why="full 8-bit activations on fbgemm/x86 (int16 saturation risk)"),
    _mutant("make_qconfig/affine-weights", old="qscheme=torch.per_tensor_symmetric",
            new="qscheme=torch.per_tensor_affine", caught_by="test_make_qconfig",
            why="the seed's affine per-tensor weights instead of symmetric"),
    _mutant("make_qconfig/ignores-per-channel", old="    if per_channel:", new="    if True:",
            caught_by="test_make_qconfig", why="ignores per_channel (always per-channel weights)"),
    # 3b. ptq_fx
    _mutant("ptq_fx/no-calibration", old="            prepared(inputs)", new="            pass",
            caught_by="test_ptq_fx", why="calibrating on no data"),
    _mutant("ptq_fx/converts-uncalibrated-copy",
            old="    quantized = convert_fx(copy.deepcopy(prepared))",
            new="    quantized = convert_fx(prepare_fx(copy.deepcopy(model).eval(), "
                "qconfig_mapping, example_inputs))",
            caught_by="test_ptq_fx",
            why="converting the wrong model (a fresh, uncalibrated prepared copy)"),
    _mutant("ptq_fx/first-batch-only", old="            prepared(inputs)",
            new="            prepared(inputs)\n            break", caught_by="test_ptq_fx",
            why="calibrating on the first batch only"),
    _mutant("ptq_fx/converts-prepared-itself",
            old="    quantized = convert_fx(copy.deepcopy(prepared))",
            new="    quantized = convert_fx(prepared)", caught_by="test_ptq_fx",
            why="convert_fx on prepared itself (its observer graph is rewritten)"),
    _mutant("ptq_fx/train-mode", old="    prepared = prepare_fx(model.eval(),",
            new="    prepared = prepare_fx(model.train(),", caught_by="test_ptq_fx",
            why="prepares the model in train mode (BatchNorm not folded, QAT-style graph)"),
    _mutant("ptq_fx/never-converts", old="    quantized = convert_fx(copy.deepcopy(prepared))",
            new="    quantized = prepared", caught_by="test_ptq_fx",
            why="never converts: returns the observed float model"),
    # 4. observer_ranges / graph_qparams
    _mutant("readers/weight-scale",
            old="activations[node.name] = (float(module.scale), int(module.zero_point))",
            new="activations[node.name] = (float(module.weight().q_per_channel_scales()[0]) "
                "if module.weight().qscheme() == torch.per_channel_affine else "
                "float(module.weight().q_scale()), "
                "int(module.zero_point))",
            caught_by="test_qparams", why="reads the weight scale as the activation scale"),
    _mutant("readers/keyed-by-observer",
            old="ranges[node.args[0].name] = (module.min_val.clone(), module.max_val.clone())",
            new="ranges[node.name] = (module.min_val.clone(), module.max_val.clone())",
            caught_by="test_qparams",
            why="keys ranges by the observer node instead of the node it observes"),
    _mutant("readers/misses-input-quantize",
            old="        if node.op == \"call_function\" and node.target is "
                "torch.quantize_per_tensor:",
            new="        if False:", caught_by="test_qparams",
            why="misses the input's quantize_per_tensor node"),
    _mutant("readers/swaps-scale-zero-point",
            old="(float(getattr(quantized, scale.target)),\n                                       "
                " int(getattr(quantized, zero_point.target)))",
            new="(float(getattr(quantized, zero_point.target)),\n                                  "
                "      int(getattr(quantized, scale.target)))",
            caught_by="test_qparams", why="swaps the scale and zero-point get_attr arguments"),
    # 4b. fold_conv_bn (BatchNorm folding, graded against fuse_conv_bn_eval)
    _mutant("fold_conv_bn/forgets-eps", old="torch.sqrt(bn.running_var + bn.eps)",
            new="torch.sqrt(bn.running_var)", caught_by="test_fold", why="forgets eps"),
    _mutant("fold_conv_bn/divides-by-variance", old="torch.sqrt(bn.running_var + bn.eps)",
            new="(bn.running_var + bn.eps)", caught_by="test_fold",
            why="divides by the variance instead of the standard deviation sqrt(var + eps)"),
    _mutant("fold_conv_bn/no-bias-gets-beta", old="else torch.zeros_like(bn.running_mean)",
            new="else bn.running_mean", caught_by="test_fold",
            why="a conv without bias gets b' = beta (drops -gamma*mean/sqrt(var+eps))"),
    _mutant("fold_conv_bn/ignores-conv-bias",
            old="bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)",
            new="bias = torch.zeros_like(bn.running_mean)", caught_by="test_fold",
            why="ignores the conv's own bias"),
    _mutant("fold_conv_bn/scales-input-channels", old="a.reshape(-1, 1, 1, 1)",
            new="a.reshape(1, -1, 1, 1)", caught_by="test_fold",
            why="scales the input channels instead of the output channels"),
    # 7. dynamic_quantize
    _mutant("dynamic_quantize/float16", old="dtype=torch.qint8", new="dtype=torch.float16",
            caught_by="test_dynamic", why="float16 dynamic quantization (weights not int8)",
            rerun=("dynamic_build",)),
    _mutant("dynamic_quantize/lstm-left-float", old="{nn.LSTM, nn.Linear}", new="{nn.Linear}",
            caught_by="test_dynamic", why="quantizes only the Linear layer, the LSTM stays float",
            rerun=("dynamic_build",)),
    _mutant("dynamic_quantize/in-place", old="dtype=torch.qint8)",
            new="dtype=torch.qint8, inplace=True)", caught_by="test_dynamic",
            why="quantizes the float model in place", rerun=("dynamic_build",)),
    # 8. fuse_plan
    _mutant("fuse_plan/drops-relu", old="groups.append([full(name)] + names[:2])",
            new="groups.append([full(name), names[0]])", caught_by="test_fuse_plan",
            why="leaves the ReLU out of Conv-BN-ReLU groups"),
    _mutant("fuse_plan/misses-conv-relu",
            old="            elif following and isinstance(following[0], nn.ReLU):\n"
   "                groups.append([full(name), names[0]])\n",
            new="", caught_by="test_fuse_plan", why="misses Conv-ReLU pairs without BatchNorm"),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("pick_engine", "pick_engine", "test_pick_engine", ("object", "str")),
    ("untraceable_children", "untraceable_children", "test_untraceable", ("object", "list")),
    # QConfig is a namedtuple
    ("make_qconfig", "make_qconfig", "test_make_qconfig", ("object", "tuple")),
    ("ptq_fx", "ptq_fx", "test_ptq_fx", ("object", "tuple")),
    ("readers", "observer_ranges", "test_qparams", ("object", "dict")),
    ("readers", "graph_qparams", "test_qparams", ("object", "tuple")),
    ("fold_conv_bn", "fold_conv_bn", "test_fold", ("object", "tuple")),
    ("dynamic_quantize", "dynamic_quantize", "test_dynamic", ("object",)),
    ("fuse_plan", "fuse_plan", "test_fuse_plan", ("object", "list")),
]
MUTANTS += [equal_to_everything("03_fx_ptq", answer, function=function, caught_by=caught_by,
                                kind=kind,
                                rerun=("dynamic_build",) if answer == "dynamic_quantize" else ())
            for answer, function, caught_by, kinds in EQUAL_TO_EVERYTHING for kind in kinds]

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    # an uncalibrated model costs test_ptq_fx alone: the benchmark's size and speed checks and the
    # qconfig comparisons (which only re-use ptq_fx) are not graded, and the readers are graded
    # on models built by reference_ptq
    WrongVersion("ptq_fx/no-calibration", {"test_ptq_fx"}),
    WrongVersion("ptq_fx/converts-uncalibrated-copy", {"test_ptq_fx"}),
    WrongVersion("readers/weight-scale", {"test_qparams"}),
    WrongVersion("ptq_fx/equal-to-everything-tuple", {"test_ptq_fx"}),
    # nothing later builds on fold_conv_bn (the int8 weights are compared with utils.bn_folding)
    WrongVersion("fold_conv_bn/forgets-eps", {"test_fold"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "256": "the 2^8 levels of an 8-bit grid",
}
