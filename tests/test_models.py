"""The kit's models: shapes, FX-traceability, fusable blocks."""

import pytest
import torch
from torch.ao.quantization import fuse_modules

from utils import models

CASES = [(models.DigitsCNN, (2, 1, 8, 8)), (models.DigitsMLP, (2, 1, 8, 8)),
         (models.DigitsLSTM, (2, 1, 8, 8)), (models.BenchmarkCNN, (2, 1, 32, 32))]


@pytest.mark.parametrize("cls, shape", CASES)
def test_output_shape(cls, shape):
    assert cls()(torch.randn(shape)).shape == (2, 10)


@pytest.mark.parametrize("cls, shape", [c for c in CASES if c[0] is not models.DigitsLSTM])
def test_traceable_by_fx_and_same_output(cls, shape):
    model = cls().eval()
    x = torch.randn(shape)
    traced = torch.fx.symbolic_trace(model)
    assert torch.equal(traced(x), model(x))


@pytest.mark.parametrize("cls, shape", [CASES[0], CASES[3]])
def test_conv_bn_relu_blocks_fuse_without_changing_outputs(cls, shape):
    model = cls().eval()
    for module in model.modules():   # non-trivial BN statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    blocks = models.conv_bn_relu_blocks(model)
    assert blocks[0] == "conv1" and len(blocks) == (3 if cls is models.DigitsCNN else 5)
    fused = fuse_modules(model, [[f"{b}.0", f"{b}.1", f"{b}.2"] for b in blocks])
    x = torch.randn(shape)
    torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-5)


def test_benchmark_cnn_is_big_enough_to_measure():
    from utils.cost import count_macs
    macs = count_macs(models.BenchmarkCNN(), torch.randn(1, 1, 32, 32))
    total = macs[0] if isinstance(macs, tuple) else macs
    assert total > 50e6


def test_fused_blocks_is_a_fused_copy_with_the_same_outputs():
    torch.manual_seed(0)
    model = models.BenchmarkCNN(width=8).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):          # statistics that matter when folded
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2)
    fused = models.fused_blocks(model)
    blocks = models.conv_bn_relu_blocks(model)
    assert all(type(getattr(fused, b)[0]).__name__ == "ConvReLU2d" for b in blocks)
    assert all(isinstance(getattr(model, b)[1], torch.nn.BatchNorm2d) for b in blocks)
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-4)
