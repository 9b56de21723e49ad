"""Lab 01's manifest (see :mod:`autograder.labs`): magnitude and structured pruning from scratch,
and the recovery of a channel-pruned model.

Each mutant is the solution cell with one plausible mistake edited in (:func:`edited`: the
solution's source, read from ``solutions/01_pruning/01_pruning.ipynb``, with ``old`` replaced by
``new``; an ``old`` snippet that is no longer in the solution raises at import, so the mutants
cannot silently drift away from the answers they mutate). A mistake that touches several places
of a cell (e.g. ``named_parameters()`` read in both ``layer_sparsity`` and ``overall_sparsity``)
is a chain of such edits, applied in order by :func:`edited_many`, each checked the same way.

A few mutants replace several lines rather than one: the magnitude mask thresholded at the k-th
smallest magnitude (wrong when magnitudes tie), the one that calls ``torch.nn.utils.prune``
instead of writing the mask (caught by ``assert_does_not_use``), and the unweighted mean of the
layers' sparsities. Every edit models exactly one mistake: the rest of the cell stays right (the
wrong-dimension consumer cut, for instance, still updates ``in_channels``), so each mutant is
caught for its own mistake and not for a side effect.
"""

from functools import partial

from ..mutants import edited, edited_many, equal_to_everything_mutants
from . import WrongVersion

__all__ = ["MUTANTS", "EQUAL_TO_EVERYTHING", "WRONG_VERSIONS", "CLAIM_CONSTANTS"]

_mutant = partial(edited, "01_pruning")
_edits = partial(edited_many, "01_pruning")


