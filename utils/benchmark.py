"""Measuring models: latency, interleaved A/B speed ratios, sizes, parameter and MAC counts.

Speed is only ever *compared* in this kit, never checked against an absolute time: a laptop,
a CI runner and a grading server differ by 10x in raw speed, but the ratio "int8 model vs
float model, same machine, same moment, same number of threads" is stable. :func:`speedup`
measures that ratio with interleaved rounds (A, B, A, B, ...) so that a slowdown of the
machine during the measurement (another process, thermal throttling) hits both sides alike.

==============================  =============================================================
:func:`latency`                 median seconds per call (torch.utils.benchmark.Timer)
:func:`speedup`                 :class:`Speedup` = median(baseline) / median(candidate)
:func:`saved_size_bytes`        bytes of ``torch.save(state_dict)`` (float or quantized)
:func:`count_parameters`        number of parameter values (pruning-aware, quantized-aware)
:func:`count_nonzero_parameters`  of which non-zero
:func:`count_macs`              multiply-accumulates of the Conv2d/Linear layers, per layer
:func:`weighted_layers`         the Conv2d/Linear layers (float, QAT, fused, quantized)
:func:`layer_weight`            a layer's weight as a float tensor (dequantized if needed)
==============================  =============================================================
"""

import io
import statistics
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.benchmark import Timer
import torch.ao.nn.quantized as nnq

#: Float layers with a ``.weight`` Parameter. Subclasses are included: QAT modules
#: (``torch.ao.nn.qat``), fused QAT modules (``ConvBn2d``, ``ConvBnReLU2d``, ``LinearReLU``)
#: and layers inside fused float modules (``torch.ao.nn.intrinsic.ConvReLU2d`` is a Sequential
#: whose child ``0`` is an ``nn.Conv2d``).
FLOAT_WEIGHTED_LAYERS = (nn.Conv2d, nn.Linear)

#: Quantized layers, whose weight is packed and read with ``.weight()`` (a method). Subclasses
#: include ``ConvReLU2d``, ``ConvAdd2d``, ``LinearReLU`` and dynamic ``quantized.dynamic.Linear``.
QUANTIZED_WEIGHTED_LAYERS = (nnq.Conv2d, nnq.Linear)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

def _as_function(fn_or_model):
    """A function to time: a model runs under ``torch.inference_mode`` (no autograd work)."""
    if isinstance(fn_or_model, nn.Module):
        model = fn_or_model

        def run_model(*inputs):
            with torch.inference_mode():
                return model(*inputs)
        return run_model
    if callable(fn_or_model):
        return fn_or_model
    raise TypeError(f"fn_or_model must be a callable or an nn.Module, got "
                    f"{type(fn_or_model).__name__}")


def _check_positive_int(value, name):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _warm_timer(fn_or_model, inputs, threads, warmup):
    """A ``Timer`` for ``fn(*inputs)`` on ``threads`` threads, after ``warmup`` untimed calls.

    Warm-up runs through the Timer too, so it uses the same thread count (first calls pay for
    memory allocation, weight packing, lazy initialisation and cold caches).
    """
    _check_positive_int(threads, "threads")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    timer = Timer(stmt="fn(*inputs)", globals={"fn": _as_function(fn_or_model), "inputs": inputs},
                  num_threads=threads)
    if warmup:
        timer.timeit(number=warmup)
    return timer


def _seconds_per_call(timer, min_run_time):
    """Median seconds per call over the blocks of one ``blocked_autorange`` (>= min_run_time)."""
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time!r}")
    return timer.blocked_autorange(min_run_time=min_run_time).median


def latency(fn_or_model, *inputs, threads=2, warmup=5, repeats=3, min_run_time=0.1):
    """Median seconds per call of ``fn_or_model(*inputs)``.

    Formula: ``median over repeats of (median over blocks of block_time / calls_per_block)``,
    where each repeat is one ``Timer.blocked_autorange(min_run_time)``: it picks a number of
    calls per block so a block is long enough to time precisely, and runs blocks until
    ``min_run_time`` seconds have passed. ``warmup`` untimed calls come first.

    A model runs under ``torch.inference_mode()``; call ``model.eval()`` yourself first (a model
    in train mode would update its BatchNorm statistics while being timed).

    Args:
        fn_or_model: a callable or an ``nn.Module``.
        inputs: positional arguments of each call (the same objects every call).
        threads: ``torch`` intra-op threads during the measurement (restored afterwards).
    Returns:
        seconds per call (float). Compare latencies only within one process and machine,
        or better, use :func:`speedup`.

    PyTorch counterpart: ``torch.utils.benchmark.Timer(...).blocked_autorange().median``.
    """
    _check_positive_int(repeats, "repeats")
    timer = _warm_timer(fn_or_model, inputs, threads, warmup)
    return statistics.median(_seconds_per_call(timer, min_run_time) for _ in range(repeats))


