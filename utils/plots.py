"""The figures the labs draw. Every function returns the matplotlib ``Figure`` it drew on.

Figures are created with ``matplotlib.pyplot.subplots`` (so a notebook shows them when the cell
ends -- end the line with ``;`` so the returned figure is not shown a second time) and nothing
here calls ``plt.show()``: in a script, call ``fig.savefig(...)`` or ``plt.show()`` yourself and
``plt.close(fig)`` when done. Functions that draw a single plot take an optional ``ax`` to draw
into an existing Axes instead (then they return ``ax.figure``).

=============================  ================================================================
:func:`weight_histograms`      one histogram of weight values per Conv2d/Linear layer
:func:`sparsity_bars`          fraction of zeros per layer, optionally before vs after
:func:`accuracy_vs_sparsity`   accuracy curves of pruning methods, with the dense baseline
:func:`quantization_grid`      values' histogram, the quantizer's grid points, clipping bounds
:func:`latency_bars`           seconds per call, or speed ratios with the 1x line
:func:`error_vs_range`         quantization error against the clipping range, minimum marked
:func:`pareto`                 accuracy against cost (size, latency, MACs), Pareto front drawn
:func:`pareto_front`           which points of such a plot are not dominated
=============================  ================================================================
"""

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from torch import nn

from .checks import check_fraction
from .layers import layer_weight, weighted_layers

__all__ = ["weight_histograms", "sparsity_bars", "accuracy_vs_sparsity", "quantization_grid",
           "error_vs_range", "latency_bars", "pareto_front", "pareto"]


def _figure_and_axes(ax, figsize):
    """(figure, axes): a new pyplot figure with one Axes, or the given Axes and its figure."""
    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _check_same_length(first, second, names):
    if len(first) != len(second):
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got "
                         f"{len(first)} and {len(second)}")
    if len(first) == 0:
        raise ValueError(f"{names[0]} must not be empty")


def _check_fractions(values, name):
    """Sparsities are fractions of zeros: every value in [0, 1]."""
    for key, value in values.items():
        check_fraction(value, f"{name}[{key!r}]", "a fraction of zeros")


# --------------------------------------------------------------------------------------------
# Pruning
# --------------------------------------------------------------------------------------------

def weight_histograms(model: nn.Module, bins: int = 60, ncols: int = 3,
                      log: bool = False) -> Figure:
    """One histogram of weight values per Conv2d/Linear layer, in forward-registration order.

    Each subplot is titled with the layer's name and weight shape and shows its fraction of
    exact zeros (pruned weights pile up in the bin at 0; ``log=True`` makes the rest visible).
    Quantized layers are shown dequantized (their histogram is a comb on the quantization grid).

    Shapes: one Axes per layer of :func:`utils.layers.weighted_layers`, ``ncols`` per row.
    PyTorch counterpart: none (``torch.histc`` computes one histogram).
    """
    layers = weighted_layers(model)
    if not layers:
        raise ValueError("model has no Conv2d or Linear layer to draw")
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), layout="constrained",
                             squeeze=False)
    for ax, (name, layer) in zip(axes.flat, layers):
        weight = layer_weight(layer)
        zero_fraction = (weight == 0).double().mean().item()
        ax.hist(weight.flatten().numpy(), bins=bins, log=log)
        ax.set_title(f"{name} {tuple(weight.shape)}\n{zero_fraction:.1%} zeros", fontsize=9)
        ax.set_xlabel("weight value")
    for unused in axes.flat[len(layers):]:
        fig.delaxes(unused)
    return fig


def sparsity_bars(sparsities: Mapping[str, float], after: Mapping[str, float] | None = None,
                  labels: tuple[str, str] = ("before", "after"), ax: Axes | None = None) -> Figure:
    """Bar chart of each layer's sparsity (fraction of zero weights), optionally before/after.

    Args:
        sparsities: ``{layer name: fraction of zeros in [0, 1]}``.
        after: an optional second dict with the same layer names, drawn as a second bar per
            layer (e.g. before and after fine-tuning, or two pruning methods).
        labels: legend labels of the two series (used only with ``after``).
    Returns:
        the Figure (one Axes; one bar container per series).
    """
    _check_fractions(sparsities, "sparsities")
    series = [sparsities]
    if after is not None:
        _check_fractions(after, "after")
        if set(after) != set(sparsities):
            raise ValueError(f"after must have the same layer names as sparsities, got "
                             f"{sorted(after)} and {sorted(sparsities)}")
        series.append(after)
    fig, ax = _figure_and_axes(ax, (max(4, 0.8 * len(sparsities) + 2), 3.5))
    names = list(sparsities)
    width = 0.8 / len(series)
    for i, values in enumerate(series):
        positions = [k + (i - (len(series) - 1) / 2) * width for k in range(len(names))]
        ax.bar(positions, [values[name] for name in names], width,
               label=labels[i] if after is not None else None)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("sparsity (zero weights)")
    if after is not None:
        ax.legend()
    return fig


