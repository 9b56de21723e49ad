"""Channel pruning: physically remove conv output channels to get a smaller, faster model.

A zero in a mask saves nothing at run time: the dense kernels still multiply by it. Removing a
whole output channel ``c`` of a :class:`~utils.models.ConvBNReLU` block does save work, but it
touches three layers, which must be cut consistently:

1. the block's conv: row ``c`` of its weight, shape (C_out, C_in, kH, kW) -> (C_out - r, ...);
2. the block's BatchNorm: entry ``c`` of ``weight``, ``bias``, ``running_mean``, ``running_var``;
3. the *consumer* of the block's output: input channel ``c`` of the next block's conv (weight
   dim 1), or input feature ``c`` of the final ``nn.Linear`` when a global average pool plus
   flatten sits in between (pooling, max or average, keeps channels apart, so it is skipped).

The consumer is found from the order of the model's children, which for the kit's models
(``DigitsCNN``, ``BenchmarkCNN``) is the forward order; layouts this module cannot vouch for
raise a ``ValueError``.

Every function returns a new model (a deep copy) and leaves its input alone, so the labs can
compare the original, the masked reference (:func:`mask_channels`) and the pruned model.

PyTorch counterpart: ``prune.ln_structured(conv, "weight", amount, n, dim=0)`` picks the same
channels (:func:`channels_to_keep`) but only *masks* them; PyTorch has no function that shrinks
the layers (libraries such as Torch-Pruning do it by tracing the dependency graph).
"""

import copy
from collections.abc import Mapping
from typing import cast

import torch
from torch import nn
from torch.nn.utils import prune

from .models import ConvBNReLU, conv_bn_relu_blocks
from .pruning import num_to_prune, slice_norms

#: Children allowed between a block and its consumer: they act on each channel separately.
CHANNEL_PRESERVING = (nn.MaxPool2d, nn.AvgPool2d, nn.ReLU, nn.Identity, nn.Dropout)


# --------------------------------------------------------------------------------------------
# Choosing channels
# --------------------------------------------------------------------------------------------

