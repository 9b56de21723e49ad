"""Tests for utils.plots: each function returns a Figure with the expected axes and artists."""

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (headless, before pyplot is imported)

import copy

import matplotlib.pyplot as plt
import pytest
import torch
import torch.ao.quantization as tq
import torch.nn.utils.prune as prune
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from torch import nn

from utils import plots
from utils.models import DigitsCNN, DigitsMLP


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def only_axes(fig):
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    return fig.axes[0]


def bar_containers(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_no_function_calls_show(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show was called"))
    test_every_function_draws_on_a_given_axes()


def test_weight_histograms_one_axes_per_layer_and_zero_fraction_in_titles():
    model = DigitsCNN()
    prune.l1_unstructured(model.fc, "weight", amount=0.5)
    fig = plots.weight_histograms(model, ncols=3)
    assert len(fig.axes) == 4                                   # conv1-3 and fc; extras removed
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("conv1.0 (16, 1, 3, 3)")
    assert "50.0% zeros" in titles[3]
    assert all(len(ax.patches) == 60 for ax in fig.axes)        # one patch per bin
    fig.canvas.draw()                                           # renders under Agg


def test_weight_histograms_of_a_quantized_model(gen, monkeypatch):
    monkeypatch.setattr(torch.backends.quantized, "engine", "fbgemm")
    model = nn.Sequential(tq.QuantStub(), copy.deepcopy(DigitsMLP()).eval(), tq.DeQuantStub())
    model.qconfig = tq.get_default_qconfig("fbgemm")
    prepared = tq.prepare(model)
    prepared(torch.randn(16, 1, 8, 8, generator=gen))
    fig = plots.weight_histograms(tq.convert(prepared), bins=20, ncols=2)
    assert len(fig.axes) == 3


def test_weight_histograms_rejects_models_without_layers():
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        plots.weight_histograms(nn.ReLU())


def test_sparsity_bars_single_and_before_after():
    sparsities = {"conv1": 0.1, "conv2": 0.5, "fc": 0.9}
    ax = only_axes(plots.sparsity_bars(sparsities))
    [bars] = bar_containers(ax)
    assert [bar.get_height() for bar in bars] == [0.1, 0.5, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "conv2", "fc"]
    assert ax.get_legend() is None

    ax = only_axes(plots.sparsity_bars(sparsities, {"conv1": 0.2, "conv2": 0.6, "fc": 0.95},
                                       labels=("magnitude", "random")))
    before, after = bar_containers(ax)
    assert [bar.get_height() for bar in after] == [0.2, 0.6, 0.95]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["magnitude", "random"]


def test_sparsity_bars_rejects_bad_input():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] \(a fraction of zeros\)"):
        plots.sparsity_bars({"fc": 50})
    with pytest.raises(ValueError, match="same layer names"):
        plots.sparsity_bars({"fc": 0.5}, {"conv": 0.5})


def test_accuracy_vs_sparsity_lines_and_baseline():
    curves = {"magnitude": ([0.0, 0.5, 0.9], [0.97, 0.96, 0.80]),
              "random": ([0.0, 0.5, 0.9], [0.97, 0.90, 0.40])}
    ax = only_axes(plots.accuracy_vs_sparsity(curves, baseline=0.97))
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_ydata()) == [0.97, 0.96, 0.80]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["magnitude", "random"]
    assert len(only_axes(plots.accuracy_vs_sparsity(curves)).lines) == 2
    with pytest.raises(ValueError, match="same length"):
        plots.accuracy_vs_sparsity({"bad": ([0.1, 0.2], [0.9])})


def clipped_regions(ax):
    """The red shaded spans (axvspan) among the Axes' patches."""
    return [p for p in ax.patches if p.get_facecolor() == to_rgba("red", 0.15)]


def test_quantization_grid_draws_grid_points_bounds_and_clipped_regions(gen):
    values = torch.randn(2000, generator=gen)
    ax = only_axes(plots.quantization_grid(values, scale=0.1, zero_point=8, quant_min=0,
                                           quant_max=15, bins=50))
    [grid] = [c for c in ax.collections if isinstance(c, LineCollection)]
    xs = sorted(segment[0][0] for segment in grid.get_segments())
    assert len(xs) == 16 and xs[0] == pytest.approx(-0.8) and xs[-1] == pytest.approx(0.7)
    bounds = sorted(line.get_xdata()[0] for line in ax.lines)
    assert bounds == pytest.approx([-0.8, 0.7])
    shaded = clipped_regions(ax)
    assert len(ax.patches) - len(shaded) == 50                  # the histogram's bins
    assert len(shaded) == 2                                     # N(0,1) exceeds both bounds


