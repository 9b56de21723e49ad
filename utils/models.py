"""The kit's models, all small enough to train and quantize on a laptop CPU.

=================  ===========  ==================================================================
model              input        used for
=================  ===========  ==================================================================
``DigitsCNN``      (N,1,8,8)    the baseline: Conv-BN-ReLU blocks (fusable, FX-traceable)
``DigitsMLP``      (N,1,8,8)    pruning and quantizing Linear layers
``DigitsLSTM``     (N,1,8,8)    dynamic quantization: each image is a sequence of 8 rows
``BenchmarkCNN``   (N,1,32,32)  speed measurements: big enough that int8 kernels and channel
                                pruning show real speedups on 2 cores (~57 MMACs per image)
=================  ===========  ==================================================================

Every convolution is followed by a BatchNorm and a ReLU (:class:`ConvBNReLU`), the pattern that
``torch.ao.quantization.fuse_modules`` / FX ``prepare_fx`` fuse into one quantized op and that
:func:`utils.channel_pruning.prune_conv_channels` shrinks as a unit.
"""

import copy

import torch
from torch import nn

__all__ = [
    "NUM_CLASSES",
    "ConvBNReLU",
    "DigitsCNN",
    "DigitsMLP",
    "DigitsLSTM",
    "BenchmarkCNN",
    "conv_bn_relu_blocks",
    "fused_blocks",
]

NUM_CLASSES = 10


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias: the BatchNorm has one) -> BatchNorm2d -> ReLU, 'same' padding.

    Children are named ``0``, ``1``, ``2`` (conv, bn, relu), so a block ``b`` fuses with
    ``fuse_modules(model, [["b.0", "b.1", "b.2"]])``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class DigitsCNN(nn.Module):
    """Baseline CNN for the 8x8 digits: 3 Conv-BN-ReLU blocks, global average pool, Linear.

    Shapes: (N,1,8,8) -> conv1 (N,16,8,8) -> conv2 (N,32,8,8) -> maxpool (N,32,4,4)
    -> conv3 (N,64,4,4) -> avgpool+flatten (N,64) -> fc (N,10). About 24k parameters.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64),
                 num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.conv1 = ConvBNReLU(1, c1)
        self.conv2 = ConvBNReLU(c1, c2)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = ConvBNReLU(c2, c3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv2(self.conv1(x)))
        x = self.avgpool(self.conv3(x))
        return self.fc(torch.flatten(x, 1))


class DigitsMLP(nn.Module):
    """Multilayer perceptron on the flattened 8x8 digits: 64 -> 128 -> 64 -> 10, ReLU."""

    def __init__(self, hidden: tuple[int, ...] = (128, 64),
                 num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        h1, h2 = hidden
        self.fc1 = nn.Linear(64, h1)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(h1, h2)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(h2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


class DigitsLSTM(nn.Module):
    """Reads an 8x8 digit row by row: LSTM(8 -> hidden) over 8 steps, last hidden -> Linear.

    Shapes: (N,1,8,8) -> sequence (N,8,8) (batch_first) -> LSTM output (N,8,hidden)
    -> last step (N,hidden) -> fc (N,10). The model for dynamic quantization (lab 03).
    """

    def __init__(self, hidden: int = 64, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=8, hidden_size=hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.flatten(1, 2))   # (N,1,8,8) -> (N,8,8): 8 steps of 8 pixels
        return self.fc(out[:, -1])


class BenchmarkCNN(nn.Module):
    """Five Conv-BN-ReLU blocks on 32x32 inputs (digits upsampled), for speed measurements.

    Shapes: (N,1,32,32) -> conv1 (N,w,32,32) -> conv2 (N,2w,32,32) -> maxpool (N,2w,16,16)
    -> conv3 (N,2w,16,16) -> conv4 (N,4w,16,16) -> maxpool (N,4w,8,8) -> conv5 (N,4w,8,8)
    -> avgpool+flatten (N,4w) -> fc (N,10). With w=32: ~57 million MACs per image.
    """

    def __init__(self, width: int = 32, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.conv1 = ConvBNReLU(1, w)
        self.conv2 = ConvBNReLU(w, 2 * w)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = ConvBNReLU(2 * w, 2 * w)
        self.conv4 = ConvBNReLU(2 * w, 4 * w)
        self.pool2 = nn.MaxPool2d(2)
        self.conv5 = ConvBNReLU(4 * w, 4 * w)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv2(self.conv1(x)))
        x = self.pool2(self.conv4(self.conv3(x)))
        x = self.avgpool(self.conv5(x))
        return self.fc(torch.flatten(x, 1))


def conv_bn_relu_blocks(model: nn.Module) -> list[str]:
    """Names of the model's :class:`ConvBNReLU` children, in forward order (for fusing/pruning)."""
    return [name for name, module in model.named_children() if isinstance(module, ConvBNReLU)]


def fused_blocks(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each Conv-BN-ReLU block fused into one ``ConvReLU2d``,
    the BatchNorm folded into its weights (:mod:`utils.bn_folding`): the fair fp32 baseline of an
    int8 model, which is fused too. ``model`` is not changed.

    PyTorch counterpart: ``torch.ao.quantization.fuse_modules(model, [["conv1.0", "conv1.1",
    "conv1.2"], ...])`` on an eval-mode copy.
    """
    groups = [[f"{block}.0", f"{block}.1", f"{block}.2"] for block in conv_bn_relu_blocks(model)]
    return torch.ao.quantization.fuse_modules(copy.deepcopy(model).eval(), groups)