def channel_importance(conv: nn.Conv2d, n: float = 1) -> torch.Tensor:
    """Ln norm of each output channel (filter) of a conv: the pruning criterion.

    Formula: ``importance[c] = ||W[c, :, :, :]||_n`` (Li et al. 2017 use n = 1).

    Shapes: conv weight (C_out, C_in, kH, kW) -> (C_out,).

    PyTorch counterpart: the norms ``prune.ln_structured(conv, "weight", amount, n, dim=0)``
    ranks (``prune._compute_norm``); see :func:`utils.pruning.slice_norms`.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    return slice_norms(conv.weight, n, dim=0)


def channels_to_keep(conv: nn.Conv2d, amount: float | int, n: float = 1) -> torch.Tensor:
    """Sorted indices of the output channels to keep: those with the largest Ln norm.

    Formula: ``r = num_to_prune(amount, C_out)`` channels go (``amount`` a fraction in [0, 1]
    or an int count, as in :func:`utils.pruning.num_to_prune`); the kept ones are
    ``sorted(topk(channel_importance(conv, n), max(1, C_out - r)))``. At least one channel is
    always kept, so even ``amount=1.0`` leaves a working layer.

    Shapes: conv with C_out output channels -> LongTensor (C_kept,), increasing.

    PyTorch counterpart: the channels (rows along dim 0) that
    ``prune.ln_structured(conv, "weight", amount, n, dim=0)`` leaves non-zero, ties included
    (same norms, same ``topk``), whenever it keeps at least one.
    """
    importance = channel_importance(conv, n)
    num_kept = max(1, conv.out_channels - num_to_prune(amount, conv.out_channels))
    return torch.topk(importance, num_kept).indices.sort().values


# --------------------------------------------------------------------------------------------
# Finding the layers to cut
# --------------------------------------------------------------------------------------------

def _block(model, block_name):
    """The ``ConvBNReLU`` child ``block_name`` of ``model``, checked to be prunable."""
    names = conv_bn_relu_blocks(model)
    if block_name not in names:
        raise ValueError(f"block_name must name a ConvBNReLU child of the model, one of {names}, "
                         f"got {block_name!r}")
    block = getattr(model, block_name)
    conv, bn = block[0], block[1]
    if not (isinstance(conv, nn.Conv2d) and conv.groups == 1
            and isinstance(bn, nn.BatchNorm2d) and bn.affine):
        raise ValueError(f"block {block_name!r} must hold an ungrouped Conv2d then an affine "
                         f"BatchNorm2d (not fused, not depthwise), got {type(conv).__name__}, "
                         f"{type(bn).__name__}")
    return block


def _is_global_pool(module):
    """True for a pooling layer whose output is 1x1, after which flatten gives C features."""
    return (isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
            and module.output_size in (1, (1, 1)))


def _input_channels(layer):
    """How many channels (conv) or features (linear) ``layer`` reads."""
    return layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features


def find_consumer(model: nn.Module, block_name: str) -> nn.Conv2d | nn.Linear:
    """The layer reading the output channels of block ``block_name``: its *consumer*.

    Walks the children after the block, in order: channel-preserving layers
    (:data:`CHANNEL_PRESERVING`) are skipped; a global pool (``AdaptiveAvgPool2d(1)``) is
    skipped and makes a following ``nn.Linear`` valid (flatten then gives one feature per
    channel); the first ``ConvBNReLU`` (its conv) or ``nn.Linear`` is the consumer.
    Anything else raises ``ValueError``: cutting channels there could not be done safely.

    Shapes: the consumer's weight is (C_next, C_out, kH, kW) or (out_features, C_out); its
    dim 1 matches the block's output channels.

    PyTorch counterpart: none (``torch.fx`` tracing is the general way to find consumers).
    """
    conv = _block(model, block_name)[0]
    children = list(model.named_children())
    names = [name for name, _ in children]
    after = children[names.index(block_name) + 1:]
    pooled_to_1x1 = False
    for name, module in after:
        if isinstance(module, ConvBNReLU) or (isinstance(module, nn.Linear) and pooled_to_1x1):
            consumer = cast(nn.Conv2d, module[0]) if isinstance(module, ConvBNReLU) else module
            groups = getattr(consumer, "groups", 1)
            if _input_channels(consumer) != conv.out_channels or groups != 1:
                raise ValueError(f"unsupported model layout: {name!r} does not read the "
                                 f"{conv.out_channels} channels of {block_name!r} one to one")
            return consumer
        if _is_global_pool(module):
            pooled_to_1x1 = True
        elif not isinstance(module, CHANNEL_PRESERVING):
            raise ValueError(f"unsupported model layout: after block {block_name!r} comes "
                             f"{type(module).__name__} {name!r}; expected pooling, then a "
                             f"ConvBNReLU, or AdaptiveAvgPool2d(1) then nn.Linear")
    raise ValueError(f"unsupported model layout: nothing after block {block_name!r} reads its "
                     f"output channels")


def _checked_keep(keep, num_channels, block_name):
    """``keep`` as a sorted LongTensor of distinct channel indices in [0, num_channels)."""
    keep = torch.as_tensor(keep)
    if keep.numel() == 0:
        raise ValueError(f"keep for {block_name!r} must keep at least one channel, got none")
    if keep.is_floating_point() or keep.dtype == torch.bool or keep.dim() != 1:
        raise TypeError(f"keep for {block_name!r} must be a 1-D sequence of int channel indices, "
                        f"got dtype {keep.dtype} and shape {tuple(keep.shape)}")
    if keep.min() < 0 or keep.max() >= num_channels or keep.unique().numel() != keep.numel():
        raise ValueError(f"keep for {block_name!r} must hold distinct indices in "
                         f"[0, {num_channels - 1}], got {keep.tolist()}")
    return keep.long().sort().values


def _check_not_reparametrised(model):
    """Raise unless ``model`` is a module free of ``torch.nn.utils.prune`` hooks (they go stale)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if prune.is_pruned(model):
        raise ValueError("model must not carry torch.nn.utils.prune reparametrisations; "
                         "call utils.pruning.remove_masks(model) first")


def _check_keep_by_block(keep_by_block):
    """Raise unless ``keep_by_block`` is a dict ``{block name: channel indices to keep}``."""
    if not isinstance(keep_by_block, Mapping):
        raise TypeError(f"keep_by_block must be a dict {{block name: channel indices to keep}}, "
                        f"got {type(keep_by_block).__name__}")


# --------------------------------------------------------------------------------------------
# Cutting tensors
# --------------------------------------------------------------------------------------------

def _keep_entries(module, tensor_name, dim, keep):
    """Replace ``module.<tensor_name>`` (parameter, buffer or None) by its ``keep`` slices."""
    tensor = getattr(module, tensor_name)
    if tensor is None:
        return
    kept = tensor.detach().index_select(dim, keep.to(tensor.device))
    if isinstance(tensor, nn.Parameter):
        kept = nn.Parameter(kept, requires_grad=tensor.requires_grad)
    setattr(module, tensor_name, kept)


def _keep_output_channels(conv, bn, keep):
    """Cut a conv's output channels (weight rows, bias) and its BatchNorm's matching entries."""
    for name in ("weight", "bias"):
        _keep_entries(conv, name, 0, keep)
    for name in ("weight", "bias", "running_mean", "running_var"):
        _keep_entries(bn, name, 0, keep)
    conv.out_channels = bn.num_features = len(keep)


def _keep_input_channels(consumer, keep):
    """Cut the consumer's inputs: weight dim 1 of a Conv2d (C_in) or of a Linear (in_features)."""
    _keep_entries(consumer, "weight", 1, keep)
    if isinstance(consumer, nn.Conv2d):
        consumer.in_channels = len(keep)
    else:
        consumer.in_features = len(keep)


# --------------------------------------------------------------------------------------------
# Pruning models
# --------------------------------------------------------------------------------------------

