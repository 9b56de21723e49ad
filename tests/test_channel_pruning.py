"""utils.channel_pruning: the physically pruned model computes what the masked model computes."""

import math

import pytest
import torch
from torch import fx, nn
from torch.nn.utils import prune

from utils import channel_pruning as cp
from utils import pruning
from utils.models import BenchmarkCNN, ConvBNReLU, DigitsCNN, DigitsMLP, conv_bn_relu_blocks


def randomise_batchnorms(model, gen):
    """Give every BatchNorm non-trivial gamma, beta and running statistics.

    With the defaults (gamma 1, beta 0, mean 0, var 1) a zeroed channel stays zero through BN,
    which would hide the subtlety :func:`utils.channel_pruning.mask_channels` is about.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen))
                module.running_mean.copy_(torch.randn(c, generator=gen))
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    return model


def digits_cnn(gen):
    torch.manual_seed(0)
    return randomise_batchnorms(DigitsCNN(), gen).eval()


def benchmark_cnn(gen):
    torch.manual_seed(0)
    return randomise_batchnorms(BenchmarkCNN(width=4), gen).eval()


def random_keep(num_channels, num_kept, gen):
    return torch.randperm(num_channels, generator=gen)[:num_kept].sort().values


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def shapes(model):
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


# ------------------------------------------------------------------------ choosing channels

def test_channel_importance_is_per_filter_norm(gen):
    conv = nn.Conv2d(3, 6, 3)
    w = conv.weight.detach()
    torch.testing.assert_close(cp.channel_importance(conv), w.abs().sum(dim=(1, 2, 3)))
    torch.testing.assert_close(cp.channel_importance(conv, n=2), w.pow(2).sum(dim=(1, 2, 3)).sqrt())
    assert cp.channel_importance(conv, n=math.inf).shape == (6,)


@pytest.mark.parametrize("amount", [0, 0.25, 0.5, 0.8, 1, 5])
@pytest.mark.parametrize("n", [1, 2, math.inf])
def test_channels_to_keep_are_the_channels_torch_ln_structured_keeps(amount, n):
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 8, 3)
    keep = cp.channels_to_keep(conv, amount, n)
    prune.ln_structured(conv, "weight", amount=amount, n=n, dim=0)
    torch_kept = conv.weight_mask.amax(dim=(1, 2, 3)).nonzero().flatten()
    assert keep.dtype == torch.long
    assert torch.equal(keep, torch_kept)
    assert torch.equal(keep, keep.sort().values)


def test_channels_to_keep_with_tied_norms_equals_torch():
    conv = nn.Conv2d(2, 10, 1)
    with torch.no_grad():
        norms = torch.tensor([1.0, 2, 1, 2, 1, 2, 1, 2, 1, 1])
        conv.weight.copy_(norms.view(10, 1, 1, 1).expand(10, 2, 1, 1))
    keep = cp.channels_to_keep(conv, 0.5)
    assert len(keep) == 5 and {1, 3, 5, 7} <= set(keep.tolist())   # plus one of the tied 1s
    prune.ln_structured(conv, "weight", amount=0.5, n=1, dim=0)
    assert torch.equal(keep, conv.weight_mask.amax(dim=(1, 2, 3)).nonzero().flatten())


def test_channels_to_keep_hand_computed_and_keeps_at_least_one():
    conv = nn.Conv2d(1, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, -3.0, 0.1, 2.0]).view(4, 1, 1, 1))
    assert cp.channels_to_keep(conv, 0.5).tolist() == [1, 3]
    assert cp.channels_to_keep(conv, 1).tolist() == [0, 1, 3]      # int: one channel goes
    assert cp.channels_to_keep(conv, 1.0).tolist() == [1]
    assert cp.channels_to_keep(conv, 4).tolist() == [1]
    assert cp.channels_to_keep(conv, 0).tolist() == [0, 1, 2, 3]


def test_channels_to_keep_rejects_bad_arguments():
    with pytest.raises(TypeError, match="conv must be an nn.Conv2d"):
        cp.channels_to_keep(nn.Linear(3, 3), 0.5)
    with pytest.raises(ValueError, match="amount"):
        cp.channels_to_keep(nn.Conv2d(1, 4, 1), 1.5)
    with pytest.raises(ValueError, match="amount=5"):
        cp.channels_to_keep(nn.Conv2d(1, 4, 1), 5)
    with pytest.raises(ValueError, match="n must be"):
        cp.channels_to_keep(nn.Conv2d(1, 4, 1), 0.5, n=0)


# ------------------------------------------------------------------------ finding consumers

def test_find_consumer_in_digits_and_benchmark_cnn(gen):
    model = digits_cnn(gen)
    assert cp.find_consumer(model, "conv1") is model.conv2[0]
    assert cp.find_consumer(model, "conv2") is model.conv3[0]       # across the max pool
    assert cp.find_consumer(model, "conv3") is model.fc             # across avgpool + flatten
    bench = benchmark_cnn(gen)
    blocks = conv_bn_relu_blocks(bench)
    consumers = [cp.find_consumer(bench, name) for name in blocks]
    assert consumers == [getattr(bench, name)[0] for name in blocks[1:]] + [bench.fc]


class FlattenThenLinear(nn.Module):
    """Unsupported: the Linear reads C*H*W features, not one per channel."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvBNReLU(1, 4)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.conv1(x)))


