"""Tests for utils.layers: which modules are weighted layers, and their float weights."""

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.quantized as nnq
import torch.nn.utils.prune as prune
from torch import nn

from utils import pruning
from utils.layers import (
    FLOAT_WEIGHTED_LAYERS,
    QUANTIZED_WEIGHTED_LAYERS,
    layer_weight,
    weighted_layers,
)
from utils.models import DigitsCNN


def test_layer_weight(gen):
    conv = nn.Conv2d(2, 6, 3, groups=2)
    assert layer_weight(conv).shape == (6, 1, 3, 3) and not layer_weight(conv).requires_grad
    with pytest.raises(TypeError, match="layer must be a Conv2d or Linear"):
        layer_weight(nn.ReLU())


def test_layer_weight_of_pruned_and_quantized_layers(gen):
    linear = nn.Linear(4, 3)
    prune.l1_unstructured(linear, "weight", amount=0.5)
    assert torch.equal(layer_weight(linear), linear.weight_orig.detach() * linear.weight_mask)
    quantized = nnq.Linear(4, 3)
    assert torch.equal(layer_weight(quantized), quantized.weight().dequantize())


def test_layer_weight_of_fused_float_modules_is_their_first_childs():
    conv, linear = nn.Conv2d(1, 2, 3), nn.Linear(4, 3)
    assert torch.equal(layer_weight(nni.ConvReLU2d(conv, nn.ReLU())), conv.weight.detach())
    assert torch.equal(layer_weight(nni.LinearReLU(linear, nn.ReLU())), linear.weight.detach())
    with pytest.raises(TypeError, match="layer must be a Conv2d or Linear"):
        layer_weight(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))      # not a fused module


def test_weighted_layers_in_model_order_including_fused_layers():
    model = DigitsCNN()
    names = [name for name, _ in weighted_layers(model)]
    assert names == [name for name, m in model.named_modules()
                     if isinstance(m, (nn.Conv2d, nn.Linear))]
    fused = nni.ConvReLU2d(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert [name for name, _ in weighted_layers(fused)] == ["0"]
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        weighted_layers("model")


def test_the_kinds_have_one_home():
    assert FLOAT_WEIGHTED_LAYERS == (nn.Conv2d, nn.Linear)
    assert QUANTIZED_WEIGHTED_LAYERS == (nnq.Conv2d, nnq.Linear)
    assert pruning.PRUNABLE_KINDS is FLOAT_WEIGHTED_LAYERS
