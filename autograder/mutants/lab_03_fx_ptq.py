"""Wrong versions of lab 03's graded answers (FX post-training quantization).

Each mutant is the solution cell with one plausible mistake edited in: the solution's source is
read from ``solutions/03_fx_ptq/03_fx_ptq.ipynb`` and ``old`` is replaced by ``new`` (an ``old``
snippet that is no longer in the solution raises at import, so the mutants cannot silently drift
away from the answers they mutate).

``dynamic_quantize`` is graded on the model a locked cell builds with it, so its mutants re-run
that cell (``rerun``) before the test. (The benchmark model's size and speed checks are not
graded: they only re-checked ``ptq_fx``, whose mistakes ``test_ptq_fx`` catches.)
"""

from functools import partial

from . import edited, equal_to_everything

_mutant = partial(edited, "03_fx_ptq")


MUTANTS = [
    # 1. pick_engine
    _mutant("pick_engine", "    for engine in preferred:\n        if engine in supported:\n            return engine\n",
            "    if supported:\n        return supported[0]\n", "test_pick_engine",
            "takes supported_engines' first entry (qnnpack) instead of the preferred one"),
    _mutant("pick_engine", "    return None", "    raise RuntimeError('no engine')", "test_pick_engine",
            "raises instead of returning None when no preferred engine exists"),
    # 2. untraceable_children
    _mutant("untraceable_children",
            "    for name, child in model.named_children():\n        try:\n            torch.fx.symbolic_trace(child)\n"
            "        except torch.fx.proxy.TraceError:\n            names.append(name)\n",
            "    try:\n        torch.fx.symbolic_trace(model)\n    except torch.fx.proxy.TraceError:\n"
            "        names = [name for name, _ in model.named_children()]\n",
            "test_untraceable", "traces the whole model and blames every child"),
    # 3a. make_qconfig
    _mutant("make_qconfig", 'reduce_range=engine in ("fbgemm", "x86")', "reduce_range=True",
            "test_make_qconfig", "reduce_range on every engine (7-bit activations on qnnpack too)"),
    _mutant("make_qconfig", 'reduce_range=engine in ("fbgemm", "x86")', "reduce_range=False",
            "test_make_qconfig", "full 8-bit activations on fbgemm/x86 (int16 saturation risk)"),
    _mutant("make_qconfig", "qscheme=torch.per_tensor_symmetric", "qscheme=torch.per_tensor_affine",
            "test_make_qconfig", "the seed's affine per-tensor weights instead of symmetric"),
    _mutant("make_qconfig", "    if per_channel:", "    if True:", "test_make_qconfig",
            "ignores per_channel (always per-channel weights)"),
    # 3b. ptq_fx
    _mutant("ptq_fx", "            prepared(inputs)", "            pass", "test_ptq_fx",
            "calibrating on no data"),
    _mutant("ptq_fx", "    quantized = convert_fx(copy.deepcopy(prepared))",
            "    quantized = convert_fx(prepare_fx(copy.deepcopy(model).eval(), qconfig_mapping, example_inputs))",
            "test_ptq_fx", "converting the wrong model (a fresh, uncalibrated prepared copy)"),
    _mutant("ptq_fx", "            prepared(inputs)", "            prepared(inputs)\n            break",
            "test_ptq_fx", "calibrating on the first batch only"),
    _mutant("ptq_fx", "    quantized = convert_fx(copy.deepcopy(prepared))", "    quantized = convert_fx(prepared)",
            "test_ptq_fx", "convert_fx on prepared itself (its observer graph is rewritten)"),
    _mutant("ptq_fx", "    prepared = prepare_fx(model.eval(),", "    prepared = prepare_fx(model.train(),",
            "test_ptq_fx", "prepares the model in train mode (BatchNorm not folded, QAT-style graph)"),
    _mutant("ptq_fx", "    quantized = convert_fx(copy.deepcopy(prepared))", "    quantized = prepared",
            "test_ptq_fx", "never converts: returns the observed float model"),
    # 4. observer_ranges / graph_qparams
    _mutant("readers", "activations[node.name] = (float(module.scale), int(module.zero_point))",
            "activations[node.name] = (float(module.weight().q_per_channel_scales()[0]) "
            "if module.weight().qscheme() == torch.per_channel_affine else float(module.weight().q_scale()), "
            "int(module.zero_point))",
            "test_qparams", "reads the weight scale as the activation scale"),
    _mutant("readers", "ranges[node.args[0].name] = (module.min_val.clone(), module.max_val.clone())",
            "ranges[node.name] = (module.min_val.clone(), module.max_val.clone())",
            "test_qparams", "keys ranges by the observer node instead of the node it observes"),
    _mutant("readers", "        if node.op == \"call_function\" and node.target is torch.quantize_per_tensor:",
            "        if False:", "test_qparams", "misses the input's quantize_per_tensor node"),
    _mutant("readers", "(float(getattr(quantized, scale.target)),\n                                        int(getattr(quantized, zero_point.target)))",
            "(float(getattr(quantized, zero_point.target)),\n                                        int(getattr(quantized, scale.target)))",
            "test_qparams", "swaps the scale and zero-point get_attr arguments"),
    # 4b. fold_conv_bn (BatchNorm folding, graded against fuse_conv_bn_eval)
    _mutant("fold_conv_bn", "torch.sqrt(bn.running_var + bn.eps)", "torch.sqrt(bn.running_var)", "test_fold",
            "forgets eps"),
    _mutant("fold_conv_bn", "torch.sqrt(bn.running_var + bn.eps)", "(bn.running_var + bn.eps)", "test_fold",
            "divides by the variance instead of the standard deviation sqrt(var + eps)"),
    _mutant("fold_conv_bn", "else torch.zeros_like(bn.running_mean)", "else bn.running_mean", "test_fold",
            "a conv without bias gets b' = beta (drops -gamma*mean/sqrt(var+eps))"),
    _mutant("fold_conv_bn", "bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)",
            "bias = torch.zeros_like(bn.running_mean)", "test_fold", "ignores the conv's own bias"),
    _mutant("fold_conv_bn", "a.reshape(-1, 1, 1, 1)", "a.reshape(1, -1, 1, 1)", "test_fold",
            "scales the input channels instead of the output channels"),
    # 7. dynamic_quantize
    _mutant("dynamic_quantize", "dtype=torch.qint8", "dtype=torch.float16", "test_dynamic",
            "float16 dynamic quantization (weights not int8)", rerun=("dynamic_build",)),
    _mutant("dynamic_quantize", "{nn.LSTM, nn.Linear}", "{nn.Linear}", "test_dynamic",
            "quantizes only the Linear layer, the LSTM stays float", rerun=("dynamic_build",)),
    _mutant("dynamic_quantize", "dtype=torch.qint8)", "dtype=torch.qint8, inplace=True)",
            "test_dynamic", "quantizes the float model in place", rerun=("dynamic_build",)),
    # 8. fuse_plan
    _mutant("fuse_plan", "groups.append([full(name)] + names[:2])", "groups.append([full(name), names[0]])",
            "test_fuse_plan", "leaves the ReLU out of Conv-BN-ReLU groups"),
    _mutant("fuse_plan", "            elif following and isinstance(following[0], nn.ReLU):\n"
            "                groups.append([full(name), names[0]])\n", "", "test_fuse_plan",
            "misses Conv-ReLU pairs without BatchNorm"),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("pick_engine", "pick_engine", "test_pick_engine", ("object", "str")),
    ("untraceable_children", "untraceable_children", "test_untraceable", ("object", "list")),
    ("make_qconfig", "make_qconfig", "test_make_qconfig", ("object", "tuple")),   # QConfig is a namedtuple
    ("ptq_fx", "ptq_fx", "test_ptq_fx", ("object", "tuple")),
    ("readers", "observer_ranges", "test_qparams", ("object", "dict")),
    ("readers", "graph_qparams", "test_qparams", ("object", "tuple")),
    ("fold_conv_bn", "fold_conv_bn", "test_fold", ("object", "tuple")),
    ("dynamic_quantize", "dynamic_quantize", "test_dynamic", ("object",)),
    ("fuse_plan", "fuse_plan", "test_fuse_plan", ("object", "list")),
]
MUTANTS += [equal_to_everything("03_fx_ptq", answer, function, caught_by, kind,
                                rerun=("dynamic_build",) if answer == "dynamic_quantize" else ())
            for answer, function, caught_by, kinds in EQUAL_TO_EVERYTHING for kind in kinds]
