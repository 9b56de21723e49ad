"""Reference library of the model-compression lab kit.

One module per concept (import what you need, e.g. ``from utils import pruning``):

=====================  =====================================================================
``utils.data``         embedded UCI digits (offline), optional torchvision datasets, splits
``utils.models``       DigitsCNN (fusable Conv-BN-ReLU), DigitsMLP, DigitsLSTM, BenchmarkCNN
``utils.train``        seeded train / evaluate loops, baseline checkpoints
``utils.pruning``      masks (magnitude, random, Ln-structured, global), sparsity, mask upkeep
``utils.schedules``    gradual (AGP, cubic) sparsity schedule
``utils.channel_pruning``  physically remove conv output channels (and BN, next-layer inputs)
``utils.quantization`` qparams, quantize, dequantize, fake-quantize (STE)
``utils.observers``    min-max, moving-average, percentile and MSE range observers
``utils.quant_error``  how much error quantization adds: MSE, max error, SQNR, predictions
``utils.integer_ops``  integer-only Linear and Conv2d with fixed-point requantization
``utils.bn_folding``   fold an eval-mode BatchNorm into the conv/linear layer before it
``utils.pt2e``         PT2E (torchao) graphs: per-layer scales read back, FX side by side, compile
``utils.layers``       which modules are weighted (Conv2d/Linear, float or quantized), their weights
``utils.cost``         what a model costs: parameter, non-zero and MAC counts, saved bytes
``utils.benchmark``    timing: latency, interleaved A/B speed ratios
``utils.cpu``          the CPU class (AVX2 ... AMX) the kernels run on, and how to emulate one
``utils.runtime``      thread count and quantized engine as context managers, preferred engine
``utils.plots``        the figures the labs draw
``utils.grading``      helpers for nbgrader test cells (seeds, forbidden-call checks)
``utils.checks``       the modules' shared argument checks (value, then name): ints, ranges, tensors
=====================  =====================================================================

Importing ``utils`` silences the deprecation notices of the pinned torch's quantization stack
(see :mod:`utils.torch_warnings`) and nothing else.
"""

from .torch_warnings import ignore_torch_ao_deprecations

ignore_torch_ao_deprecations()

from . import grading  # noqa: E402, F401  (hidden tests call utils.grading.* without importing it)

__version__ = "0.1.0"
