"""Which modules are weighted layers, and their weights, float or quantized.

Pruning, quantization, MAC counts and the weight plots all work on the same layers: Conv2d and
Linear, in whichever form the model holds them (float, QAT, fused, or PyTorch's quantized
modules whose packed weight is read with ``.weight()``).

==================================  =========================================================
:data:`FLOAT_WEIGHTED_LAYERS`       float layers with a ``.weight`` Parameter
:data:`QUANTIZED_WEIGHTED_LAYERS`   quantized layers with a packed ``.weight()``
:func:`weighted_layers`             ``[(name, module)]`` of both kinds, in model order
:func:`layer_weight`                a layer's weight as a float tensor (dequantized if needed)
==================================  =========================================================
"""

import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.quantized as nnq
from torch import nn

__all__ = ["FLOAT_WEIGHTED_LAYERS", "QUANTIZED_WEIGHTED_LAYERS", "weighted_layers",
           "layer_weight"]

#: Float layers with a ``.weight`` Parameter. Subclasses are included: QAT modules
#: (``torch.ao.nn.qat``), fused QAT modules (``ConvBn2d``, ``ConvBnReLU2d``, ``LinearReLU``)
#: and layers inside fused float modules (``torch.ao.nn.intrinsic.ConvReLU2d`` is a Sequential
#: whose child ``0`` is an ``nn.Conv2d``). These are also the layers :mod:`utils.pruning` prunes
#: (``pruning.PRUNABLE_KINDS`` is this tuple).
FLOAT_WEIGHTED_LAYERS: tuple[type[nn.Conv2d], type[nn.Linear]] = (nn.Conv2d, nn.Linear)

#: Quantized layers, whose weight is packed and read with ``.weight()`` (a method). Subclasses
#: include ``ConvReLU2d``, ``ConvAdd2d``, ``LinearReLU`` and dynamic ``quantized.dynamic.Linear``.
QUANTIZED_WEIGHTED_LAYERS: tuple[type[nnq.Conv2d], type[nnq.Linear]] = (nnq.Conv2d, nnq.Linear)


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(name, module)]`` of the model's Conv2d and Linear layers, float or quantized.

    Includes QAT and fused variants and PyTorch's quantized ``Conv2d``/``Linear`` (and their
    ``ConvReLU2d``/``LinearReLU`` subclasses): see ``FLOAT_WEIGHTED_LAYERS`` and
    ``QUANTIZED_WEIGHTED_LAYERS``. In ``model.named_modules()`` order.

    PyTorch counterpart: ``[(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, FLOAT_WEIGHTED_LAYERS + QUANTIZED_WEIGHTED_LAYERS)]


def layer_weight(layer: nn.Module) -> torch.Tensor:
    """A Conv2d/Linear layer's weight as a float tensor, detached.

    Float layers: ``layer.weight`` (for a layer pruned with ``torch.nn.utils.prune`` that is the
    masked weight ``weight_orig * weight_mask``). A fused float module
    (``torch.ao.nn.intrinsic.ConvReLU2d``, ``LinearReLU``, ...: what ``prepare_fx`` puts in
    place of Conv-BN-ReLU, BatchNorm already folded in) holds the layer as its child ``0``: that
    child's weight. Quantized layers have no ``.weight`` Parameter: ``layer.weight()`` returns
    the quantized weight, here dequantized.
    Shape ``(out, in/groups, kh, kw)`` for Conv2d, ``(out, in)`` for Linear.

    PyTorch counterpart: ``layer.weight.detach()`` (float), ``layer[0].weight.detach()`` (fused)
    or ``layer.weight().dequantize()`` (quantized).
    """
    if isinstance(layer, QUANTIZED_WEIGHTED_LAYERS):
        return layer.weight().dequantize()
    if isinstance(layer, FLOAT_WEIGHTED_LAYERS):
        return layer.weight.detach()
    if isinstance(layer, nni._FusedModule) and isinstance(layer[0], FLOAT_WEIGHTED_LAYERS):
        return layer[0].weight.detach()
    raise TypeError(f"layer must be a Conv2d or Linear layer (float or quantized), got "
                    f"{type(layer).__name__}")
