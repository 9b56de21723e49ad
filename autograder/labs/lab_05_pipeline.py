"""Lab 05's manifest (see :mod:`autograder.labs`): the compression pipeline.

Each mutant is the solution cell with one plausible mistake edited in (:func:`edited`: the
solution's source with ``old`` replaced by ``new``; an ``old`` snippet that is no longer in the
solution raises, so the mutants cannot drift away from the answers they mutate). Answers whose
results a later cell computes name that cell in ``rerun`` (the notebook's ``run_*`` cells).
"""

from functools import partial

from ..mutants import edited, edited_many, equal_to_everything
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

_mutant = partial(edited, "05_pipeline")
_many = partial(edited_many, "05_pipeline")


MUTANTS = [
    # 1a. sensitivity_scan
    _mutant("sensitivity_scan/ratio-as-kept", old="channel_pruning.channels_to_keep(conv, ratio)",
            new="channel_pruning.channels_to_keep(conv, 1 - ratio)", caught_by="test_scan",
            why="reads the ratio as the fraction of channels kept", rerun=("run_scan",)),
    _mutant("sensitivity_scan/first-channels",
            old="keep = channel_pruning.channels_to_keep(conv, ratio)",
            new="keep = torch.arange(conv.out_channels - num_to_prune(ratio, conv.out_channels))",
            caught_by="test_scan",
            why="keeps the first channels instead of those of largest L1 norm",
            rerun=("run_scan",)),
    # 1b. choose_ratios
    _mutant("choose_ratios/ignores-budget",
            old="        if macs > budget:\n            continue\n", new="",
            caught_by="test_choose", why="ignores the budget", rerun=("run_choose",)),
    _many("choose_ratios/macs-first",
          edits=[("if best_key is None or (loss, macs) < best_key:",
                  "if best_key is None or (macs, loss) < best_key:"),
                 ("best, best_key = choice, (loss, macs)",
                  "best, best_key = choice, (macs, loss)")],
          caught_by="test_choose", why="minimizes the MACs first, the predicted loss second",
          rerun=("run_choose",)),
    _mutant("choose_ratios/returns-none", old="    if best is None:\n        raise ValueError",
            new="    if False:\n        raise ValueError", caught_by="test_choose",
            why="returns None instead of raising when nothing fits the budget"),
    # 2a. prune_and_finetune
    _mutant("prune_and_finetune/in-place", old="finetuned = copy.deepcopy(pruned)",
            new="finetuned = pruned", caught_by="test_prune",
            why="fine-tunes the pruned model in place (no model before fine-tuning is left)",
            rerun=("run_prune",)),
    _mutant("prune_and_finetune/no-finetuning",
            old=("    train.fit(finetuned, train_loader, epochs=epochs, lr=lr, show_progress=False,"
                 " log=None)\n"),
            new="", caught_by="test_prune", why="never fine-tunes", rerun=("run_prune",)),
    _mutant("prune_and_finetune/raises", old="    keep = {block: ",
            new="    raise NotImplementedError(\"not written yet\")\n    keep = {block: ",
            caught_by="test_prune", why="raises (an exercise left unwritten)",
            rerun=("run_prune",)),
    # 2b. stage_metrics
    _many("stage_metrics/mean-of-batch-means",
          edits=[('F.cross_entropy(logits, targets, reduction="sum")',
                  "F.cross_entropy(logits, targets)"),
                 ("total_loss / len(labels)", "total_loss / len(loader)")],
          caught_by="test_metrics",
          why="test loss as the mean of the batch means (batches differ in size)",
          rerun=("run_metrics",)),
    _mutant("stage_metrics/agreement-with-labels", old="(predictions == reference_predictions)",
            new="(predictions == labels)", caught_by="test_metrics",
            why="agreement measured against the labels instead of the reference predictions",
            rerun=("run_metrics",)),
    _mutant("stage_metrics/train-mode", old="    model.eval()\n", new="", caught_by="test_metrics",
            why="leaves the model in train mode (BatchNorm uses batch statistics)",
            rerun=("run_metrics",)),
    # 3. quantize_fx
    _mutant("quantize_fx/no-calibration",
            old="        for inputs, _ in calibration_loader:\n            prepared(inputs)\n",
            new="        pass\n", caught_by="test_fx", why="never calibrates", rerun=("run_fx",)),
    _mutant("quantize_fx/ignores-engine",
            old=".eval(), get_default_qconfig_mapping(engine)",
            new='.eval(), get_default_qconfig_mapping("qnnpack")',
            caught_by="test_fx",
            why="ignores the engine (qnnpack's qconfig on x86)", rerun=("run_fx",)),
    # 4. quantize_pt2e
    _mutant("quantize_pt2e/fixed-batch",
            old="dynamic_shapes=tuple({0: batch} for _ in example_inputs)",
            new="dynamic_shapes=None", caught_by="test_pt2e",
            why="exports with the example's fixed batch size", rerun=("run_pt2e",)),
    _mutant("quantize_pt2e/first-batch-only", old="            prepared(inputs)\n",
            new="            prepared(inputs)\n            break\n", caught_by="test_pt2e",
            why="calibrates on the first batch only", rerun=("run_pt2e",)),
    # 5a. fold_bn
    _mutant("fold_bn/forgets-eps", old="torch.rsqrt(running_var + eps)",
            new="torch.rsqrt(running_var)", caught_by="test_fold", why="forgets eps"),
    _mutant("fold_bn/divides-by-variance", old="torch.rsqrt(running_var + eps)",
            new="1 / (running_var + eps)", caught_by="test_fold",
            why="divides by the variance instead of the standard deviation"),
    _mutant("fold_bn/bias-keeps-mean", old="(bias - running_mean) * inverse_std",
            new="bias * inverse_std", caught_by="test_fold",
            why="folds the bias without subtracting the running mean"),
    _mutant("fold_bn/last-dim", old="shape = [-1] + [1] * (weight.dim() - 1)",
            new="shape = [1] * (weight.dim() - 1) + [-1]", caught_by="test_fold",
            why="scales the weight along its last dimension instead of the output channels"),
    # 5b. integer_replay
    _mutant("integer_replay/stays-on-input-grid",
            old="            scale, zero_point = layer.scale, layer.zero_point\n", new="",
            caught_by="test_replay",
            why="never moves to the layer's output grid (every layer reads the input's scale)",
            rerun=("run_replay",)),
    _mutant("integer_replay/skips-max-pool",
            old=("q = F.max_pool2d(q.double(), module.kernel_size, module.stride, module.padding)"
                 ".to(torch.int64)"),
            new="q = q", caught_by="test_replay", why="skips the max pooling",
            rerun=("run_replay",)),
    _mutant("integer_replay/sums-global-pool",
            old=("q = torch.div(q.sum(dim=(2, 3), keepdim=True) + count // 2, count, "
                 "rounding_mode=\"floor\")"),
            new="q = q.sum(dim=(2, 3), keepdim=True)", caught_by="test_replay",
            why="sums instead of averaging in the global pool", rerun=("run_replay",)),
    # 6. per_layer_table
    _mutant("per_layer_table/channel-sparsity",
            old="1 - layer.weight.numel() / full.weight.numel()",
            new="1 - layer.weight.shape[0] / full.weight.shape[0]", caught_by="test_table",
            why="sparsity of the output channels instead of the weights", rerun=("run_table",)),
    _mutant("per_layer_table/macs-before-from-pruned", old='"macs_before": macs_before[name]',
            new='"macs_before": macs_now[name]', caught_by="test_table",
            why="reads the MACs before pruning from the pruned model", rerun=("run_table",)),
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
MUTANTS += [equal_to_everything("05_pipeline", function, function=function, caught_by=caught_by,
                                kind=kind, rerun=rerun)
            for function, caught_by, kinds, rerun in EQUAL_TO_EVERYTHING for kind in kinds]

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    # a failed test swaps the reference's result in for the later sections (reference_answers)
    WrongVersion("choose_ratios/returns-none", {"test_choose"}),
    WrongVersion("stage_metrics/mean-of-batch-means", {"test_metrics"}),
    # an unwritten first exercise of section 2 costs its own points, not every later test's
    WrongVersion("prune_and_finetune/raises", {"test_prune"}),
    WrongVersion("fold_bn/forgets-eps", {"test_fold"}),
    # the replay's predictions and layers are far off, but nothing later builds on the replay
    WrongVersion("integer_replay/stays-on-input-grid", {"test_replay"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "20 %": "the target the written question sets the student (go below 20 % of the MACs)",
}
