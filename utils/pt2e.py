"""PyTorch 2 export quantization (PT2E), the successor of FX graph mode, and reading its graph.

The PT2E flow (torchao, pinned ``torchao==0.18.0``) has the steps of FX post-training
quantization with a different tracer and a different output::

    exported  = torch.export.export(model, example_inputs, dynamic_shapes=...).module()
    prepared  = prepare_pt2e(exported, X86InductorQuantizer().set_global(config))
    prepared(calibration batches)                     # observers record ranges
    converted = convert_pt2e(prepared)                # a float graph with Q/DQ ops
    compiled  = torch.compile(converted)              # inductor (freezing on) fuses Q/DQ pairs
                                                      # with conv/linear into int8 oneDNN kernels

``converted`` is a *reference* model: every activation goes through
``quantized_decomposed.quantize_per_tensor`` then ``dequantize_per_tensor`` and the layers run in
float on the dequantized values. It gives the int8 model's numbers but not its speed; only the
compiled model runs int8 kernels. This module reads the scales and zero points out of that graph
so they can be compared with the FX model's, layer by layer (:func:`pt2e_layer_qparams`,
:func:`fx_layer_qparams`), and says whether ``torch.compile`` can run here
(:func:`compile_support`).

PyTorch counterpart: ``torch.ao.quantization.quantize_pt2e`` (same API, deprecated in torch
2.14 in favour of torchao's copy).
"""

import os
import platform
import shutil
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import fx, nn

from .layers import QUANTIZED_WEIGHTED_LAYERS

__all__ = ["LayerQParams", "X86_MACHINES", "CXX_COMPILERS", "compile_support",
           "pt2e_layer_qparams", "fx_layer_qparams", "compile_int8"]

#: machine names of x86-64 CPUs (``platform.machine()``)
X86_MACHINES = ("x86_64", "AMD64", "amd64")
#: C++ compilers inductor can use
CXX_COMPILERS = ("g++", "c++", "clang++")

_quantized_decomposed = None


class LayerQParams(NamedTuple):
    """Quantization parameters around one Conv2d/Linear layer of an int8 model.

    ``input_scale``/``input_zero_point``: the grid of the layer's input activation
    (``x = input_scale * (q - input_zero_point)``); ``input_quant_max``: the top of that grid
    when the graph states it (PT2E), ``None`` when it is not stored (FX: the tensor is quint8
    whatever the observer's range); ``weight_scales``/``weight_zero_points``: per output channel.
    """

    input_scale: float
    input_zero_point: int
    input_quant_max: int | None
    weight_scales: torch.Tensor
    weight_zero_points: torch.Tensor


def compile_support() -> str | None:
    """``None`` when ``torch.compile`` can build the int8 x86 model here, else the reason.

    Inductor's int8 lowering needs an x86-64 CPU with the oneDNN (``x86``) quantized engine and a
    C++ compiler to build the kernels it generates. ARM machines (engine ``qnnpack`` only) and
    machines without a compiler skip the compiled measurement with this reason.

    Under the autograder (``AUTOGRADER_STUDENT`` set, see :mod:`utils.grading`) it is skipped too:
    inductor compiles in a pool of worker threads, which the grader's integrity checks report as
    threads started by the submission (and a graded kernel then stalled in a later cell). No
    graded check depends on the compiled model.
    """
    if os.environ.get("AUTOGRADER_STUDENT") is not None:
        return "autograding (inductor's compile threads would trip the grader's integrity checks)"
    if platform.machine() not in X86_MACHINES:
        return f"not an x86-64 CPU ({platform.machine()})"
    if "x86" not in torch.backends.quantized.supported_engines:
        return (f"the x86 (oneDNN) quantized engine is not available (supported engines: "
                f"{torch.backends.quantized.supported_engines})")
    if not any(shutil.which(compiler) for compiler in CXX_COMPILERS):
        return f"no C++ compiler found (looked for {', '.join(CXX_COMPILERS)})"
    return None


def _ops():
    global _quantized_decomposed
    if _quantized_decomposed is None:
        import torchao.quantization.pt2e  # noqa: F401  (registers quantized_decomposed ops)
        _quantized_decomposed = torch.ops.quantized_decomposed
    return _quantized_decomposed


def _constant(graph_module, node_or_value):
    """A node's value when it is a ``get_attr`` node, else the value itself."""
    if isinstance(node_or_value, fx.Node):
        if node_or_value.op != "get_attr":
            raise ValueError(f"expected a constant or a get_attr node, got {node_or_value.op}")
        value = graph_module
        assert isinstance(node_or_value.target, str)   # a get_attr node names an attribute
        for part in node_or_value.target.split("."):
            value = getattr(value, part)
        return value
    return node_or_value