def prune_channels(model: nn.Module, keep_by_block: Mapping[str, torch.Tensor]) -> nn.Module:
    """A new, smaller copy of ``model`` keeping only the given output channels of each block.

    For each ``block_name: keep`` item: the block's conv keeps weight rows ``keep`` (shape
    (C_out, C_in, kH, kW) -> (len(keep), C_in, kH, kW)), its BatchNorm keeps ``weight``,
    ``bias``, ``running_mean``, ``running_var`` at ``keep``, and its consumer
    (:func:`find_consumer`) keeps input channels / features ``keep`` (dim 1 of its weight).
    ``in_channels``/``out_channels``/``num_features``/``in_features`` are updated to match.
    All choices are read against the original model, so blocks can be listed in any order.

    The result gives the outputs ``model`` gives with those channels silenced
    (:func:`mask_channels`), up to float rounding; ``model`` itself is not modified.

    PyTorch counterpart: none in ``torch.nn.utils.prune`` (which only masks).
    """
    _check_not_reparametrised(model)
    _check_keep_by_block(keep_by_block)
    pruned = copy.deepcopy(model)
    for block_name, keep in keep_by_block.items():
        block = _block(pruned, block_name)
        keep = _checked_keep(keep, block[0].out_channels, block_name)
        consumer = find_consumer(pruned, block_name)
        _keep_output_channels(block[0], block[1], keep)
        _keep_input_channels(consumer, keep)
    return pruned


def prune_conv_channels(model: nn.Module, block_name: str, keep: torch.Tensor) -> nn.Module:
    """A new copy of ``model`` with only output channels ``keep`` of one ``ConvBNReLU`` block.

    Shapes: block conv (C_out, C_in, kH, kW) -> (len(keep), C_in, kH, kW); its BatchNorm's
    four per-channel tensors (C_out,) -> (len(keep),); the consumer's weight
    (C_next, C_out, kH, kW) -> (C_next, len(keep), kH, kW), or (out, C_out) -> (out, len(keep))
    for the final Linear. See :func:`prune_channels`.
    """
    return prune_channels(model, {block_name: keep})


def prune_model_channels(model: nn.Module, amount: float | int, n: float = 1) -> nn.Module:
    """A new copy of ``model`` with ``amount`` of the output channels of *every* block removed.

    Each block keeps :func:`channels_to_keep` of its conv (largest Ln norms, at least one),
    all measured on the original weights (independent, not greedy, choice in the terms of
    Li et al. 2017). For ``DigitsCNN(widths=(16, 32, 64))`` and ``amount=0.5`` the result has
    the shapes of ``DigitsCNN(widths=(8, 16, 32))``: about a quarter of the parameters and MACs.

    PyTorch counterpart: ``prune.ln_structured(conv, "weight", amount, n, dim=0)`` on every conv
    picks the same channels, but only masks them.
    """
    _check_not_reparametrised(model)
    blocks = conv_bn_relu_blocks(model)
    if not blocks:
        raise ValueError(f"model must have ConvBNReLU children to prune (like DigitsCNN or "
                         f"BenchmarkCNN), {type(model).__name__} has none")
    keep_by_block = {name: channels_to_keep(getattr(model, name)[0], amount, n) for name in blocks}
    return prune_channels(model, keep_by_block)


@torch.no_grad()
def mask_channels(model: nn.Module, keep_by_block: Mapping[str, torch.Tensor]) -> nn.Module:
    """The reference for :func:`prune_channels`: a copy of ``model`` whose removed channels give 0.

    For each removed output channel ``c`` of a block: ``conv.weight[c] = 0`` *and*
    ``bn.weight[c] = bn.bias[c] = 0``.

    Zeroing the conv row alone is not enough. With input 0, BatchNorm (eval mode) still outputs
    ``y_c = gamma_c * (0 - mean_c) / sqrt(var_c + eps) + beta_c``, usually not 0, and after the
    ReLU this constant reaches the next layer. Physically removing the channel removes that
    constant too, so the faithful reference must silence the BatchNorm as well: with
    ``gamma_c = beta_c = 0``, ``y_c = 0`` whatever the input (in train mode too), ``ReLU(0) = 0``,
    and the consumer's weights for channel ``c`` multiply zeros, exactly as if they were gone.
    (Real channel pruning is therefore *not* the same as masking filter rows: the lost constant
    is part of the accuracy drop, and fine-tuning recovers it.)

    Shapes unchanged. ``model`` is not modified.
    """
    _check_not_reparametrised(model)
    _check_keep_by_block(keep_by_block)
    masked = copy.deepcopy(model)
    for block_name, keep in keep_by_block.items():
        block = _block(masked, block_name)
        conv, bn = block[0], block[1]
        removed = torch.ones(conv.out_channels, dtype=torch.bool)
        removed[_checked_keep(keep, conv.out_channels, block_name)] = False
        for tensor in (conv.weight, bn.weight, bn.bias):
            tensor[removed] = 0
    return masked


__all__ = [
    "CHANNEL_PRESERVING", "channel_importance", "channels_to_keep", "find_consumer",
    "prune_channels", "prune_conv_channels", "prune_model_channels", "mask_channels",
]