MUTANTS = [
    # 1. magnitude_mask
    _mutant("magnitude_mask/keeps-smallest", old="k, largest=False)", new="k, largest=True)",
            caught_by="test_magnitude_mask",
            why="keeps the smallest magnitudes instead of the largest"),
    _mutant("magnitude_mask/truncates-count", old="else round(amount * numel)",
            new="else int(amount * numel)", caught_by="test_magnitude_mask",
            why="off-by-one count: truncates amount * numel instead of rounding it"),
    _mutant("magnitude_mask/kthvalue-threshold",
            old="    mask = torch.ones(numel, dtype=weight.dtype)\n"
                "    pruned = torch.topk(weight.detach().abs().flatten(), k, "
                "largest=False).indices\n"
                "    mask[pruned] = 0\n"
                "    return mask.view(weight.shape)",
            new="    if k == 0:\n"
                "        return torch.ones_like(weight)\n"
                "    threshold = weight.detach().abs().flatten().kthvalue(k).values\n"
                "    return (weight.detach().abs() > threshold).to(weight.dtype)",
            caught_by="test_magnitude_mask",
            why="threshold at the k-th smallest magnitude (seed 001): prunes too many when "
                "magnitudes tie"),
    _mutant("magnitude_mask/calls-torch-prune",
            old="    numel = weight.numel()\n"
                "    k = amount if isinstance(amount, int) else round(amount * numel)\n"
                "    mask = torch.ones(numel, dtype=weight.dtype)\n"
                "    pruned = torch.topk(weight.detach().abs().flatten(), k, "
                "largest=False).indices\n"
                "    mask[pruned] = 0\n"
                "    return mask.view(weight.shape)",
            new="    holder = nn.Module()\n"
                "    holder.weight = nn.Parameter(weight.detach().clone())\n"
                "    prune.l1_unstructured(holder, \"weight\", amount=amount)\n"
                "    return holder.weight_mask",
            caught_by="test_magnitude_mask",
            why="calls torch.nn.utils.prune instead of writing the mask from scratch"),
    # 2. sparsity, layer_sparsity, overall_sparsity
    _mutant("sparsity_functions/unweighted-mean",
            old="    weights = [module.weight for module in model.modules() if isinstance(module, "
                "(nn.Conv2d, nn.Linear))]\n"
                "    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in "
                "weights)",
            new="    values = list(layer_sparsity(model).values())\n"
                "    return sum(values) / len(values)",
            caught_by="test_sparsity",
            why="overall sparsity as the unweighted mean of the layers' sparsities"),
    _edits("sparsity_functions/reads-weight-orig",
           edits=[("{name: sparsity(module.weight) for name, module in model.named_modules()\n"
                   "            if isinstance(module, (nn.Conv2d, nn.Linear))}",
                   "{name.rsplit(\".\", 1)[0]: sparsity(p) for name, p in "
                   "model.named_parameters()\n"
                   "            if p.dim() > 1}"),
                  ("weights = [module.weight for module in model.modules() if isinstance(module, "
                   "(nn.Conv2d, nn.Linear))]",
                   "weights = [p for p in model.parameters() if p.dim() > 1]")],
           caught_by="test_sparsity",
           why="reads named_parameters(), i.e. the unmasked weight_orig of a pruned module"),
    # 3. ln_structured_mask
    _mutant("ln_structured_mask/wrong-dim", old="if d != dim % weight.dim()]", new="if d != 0]",
            caught_by="test_ln_structured",
            why="prunes along the wrong dimension: ranks dim-0 slices whatever dim is asked"),
    _mutant("ln_structured_mask/keeps-smallest-norms", old="torch.topk(norms, num_slices - k)",
            new="torch.topk(norms, num_slices - k, largest=False)", caught_by="test_ln_structured",
            why="keeps the slices with the smallest norms"),
    _mutant("ln_structured_mask/always-l1",
            old="torch.linalg.vector_norm(weight.detach(), ord=n, dim=other_dims)",
            new="weight.detach().abs().sum(dim=other_dims)", caught_by="test_ln_structured",
            why="always ranks by the L1 norm, ignoring n"),
    # 4. global_magnitude_masks
    _mutant("global_magnitude_masks/local-pruning",
            old="pieces = magnitude_mask(flat, amount).split([w.numel() for w in weights])",
            new="pieces = [magnitude_mask(w.detach().flatten(), amount) for w in weights]",
            caught_by="test_global_masks",
            why="local pruning: the same fraction in every tensor instead of one global ranking"),
    # 5. choose_sparsities
    _mutant("choose_sparsities/smallest-sparsity", old="{layer: max(s for s, d",
            new="{layer: min(s for s, d", caught_by="test_choose_sparsities",
            why="takes the smallest sparsity within the tolerance instead of the largest"),
    _edits("choose_sparsities/ignores-budget",
           edits=[("for tolerance in tolerances:", "for tolerance in [0.05]:"),
                  ("if kept <= budget:", "if True:")],
           caught_by="test_choose_sparsities",
           why="a fixed accuracy tolerance that ignores the budget"),
    # 6. agp_sparsity
    _mutant("agp_sparsity/linear-schedule", old="* remaining ** 3", new="* remaining",
            caught_by="test_agp", why="linear schedule instead of the cubic"),
    _mutant("agp_sparsity/final-not-held",
            old="    if step >= end_step:\n        return float(final_sparsity)\n", new="",
            caught_by="test_agp",
            why="does not hold the final sparsity after the last pruning step"),
    _mutant("agp_sparsity/forgets-step-interval", old="/ (num_steps * step_interval)",
            new="/ num_steps", caught_by="test_agp",
            why="counts pruning steps instead of training steps (forgets step_interval)"),
    # 7. remove_channels
    _mutant("remove_channels/consumer-wrong-dim", old="consumer.weight.index_select(1, keep)",
            new="consumer.weight.index_select(0, keep)", caught_by="test_remove_channels",
            why="cuts the consumer along the wrong dimension (its outputs, dim 0, instead of its "
                "inputs)"),
    _edits("remove_channels/forgets-bn-statistics",
           edits=[("        if conv.bias is not None:\n"
                   "            conv.bias = nn.Parameter(conv.bias.index_select(0, keep))\n", ""),
                  ("        bn.running_mean = bn.running_mean.index_select(0, keep)\n"
                   "        bn.running_var = bn.running_var.index_select(0, keep)\n", "")],
           caught_by="test_remove_channels",
           why="forgets the BatchNorm running statistics (and the conv bias)"),
    _mutant("remove_channels/stale-sizes",
            old="\n    conv.out_channels = bn.num_features = len(keep)\n"
                "    if isinstance(consumer, nn.Conv2d):\n"
                "        consumer.in_channels = len(keep)\n"
                "    else:\n"
                "        consumer.in_features = len(keep)",
            new="", caught_by="test_remove_channels",
            why="leaves out_channels / num_features / in_channels stale"),
    # 8. storage
    _mutant("storage_functions/csr-rows-pointers", old="4 * (weight.shape[0] + 1)",
            new="4 * weight.shape[0]", caught_by="test_storage",
            why="CSR with rows row pointers instead of rows + 1"),
    _mutant("storage_functions/byte-per-mask-entry", old="math.ceil(weight.numel() / 8)",
            new="weight.numel()", caught_by="test_storage",
            why="a byte per entry for the mask (a bool tensor) instead of a bit"),
    _mutant("storage_functions/assumes-float32", old="t.numel() * t.element_size()",
            new="4 * t.numel()", caught_by="test_storage",
            why="assumes every tensor is float32 (4 bytes per element)"),
    # 9. recover (section 8.2): BatchNorm statistics re-estimated, then fine-tuning
    _mutant("recover/no-reset", old="        bn.reset_running_stats()\n", new="",
            caught_by="test_recover_bn",
            why="forgets to reset the running statistics (the dense model's stale ones are "
                "averaged in)"),
    _mutant("recover/keeps-momentum",
            old="        bn.momentum = None                       # the plain average over the "
                "batches of the pass\n",
            new="", caught_by="test_recover_bn",
            why="keeps the exponential momentum: the last batches dominate instead of a plain "
                "average"),
    _mutant("recover/momentum-not-restored",
            old="    for bn, momentum in zip(norms, momenta):\n        bn.momentum = momentum\n",
            new="", caught_by="test_recover_bn",
            why="does not put the momentum back (fine-tuning then averages its statistics "
                "forever)"),
    _mutant("recover/train-mode", old="    return model.eval()", new="    return model",
            caught_by="test_recover_bn", why="returns the model in train mode"),
    _mutant("recover/no-optimizer-step", old="                optimizer.step()\n", new="",
            caught_by="test_recover",
            why="never steps the optimizer: no fine-tuning, only the statistics re-estimated"),
]