def test_quantization_grid_thins_dense_grids_and_skips_unclipped_sides(gen):
    values = torch.rand(500, generator=gen)                     # all inside [0, 1)
    ax = only_axes(plots.quantization_grid(values, 1 / 255, 0, 0, 255, max_grid_lines=64))
    [grid] = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(grid.get_segments()) == 64
    assert not clipped_regions(ax)
    with pytest.raises(ValueError, match="zero_point"):
        plots.quantization_grid(values, 0.1, 300, 0, 255)
    with pytest.raises(ValueError, match="scale"):
        plots.quantization_grid(values, 0.0, 0, 0, 255)


def test_error_vs_range_marks_the_minimum():
    clip = [0.5, 1.0, 1.5, 2.0, 3.0]
    errors = [0.2, 0.05, 0.01, 0.02, 0.04]
    ax = only_axes(plots.error_vs_range(clip, errors))
    error_line, best_marker, best_line = ax.lines
    assert list(best_marker.get_xdata()) == [1.5] and list(best_marker.get_ydata()) == [0.01]
    assert ax.get_yscale() == "log"
    assert "minimum at 1.5" in [t.get_text() for t in ax.get_legend().get_texts()][1]


def test_latency_bars_in_milliseconds_and_as_ratios():
    ax = only_axes(plots.latency_bars(["float", "int8"], [0.004, 0.001]))
    [bars] = bar_containers(ax)
    assert [bar.get_height() for bar in bars] == pytest.approx([4.0, 1.0])
    assert [t.get_text() for t in ax.texts] == ["4 ms", "1 ms"]
    assert not ax.lines

    ax = only_axes(plots.latency_bars(["float", "int8", "pruned"], [1.0, 3.2, 1.5], ratios=True))
    assert [t.get_text() for t in ax.texts] == ["1.00x", "3.20x", "1.50x"]
    assert len(ax.lines) == 1 and ax.lines[0].get_ydata()[0] == 1.0
    with pytest.raises(ValueError, match="positive"):
        plots.latency_bars(["a"], [0.0])


def test_latency_bar_labels_do_not_overlap():
    """Lab 01's three bars: long names wrap onto lines instead of running into each other."""
    names = ["dense", "75 % zeros (unstructured)", "50 % channels removed"]
    fig = plots.latency_bars(names, [0.004, 0.004, 0.002])
    fig.canvas.draw()
    boxes = [label.get_window_extent() for label in only_axes(fig).get_xticklabels()]
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), \
        [(box.x0, box.x1) for box in boxes]
    assert [label.get_text().replace("\n", " ") for label in only_axes(fig).get_xticklabels()] \
        == names


def test_pareto_front_keeps_non_dominated_points():
    costs = [4.0, 1.0, 2.0, 3.0, 2.0]
    accuracies = [0.99, 0.90, 0.95, 0.94, 0.93]
    assert plots.pareto_front(costs, accuracies) == [1, 2, 0]


def test_pareto_draws_points_names_and_front():
    points = {"float": (100_000, 0.97), "int8": (26_000, 0.965), "pruned": (60_000, 0.95)}
    ax = only_axes(plots.pareto(points, logx=True))
    assert len(ax.collections[0].get_offsets()) == 3
    assert sorted(t.get_text() for t in ax.texts) == ["float", "int8", "pruned"]
    [front] = ax.lines
    assert list(front.get_xdata()) == [26_000, 100_000]
    assert ax.get_xscale() == "log"


def test_every_function_draws_on_a_given_axes():
    fig, axes = plt.subplots(2, 3)
    ax = axes.flat
    drawn = [
        plots.sparsity_bars({"a": 0.5}, ax=ax[0]),
        plots.accuracy_vs_sparsity({"m": ([0, 0.5], [0.9, 0.8])}, ax=ax[1]),
        plots.quantization_grid(torch.randn(100), 0.1, 0, -8, 7, ax=ax[2]),
        plots.error_vs_range([1, 2], [0.1, 0.2], ax=ax[3]),
        plots.latency_bars(["a"], [0.01], ax=ax[4]),
        plots.pareto({"a": (1, 0.5)}, ax=ax[5]),
    ]
    assert all(result is fig for result in drawn)
    assert len(fig.axes) == 6 and all(a.has_data() for a in fig.axes)
    assert plt.get_fignums() == [fig.number]                    # no stray figures were opened