@dataclass(frozen=True)
class Speedup:
    """Result of :func:`speedup`: how many times faster the candidate ran than the baseline.

    ``ratio = baseline_seconds / candidate_seconds`` (> 1: the candidate is faster), from the
    medians of the per-round seconds per call, measured interleaved on ``threads`` threads.
    """

    ratio: float
    baseline_seconds: float          # median over rounds, seconds per call
    candidate_seconds: float
    baseline_times: tuple            # seconds per call of each round, in order
    candidate_times: tuple
    threads: int

    def __str__(self):
        return (f"{self.ratio:.2f}x (baseline {self.baseline_seconds * 1e3:.3f} ms, candidate "
                f"{self.candidate_seconds * 1e3:.3f} ms per call; {len(self.baseline_times)} "
                f"interleaved rounds, {self.threads} threads)")


def speedup(baseline, candidate, *inputs, threads=2, rounds=7, warmup=5, min_run_time=0.05):
    """Speed ratio of two callables/models on the same inputs, from interleaved measurements.

    Formula: ``ratio = median_r(t_baseline[r]) / median_r(t_candidate[r])``, where round r
    times the baseline, then the candidate (A, B, A, B, ...), each as the median seconds per
    call of one ``Timer.blocked_autorange(min_run_time)`` on ``threads`` threads. Interleaving
    exposes both to the same machine conditions; medians ignore a disturbed round. This is the
    only way the kit compares speeds: a ratio, never an absolute time limit.

    Args:
        baseline, candidate: callables or ``nn.Module`` s (run under ``inference_mode``),
            both called as ``f(*inputs)``. Wrap in a lambda to give them different inputs.
        rounds: number of (baseline, candidate) pairs.
    Returns:
        :class:`Speedup` with ``ratio``, both medians and the per-round times.

    PyTorch counterpart: ``torch.utils.benchmark.Compare`` shows measurements side by side
    but does not interleave them or form a ratio.
    """
    _check_positive_int(rounds, "rounds")
    timers = [_warm_timer(f, inputs, threads, warmup) for f in (baseline, candidate)]
    baseline_times, candidate_times = [], []
    for _ in range(rounds):
        baseline_times.append(_seconds_per_call(timers[0], min_run_time))
        candidate_times.append(_seconds_per_call(timers[1], min_run_time))
    baseline_seconds = statistics.median(baseline_times)
    candidate_seconds = statistics.median(candidate_times)
    return Speedup(baseline_seconds / candidate_seconds, baseline_seconds, candidate_seconds,
                   tuple(baseline_times), tuple(candidate_times), threads)


# --------------------------------------------------------------------------------------------
# Size and parameter counts
# --------------------------------------------------------------------------------------------

def saved_size_bytes(model_or_state_dict):
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


def weighted_layers(model):
    """``[(name, module)]`` of the model's Conv2d and Linear layers, float or quantized.

    Includes QAT and fused variants and PyTorch's quantized ``Conv2d``/``Linear`` (and their
    ``ConvReLU2d``/``LinearReLU`` subclasses): see ``FLOAT_WEIGHTED_LAYERS`` and
    ``QUANTIZED_WEIGHTED_LAYERS``. In ``model.named_modules()`` order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, FLOAT_WEIGHTED_LAYERS + QUANTIZED_WEIGHTED_LAYERS)]


def layer_weight(layer):
    """A Conv2d/Linear layer's weight as a float tensor, detached.

    Float layers: ``layer.weight`` (for a layer pruned with ``torch.nn.utils.prune`` that is the
    masked weight ``weight_orig * weight_mask``). Quantized layers have no ``.weight``
    Parameter: ``layer.weight()`` returns the quantized weight, here dequantized.
    Shape ``(out, in/groups, kh, kw)`` for Conv2d, ``(out, in)`` for Linear.
    """
    if isinstance(layer, QUANTIZED_WEIGHTED_LAYERS):
        return layer.weight().dequantize()
    if isinstance(layer, FLOAT_WEIGHTED_LAYERS):
        return layer.weight.detach()
    raise TypeError(f"layer must be a Conv2d or Linear layer (float or quantized), got "
                    f"{type(layer).__name__}")


def _parameter_tensors(model):
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


def count_parameters(model):
    """Number of parameter values: ``sum(p.numel())`` over the model's parameters.

    Counts quantized Conv2d/Linear weights and biases too (PyTorch's ``model.parameters()``
    does not see them), so a model and its quantized copy have the same count. Buffers
    (BatchNorm statistics, masks) are not parameters.

    PyTorch counterpart: ``sum(p.numel() for p in model.parameters())`` (float models).
    """
    return sum(tensor.numel() for tensor in _parameter_tensors(model))


def count_nonzero_parameters(model):
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
    per_layer: dict      # layer name -> MACs (summed over calls if a layer runs twice)


def layer_macs(layer, output):
    """Multiply-accumulates of one Conv2d/Linear call that produced ``output``.

    Formula: ``MACs = output.numel() * fan_in`` with ``fan_in = weight[0].numel()``, i.e.

    * Conv2d: ``N * C_out * H_out * W_out * (C_in / groups) * kh * kw``;
    * Linear: ``rows * out_features * in_features`` (rows = all leading dims, e.g. batch).

    Each output value is one dot product of length fan_in. The bias add is not counted.
    """
    return output.numel() * layer_weight(layer)[0].numel()


@contextmanager
def _eval_mode(model):
    """Every submodule in eval mode inside the block, each one's own mode restored after."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def count_macs(model, *example_inputs):
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
    per_layer = {}

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
