"""utils.bn_folding.fold_bn equals torch.nn.utils.fusion.fuse_conv_bn_weights, bit for bit."""

import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from utils.bn_folding import fold_bn, fold_bn_into_conv


def random_bn_stats(channels, generator):
    return (torch.randn(channels, generator=generator),                 # running mean
            torch.rand(channels, generator=generator) * 3 + 1e-3,       # running var > 0
            torch.randn(channels, generator=generator),                 # gamma
            torch.randn(channels, generator=generator))                 # beta


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (5, 7), (1, 1, 1, 1), (16, 4, 5, 1)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_bn_equals_pytorch_bit_for_bit(seed, shape, with_bias):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=gen)
    bias = torch.randn(shape[0], generator=gen) if with_bias else None
    mean, var, gamma, beta = random_bn_stats(shape[0], gen)
    eps = [1e-5, 1e-3, 0.0, 0.5, 1e-5][seed]
    got_w, got_b = fold_bn(weight, bias, mean, var, gamma, beta, eps)
    want_w, want_b = fuse_conv_bn_weights(weight, bias, mean, var, eps, gamma, beta)
    assert torch.equal(got_w, want_w.detach()) and torch.equal(got_b, want_b.detach())


def test_fold_bn_edge_cases_zero_gamma_and_tiny_variance():
    weight = torch.randn(4, 2, 3, 3)
    mean, var = torch.randn(4), torch.tensor([0.0, 1e-12, 1.0, 1e6])
    gamma, beta = torch.tensor([0.0, 1.0, -2.0, 1e-8]), torch.randn(4)
    got = fold_bn(weight, None, mean, var, gamma, beta, 1e-5)
    want = fuse_conv_bn_weights(weight, None, mean, var, 1e-5, gamma, beta)
    assert all(torch.equal(g, w.detach()) for g, w in zip(got, want))
    assert torch.equal(got[0][0], torch.zeros_like(weight[0]))   # gamma = 0 silences the channel


def test_fold_bn_into_conv_equals_fuse_conv_bn_eval_and_the_pair():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.normal_()
    bn.bias.data.normal_()
    conv.eval(), bn.eval()
    mine, theirs = fold_bn_into_conv(conv, bn), fuse_conv_bn_eval(conv, bn)
    assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(mine(x), bn(conv(x)), atol=1e-5)


def test_bad_input_names_the_argument():
    w, v = torch.randn(4, 2), torch.ones(4)
    with pytest.raises(ValueError, match="running_var"):
        fold_bn(w, None, v, torch.ones(3), v, v)
    with pytest.raises(TypeError, match="gamma"):
        fold_bn(w, None, v, v, [1.0] * 4, v)
    with pytest.raises(ValueError, match="weight"):
        fold_bn(torch.randn(4), None, v, v, v, v)
    with pytest.raises(ValueError, match="eps"):
        fold_bn(w, None, v, v, v, v, eps=-1.0)
    with pytest.raises(TypeError, match="conv and bn"):
        fold_bn_into_conv(nn.Linear(2, 2), nn.BatchNorm2d(2))
