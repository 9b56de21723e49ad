"""Folding BatchNorm into the convolution (or linear layer) before it.

In eval mode a BatchNorm is a fixed per-channel affine map of the layer's output
``z = W * x + b``::

    BN(z)_c = gamma_c * (z_c - mean_c) / sqrt(var_c + eps) + beta_c

Writing ``s_c = gamma_c / sqrt(var_c + eps)``, the two layers are one layer with::

    W'[c] = s_c * W[c]                    (every weight of output channel c)
    b'_c  = s_c * (b_c - mean_c) + beta_c  (b_c = 0 when the layer has no bias)

so the BatchNorm costs nothing at inference. Every int8 path folds it before quantizing the
weights: FX ``prepare_fx`` in eval mode (``torch.ao.nn.intrinsic.ConvBnReLU2d`` then
``fuse_conv_bn_eval``), PT2E ``prepare_pt2e`` (``_fold_bn_weights_into_conv_node``) and
eager ``fuse_modules``. The int8 weights the labs read back are therefore of ``W'``, not ``W``.

PyTorch counterpart: ``torch.nn.utils.fusion.fuse_conv_bn_weights`` (tensors) and
``fuse_conv_bn_eval`` (modules); :func:`fold_bn` computes the same expression in the same order
(``rsqrt``), so the results are equal to the last bit.
"""

import torch
from torch import Tensor, nn

from .checks import check_float_tensor

__all__ = ["fold_bn", "fold_bn_into_conv"]


def fold_bn(weight: Tensor, bias: Tensor | None, running_mean: Tensor, running_var: Tensor,
            gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """The weight and bias of a layer followed by an eval-mode BatchNorm, folded into one.

    Formula (``r = rsqrt(var + eps)``, one value per output channel c)::

        W'[c, ...] = W[c, ...] * (gamma_c * r_c)
        b'_c       = (b_c - mean_c) * r_c * gamma_c + beta_c     (b = 0 when ``bias`` is None)

    evaluated in this order, the order PyTorch uses, so the float results are identical.

    Shapes: ``weight`` (C_out, ...) (a conv's (C_out, C_in, kH, kW) or a linear's
    (C_out, C_in)); ``bias``, ``running_mean``, ``running_var``, ``gamma``, ``beta`` (C_out,).
    Returns ``(W', b')`` with the shapes of ``weight`` and (C_out,), new tensors.

    PyTorch counterpart: ``torch.nn.utils.fusion.fuse_conv_bn_weights(weight, bias,
    running_mean, running_var, eps, gamma, beta)`` (equal to the last bit).
    """
    for value, name in ((weight, "weight"), (running_mean, "running_mean"),
                        (running_var, "running_var"), (gamma, "gamma"), (beta, "beta")):
        check_float_tensor(value, name)
    if weight.dim() < 2:
        raise ValueError(f"weight must have an output-channel dimension and at least one more, "
                         f"got shape {tuple(weight.shape)}")
    channels = weight.shape[0]
    for value, name in ((running_mean, "running_mean"), (running_var, "running_var"),
                        (gamma, "gamma"), (beta, "beta")):
        if value.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},) like weight's dim 0, "
                             f"got {tuple(value.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    if bias is None:
        bias = torch.zeros_like(running_mean)
    inverse_std = torch.rsqrt(running_var + eps)
    folded_weight = weight * (gamma * inverse_std).reshape([-1] + [1] * (weight.dim() - 1))
    folded_bias = (bias - running_mean) * inverse_std * gamma + beta
    return folded_weight, folded_bias


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new ``nn.Conv2d`` (with a bias) computing ``bn(conv(x))`` of the eval-mode pair.

    PyTorch counterpart: ``torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)``.
    """
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"conv and bn must be an nn.Conv2d and an nn.BatchNorm2d, got "
                        f"{type(conv).__name__} and {type(bn).__name__}")
    if bn.running_mean is None or bn.running_var is None:
        raise TypeError("bn must track running statistics (track_running_stats=True), its "
                        "running_mean and running_var are None")
    weight, bias = fold_bn(conv.weight, conv.bias, bn.running_mean, bn.running_var,
                           bn.weight, bn.bias, bn.eps)
    # torch types Conv2d's attributes tuple[int, ...] and its arguments tuple[int, int]
    folded = nn.Conv2d(conv.in_channels, conv.out_channels,
                       conv.kernel_size, conv.stride,  # type: ignore[arg-type]
                       conv.padding, conv.dilation,  # type: ignore[arg-type]
                       conv.groups, bias=True, padding_mode=conv.padding_mode)
    assert folded.bias is not None   # bias=True
    folded.weight.copy_(weight)
    folded.bias.copy_(bias)
    return folded.eval()