def accuracy_vs_sparsity(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                         baseline: float | None = None, ax: Axes | None = None) -> Figure:
    """Accuracy against sparsity, one line per method, with the dense model's accuracy.

    Args:
        curves: ``{method name: (sparsities, accuracies)}``, sparsities as fractions in [0, 1],
            accuracies as fractions or percent (drawn as given).
        baseline: the unpruned model's accuracy, drawn as a dashed horizontal line.
    Returns:
        the Figure (one Axes, one line per curve, plus one for the baseline).
    """
    if not curves:
        raise ValueError("curves must not be empty: give {name: (sparsities, accuracies)}")
    fig, ax = _figure_and_axes(ax, (5.5, 4))
    for name, (sparsity, accuracy) in curves.items():
        _check_same_length(sparsity, accuracy, (f"{name!r} sparsities", "accuracies"))
        ax.plot(sparsity, accuracy, marker="o", label=name)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label=f"dense baseline ({baseline:.3g})")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("sparsity")
    ax.set_ylabel("accuracy")
    ax.legend()
    return fig


# --------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------

def quantization_grid(values: torch.Tensor, scale: float, zero_point: int, quant_min: int,
                      quant_max: int, bins: int = 100, max_grid_lines: int = 256,
                      ax: Axes | None = None) -> Figure:
    """Histogram of values with the quantizer's grid drawn over it and its clipping range.

    The grid points are the real values the quantizer can output,
    ``r_q = scale * (q - zero_point)`` for ``q = quant_min .. quant_max`` (thin vertical lines;
    every k-th one if there are more than ``max_grid_lines``). Values beyond
    ``scale * (quant_min - zero_point)`` or ``scale * (quant_max - zero_point)`` are clipped to
    these bounds: they are drawn as two red lines and the clipped regions are shaded.

    Args:
        values: tensor or array of real values (any shape; flattened).
        scale, zero_point, quant_min, quant_max: the quantizer's parameters, as for
            ``torch.fake_quantize_per_tensor_affine``.
    Returns:
        the Figure (one Axes: histogram patches, one LineCollection of grid lines, two bound
        lines, shaded clipped regions where values fall outside the bounds).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not quant_min < quant_max:
        raise ValueError(f"need quant_min < quant_max, got {quant_min}, {quant_max}")
    if not quant_min <= zero_point <= quant_max:
        raise ValueError(f"zero_point must lie in [quant_min, quant_max], got {zero_point}")
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    low, high = scale * (quant_min - zero_point), scale * (quant_max - zero_point)
    step = max(1, math.ceil((quant_max - quant_min + 1) / max_grid_lines))
    grid = [scale * (q - zero_point) for q in range(quant_min, quant_max + 1, step)]

    fig, ax = _figure_and_axes(ax, (6, 3.5))
    ax.hist(values.numpy(), bins=bins, color="tab:blue", alpha=0.7, label="values")
    ax.vlines(grid, 0, 1, transform=ax.get_xaxis_transform(), colors="black", linewidth=0.4,
              alpha=0.5, label="grid points" if step == 1 else f"every {step}th grid point")
    for bound in (low, high):
        ax.axvline(bound, color="red", linewidth=1.5)
    if values.min() < low:
        ax.axvspan(float(values.min()), low, color="red", alpha=0.15, label="clipped")
    if values.max() > high:
        ax.axvspan(high, float(values.max()), color="red", alpha=0.15,
                   label=None if values.min() < low else "clipped")
    ax.set_title(f"scale={scale:.3g}, zero_point={zero_point}, q in [{quant_min}, {quant_max}]")
    ax.set_xlabel("value")
    ax.legend(fontsize=8)
    return fig


def error_vs_range(clip_values: Sequence[float], errors: Sequence[float], ax: Axes | None = None,
                   xlabel: str = "clipping range", ylabel: str = "MSE", log: bool = True) -> Figure:
    """Quantization error against the clipping range, with the best range marked.

    Too small a range clips outliers, too large a range makes the grid coarse: the error curve
    has a minimum (what MSE/percentile observers look for).

    Args:
        clip_values: the ranges tried (e.g. the max |value| kept), increasing.
        errors: the error of each (e.g. MSE between values and fake-quantized values).
        log: logarithmic error axis.
    Returns:
        the Figure (one Axes: the error line, a marker and a dotted line at the minimum).
    """
    _check_same_length(clip_values, errors, ("clip_values", "errors"))
    clip_values, errors = list(map(float, clip_values)), list(map(float, errors))
    best = min(range(len(errors)), key=errors.__getitem__)
    fig, ax = _figure_and_axes(ax, (5.5, 3.5))
    ax.plot(clip_values, errors, marker=".", label="error")
    ax.plot(clip_values[best], errors[best], "r*", markersize=12,
            label=f"minimum at {clip_values[best]:.3g}")
    ax.axvline(clip_values[best], color="red", linestyle=":")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


# --------------------------------------------------------------------------------------------
# Speed and trade-offs
# --------------------------------------------------------------------------------------------

def latency_bars(names: Sequence[str], values: Sequence[float], ratios: bool = False,
                 ax: Axes | None = None) -> Figure:
    """Bar chart of latencies (seconds per call, drawn in ms) or of speed ratios.

    Args:
        names: one label per bar (e.g. "float", "int8", "pruned 50%").
        values: seconds per call (from :func:`utils.benchmark.latency`), or with
            ``ratios=True`` speedups (``Speedup.ratio``; > 1 is faster than the baseline).
    Returns:
        the Figure (one Axes, one bar per name, each labelled with its value; with ratios a
        dashed line at 1x, the baseline's speed).
    """
    _check_same_length(names, values, ("names", "values"))
    if any(not value > 0 for value in values):
        raise ValueError(f"values must be positive, got {list(values)}")
    fig, ax = _figure_and_axes(ax, (max(4, 1.2 * len(names) + 2), 3.5))
    heights = list(values) if ratios else [1e3 * value for value in values]
    bars = ax.bar(range(len(names)), heights)
    ax.bar_label(bars, labels=[f"{h:.2f}x" if ratios else f"{h:.3g} ms" for h in heights])
    # long names on several lines of at most 14 characters, so that neighbours do not overlap
    ax.set_xticks(range(len(names)), [textwrap.fill(name, 14) for name in names])
    if ratios:
        ax.axhline(1.0, color="gray", linestyle="--")
        ax.set_ylabel("speedup (x, higher is faster)")
    else:
        ax.set_ylabel("latency (ms per call)")
    return fig


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points, by increasing cost.

    A point is dominated if another one costs no more and is at least as accurate (and is
    strictly better in one of the two). Formula: sort by (cost, -accuracy) and keep each point
    more accurate than every cheaper one.
    """
    _check_same_length(costs, accuracies, ("costs", "accuracies"))
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    front, best_accuracy = [], -math.inf
    for i in order:
        if accuracies[i] > best_accuracy:
            front.append(i)
            best_accuracy = accuracies[i]
    return front


def pareto(points: Mapping[str, tuple[float, float]], xlabel: str = "size (bytes)",
           ylabel: str = "accuracy", logx: bool = False, ax: Axes | None = None) -> Figure:
    """Accuracy against a cost for several models, with the Pareto front drawn as a step line.

    Args:
        points: ``{model name: (cost, accuracy)}``, cost e.g. saved bytes, latency or MACs.
        logx: logarithmic cost axis (costs spanning orders of magnitude).
    Returns:
        the Figure (one Axes: a scatter of all points, each annotated with its name, and the
        front through the non-dominated points of :func:`pareto_front`).
    """
    if not points:
        raise ValueError("points must not be empty: give {name: (cost, accuracy)}")
    names = list(points)
    costs = [float(points[name][0]) for name in names]
    accuracies = [float(points[name][1]) for name in names]
    front = pareto_front(costs, accuracies)
    fig, ax = _figure_and_axes(ax, (5.5, 4))
    ax.scatter(costs, accuracies, zorder=3)
    for name, cost, accuracy in zip(names, costs, accuracies):
        ax.annotate(name, (cost, accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.step([costs[i] for i in front], [accuracies[i] for i in front], where="post",
            color="tab:orange", label="Pareto front")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig
