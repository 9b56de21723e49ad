"""What a model costs: parameter counts, multiply-accumulates and bytes saved.

These count, they do not time (timing is :mod:`utils.benchmark`). Each works for float, pruned,
QAT, fused and quantized models alike, so a model and its compressed copy are counted the same way.

==============================  =============================================================
:func:`count_parameters`        number of parameter values (pruning-aware, quantized-aware)
:func:`count_nonzero_parameters`  of which non-zero
:func:`count_macs`              multiply-accumulates of the Conv2d/Linear layers, per layer
:func:`layer_macs`              multiply-accumulates of one layer call
:func:`saved_size_bytes`        bytes of ``torch.save(state_dict)`` (float or quantized)
==============================  =============================================================
"""

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn

from .layers import QUANTIZED_WEIGHTED_LAYERS, layer_weight, weighted_layers

__all__ = ["count_parameters", "count_nonzero_parameters", "MacCount", "layer_macs",
           "count_macs", "saved_size_bytes"]


# --------------------------------------------------------------------------------------------
# Size and parameter counts
# --------------------------------------------------------------------------------------------

def saved_size_bytes(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor]) -> int:
    """Bytes that ``torch.save(state_dict)`` writes (here to an in-memory buffer).

    Formula: ``len(torch.save(model.state_dict()))``. Works for quantized models too (their
    packed int8 weights serialize), so ``saved_size_bytes(float) / saved_size_bytes(int8)``
    approaches 4 for weight-dominated models. Includes buffers (BatchNorm statistics, pruning
    masks) and a few hundred bytes of pickle overhead per tensor.

    Args:
        model_or_state_dict: an ``nn.Module`` or a state dict (a Mapping of names to tensors).
    Returns:
        int, bytes.

    PyTorch counterpart: ``os.path.getsize`` of a file written by ``torch.save``.
    """
    state: Mapping[str, Any]
    if isinstance(model_or_state_dict, nn.Module):
        state = model_or_state_dict.state_dict()
    elif isinstance(model_or_state_dict, Mapping):
        state = model_or_state_dict
    else:
        raise TypeError(f"model_or_state_dict must be an nn.Module or a state dict, got "
                        f"{type(model_or_state_dict).__name__}")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def _parameter_tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    """The parameter values the forward pass uses, one tensor per parameter.

    ``model.parameters()`` plus two corrections: a parameter pruned with ``torch.nn.utils.prune``
    (``<name>_orig`` with a ``<name>_mask`` buffer) counts as the masked ``<name>``, and a
    quantized Conv2d/Linear (whose weight and bias are packed, not Parameters) contributes its
    dequantized weight and its bias.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for module in model.modules():
        if isinstance(module, QUANTIZED_WEIGHTED_LAYERS):
            yield layer_weight(module)
            if module.bias() is not None:
                yield module.bias()
        for name, parameter in module.named_parameters(recurse=False):
            pruned_name = name.removesuffix("_orig")
            if name.endswith("_orig") and hasattr(module, pruned_name + "_mask"):
                yield getattr(module, pruned_name)
            else:
                yield parameter


def count_parameters(model: nn.Module) -> int:
    """Number of parameter values: ``sum(p.numel())`` over the model's parameters.

    Counts quantized Conv2d/Linear weights and biases too (PyTorch's ``model.parameters()``
    does not see them), so a model and its quantized copy have the same count. Buffers
    (BatchNorm statistics, masks) are not parameters.

    PyTorch counterpart: ``sum(p.numel() for p in model.parameters())`` (float models).
    """
    return sum(tensor.numel() for tensor in _parameter_tensors(model))


def count_nonzero_parameters(model: nn.Module) -> int:
    """Number of non-zero parameter values, as the forward pass sees them.

    Formula: ``sum(count_nonzero(p))``, with pruned parameters counted after their mask (so
    ``1 - count_nonzero_parameters / count_parameters`` is the model's sparsity) and quantized
    weights after dequantization (a weight is zero iff its integer equals the zero point).

    PyTorch counterpart: ``sum(torch.count_nonzero(p) for p in model.parameters())``, which
    miscounts pruned (``weight_orig`` is dense) and quantized models.
    """
    return sum(int(torch.count_nonzero(tensor)) for tensor in _parameter_tensors(model))


# --------------------------------------------------------------------------------------------
# Multiply-accumulates
# --------------------------------------------------------------------------------------------

class MacCount(NamedTuple):
    """Result of :func:`count_macs`; unpacks as ``total, per_layer = count_macs(...)``."""

    total: int
    per_layer: dict[str, int]      # layer name -> MACs (summed over calls if a layer runs twice)


def layer_macs(layer: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates of one Conv2d/Linear call that produced ``output``.

    Formula: ``MACs = output.numel() * fan_in`` with ``fan_in = weight[0].numel()``, i.e.

    * Conv2d: ``N * C_out * H_out * W_out * (C_in / groups) * kh * kw``;
    * Linear: ``rows * out_features * in_features`` (rows = all leading dims, e.g. batch).

    Each output value is one dot product of length fan_in. The bias add is not counted.
    """
    return output.numel() * layer_weight(layer)[0].numel()


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every submodule in eval mode inside the block, each one's own mode restored after."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def count_macs(model: nn.Module, *example_inputs: torch.Tensor) -> MacCount:
    """Multiply-accumulates of one forward pass, in total and per Conv2d/Linear layer.

    Runs ``model(*example_inputs)`` once (eval mode, ``inference_mode``; modes restored) with a
    forward hook on every layer of :func:`weighted_layers` that adds :func:`layer_macs`. Works
    for float, QAT, fused and quantized models (quantized layers: same formula, weight read
    with ``.weight()``). Other layers (BatchNorm, ReLU, pooling, adds) are not counted: they
    are cheap next to convolutions.

    Returns:
        :class:`MacCount` ``(total, per_layer)``; MACs grow linearly with the batch size.

    PyTorch counterpart: ``torch.utils.flop_counter.FlopCounterMode`` counts FLOPs = 2 x MACs
    for float ``aten.convolution``/``addmm``/``mm`` ops, but counts *nothing* (0) for quantized
    models: the ``quantized::conv2d``/``quantized::linear`` ops have no FLOP formula registered.
    """
    per_layer: dict[str, int] = {}

    def add_macs(name):
        def hook(layer, inputs, output):
            per_layer[name] = per_layer.get(name, 0) + layer_macs(layer, output)
        return hook

    handles = [layer.register_forward_hook(add_macs(name))
               for name, layer in weighted_layers(model)]
    try:
        with _eval_mode(model), torch.inference_mode():
            model(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return MacCount(sum(per_layer.values()), per_layer)
