"""Wrong versions of lab 05's graded answers (the compression pipeline).

Each mutant is the solution cell with one plausible mistake edited in (:func:`edited`: the
solution's source with ``old`` replaced by ``new``; an ``old`` snippet that is no longer in the
solution raises, so the mutants cannot drift away from the answers they mutate). Answers whose
results a later cell computes name that cell in ``rerun`` (the notebook's ``run_*`` cells).
"""

from functools import partial

from . import edited, edited_many, equal_to_everything

_mutant = partial(edited, "05_pipeline")
_many = partial(edited_many, "05_pipeline")


MUTANTS = [
    # 1a. sensitivity_scan
    _mutant("sensitivity_scan", "channel_pruning.channels_to_keep(conv, ratio)",
            "channel_pruning.channels_to_keep(conv, 1 - ratio)", "test_scan",
            "reads the ratio as the fraction of channels kept", rerun=("run_scan",)),
    _mutant("sensitivity_scan", "keep = channel_pruning.channels_to_keep(conv, ratio)",
            "keep = torch.arange(conv.out_channels - num_to_prune(ratio, conv.out_channels))", "test_scan",
            "keeps the first channels instead of those of largest L1 norm", rerun=("run_scan",)),
    # 1b. choose_ratios
    _mutant("choose_ratios", "        if macs > budget:\n            continue\n", "", "test_choose",
            "ignores the budget", rerun=("run_choose",)),
    _many("choose_ratios", [("if best_key is None or (loss, macs) < best_key:",
                             "if best_key is None or (macs, loss) < best_key:"),
                            ("best, best_key = choice, (loss, macs)", "best, best_key = choice, (macs, loss)")],
          "test_choose", "minimizes the MACs first, the predicted loss second", rerun=("run_choose",)),
    _mutant("choose_ratios", "    if best is None:\n        raise ValueError", "    if False:\n        raise ValueError",
            "test_choose", "returns None instead of raising when nothing fits the budget"),
    # 2a. prune_and_finetune
    _mutant("prune_and_finetune", "finetuned = copy.deepcopy(pruned)", "finetuned = pruned", "test_prune",
            "fine-tunes the pruned model in place (no model before fine-tuning is left)", rerun=("run_prune",)),
    _mutant("prune_and_finetune",
            "    train.fit(finetuned, train_loader, epochs=epochs, lr=lr, show_progress=False, log=None)\n", "",
            "test_prune", "never fine-tunes", rerun=("run_prune",)),
    # 2b. stage_metrics
    _many("stage_metrics", [('F.cross_entropy(logits, targets, reduction="sum")', "F.cross_entropy(logits, targets)"),
                            ("total_loss / len(labels)", "total_loss / len(loader)")],
          "test_metrics", "test loss as the mean of the batch means (batches differ in size)", rerun=("run_metrics",)),
    _mutant("stage_metrics", "(predictions == reference_predictions)", "(predictions == labels)", "test_metrics",
            "agreement measured against the labels instead of the reference predictions", rerun=("run_metrics",)),
    _mutant("stage_metrics", "    model.eval()\n", "", "test_metrics",
            "leaves the model in train mode (BatchNorm uses batch statistics)", rerun=("run_metrics",)),
    # 3. quantize_fx
    _mutant("quantize_fx", "        for inputs, _ in calibration_loader:\n            prepared(inputs)\n",
            "        pass\n", "test_fx", "never calibrates", rerun=("run_fx",)),
    _mutant("quantize_fx", "get_default_qconfig_mapping(engine)", 'get_default_qconfig_mapping("qnnpack")',
            "test_fx", "ignores the engine (qnnpack's qconfig on x86)", rerun=("run_fx",)),
    # 4. quantize_pt2e
    _mutant("quantize_pt2e", "dynamic_shapes=tuple({0: batch} for _ in example_inputs)", "dynamic_shapes=None",
            "test_pt2e", "exports with the example's fixed batch size", rerun=("run_pt2e",)),
    _mutant("quantize_pt2e", "            prepared(inputs)\n", "            prepared(inputs)\n            break\n",
            "test_pt2e", "calibrates on the first batch only", rerun=("run_pt2e",)),
    # 5a. fold_bn
    _mutant("fold_bn", "torch.rsqrt(running_var + eps)", "torch.rsqrt(running_var)", "test_fold", "forgets eps"),
    _mutant("fold_bn", "torch.rsqrt(running_var + eps)", "1 / (running_var + eps)", "test_fold",
            "divides by the variance instead of the standard deviation"),
    _mutant("fold_bn", "(bias - running_mean) * inverse_std", "bias * inverse_std", "test_fold",
            "folds the bias without subtracting the running mean"),
    _mutant("fold_bn", "shape = [-1] + [1] * (weight.dim() - 1)", "shape = [1] * (weight.dim() - 1) + [-1]",
            "test_fold", "scales the weight along its last dimension instead of the output channels"),
    # 5b. integer_replay
    _mutant("integer_replay", "            scale, zero_point = layer.scale, layer.zero_point\n", "", "test_replay",
            "never moves to the layer's output grid (every layer reads the input's scale)", rerun=("run_replay",)),
    _mutant("integer_replay",
            "q = F.max_pool2d(q.double(), module.kernel_size, module.stride, module.padding).to(torch.int64)",
            "q = q", "test_replay", "skips the max pooling", rerun=("run_replay",)),
    _mutant("integer_replay", "q = torch.div(q.sum(dim=(2, 3), keepdim=True) + count // 2, count, rounding_mode=\"floor\")",
            "q = q.sum(dim=(2, 3), keepdim=True)", "test_replay",
            "sums instead of averaging in the global pool", rerun=("run_replay",)),
    # 6. per_layer_table
    _mutant("per_layer_table", "1 - layer.weight.numel() / full.weight.numel()",
            "1 - layer.weight.shape[0] / full.weight.shape[0]", "test_table",
            "sparsity of the output channels instead of the weights", rerun=("run_table",)),
    _mutant("per_layer_table", '"macs_before": macs_before[name]', '"macs_before": macs_now[name]', "test_table",
            "reads the MACs before pruning from the pruned model", rerun=("run_table",)),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("sensitivity_scan", "test_scan", ("object", "dict"), ("run_scan",)),
    ("choose_ratios", "test_choose", ("object", "dict"), ("run_choose",)),
    ("prune_and_finetune", "test_prune", ("object", "tuple"), ("run_prune",)),
    ("stage_metrics", "test_metrics", ("object", "tuple"), ("run_metrics",)),
    ("quantize_fx", "test_fx", ("object",), ("run_fx",)),
    ("quantize_pt2e", "test_pt2e", ("object",), ("run_pt2e",)),
    ("fold_bn", "test_fold", ("object", "tuple"), ()),
    ("integer_replay", "test_replay", ("object", "tuple"), ("run_replay",)),
    ("per_layer_table", "test_table", ("object", "list"), ("run_table",)),
]
MUTANTS += [equal_to_everything("05_pipeline", function, function, caught_by, kind, rerun)
            for function, caught_by, kinds, rerun in EQUAL_TO_EVERYTHING for kind in kinds]