# Answers that do no work and return an object equal to everything (a plain object, and a
# subclass of the type the test expects): the strict checks reject them on type.
EQUAL_TO_EVERYTHING = [
    ("magnitude_mask", "magnitude_mask", "test_magnitude_mask", "tensor"),
    ("sparsity_functions", "sparsity", "test_sparsity", "float"),
    ("sparsity_functions", "layer_sparsity", "test_sparsity", "dict"),
    ("sparsity_functions", "overall_sparsity", "test_sparsity", "float"),
    ("ln_structured_mask", "ln_structured_mask", "test_ln_structured", "tensor"),
    ("global_magnitude_masks", "global_magnitude_masks", "test_global_masks", "list"),
    ("choose_sparsities", "choose_sparsities", "test_choose_sparsities", "dict"),
    ("agp_sparsity", "agp_sparsity", "test_agp", "float"),
    ("remove_channels", "remove_channels", "test_remove_channels", "object"),
    ("storage_functions", "state_dict_bytes", "test_storage", "int"),
    ("storage_functions", "csr_bytes", "test_storage", "int"),
    ("storage_functions", "bitmask_bytes", "test_storage", "int"),
    ("recover", "recover", "test_recover_bn", "object"),
]
MUTANTS += equal_to_everything_mutants("01_pruning", EQUAL_TO_EVERYTHING)

# Graded as whole submissions (tests/test_autograde_labs.py): each with every test cell it loses.
WRONG_VERSIONS = [
    # the global masks are built on magnitude_mask; the fine-tuned AGP model too, but its check
    # (check_finetune) is not graded, so the mistake is not charged a third time
    WrongVersion("magnitude_mask/keeps-smallest", {"test_magnitude_mask", "test_global_masks"}),
    WrongVersion("magnitude_mask/truncates-count", {"test_magnitude_mask", "test_global_masks"}),
    WrongVersion("ln_structured_mask/wrong-dim", {"test_ln_structured"}),
    WrongVersion("magnitude_mask/equal-to-everything-tensor",
                 {"test_magnitude_mask", "test_global_masks"}),
    # recover's two tests grade different steps: the BatchNorm statistics (and eval mode), then
    # the fine-tuned accuracy of a model cut by the reference pruning
    WrongVersion("recover/no-optimizer-step", {"test_recover"}),
    WrongVersion("recover/train-mode", {"test_recover_bn"}),
]

# Numbers of the prose that are constants of the method or the task, not results of the run
# (tests/test_claims.py). Keep this short: a result never belongs here.
CLAIM_CONSTANTS = {
    "18,432": "conv3's weight count (a shape), quoted by the model answer of section 5's "
              "question; section 1 prints it",
}
