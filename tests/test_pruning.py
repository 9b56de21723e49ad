"""utils.pruning: every mask is checked against torch.nn.utils.prune, the oracle."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from utils import pruning
from utils.models import DigitsCNN, DigitsMLP

SHAPES = [(7,), (10, 6), (8, 3, 3, 3), (5, 4, 2)]
AMOUNTS = [0, 0.0, 0.3, 0.5, 0.77, 1.0, 1, 5]
STRUCTURED_SHAPES = [(6, 4, 3, 3), (8, 5), (5, 4, 2)]
STRUCTURED_AMOUNTS = [0, 0.0, 0.25, 0.5, 0.8, 1.0, 1, 3]


def torch_mask(prune_fn, tensor, **kwargs):
    """The mask ``torch.nn.utils.prune`` stores when it prunes a parameter holding ``tensor``."""
    holder = nn.Module()
    holder.w = nn.Parameter(tensor.clone())
    prune_fn(holder, "w", **kwargs)
    return holder.w_mask


def tied_tensor(shape, gen, levels=3):
    """Many repeated magnitudes (and signs): ties everywhere, including at the cut."""
    return torch.randint(-levels, levels + 1, shape, generator=gen).float()


def expected_zeros(amount, numel):
    """The count torch prunes, written out independently of the code under test."""
    return amount if isinstance(amount, int) else round(amount * numel)


def assert_same_mask_or_both_reject(torch_prune, make_mask, weight, amount, dim, **kwargs):
    """Structured masks equal torch's, or both raise (an int amount above the slice count)."""
    if isinstance(amount, int) and amount > weight.shape[dim]:
        with pytest.raises(ValueError):
            torch_mask(torch_prune, weight, amount=amount, dim=dim, **kwargs)
        with pytest.raises(ValueError, match=f"amount={amount}"):
            make_mask()
        return
    expected = torch_mask(torch_prune, weight, amount=amount, dim=dim, **kwargs)
    torch.testing.assert_close(make_mask(), expected, rtol=0, atol=0)


def random_model(seed=0):
    """DigitsCNN with seeded random weights (convs + linear: the global pruning playground)."""
    torch.manual_seed(seed)
    return DigitsCNN()


# ---------------------------------------------------------------------------------- counts

@pytest.mark.parametrize("amount, numel, expected", [
    (0.5, 7, 4),      # 3.5 rounds to 4 (floor would give 3)
    (0.5, 5, 2),      # 2.5 rounds half to even, as Python's round (and torch) do
    (0.3, 10, 3),
    (0.26, 10, 3),    # 2.6 -> 3 (floor would give 2)
    (1.0, 9, 9),      # the float 1.0 is everything ...
    (1, 9, 1),        # ... the int 1 is one entry
    (0, 9, 0),
    (0.0, 0, 0),
    (4, 4, 4),
])
def test_num_to_prune_hand_computed(amount, numel, expected):
    assert pruning.num_to_prune(amount, numel) == expected
    assert prune._compute_nparams_toprune(amount, numel) == expected


def test_num_to_prune_matches_torch_on_many_fractions():
    for numel in (1, 2, 3, 7, 10, 33, 100):
        for amount in torch.linspace(0, 1, 41).tolist():
            expected = prune._compute_nparams_toprune(amount, numel)
            assert pruning.num_to_prune(amount, numel) == expected


@pytest.mark.parametrize("amount, error", [
    (1.5, ValueError), (-0.1, ValueError), (-1, ValueError), (float("nan"), ValueError),
    ("0.5", TypeError), (None, TypeError), (True, TypeError), (torch.tensor(0.5), TypeError),
])
def test_num_to_prune_rejects_bad_amount(amount, error):
    with pytest.raises(error, match="amount"):
        pruning.num_to_prune(amount, 10)


def test_num_to_prune_rejects_int_amount_larger_than_numel():
    with pytest.raises(ValueError, match="amount=11"):
        pruning.num_to_prune(11, 10)


@pytest.mark.parametrize("numel, error", [(-1, ValueError), (2.0, TypeError)])
def test_num_to_prune_rejects_bad_numel(numel, error):
    with pytest.raises(error, match="numel"):
        pruning.num_to_prune(0.5, numel)