def _layer_name(node):
    """Qualified name of the module a PT2E node came from (``"conv1.0"``, ``"fc"``)."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else node.name


def pt2e_layer_qparams(converted: fx.GraphModule) -> dict[str, LayerQParams]:
    """{layer name: :class:`LayerQParams`} of every conv2d/linear in a ``convert_pt2e`` graph.

    For each ``aten.conv2d``/``aten.linear`` node: its input is
    ``dequantize_per_tensor(q, scale, zero_point, quant_min, quant_max, dtype)`` and its weight
    ``dequantize_per_channel(q_w, scales, zero_points, axis, quant_min, quant_max, dtype)``;
    the arguments are read from the graph (constants or ``get_attr`` tensors). Layer names come
    from the nodes' ``nn_module_stack``, so they match the float model's module names.
    """
    if not isinstance(converted, fx.GraphModule):
        raise TypeError(f"converted must be the GraphModule convert_pt2e returned, got "
                        f"{type(converted).__name__}")
    ops = _ops()
    layers = (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default)
    found = {}
    for node in converted.graph.nodes:
        if node.op != "call_function" or node.target not in layers:
            continue
        act, weight = node.args[0], node.args[1]
        if getattr(act, "target", None) != ops.dequantize_per_tensor.default or \
                getattr(weight, "target", None) != ops.dequantize_per_channel.default:
            raise ValueError(f"{node.name} is not a quantized layer (its input and weight are not "
                             f"dequantize nodes): pass a convert_pt2e result")
        found[_layer_name(node)] = LayerQParams(
            input_scale=float(act.args[1]), input_zero_point=int(act.args[2]),
            input_quant_max=int(act.args[4]),
            weight_scales=_constant(converted, weight.args[1]).clone(),
            weight_zero_points=_constant(converted, weight.args[2]).clone())
    return found


def fx_layer_qparams(quantized: nn.Module,
                     *example_inputs: torch.Tensor) -> dict[str, LayerQParams]:
    """{layer name: :class:`LayerQParams`} of every int8 Conv2d/Linear of a ``convert_fx`` model.

    Input grids are read from the quantized tensors that reach each layer in one run on
    ``example_inputs`` (forward pre-hooks: ``input.q_scale()``, ``input.q_zero_point()``);
    weight grids from ``layer.weight().q_per_channel_scales()`` (or ``q_scale()`` per tensor).
    """
    records, handles = {}, []

    def record(name):
        def hook(layer, inputs):
            records[name] = (inputs[0].q_scale(), inputs[0].q_zero_point())
        return hook

    layers = {name: m for name, m in quantized.named_modules()
              if isinstance(m, QUANTIZED_WEIGHTED_LAYERS)}
    if not layers:
        raise ValueError("quantized has no int8 Conv2d/Linear layers: pass a convert_fx result")
    for name, layer in layers.items():
        handles.append(layer.register_forward_pre_hook(record(name)))
    try:
        with torch.inference_mode():
            quantized(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    found = {}
    for name, layer in layers.items():
        weight = layer.weight()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales, zero_points = weight.q_per_channel_scales(), weight.q_per_channel_zero_points()
        else:
            scales = torch.tensor([weight.q_scale()], dtype=torch.float64)
            zero_points = torch.tensor([weight.q_zero_point()])
        found[name] = LayerQParams(float(records[name][0]), int(records[name][1]), None,
                                   scales.clone(), zero_points.clone())
    return found


def compile_int8(converted: fx.GraphModule, *example_inputs: torch.Tensor) -> Callable[..., Any]:
    """``torch.compile`` a ``convert_pt2e`` model with inductor's freezing, built on
    ``example_inputs`` (a fixed shape: ``dynamic=False``), ready to time.

    Freezing (``torch._inductor.config.freezing = True``, set for the process) makes the weights
    constants, so inductor can pre-pack the int8 weights and fuse each dequantize -> conv ->
    relu -> quantize chain into one oneDNN int8 convolution. The first call compiles, under
    ``torch.inference_mode()`` as :func:`utils.benchmark.speedup` calls it (a call in another
    grad mode would compile again). Raises ``RuntimeError`` when :func:`compile_support`
    gives a reason.

    PyTorch counterpart: ``torch.compile(converted)`` after
    ``torch._inductor.config.freezing = True`` (torchao's PT2E tutorial).
    """
    reason = compile_support()
    if reason is not None:
        raise RuntimeError(f"torch.compile cannot build the int8 model here: {reason}")
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    compiled = torch.compile(converted, dynamic=False)
    with torch.inference_mode():
        compiled(*example_inputs)
    return compiled
