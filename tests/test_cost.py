"""Tests for utils.cost: parameter counts, multiply-accumulates and saved sizes."""

import copy

import pytest
import torch
import torch.ao.quantization as tq
import torch.nn.utils.prune as prune
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from utils.cost import (
    MacCount,
    count_macs,
    count_nonzero_parameters,
    count_parameters,
    layer_macs,
    saved_size_bytes,
)
from utils.layers import weighted_layers
from utils.models import BenchmarkCNN, DigitsCNN, DigitsMLP, conv_bn_relu_blocks


@pytest.fixture(autouse=True)
def fbgemm_engine(monkeypatch):
    """PyTorch's default engine here is x86; the comparisons are made with fbgemm's kernels."""
    monkeypatch.setattr(torch.backends.quantized, "engine", "fbgemm")


@pytest.fixture(autouse=True)
def seeded_initialisation():
    """Models here are built with the global RNG: make their initial weights reproducible."""
    torch.manual_seed(0)


def quantize_eager(model, example):
    """Eager post-training static quantization: fuse Conv-BN-ReLU, prepare, calibrate, convert."""
    model = copy.deepcopy(model).eval()
    wrapped = nn.Sequential(tq.QuantStub(), model, tq.DeQuantStub())
    if hasattr(model, "conv1"):
        tq.fuse_modules(model, [[f"{b}.0", f"{b}.1", f"{b}.2"] for b in conv_bn_relu_blocks(model)],
                        inplace=True)
    wrapped.qconfig = tq.get_default_qconfig("fbgemm")
    prepared = tq.prepare(wrapped)
    prepared(example)
    return tq.convert(prepared)


# --------------------------------------------------------------------------------------------
# Sizes and parameter counts
# --------------------------------------------------------------------------------------------

def test_saved_size_bytes_of_float_and_quantized_models(gen):
    model = DigitsMLP()
    size = saved_size_bytes(model)
    assert size == saved_size_bytes(model.state_dict())
    assert 4 * count_parameters(model) < size < 4 * count_parameters(model) + 20_000
    quantized = quantize_eager(model, torch.randn(32, 1, 8, 8, generator=gen))
    assert 2.5 < size / saved_size_bytes(quantized) < 4.5      # int8 weights: ~4x smaller
    with pytest.raises(TypeError, match="model_or_state_dict"):
        saved_size_bytes([1, 2])


def test_count_parameters_matches_pytorch_and_survives_quantization(gen):
    model = DigitsCNN()
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    mlp = DigitsMLP()
    quantized = quantize_eager(mlp, torch.randn(32, 1, 8, 8, generator=gen))
    assert sum(p.numel() for p in quantized.parameters()) == 0      # packed, not Parameters
    assert count_parameters(quantized) == count_parameters(mlp)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        count_parameters("model")


def test_count_nonzero_parameters_sees_pruning_masks_and_quantized_zeros(gen):
    model = DigitsMLP()
    total = count_parameters(model)
    assert count_nonzero_parameters(model) == total
    prune.l1_unstructured(model.fc1, "weight", amount=0.5)              # 4096 weights -> 2048
    assert count_parameters(model) == total                             # weight_orig, not both
    assert count_nonzero_parameters(model) == total - 64 * 128 // 2
    prune.remove(model.fc1, "weight")
    quantized = quantize_eager(model, torch.randn(32, 1, 8, 8, generator=gen))
    assert count_nonzero_parameters(quantized) <= total - 64 * 128 // 2  # zeros stay zero


# --------------------------------------------------------------------------------------------
# MACs
# --------------------------------------------------------------------------------------------

def flops_of(model, x):
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("make, shape", [(DigitsCNN, (3, 1, 8, 8)), (DigitsMLP, (5, 1, 8, 8)),
                                         (lambda: BenchmarkCNN(width=8), (2, 1, 32, 32))])
def test_count_macs_is_half_the_flop_counter_on_float_models(make, shape, gen):
    model = make().eval()
    x = torch.randn(shape, generator=gen)
    assert 2 * count_macs(model, x).total == flops_of(model, x)


def test_count_macs_formula_per_layer_with_groups_stride_and_batch(gen):
    model = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),   # 4x4 output
                          nn.Conv2d(8, 8, 3, padding=1, groups=8),              # depthwise
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    x = torch.randn(3, 4, 8, 8, generator=gen)
    total, per_layer = count_macs(model, x)
    assert per_layer == {"0": 3 * 8 * 4 * 4 * (4 // 2) * 9,
                         "1": 3 * 8 * 4 * 4 * 1 * 9,
                         "3": 3 * 10 * 128}
    assert total == sum(per_layer.values()) == flops_of(model, x) // 2
    assert isinstance(count_macs(model, x), MacCount)


def test_count_macs_of_benchmark_cnn_matches_its_docstring():
    macs_per_image = count_macs(BenchmarkCNN(), torch.zeros(1, 1, 32, 32)).total
    assert 56e6 < macs_per_image < 58e6                  # "~57 million MACs per image"


def test_count_macs_handles_fused_and_quantized_models_where_flop_counter_sees_nothing(gen):
    float_model = DigitsCNN().eval()
    x = torch.randn(4, 1, 8, 8, generator=gen)
    expected = count_macs(float_model, x)
    quantized = quantize_eager(float_model, x)
    names = [type(m).__name__ for _, m in weighted_layers(quantized)]
    assert names == ["ConvReLU2d", "ConvReLU2d", "ConvReLU2d", "Linear"]
    assert count_macs(quantized, x).total == expected.total
    assert flops_of(quantized, x) == 0                   # FlopCounterMode ignores quantized ops


def test_count_macs_leaves_training_mode_and_batchnorm_statistics_alone(gen):
    model = DigitsCNN().train()
    model.fc.eval()
    before = model.conv1[1].running_mean.clone()
    count_macs(model, torch.randn(4, 1, 8, 8, generator=gen) + 5)
    assert torch.equal(model.conv1[1].running_mean, before)
    assert model.training and model.conv1.training and not model.fc.training
    assert all(not layer._forward_hooks for _, layer in weighted_layers(model))


def test_layer_macs(gen):
    conv = nn.Conv2d(2, 6, 3, groups=2)
    assert layer_macs(conv, torch.zeros(2, 6, 5, 5)) == 2 * 6 * 25 * 9