class PlainConvAfterBlock(nn.Module):
    """Unsupported: a bare Conv2d (no BatchNorm) after the block."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvBNReLU(1, 4)
        self.conv2 = nn.Conv2d(4, 4, 3)


class BlockAtTheEnd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvBNReLU(1, 4)


class LinearWithoutPool(nn.Module):
    """Unsupported: no global pool registered, so a Linear's features need not be channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvBNReLU(1, 4)
        self.fc = nn.Linear(4, 10)


class WrongWidthAfterPool(nn.Module):
    """Unsupported: the Linear after the pool does not read 4 features."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvBNReLU(1, 4)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)


@pytest.mark.parametrize("model, message", [
    (FlattenThenLinear(), "after block 'conv1' comes Flatten"),
    (PlainConvAfterBlock(), "after block 'conv1' comes Conv2d"),
    (BlockAtTheEnd(), "nothing after block 'conv1'"),
    (LinearWithoutPool(), "after block 'conv1' comes Linear"),
    (WrongWidthAfterPool(), "'fc' does not read the 4 channels of 'conv1'"),
])
def test_unsupported_layouts_raise(model, message):
    with pytest.raises(ValueError, match=f"unsupported model layout: {message}"):
        cp.prune_conv_channels(model, "conv1", [0, 1])
    with pytest.raises(ValueError, match="unsupported model layout"):
        cp.prune_model_channels(model, 0.5)


def test_model_without_blocks_raises():
    with pytest.raises(ValueError, match="DigitsMLP has none"):
        cp.prune_model_channels(DigitsMLP(), 0.5)


# -------------------------------------------------------------- the masked reference itself

def block_outputs(model, x):
    """Output of every ConvBNReLU block for input ``x``."""
    outputs = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda module, inputs, output, name=name: outputs.__setitem__(name, output))
        for name in conv_bn_relu_blocks(model)]
    model(x)
    for hook in hooks:
        hook.remove()
    return outputs


def test_mask_channels_silences_exactly_the_removed_channels(gen):
    model = digits_cnn(gen)
    keep = random_keep(32, 20, gen)
    removed = torch.tensor([c for c in range(32) if c not in keep.tolist()])
    masked = cp.mask_channels(model, {"conv2": keep})
    x = torch.randn(6, 1, 8, 8, generator=gen)
    out = block_outputs(masked, x)["conv2"]
    assert torch.all(out[:, removed] == 0)
    torch.testing.assert_close(out[:, keep], block_outputs(model, x)["conv2"][:, keep])


def test_zeroing_conv_rows_alone_is_not_channel_removal(gen):
    """The subtlety: BN turns a zeroed conv row into beta - mean*gamma/sqrt(var+eps) != 0."""
    model = digits_cnn(gen)
    keep = {"conv2": random_keep(32, 16, gen)}
    rows_only = cp.mask_channels(model, keep)
    with torch.no_grad():           # undo the BN part of the mask: only the conv rows stay zeroed
        rows_only.conv2[1].weight.copy_(model.conv2[1].weight)
        rows_only.conv2[1].bias.copy_(model.conv2[1].bias)
    x = torch.randn(6, 1, 8, 8, generator=gen)
    pruned = cp.prune_channels(model, keep)
    assert not torch.allclose(rows_only(x), pruned(x), atol=1e-3)
    torch.testing.assert_close(cp.mask_channels(model, keep)(x), pruned(x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- physical equivalence

@pytest.mark.parametrize("block_name, width, num_kept", [
    ("conv1", 16, 5), ("conv2", 32, 11), ("conv3", 64, 40), ("conv3", 64, 1)])
def test_prune_conv_channels_equals_masked_model(block_name, width, num_kept, gen):
    model = digits_cnn(gen)
    keep = random_keep(width, num_kept, gen)
    pruned = cp.prune_conv_channels(model, block_name, keep)
    masked = cp.mask_channels(model, {block_name: keep})
    x = torch.randn(16, 1, 8, 8, generator=gen)
    torch.testing.assert_close(pruned(x), masked(x), rtol=1e-5, atol=1e-5)


def test_prune_conv_channels_slices_conv_bn_and_consumer(gen):
    model = digits_cnn(gen)
    keep = torch.tensor([0, 3, 4, 9, 15])
    pruned = cp.prune_conv_channels(model, "conv1", keep)
    conv, bn, nxt = pruned.conv1[0], pruned.conv1[1], pruned.conv2[0]
    assert torch.equal(conv.weight, model.conv1[0].weight[keep])
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(bn, name), getattr(model.conv1[1], name)[keep]), name
    assert torch.equal(nxt.weight, model.conv2[0].weight[:, keep])
    assert (conv.out_channels, bn.num_features, nxt.in_channels) == (5, 5, 5)
    assert isinstance(conv.weight, nn.Parameter) and isinstance(nxt.weight, nn.Parameter)
    assert "running_mean" in dict(bn.named_buffers())


def test_prune_last_block_slices_the_linear_inputs(gen):
    model = digits_cnn(gen)
    keep = torch.arange(0, 64, 2)
    pruned = cp.prune_conv_channels(model, "conv3", keep)
    assert torch.equal(pruned.fc.weight, model.fc.weight[:, keep])
    assert torch.equal(pruned.fc.bias, model.fc.bias)
    assert pruned.fc.in_features == 32


def test_prune_channels_on_all_blocks_equals_masked_model_and_has_smaller_shapes(gen):
    model = digits_cnn(gen)
    keep = {"conv1": random_keep(16, 7, gen), "conv2": random_keep(32, 12, gen),
            "conv3": random_keep(64, 30, gen)}
    pruned = cp.prune_channels(model, keep)
    x = torch.randn(16, 1, 8, 8, generator=gen)
    torch.testing.assert_close(pruned(x), cp.mask_channels(model, keep)(x), rtol=1e-5, atol=1e-5)
    assert shapes(pruned) == shapes(DigitsCNN(widths=(7, 12, 30)))


def test_prune_channels_equivalence_holds_in_train_mode_too(gen):
    model = digits_cnn(gen).train()
    keep = {"conv1": random_keep(16, 9, gen), "conv3": random_keep(64, 20, gen)}
    x = torch.randn(16, 1, 8, 8, generator=gen)
    pruned, masked = cp.prune_channels(model, keep), cp.mask_channels(model, keep)
    torch.testing.assert_close(pruned(x), masked(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("amount, widths", [(0.5, (8, 16, 32)), (0.25, (12, 24, 48)),
                                            (1.0, (1, 1, 1)), (0, (16, 32, 64))])
def test_prune_model_channels_digits_cnn(amount, widths, gen):
    model = digits_cnn(gen)
    pruned = cp.prune_model_channels(model, amount)
    keep = {name: cp.channels_to_keep(getattr(model, name)[0], amount)
            for name in conv_bn_relu_blocks(model)}
    x = torch.randn(8, 1, 8, 8, generator=gen)
    torch.testing.assert_close(pruned(x), cp.mask_channels(model, keep)(x), rtol=1e-5, atol=1e-5)
    assert shapes(pruned) == shapes(DigitsCNN(widths=widths))
    c1, c2, c3 = widths
    # conv: k*k*C_in*C_out, BN: 2*C_out, fc: 10*C3 + 10
    assert count_parameters(pruned) == (9 * 1 * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2
                                        + 9 * c2 * c3 + 2 * c3 + 10 * c3 + 10)


def test_prune_model_channels_benchmark_cnn(gen):
    model = benchmark_cnn(gen)
    pruned = cp.prune_model_channels(model, 0.5, n=2)
    keep = {name: cp.channels_to_keep(getattr(model, name)[0], 0.5, n=2)
            for name in conv_bn_relu_blocks(model)}
    x = torch.randn(2, 1, 32, 32, generator=gen)
    torch.testing.assert_close(pruned(x), cp.mask_channels(model, keep)(x), rtol=1e-5, atol=1e-5)
    assert shapes(pruned) == shapes(BenchmarkCNN(width=2))
    assert count_parameters(pruned) < count_parameters(model) / 3


def test_pruned_model_is_fx_traceable(gen):
    pruned = cp.prune_model_channels(digits_cnn(gen), 0.5)
    traced = fx.symbolic_trace(pruned)
    x = torch.randn(4, 1, 8, 8, generator=gen)
    torch.testing.assert_close(traced(x), pruned(x), rtol=0, atol=0)
    assert traced.get_submodule("conv2.0").in_channels == 8


def test_pruning_does_not_modify_the_input_model(gen):
    model = digits_cnn(gen)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    cp.prune_model_channels(model, 0.5)
    cp.mask_channels(model, {"conv1": [0, 1]})
    assert shapes(model) == shapes(DigitsCNN())
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())


def test_pruned_model_trains(gen):
    pruned = cp.prune_model_channels(digits_cnn(gen).train(), 0.5)
    x, y = torch.randn(8, 1, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    nn.functional.cross_entropy(pruned(x), y).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in pruned.parameters())


# ------------------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("keep, error, message", [
    ([], ValueError, "keep for 'conv1' must keep at least one channel"),
    ([0, 16], ValueError, r"keep for 'conv1' must hold distinct indices in \[0, 15\]"),
    ([-1, 2], ValueError, "distinct indices"),
    ([2, 2, 3], ValueError, "distinct indices"),
    ([0.0, 1.0], TypeError, "keep for 'conv1' must be a 1-D sequence of int"),
    ([[0, 1]], TypeError, "1-D"),
    ([True, False], TypeError, "int channel indices"),
])
def test_bad_keep_raises(keep, error, message, gen):
    with pytest.raises(error, match=message):
        cp.prune_conv_channels(digits_cnn(gen), "conv1", keep)


def test_bad_block_name_and_plan_raise(gen):
    model = digits_cnn(gen)
    with pytest.raises(ValueError, match=r"block_name must name a ConvBNReLU child .*'conv1'"):
        cp.prune_conv_channels(model, "fc", [0])
    with pytest.raises(TypeError, match="keep_by_block must be a dict"):
        cp.prune_channels(model, [("conv1", [0])])
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        cp.prune_channels("model", {})


def test_reparametrised_model_is_rejected_until_masks_are_removed(gen):
    model = digits_cnn(gen)
    conv = model.conv1[0]
    pruning.apply_mask(conv, "weight", pruning.ln_structured_mask(conv.weight, 0.5, 1, 0))
    with pytest.raises(ValueError, match="remove_masks"):
        cp.prune_model_channels(model, 0.5)
    pruning.remove_masks(model)
    pruned = cp.prune_model_channels(model, 0.5)
    assert pruned.conv1[0].out_channels == 8
