"""Wrong answers of lab 01 (pruning) that its test cells must reject (see ``autograder.mutation``)."""

from . import Mutant

MUTANTS = [
    # --- magnitude_mask ---------------------------------------------------------------------
    Mutant(
        answer="magnitude_mask",
        source='''
def magnitude_mask(weight, amount):
    numel = weight.numel()
    k = amount if isinstance(amount, int) else round(amount * numel)
    mask = torch.ones(numel, dtype=weight.dtype)
    mask[torch.topk(weight.detach().abs().flatten(), k, largest=True).indices] = 0
    return mask.view(weight.shape)
''',
        caught_by="test_magnitude_mask",
        why="keeps the smallest magnitudes instead of the largest",
    ),
    Mutant(
        answer="magnitude_mask",
        source='''
def magnitude_mask(weight, amount):
    numel = weight.numel()
    k = amount if isinstance(amount, int) else int(amount * numel)
    mask = torch.ones(numel, dtype=weight.dtype)
    mask[torch.topk(weight.detach().abs().flatten(), k, largest=False).indices] = 0
    return mask.view(weight.shape)
''',
        caught_by="test_magnitude_mask",
        why="off-by-one count: truncates amount * numel instead of rounding it",
    ),
    Mutant(
        answer="magnitude_mask",
        source='''
def magnitude_mask(weight, amount):
    numel = weight.numel()
    k = amount if isinstance(amount, int) else round(amount * numel)
    if k == 0:
        return torch.ones_like(weight)
    threshold = weight.detach().abs().flatten().kthvalue(k).values
    return (weight.detach().abs() > threshold).to(weight.dtype)
''',
        caught_by="test_magnitude_mask",
        why="threshold at the k-th smallest magnitude (seed 001): prunes too many when magnitudes tie",
    ),
    Mutant(
        answer="magnitude_mask",
        source='''
def magnitude_mask(weight, amount):
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.detach().clone())
    prune.l1_unstructured(holder, "weight", amount=amount)
    return holder.weight_mask
''',
        caught_by="test_magnitude_mask",
        why="calls torch.nn.utils.prune instead of writing the mask from scratch",
    ),
    # --- sparsity ---------------------------------------------------------------------------
    Mutant(
        answer="sparsity_functions",
        source='''
def sparsity(tensor):
    return (tensor == 0).sum().item() / tensor.numel()


def layer_sparsity(model):
    return {name: sparsity(module.weight) for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))}


def overall_sparsity(model):
    values = list(layer_sparsity(model).values())
    return sum(values) / len(values)
''',
        caught_by="test_sparsity",
        why="overall sparsity as the unweighted mean of the layers' sparsities",
    ),
    Mutant(
        answer="sparsity_functions",
        source='''
def sparsity(tensor):
    return (tensor == 0).sum().item() / tensor.numel()


def layer_sparsity(model):
    return {name.rsplit(".", 1)[0]: sparsity(p) for name, p in model.named_parameters()
            if p.dim() > 1}


def overall_sparsity(model):
    weights = [p for p in model.parameters() if p.dim() > 1]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
''',
        caught_by="test_sparsity",
        why="reads named_parameters(), i.e. the unmasked weight_orig of a pruned module",
    ),
    # --- ln_structured_mask -----------------------------------------------------------------
    Mutant(
        answer="ln_structured_mask",
        source='''
def ln_structured_mask(weight, amount, n, dim):
    num_slices = weight.shape[dim]
    k = amount if isinstance(amount, int) else round(amount * num_slices)
    other_dims = [d for d in range(weight.dim()) if d != 0]
    norms = torch.linalg.vector_norm(weight.detach(), ord=n, dim=other_dims)
    kept = torch.topk(norms, num_slices - k).indices
    mask = torch.zeros(weight.shape, dtype=weight.dtype)
    return mask.index_fill_(dim, kept, 1)
''',
        caught_by="test_ln_structured",
        why="prunes along the wrong dimension: ranks dim-0 slices whatever dim is asked",
    ),
    Mutant(
        answer="ln_structured_mask",
        source='''
def ln_structured_mask(weight, amount, n, dim):
    num_slices = weight.shape[dim]
    k = amount if isinstance(amount, int) else round(amount * num_slices)
    other_dims = [d for d in range(weight.dim()) if d != dim % weight.dim()]
    norms = torch.linalg.vector_norm(weight.detach(), ord=n, dim=other_dims)
    kept = torch.topk(norms, num_slices - k, largest=False).indices
    mask = torch.zeros(weight.shape, dtype=weight.dtype)
    return mask.index_fill_(dim, kept, 1)
''',
        caught_by="test_ln_structured",
        why="keeps the slices with the smallest norms",
    ),
    Mutant(
        answer="ln_structured_mask",
        source='''
def ln_structured_mask(weight, amount, n, dim):
    num_slices = weight.shape[dim]
    k = amount if isinstance(amount, int) else round(amount * num_slices)
    other_dims = [d for d in range(weight.dim()) if d != dim % weight.dim()]
    norms = weight.detach().abs().sum(dim=other_dims)
    kept = torch.topk(norms, num_slices - k).indices
    mask = torch.zeros(weight.shape, dtype=weight.dtype)
    return mask.index_fill_(dim, kept, 1)
''',
        caught_by="test_ln_structured",
        why="always ranks by the L1 norm, ignoring n",
    ),
    # --- global_magnitude_masks -------------------------------------------------------------
    Mutant(
        answer="global_magnitude_masks",
        source='''
def global_magnitude_masks(weights, amount):
    return [magnitude_mask(w, amount) for w in weights]
''',
        caught_by="test_global_masks",
        why="local pruning: the same fraction in every tensor instead of one global ranking",
    ),
    # --- choose_sparsities ------------------------------------------------------------------
    Mutant(
        answer="choose_sparsities",
        source='''
def choose_sparsities(scan, numels, budget):
    drops = {layer: {s: accs[0.0] - a for s, a in accs.items()} for layer, accs in scan.items()}
    tolerances = sorted({0.0} | {d for per_layer in drops.values() for d in per_layer.values() if d > 0})
    for tolerance in tolerances:
        choice = {layer: min(s for s, d in per_layer.items() if d <= tolerance) for layer, per_layer in drops.items()}
        kept = sum(numels[layer] - round(s * numels[layer]) for layer, s in choice.items())
        if kept <= budget:
            return choice
    raise ValueError("budget cannot be met")
''',
        caught_by="test_choose_sparsities",
        why="takes the smallest sparsity within the tolerance instead of the largest",
    ),
    Mutant(
        answer="choose_sparsities",
        source='''
def choose_sparsities(scan, numels, budget):
    return {layer: max(s for s, a in accs.items() if accs[0.0] - a <= 0.05) for layer, accs in scan.items()}
''',
        caught_by="test_choose_sparsities",
        why="a fixed accuracy tolerance that ignores the budget",
    ),
    # --- agp_sparsity -----------------------------------------------------------------------
    Mutant(
        answer="agp_sparsity",
        source='''
def agp_sparsity(step, initial_sparsity, final_sparsity, start_step, num_steps, step_interval):
    end_step = start_step + num_steps * step_interval
    if step <= start_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    progress = (step - start_step) / (num_steps * step_interval)
    return initial_sparsity + (final_sparsity - initial_sparsity) * progress
''',
        caught_by="test_agp",
        why="linear schedule instead of the cubic",
    ),
    Mutant(
        answer="agp_sparsity",
        source='''
def agp_sparsity(step, initial_sparsity, final_sparsity, start_step, num_steps, step_interval):
    if step <= start_step:
        return float(initial_sparsity)
    remaining = 1.0 - (step - start_step) / (num_steps * step_interval)
    return final_sparsity + (initial_sparsity - final_sparsity) * remaining ** 3
''',
        caught_by="test_agp",
        why="does not hold the final sparsity after the last pruning step",
    ),
    Mutant(
        answer="agp_sparsity",
        source='''
def agp_sparsity(step, initial_sparsity, final_sparsity, start_step, num_steps, step_interval):
    end_step = start_step + num_steps * step_interval
    if step <= start_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    remaining = 1.0 - (step - start_step) / num_steps
    return final_sparsity + (initial_sparsity - final_sparsity) * remaining ** 3
''',
        caught_by="test_agp",
        why="counts pruning steps instead of training steps (forgets step_interval)",
    ),
    # --- remove_channels --------------------------------------------------------------------
    Mutant(
        answer="remove_channels",
        source='''
def remove_channels(conv, bn, consumer, keep):
    with torch.no_grad():
        conv.weight = nn.Parameter(conv.weight.index_select(0, keep))
        if conv.bias is not None:
            conv.bias = nn.Parameter(conv.bias.index_select(0, keep))
        bn.weight = nn.Parameter(bn.weight.index_select(0, keep))
        bn.bias = nn.Parameter(bn.bias.index_select(0, keep))
        bn.running_mean = bn.running_mean.index_select(0, keep)
        bn.running_var = bn.running_var.index_select(0, keep)
        consumer.weight = nn.Parameter(consumer.weight.index_select(0, keep))
    conv.out_channels = bn.num_features = len(keep)
''',
        caught_by="test_remove_channels",
        why="cuts the consumer along the wrong dimension (its outputs, dim 0, instead of its inputs)",
    ),
    Mutant(
        answer="remove_channels",
        source='''
def remove_channels(conv, bn, consumer, keep):
    with torch.no_grad():
        conv.weight = nn.Parameter(conv.weight.index_select(0, keep))
        bn.weight = nn.Parameter(bn.weight.index_select(0, keep))
        bn.bias = nn.Parameter(bn.bias.index_select(0, keep))
        consumer.weight = nn.Parameter(consumer.weight.index_select(1, keep))
    conv.out_channels = bn.num_features = len(keep)
    if isinstance(consumer, nn.Conv2d):
        consumer.in_channels = len(keep)
    else:
        consumer.in_features = len(keep)
''',
        caught_by="test_remove_channels",
        why="forgets the BatchNorm running statistics (and the conv bias)",
    ),
    Mutant(
        answer="remove_channels",
        source='''
def remove_channels(conv, bn, consumer, keep):
    with torch.no_grad():
        conv.weight = nn.Parameter(conv.weight.index_select(0, keep))
        if conv.bias is not None:
            conv.bias = nn.Parameter(conv.bias.index_select(0, keep))
        bn.weight = nn.Parameter(bn.weight.index_select(0, keep))
        bn.bias = nn.Parameter(bn.bias.index_select(0, keep))
        bn.running_mean = bn.running_mean.index_select(0, keep)
        bn.running_var = bn.running_var.index_select(0, keep)
        consumer.weight = nn.Parameter(consumer.weight.index_select(1, keep))
''',
        caught_by="test_remove_channels",
        why="leaves out_channels / num_features / in_channels stale",
    ),
    # --- storage ----------------------------------------------------------------------------
    Mutant(
        answer="storage_functions",
        source='''
def state_dict_bytes(state_dict):
    return sum(t.numel() * t.element_size() for t in state_dict.values())


def csr_bytes(weight):
    nnz = int((weight != 0).sum())
    return 4 * nnz + 4 * nnz + 4 * weight.shape[0]


def bitmask_bytes(weight):
    return math.ceil(weight.numel() / 8) + 4 * int((weight != 0).sum())
''',
        caught_by="test_storage",
        why="CSR with rows row pointers instead of rows + 1",
    ),
    Mutant(
        answer="storage_functions",
        source='''
def state_dict_bytes(state_dict):
    return sum(t.numel() * t.element_size() for t in state_dict.values())


def csr_bytes(weight):
    nnz = int((weight != 0).sum())
    return 4 * nnz + 4 * nnz + 4 * (weight.shape[0] + 1)


def bitmask_bytes(weight):
    return weight.numel() + 4 * int((weight != 0).sum())
''',
        caught_by="test_storage",
        why="a byte per entry for the mask (a bool tensor) instead of a bit",
    ),
    Mutant(
        answer="storage_functions",
        source='''
def state_dict_bytes(state_dict):
    return sum(4 * t.numel() for t in state_dict.values())


def csr_bytes(weight):
    nnz = int((weight != 0).sum())
    return 4 * nnz + 4 * nnz + 4 * (weight.shape[0] + 1)


def bitmask_bytes(weight):
    return math.ceil(weight.numel() / 8) + 4 * int((weight != 0).sum())
''',
        caught_by="test_storage",
        why="assumes every tensor is float32 (4 bytes per element)",
    ),
]