# ------------------------------------------------------------------------ magnitude (L1)

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("amount", AMOUNTS)
def test_magnitude_mask_equals_torch_l1_unstructured(shape, amount, gen):
    weight = torch.randn(shape, generator=gen)
    mask = pruning.magnitude_mask(weight, amount)
    assert mask.dtype == weight.dtype and mask.shape == weight.shape
    torch.testing.assert_close(mask, torch_mask(prune.l1_unstructured, weight, amount=amount),
                               rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("amount", [0.3, 0.5, 0.77, 3])
def test_magnitude_mask_prunes_the_smallest_magnitudes(shape, amount, gen):
    weight = torch.randn(shape, generator=gen)
    mask = pruning.magnitude_mask(weight, amount)
    assert weight.abs()[mask == 0].max() <= weight.abs()[mask == 1].min()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("amount", [0.3, 0.5, 0.77, 1, 3])
def test_magnitude_mask_with_ties_equals_torch_and_prunes_exactly_k(shape, amount, gen):
    weight = tied_tensor(shape, gen)
    mask = pruning.magnitude_mask(weight, amount)
    assert int((mask == 0).sum()) == expected_zeros(amount, weight.numel())
    torch.testing.assert_close(mask, torch_mask(prune.l1_unstructured, weight, amount=amount),
                               rtol=0, atol=0)


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
@pytest.mark.parametrize("amount", [0.3, 0.5, 0.9, 2])
def test_magnitude_mask_of_constant_tensor_prunes_exactly_k(value, amount):
    weight = torch.full((4, 5), value)
    mask = pruning.magnitude_mask(weight, amount)
    assert int((mask == 0).sum()) == expected_zeros(amount, 20)
    torch.testing.assert_close(mask, torch_mask(prune.l1_unstructured, weight, amount=amount),
                               rtol=0, atol=0)


def test_magnitude_mask_keeps_old_zeros_so_amount_is_total_sparsity(gen):
    weight = torch.randn(10, 10, generator=gen)
    once = weight * pruning.magnitude_mask(weight, 0.3)
    twice = once * pruning.magnitude_mask(once, 0.6)
    assert pruning.sparsity(twice) == 0.6
    assert torch.all(twice[once == 0] == 0)


def test_magnitude_mask_does_not_track_gradients_or_change_weight(gen):
    weight = nn.Parameter(torch.randn(6, 6, generator=gen))
    before = weight.detach().clone()
    mask = pruning.magnitude_mask(weight, 0.5)
    assert not mask.requires_grad
    assert torch.equal(weight.detach(), before)


def test_magnitude_mask_works_on_non_contiguous_weight(gen):
    weight = torch.randn(6, 8, generator=gen).t()
    torch.testing.assert_close(pruning.magnitude_mask(weight, 0.4),
                               pruning.magnitude_mask(weight.contiguous(), 0.4), rtol=0, atol=0)


# ---------------------------------------------------------------------------------- random

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("amount", AMOUNTS)
def test_random_mask_equals_torch_random_unstructured_under_same_seed(shape, amount):
    weight = torch.randn(shape)
    torch.manual_seed(123)
    expected = torch_mask(prune.random_unstructured, weight, amount=amount)
    torch.manual_seed(123)
    mask = pruning.random_mask(weight, amount)
    torch.testing.assert_close(mask, expected, rtol=0, atol=0)
    assert int((mask == 0).sum()) == expected_zeros(amount, weight.numel())


@pytest.mark.parametrize("seed", [0, 7])
def test_random_mask_with_generator_is_reproducible_and_matches_global_seed(seed):
    weight = torch.randn(9, 11)
    first = pruning.random_mask(weight, 0.4, generator=torch.Generator().manual_seed(seed))
    again = pruning.random_mask(weight, 0.4, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    global_rng = pruning.random_mask(weight, 0.4)
    other = pruning.random_mask(weight, 0.4, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(first, again) and torch.equal(first, global_rng)
    assert not torch.equal(first, other)


def test_random_mask_with_generator_leaves_global_rng_alone():
    weight = torch.randn(5, 5)
    state = torch.get_rng_state()
    pruning.random_mask(weight, 0.5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------------------------ structured

@pytest.mark.parametrize("shape", STRUCTURED_SHAPES)
@pytest.mark.parametrize("amount", STRUCTURED_AMOUNTS)
@pytest.mark.parametrize("n", [1, 2, math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured_mask_equals_torch_ln_structured(shape, amount, n, dim, gen):
    weight = torch.randn(shape, generator=gen)
    assert_same_mask_or_both_reject(prune.ln_structured, lambda: pruning.ln_structured_mask(
        weight, amount, n, dim), weight, amount, dim, n=n)


@pytest.mark.parametrize("n", [1, 2, math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [0.25, 0.5, 2])
def test_ln_structured_mask_with_tied_norms_equals_torch_and_prunes_exactly_k(n, dim, amount,
                                                                             gen):
    for weight in (torch.ones(8, 6, 2), tied_tensor((8, 6, 2), gen, levels=1)):
        mask = pruning.ln_structured_mask(weight, amount, n, dim)
        slice_alive = mask.movedim(dim, 0).reshape(weight.shape[dim], -1).amax(dim=1)
        assert int((slice_alive == 0).sum()) == expected_zeros(amount, weight.shape[dim])
        expected = torch_mask(prune.ln_structured, weight, amount=amount, n=n, dim=dim)
        torch.testing.assert_close(mask, expected, rtol=0, atol=0)


def test_ln_structured_mask_zeroes_whole_smallest_norm_rows():
    weight = torch.tensor([[3.0, 0.0], [0.5, 0.5], [-2.0, 2.0], [0.1, -0.1]])
    # L1 row norms 3, 1, 4, 0.2 -> the 2 smallest are rows 3 and 1
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert torch.equal(pruning.ln_structured_mask(weight, 0.5, 1, 0), expected)
    # max-norms per column: 3, 2 -> pruning one column removes column 1
    assert torch.equal(pruning.ln_structured_mask(weight, 1, math.inf, 1),
                       torch.tensor([[1.0, 0.0]] * 4))


def test_slice_norms_match_hand_formula(gen):
    weight = torch.randn(6, 4, 3, 3, generator=gen)
    torch.testing.assert_close(pruning.slice_norms(weight, 1, 0), weight.abs().sum(dim=(1, 2, 3)))
    torch.testing.assert_close(pruning.slice_norms(weight, 2, 1),
                               weight.pow(2).sum(dim=(0, 2, 3)).sqrt())
    torch.testing.assert_close(pruning.slice_norms(weight, math.inf, -1),
                               weight.abs().amax(dim=(0, 1, 2)))


@pytest.mark.parametrize("shape", STRUCTURED_SHAPES)
@pytest.mark.parametrize("amount", STRUCTURED_AMOUNTS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_random_structured_mask_equals_torch_random_structured_under_same_seed(shape, amount,
                                                                               dim):
    weight = torch.randn(shape)

    def make_mask():
        torch.manual_seed(2024)
        return pruning.random_structured_mask(weight, amount, dim)

    torch.manual_seed(2024)
    assert_same_mask_or_both_reject(prune.random_structured, make_mask, weight, amount, dim)


def test_random_structured_mask_with_generator_matches_global_seed():
    weight = torch.randn(12, 5)
    torch.manual_seed(3)
    global_rng = pruning.random_structured_mask(weight, 0.5, 0)
    generator = torch.Generator().manual_seed(3)
    seeded = pruning.random_structured_mask(weight, 0.5, 0, generator=generator)
    assert torch.equal(global_rng, seeded)
    assert int((seeded.amax(dim=1) == 0).sum()) == 6


# ---------------------------------------------------------------------------------- global

@pytest.mark.parametrize("amount", [0, 0.0, 0.3, 0.7, 0.95, 1.0, 100])
def test_global_magnitude_masks_equal_torch_global_unstructured(amount):
    model, reference = random_model(), random_model()
    weights = [getattr(m, n) for m, n in pruning.prunable_weights(model)]
    masks = pruning.global_magnitude_masks(weights, amount)
    prune.global_unstructured(pruning.prunable_weights(reference),
                              pruning_method=prune.L1Unstructured, amount=amount)
    expected = [m.weight_mask for m, _ in pruning.prunable_weights(reference)]
    assert len(masks) == len(expected) == 4
    for mask, torch_mask_ in zip(masks, expected):
        torch.testing.assert_close(mask, torch_mask_, rtol=0, atol=0)
    total = sum(w.numel() for w in weights)
    assert sum(int((m == 0).sum()) for m in masks) == expected_zeros(amount, total)


def test_global_magnitude_masks_rank_across_layers_not_within():
    small, large = torch.full((2, 3), 0.1), torch.full((4,), 5.0)
    small_mask, large_mask = pruning.global_magnitude_masks([small, large], 0.6)   # 6 of 10
    assert torch.all(small_mask == 0) and int(large_mask.sum()) == 4


def test_global_magnitude_masks_with_ties_equal_torch(gen):
    weights = [tied_tensor((4, 3), gen, levels=2), tied_tensor((5,), gen, levels=2)]
    holders = []
    for weight in weights:
        holder = nn.Module()
        holder.w = nn.Parameter(weight.clone())
        holders.append(holder)
    prune.global_unstructured([(h, "w") for h in holders], pruning_method=prune.L1Unstructured,
                              amount=0.45)
    for mask, holder in zip(pruning.global_magnitude_masks(weights, 0.45), holders):
        torch.testing.assert_close(mask, holder.w_mask, rtol=0, atol=0)


# ------------------------------------------------------------------------------ bad inputs

MASK_FUNCTIONS = {
    "magnitude": lambda w: pruning.magnitude_mask(w, 0.5),
    "random": lambda w: pruning.random_mask(w, 0.5),
    "ln_structured": lambda w: pruning.ln_structured_mask(w, 0.5, 1, 0),
    "random_structured": lambda w: pruning.random_structured_mask(w, 0.5, 0),
    "global": lambda w: pruning.global_magnitude_masks([w], 0.5),
}


@pytest.mark.parametrize("make_mask", MASK_FUNCTIONS.values(), ids=MASK_FUNCTIONS.keys())
def test_mask_functions_reject_integer_tensor(make_mask):
    with pytest.raises(TypeError, match=r"weight.*floating-point.*torch.int64"):
        make_mask(torch.arange(12).reshape(3, 4))


@pytest.mark.parametrize("make_mask", MASK_FUNCTIONS.values(), ids=MASK_FUNCTIONS.keys())
def test_mask_functions_reject_empty_tensor(make_mask):
    with pytest.raises(ValueError, match="weight.*empty"):
        make_mask(torch.empty(0, 4))


@pytest.mark.parametrize("make_mask", MASK_FUNCTIONS.values(), ids=MASK_FUNCTIONS.keys())
def test_mask_functions_reject_non_tensor(make_mask):
    with pytest.raises(TypeError, match="weight.*torch.Tensor"):
        make_mask([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("make_mask", [pruning.magnitude_mask, pruning.random_mask,
                                       lambda w, a: pruning.ln_structured_mask(w, a, 2, 0)])
@pytest.mark.parametrize("amount, error", [(1.5, ValueError), (-0.2, ValueError),
                                           (13, ValueError), ("all", TypeError)])
def test_mask_functions_reject_bad_amount(make_mask, amount, error):
    with pytest.raises(error, match="amount"):
        make_mask(torch.randn(3, 4), amount)


@pytest.mark.parametrize("dim", [2, -3, 5, 0.0, None])
def test_structured_masks_reject_dim_out_of_range(dim):
    weight = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"dim must be an int in \[-2, 1\]"):
        pruning.ln_structured_mask(weight, 0.5, 1, dim)
    with pytest.raises(ValueError, match="dim"):
        pruning.random_structured_mask(weight, 0.5, dim)


@pytest.mark.parametrize("n", [0, -1, float("nan"), "fro", None, True])
def test_ln_structured_mask_rejects_bad_norm_order(n):
    with pytest.raises(ValueError, match="n must be a positive number or math.inf"):
        pruning.ln_structured_mask(torch.randn(3, 4), 0.5, n, 0)


def test_structured_masks_reject_1d_weight():
    with pytest.raises(ValueError, match="weight must have at least 2 dims"):
        pruning.ln_structured_mask(torch.randn(5), 0.5, 1, 0)
    with pytest.raises(ValueError, match="weight must have at least 2 dims"):
        pruning.random_structured_mask(torch.randn(5), 0.5, 0)


def test_random_masks_reject_bad_generator():
    with pytest.raises(TypeError, match="generator"):
        pruning.random_mask(torch.randn(3, 3), 0.5, generator=0)
    with pytest.raises(TypeError, match="generator"):
        pruning.random_structured_mask(torch.randn(3, 3), 0.5, 0, generator=0)


def test_global_magnitude_masks_rejects_empty_list_and_names_bad_entry():
    with pytest.raises(ValueError, match="weights must be a non-empty"):
        pruning.global_magnitude_masks([], 0.5)
    with pytest.raises(TypeError, match=r"weights\[1\]"):
        pruning.global_magnitude_masks([torch.randn(3), torch.ones(3, dtype=torch.int32)], 0.5)


# -------------------------------------------------------------------------- applying masks

def test_apply_mask_reparametrises_like_custom_from_mask(gen):
    layer, reference = nn.Linear(6, 4), nn.Linear(6, 4)
    reference.load_state_dict(layer.state_dict())
    mask = pruning.magnitude_mask(layer.weight, 0.5)
    assert pruning.apply_mask(layer, "weight", mask) is layer
    prune.custom_from_mask(reference, "weight", mask)
    assert isinstance(layer.weight_orig, nn.Parameter)
    assert "weight_mask" in dict(layer.named_buffers())
    assert set(layer.state_dict()) == set(reference.state_dict())
    assert set(layer.state_dict()) == {"weight_orig", "weight_mask", "bias"}
    x = torch.randn(3, 6, generator=gen)
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=0)
    torch.testing.assert_close(layer.weight, layer.weight_orig * mask, rtol=0, atol=0)
    assert prune.is_pruned(layer)


def test_apply_mask_twice_multiplies_masks():
    layer = nn.Linear(4, 2)
    first = torch.tensor([[1.0, 0, 1, 1], [1, 1, 1, 1]])
    second = torch.tensor([[1.0, 1, 0, 1], [1, 1, 1, 0]])
    pruning.apply_mask(layer, "weight", first)
    pruning.apply_mask(layer, "weight", second)
    assert torch.equal(layer.weight_mask, first * second)


@pytest.mark.parametrize("name, mask, error, message", [
    ("weights", torch.ones(2, 4), ValueError, "name must name a parameter"),
    ("weight", torch.ones(4, 2), ValueError, r"mask must have the shape .*\(2, 4\)"),
    ("weight", torch.full((2, 4), 0.5), ValueError, "mask must contain only 0"),
    ("weight", [[1.0] * 4] * 2, TypeError, "mask must be a torch.Tensor"),
])
def test_apply_mask_rejects_bad_arguments(name, mask, error, message):
    with pytest.raises(error, match=message):
        pruning.apply_mask(nn.Linear(4, 2), name, mask)


def test_apply_masks_from_dict_and_from_pairs_agree_with_torch_global():
    by_dict, by_pairs, reference = random_model(), random_model(), random_model()
    pairs = pruning.prunable_weights(by_pairs)
    masks = pruning.global_magnitude_masks([getattr(m, n) for m, n in pairs], 0.6)
    pruning.apply_masks(by_dict, dict(zip(pruning.prunable_weight_names(by_dict), masks)))
    pruning.apply_masks(pairs, masks)
    prune.global_unstructured(pruning.prunable_weights(reference),
                              pruning_method=prune.L1Unstructured, amount=0.6)
    x = torch.randn(5, 1, 8, 8)
    for model in (by_dict, by_pairs, reference):
        model.eval()
    torch.testing.assert_close(by_dict(x), reference(x), rtol=0, atol=0)
    torch.testing.assert_close(by_pairs(x), reference(x), rtol=0, atol=0)
    assert pruning.overall_sparsity(by_dict) == pytest.approx(0.6, abs=1e-4)


def test_apply_masks_rejects_unknown_name_and_mismatched_lengths():
    model = random_model()
    with pytest.raises(ValueError, match="masks key 'conv9.weight'"):
        pruning.apply_masks(model, {"conv9.weight": torch.ones(3)})
    with pytest.raises(ValueError, match="one mask per"):
        pruning.apply_masks(pruning.prunable_weights(model), [torch.ones(1)])
    with pytest.raises(TypeError, match="masks must be a dict"):
        pruning.apply_masks(model, [torch.ones(1)])


def masked_training_steps(model, masks=None, steps=3):
    """A few SGD steps with momentum and weight decay, re-applying masks if given."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = torch.randn(8, 64, generator=gen), torch.randint(0, 10, (8,), generator=gen)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if masks is not None:
            pruning.keep_masks_applied(model, masks)


def plain_pruned_mlp():
    """DigitsMLP with 70 % of each weight zeroed in place (no reparametrisation) and its masks."""
    torch.manual_seed(0)
    model = DigitsMLP()
    masks = {name: pruning.magnitude_mask(model.get_parameter(name), 0.7)
             for name in pruning.prunable_weight_names(model)}
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_parameter(name).mul_(mask)
    return model, masks


def test_without_upkeep_optimizer_revives_plain_zeros():
    model, _ = plain_pruned_mlp()
    masked_training_steps(model)
    assert pruning.overall_sparsity(model) < 0.1


def test_keep_masks_applied_keeps_plain_zeros_through_momentum_and_weight_decay():
    model, masks = plain_pruned_mlp()
    masked_training_steps(model, masks)
    for name, mask in masks.items():
        weight = model.get_parameter(name)
        assert torch.all(weight[mask == 0] == 0)
        assert torch.all(weight[mask == 1] != 0)
    assert pruning.overall_sparsity(model) == pytest.approx(0.7, abs=1e-3)


def test_keep_masks_applied_refreshes_reparametrised_weights():
    torch.manual_seed(0)
    model = DigitsMLP()
    pruning.apply_masks(model, {"fc1.weight": pruning.magnitude_mask(model.fc1.weight, 0.5)})
    masked_training_steps(model)     # after the last step fc1.weight is stale
    assert not torch.equal(model.fc1.weight, model.fc1.weight_orig * model.fc1.weight_mask)
    assert pruning.keep_masks_applied(model) is model
    assert torch.equal(model.fc1.weight, model.fc1.weight_orig * model.fc1.weight_mask)
    assert pruning.sparsity(model.fc1.weight) == 0.5


def test_keep_masks_applied_rejects_mask_for_reparametrised_weight():
    model = DigitsMLP()
    mask = pruning.magnitude_mask(model.fc1.weight, 0.5)
    pruning.apply_mask(model.fc1, "weight", mask)
    with pytest.raises(ValueError, match="reparametrised"):
        pruning.keep_masks_applied(model, {"fc1.weight": mask})


def test_remove_masks_makes_pruning_permanent_like_prune_remove():
    model, reference = random_model(), random_model()
    pairs = pruning.prunable_weights(model)
    masks = pruning.global_magnitude_masks([getattr(m, n) for m, n in pairs], 0.5)
    pruning.apply_masks(pairs, masks)
    pruning.apply_masks(pruning.prunable_weights(reference), masks)
    assert pruning.remove_masks(model) is model
    for module, name in pruning.prunable_weights(reference):
        prune.remove(module, name)
    assert not prune.is_pruned(model)
    assert set(model.state_dict()) == set(reference.state_dict())
    assert set(model.state_dict()) == set(random_model().state_dict())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[key], rtol=0, atol=0)
    for (module, _), mask in zip(pruning.prunable_weights(model), masks):
        assert isinstance(module.weight, nn.Parameter)
        assert torch.all(module.weight[mask == 0] == 0)


def test_remove_masks_on_unpruned_model_changes_nothing():
    model = random_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruning.remove_masks(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# -------------------------------------------------------------------------------- sparsity

def test_sparsity_counts_exact_zeros_only():
    assert pruning.sparsity(torch.tensor([0.0, 1.0, -0.0, 1e-30])) == 0.5
    assert pruning.sparsity(torch.tensor([0, 3, 0, 0])) == 0.75      # any dtype is fine
    assert pruning.sparsity(torch.zeros(3, 3)) == 1.0
    assert pruning.sparsity(torch.ones(2)) == 0.0


def test_sparsity_rejects_empty_and_non_tensors():
    with pytest.raises(ValueError, match="tensor must not be empty"):
        pruning.sparsity(torch.empty(0))
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor"):
        pruning.sparsity([0.0, 1.0])


def test_layer_and_overall_sparsity_hand_computed():
    model = DigitsMLP()          # fc1 64*128 = 8192, fc2 128*64 = 8192, fc3 64*10 = 640
    with torch.no_grad():
        model.fc1.weight.view(-1)[:4096] = 0     # 0.5
        model.fc3.weight.view(-1)[:640] = 0      # 1.0
        model.fc1.bias.zero_()                   # biases are not counted
    assert pruning.layer_sparsity(model) == {"fc1": 0.5, "fc2": 0.0, "fc3": 1.0}
    assert pruning.overall_sparsity(model) == (4096 + 640) / (8192 + 8192 + 640)


def test_sparsity_functions_see_reparametrised_weights():
    model = random_model()
    pruning.apply_mask(model.fc, "weight", pruning.magnitude_mask(model.fc.weight, 0.4))
    assert pruning.layer_sparsity(model)["fc"] == pytest.approx(0.4, abs=1e-2)


def test_prunable_weights_and_names_list_conv_and_linear_in_order():
    model = random_model()
    pairs = pruning.prunable_weights(model)
    assert [m for m, _ in pairs] == [model.conv1[0], model.conv2[0], model.conv3[0], model.fc]
    assert {n for _, n in pairs} == {"weight"}
    assert pruning.prunable_weight_names(model) == [
        "conv1.0.weight", "conv2.0.weight", "conv3.0.weight", "fc.weight"]
    assert pruning.prunable_weight_names(model, kinds=(nn.Linear,)) == ["fc.weight"]
    assert list(pruning.layer_sparsity(model)) == ["conv1.0", "conv2.0", "conv3.0", "fc"]


@pytest.mark.parametrize("kinds", [nn.Linear, (), ("Linear",), [nn.Linear]])
def test_prunable_weights_rejects_bad_kinds(kinds):
    with pytest.raises(TypeError, match="kinds must be a non-empty tuple"):
        pruning.prunable_weights(random_model(), kinds=kinds)


def test_overall_sparsity_rejects_model_without_such_layers():
    with pytest.raises(ValueError, match="no layers of kinds"):
        pruning.overall_sparsity(DigitsMLP(), kinds=(nn.Conv2d,))


# --------------------------------------------------------------------------- issue 17 regressions


def test_random_masks_draw_nothing_when_nothing_is_pruned():
    """Finding 5: PyTorch draws no random numbers for amount 0, so the next mask differs."""
    w = torch.randn(6, 5)
    torch.manual_seed(0)
    mine = [pruning.random_mask(w, 0.0), pruning.random_mask(w, 0.5),
            pruning.random_structured_mask(w, 0, dim=0), pruning.random_structured_mask(w, 2, 0)]
    torch.manual_seed(0)
    ones = torch.ones_like(w)
    theirs = [prune.RandomUnstructured(0.0).compute_mask(w, ones),
              prune.RandomUnstructured(0.5).compute_mask(w, ones),
              prune.RandomStructured(0, dim=0).compute_mask(w, ones),
              prune.RandomStructured(2, dim=0).compute_mask(w, ones)]
    for m, t in zip(mine, theirs):
        assert torch.equal(m, t)


def test_global_masks_keep_each_weights_dtype():
    """Finding 6: the masks came back in the promoted dtype (float64 for all)."""
    weights = [torch.randn(3, 4, dtype=torch.float16), torch.randn(5, dtype=torch.float64),
               torch.randn(2, 2)]
    masks = pruning.global_magnitude_masks(weights, 0.5)
    assert [m.dtype for m in masks] == [torch.float16, torch.float64, torch.float32]


def test_global_masks_refuse_a_single_tensor():
    """Finding 9: a 2-D tensor was iterated row by row, each row a separate weight."""
    with pytest.raises(TypeError, match=r"weights must be a list of tensors, got a single tensor "
                                        r"of shape \(3, 4\); pass \[weight\]"):
        pruning.global_magnitude_masks(torch.randn(3, 4), 0.5)
